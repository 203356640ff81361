// What validate warns about: a lab that is valid, and runs, but surely does not
// do what its author meant (a policy that selects nobody, an MTU the underlay
// cannot carry, a check that cannot pass). Exit 0; `validate --strict` makes
// them errors. Read from the resolved model and the file as written. Pure.
import type { PathSegment } from '../errors.js';
import type { Check, Model, ModelNode, ModelPod } from '../model/lab.js';
import { contains, ipOf, parseCidr, parseIp } from '../net/ipv4.js';
import { crossNodeWiring } from '../wiring/registry.js';
import { ETHERNET_MTU } from '../net/ethernet.js';
import { FLAT_SIMULATED_NETWORK, simulatedFacts } from '../underlay/simulated.js';
import { outsideAddress } from '../underlay/routing.js';
import { policyDrops, type PolicyPeerEnd, type Traffic } from '../wiring/policies.js';
import { answerersOf, podOf } from '../model/answerers.js';
import type { LabFile } from './schema.js';

export interface LabWarning {
  path: PathSegment[];
  message: string;
  /**
   * It holds on simulated nodes, whose underlay's MTU and addresses netlab knows beforehand; a machine's are
   * read at up, and may differ (`up` and `plan` over SSH leave it out; validate speaks of the file, and says it).
   */
  simulated?: true;
}

export function labWarnings(lab: LabFile, model: Model): LabWarning[] {
  return [
    ...policyWarnings(lab, model),
    ...mtuWarnings(model),
    ...checkWarnings(lab, model),
    ...outsideWarnings(lab, model),
  ];
}

const labelsOf = (selector: Record<string, string>) =>
  Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

function policyWarnings(lab: LabFile, model: Model): LabWarning[] {
  const warnings: LabWarning[] = [];
  for (const policy of model.policies ?? []) {
    const spec = lab.policies?.[policy.name];
    if (policy.pods.length === 0)
      warnings.push({
        path: ['policies', policy.name, 'pod-selector'],
        message: `selects no pod: no pod of the lab has the labels ${labelsOf(policy.selector)}, so the policy isolates nothing`,
      });
    for (const direction of ['ingress', 'egress'] as const) {
      const peers = direction === 'ingress' ? 'from' : 'to';
      policy[direction].forEach((rule, r) =>
        rule.peers?.forEach((peer, p) => {
          if ('pods' in peer && peer.pods.length === 0)
            warnings.push({
              path: ['policies', policy.name, direction, r, peers, p, 'pod-selector'],
              message: `matches no pod: no pod of the lab has the labels ${labelsOf(peer.selector)}, so this peer allows nothing`,
            });
        }),
      );
    }
    const types = spec?.['policy-types'] ?? [];
    types.forEach((type, i) => {
      if (types.indexOf(type) !== i)
        warnings.push({
          path: ['policies', policy.name, 'policy-types', i],
          message: `${type} is listed twice; allowed: Ingress and Egress, each once`,
        });
    });
  }
  return warnings;
}

function mtuWarnings(model: Model): LabWarning[] {
  if (model.mtu === undefined) return [];
  const wrap = crossNodeWiring(model.crossNode).encapsulation;
  const fits = ETHERNET_MTU - (wrap?.bytes ?? 0);
  if (model.mtu <= fits) return [];
  const why = wrap
    ? `cross-node: ${model.crossNode} wraps every pod packet in ${wrap.bytes} bytes, so over an underlay of ${ETHERNET_MTU} (simulated nodes'; a machine's is read at up) a pod packet may be at most ${fits}`
    : `the underlay's MTU is ${ETHERNET_MTU} (simulated nodes'; a machine's is read at up)`;
  return [
    {
      path: ['wiring', 'mtu'],
      message: `${model.mtu} is larger than the underlay allows: ${why}; full-size packets are dropped and bulk transfers hang; allowed: at most ${fits}, or no mtu (netlab computes it)`,
      simulated: true,
    },
  ];
}

/** The underlay address of each node on simulated nodes: the lab's own, or the next host of its network from .4. */
function nodeAddresses(model: Model): Map<string, string> {
  return new Map(Object.entries(simulatedFacts(model)).map(([node, facts]) => [node, facts.address]));
}

function nodeOfPod(model: Model, pod: string): ModelNode | undefined {
  const name = model.pods.find((p) => p.name === pod)?.node;
  return model.nodes.find((n) => n.name === name);
}

function checkWarnings(lab: LabFile, model: Model): LabWarning[] {
  // Only the checks written in the file: derived checks follow the wiring.
  if (!lab.verify || lab.verify.length !== model.checks.length) return [];
  const warnings: LabWarning[] = [];
  const addresses = nodeAddresses(model);
  const cluster = parseCidr(model.clusterCidr)!;
  const networks = [FLAT_SIMULATED_NETWORK, ...(model.underlay?.networks.map((n) => n.cidr) ?? [])].map((c) =>
    parseCidr(c)!,
  );
  model.checks.forEach((check: Check, i) => {
    if (check.expect !== 'pass') return;
    const kind = check.kind;
    const from =
      'pod' in check.from
        ? nodeOfPod(model, check.from.pod)
        : model.nodes.find((n) => n.name === (check.from as { node: string }).node);
    const to =
      'pod' in check.to
        ? nodeOfPod(model, check.to.pod)
        : 'node' in check.to
          ? model.nodes.find((n) => n.name === (check.to as { node: string }).node)
          : undefined;
    const fromPod = 'pod' in check.from ? check.from.pod : undefined;
    const toPod = 'pod' in check.to ? check.to.pod : undefined;
    if (model.crossNode === 'none' && fromPod && toPod && from && to && from !== to)
      warnings.push({
        path: ['verify', i, kind],
        message: `${fromPod} is on ${from.name} and ${toPod} on ${to.name}, but cross-node: none joins no nodes: this check cannot pass; set wiring.cross-node, or expect: fail`,
      });
    const dropped = fromPod && policyDropsCheck(model, check, fromPod);
    if (dropped) warnings.push({ path: ['verify', i, kind], message: dropped });
    if ('address' in check.to) {
      const ip = parseIp(check.to.address);
      if (ip === undefined) return;
      const known =
        contains(parseCidr('127.0.0.0/8')!, ip) ||
        contains(cluster, ip) ||
        networks.some((n) => contains(n, ip)) ||
        [...addresses.values()].includes(check.to.address) ||
        model.services.some((s) => s.clusterIp === (check.to as { address: string }).address) ||
        model.outside?.address === check.to.address;
      if (!known)
        warnings.push({
          path: ['verify', i, kind, 'to'],
          message: `${check.to.address} is no address of the lab (not in the cluster CIDR ${model.clusterCidr}, on the underlay, or the outside host's): nothing in the lab routes to it, so this check cannot pass; expect: fail if that is meant`,
          // (a machine's underlay, read at up, may be another network than the simulated nodes')
          simulated: true,
        });
    }
  });
  return warnings;
}

/**
 * Why the lab's NetworkPolicies drop a check's new connections from a pod: to the pods that answer it
 * (answerersOf: the pod it names, by name or address, or a Service's backends after its DNAT, on their
 * target port, whether the check names the Service or its ClusterIP), a pod it pings, or the outside host;
 * undefined when they let it through. A check within one pod goes over its loopback and never reaches
 * FORWARD, where the policies are; checks to a node are not judged (its address is the machine's, and a
 * NodePort's connection may leave the node with its address).
 */
function policyDropsCheck(model: Model, check: Check, fromPod: string): string | undefined {
  const from = podNamed(model, fromPod);
  if (!from?.address || !model.policies?.length || 'node' in check.to) return undefined;
  for (const { to, traffic, service } of policyTargets(model, check, from)) {
    const dropped = policyDrops(model, from, to, traffic);
    if (!dropped) continue;
    const what =
      traffic.protocol === 'icmp'
        ? 'ICMP'
        : `${traffic.protocol}/${traffic.port}${service ? ` (Service ${service}'s target port)` : ''}`;
    const peer = dropped.direction === 'ingress' ? `from ${from.name}` : `to ${to.pod?.name ?? to.address}`;
    return `a NetworkPolicy drops this check's packets: pod ${dropped.pod} is isolated for ${dropped.direction} by ${dropped.policies.join(', ')}, and none of ${dropped.policies.length > 1 ? 'their' : 'its'} rules allows ${what} ${peer}; this check cannot pass; allow it in a policy, or expect: fail`;
  }
  return undefined;
}

/** Where a check's packets from a pod go, past any Service's DNAT, and as what traffic; never the pod itself. */
function policyTargets(
  model: Model,
  check: Check,
  from: ModelPod,
): { to: PolicyPeerEnd; traffic: Traffic; service?: string }[] {
  /** a pod of the lab as a policy's peer: by its address (none: only its loopback; or the sender itself: none) */
  const peer = (name: string | undefined) => {
    const pod = name === undefined ? undefined : podNamed(model, name);
    return pod?.address && pod !== from ? [{ address: ipOf(pod.address), pod }] : [];
  };
  const answerers = answerersOf(model, check);
  if (answerers) {
    const service = answerers.service;
    const traffic: Traffic = { protocol: service?.protocol ?? 'tcp', port: answerers.port };
    return answerers.pods.flatMap((name) =>
      peer(name).map((to) => ({ to, traffic, ...(service ? { service: service.name } : {}) })),
    );
  }
  const traffic: Traffic = check.kind === 'tcp' ? { protocol: 'tcp', port: check.port! } : { protocol: 'icmp' };
  const to = check.to;
  if ('outside' in to && model.outside)
    // Its address as on simulated nodes when the lab gives none (a machine's is read at up): it counts for a
    // rule with an ipBlock only.
    return [{ to: { address: outsideAddress(model, simulatedFacts(model)) }, traffic }];
  const name = podOf(model, to);
  if (name !== undefined) return peer(name).map((end) => ({ to: end, traffic }));
  if ('address' in to && to.address === model.outside?.address) return [{ to: { address: to.address }, traffic }];
  return [];
}

function podNamed(model: Model, name: string): ModelPod | undefined {
  return model.pods.find((p) => p.name === name);
}

function outsideWarnings(lab: LabFile, model: Model): LabWarning[] {
  const address = model.outside?.address;
  if (!address || !lab.outside) return [];
  // (a node's given address: simulated nodes without one take none the outside host has, simulatedFacts)
  const node = [...nodeAddresses(model)].find(([, a]) => a === address)?.[0];
  if (!node) return [];
  return [
    {
      path: ['outside', 'address'],
      message: `${address} is node ${node}'s underlay address: the outside host must be another host; allowed: an address of the underlay that no node has`,
    },
  ];
}
