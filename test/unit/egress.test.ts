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
import { chainVerdict, parseSavedRules, ruleMatches, SOURCE_NAT_DECIDES } from '../../src/node/tables.js';
import type { Packet } from '../../src/model/trace.js';
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

test("trace's walk of nat POSTROUTING to the outside host: the first rule that decides, as the kernel walks it; kube-proxy's RETURN of unmarked packets judged by the packet's mark", () => {
  const walk = (lines: string[], mark = 0) => {
    const packet: Packet = { src: '10.200.0.2', dst: '192.168.64.1', protocol: 'icmp', mark };
    const taken = chainVerdict(
      parseSavedRules(lines),
      'POSTROUTING',
      'ACCEPT',
      (r) => ruleMatches(r, packet, '', 'eth1'),
      SOURCE_NAT_DECIDES,
    )!;
    return [taken.verdict, taken.rule?.text, taken.uncertain?.text, taken.unsure?.text];
  };
  // The service lab's chain with egress, as iptables-save prints it.
  const [jump, egress, unmarked, masquerade] = [
    '-A POSTROUTING -m comment --comment "netlab lab service" -j NL-POSTROUTING-service',
    '-A NL-POSTROUTING-service -s 10.200.0.0/16 ! -d 10.200.0.0/16 -j MASQUERADE',
    '-A NL-POSTROUTING-service -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A NL-POSTROUTING-service -j MASQUERADE',
  ];
  assert.deepEqual(walk([jump, egress, unmarked, masquerade]), ['snat', egress, undefined, undefined]);
  // Without the egress rule, an unmarked packet RETURNs before kube-proxy's masquerade of Service traffic
  // (it was counted as masqueraded); a marked one is masqueraded.
  assert.deepEqual(walk([jump, unmarked, masquerade]), ['accept', undefined, undefined, undefined]);
  assert.deepEqual(walk([jump, unmarked, masquerade], 0x4000), ['snat', masquerade, undefined, undefined]);
  // An ACCEPT first ends the walk: no masquerade, and the rule that let it go is named.
  const accept = '-A POSTROUTING -s 10.200.0.0/16 -j ACCEPT';
  assert.deepEqual(walk([accept, jump, egress]), ['accept', accept, undefined, undefined]);
  // A MASQUERADE with a match trace does not judge decides, uncertain; an ACCEPT that may match first is unsure.
  const maybe = '-A POSTROUTING -m statistic --mode random --probability 0.5 -j MASQUERADE';
  assert.deepEqual(walk([maybe]), ['snat', maybe, maybe, undefined]);
  const maybeAccept = '-A POSTROUTING -m statistic --mode random --probability 0.5 -j ACCEPT';
  assert.deepEqual(walk([maybeAccept, jump, egress]), ['snat', egress, undefined, maybeAccept]);
  // connmark's --mark is the connection's mark, not the packet's: not judged.
  const connmark = '-A POSTROUTING -m connmark --mark 0x1 -j RETURN';
  const packet: Packet = { src: '10.200.0.2', dst: '192.168.64.1', protocol: 'icmp', mark: 0 };
  assert.equal(ruleMatches(parseSavedRules([connmark])[0]!, packet, '', 'eth1'), 'maybe');
  assert.equal(ruleMatches(parseSavedRules([unmarked])[0]!, { ...packet, mark: undefined }, '', 'eth1'), 'maybe');
});
