// The underlay of simulated nodes, planned: its networks (each a bridge in the
// underlay's own namespace), the nodes' addresses on them (the article's
// 192.168.64.4, .5, ... on eth1), and the scripts that cable the nodes, the
// routers and the outside host to them and give each its addresses and
// routes. Pure: exec/simulated.ts starts the holders and runs these scripts.
import { SERVICE_CIDR, type Model, type ModelNode, type ModelRouter } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import { type Cidr, contains, formatIp, nthAddress, parseCidr, parseIp } from '../net/ipv4.js';
import { ETHERNET_MTU } from '../net/ethernet.js';
import { quoteArg } from '../os/quote.js';
import { networkOf, routerPodRoutes, underlayRoutes } from './routing.js';

/** The host number of the first simulated node on a network (the article's 192.168.64.4); the next ones follow. */
export const FIRST_SIMULATED_HOST = 4;

const SIMULATED_UNDERLAY = {
  prefix: 24,
  firstHost: FIRST_SIMULATED_HOST,
  network: '192.168.64',
  dev: 'eth1',
  bridge: 'underlay',
  /** the veths of the underlay keep the kernel's default, Ethernet's */
  mtu: ETHERNET_MTU,
} as const;

/** The one network of a flat simulated underlay (the article's 192.168.64.0/24). */
export const FLAT_SIMULATED_NETWORK = `${SIMULATED_UNDERLAY.network}.0/${SIMULATED_UNDERLAY.prefix}`;

/** The outside host's holder (a node of that name would share its marker: resolve refuses one with outside:). */
export const OUTSIDE_HOLDER = 'outside';

/** The exit code of a node's first script when its underlay could not be set up. */
export const UNDERLAY_FAILED = 99;

/**
 * The networks of the simulated underlay, each a bridge in the underlay's
 * namespace: the lab's own (a routed underlay), or the article's one segment.
 */
function simulatedNetworks(model: Model): { name?: string; cidr: Cidr; bridge: string }[] {
  if (model.underlay)
    return model.underlay.networks.map((n, i) => ({ name: n.name, cidr: parseCidr(n.cidr)!, bridge: `net+${i}` }));
  return [{ cidr: parseCidr(FLAT_SIMULATED_NETWORK)!, bridge: SIMULATED_UNDERLAY.bridge }];
}

/** The simulated network a node is on. */
function simulatedNetworkOf(model: Model, node: string) {
  const networks = simulatedNetworks(model);
  return networks.find((n) => n.name === networkOf(model, node)) ?? networks[0]!;
}

/** The underlay address and interface of each simulated node: the article's 192.168.64.4, .5, ... on eth1 (on a routed underlay, numbered so in each network). */
export function simulatedFacts(model: Model): Record<string, NodeFacts> {
  // In each network (one on a flat underlay), the nodes the lab file gives no address take the next of .4, .5, ...
  // that the lab gives no node, router or outside host.
  const given = new Set([
    ...model.nodes.flatMap((n) => (n.underlay.address ? [n.underlay.address] : [])),
    ...(model.underlay?.routers ?? []).flatMap((r) => Object.values(r.addresses)),
    ...(model.outside?.address ? [model.outside.address] : []),
  ]);
  const next = new Map<string | undefined, number>();
  const addressOf = (node: ModelNode): string => {
    if (node.underlay.address) return node.underlay.address;
    const network = networkOf(model, node.name);
    const cidr = simulatedNetworkOf(model, node.name).cidr;
    let host = next.get(network) ?? SIMULATED_UNDERLAY.firstHost;
    while (given.has(formatIp(nthAddress(cidr, host)))) host++;
    next.set(network, host + 1);
    return formatIp(nthAddress(cidr, host));
  };
  return Object.fromEntries(
    model.nodes.map((node) => [
      node.name,
      { address: addressOf(node), dev: node.underlay.dev ?? SIMULATED_UNDERLAY.dev, mtu: SIMULATED_UNDERLAY.mtu },
    ]),
  );
}

/**
 * Why the lab's underlay addresses cannot be simulated, if they cannot: the outside host, and on a flat underlay
 * every node the lab gives an address, must be on its one segment (each gets the segment's prefix: one off it is
 * in another subnet on the same bridge, and reaches no other node). A routed underlay's own networks are
 * checked where the lab is resolved. Machines over SSH have their own networks: the same lab is theirs to route.
 */
export function simulatedUnderlayProblem(model: Model, outside: string | undefined): string | undefined {
  const flat = parseCidr(FLAT_SIMULATED_NETWORK)!;
  const off = (address: string) => !contains(flat, parseIp(address) ?? 0);
  // Its first and last addresses are the segment's network and broadcast addresses, no host's.
  const unusable = (address: string) =>
    off(address) || [0, 2 ** (32 - flat.prefix) - 1].some((n) => formatIp(nthAddress(flat, n)) === address);
  const node = model.underlay
    ? undefined
    : model.nodes.find((n) => n.underlay.address && (unusable(n.underlay.address) || n.underlay.address === outside));
  if (node)
    return `nodes.${node.name}.underlay.address: found ${node.underlay.address}; on simulated nodes the underlay is the one segment ${FLAT_SIMULATED_NETWORK}${node.underlay.address === outside ? `, where ${outside} is the outside host's` : ''} (leave the address out: the nodes are numbered ${SIMULATED_UNDERLAY.network}.${SIMULATED_UNDERLAY.firstHost}, .${SIMULATED_UNDERLAY.firstHost + 1}, ...; or give a host address of it that no other host has)`;
  if (outside && unusable(outside))
    return `outside.address: found ${outside}; on simulated nodes the outside host is on the underlay ${FLAT_SIMULATED_NETWORK} (leave the address out: ${SIMULATED_UNDERLAY.network}.1)`;
  return undefined;
}

/** The init process of each holder the underlay's cables go to, by PID (`netns PID`). */
export interface HolderPids {
  nodes: Record<string, number>;
  routers: Record<string, number>;
  outside?: number;
}

/**
 * The underlay namespace's script: a bridge per network, and cables from it to
 * each node's underlay interface, each router's eth1, eth2, ... and the outside
 * host's eth0, made inside the underlay namespace and handed to their holders
 * by PID: the host never sees them.
 */
export function underlaySwitchScript(model: Model, facts: Record<string, NodeFacts>, pids: HolderPids): string {
  const networks = simulatedNetworks(model);
  const bridgeOf = (network: string) => networks.find((n) => n.name === network)!.bridge;
  const pidOf = (held: Record<string, number>, name: string) => {
    const pid = held[name];
    if (pid === undefined) throw new Error(`internal error: no holder's PID for ${name}`);
    return pid;
  };
  const cable = (name: string, peer: string, pid: number, bridge: string) =>
    `ip link add ${quoteArg(name)} type veth peer name ${quoteArg(peer)} netns ${pid} && ip link set ${quoteArg(name)} master ${quoteArg(bridge)} up`;
  return [
    // The bridge floods multicast to every port, as the switch of a Vagrant
    // host-only network does, whatever IGMP it sees: with snooping on (the
    // default), a Linux bridge floods a group only while it has seen no querier
    // (since Linux 3.11), and once one answers, forwards it only to the ports
    // whose joins it saw, each forgotten 260 s later unless renewed
    // (multicast_membership_interval).
    ...networks.flatMap(({ bridge }) => [
      `ip link add ${quoteArg(bridge)} type bridge mcast_snooping 0`,
      `ip link set ${quoteArg(bridge)} up`,
    ]),
    // A node's cable is nd+N (a '+' no node name has): named after the node, it clashed with what a new network
    // namespace has, lo, and the fallback devices of tunnel modules the host has loaded (tunl0, gre0, sit0...).
    ...model.nodes.map((node, n) =>
      cable(
        `nd+${n}`,
        facts[node.name]!.dev,
        pidOf(pids.nodes, node.name),
        simulatedNetworkOf(model, node.name).bridge,
      ),
    ),
    // A router's cable to its i-th network is its eth(i+1), as on a router VM with one NIC per network.
    ...(model.underlay?.routers ?? []).flatMap((router, r) =>
      router.networks.map((network, i) =>
        cable(`rt+${r}+${i}`, `eth${i + 1}`, pidOf(pids.routers, router.name), bridgeOf(network)),
      ),
    ),
    // On the first network: the only one, since resolve refuses an outside host on a routed underlay.
    ...(pids.outside !== undefined ? [cable(OUTSIDE_HOLDER, 'eth0', pids.outside, networks[0]!.bridge)] : []),
  ].join('\n');
}

/**
 * A node's underlay: its address and interface up, and, on a routed underlay,
 * its routes to the other networks through their routers, as its DHCP or the
 * VM's setup would say. In a subshell of its own (set -e): a failure there ends
 * the node's script with UNDERLAY_FAILED, before what follows it.
 */
export function nodeUnderlayScript(model: Model, node: string, facts: NodeFacts): string {
  const { address, dev } = facts;
  const routes = underlayRoutes(model, [networkOf(model, node)!]).map(
    (r) => `ip route add ${quoteArg(r.dst)} via ${quoteArg(r.via)}\n`,
  );
  // A machine's own connection to a Service's cluster IP is routed before nat OUTPUT DNATs it, and a machine's
  // default route carries it (kube-proxy relies on that); a simulated node has none, and connect() failed with
  // "Network is unreachable" before any rule saw it. The Services range out of the underlay stands in for it.
  if (model.services.length) routes.push(`ip route add ${SERVICE_CIDR} dev ${quoteArg(dev)}\n`);
  return `(set -e\nip addr add ${quoteArg(address)}/${simulatedNetworkOf(model, node).cidr.prefix} dev ${quoteArg(dev)}\nip link set ${quoteArg(dev)} up\n${routes.join('')}) || exit ${UNDERLAY_FAILED}\n`;
}

/**
 * A router of the underlay: an address on each of its networks, forwarding on
 * (its own namespace: the host's setting is not touched), routes to the
 * networks it is not on, and no default route: a packet for an address no
 * network has, such as a pod's, is answered with ICMP "net unreachable" —
 * unless the lab gives it routes to the pod subnets (pod-routes).
 */
export function routerScript(model: Model, router: ModelRouter, addressOf: (node: string) => string): string {
  const networks = simulatedNetworks(model);
  const lines = router.networks.flatMap((name, i) => {
    const prefix = networks.find((n) => n.name === name)!.cidr.prefix;
    return [`ip addr add ${quoteArg(router.addresses[name]!)}/${prefix} dev eth${i + 1}`, `ip link set eth${i + 1} up`];
  });
  const routes = [...underlayRoutes(model, router.networks, router.name), ...routerPodRoutes(model, router, addressOf)];
  return [
    'set -e',
    ...lines,
    'sysctl -qw net.ipv4.ip_forward=1',
    ...routes.map((r) => `ip route add ${quoteArg(r.dst)} via ${quoteArg(r.via)}`),
    '',
  ].join('\n');
}

/** The outside host: it knows the underlay only, no route to a pod address, as a router outside the cluster. */
export function outsideScript(address: string): string {
  return `set -e\nip addr add ${quoteArg(address)}/${SIMULATED_UNDERLAY.prefix} dev eth0\nip link set eth0 up\n`;
}
