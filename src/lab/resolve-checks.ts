// The checks of a lab: its verify section resolved (each end a pod, a node or
// the outside host; each target an address), or, without one, derived from
// the pods and the wiring. Pure; part of resolve.ts.
import { ipOf, IPV4_RULE, looksLikeIpv4, parseIp } from '../net/ipv4.js';
import type { PathSegment } from '../errors.js';
import {
  endpointLabel,
  type Check,
  type ModelNode,
  type ModelPod,
  type ModelService,
  type Source,
  type Target,
} from '../model/lab.js';
import { joinsNodes, SAME_NODE, sameNodeWiring } from '../wiring/registry.js';
import type { LabFile } from './schema.js';
import { didYouMean } from '../model/suggest.js';
import type { Report } from '../errors.js';
import { defaultServiceConnections } from '../verify/stats.js';

/** Above this many pods, derived checks ping a ring instead of every pair. */
const ALL_PAIRS_LIMIT = 12;

export function resolveChecks(
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
        connections: spec.connections ?? defaultServiceConnections(service.backends.length),
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
  return ipOf(pods.find((p) => p.name === to.pod)?.address);
}

/** What a derived TCP check between pods on two nodes sends: about 700 full-size packets. */
export const DERIVED_BULK_BYTES = 1_000_000;

/** Without a verify section: every pod pings every pod it should reach, and each pod answers one TCP connection. */
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
      toAddress: ipOf(b.address!),
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
      toAddress: ipOf(b.address!),
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
        connections: defaultServiceConnections(service.backends.length),
        ...base,
      });
    }
  }
  return checks;
}
