// A routed underlay (src/underlay/ and the wiring that uses it): which
// router each node and router sends another network's packets to, the
// routes kind's next hop, VXLAN's unicast flood list, and the text graph.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chooseUnderlay, interfacesOf } from '../../src/underlay/facts.js';
import { parseAddresses, parseLinks, parseRoutes } from '../../src/node/tables.js';
import {
  nodeUnderlayScript,
  outsideScript,
  routerScript,
  simulatedFacts,
  simulatedUnderlayProblem,
  underlaySwitchScript,
} from '../../src/underlay/simulated.js';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import { isRouted, routerPodRoutes, underlayNextHop, underlayRoutes } from '../../src/underlay/routing.js';
import { buildPlan } from '../../src/plan/build.js';
import { renderText } from '../../src/workshop/graph.js';
import { LABS } from '../paths.js';

/** left – r0 – mid – r1 – right, and a shortcut r2 from mid to far: a node on each end network. */
const CHAIN = `
name: chain
underlay:
  networks: { left: 192.168.10.0/24, mid: 192.168.20.0/24, right: 192.168.30.0/24, far: 192.168.40.0/24 }
  routers:
    r0: { networks: [left, mid], pod-routes: true }
    r1: { networks: [mid, right] }
    r2: { networks: [mid, far] }
nodes:
  node-0: { underlay: { network: left } }
  node-1: { underlay: { network: right } }
  node-2: { underlay: { network: far } }
pods:
  a0: { node: node-0 }
wiring: { cross-node: routes }
`;

test('each network is reached through the first router on the shortest way; a router never sends to itself', () => {
  const { model } = parseLab(CHAIN, 'chain.yaml');
  const router = (name: string) => model.underlay!.routers.find((r) => r.name === name)!;
  assert.deepEqual(router('r0').addresses, { left: '192.168.10.254', mid: '192.168.20.254' });
  // The second router on mid gets the next address down.
  assert.deepEqual(router('r1').addresses, { mid: '192.168.20.253', right: '192.168.30.254' });
  const routes = (networks: string[], self?: string) =>
    underlayRoutes(model, networks, self).map((r) => `${r.dst} via ${r.via}`);
  assert.deepEqual(routes(['left']), [
    '192.168.20.0/24 via 192.168.10.254',
    '192.168.30.0/24 via 192.168.10.254',
    '192.168.40.0/24 via 192.168.10.254',
  ]);
  assert.deepEqual(routes(['left', 'mid'], 'r0'), [
    '192.168.30.0/24 via 192.168.20.253',
    '192.168.40.0/24 via 192.168.20.252',
  ]);
  assert.deepEqual(routes(['mid', 'right'], 'r1'), [
    '192.168.10.0/24 via 192.168.20.254',
    '192.168.40.0/24 via 192.168.20.252',
  ]);
  // r0 knows the pod subnets (pod-routes): node-0's directly, the others' through the next router.
  const facts = simulatedFacts(model);
  assert.deepEqual(
    routerPodRoutes(model, router('r0'), (n) => facts[n]!.address),
    [
      { dst: '10.200.0.0/24', via: '192.168.10.4' },
      { dst: '10.200.1.0/24', via: '192.168.20.253' },
      { dst: '10.200.2.0/24', via: '192.168.20.252' },
    ],
  );
  assert.deepEqual(
    routerPodRoutes(model, router('r1'), (n) => facts[n]!.address),
    [],
  );
  assert.ok(isRouted(model));
});

test('simulated nodes without an address take .4, .5, ... but for those the lab gives a node or the outside host', () => {
  const addresses = (nodes: string, more = '') =>
    Object.values(
      simulatedFacts(parseLab(`nodes: ${nodes}\npods: { a: { node: node-0 } }\n${more}`, 'x.yaml').model),
    ).map((f) => f.address);
  assert.deepEqual(addresses('{ node-0: {}, node-1: {}, node-2: {} }'), [
    '192.168.64.4',
    '192.168.64.5',
    '192.168.64.6',
  ]);
  // node-0 given .5: node-1 did take .5 as well, and both answered ARP for it on the one segment.
  assert.deepEqual(addresses('{ node-0: { underlay: { address: 192.168.64.5 } }, node-1: {}, node-2: {} }'), [
    '192.168.64.5',
    '192.168.64.4',
    '192.168.64.6',
  ]);
  assert.deepEqual(addresses('{ node-0: {}, node-1: {} }', 'outside: { address: 192.168.64.4 }'), [
    '192.168.64.5',
    '192.168.64.6',
  ]);
});

test("the routes kind sends another network's pods to the router; the simulated nodes keep the article's host numbers", () => {
  const { model } = loadLabFile(join(LABS, 'router.yaml'));
  const facts = simulatedFacts(model);
  assert.deepEqual(
    Object.values(facts).map((f) => f.address),
    ['192.168.60.4', '192.168.61.4'],
  );
  assert.deepEqual(
    underlayNextHop(model, 'node-0', 'node-1', (n) => facts[n]!.address),
    {
      address: '192.168.60.254',
      router: 'router-0',
    },
  );
  const commands = buildPlan(model, facts)
    .nodes.flatMap((n) => n.steps.filter((s) => s.phase === 'cross-node').flatMap((s) => s.apply))
    .map((c) => c.join(' '));
  assert.deepEqual(
    commands.filter((c) => c.startsWith('ip route')),
    ['ip route add 10.200.1.0/24 via 192.168.60.254', 'ip route add 10.200.0.0/24 via 192.168.61.254'],
  );
  // On one segment (the routes lab) the next hop is the other node itself.
  const flat = loadLabFile(join(LABS, 'routes.yaml')).model;
  assert.ok(!isRouted(flat));
  assert.deepEqual(
    underlayNextHop(flat, 'node-0', 'node-1', () => '192.168.64.5'),
    { address: '192.168.64.5' },
  );
});

test("the simulated underlay: a bridge per network, each node's and router's cable on its own network's, routes through the lab's routers", () => {
  const { model } = parseLab(CHAIN, 'chain.yaml');
  const facts = simulatedFacts(model);
  assert.deepEqual(
    Object.values(facts).map((f) => f.address),
    ['192.168.10.4', '192.168.30.4', '192.168.40.4'],
    "each node is its network's first simulated host",
  );
  const pids = { nodes: { 'node-0': 10, 'node-1': 11, 'node-2': 12 }, routers: { r0: 20, r1: 21, r2: 22 } };
  assert.deepEqual(underlaySwitchScript(model, facts, pids).split('\n'), [
    ...['net+0', 'net+1', 'net+2', 'net+3'].flatMap((b) => [
      `ip link add ${b} type bridge mcast_snooping 0`,
      `ip link set ${b} up`,
    ]),
    'ip link add nd+0 type veth peer name eth1 netns 10 && ip link set nd+0 master net+0 up',
    'ip link add nd+1 type veth peer name eth1 netns 11 && ip link set nd+1 master net+2 up',
    'ip link add nd+2 type veth peer name eth1 netns 12 && ip link set nd+2 master net+3 up',
    // a router's i-th network is its eth(i+1)
    'ip link add rt+0+0 type veth peer name eth1 netns 20 && ip link set rt+0+0 master net+0 up',
    'ip link add rt+0+1 type veth peer name eth2 netns 20 && ip link set rt+0+1 master net+1 up',
    'ip link add rt+1+0 type veth peer name eth1 netns 21 && ip link set rt+1+0 master net+1 up',
    'ip link add rt+1+1 type veth peer name eth2 netns 21 && ip link set rt+1+1 master net+2 up',
    'ip link add rt+2+0 type veth peer name eth1 netns 22 && ip link set rt+2+0 master net+1 up',
    'ip link add rt+2+1 type veth peer name eth2 netns 22 && ip link set rt+2+1 master net+3 up',
  ]);
  // node-0 (left) reaches every other network through r0, its one router.
  assert.equal(
    nodeUnderlayScript(model, 'node-0', facts['node-0']!),
    [
      '(set -e',
      'ip addr add 192.168.10.4/24 dev eth1',
      'ip link set eth1 up',
      'ip route add 192.168.20.0/24 via 192.168.10.254',
      'ip route add 192.168.30.0/24 via 192.168.10.254',
      'ip route add 192.168.40.0/24 via 192.168.10.254',
      ') || exit 99',
      '',
    ].join('\n'),
  );
  // r0 forwards, reaches right and far through r1 and r2 on mid, and, with pod-routes, each node's pod subnet.
  const r0 = model.underlay!.routers.find((r) => r.name === 'r0')!;
  const lines = routerScript(model, r0, (node) => facts[node]!.address).split('\n');
  assert.deepEqual(lines.slice(0, 6), [
    'set -e',
    'ip addr add 192.168.10.254/24 dev eth1',
    'ip link set eth1 up',
    'ip addr add 192.168.20.254/24 dev eth2',
    'ip link set eth2 up',
    'sysctl -qw net.ipv4.ip_forward=1',
  ]);
  assert.ok(lines.includes('ip route add 192.168.30.0/24 via 192.168.20.253'), lines.join('\n'));
  assert.ok(lines.includes('ip route add 10.200.0.0/24 via 192.168.10.4'), lines.join('\n'));
  // The outside host must be on the one simulated segment.
  const { model: flat } = loadLabFile(join(LABS, 'vxlan.yaml'));
  assert.equal(simulatedUnderlayProblem(flat, '192.168.64.1'), undefined);
  assert.match(
    simulatedUnderlayProblem(flat, '10.1.2.3') ?? '',
    /found 10\.1\.2\.3; on simulated nodes the outside host is on the underlay 192\.168\.64\.0\/24/,
  );
  // So must a node's given address on a flat underlay; a routed underlay's are the lab's own networks'.
  const given = (address: string) => ({
    ...flat,
    nodes: flat.nodes.map((n, i) => (i === 1 ? { ...n, underlay: { ...n.underlay, address } } : n)),
  });
  assert.equal(simulatedUnderlayProblem(given('192.168.64.9'), undefined), undefined);
  assert.match(
    simulatedUnderlayProblem(given('192.168.65.5'), undefined) ?? '',
    /^nodes\.node-1\.underlay\.address: found 192\.168\.65\.5; on simulated nodes the underlay is the one segment 192\.168\.64\.0\/24/,
  );
  for (const address of ['192.168.64.0', '192.168.64.255'])
    assert.match(
      simulatedUnderlayProblem(given(address), undefined) ?? '',
      /^nodes\.node-1\.underlay\.address/,
      address,
    );
  assert.match(
    simulatedUnderlayProblem(given('192.168.64.1'), '192.168.64.1') ?? '',
    /found 192\.168\.64\.1; on simulated nodes the underlay is the one segment 192\.168\.64\.0\/24, where 192\.168\.64\.1 is the outside host's/,
  );
  assert.equal(simulatedUnderlayProblem(model, undefined), undefined, 'the routed lab above');
});

test("the simulated underlay of one segment: the nodes' cables and the outside host's on one bridge, the outside host's address", () => {
  const { model } = loadLabFile(join(LABS, 'egress.yaml'));
  const facts = simulatedFacts(model);
  const nodes = Object.fromEntries(model.nodes.map((n, i) => [n.name, 10 + i]));
  assert.deepEqual(underlaySwitchScript(model, facts, { nodes, routers: {}, outside: 30 }).split('\n'), [
    'ip link add underlay type bridge mcast_snooping 0',
    'ip link set underlay up',
    ...model.nodes.map(
      (_, i) =>
        `ip link add nd+${i} type veth peer name eth1 netns ${10 + i} && ip link set nd+${i} master underlay up`,
    ),
    'ip link add outside type veth peer name eth0 netns 30 && ip link set outside master underlay up',
  ]);
  assert.equal(
    nodeUnderlayScript(model, 'node-0', facts['node-0']!),
    '(set -e\nip addr add 192.168.64.4/24 dev eth1\nip link set eth1 up\n) || exit 99\n',
    'on one segment no routes',
  );
  assert.equal(outsideScript('192.168.64.1'), 'set -e\nip addr add 192.168.64.1/24 dev eth0\nip link set eth0 up\n');
  assert.throws(
    () => underlaySwitchScript(model, facts, { nodes: {}, routers: {} }),
    /internal error: no holder's PID for node-0/,
  );
});

test('VXLAN across a router floods by unicast to every other node (no group); on one segment it keeps the group', () => {
  const vxlan = (file: string) => {
    const { model } = loadLabFile(join(LABS, file));
    const node = buildPlan(model, simulatedFacts(model)).nodes[0]!;
    return node.steps.filter((s) => s.phase === 'cross-node').flatMap((s) => s.apply.map((c) => c.join(' ')));
  };
  const routed = vxlan('router-vxlan.yaml');
  assert.equal(routed[0], 'ip link add vxlan0 type vxlan id 100 local 192.168.60.4 dstport 4789 dev eth1');
  assert.equal(routed[1], 'bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 192.168.61.4');
  assert.match(vxlan('vxlan.yaml')[0]!, / group 239\.1\.1\.1 /);
  assert.ok(!vxlan('vxlan.yaml').some((c) => c.startsWith('bridge fdb')));
});

test('graph draws the networks and the routers, and says which router knows no pod subnet', () => {
  const { model } = loadLabFile(join(LABS, 'router.yaml'));
  const text = renderText(model, simulatedFacts(model));
  assert.match(text, /^network left 192\.168\.60\.0\/24: node-0 192\.168\.60\.4, router router-0 192\.168\.60\.254$/m);
  assert.match(text, /^network right 192\.168\.61\.0\/24: node-1 192\.168\.61\.4, router router-0 192\.168\.61\.254$/m);
  assert.match(text, /^router router-0: 192\.168\.60\.254 on left, 192\.168\.61\.254 on right, no pod subnet known$/m);
  assert.match(text, /node-1 {2}eth1 192\.168\.61\.4 \(network right\)/);
});

test("over SSH the machines' network must be the lab's: each node's address in its network, its route via the router", () => {
  const { model } = loadLabFile(join(LABS, 'router-ipip.yaml'));
  const machine = (node: string, address: string, routes: { dst: string; gateway: string }[]) =>
    interfacesOf(node, {
      links: [{ ifname: 'eth0' }, { ifname: 'eth1' }] as never,
      addresses: [
        { ifname: 'eth0', address: '10.0.2.15', prefix: 24, scope: 'global' },
        { ifname: 'eth1', address, prefix: 24, scope: 'global' },
      ] as never,
      routes: [{ dst: 'default', gateway: '10.0.2.2', dev: 'eth0' }, ...routes] as never,
    });
  const node0 = machine('node-0', '192.168.60.10', [{ dst: '192.168.61.0/24', gateway: '192.168.60.254' }]);
  // node-1 is on its network, but nothing routes the other network through router-0.
  const node1 = machine('node-1', '192.168.61.11', []);
  assert.throws(
    () => chooseUnderlay(model, [node0, node1]),
    /node-1 has no route to 192\.168\.60\.0\/24 via 192\.168\.61\.254 \(router router-0\)/,
  );
  const routed = machine('node-1', '192.168.61.11', [{ dst: '192.168.60.0/24', gateway: '192.168.61.254' }]);
  assert.deepEqual(
    Object.values(chooseUnderlay(model, [node0, routed])).map((f) => `${f.dev} ${f.address}`),
    ['eth1 192.168.60.10', 'eth1 192.168.61.11'],
  );
  // A machine on the flat Vagrant network is not where the lab puts it.
  assert.throws(
    () => chooseUnderlay(model, [machine('node-0', '192.168.56.10', []), routed]),
    /node-0 has no address in network left \(192\.168\.60\.0\/24\)/,
  );
});

test("over SSH a machine's own address (or an inventory's) inside the cluster CIDR or the Services range is refused before anything changes", () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const machine = (node: string, address: string) =>
    interfacesOf(node, {
      links: [{ ifname: 'eth1' }] as never,
      addresses: [{ ifname: 'eth1', address, prefix: 16, scope: 'global' }] as never,
      routes: [] as never,
    });
  assert.throws(
    () => chooseUnderlay(model, [machine('node-0', '10.200.9.10'), machine('node-1', '10.200.9.11')]),
    /node-0's underlay address 10\.200\.9\.10 is inside the cluster CIDR 10\.200\.0\.0\/16/,
  );
  assert.throws(
    () => chooseUnderlay(model, [machine('node-0', '10.96.9.10'), machine('node-1', '10.96.9.11')]),
    /node-1's underlay address 10\.96\.9\.11 is inside the Services range 10\.96\.0\.0\/12/,
  );
  assert.equal(
    chooseUnderlay(model, [machine('node-0', '192.168.56.10'), machine('node-1', '192.168.56.11')])['node-0']!.address,
    '192.168.56.10',
  );
});

test("a machine's interfaces as its tools say them: a name with escape sequences, a peer index that is no number, an address that is none, never reach a lab's facts or a graph", () => {
  // What a learner who is root on a machine can make `ip` say (a renamed interface, or `ip` itself replaced).
  const links = parseLinks(
    JSON.stringify([
      { ifindex: 1, ifname: 'lo', flags: ['UP'], mtu: 65536 },
      { ifindex: 2, ifname: 'eth1\u001b]0;owned\u0007', flags: ['UP'], mtu: 1500 },
      { ifindex: 3, ifname: 'eth2\u202e', flags: ['UP'], mtu: 1500 },
      { ifindex: 4, ifname: 'veth-a0', link_index: '\u001b[2J', master: 'br0\u001b[2J', mtu: '1500' },
      { ifindex: 5, ifname: 'eth0', flags: ['UP'], mtu: 1500 },
    ]),
  );
  assert.deepEqual(
    links.map((l) => [l.ifname, l.peerIndex, l.master, l.mtu]),
    [
      ['lo', undefined, undefined, 65536],
      ['veth-a0', undefined, undefined, undefined],
      ['eth0', undefined, undefined, 1500],
    ],
  );
  const addresses = parseAddresses(
    JSON.stringify([
      {
        ifname: 'eth1\u001b[2J',
        addr_info: [{ family: 'inet', local: '192.168.64.4', prefixlen: 24, scope: 'global' }],
      },
      { ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.0.2.15\u001b[2J', prefixlen: 24, scope: 'global' }] },
      { ifname: 'eth2', addr_info: [{ family: 'inet', local: '192.168.64.5', prefixlen: 24, scope: 'global' }] },
    ]),
  );
  assert.deepEqual(
    addresses.map((a) => [a.ifname, a.address]),
    [['eth2', '192.168.64.5']],
  );
  const routes = parseRoutes(JSON.stringify([{ dst: 'default', gateway: '10.0.2.2', dev: 'eth0\u001b[2J' }]));
  assert.equal(interfacesOf('node-0', { links, addresses, routes }).defaultDev, undefined);
});
