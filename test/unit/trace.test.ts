// The trace walk's decisions, on tables written by hand in the shape LiveKernel
// reads them (the end-to-end tests run it on live kernels). IP-in-IP is here
// because this machine's kernel has no ipip module; the VM tier traces it live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadLabFile } from '../../src/lab/load.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { buildPlan } from '../../src/plan/build.js';
import { TraceWalk } from '../../src/trace/walk.js';
import {
  probeAndWalk,
  resolveRequest,
  sendFirst,
  traceRequest,
  walkedThrough,
  type Probe,
} from '../../src/trace/trace.js';
import type { Trace } from '../../src/model/trace.js';
import { RunError, UsageError } from '../../src/errors.js';
import { askNode } from '../../src/node/query.js';
import { LiveKernel } from '../../src/trace/kernel.js';
import type { Transport } from '../../src/exec/transport.js';
import { ruleMatches } from '../../src/node/tables.js';
import { parseSavedRules } from '../../src/node/tables.js';
import type { Kernel, Link, Place, RouteLookup, Tables } from '../../src/trace/kernel.js';
import { parseLinks, parseRouteGet } from '../../src/node/tables.js';
import { LABS } from '../paths.js';

/** The lab's own accept chain (the bridge module's) as iptables-save prints its rules: the cluster CIDR both ways. */
const labChain = (lab: string) => [
  `-A NETLAB-FWD-${lab} -s 10.200.0.0/16 -j ACCEPT`,
  `-A NETLAB-FWD-${lab} -d 10.200.0.0/16 -j ACCEPT`,
];

/** A FORWARD chain as `iptables -S FORWARD` prints it (-P, then -A lines), as the kernel interface gives it. */
function forwardChainOf(lines: readonly string[], chain = 'FORWARD') {
  return {
    policy: new RegExp(`^-P ${chain} (\\S+)`, 'm').exec(lines.join('\n'))?.[1] ?? 'ACCEPT',
    rules: parseSavedRules(lines),
  };
}

const MAC = {
  a0: '0a:00:00:00:00:a0',
  a1: '0a:00:00:00:00:a1',
  br0: '0a:00:00:00:0b:00',
  br1: '0a:00:00:00:0b:01',
  h0: '0a:00:00:00:00:f0',
  h1: '0a:00:00:00:00:f1',
};

function tables(links: Link[], extra: Partial<Tables> = {}): Tables {
  return { links, addresses: [], neighbours: [], fdb: [], sysctls: {}, ...extra };
}

const veth = (ifname: string, ifindex: number, peerIndex: number, mac: string, master?: string): Link => ({
  ifname,
  ifindex,
  peerIndex,
  mac,
  kind: 'veth',
  up: true,
  ...(master ? { master } : {}),
});
const key = (place: Place) => `${place.node}/${place.pod ?? ''}`;

/** Two nodes of the ipip lab, healthy; tests break one thing each. */
function ipipWorld() {
  const world = {
    tables: {
      'node-0/a0': tables([veth('veth-a0-c', 2, 5, MAC.a0)], {
        neighbours: [{ dst: '10.200.0.1', dev: 'veth-a0-c', mac: MAC.br0, state: ['REACHABLE'] }],
      }),
      'node-0/': tables(
        [
          veth('eth1', 2, 9, '0a:00:00:00:e0:00'),
          { ifname: 'br0', ifindex: 3, kind: 'bridge', mac: MAC.br0, up: true },
          veth('veth-a0', 5, 2, MAC.h0, 'br0'),
          { ifname: 'ipip0', ifindex: 6, kind: 'ipip', up: true, data: { local: '192.168.64.4', remote: 'any' } },
        ],
        { sysctls: { 'net.ipv4.ip_forward': '1' } },
      ),
      'node-1/': tables(
        [
          veth('eth1', 2, 8, '0a:00:00:00:e0:01'),
          { ifname: 'br1', ifindex: 3, kind: 'bridge', mac: MAC.br1, up: true },
          veth('veth-a1', 5, 2, MAC.h1, 'br1'),
          { ifname: 'ipip0', ifindex: 6, kind: 'ipip', up: true, data: { local: '192.168.64.5', remote: 'any' } },
        ],
        {
          sysctls: { 'net.ipv4.ip_forward': '1' },
          neighbours: [{ dst: '10.200.1.2', dev: 'br1', mac: MAC.a1, state: ['REACHABLE'] }],
          fdb: [{ mac: MAC.a1, ifname: 'veth-a1', master: 'br1', self: false, permanent: false }],
        },
      ),
      'node-1/a1': tables([veth('veth-a1-c', 2, 5, MAC.a1)]),
    } as Record<string, Tables>,
    routes: {
      'node-0/a0 10.200.1.2': {
        ok: true,
        type: 'unicast',
        dev: 'veth-a0-c',
        via: '10.200.0.1',
        entry: 'default via 10.200.0.1 dev veth-a0-c',
      },
      'node-0/ 10.200.1.2': {
        ok: true,
        type: 'unicast',
        dev: 'ipip0',
        via: '192.168.64.5',
        entry: '10.200.1.0/24 via 192.168.64.5 dev ipip0',
      },
      'node-0/ 192.168.64.5': { ok: true, type: 'unicast', dev: 'eth1', entry: '192.168.64.0/24 dev eth1' },
      'node-1/ 10.200.1.2': { ok: true, type: 'unicast', dev: 'br1', entry: '10.200.1.0/24 dev br1' },
      'node-1/a1 10.200.1.2': { ok: true, type: 'local', dev: 'lo' },
    } as Record<string, RouteLookup>,
    forward: [
      '-P FORWARD ACCEPT',
      '-A FORWARD -m comment --comment "netlab lab ipip" -j NETLAB-FWD-ipip',
      ...labChain('ipip'),
    ],
  };
  const kernel: Kernel = {
    reads: () => true,
    tables: async (place) => world.tables[key(place)] ?? tables([]),
    routeGet: async (place, dst) =>
      world.routes[`${key(place)} ${dst}`] ?? { ok: false, error: 'Network is unreachable' },
    natRules: async () => [],
    filterTable: async () => forwardChainOf(world.forward),
    connections: async () => [],
  };
  return { world, kernel };
}

async function walk(lab: string, kernel: Kernel) {
  const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
  const facts = simulatedFacts(model);
  return new TraceWalk(model, facts, buildPlan(model, facts), kernel).run(
    { node: 'node-0', pod: 'a0' },
    { src: '10.200.0.2', dst: '10.200.1.2', protocol: 'icmp' },
  );
}

test('trace ipip: veth, bridge up to the node, the tunnel with its outer header to the other node, unwrapped, bridged to a1', async () => {
  const trace = await walk('ipip', ipipWorld().kernel);
  assert.equal(trace.outcome, 'delivered', JSON.stringify(trace.problem));
  assert.deepEqual(trace.at, { node: 'node-1', pod: 'a1' });
  assert.deepEqual(
    trace.hops.map((h) => `${h.where} ${h.kind}`),
    [
      'pod a0 route',
      'pod a0 neigh',
      'pod a0 veth',
      'node-0 bridge',
      'node-0 forward',
      'node-0 route',
      'node-0 ipip',
      'node-0 underlay',
      'node-1 ipip',
      'node-1 forward',
      'node-1 route',
      'node-1 neigh',
      'node-1 bridge',
      'node-1 veth',
      'pod a1 deliver',
    ],
  );
  assert.match(trace.hops[6]!.text, /outer 192\.168\.64\.4 → 192\.168\.64\.5; inner 10\.200\.0\.2 → 10\.200\.1\.2/);
  assert.match(trace.hops[7]!.text, /node-1's underlay address/);
  assert.match(trace.hops[12]!.text, /0a:00:00:00:00:a1 \(pod a1's veth-a1-c\) to port veth-a1/);
});

test("trace: a packet delivered to another namespace that has the destination's address (a learner's `ip addr add` there) is no delivery to the pod meant", async () => {
  const { model } = loadLabFile(join(LABS, 'ipip.yaml'));
  const facts = simulatedFacts(model);
  const { world, kernel } = ipipWorld();
  const request = resolveRequest(model, facts, 'a0', 'a1');
  assert.equal((await traceRequest(model, facts, {}, request, kernel)).outcome, 'delivered');
  // a1's address added to a0's own loopback: a0's kernel takes the packet as its own.
  world.routes['node-0/a0 10.200.1.2'] = { ok: true, type: 'local', dev: 'lo', entry: 'local 10.200.1.2 dev lo' };
  const trace = await traceRequest(model, facts, {}, request, kernel);
  assert.equal(trace.outcome, 'broken');
  assert.deepEqual(trace.at, { node: 'node-0', pod: 'a0' });
  assert.equal(
    trace.problem?.reason,
    'pod a0 has 10.200.1.2 as an address of its own and takes the packet: it never reaches pod a1',
  );
  assert.equal(trace.reply, undefined, 'no reply is walked back from where it should not be');
  // So is a pod named by its address.
  const byAddress = resolveRequest(model, facts, 'a0', '10.200.1.2');
  assert.match(
    (await traceRequest(model, facts, {}, byAddress, kernel)).problem?.reason ?? '',
    /it never reaches pod a1$/,
  );
  // A node is meant as a node: a pod holding its address is not it.
  const toNode = resolveRequest(model, facts, 'a0', 'node-1');
  world.routes[`node-0/a0 ${toNode.packet.dst}`] = { ok: true, type: 'local', dev: 'lo' };
  assert.match(
    (await traceRequest(model, facts, {}, toNode, kernel)).problem?.reason ?? '',
    /^pod a0 has \S+ as an address of its own and takes the packet: it never reaches node node-1$/,
  );
});

test('trace ipip: the tunnel with the matching local address receives, not the fallback tunl0 (down) the module creates', async () => {
  const { world, kernel } = ipipWorld();
  world.tables['node-1/']!.links.unshift({
    ifname: 'tunl0',
    ifindex: 4,
    kind: 'ipip',
    up: false,
    data: { local: 'any', remote: 'any' },
  });
  const trace = await walk('ipip', kernel);
  assert.equal(trace.outcome, 'delivered', JSON.stringify(trace.problem));
  assert.match(trace.hops.find((h) => h.kind === 'ipip' && h.node === 'node-1')!.text, /^ipip0 unwraps/);
  world.tables['node-1/']!.links = world.tables['node-1/']!.links.filter((l) => l.ifname !== 'ipip0');
  const fallback = await walk('ipip', kernel);
  assert.match(fallback.problem!.reason, /tunl0 on node-1 is down/);
});

test("trace: a pod's own INPUT chain that drops the packet (a firewall inside it, the drop-rule fault) stops it there, and one that accepts it does not", async () => {
  const { kernel } = ipipWorld();
  const withInput = (rules: string[]): Kernel => ({
    ...kernel,
    podFilter: async (place) => (place.pod === 'a1' ? forwardChainOf(rules, 'INPUT') : { policy: 'ACCEPT', rules: [] }),
  });
  const dropped = await walk(
    'ipip',
    withInput(['-P INPUT ACCEPT', '-A INPUT -m comment --comment "netlab fault" -j DROP']),
  );
  assert.equal(dropped.outcome, 'broken');
  assert.match(
    dropped.problem!.reason,
    /^pod a1's own INPUT chain drops it: -A INPUT -m comment --comment "netlab fault" -j DROP$/,
  );
  assert.equal(dropped.problem!.where, 'pod a1');
  // The kernel takes the first rule that matches: an ACCEPT before the DROP lets it in; a DROP for another source does not stop it.
  for (const rules of [
    ['-P INPUT ACCEPT', '-A INPUT -s 10.200.0.0/16 -j ACCEPT', '-A INPUT -j DROP'],
    ['-P INPUT ACCEPT', '-A INPUT -s 10.9.0.0/16 -j DROP'],
  ])
    assert.equal((await walk('ipip', withInput(rules))).outcome, 'delivered', rules.join('; '));
  const policy = await walk('ipip', withInput(['-P INPUT DROP']));
  assert.match(policy.problem!.reason, /^pod a1's own INPUT chain drops it: its policy is DROP$/);
});

test('trace names the first missing entry and the step of the lab that made it', async () => {
  const cases: {
    name: string;
    breakIt: (w: ReturnType<typeof ipipWorld>['world']) => void;
    where: string;
    reason: RegExp;
    hint?: RegExp;
  }[] = [
    {
      name: 'no route',
      breakIt: (w) => delete w.routes['node-0/ 10.200.1.2'],
      where: 'node-0',
      reason: /no route to 10\.200\.1\.2 in node-0's routing table/,
      hint: /`ip route add 10\.200\.1\.0\/24 via 192\.168\.64\.5 dev ipip0 onlink` \(step \d+/,
    },
    {
      name: 'forwarding off',
      breakIt: (w) => (w.tables['node-1/']!.sysctls['net.ipv4.ip_forward'] = '0'),
      where: 'node-1',
      reason: /net\.ipv4\.ip_forward is 0: node-1 does not forward packets from ipip0 to br1/,
      hint: /`netlab_sysctl net\.ipv4\.ip_forward 1`/,
    },
    {
      name: 'FORWARD DROP without the jump',
      breakIt: (w) => (w.forward = ['-P FORWARD DROP']),
      where: 'node-0',
      reason: /FORWARD policy is DROP and no rule jumps to NETLAB-FWD-ipip/,
      hint: /-I FORWARD 1/,
    },
    {
      name: 'no tunnel on the other node',
      breakIt: (w) => (w.tables['node-1/']!.links = w.tables['node-1/']!.links.filter((l) => l.kind !== 'ipip')),
      where: 'node-1',
      reason: /node-1 has no ipip tunnel device: the outer packet is dropped/,
    },
    {
      name: 'a veth end down',
      breakIt: (w) => (w.tables['node-1/a1']!.links[0]!.up = false),
      where: 'pod a1',
      reason: /veth-a1-c is down/,
      hint: /ip link set veth-a1-c up/,
    },
    {
      name: 'no ARP reply',
      breakIt: (w) => (w.tables['node-1/']!.neighbours = [{ dst: '10.200.1.2', dev: 'br1', state: ['FAILED'] }]),
      where: 'node-1',
      reason: /no ARP reply from 10\.200\.1\.2 on br1/,
    },
  ];
  for (const c of cases) {
    const { world, kernel } = ipipWorld();
    c.breakIt(world);
    const trace = await walk('ipip', kernel);
    assert.equal(trace.outcome, 'broken', c.name);
    assert.equal(trace.problem!.where, c.where, c.name);
    assert.match(trace.problem!.reason, c.reason, c.name);
    if (c.hint) assert.match(trace.problem!.hint ?? '', c.hint, c.name);
  }
});

// The chain that accepts the lab's traffic in FORWARD is a module's (the bridge's, through the registry);
// a lab whose modules add none is told so, not sent looking for a chain it never had.
test("trace: FORWARD as the modules say: the bridge's accept chain named; without one, the policy and a DROP said plainly", async () => {
  const run = async (sameNode: string, forward: string[]) => {
    const { world, kernel } = ipipWorld();
    world.forward = forward;
    const { model } = loadLabFile(join(LABS, 'ipip.yaml'));
    const facts = simulatedFacts(model);
    const plan = buildPlan(model, facts);
    return new TraceWalk({ ...model, sameNode }, facts, plan, kernel).run(
      { node: 'node-0', pod: 'a0' },
      { src: '10.200.0.2', dst: '10.200.1.2', protocol: 'icmp' },
    );
  };
  const reason = async (sameNode: string, forward: string[]) => (await run(sameNode, forward)).problem?.reason;
  assert.match((await reason('bridge', ['-P FORWARD DROP']))!, /no rule jumps to NETLAB-FWD-ipip, which accepts/);
  assert.equal(
    await reason('veth', ['-P FORWARD DROP']),
    'the FORWARD policy is DROP and the lab adds no rule to FORWARD that accepts the cluster CIDR',
  );
  assert.equal(
    await reason('veth', ['-P FORWARD ACCEPT', '-A FORWARD -s 10.200.0.0/16 -j DROP']),
    "a rule in node-0's FORWARD chain drops it: -A FORWARD -s 10.200.0.0/16 -j DROP",
  );
  // A DROP after the bridge's jump is never met; before it, it is, and named so.
  const jump = '-A FORWARD -m comment --comment "netlab lab ipip" -j NETLAB-FWD-ipip';
  const lab = labChain('ipip');
  const delivered = await run('bridge', ['-P FORWARD ACCEPT', jump, '-A FORWARD -j DROP', ...lab]);
  assert.equal(delivered.outcome, 'delivered');
  assert.ok(
    delivered.hops.some((h) => /FORWARD policy ACCEPT, accepted by NETLAB-FWD-ipip\)/.test(h.text)),
    'the hop names the chain that accepted it',
  );
  assert.match(
    (await reason('bridge', ['-P FORWARD ACCEPT', '-A FORWARD -j DROP', jump, ...lab]))!,
    /drops it before the lab's chain NETLAB-FWD-ipip is consulted: -A FORWARD -j DROP/,
  );
  // First match decides, as in the kernel: a learner's own ACCEPT before a DROP lets the packet through.
  const own = '-A FORWARD -s 10.200.0.0/24 -j ACCEPT';
  const accepted = await run('veth', ['-P FORWARD DROP', own, '-A FORWARD -j DROP']);
  assert.equal(accepted.outcome, 'delivered', accepted.problem?.reason);
  assert.ok(accepted.hops.some((h) => h.text.includes(`accepted by \`${own}\``)));
  // The lab's chain emptied (iptables -F) under a DROP policy: the jump is there, and nothing accepts.
  const flushed = await run('bridge', ['-P FORWARD DROP', jump]);
  assert.equal(flushed.outcome, 'broken');
  assert.match(
    flushed.problem!.reason,
    /policy is DROP and the lab's chain NETLAB-FWD-ipip, which FORWARD jumps to, accepts none of it/,
  );
  assert.match(flushed.problem!.hint ?? '', /iptables -w -A NETLAB-FWD-ipip -s 10\.200\.0\.0\/16 -j ACCEPT/);
  // An ACCEPT whose match trace does not judge (a mark) may take the packet first: trace cannot tell, and says so.
  const sport = '-A FORWARD -p icmp -m mark --mark 0x1 -j ACCEPT';
  const unsure = await run('bridge', ['-P FORWARD DROP', sport, jump]);
  assert.equal(unsure.outcome, 'unknown');
  assert.match(
    unsure.problem!.reason,
    /accepts none of it \(its rules removed or changed\); unless `-A FORWARD -p icmp -m mark --mark 0x1 -j ACCEPT` accepts it first, which trace cannot tell \(it does not judge --mark\)$/,
  );
  // A DROP before the jump to an emptied lab chain: met before the chain is consulted, which changes nothing.
  assert.match(
    (await reason('bridge', ['-P FORWARD ACCEPT', '-A FORWARD -j DROP', jump]))!,
    /drops it before the lab's chain NETLAB-FWD-ipip is consulted/,
  );
  // A RETURN before the jump: the lab's chain, which would accept it, is never reached; nor where the jump does
  // not match the packet.
  assert.equal(
    (await reason('bridge', ['-P FORWARD DROP', '-A FORWARD -s 10.200.0.0/16 -j RETURN', jump, ...lab]))!,
    "the FORWARD policy is DROP and the packet never reaches FORWARD's jump to the lab's chain NETLAB-FWD-ipip: -A FORWARD -s 10.200.0.0/16 -j RETURN ends FORWARD for it first",
  );
  assert.equal(
    (await reason('bridge', ['-P FORWARD DROP', '-A FORWARD -i eth9 -j NETLAB-FWD-ipip', ...lab]))!,
    "the FORWARD policy is DROP and FORWARD's jump to the lab's chain NETLAB-FWD-ipip does not match this packet: -A FORWARD -i eth9 -j NETLAB-FWD-ipip",
  );
  // A DROP of someone's in the lab's own chain, before its ACCEPTs.
  assert.match(
    (await reason('bridge', ['-P FORWARD ACCEPT', jump, '-A NETLAB-FWD-ipip -p icmp -j DROP', ...lab]))!,
    /^a rule in node-0's lab chain NETLAB-FWD-ipip drops it: -A NETLAB-FWD-ipip -p icmp -j DROP$/,
  );
  // A DROP whose match trace does not judge may drop it: unknown, named.
  const markDrop = await run('bridge', [
    '-P FORWARD ACCEPT',
    '-A FORWARD -m mark --mark 0x8000/0x8000 -j DROP',
    jump,
    ...lab,
  ]);
  assert.equal(markDrop.outcome, 'unknown');
  assert.match(
    markDrop.problem!.reason,
    /; if `-A FORWARD -m mark --mark 0x8000\/0x8000 -j DROP` matches it, which trace cannot tell \(it does not judge --mark\)$/,
  );
  // A goto (-g): the chain gone to decides nothing, and FORWARD's walk ends with it (to the policy), as a
  // RETURN there would; a jump (-j) to the same chain goes on to the lab's.
  const empty = ['-A FORWARD -s 10.200.0.0/16 -g SKIP', '-A SKIP -p udp -j ACCEPT'];
  assert.match(
    (await reason('bridge', ['-P FORWARD DROP', ...empty, jump, ...lab]))!,
    /never reaches FORWARD's jump to the lab's chain NETLAB-FWD-ipip: -A FORWARD -s 10.200.0.0\/16 -g SKIP ends/,
  );
  // A RETURN that may match (a mark) before the jump, under a DROP policy: accepted by the lab's chain, unless
  // the RETURN sent it to the policy first.
  const maybeReturn = await run('bridge', ['-P FORWARD DROP', '-A FORWARD -m mark --mark 0x1 -j RETURN', jump, ...lab]);
  assert.equal(maybeReturn.outcome, 'unknown');
  assert.equal(
    maybeReturn.problem!.reason,
    "node-0's FORWARD accepts it (NETLAB-FWD-ipip); unless `-A FORWARD -m mark --mark 0x1 -j RETURN` ends the chain for it first, which trace cannot tell (it does not judge --mark)",
  );
  // A certain DROP reached through a jump that may match: the jump is what trace cannot judge.
  const maybeJump = await run('bridge', [
    '-P FORWARD ACCEPT',
    '-A FORWARD -m mark --mark 0x2 -j USER',
    '-A USER -j DROP',
    jump,
    ...lab,
  ]);
  assert.equal(maybeJump.outcome, 'unknown');
  assert.match(
    maybeJump.problem!.reason,
    /; if `-A FORWARD -m mark --mark 0x2 -j USER` leads it there, which trace cannot tell/,
  );
  // A DROP in a chain the lab's chain jumps to, and a DROP after a jump that does not match the packet.
  assert.match(
    (await reason('bridge', ['-P FORWARD ACCEPT', jump, '-A NETLAB-FWD-ipip -j MINE', '-A MINE -j DROP', ...lab]))!,
    /^a rule in node-0's chain MINE \(from the lab's chain NETLAB-FWD-ipip\) drops it: -A MINE -j DROP$/,
  );
  const afterJump = await run('bridge', [
    '-P FORWARD ACCEPT',
    '-A FORWARD -i eth9 -j NETLAB-FWD-ipip',
    '-A FORWARD -j DROP',
    ...lab,
  ]);
  assert.match(
    afterJump.problem!.hint ?? '',
    /^FORWARD's jump to the lab's chain NETLAB-FWD-ipip does not match this packet/,
  );
  // A goto to a chain with no rule at all (flushed) ends FORWARD's walk too.
  assert.match(
    (await reason('bridge', ['-P FORWARD DROP', '-A FORWARD -s 10.200.0.0/16 -g SKIP', jump, ...lab]))!,
    /never reaches FORWARD's jump/,
  );
  assert.equal(
    (
      await run('bridge', [
        '-P FORWARD DROP',
        '-A FORWARD -s 10.200.0.0/16 -j SKIP',
        '-A SKIP -p udp -j ACCEPT',
        jump,
        ...lab,
      ])
    ).outcome,
    'delivered',
  );
  // A DROP in a chain FORWARD jumps to (a learner's, Docker's DOCKER-USER) is followed there.
  const user = await run('bridge', [
    '-P FORWARD ACCEPT',
    '-A FORWARD -j USER',
    '-A USER -d 10.200.1.0/24 -j DROP',
    jump,
    ...lab,
  ]);
  assert.match(
    user.problem?.reason ?? '',
    /a rule in node-0's chain USER \(from FORWARD\) drops it before the lab's chain/,
  );
});

test('trace vxlan: an unlearned MAC goes to the multicast group (not learned yet); a learned one to its node', async () => {
  const { world, kernel } = ipipWorld();
  const node0 = world.tables['node-0/']!;
  node0.links = node0.links
    .filter((l) => l.kind !== 'ipip')
    .concat({
      ifname: 'vxlan0',
      ifindex: 7,
      kind: 'vxlan',
      master: 'br0',
      up: true,
      data: { id: 100, group: '239.1.1.1', port: 4789 },
    });
  node0.neighbours = [{ dst: '10.200.1.2', dev: 'br0', mac: MAC.a1, state: ['REACHABLE'] }];
  node0.fdb = [
    { mac: MAC.a1, ifname: 'vxlan0', master: 'br0', self: false, permanent: false },
    { mac: '00:00:00:00:00:00', ifname: 'vxlan0', dst: '239.1.1.1', self: true, permanent: true },
  ];
  world.routes['node-0/ 10.200.1.2'] = { ok: true, type: 'unicast', dev: 'br0', entry: '10.200.0.0/16 dev br0' };
  let trace = await walk('vxlan', kernel);
  assert.equal(trace.outcome, 'unknown');
  assert.match(trace.problem!.reason, /not in vxlan0's FDB yet: the frame goes to multicast group 239\.1\.1\.1/);

  node0.fdb.push({ mac: MAC.a1, ifname: 'vxlan0', dst: '192.168.64.5', self: true, permanent: false });
  const node1 = world.tables['node-1/']!;
  node1.links = node1.links
    .filter((l) => l.kind !== 'ipip')
    .concat({
      ifname: 'vxlan0',
      ifindex: 7,
      kind: 'vxlan',
      master: 'br1',
      up: true,
      data: { id: 100, group: '239.1.1.1', port: 4789 },
    });
  trace = await walk('vxlan', kernel);
  assert.equal(trace.outcome, 'delivered', JSON.stringify(trace.problem));
  const wrap = trace.hops.find((h) => h.kind === 'vxlan')!;
  assert.match(wrap.text, /vxlan0 \(VNI 100\) wraps the frame: outer 192\.168\.64\.4 → 192\.168\.64\.5, UDP port 4789/);
  assert.equal(wrap.entry, `${MAC.a1} dev vxlan0 dst 192.168.64.5 self`);

  node1.links = node1.links.map((l) => (l.kind === 'vxlan' ? { ...l, data: { ...l.data!, id: 200 } } : l));
  trace = await walk('vxlan', kernel);
  assert.match(trace.problem!.reason, /node-1 has no VXLAN device with VNI 100 on UDP port 4789/);
});

test('LiveKernel parsing: iproute2 JSON of links and route lookups', () => {
  const [link] = parseLinks(
    '[{"ifindex":3,"link_index":2,"ifname":"v1","flags":["BROADCAST","UP"],"master":"br9","address":"ca:18:45:98:05:32","linkinfo":{"info_kind":"veth","info_slave_kind":"bridge","info_slave_data":{"hairpin":true}}}]',
  );
  assert.deepEqual(link, {
    ifindex: 3,
    ifname: 'v1',
    up: true,
    peerIndex: 2,
    master: 'br9',
    kind: 'veth',
    mac: 'ca:18:45:98:05:32',
    hairpin: true,
  });
  const [vx] = parseLinks(
    '[{"ifindex":4,"ifname":"vx9","flags":["BROADCAST"],"linkinfo":{"info_kind":"vxlan","info_data":{"id":7,"group":"239.1.1.1","link":"br9","port":4789}}}]',
  );
  assert.deepEqual(
    vx!.data,
    { id: 7, group: '239.1.1.1', link: 'br9', port: 4789 },
    "the kind's own parameters, for its wiring module",
  );
  assert.equal(vx!.up, false);
  assert.deepEqual(
    parseRouteGet(
      '[{"dst":"10.200.1.2","gateway":"10.200.1.2","dev":"veth-a0-c","prefsrc":"10.200.0.2","cache":["redirected"]}]',
      '[{"dst":"default","gateway":"10.200.0.1","dev":"veth-a0-c"},{"dst":"10.200.0.0/16","dev":"br0"}]',
      '',
    ),
    {
      ok: true,
      type: 'unicast',
      dev: 'veth-a0-c',
      via: '10.200.1.2',
      src: '10.200.0.2',
      entry: '10.200.0.0/16 dev br0',
      redirected: true,
    },
  );
  assert.deepEqual(parseRouteGet('', '', '\nRTNETLINK answers: Network is unreachable\n'), {
    ok: false,
    error: 'Network is unreachable',
  });
});

/** node-0 and node-1 of the geneve lab (this kernel has no geneve: the VM tier traces it live). */
function geneveWorld() {
  const { world, kernel } = ipipWorld();
  const GNV = { n0: '0a:00:00:00:0e:00', n1: '0a:00:00:00:0e:01' };
  const device = (ifname: string, mac: string, remote: string): Link => ({
    ifname,
    ifindex: 7,
    kind: 'geneve',
    mac,
    up: true,
    data: { id: 100, remote, port: 6081 },
  });
  const node0 = world.tables['node-0/']!;
  node0.links = [...node0.links.filter((l) => l.kind !== 'ipip'), device('gnv1', GNV.n0, '192.168.64.5')];
  node0.neighbours.push({ dst: '10.200.1.1', dev: 'gnv1', mac: GNV.n1, state: ['REACHABLE'] });
  const node1 = world.tables['node-1/']!;
  node1.links = [...node1.links.filter((l) => l.kind !== 'ipip'), device('gnv0', GNV.n1, '192.168.64.4')];
  world.routes['node-0/ 10.200.1.2'] = {
    ok: true,
    type: 'unicast',
    dev: 'gnv1',
    via: '10.200.1.1',
    entry: '10.200.1.0/24 via 10.200.1.1 dev gnv1',
  };
  world.forward = ['-P FORWARD ACCEPT'];
  return { world, kernel, GNV };
}

test('trace geneve: routed into the peer device, its neighbour over the tunnel, wrapped to its one remote, unwrapped by the device whose remote is this node', async () => {
  const { world, kernel, GNV } = geneveWorld();
  const trace = await walk('geneve', kernel);
  assert.equal(trace.outcome, 'delivered', JSON.stringify(trace.problem));
  assert.deepEqual(trace.at, { node: 'node-1', pod: 'a1' });
  const hops = trace.hops.map((h) => `${h.where} ${h.kind}`);
  assert.deepEqual(hops.slice(5, 10), [
    'node-0 route',
    'node-0 neigh',
    'node-0 geneve',
    'node-0 underlay',
    'node-1 geneve',
  ]);
  assert.match(
    trace.hops[7]!.text,
    /^gnv1 \(VNI 100\) wraps the frame: outer 192\.168\.64\.4 → 192\.168\.64\.5, UDP port 6081; inner 10\.200\.0\.2 → 10\.200\.1\.2/,
  );
  assert.match(trace.hops[9]!.text, new RegExp(`^gnv0 \\(VNI 100\\) unwraps the frame for ${GNV.n1}`));
  assert.match(trace.hops[10]!.text, /forwarded from gnv0 to br1/);

  // A device on node-1 whose remote is another node does not take node-0's packets.
  world.tables['node-1/']!.links = world.tables['node-1/']!.links.map((l) =>
    l.kind === 'geneve' ? { ...l, data: { ...l.data, remote: '192.168.64.6' } } : l,
  );
  const wrongRemote = await walk('geneve', kernel);
  assert.equal(wrongRemote.outcome, 'broken');
  assert.match(wrongRemote.problem!.reason, /node-1 has no GENEVE device with VNI 100 whose remote is 192\.168\.64\.4/);
});

test('trace geneve: a missing route names the step that adds it, found by its declaration', async () => {
  const { world, kernel } = geneveWorld();
  delete world.routes['node-0/ 10.200.1.2'];
  const trace = await walk('geneve', kernel);
  assert.equal(trace.outcome, 'broken');
  assert.match(
    trace.problem!.hint!,
    /`ip route add 10\.200\.1\.0\/24 via 10\.200\.1\.1 dev gnv1 onlink` \(step \d+: route 10\.200\.1\.0\/24 via 10\.200\.1\.1 on gnv1\)/,
  );
});

test('trace: a pod that skips its gateway by a cached redirect is delivered, with a caveat naming the route its node lost and the step that adds it', async () => {
  // The vxlan lab: a0 and a1 on one L2 segment; node-0 redirected a0 to a1 directly, then lost its cluster route.
  const world: Record<string, Tables> = {
    'node-0/a0': tables([veth('veth-a0-c', 2, 5, MAC.a0)], {
      neighbours: [{ dst: '10.200.1.2', dev: 'veth-a0-c', mac: MAC.a1, state: ['REACHABLE'] }],
    }),
    'node-0/': tables(
      [
        { ifname: 'br0', ifindex: 3, kind: 'bridge', mac: MAC.br0, up: true },
        veth('veth-a0', 5, 2, MAC.h0, 'br0'),
        {
          ifname: 'vxlan0',
          ifindex: 6,
          kind: 'vxlan',
          mac: MAC.h1,
          up: true,
          master: 'br0',
          data: { id: 100, port: 4789 },
        },
      ],
      { fdb: [{ mac: MAC.a1, ifname: 'vxlan0', master: 'br0', self: false, permanent: false }] },
    ),
  };
  const kernel: Kernel = {
    reads: () => true,
    tables: async (place) => world[key(place)] ?? tables([]),
    routeGet: async (place, dst) =>
      key(place) === 'node-0/a0' && dst === '10.200.1.2'
        ? {
            ok: true,
            type: 'unicast',
            dev: 'veth-a0-c',
            entry: 'default via 10.200.0.1 dev veth-a0-c',
            redirected: true,
          }
        : { ok: false, error: 'Network is unreachable' },
    natRules: async () => [],
    filterTable: async () => forwardChainOf([]),
    connections: async () => [],
  };
  const trace = await walk('vxlan', kernel);
  assert.match(trace.hops[0]!.text, /a cached ICMP redirect/);
  assert.match(
    trace.caveat!.reason,
    /^pod a0 reaches 10\.200\.1\.2 only through a cached ICMP redirect: its gateway node-0 has no route to 10\.200\.1\.2 \(Network is unreachable\)/,
  );
  assert.match(
    trace.caveat!.hint!,
    /`ip route add 10\.200\.0\.0\/16 dev br0` \(step \d+: route the whole cluster CIDR/,
  );
});

test("trace: a FORWARD rule before the lab's jump matches on -s, -d, -i, -o, -p, --dport and the conntrack state, negated with !", () => {
  const packet = { src: '10.200.0.2', dst: '10.200.1.2', protocol: 'tcp', port: 8080 } as const;
  const matches = (rule: string) => ruleMatches(parseSavedRules([rule])[0]!, packet, 'br0', 'eth1');
  assert.equal(matches('-A FORWARD -j DROP'), true);
  assert.equal(matches('-A FORWARD -s 10.200.0.0/16 -o eth+ -j DROP'), true);
  assert.equal(matches('-A FORWARD -p tcp -m tcp --dport 8080 -m comment --comment "no web" -j REJECT'), true);
  // A range, and multiport's list of ports and ranges: 8080 is in 8000:9000, not in 22,80:90 nor 9000:.
  assert.equal(matches('-A FORWARD -p tcp -m tcp --dport 8000:9000 -j DROP'), true);
  assert.equal(matches('-A FORWARD -p tcp -m multiport --dports 22,8080 -j DROP'), true);
  assert.equal(matches('-A FORWARD -p tcp -m multiport --dports 22,:8080 -j DROP'), true);
  assert.equal(matches('-A FORWARD -p tcp -m multiport --dports 22,80:90 -j DROP'), false);
  assert.equal(matches('-A FORWARD -p tcp -m tcp --dport 9000: -j DROP'), false);
  assert.equal(matches('-A FORWARD -d 10.9.0.0/16 -j DROP'), false);
  assert.equal(matches('-A FORWARD -i eth1 -j DROP'), false);
  assert.equal(matches('-A FORWARD ! -s 10.200.0.2/32 -j DROP'), false);
  assert.equal(matches('-A FORWARD -p udp -j DROP'), false);
  assert.equal(matches('-A FORWARD -o br0 -j DROP'), false, "an output device that is not the packet's");
  assert.equal(matches('-A FORWARD -o eth10 -j DROP'), false, 'a name is whole, not a prefix');
  assert.equal(matches('-A FORWARD -o ex+ -j DROP'), false, 'a prefix is all of the name before its +');
  assert.equal(matches('-A FORWARD -p tcp -m tcp --dport 9090 -j DROP'), false);
  assert.equal(matches('-A FORWARD -s 10.200.0.2 -j DROP'), true, 'a bare address is a /32');
  assert.equal(matches('-A FORWARD -d 10.200.1.0/99 -j DROP'), false, 'what is no CIDR matches nothing');
  assert.ok(
    !ruleMatches(
      parseSavedRules(['-A FORWARD -s 10.200.0.0/16 -j DROP'])[0]!,
      { ...packet, src: undefined },
      'br0',
      'eth1',
    ),
    'a packet whose source is not known yet matches no -s',
  );
  assert.equal(matches('-A FORWARD -m comment --comment -o -j DROP'), true, 'a comment is text, whatever it says');
  // conntrack's state: trace's probe opens a connection (NEW); the walk's reply is ESTABLISHED.
  assert.equal(
    matches('-A FORWARD -m conntrack --ctstate INVALID -j DROP'),
    false,
    "kube-proxy's rule drops no new connection",
  );
  assert.equal(matches('-A FORWARD -m conntrack --ctstate NEW,INVALID -j DROP'), true);
  assert.equal(matches('-A FORWARD -m state ! --state ESTABLISHED -j DROP'), true);
  // States it cannot judge (was the packet translated?) may match, negated or not.
  assert.equal(matches('-A FORWARD -m conntrack ! --ctstate DNAT -j DROP'), 'maybe');
  assert.equal(matches('-A FORWARD -m conntrack --ctstate NEW,DNAT -j DROP'), 'maybe');
  assert.equal(matches('-A FORWARD -m conntrack --ctstate DNAT -j DROP'), 'maybe');
  assert.equal(
    matches('-A FORWARD -m conntrack --ctstate ESTABLISHED,DNAT -j DROP'),
    'maybe',
    'judged only when every state is',
  );
  assert.equal(matches('-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j DROP'), false, 'a new connection');
  assert.equal(matches('-A FORWARD -m state --state ESTABLISHED -j DROP'), false, 'the older state match');
  const reply = ruleMatches(
    parseSavedRules(['-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j DROP'])[0]!,
    { ...packet, reply: true },
    'br0',
    'eth1',
  );
  assert.ok(reply);
  const newOnly = parseSavedRules(['-A FORWARD -m conntrack --ctstate NEW -j DROP'])[0]!;
  assert.ok(!ruleMatches(newOnly, { ...packet, reply: true }, 'br0', 'eth1'), "the reply is no new connection's");
  // A match it cannot judge may match, but the matches after it are still judged, whatever its values.
  assert.ok(matches('-A FORWARD -m mark --mark 0x1 -j DROP'), 'a match it cannot judge may match');
  assert.ok(!matches('-A FORWARD -m mark --mark 0x1 -d 10.9.0.0/16 -j DROP'));
  assert.ok(!matches('-A FORWARD -p tcp -m tcp --syn -d 10.9.0.0/16 -j DROP'));
  assert.ok(!matches('-A FORWARD -p tcp -m tcp --tcp-flags SYN,ACK SYN -i eth1 -j DROP'));
  assert.ok(matches('-A FORWARD -p tcp -m tcp ! --syn -o eth1 -j DROP'));
  assert.ok(!matches('-A FORWARD -p tcp -m tcp --syn ! -o eth1 -j DROP'), 'the negation after a match it passes over');
});

test("trace's hint for a pod's link the node made straight in the pod (veth-peer: in-pod) shows the node's command, not an empty one", async () => {
  const { plannedHint } = await import('../../src/trace/hints.js');
  const { parseLab } = await import('../../src/lab/load.js');
  const lab = (peer: string) =>
    parseLab(
      `nodes: { node-0: {} }\npods: { a0: { node: node-0 }, a1: { node: node-0 } }\nwiring: { same-node: bridge, veth-peer: ${peer} }\n`,
      'in-pod.yaml',
    ).model;
  const hintFor = (peer: string) => {
    const model = lab(peer);
    const plan = buildPlan(model, simulatedFacts(model));
    return plannedHint(
      model,
      plan,
      { node: 'node-0', pod: 'a0' },
      (d) => d.kind === 'link' && d.name === 'veth-a0-c',
      'created veth-a0-c',
    );
  };
  assert.match(
    hintFor('in-pod') ?? '',
    /^the lab created veth-a0-c with `ip link add veth-a0 type veth peer name veth-a0-c netns a0` \(step \d+: /,
  );
  // Moved there: the command in the pod is the address's or the link's own, not the node's.
  assert.equal(hintFor('move'), undefined, 'a link made in the node is not declared in the pod');
});

test("trace's request: a loopback-only pod is reached only from inside itself; TO's container is checked as FROM's", () => {
  const { model } = loadLabFile(join(LABS, 'loopback.yaml'));
  const facts = simulatedFacts(model);
  assert.throws(
    () => resolveRequest(model, facts, 'node-0', 'pod'),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message === 'pod pod has only a loopback interface: it is reachable only from inside itself',
    'from its own node: the node would ping its own 127.0.0.1',
  );
  assert.equal(resolveRequest(model, facts, 'pod/a1', 'pod/a0', { portNumber: 8080 }).packet.dst, '127.0.0.1');
  assert.throws(
    () => resolveRequest(model, facts, 'pod/a1', 'pod/nosuch'),
    (error: unknown) => error instanceof UsageError && /^pod pod has no container "nosuch"/.test(error.message),
  );
});

test("trace: a frame bridged from port to port passes FORWARD too when br_netfilter is on: a DROP before the lab's jump stops it there", async () => {
  const run = async (brNetfilter: string, forward: string[]) => {
    const node0 = tables(
      [
        { ifname: 'br0', ifindex: 3, kind: 'bridge', mac: MAC.br0, up: true },
        veth('veth-a0', 5, 2, MAC.h0, 'br0'),
        veth('veth-a1', 6, 2, MAC.h1, 'br0'),
      ],
      {
        sysctls: { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': brNetfilter },
        fdb: [{ mac: MAC.a1, ifname: 'veth-a1', master: 'br0', self: false, permanent: false }],
      },
    );
    const world: Record<string, Tables> = {
      'node-0/a0': tables([veth('veth-a0-c', 2, 5, MAC.a0)], {
        neighbours: [{ dst: '10.200.0.3', dev: 'veth-a0-c', mac: MAC.a1, state: ['REACHABLE'] }],
      }),
      'node-0/': node0,
      'node-0/a1': tables([veth('veth-a1-c', 2, 6, MAC.a1)]),
    };
    const routes: Record<string, RouteLookup> = {
      'node-0/a0 10.200.0.3': { ok: true, type: 'unicast', dev: 'veth-a0-c', entry: '10.200.0.0/24 dev veth-a0-c' },
      'node-0/a1 10.200.0.3': { ok: true, type: 'local', dev: 'lo' },
    };
    const kernel: Kernel = {
      reads: () => true,
      tables: async (place) => world[key(place)] ?? tables([]),
      routeGet: async (place, dst) => routes[`${key(place)} ${dst}`] ?? { ok: false, error: 'Network is unreachable' },
      natRules: async () => [],
      filterTable: async () => forwardChainOf(forward),
      connections: async () => [],
    };
    const { model } = loadLabFile(join(LABS, 'bridge.yaml'));
    const facts = simulatedFacts(model);
    return new TraceWalk(model, facts, buildPlan(model, facts), kernel).run(
      { node: 'node-0', pod: 'a0' },
      { src: '10.200.0.2', dst: '10.200.0.3', protocol: 'icmp' },
    );
  };
  const jump = '-A FORWARD -m comment --comment "netlab lab bridge" -j NETLAB-FWD-bridge';
  const dropFirst = ['-P FORWARD ACCEPT', '-A FORWARD -j DROP', jump, ...labChain('bridge')];
  assert.equal((await run('0', dropFirst)).outcome, 'delivered', 'without br_netfilter, bridged frames skip iptables');
  assert.equal(
    (await run('1', ['-P FORWARD ACCEPT', jump, '-A FORWARD -j DROP', ...labChain('bridge')])).outcome,
    'delivered',
  );
  const dropped = await run('1', dropFirst);
  assert.equal(dropped.outcome, 'broken');
  assert.match(
    dropped.problem!.reason,
    /drops it before the lab's chain NETLAB-FWD-bridge is consulted: -A FORWARD -j DROP/,
  );
  assert.match(
    (await run('1', ['-P FORWARD DROP'])).problem!.reason,
    /the FORWARD policy is DROP and no rule jumps to/,
  );
});

test('trace sends no probe to a UDP Service (no answer to wait for; a TCP connection would find no rule of it)', async () => {
  const { model } = loadLabFile(join(LABS, 'service.yaml'));
  const udp = { ...model, services: model.services.map((s) => ({ ...s, protocol: 'udp' as const })) };
  const facts = simulatedFacts(udp);
  const request = resolveRequest(udp, facts, 'a0', udp.services[0]!.name);
  assert.equal(request.packet.protocol, 'udp');
  // No node is asked: the transports are none.
  assert.equal(await sendFirst(udp, facts, {}, request), undefined);
});

test("trace probes once more when its probe was answered but the walk does not get through: the probe's last packets changed the tables (a redirect it brought), and only then", async () => {
  const place = { node: 'node-1', pod: 'a1' };
  const delivered: Trace = { hops: [], outcome: 'delivered', at: place };
  // As the fault matrix once met it: the reply by a cached redirect, to a neighbour that failed before the probe.
  const stale: Trace = {
    ...delivered,
    reply: {
      hops: [],
      outcome: 'broken',
      problem: {
        ...place,
        where: 'pod a1',
        reason: 'no ARP reply from 10.200.0.2 on veth-a1-c (neighbour entry FAILED)',
      },
    },
  };
  const answered = (answeredIt: boolean, sourcePort?: number): Probe => ({
    text: `sent a probe: ${answeredIt ? 'answered' : 'no answer'}`,
    answered: answeredIt,
    result: answeredIt ? 'answered' : 'no answer',
    ...(sourcePort ? { sourcePort } : {}),
  });
  /** probes answered as given, walks as given, in turn; what was done, in order */
  async function run(probes: (Probe | Error | undefined)[], walks: Trace[]) {
    const done: string[] = [];
    const result = await probeAndWalk(
      async () => {
        done.push('probe');
        const probe = probes.shift();
        if (probe instanceof Error) throw probe;
        return probe;
      },
      async (probe) => (done.push(`walk after ${probe?.answered ?? 'none'}`), walks.shift()!),
    );
    return { ...result, done };
  }

  // The second walk follows the second probe: a TCP probe's walk follows its own connection (its source port).
  const settled = await run(
    [answered(true, 20001), answered(true, 20002)],
    [stale, { ...delivered, reply: delivered }],
  );
  assert.deepEqual(settled.done, ['probe', 'walk after true', 'probe', 'walk after true']);
  assert.ok(walkedThrough(settled.trace));
  assert.equal(settled.probe!.sourcePort, 20002);
  assert.equal(
    settled.probe!.text,
    'sent a probe: answered; the walk did not get through the tables it left, so it was sent again from source port 20002: answered',
  );

  // A second probe that cannot be sent (a node gone meanwhile) leaves the first probe and its walk.
  const first = answered(true);
  const failed = await run([first, new Error('node-1 does not answer')], [stale]);
  assert.deepEqual(failed.done, ['probe', 'walk after true', 'probe']);
  assert.equal(failed.trace, stale);
  assert.equal(failed.probe, first);

  // Still not through after the second probe: reported as it is, with no third.
  const broken = await run([answered(true), answered(false)], [stale, stale]);
  assert.deepEqual(broken.done, ['probe', 'walk after true', 'probe', 'walk after false']);
  assert.equal(broken.trace.reply!.outcome, 'broken');
  assert.equal(broken.probe!.answered, false);

  // The walk gets through, the probe got no answer, or no probe (--no-send): one walk, as the tables are.
  for (const [probe, walk] of [
    [answered(true), delivered],
    [answered(false), stale],
    [undefined, stale],
  ] as const) {
    const once = await run([probe], [walk]);
    assert.deepEqual(once.done, ['probe', `walk after ${probe?.answered ?? 'none'}`]);
    assert.equal(once.trace, walk);
    assert.equal(once.probe, probe);
  }
});

test('a node that does not answer is not an empty one: askNode fails unless every question was answered whole, and trace stops there', async () => {
  const node = (exitCode: number, stdout: string, stderr = '') => ({
    node: 'node-1',
    run: async () => ({ exitCode, stdout, stderr }),
  });
  const refused = 'ssh: connect to host 192.168.64.5 port 22: Connection refused';
  assert.equal((await askNode(node(255, '', refused), [{ links: true }])).failed, refused);
  assert.equal((await askNode(node(126, ''), [{ links: true }])).failed, 'exit 126');
  // A question's own tool failing (the last one: the script's exit code) is its answer, not the node's failure.
  const answered = await askNode(node(2, '@@netlab answer 0 links\n[]\n@@netlab answer end\n'), [{ links: true }]);
  assert.equal(answered.failed, undefined);
  assert.deepEqual(answered.answers[0]!.links, []);
  // A connection lost in the last answer: every section began, the last did not end.
  assert.equal(
    (await askNode(node(255, '@@netlab answer 0 links\n[{"ifna', refused), [{ links: true }])).failed,
    refused,
  );
  // An answer that ends early though the session says 0: not answered.
  assert.equal(
    (await askNode(node(0, '@@netlab answer 0 links\n[]\n'), [{ links: true, addresses: true }])).failed,
    'its answer ended before the last question',
  );
  // A connection lost half-way: some questions answered, not all.
  assert.equal(
    (await askNode(node(255, '@@netlab answer 0 links\n[]\n', refused), [{ links: true, addresses: true }])).failed,
    refused,
  );
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const kernel = new LiveKernel(model, { 'node-1': node(255, '', refused) as unknown as Transport });
  await assert.rejects(kernel.tables({ node: 'node-1' }), (error: unknown) => {
    assert.ok(error instanceof RunError);
    assert.equal(error.message, `cannot read node-1's tables to trace through it: ${refused}`);
    return true;
  });
});

test("trace: a pod's link taken off its bridge (nomaster): the frame for the bridge's MAC is another host's there, dropped", async () => {
  const { world, kernel } = ipipWorld();
  const node0 = world.tables['node-0/']!;
  node0.links = node0.links.map((l) => (l.ifname === 'veth-a0' ? { ...l, master: undefined } : l));
  const trace = await walk('ipip', kernel);
  assert.equal(trace.outcome, 'broken');
  assert.equal(
    trace.problem!.reason,
    `the frame is for ${MAC.br0}, but veth-a0 (${MAC.h0}) is a port of no bridge (the lab makes it one of br0): node-0 drops it as another host's`,
  );
  assert.match(trace.problem!.hint ?? '', /attaches veth-a0 to br0/);
});
