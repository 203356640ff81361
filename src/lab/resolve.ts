// resolve: a schema-valid lab file → the Model (every name and address decided)
// plus every semantic problem, each reported at its place in the file. Pure.
import { resolvePolicies } from '../wiring/policies.js';
import {
  contains,
  formatCidr,
  formatIp,
  IPV4_RULE,
  lastAddress,
  looksLikeIpv4,
  nthAddress,
  overlaps,
  parseCidr,
  parseIp,
  size,
  type Cidr,
} from '../net/ipv4.js';
import {
  IFNAME_MAX,
  isName,
  labNameProblem,
  LAB_NAME_MAX,
  LAB_NAME_RULE,
  NAME_RULE,
  NODE_NAME_MAX,
  POD_NAME_MAX,
} from '../model/grammar.js';
import type { PathSegment } from '../errors.js';
import {
  endpointLabel,
  type Check,
  type Model,
  type ModelNode,
  type ModelPod,
  type ModelRouter,
  type ModelChallenge,
  type ModelService,
  type Source,
  type Target,
  type TunnelSettings,
} from '../model/lab.js';
import {
  CROSS_NODE,
  crossNodeWiring,
  DEFAULT_CROSS_NODE,
  DEFAULT_SAME_NODE,
  joinsNodes,
  SAME_NODE,
  sameNodeWiring,
} from '../wiring/registry.js';
import type { SameNodeWiring } from '../wiring/types.js';
import { gatewayTowards, isRouted } from '../model/underlay.js';
import type { LabFile } from './schema.js';
import { didYouMean } from './suggest.js';
import {
  DEFAULT_CLUSTER_CIDR,
  defaultBridge,
  defaultNodeSubnet,
  FIRST_POD_HOST,
  FIRST_SIMULATED_HOST,
  gatewayOf,
  SERVICE_CIDR,
  SPECIAL_BLOCKS,
  WIDEST_CLUSTER_PREFIX,
} from './defaults.js';

export type Report = (path: readonly PathSegment[], message: string, at?: 'key' | 'value') => void;

const DEFAULT_SERVICE_CONNECTIONS = 60;
const FIRST_SERVICE_HOST = 2;

/** Above this many pods, derived checks ping a ring instead of every pair. */
const ALL_PAIRS_LIMIT = 12;

export function resolveLab(lab: LabFile, name: string, file: string, report: Report): Model {
  if (labNameProblem(name)) {
    const source = lab.name === undefined ? ` (taken from the file name; set "name:" to choose another)` : '';
    report(
      lab.name === undefined ? [] : ['name'],
      `lab name "${name}"${source} must be ${LAB_NAME_RULE}, at most ${LAB_NAME_MAX} characters`,
    );
  }
  const cluster = resolveCluster(lab, report);
  // A kind the registry does not know was reported by the schema: resolve the rest as if it were the default.
  const known = (list: readonly { kind: string }[], kind: unknown) => list.some((w) => w.kind === kind);
  const sameNode = known(SAME_NODE, lab.wiring?.['same-node']) ? lab.wiring!['same-node']! : DEFAULT_SAME_NODE;
  const crossNode = known(CROSS_NODE, lab.wiring?.['cross-node']) ? lab.wiring!['cross-node']! : DEFAULT_CROSS_NODE;
  const nodes = resolveNodes(lab, cluster, report);
  const pods = resolvePods(withCountedPods(lab, report), nodes, sameNodeWiring(sameNode), report);
  const underlay = resolveUnderlay(lab, cluster, nodes, pods, report);
  checkWiring(lab, nodes, pods, sameNode, crossNode, report);
  const tunnel = resolveTunnel(lab, crossNode, isRouted({ nodes, ...(underlay ? { underlay } : {}) }), report);
  const services = resolveServices(lab, pods, cluster, report);
  const policies = resolvePolicies(lab.policies, pods, report);
  checkOutside(lab.outside?.address, cluster, report);
  if (lab.outside && nodes.some((n) => n.name === 'outside'))
    report(['nodes', 'outside'], 'a node named "outside" in a lab with an outside host; allowed: another name', 'key');
  if (policies.length && !sameNodeWiring(sameNode).routesPodSubnet)
    report(
      ['policies'],
      `policies are enforced in the FORWARD chain of a node that routes or bridges its pods' traffic: they need same-node: bridge; found same-node: ${sameNode}`,
      'key',
    );
  const checks = lab.verify
    ? resolveChecks(lab, nodes, pods, services, report)
    : deriveChecks(pods, sameNode, crossNode, services);
  return {
    name,
    description: lab.description ?? '',
    file,
    clusterCidr: formatCidr(cluster),
    sameNode,
    vethPeer: lab.wiring?.['veth-peer'] ?? 'move',
    crossNode,
    ...(tunnel ? { tunnel } : {}),
    ...(lab.wiring?.mtu !== undefined ? { mtu: lab.wiring.mtu } : {}),
    nodes,
    pods,
    services,
    ...(policies.length ? { policies } : {}),
    ...(underlay ? { underlay } : {}),
    ...(lab.outside ? { outside: lab.outside.address ? { address: lab.outside.address } : {} } : {}),
    checks,
    exercises: lab.exercises ?? [],
    challenges: resolveChallenges(lab, checks.length, report),
  };
}

/** The outside host is outside the cluster: its address is no pod's and no Service's. */
function checkOutside(address: string | undefined, cluster: Cidr, report: Report): void {
  const ip = address === undefined ? undefined : parseIp(address);
  if (ip === undefined) return;
  const range = [formatCidr(cluster), SERVICE_CIDR].find((r) => contains(parseCidr(r)!, ip));
  if (range)
    report(
      ['outside', 'address'],
      `${address} is inside ${range}, ${range === SERVICE_CIDR ? 'the Services range' : 'the cluster CIDR'}; allowed: an address of the underlay outside ${formatCidr(cluster)} and ${SERVICE_CIDR}`,
    );
}

/** Ids unique, goals among the lab's checks (the faults are checked against the plan: lab/load.ts). */
function resolveChallenges(lab: LabFile, checks: number, report: Report): ModelChallenge[] {
  const seen = new Set<string>();
  return (lab.challenges ?? []).map((c, index) => {
    if (seen.has(c.id)) report(['challenges', index, 'id'], `found "${c.id}" twice; allowed: an id unique in the lab`);
    seen.add(c.id);
    (c.goal ?? []).forEach((n, i) => {
      if (n > checks)
        report(
          ['challenges', index, 'goal', i],
          `found check ${n}; allowed: 1-${checks} (the lab has ${checks} check${checks === 1 ? '' : 's'})`,
        );
    });
    return {
      id: c.id,
      title: c.title,
      fault: c.fault,
      goal: c.goal ?? Array.from({ length: checks }, (_, i) => i + 1),
      hints: c.hints ?? [],
    };
  });
}

function resolveCluster(lab: LabFile, report: Report): Cidr {
  const text = lab['cluster-cidr'];
  if (text === undefined) return parseCidr(DEFAULT_CLUSTER_CIDR)!;
  const cidr = parseCidr(text, false);
  if (!cidr) {
    report(['cluster-cidr'], `found "${text}"; allowed: an IPv4 prefix such as 10.200.0.0/16`);
    return parseCidr(DEFAULT_CLUSTER_CIDR)!;
  }
  if (formatCidr(cidr) !== text)
    report(
      ['cluster-cidr'],
      `found "${text}", which has host bits set; allowed: a network address, here ${formatCidr(cidr)}`,
    );
  if (cidr.prefix > 24)
    report(
      ['cluster-cidr'],
      `found /${cidr.prefix}; allowed: /24 or shorter, so that every node gets a /24 pod subnet`,
    );
  const problem = clusterRangeProblem(cidr);
  if (problem) report(['cluster-cidr'], `found ${formatCidr(cidr)}, ${problem}`);
  return cidr;
}

/**
 * Why a cluster CIDR would make the lab's rules (FORWARD ACCEPT, MASQUERADE,
 * policies) match more than the lab's pods; undefined when it would not.
 * Overlaps with the nodes' addresses and underlay networks are checked there.
 */
function clusterRangeProblem(cidr: Cidr): string | undefined {
  const allowed = `allowed: a private range of /${WIDEST_CLUSTER_PREFIX} to /24 outside ${[SERVICE_CIDR, ...SPECIAL_BLOCKS.map(([block]) => block)].join(', ')}, such as ${DEFAULT_CLUSTER_CIDR}`;
  if (cidr.prefix < WIDEST_CLUSTER_PREFIX)
    return `wider than /${WIDEST_CLUSTER_PREFIX}: the lab's FORWARD, MASQUERADE and policy rules would match all of it; ${allowed}`;
  const special = SPECIAL_BLOCKS.find(([block]) => overlaps(parseCidr(block)!, cidr));
  if (special) return `which overlaps ${special[0]}, the ${special[1]} addresses; ${allowed}`;
  if (overlaps(parseCidr(SERVICE_CIDR)!, cidr))
    return `which overlaps the Services range ${SERVICE_CIDR} (a Service IP is virtual, never a pod's); ${allowed}`;
  return undefined;
}

function resolveNodes(lab: LabFile, cluster: Cidr, report: Report): ModelNode[] {
  const entries = Object.entries(lab.nodes);
  if (entries.length === 0) report(['nodes'], 'found no nodes; allowed: at least one node, e.g. "node-0: {}"');
  const nodes: ModelNode[] = [];
  const taken: { cidr: Cidr; node: string }[] = [];
  const underlayAddresses = new Map<string, string>();
  entries.forEach(([nodeName, spec], index) => {
    if (!isName(nodeName, NODE_NAME_MAX)) {
      report(
        ['nodes', nodeName],
        `node name "${nodeName}" is not allowed; allowed: ${NAME_RULE}, at most ${NODE_NAME_MAX} characters`,
        'key',
      );
    }
    let subnet: Cidr | undefined;
    const text = spec['pod-subnet'];
    if (text !== undefined) {
      subnet = parseCidr(text, true);
      if (!subnet)
        report(
          ['nodes', nodeName, 'pod-subnet'],
          `found "${text}"; allowed: an IPv4 network address with prefix, such as 10.200.${index}.0/24`,
        );
      else if (!contains(cluster, subnet.network) || subnet.prefix < cluster.prefix) {
        report(
          ['nodes', nodeName, 'pod-subnet'],
          `${text} is outside the cluster CIDR ${formatCidr(cluster)}; allowed: a subnet of it`,
        );
      } else if (subnet.prefix > 29)
        report(
          ['nodes', nodeName, 'pod-subnet'],
          `found /${subnet.prefix}; allowed: /29 or shorter (room for the gateway and pods)`,
        );
    } else {
      subnet = defaultNodeSubnet(cluster, index);
      if (!subnet)
        report(
          ['nodes', nodeName],
          `the cluster CIDR ${formatCidr(cluster)} has no room for a default /24 pod subnet for node number ${index}; set pod-subnet`,
          'key',
        );
    }
    if (subnet) {
      const clash = taken.find((other) => overlaps(other.cidr, subnet!));
      if (clash)
        report(
          ['nodes', nodeName, ...(text ? ['pod-subnet'] : [])],
          `pod subnet ${formatCidr(subnet)} overlaps node ${clash.node}'s ${formatCidr(clash.cidr)}; allowed: a subnet no other node uses`,
          text ? 'value' : 'key',
        );
      taken.push({ cidr: subnet, node: nodeName });
    }
    const address = spec.underlay?.address;
    if (address !== undefined) {
      if (parseIp(address) === undefined)
        report(
          ['nodes', nodeName, 'underlay', 'address'],
          `found "${address}"; allowed: an IPv4 address such as 192.168.64.${4 + index}`,
        );
      else if (underlayAddresses.has(address))
        report(
          ['nodes', nodeName, 'underlay', 'address'],
          `${address} is already node ${underlayAddresses.get(address)}'s underlay address`,
        );
      else if (contains(cluster, parseIp(address)!))
        report(
          ['nodes', nodeName, 'underlay', 'address'],
          `${address} is inside the cluster CIDR ${formatCidr(cluster)}; allowed: an address outside it`,
        );
      else if (contains(parseCidr(SERVICE_CIDR)!, parseIp(address)!))
        report(
          ['nodes', nodeName, 'underlay', 'address'],
          `${address} is inside the Services range ${SERVICE_CIDR}, whose addresses the nodes DNAT to pods; allowed: an address outside it`,
        );
      underlayAddresses.set(address, nodeName);
    }
    const safeSubnet = subnet ?? { network: 0, prefix: 24 };
    nodes.push({
      name: nodeName,
      index,
      podSubnet: formatCidr(safeSubnet),
      gateway: `${formatIp(gatewayOf(safeSubnet))}/${safeSubnet.prefix}`,
      bridge: spec.bridge ?? defaultBridge(index),
      underlay: {
        ...(address !== undefined ? { address } : {}),
        ...(spec.underlay?.dev ? { dev: spec.underlay.dev } : {}),
        ...(spec.underlay?.network ? { network: spec.underlay.network } : {}),
      },
    });
  });
  return nodes;
}

/**
 * A routed underlay: networks that neither overlap each other nor the cluster
 * CIDR, routers on at least two of them with names no node has, every node on
 * one of them (its address, if the lab gives one, inside it), and every
 * network with nodes reachable from every other through the routers.
 */
function resolveUnderlay(lab: LabFile, cluster: Cidr, nodes: ModelNode[], pods: ModelPod[], report: Report) {
  const spec = lab.underlay;
  for (const node of nodes) {
    if (!spec && node.underlay.network !== undefined)
      report(
        ['nodes', node.name, 'underlay', 'network'],
        `found "${node.underlay.network}", but the lab has no underlay.networks; allowed: leave it out (every node on one L2 segment), or declare the networks under underlay:`,
      );
  }
  if (!spec) return undefined;
  if (Object.keys(spec.networks).length === 0)
    report(['underlay', 'networks'], 'found none; allowed: at least one network, such as "left: 192.168.60.0/24"');
  const networks: { name: string; cidr: string; parsed: Cidr }[] = [];
  for (const [name, text] of Object.entries(spec.networks)) {
    const parsed = parseCidr(text, true);
    if (!parsed || parsed.prefix > 29) {
      report(
        ['underlay', 'networks', name],
        `found "${text}"; allowed: an IPv4 network address with a prefix of /29 or shorter, such as 192.168.64.0/24`,
      );
      continue;
    }
    const clash = networks.find((n) => overlaps(n.parsed, parsed));
    if (clash) report(['underlay', 'networks', name], `${text} overlaps network ${clash.name}'s ${clash.cidr}`);
    else if (overlaps(cluster, parsed))
      report(
        ['underlay', 'networks', name],
        `${text} overlaps the cluster CIDR ${formatCidr(cluster)}; allowed: a subnet outside it (pod and node addresses must differ)`,
      );
    else if (overlaps(parseCidr(SERVICE_CIDR)!, parsed))
      report(
        ['underlay', 'networks', name],
        `${text} overlaps the Services' range ${SERVICE_CIDR}; allowed: a subnet outside it`,
      );
    networks.push({ name, cidr: text, parsed });
  }
  const networkNames = Object.keys(spec.networks);
  const allowed = `allowed: ${networkNames.join(', ') || 'a network of underlay.networks'}`;
  const taken = new Set([...nodes.map((n) => n.name), ...pods.map((p) => p.name), 'outside', 'underlay']);
  const routers: ModelRouter[] = [];
  for (const [name, router] of Object.entries(spec.routers ?? {})) {
    if (taken.has(name))
      report(
        ['underlay', 'routers', name],
        `router name "${name}" is taken (${name === 'outside' || name === 'underlay' ? 'netlab uses it' : 'a node or pod has it'}); allowed: another name`,
        'key',
      );
    taken.add(name);
    router.networks.forEach((network, i) => {
      if (!networkNames.includes(network))
        report(['underlay', 'routers', name, 'networks', i], `found "${network}"; ${allowed}`);
    });
    const own = [...new Set(router.networks.filter((n) => networkNames.includes(n)))];
    if (own.length < 2)
      report(
        ['underlay', 'routers', name, 'networks'],
        `found ${own.length} network${own.length === 1 ? '' : 's'}; allowed: at least two different networks (a router joins networks)`,
      );
    routers.push({ name, networks: own, addresses: {}, podRoutes: router['pod-routes'] ?? false });
  }
  // Each router's address on a network: its last host for the first router there, one less for each next.
  for (const network of networks) {
    routers
      .filter((r) => r.networks.includes(network.name))
      .forEach((r, i) => (r.addresses[network.name] = formatIp(lastAddress(network.parsed) - 1 - i)));
  }
  // Simulated nodes number their hosts from .4 up, routers from the last host down: both must fit.
  for (const network of networks) {
    const hosts =
      nodes.filter((n) => n.underlay.network === network.name).length +
      routers.filter((r) => r.networks.includes(network.name)).length;
    if (FIRST_SIMULATED_HOST + hosts > size(network.parsed) - 1)
      report(
        ['underlay', 'networks', network.name],
        `${network.cidr} is too small for its ${hosts} nodes and routers (simulated nodes start at host ${FIRST_SIMULATED_HOST}); allowed: a shorter prefix`,
      );
  }
  for (const node of nodes) {
    const network = node.underlay.network;
    const found = networks.find((n) => n.name === network);
    if (network === undefined)
      report(
        ['nodes', node.name],
        `node ${node.name} names no underlay network, and the lab has underlay.networks; set nodes.${node.name}.underlay.network (${allowed})`,
        'key',
      );
    else if (!networkNames.includes(network))
      report(['nodes', node.name, 'underlay', 'network'], `found "${network}"; ${allowed}`);
    else if (found && node.underlay.address && !contains(found.parsed, parseIp(node.underlay.address) ?? 0))
      report(
        ['nodes', node.name, 'underlay', 'address'],
        `${node.underlay.address} is not in network ${network} (${found.cidr}); allowed: an address in it`,
      );
    else if (found && node.underlay.address && routers.some((r) => r.addresses[network] === node.underlay.address))
      report(
        ['nodes', node.name, 'underlay', 'address'],
        `${node.underlay.address} is a router's address on ${network}; allowed: another address in ${found.cidr}`,
      );
  }
  const used = [
    ...new Set(nodes.flatMap((n) => (networkNames.includes(n.underlay.network ?? '') ? [n.underlay.network!] : []))),
  ];
  for (const from of used) {
    const unreachable = used.find((to) => to !== from && !gatewayTowards(routers, from, to));
    if (unreachable) {
      report(
        ['underlay', ...(spec.routers ? ['routers'] : [])],
        `no router joins network ${from} to network ${unreachable}, and both have nodes; allowed: routers that join every network with nodes to every other`,
        'key',
      );
      break;
    }
  }
  if (lab.outside)
    report(
      ['outside'],
      'an outside host on a routed underlay is not supported yet; allowed: leave out outside: or underlay:',
      'key',
    );
  return { networks: networks.map(({ name, cidr }) => ({ name, cidr })), routers };
}

/** `nodes.X.pods: N` adds pods pI-0 … pI-(N-1) on the I-th node, as if each were listed under pods:. */
function withCountedPods(lab: LabFile, report: Report): LabFile {
  const extra: LabFile['pods'] = {};
  Object.entries(lab.nodes).forEach(([node, spec], index) => {
    for (let i = 0; i < (spec.pods ?? 0); i++) {
      const name = `p${index}-${i}`;
      if (lab.pods?.[name]) report(['pods', name], `pod ${name} is also made by nodes.${node}.pods; rename it`, 'key');
      else extra[name] = { node };
    }
  });
  return Object.keys(extra).length ? { ...lab, pods: { ...lab.pods, ...extra } } : lab;
}

function resolvePods(lab: LabFile, nodes: ModelNode[], sameNode: SameNodeWiring, report: Report): ModelPod[] {
  const entries = Object.entries(lab.pods);
  if (entries.length === 0) report(['pods'], 'found no pods; allowed: at least one pod, e.g. "a0: { node: node-0 }"');
  const nodeNames = nodes.map((n) => n.name);
  const usedAddresses = new Map<number, string>();
  const nextHost = new Map<string, number>();
  // Addresses written in the file are taken first, so defaults never collide with them.
  for (const [podName, spec] of entries) {
    const ip = spec.ip === undefined ? undefined : parseIp(spec.ip);
    if (ip !== undefined && !usedAddresses.has(ip)) usedAddresses.set(ip, podName);
  }
  const pods: ModelPod[] = [];
  for (const [podName, spec] of entries) {
    if (!isName(podName, POD_NAME_MAX)) {
      report(
        ['pods', podName],
        `pod name "${podName}" is not allowed; allowed: ${NAME_RULE}, at most ${POD_NAME_MAX} characters (it becomes the interface name veth-${podName}-c, and Linux allows ${IFNAME_MAX})`,
        'key',
      );
    }
    const node = nodes.find((n) => n.name === spec.node);
    if (!node && typeof spec.node === 'string')
      report(
        ['pods', podName, 'node'],
        `unknown node "${spec.node}"${didYouMean(spec.node, nodeNames)}; allowed: ${nodeNames.join(', ')}`,
      );
    const containers = (spec.containers ?? []).map((container) => ({ name: container }));
    const seen = new Set<string>();
    (spec.containers ?? []).forEach((container, i) => {
      if (seen.has(container))
        report(['pods', podName, 'containers', i], `container "${container}" appears twice in pod ${podName}`);
      seen.add(container);
    });
    const pod: ModelPod = {
      name: podName,
      node: spec.node,
      netns: podName,
      containers,
      ...(spec.rootfs ? { rootfs: spec.rootfs } : {}),
      ...(spec.labels ? { labels: spec.labels } : {}),
    };
    const interfaces = sameNode.podInterfaces?.(podName);
    if (!interfaces) {
      if (spec.ip !== undefined) report(['pods', podName, 'ip'], sameNode.noAddress!);
    } else if (node) {
      const subnet = parseCidr(node.podSubnet)!;
      const address =
        spec.ip === undefined
          ? allocate(subnet, node.name, usedAddresses, nextHost, podName)
          : checkPodAddress(spec.ip, subnet, node, podName, usedAddresses, report);
      if (address === undefined && spec.ip === undefined)
        report(
          ['pods', podName],
          `node ${node.name}'s pod subnet ${node.podSubnet} has no free address left for pod ${podName}`,
          'key',
        );
      if (address !== undefined) pod.address = `${formatIp(address)}/${subnet.prefix}`;
      if (interfaces.hostIf) pod.hostIf = interfaces.hostIf;
      pod.podIf = interfaces.podIf;
    }
    pods.push(pod);
  }
  return pods;
}

function checkPodAddress(
  text: string,
  subnet: Cidr,
  node: ModelNode,
  podName: string,
  used: Map<number, string>,
  report: Report,
): number | undefined {
  const ip = parseIp(text);
  const path = ['pods', podName, 'ip'];
  if (ip === undefined) {
    report(path, `found "${text}"; allowed: an IPv4 address in ${node.podSubnet}`);
    return undefined;
  }
  if (!contains(subnet, ip))
    report(path, `${text} is outside node ${node.name}'s pod subnet ${node.podSubnet}; allowed: an address in it`);
  else if (ip === subnet.network || ip === lastAddress(subnet))
    report(path, `${text} is the network or broadcast address of ${node.podSubnet}; allowed: a host address`);
  else if (ip === gatewayOf(subnet))
    report(
      path,
      `${text} is the gateway (bridge ${node.bridge}) of ${node.podSubnet}; allowed: ${formatIp(nthAddress(subnet, FIRST_POD_HOST))} or above`,
    );
  else if (used.get(ip) !== podName)
    report(path, `${text} is already pod ${used.get(ip)}'s address; allowed: an unused address`);
  return ip;
}

function allocate(
  subnet: Cidr,
  node: string,
  used: Map<number, string>,
  nextHost: Map<string, number>,
  podName: string,
): number | undefined {
  let host = nextHost.get(node) ?? FIRST_POD_HOST;
  const last = lastAddress(subnet);
  for (let ip = nthAddress(subnet, host); ip < last; ip = nthAddress(subnet, ++host)) {
    if (!used.has(ip)) {
      used.set(ip, podName);
      nextHost.set(node, host + 1);
      return ip;
    }
  }
  return undefined;
}

function checkWiring(
  lab: LabFile,
  nodes: ModelNode[],
  pods: ModelPod[],
  sameNode: string,
  crossNode: string,
  report: Report,
): void {
  const same = sameNodeWiring(sameNode);
  for (const problem of same.problems?.(nodes, pods) ?? []) report(lab.wiring ? ['wiring', 'same-node'] : [], problem);
  if (joinsNodes(crossNode) && !same.routesPodSubnet) {
    report(
      ['wiring', 'cross-node'],
      `cross-node: ${crossNode} needs same-node: bridge (every node routes its pod subnet through its bridge); found same-node: ${sameNode}`,
    );
  }
  if (lab.wiring?.mtu !== undefined && !same.podInterfaces)
    report(
      ['wiring', 'mtu'],
      `same-node: ${sameNode} pods have only lo, whose MTU netlab does not set; found mtu: ${lab.wiring.mtu}`,
    );
  if (joinsNodes(crossNode) && nodes.length < 2)
    report(
      ['wiring', 'cross-node'],
      `cross-node: ${crossNode} joins nodes, but the lab has ${nodes.length}; add a node or use cross-node: none`,
    );
  // Settings of another kind than the lab's (wiring.vxlan with cross-node: ipip).
  const key = crossNodeWiring(crossNode).settings?.key;
  for (const wiring of CROSS_NODE) {
    const other = wiring.settings?.key;
    if (!other || other === key || lab.wiring?.[other as keyof NonNullable<LabFile['wiring']>] === undefined) continue;
    const users = CROSS_NODE.filter((w) => w.settings?.key === other).map((w) => w.kind);
    report(
      ['wiring', other],
      `${other} settings are used only with cross-node: ${users.join(' or ')}; found cross-node: ${crossNode}`,
      'key',
    );
    break;
  }
  const bridges = new Set(nodes.map((n) => n.bridge));
  for (const pod of pods) {
    for (const ifname of [pod.hostIf, pod.podIf]) {
      if (ifname && bridges.has(ifname))
        report(['pods', pod.name], `interface ${ifname} of pod ${pod.name} has the name of a bridge`, 'key');
    }
  }
}

/** The cross-node kind's own settings (wiring.vxlan for vxlan and flannel), checked and completed by its module. */
function resolveTunnel(lab: LabFile, crossNode: string, routed: boolean, report: Report): TunnelSettings | undefined {
  const wiring = crossNodeWiring(crossNode);
  if (!wiring.resolve || !wiring.settings) return undefined;
  const key = wiring.settings.key;
  const spec = (lab.wiring?.[key as keyof NonNullable<LabFile['wiring']>] ?? {}) as Record<string, unknown>;
  return wiring.resolve(spec, (field, message) => report(['wiring', key, field], message), { routed });
}

function resolveChecks(
  lab: LabFile,
  nodes: ModelNode[],
  pods: ModelPod[],
  services: ModelService[],
  report: Report,
): Check[] {
  const checks: Check[] = [];
  (lab.verify ?? []).forEach((item, index) => {
    const kinds = (['ping', 'tcp', 'service', 'traceroute'] as const).filter((kind) => item[kind] !== undefined);
    if (kinds.length !== 1) {
      report(
        ['verify', index],
        `each check has exactly one of ping, tcp, service, traceroute; found ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`,
      );
      return;
    }
    const kind = kinds[0]!;
    const path = ['verify', index, kind];
    const expect = item[kind]!.expect ?? 'pass';
    const from = resolveEndpoint(item[kind]!.from, nodes, pods, [...path, 'from'], report, false) as Source | undefined;
    if (kind === 'service') {
      const spec = item.service!;
      const service = services.find((s) => s.name === spec.to);
      const names = services.map((s) => s.name);
      if (!service)
        report(
          [...path, 'to'],
          `unknown service "${spec.to}"${didYouMean(spec.to, names)}; allowed: ${names.join(', ') || 'none (the lab has no services:)'}`,
        );
      else if (service.protocol !== 'tcp')
        report([...path, 'to'], `service ${service.name} is ${service.protocol}; service checks connect over tcp`);
      if (!from || !service || service.protocol !== 'tcp') return;
      checks.push({
        kind,
        from,
        to: { service: service.name },
        toAddress: service.clusterIp,
        port: service.port,
        connections: spec.connections ?? DEFAULT_SERVICE_CONNECTIONS,
        expect,
        derived: false,
      });
      return;
    }
    const spec = item[kind]!;
    const outside =
      spec.to === OUTSIDE && !pods.some((p) => p.name === OUTSIDE) && !nodes.some((n) => n.name === OUTSIDE);
    if (outside && !lab.outside) {
      report([...path, 'to'], 'found "outside"; the lab has no outside host: add `outside: {}` to it');
      return;
    }
    // netlab starts no responder there: on machines over SSH the outside host is one the lab only names.
    if (outside && kind === 'tcp') {
      report([...path, 'to'], 'found "outside" in a tcp check; allowed: ping checks to the outside host');
      return;
    }
    const to: Target | undefined = outside
      ? { outside: true }
      : resolveEndpoint(spec.to, nodes, pods, [...path, 'to'], report, true);
    if (!from || !to) return;
    const port = kind === 'tcp' ? item.tcp!.port : undefined;
    const bytes = kind === 'tcp' ? item.tcp!.bytes : undefined;
    const via = kind === 'traceroute' ? item.traceroute!.via : undefined;
    const hopNames = [...new Set([...nodes.map((n) => n.name), ...Object.keys(lab.underlay?.routers ?? {})])];
    for (const [i, hop] of (via ?? []).entries())
      if (!hopNames.includes(hop))
        report(
          [...path, 'via', i],
          `unknown node or router "${hop}"${didYouMean(hop, hopNames)}; allowed: ${hopNames.join(', ')} (a hop of traceroute is a node or router that routes the packet)`,
        );
    const toAddress = targetAddress(from, to, pods, lab.outside?.address);
    if (toAddress === undefined && !('node' in to) && !('outside' in to)) {
      // Without an address because its node is unknown: that is reported already.
      const same = SAME_NODE.find((w) => w.kind === lab.wiring?.['same-node']);
      if (same && !same.podInterfaces)
        report(
          [...path, 'to'],
          `pod ${endpointLabel(to)} has no address (${same.kind} lab): it is reachable only from its own pod`,
        );
      return;
    }
    checks.push({
      kind,
      from,
      to,
      ...(toAddress !== undefined ? { toAddress } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(bytes !== undefined ? { bytes } : {}),
      ...(via !== undefined ? { via } : {}),
      expect,
      derived: false,
    });
  });
  return checks;
}

/** What a check names the lab's outside host by (a pod or node of that name is that pod or node). */
const OUTSIDE = 'outside';

function resolveEndpoint(
  text: string,
  nodes: ModelNode[],
  pods: ModelPod[],
  path: PathSegment[],
  report: Report,
  addressAllowed: boolean,
): Target | undefined {
  if (parseIp(text) !== undefined) {
    if (addressAllowed) return { address: text };
    report(
      path,
      `found the address "${text}"; allowed: a pod or node name (checks run from inside a pod or on a node)`,
    );
    return undefined;
  }
  const [podName, container, extra] = text.split('/');
  const pod = pods.find((p) => p.name === podName);
  if (!pod && container === undefined && nodes.some((n) => n.name === text)) return { node: text };
  const podNames = pods.map((p) => p.name);
  if (!pod && addressAllowed && looksLikeIpv4(text)) {
    report(path, `found "${text}": no pod or node has that name, and it is no address; allowed: ${IPV4_RULE}`);
    return undefined;
  }
  if (!pod || extra !== undefined) {
    const candidates = [...podNames, ...nodes.map((n) => n.name)];
    report(
      path,
      `unknown pod or node "${text}"${didYouMean(podName ?? text, candidates)}; allowed: ${candidates.join(', ')}${addressAllowed ? ', or an IPv4 address' : ''}`,
    );
    return undefined;
  }
  if (container === undefined) return { pod: pod.name };
  const names = pod.containers.map((c) => c.name);
  if (!names.includes(container)) {
    report(
      path,
      `pod ${pod.name} has no container "${container}"${didYouMean(container, names)}; allowed: ${names.length ? names.map((n) => `${pod.name}/${n}`).join(', ') : `${pod.name} (it has no containers)`}`,
    );
    return undefined;
  }
  return { pod: pod.name, container };
}

/** Within one pod the check goes over loopback; otherwise to the pod's address. Nodes: from the target's facts. */
function targetAddress(from: Source, to: Target, pods: ModelPod[], outside?: string): string | undefined {
  if ('address' in to) return to.address;
  if ('outside' in to) return outside;
  if (!('pod' in to)) return undefined;
  if ('pod' in from && from.pod === to.pod) return '127.0.0.1';
  return pods.find((p) => p.name === to.pod)?.address?.split('/')[0];
}

function resolveServices(lab: LabFile, pods: ModelPod[], cluster: Cidr, report: Report): ModelService[] {
  const range = parseCidr(SERVICE_CIDR)!;
  const entries = Object.entries(lab.services ?? {});
  const taken = new Set(entries.map(([, spec]) => spec['cluster-ip']).filter((ip): ip is string => ip !== undefined));
  const usedPorts = new Map<string, string>();
  let next = FIRST_SERVICE_HOST;
  return entries.map(([name, spec], i) => {
    const path = ['services', name];
    let clusterIp = spec['cluster-ip'];
    if (clusterIp !== undefined) {
      const ip = parseIp(clusterIp);
      if (ip === undefined)
        report(
          [...path, 'cluster-ip'],
          `found "${clusterIp}"; allowed: an IPv4 address such as 10.96.0.${FIRST_SERVICE_HOST + i}`,
        );
      else if (!contains(range, ip) || ip === range.network || ip === lastAddress(range))
        // Every node DNATs the cluster IP, also in OUTPUT: a real host's address would send the node's own traffic to it (SSH) to a pod.
        report(
          [...path, 'cluster-ip'],
          `${clusterIp} is ${contains(range, ip) ? 'the network or broadcast address of' : 'outside'} the Services range ${SERVICE_CIDR}; allowed: a host address in it, such as ${formatIp(nthAddress(range, FIRST_SERVICE_HOST + i))} (every node DNATs it, also its own traffic)`,
        );
      else if (contains(cluster, ip))
        report(
          [...path, 'cluster-ip'],
          `${clusterIp} is inside the cluster CIDR ${formatCidr(cluster)}; a Service IP is virtual and must not be a pod address (Kubernetes uses ${SERVICE_CIDR})`,
        );
    } else {
      while (taken.has(formatIp(nthAddress(range, next)))) next++;
      clusterIp = formatIp(nthAddress(range, next++));
    }
    const protocol = spec.protocol ?? 'tcp';
    const key = `${clusterIp}:${protocol}:${spec.port}`;
    if (usedPorts.has(key))
      report([...path, 'port'], `${clusterIp}:${spec.port}/${protocol} is already service ${usedPorts.get(key)}`);
    usedPorts.set(key, name);
    const type = spec.type ?? 'ClusterIP';
    if (type === 'NodePort' && spec['node-port'] === undefined)
      report([...path, 'node-port'], 'type NodePort needs node-port: a port in 30000-32767 that every node opens');
    if (type !== 'NodePort' && spec['node-port'] !== undefined)
      report([...path, 'node-port'], 'node-port is used only with type: NodePort');
    const podNames = pods.map((p) => p.name);
    spec.backends.forEach((backend, j) => {
      const pod = pods.find((p) => p.name === backend);
      if (!pod)
        report(
          [...path, 'backends', j],
          `unknown pod "${backend}"${didYouMean(backend, podNames)}; allowed: ${podNames.join(', ')}`,
        );
      else if (!pod.address)
        report([...path, 'backends', j], `pod ${backend} has no address (loopback lab); a backend needs one`);
      if (spec.backends.indexOf(backend) !== j) report([...path, 'backends', j], `pod ${backend} is listed twice`);
    });
    return {
      name,
      index: i + 1,
      clusterIp,
      port: spec.port,
      targetPort: spec['target-port'] ?? spec.port,
      protocol,
      type,
      ...(spec['node-port'] !== undefined ? { nodePort: spec['node-port'] } : {}),
      backends: spec.backends,
    };
  });
}

/** Without a verify section: every pod pings every pod it should reach, and each pod answers one TCP connection. */
/** What a derived TCP check between pods on two nodes sends: about 700 full-size packets. */
export const DERIVED_BULK_BYTES = 1_000_000;

export function deriveChecks(
  pods: ModelPod[],
  sameNode: string,
  crossNode: string,
  services: ModelService[] = [],
): Check[] {
  const checks: Check[] = [];
  const base = { expect: 'pass' as const, derived: true };
  const own = sameNodeWiring(sameNode).deriveChecks;
  if (own) return own(pods);
  const reachable = (a: ModelPod, b: ModelPod) =>
    a !== b && a.address && b.address && (joinsNodes(crossNode) || a.node === b.node);
  const pairs: [ModelPod, ModelPod][] = [];
  if (pods.length <= ALL_PAIRS_LIMIT) {
    for (const a of pods) for (const b of pods) if (reachable(a, b)) pairs.push([a, b]);
  } else {
    pods.forEach((a, i) => {
      const b = pods[(i + 1) % pods.length]!;
      if (reachable(a, b)) pairs.push([a, b]);
    });
  }
  for (const [a, b] of pairs) {
    checks.push({
      kind: 'ping',
      from: { pod: a.name },
      to: { pod: b.name },
      toAddress: b.address!.split('/')[0]!,
      ...base,
    });
  }
  // One TCP connection into every pod, from the pod that pings it first; between nodes, a bulk
  // transfer, whose full-size packets must fit every link of the path (a wrong MTU fails it).
  const answered = new Set<string>();
  for (const [a, b] of pairs) {
    if (answered.has(b.name)) continue;
    answered.add(b.name);
    checks.push({
      kind: 'tcp',
      from: { pod: a.name },
      to: { pod: b.name },
      toAddress: b.address!.split('/')[0]!,
      port: 8080,
      ...(a.node !== b.node ? { bytes: DERIVED_BULK_BYTES } : {}),
      ...base,
    });
  }
  // Every tcp Service, from every pod that has an address.
  for (const service of services.filter((s) => s.protocol === 'tcp')) {
    for (const pod of pods.filter((p) => p.address)) {
      checks.push({
        kind: 'service',
        from: { pod: pod.name },
        to: { service: service.name },
        toAddress: service.clusterIp,
        port: service.port,
        connections: DEFAULT_SERVICE_CONNECTIONS,
        ...base,
      });
    }
  }
  return checks;
}
