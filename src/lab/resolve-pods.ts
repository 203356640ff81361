// The pods of a lab file: counted pods expanded, each on a node, with an
// address in its node's pod subnet (given, or the next free one). Pure; part
// of resolve.ts.
import { contains, formatIp, lastAddress, nthAddress, parseCidr, parseIp, type Cidr } from '../net/ipv4.js';
import { type ModelNode, type ModelPod } from '../model/lab.js';
import type { SameNodeWiring } from '../wiring/types.js';
import type { LabFile } from './schema.js';
import { didYouMean } from '../model/suggest.js';
import { FIRST_POD_HOST, gatewayOf } from './defaults.js';
import type { Report } from '../errors.js';

/** `nodes.X.pods: N` adds pods pI-0 … pI-(N-1) on the I-th node, as if each were listed under pods:. */
export function withCountedPods(lab: LabFile, report: Report): LabFile {
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

export function resolvePods(lab: LabFile, nodes: ModelNode[], sameNode: SameNodeWiring, report: Report): ModelPod[] {
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
    // A bad pod name is the schema's to report; a counted pod's (p31-1999 at most, within LAB_LIMITS) is one by construction.
    const node = nodes.find((n) => n.name === spec.node);
    if (!node && typeof spec.node === 'string')
      report(
        ['pods', podName, 'node'],
        `unknown node "${spec.node}"${didYouMean(spec.node, nodeNames)}; allowed: ${nodeNames.join(', ') || 'none (the lab has no nodes:)'}`,
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
  // An address that is none is the schema's to report (the same pattern).
  if (ip === undefined) return undefined;
  const path = ['pods', podName, 'ip'];
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
