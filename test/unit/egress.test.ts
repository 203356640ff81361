// Egress (wiring/egress.ts): the masquerade each node gets, the outside host's
// address, and the checks that name it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { LabInputError } from '../../src/errors.js';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { addressOf } from '../../src/verify/run.js';
import { outsideAddress } from '../../src/underlay/routing.js';
import { LABS } from '../paths.js';

test('every node masquerades what pods send outside the cluster CIDR, in a nat chain of the lab', () => {
  const { model } = loadLabFile(join(LABS, 'egress.yaml'));
  for (const node of buildPlan(model, simulatedFacts(model)).nodes) {
    const services = node.steps.filter((s) => s.phase === 'services');
    assert.deepEqual(
      services.flatMap((s) => s.apply.map((c) => c.join(' '))),
      [
        'iptables -w -t nat -N NL-EGRESS-egress',
        'iptables -w -t nat -A NL-EGRESS-egress -s 10.200.0.0/16 ! -d 10.200.0.0/16 -j MASQUERADE',
        'iptables -w -t nat -A POSTROUTING -m comment --comment netlab lab egress -j NL-EGRESS-egress',
      ],
    );
  }
  // A lab with Services masquerades egress in their own chain already: no second rule.
  const service = loadLabFile(join(LABS, 'service.yaml')).model;
  const withOutside = { ...service, outside: {} };
  const plan = buildPlan(withOutside, simulatedFacts(withOutside));
  assert.ok(!plan.nodes[0]!.steps.some((s) => s.summary.includes('NL-EGRESS')));
});

test("the outside host is the underlay's .1 unless the lab names it; checks to it ping that address", () => {
  const { model } = loadLabFile(join(LABS, 'egress.yaml'));
  const facts = simulatedFacts(model);
  assert.equal(outsideAddress(model, facts), '192.168.64.1');
  assert.equal(outsideAddress(model, { 'node-0': { address: '192.168.56.10', dev: 'eth1' } }), '192.168.56.1');
  assert.equal(outsideAddress({ outside: { address: '192.168.56.12' } }, facts), '192.168.56.12');
  assert.deepEqual(model.checks[0]!.to, { outside: true });
  assert.equal(addressOf(model.checks[0]!, facts), '192.168.64.1');
  const named = parseLab(
    'nodes: { node-0: {} }\npods: { a: { node: node-0 } }\noutside: { address: 192.168.64.9 }\nverify: [{ ping: { from: a, to: outside } }]\n',
    'o.yaml',
  ).model;
  assert.equal(named.checks[0]!.toAddress, '192.168.64.9');
});

test('checks to "outside" need an outside host, and are pings', () => {
  const problems = (text: string) => {
    try {
      parseLab(text, 'o.yaml');
      return [];
    } catch (error) {
      return (error as LabInputError).issues.map((i) => `${i.path}: ${i.message}`);
    }
  };
  const base = 'nodes: { node-0: {} }\npods: { a: { node: node-0 } }\n';
  assert.match(
    problems(`${base}verify: [{ ping: { from: a, to: outside } }]\n`).join('\n'),
    /verify\.0\.ping\.to: .*add `outside: \{\}`/,
  );
  assert.match(
    problems(`${base}outside: {}\nverify: [{ tcp: { from: a, to: outside, port: 80 } }]\n`).join('\n'),
    /verify\.0\.tcp\.to: .*allowed: ping checks/,
  );
});
