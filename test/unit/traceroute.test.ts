// traceroute checks: the hops traceroute printed, named by the node that owns
// each address, against the routers the lab says are on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressOf, hopAddresses, judgeTraceroute } from '../../src/verify/run.js';
import { parseLab } from '../../src/lab/load.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { LabInputError } from '../../src/errors.js';
import type { Check } from '../../src/model/lab.js';
import type { Trace } from '../../src/model/trace.js';
import { tracerouteView } from '../../src/trace/trace.js';
import { buildPlan } from '../../src/plan/build.js';

const lab = (verify: string) =>
  `name: tr\nnodes: { node-0: {}, node-1: {} }\npods: { a0: { node: node-0 }, a1: { node: node-1 } }\nwiring: { same-node: bridge, cross-node: routes }\nverify:\n${verify}\n`;

test('a traceroute check names each hop by its node and passes when the routers are the ones the lab names', () => {
  const { model } = parseLab(lab('  - traceroute: { from: a0, to: a1, via: [node-0, node-1] }'), 'tr.yaml');
  const check = model.checks[0]!;
  assert.deepEqual([check.kind, check.toAddress, check.via], ['traceroute', '10.200.1.2', ['node-0', 'node-1']]);
  const addresses = hopAddresses(model, simulatedFacts(model), buildPlan(model, simulatedFacts(model)));
  // node-0 owns its bridge's gateway and its underlay address; node-1 too.
  assert.ok(addresses['node-0']!.includes('10.200.0.1') && addresses['node-0']!.includes('192.168.64.4'));
  assert.ok(addresses['node-1']!.includes('192.168.64.5'));
  const out = [
    'traceroute to 10.200.1.2 (10.200.1.2), 8 hops max, 60 byte packets',
    ' 1  10.200.0.1  0.061 ms',
    ' 2  192.168.64.5  0.090 ms',
    ' 3  10.200.1.2  0.101 ms',
  ];
  const passed = judgeTraceroute(check, '10.200.1.2', out, addresses);
  assert.equal(passed.ok, true, passed.evidence);
  assert.equal(passed.evidence, 'hops: 10.200.0.1 (node-0) → 192.168.64.5 (node-1) → 10.200.1.2');
  // Over a shared L2 segment node-1 only bridges: one router, not the two the check names.
  const bridged = judgeTraceroute(
    check,
    '10.200.1.2',
    [' 1  10.200.0.1  0.05 ms', ' 2  10.200.1.2  0.07 ms'],
    addresses,
  );
  assert.equal(bridged.ok, false);
  assert.match(bridged.evidence, /^arrived by another way: .*; expected via node-0, node-1$/);
  // A path that stops: the probes past node-0 are never answered.
  const stopped = judgeTraceroute(check, '10.200.1.2', [' 1  10.200.0.1  0.05 ms', ' 2  *', ' 3  *'], addresses);
  assert.deepEqual([stopped.ok, stopped.reached], [false, false]);
  assert.equal(stopped.evidence, 'did not arrive: 10.200.0.1 (node-0) → * → *');
  // netlab_traceroute traced again (a hop silent on a path that arrived, as a router's rate limit makes it): said.
  const twice = judgeTraceroute(
    check,
    '10.200.1.2',
    ['netlab: traced again a second later: a hop was silent on a path that arrived', ...out],
    addresses,
  );
  assert.equal(twice.evidence, `${passed.evidence} (traced twice: a hop was silent the first time)`);
  const mustFail: Check = { ...check, expect: 'fail' };
  assert.equal(judgeTraceroute(mustFail, '10.200.1.2', [' 1  10.200.0.1  0.05 ms', ' 2  *'], addresses).ok, true);
});

test("a traceroute check to a node: the node's underlay address (a fact of the target) is where it arrives", () => {
  const { model } = parseLab(lab('  - traceroute: { from: a0, to: node-1, via: [node-0] }'), 'tr.yaml');
  const check = model.checks[0]!;
  assert.equal(check.toAddress, undefined, 'a node has no address in the lab file: it is a fact of the target');
  const facts = simulatedFacts(model);
  const addresses = hopAddresses(model, facts, buildPlan(model, facts));
  const out = [' 1  10.200.0.1  0.05 ms', ' 2  192.168.64.5  0.08 ms'];
  assert.equal(judgeTraceroute(check, addressOf(check, facts), out, addresses).ok, true);
});

test('a traceroute check naming a node the lab lacks is refused with the nodes it has', () => {
  assert.throws(
    () => parseLab(lab('  - traceroute: { from: a0, to: a1, via: [node-0, node-9] }'), 'tr.yaml'),
    (error: unknown) =>
      error instanceof LabInputError &&
      /tr\.yaml:\d+:\d+: verify\.0\.traceroute\.via\.1: unknown node or router "node-9" .*allowed: node-0, node-1/.test(
        error.message,
      ),
  );
});

test("trace's traceroute view: TTL runs out only where a node routes the packet; bridges, veths and a tunnel's underlay cost none", () => {
  const hop = (node: string, kind: string) => ({ node, where: node, kind, text: '' });
  const routed: Trace = {
    hops: [
      hop('pod a0', 'route'),
      hop('node-0', 'bridge'),
      hop('node-0', 'forward'),
      hop('node-0', 'vxlan'),
      hop('node-1', 'forward'),
      hop('pod a1', 'deliver'),
    ],
    outcome: 'delivered',
    at: { node: 'node-1', pod: 'a1' },
  };
  assert.equal(
    tracerouteView(routed),
    "traceroute's view: TTL 1 expires at node-0 (hop 3), TTL 2 expires at node-1 (hop 5), TTL 3 reaches pod a1; the underlay inside the tunnel is no hop of it",
  );
  // Bridged all the way (a redirect put the target on the sender's link): the target is the first hop.
  const bridged: Trace = {
    hops: [hop('pod a0', 'route'), hop('node-0', 'bridge'), hop('pod a1', 'deliver')],
    outcome: 'delivered',
    at: { node: 'node-0', pod: 'a1' },
  };
  assert.equal(tracerouteView(bridged), "traceroute's view: TTL 1 reaches pod a1");
  // Broken after node-0: traceroute shows node-0 and then nothing.
  const broken: Trace = { hops: [hop('pod a0', 'route'), hop('node-0', 'forward')], outcome: 'broken' };
  assert.equal(tracerouteView(broken), "traceroute's view: TTL 1 expires at node-0 (hop 2)");
});
