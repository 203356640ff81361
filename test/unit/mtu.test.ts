// The pods' MTU on an overlay (wiring/mtu.ts): the underlay interface's MTU
// less the tunnel's headers, or the lab's wiring.mtu; the plan says why with
// the numbers; the drift check compares it; the fault vocabulary can make it
// wrong where that breaks a transfer; derived checks between nodes move a
// megabyte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { faultsOf } from '../../src/faults/faults.js';
import { LabInputError } from '../../src/errors.js';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import type { Model } from '../../src/model/lab.js';
import type { NodeFacts, Step } from '../../src/model/plan.js';
import { buildPlan } from '../../src/plan/build.js';
import { findingsOf } from '../../src/verify/diagnose.js';
import { LABS } from '../paths.js';

const model = (lab: string) => loadLabFile(join(LABS, lab)).model;

/** Every MTU a node's steps set: "link 1450" or "netns/link 1450". */
function mtusOf(steps: readonly Step[]): string[] {
  return steps.flatMap((s) =>
    s.sets.flatMap((c) => (c.kind === 'mtu' ? [`${c.netns ? `${c.netns}/` : ''}${c.link} ${c.mtu}`] : [])),
  );
}

test('on an overlay the bridge and both ends of every pod veth get the underlay MTU less the headers', () => {
  const expected: Record<string, number> = {
    'vxlan.yaml': 1450,
    'flannel.yaml': 1450,
    'ipip.yaml': 1480,
    'geneve.yaml': 1450,
  };
  for (const [lab, mtu] of Object.entries(expected)) {
    const m = model(lab);
    const node = buildPlan(m, simulatedFacts(m)).nodes[0]!;
    assert.deepEqual(mtusOf(node.steps), [`br0 ${mtu}`, `veth-a0 ${mtu}`, `a0/veth-a0-c ${mtu}`], lab);
    const bridgeStep = node.steps.find((s) => s.summary === `give br0 the MTU ${mtu}`)!;
    assert.equal(bridgeStep.phase, 'cross-node');
    assert.match(bridgeStep.why, new RegExp(`1500 - ${1500 - mtu} = ${mtu}`), `${lab}: the why has the numbers`);
    // The pod's own end sends one segment at a time, so that the kernel enforces the MTU (no GSO).
    assert.ok(
      node.steps.some((s) =>
        s.apply.some((c) => c.join(' ') === `ip -n a0 link set veth-a0-c mtu ${mtu} gso_max_segs 1`),
      ),
    );
  }
  // No overlay, no MTU set: the kernel's default is right.
  for (const lab of ['bridge.yaml', 'routes.yaml', 'veth.yaml', 'loopback.yaml', 'service.yaml']) {
    const m = model(lab);
    assert.deepEqual(
      buildPlan(m, simulatedFacts(m)).nodes.flatMap((n) => mtusOf(n.steps)),
      [],
      lab,
    );
  }
});

test("the MTU follows the underlay: jumbo frames give 8950 over VXLAN; the smallest node's decides; none known, none set", () => {
  const m = model('vxlan.yaml');
  const facts = (mtu0?: number, mtu1?: number): Record<string, NodeFacts> => ({
    'node-0': { address: '192.168.56.10', dev: 'eth1', ...(mtu0 ? { mtu: mtu0 } : {}) },
    'node-1': { address: '192.168.56.11', dev: 'eth1', ...(mtu1 ? { mtu: mtu1 } : {}) },
  });
  const mtus = (f: Record<string, NodeFacts>) => buildPlan(m, f).nodes.map((n) => mtusOf(n.steps));
  assert.deepEqual(mtus(facts(9000, 9000)), [
    ['br0 8950', 'veth-a0 8950', 'a0/veth-a0-c 8950'],
    ['br1 8950', 'veth-a1 8950', 'a1/veth-a1-c 8950'],
  ]);
  // A pod's packet on node-0 must fit node-1's underlay too: one MTU for the lab.
  assert.deepEqual(mtus(facts(9000, 1500)), [
    ['br0 1450', 'veth-a0 1450', 'a0/veth-a0-c 1450'],
    ['br1 1450', 'veth-a1 1450', 'a1/veth-a1-c 1450'],
  ]);
  // A lab that went up before netlab read the underlay's MTU (its state has none) set none.
  assert.deepEqual(mtus(facts(undefined, 1500)), [[], []]);
});

function withMtu(mtu: number, sameNode = 'bridge'): Model {
  const text = `nodes: { node-0: {}, node-1: {} }
pods: { a0: { node: node-0 }, a1: { node: node-1 } }
wiring: { same-node: ${sameNode}, cross-node: ${sameNode === 'bridge' ? 'vxlan' : 'none'}, mtu: ${mtu} }
`;
  return parseLab(text, 'mtu.yaml').model;
}

test('wiring.mtu overrides the computed MTU, and the plan says when it cannot fit; out of range or on loopback is refused', () => {
  const m = withMtu(1500);
  const steps = buildPlan(m, simulatedFacts(m)).nodes[0]!.steps;
  assert.deepEqual(mtusOf(steps), ['br0 1500', 'veth-a0 1500', 'a0/veth-a0-c 1500']);
  assert.match(steps.find((s) => s.summary === 'give br0 the MTU 1500')!.why, /does not fit/);
  for (const [mtu, message] of [
    [575, /wiring\.mtu: .*at least 576/],
    [9001, /wiring\.mtu: .*at most 9000/],
  ] as const)
    assert.throws(
      () => withMtu(mtu),
      (e: unknown) =>
        e instanceof LabInputError && message.test(e.issues.map((i) => `${i.path}: ${i.message}`).join('\n')),
    );
  assert.throws(
    () =>
      parseLab(
        'nodes: { node-0: {} }\npods: { p: { node: node-0, containers: [a, b] } }\nwiring: { same-node: loopback, mtu: 1400 }\n',
        'lo.yaml',
      ),
    (e: unknown) => e instanceof LabInputError && e.issues.some((i) => /only lo/.test(i.message)),
  );
});

test("drift: a link whose MTU is not the plan's is named, in the node and in a pod", () => {
  const m = model('vxlan.yaml');
  const steps = buildPlan(m, simulatedFacts(m)).nodes[0]!.steps;
  const step = steps.find((s) => s.summary === "give pod a0's veth the MTU 1450")!;
  const node = { links: [{ ifindex: 4, ifname: 'veth-a0', up: true, mtu: 1400 }] };
  const pod = { links: [{ ifindex: 2, ifname: 'veth-a0-c', up: true, mtu: 1500 }] };
  const found = findingsOf(steps, node, new Set(), new Map([['a0', pod]]))
    .filter((f) => /MTU/.test(f.what))
    .map((f) => `${f.step.id} ${f.what}`);
  assert.deepEqual(found, [
    `${step.id} veth-a0's MTU is 1400, but the lab sets 1450`,
    `${step.id} in pod namespace a0: veth-a0-c's MTU is 1500, but the lab sets 1450`,
  ]);
  const right = { links: [{ ifindex: 4, ifname: 'veth-a0', up: true, mtu: 1450 }] };
  assert.deepEqual(
    findingsOf(steps, right, new Set()).filter((f) => /MTU/.test(f.what)),
    [],
  );
});

test('a wrong MTU is a fault only where it breaks a transfer: the node end of a pod veth', () => {
  const m = model('vxlan.yaml');
  const faults = faultsOf(m, simulatedFacts(m)).filter((f) => f.kind === 'mtu-wrong');
  assert.deepEqual(
    faults.map((f) => f.id),
    ['mtu-wrong:node-0:veth-a0', 'mtu-wrong:node-1:veth-a1'],
  );
  assert.deepEqual(faults[1]!.apply, [['ip', 'link', 'set', 'veth-a1', 'mtu', '1400']]);
  assert.deepEqual(faults[1]!.mend, [['ip', 'link', 'set', 'veth-a1', 'mtu', '1450']]);
});

test('derived checks between pods on two nodes move a megabyte; on one node they connect only', () => {
  const tcp = (lab: string) =>
    model(lab)
      .checks.filter((c) => c.kind === 'tcp')
      .map((c) => c.bytes ?? 0);
  assert.deepEqual(tcp('vxlan.yaml'), [1_000_000, 1_000_000]);
  assert.deepEqual(tcp('vxlan-3.yaml').length, 3);
  assert.ok(tcp('vxlan-3.yaml').every((b) => b === 1_000_000));
  const sameNode = parseLab(
    'nodes: { node-0: {} }\npods: { a0: { node: node-0 }, a1: { node: node-0 } }\n',
    'one.yaml',
  ).model;
  assert.deepEqual(
    sameNode.checks.filter((c) => c.kind === 'tcp').map((c) => c.bytes ?? 0),
    [0, 0],
  );
});
