// resolve: a schema-valid lab file → the Model (every name and address decided)
// plus every semantic problem, each reported at its place in the file. Pure.
// The cluster, the nodes and the wiring are here; the pods and the checks have
// a file each beside it (resolve-*.ts), the underlay its module
// (underlay/resolve.ts); Services and policies are resolved by their wiring
// modules.
import { resolvePolicies } from '../wiring/policies.js';
import { resolveUnderlay } from '../underlay/resolve.js';
import { resolvePods, withCountedPods } from './resolve-pods.js';
import { deriveChecks, resolveChecks } from './resolve-checks.js';
import { resolveServices } from '../wiring/services.js';
import { contains, formatCidr, formatIp, overlaps, parseCidr, parseIp, type Cidr } from '../net/ipv4.js';
import { labNameProblem, LAB_NAME_MAX, LAB_NAME_RULE } from '../model/grammar.js';
import {
  SERVICE_CIDR,
  type Model,
  type ModelNode,
  type ModelPod,
  type ModelChallenge,
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
import { isRouted } from '../underlay/routing.js';
import type { LabFile } from './schema.js';
import {
  DEFAULT_CLUSTER_CIDR,
  defaultBridge,
  defaultNodeSubnet,
  gatewayOf,
  PRIVATE_BLOCKS,
  SPECIAL_BLOCKS,
  WIDEST_CLUSTER_PREFIX,
} from './defaults.js';
import type { Report } from '../errors.js';

export function resolveLab(lab: LabFile, name: string, file: string, report: Report): Model {
  // A bad `name:` is the schema's to report (the same rule); a name taken from the file's is checked here.
  if (lab.name === undefined && labNameProblem(name))
    report(
      [],
      `lab name "${name}" (taken from the file name; set "name:" to choose another) must be ${LAB_NAME_RULE}, at most ${LAB_NAME_MAX} characters`,
    );
  const cluster = resolveCluster(lab, report);
  // A kind the registry does not know was reported by the schema: resolve the rest as if it were the default.
  const known = (list: readonly { kind: string }[], kind: unknown) => list.some((w) => w.kind === kind);
  const sameNode = known(SAME_NODE, lab.wiring?.['same-node']) ? lab.wiring!['same-node']! : DEFAULT_SAME_NODE;
  const crossNode = known(CROSS_NODE, lab.wiring?.['cross-node']) ? lab.wiring!['cross-node']! : DEFAULT_CROSS_NODE;
  const nodes = resolveNodes(lab, cluster, report);
  const pods = resolvePods(withCountedPods(lab, report), nodes, sameNodeWiring(sameNode), report);
  const underlay = resolveUnderlay(lab.underlay, Boolean(lab.outside), cluster, nodes, pods, report);
  checkWiring(lab, nodes, pods, sameNode, crossNode, report);
  const tunnel = resolveTunnel(lab, crossNode, isRouted({ nodes, ...(underlay ? { underlay } : {}) }), report);
  const services = resolveServices(lab.services, pods, cluster, report);
  const policies = resolvePolicies(lab.policies, pods, report);
  checkOutside(lab.outside?.address, cluster, report);
  if (lab.outside && nodes.some((n) => n.name === 'outside'))
    report(['nodes', 'outside'], 'a node named "outside" in a lab with an outside host; allowed: another name', 'key');
  // What a node does with its pods' traffic (filter, DNAT, masquerade) needs a node their traffic goes through.
  const throughNode = sameNodeWiring(sameNode).routesPodSubnet;
  if (policies.length && !throughNode)
    report(
      ['policies'],
      `policies are enforced in the FORWARD chain of a node that routes or bridges its pods' traffic: they need same-node: bridge; found same-node: ${sameNode}`,
      'key',
    );
  for (const [key, what] of [
    ['services', "Services are the DNAT of the node their pods' traffic goes through: they need"],
    ['outside', "the outside host is reached through the pods' node: it needs"],
  ] as const)
    if (lab[key] && !throughNode)
      report(
        [key],
        `${what} same-node: bridge; found same-node: ${sameNode}, whose pods have no route to their node`,
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
  // Not a prefix: the schema refuses it (the same pattern); the rest is checked against the default.
  if (!cidr) return parseCidr(DEFAULT_CLUSTER_CIDR)!;
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
  const allowed = `allowed: a range of /24 or wider inside ${PRIVATE_BLOCKS.join(', ')} (the private ranges), outside ${SERVICE_CIDR}, such as ${DEFAULT_CLUSTER_CIDR}`;
  if (cidr.prefix < WIDEST_CLUSTER_PREFIX)
    return `wider than /${WIDEST_CLUSTER_PREFIX}: the lab's FORWARD, MASQUERADE and policy rules would match all of it; ${allowed}`;
  const special = SPECIAL_BLOCKS.find(([block]) => overlaps(parseCidr(block)!, cidr));
  if (special) return `which overlaps ${special[0]}, the ${special[1]} addresses; ${allowed}`;
  if (overlaps(parseCidr(SERVICE_CIDR)!, cidr))
    return `which overlaps the Services range ${SERVICE_CIDR} (a Service IP is virtual, never a pod's); ${allowed}`;
  if (!PRIVATE_BLOCKS.some((block) => overlaps(parseCidr(block)!, cidr) && parseCidr(block)!.prefix <= cidr.prefix))
    return `which is not a private range: the lab's routes on the nodes would take over public addresses; ${allowed}`;
  return undefined;
}

function resolveNodes(lab: LabFile, cluster: Cidr, report: Report): ModelNode[] {
  const entries = Object.entries(lab.nodes);
  if (entries.length === 0) report(['nodes'], 'found no nodes; allowed: at least one node, e.g. "node-0: {}"');
  const nodes: ModelNode[] = [];
  const taken: { cidr: Cidr; node: string }[] = [];
  const underlayAddresses = new Map<string, string>();
  entries.forEach(([nodeName, spec], index) => {
    // A bad node name is the schema's to report (its keys follow the same rule). A good one is netlab's: on
    // simulated nodes the underlay's holder is "underlay" (its marker, and the flat bridge); one lab file runs on
    // both targets.
    if (nodeName === 'underlay')
      report(
        ['nodes', nodeName],
        `a node named "underlay": netlab's simulated underlay has that name; allowed: another name`,
        'key',
      );
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
    // An address that is none is the schema's to report (the same pattern).
    if (address !== undefined && parseIp(address) !== undefined) {
      if (underlayAddresses.has(address))
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
  // Each key once: vxlan and flannel share wiring.vxlan.
  const key = crossNodeWiring(crossNode).settings?.key;
  const otherKeys = new Set(CROSS_NODE.flatMap((w) => (w.settings && w.settings.key !== key ? [w.settings.key] : [])));
  for (const other of otherKeys) {
    if (lab.wiring?.[other as keyof NonNullable<LabFile['wiring']>] === undefined) continue;
    const users = CROSS_NODE.filter((w) => w.settings?.key === other).map((w) => w.kind);
    report(
      ['wiring', other],
      `${other} settings are used only with cross-node: ${users.join(' or ')}; found cross-node: ${crossNode}`,
      'key',
    );
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
