// The ownership check of preflight: the node's inventory (one listing per kind
// of object, as the preflight script prints it) against what the plan creates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeProblems, findConflicts, parseInventory, preflightScript } from '../../src/exec/preflight.js';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/exec/simulated.js';
import type { Step } from '../../src/plan/types.js';
import { LABS } from '../paths.js';
import { join } from 'node:path';

function stepsOf(lab: string, node = 'node-0'): Step[] {
  const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
  return buildPlan(model, simulatedFacts(model)).nodes.find((n) => n.node === node)!.steps;
}

/** What a fresh node prints: loopback, its underlay, a default route and the built-in chains. */
const FRESH = `@@netlab have link lo
@@netlab have link eth1
@@netlab have addr 127.0.0.1
@@netlab have addr 192.168.64.4
@@netlab have route default via
@@netlab have route 192.168.64.0/24 dev
@@netlab have chain filter INPUT
@@netlab have chain filter FORWARD
@@netlab have chain nat PREROUTING
`;

test('preflight: a fresh node has nothing any lab would create', () => {
  for (const lab of ['bridge', 'vxlan', 'routes', 'ipip', 'service', 'nodeport', 'flannel', 'scale']) {
    assert.deepEqual(findConflicts(stepsOf(lab), parseInventory(FRESH)), [], lab);
  }
});

test('preflight: each kind of object the plan would create is found when it is already there, naming the step', () => {
  const steps = stepsOf('service');
  const stepOf = (pattern: RegExp) => steps.find((s) => s.apply.some((c) => pattern.test(c.join(' '))))!.id;
  const have = parseInventory(
    FRESH +
      [
        '@@netlab have link br0', // the node's bridge
        '@@netlab have link veth-a0-c', // the pod end of a veth pair (the peer name)
        '@@netlab have netns a0',
        '@@netlab have addr 10.200.0.1',
        '@@netlab have route 10.200.1.0/24 via', // a route to another node's pods, made by hand
        '@@netlab have route 10.200.0.0/16 dev', // a covering route of the user's: no clash
        '@@netlab have chain filter NETLAB-FWD-service',
        '@@netlab have chain nat NL-SERVICES-service',
        'some other output that is not inventory',
      ].join('\n'),
  );
  const found = findConflicts(steps, have);
  const expect = [
    { step: stepOf(/^ip netns add a0$/), what: 'a network namespace named a0' },
    { step: stepOf(/^ip link add name br0 /), what: 'a link named br0' },
    { step: stepOf(/^ip addr add 10\.200\.0\.1\//), what: 'the address 10.200.0.1' },
    { step: stepOf(/^ip link add veth-a0 type veth peer name veth-a0-c/), what: 'a link named veth-a0-c' },
    { step: stepOf(/^ip route add 10\.200\.1\.0\/24 /), what: 'a route to 10.200.1.0/24' },
    { step: stepOf(/^iptables -w -N NETLAB-FWD-service$/), what: 'an iptables chain NETLAB-FWD-service' },
    { step: stepOf(/^netlab_restore /), what: 'an iptables nat chain NL-SERVICES-service' },
  ];
  assert.equal(found.length, expect.length, JSON.stringify(found));
  for (const e of expect)
    assert.ok(
      found.some((f) => f.step === e.step && f.what === e.what),
      `${JSON.stringify(e)} in ${JSON.stringify(found)}`,
    );
  // A chain of that name in the other table is no clash.
  assert.deepEqual(findConflicts(steps, parseInventory(`${FRESH}@@netlab have chain nat NETLAB-FWD-service\n`)), []);
});

test('preflight: routes are compared by destination prefix, whatever their type or form', () => {
  const routeStep: Step = {
    id: 7,
    node: 'node-0',
    phase: 'cross-node',
    summary: '',
    why: '',
    apply: [['ip', 'route', 'add', '10.200.1.0/24', 'via', '192.168.64.5']],
    undo: [],
  };
  const hostRoute: Step = { ...routeStep, id: 8, apply: [['ip', 'route', 'add', '10.9.9.9/32', 'dev', 'eth1']] };
  const clashes = (line: string) =>
    findConflicts([routeStep, hostRoute], parseInventory(`@@netlab have route ${line}\n`)).map((c) => c.step);
  assert.deepEqual(clashes('10.200.1.0/24 via'), [7]);
  assert.deepEqual(clashes('unreachable 10.200.1.0/24'), [7], 'a typed route prints its type first');
  assert.deepEqual(clashes('10.200.1.0/25 dev'), [], 'a longer prefix is another route');
  assert.deepEqual(clashes('10.200.0.0/16 dev'), [], 'a covering prefix is another route');
  assert.deepEqual(clashes('10.9.9.9 dev'), [8], 'a host route prints without /32');
});

test('preflight: kernel features are probed in one throwaway namespace; a failed probe and a probe that could not run are told apart', () => {
  const { model } = loadLabFile(join(LABS, 'ipip.yaml'));
  const steps = stepsOf('ipip');
  const script = preflightScript(model, 'node-0', steps);
  assert.equal(script.match(/unshare --net/g)?.length, 1, 'one namespace for every probe');
  assert.match(script, /ip link add netlab-p-ipip type ipip local 192\.0\.2\.1 remote 192\.0\.2\.2/);

  const missing = describeProblems(
    model,
    'node-0',
    steps,
    `${FRESH}@@netlab missing-feature ipip Error: Unknown device type.\n@@netlab probed\n`,
  );
  assert.deepEqual(missing.length, 1);
  assert.match(
    missing[0]!,
    /^lab ipip needs kernel IP-in-IP support \(module ipip\) on node-0; the kernel answered "Error: Unknown device type"\. Load it with `modprobe ipip`/,
  );

  assert.deepEqual(describeProblems(model, 'node-0', steps, `${FRESH}@@netlab probed\n`), [], 'every probe passed');
  const noProbe = describeProblems(
    model,
    'node-0',
    steps,
    `${FRESH}unshare: unshare failed: Operation not permitted\n`,
  );
  assert.deepEqual(noProbe, [
    "cannot probe the kernel features lab ipip needs on node-0: `unshare --net` failed: unshare: unshare failed: Operation not permitted (netlab needs root there, and util-linux's unshare)",
  ]);
  const noUnshare = describeProblems(model, 'node-0', steps, `${FRESH}@@netlab missing-tool unshare util-linux\n`);
  assert.deepEqual(noUnshare, [
    'lab ipip needs the command "unshare" on node-0: install the package util-linux (apt-get install util-linux)',
  ]);
});
