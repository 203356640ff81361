// NetworkPolicies (article 002: "most of them just use iptables"), the way
// policy engines program them: in the filter table, a chain of the lab's
// jumped to first from FORWARD sends each packet of a pod that a policy
// selects to that pod's chain, one for what it may receive (ingress) and one
// for what it may send (egress). A pod chain returns what a rule allows and
// drops the rest: a pod selected by any policy is isolated in that direction,
// and the policies' rules add up. Replies of allowed connections are let
// through first (conntrack ESTABLISHED). Bridged traffic between pods of one
// node passes FORWARD only with br_netfilter; routed traffic between nodes
// passes FORWARD on both nodes: each node enforces the policies of its own pods.
import { kernelNameOf } from '../model/lab.js';
import { EXTENSIONS, labComment } from './netfilter.js';
import type { Model, ModelNode, ModelPod, ModelPolicy, PolicyPeer, PolicyRule } from '../model/lab.js';
import type { ExplainedRule, StepDraft } from '../model/plan.js';
import { step } from '../model/effects.js';
import type { End } from '../model/trace.js';
import { contains, formatCidr, ipOf, parseCidr, parseIp } from '../net/ipv4.js';
import type { Forwarded, WalkContext, WiringParts } from './types.js';

type Direction = 'ingress' | 'egress';

function policyChains(lab: string) {
  return {
    main: `NL-POL-${lab}`,
    // '_' parts lab from pod: a lab name has none, so lab a's pod b-c and lab a-b's pod c never meet.
    pod: (direction: Direction, pod: string) => `NL-P${direction === 'ingress' ? 'I' : 'E'}-${lab}_${pod}`,
  };
}

// ---- the lab file: resolve

/** `policies:` as the schema has checked it. */
export interface PolicySpec {
  'pod-selector': Record<string, string>;
  'policy-types'?: ('Ingress' | 'Egress')[];
  ingress?: RuleSpec[];
  egress?: RuleSpec[];
}
interface RuleSpec {
  from?: PeerSpec[];
  to?: PeerSpec[];
  ports?: { port: number; protocol?: 'tcp' | 'udp' }[];
}
interface PeerSpec {
  'pod-selector'?: Record<string, string>;
  'ip-block'?: string;
}
type PolicyReport = (path: (string | number)[], message: string) => void;

/** Kubernetes' matchLabels: every label of the selector, with its value ({} selects every pod). */
export function selects(selector: Record<string, string>, pod: ModelPod): boolean {
  return Object.entries(selector).every(([key, value]) => pod.labels?.[key] === value);
}

/** The pods (with an address) a selector picks, by name. */
const selected = (selector: Record<string, string>, pods: ModelPod[]) =>
  pods.filter((p) => p.address && selects(selector, p)).map((p) => p.name);

/** A pod's address as iptables matches one host: 10.200.0.2/32. */
const hostOf = (pod: ModelPod) => `${ipOf(pod.address!)}/32`;

function resolvePeer(spec: PeerSpec, pods: ModelPod[], path: (string | number)[], report: PolicyReport) {
  const selector = spec['pod-selector'];
  const block = spec['ip-block'];
  if ((selector === undefined) === (block === undefined)) {
    report(path, 'a peer has exactly one of pod-selector, ip-block');
    return undefined;
  }
  if (selector !== undefined) return { selector, pods: selected(selector, pods) };
  const cidr = parseCidr(block!, false);
  if (!cidr) {
    report([...path, 'ip-block'], `found "${block}"; allowed: an IPv4 prefix such as 10.200.1.0/24`);
    return undefined;
  }
  // As iptables prints it: the network address of the prefix.
  return { cidr: formatCidr(cidr) };
}

/** The policies of a lab, resolved against its pods; problems reported at the field. */
export function resolvePolicies(
  specs: Record<string, PolicySpec> | undefined,
  pods: ModelPod[],
  report: PolicyReport,
): ModelPolicy[] {
  return Object.entries(specs ?? {}).map(([name, spec]) => {
    const path = ['policies', name];
    const rules = (direction: Direction): PolicyRule[] =>
      (spec[direction] ?? []).map((rule, i) => {
        const peersKey = direction === 'ingress' ? 'from' : 'to';
        const peers = (rule[peersKey] ?? []).flatMap((peer, j) => {
          const resolved = resolvePeer(peer, pods, [...path, direction, i, peersKey, j], report);
          return resolved ? [resolved] : [];
        });
        return {
          peers,
          ports: (rule.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'tcp' })),
        };
      });
    // Kubernetes' default: Ingress always, Egress when the policy has egress rules.
    const types = spec['policy-types']
      ? [...new Set(spec['policy-types'].map((t) => t.toLowerCase() as Direction))]
      : (['ingress', ...(spec.egress?.length ? ['egress' as const] : [])] as Direction[]);
    for (const direction of ['ingress', 'egress'] as const)
      if (spec[direction]?.length && !types.includes(direction))
        report(
          [...path, direction],
          `${direction} rules count only with ${direction === 'ingress' ? 'Ingress' : 'Egress'} in policy-types; found policy-types: [${spec['policy-types']!.join(', ')}]`,
        );
    return {
      name,
      selector: spec['pod-selector'],
      pods: selected(spec['pod-selector'], pods),
      types,
      ingress: rules('ingress'),
      egress: rules('egress'),
    };
  });
}

// ---- the plan

/** The addresses a peer stands for, as iptables matches them. */
function peerSources(model: Model, peer: PolicyPeer): string[] {
  if ('cidr' in peer) return [peer.cidr];
  return peer.pods.map((name) => hostOf(model.pods.find((p) => p.name === name)!));
}

/** The policies that isolate a pod in a direction. */
function isolating(model: Model, pod: ModelPod, direction: Direction): ModelPolicy[] {
  return (model.policies ?? []).filter((p) => p.types.includes(direction) && p.pods.includes(pod.name));
}

/** What a new connection sends: ICMP (ping, and traceroute's -I probes) has no port. */
export type Traffic = { protocol: 'icmp' } | { protocol: 'tcp' | 'udp'; port: number };

/** The other end of a connection, as a policy rule matches it: its address, and the pod it is, if it is one. */
export interface PolicyPeerEnd {
  address: string;
  pod?: ModelPod;
}

/** Whether one rule lets traffic with a peer through: any peer (none: anyone), any port (none: every protocol, ICMP too). */
function ruleAllows(rule: PolicyRule, peer: PolicyPeerEnd, traffic: Traffic): boolean {
  const address = parseIp(peer.address)!;
  const peerMatches =
    rule.peers.length === 0 ||
    rule.peers.some((p) =>
      'cidr' in p
        ? contains(parseCidr(p.cidr, false)!, address)
        : peer.pod !== undefined && p.pods.includes(peer.pod.name),
    );
  const portMatches =
    rule.ports.length === 0 ||
    (traffic.protocol !== 'icmp' && rule.ports.some((p) => p.protocol === traffic.protocol && p.port === traffic.port));
  return peerMatches && portMatches;
}

/**
 * Where the lab's policies drop a new connection from a pod to an address (another pod's, or a host's),
 * as the pod chains in FORWARD do: the sender isolated for egress, or a receiving pod for ingress, with no
 * rule of the policies isolating it that allows the traffic; undefined when it passes. (Its replies pass
 * as ESTABLISHED.) Pure: for validate's warning that a check cannot pass.
 */
export function policyDrops(
  model: Model,
  from: ModelPod,
  to: PolicyPeerEnd,
  traffic: Traffic,
): { pod: string; direction: Direction; policies: string[] } | undefined {
  if (!from.address) return undefined;
  const sender = { address: ipOf(from.address), pod: from };
  const ends: [ModelPod, Direction, PolicyPeerEnd][] = [[from, 'egress', to]];
  if (to.pod) ends.push([to.pod, 'ingress', sender]);
  for (const [pod, direction, peer] of ends) {
    const policies = isolating(model, pod, direction);
    if (policies.length && !policies.some((p) => p[direction].some((rule) => ruleAllows(rule, peer, traffic))))
      return { pod: pod.name, direction, policies: policies.map((p) => p.name) };
  }
  return undefined;
}

/** The rules one policy rule becomes in a pod's chain (podRules): its peers' addresses (none: 1) × its ports (none: 1). */
function rulesOf(rule: PolicyRule): number {
  const peers = rule.peers.length ? rule.peers.reduce((n, p) => n + ('cidr' in p ? 1 : p.pods.length), 0) : 1;
  return peers * Math.max(1, rule.ports.length);
}

/**
 * How many rules each node's pod chains would hold, counted from the model
 * without building them (their number is selected pods × peers × ports, which
 * a small file can make millions of): per policy, its rules for each pod it
 * selects on the node, and one DROP per isolated pod and direction. Also the
 * policy that adds the most on each node, for the message that refuses it.
 */
export function policyRuleCounts(model: Model): Map<string, { rules: number; largest?: PolicyShare }> {
  const nodeOf = new Map(model.pods.map((p) => [p.name, p.node]));
  const counts = new Map(
    model.nodes.map((n): [string, { rules: number; largest?: PolicyShare }] => [n.name, { rules: 0 }]),
  );
  for (const direction of ['ingress', 'egress'] as const) {
    const isolated = new Set<string>();
    for (const policy of (model.policies ?? []).filter((p) => p.types.includes(direction))) {
      const each = policy[direction].reduce((n, rule) => n + rulesOf(rule), 0);
      const podsOn = new Map<string, number>();
      for (const pod of policy.pods) {
        isolated.add(pod);
        const node = nodeOf.get(pod)!;
        podsOn.set(node, (podsOn.get(node) ?? 0) + 1);
      }
      for (const [node, pods] of podsOn) {
        const count = counts.get(node)!;
        count.rules += pods * each;
        if (!count.largest || pods * each > count.largest.pods * count.largest.each)
          count.largest = { policy: policy.name, direction, pods, each };
      }
    }
    for (const pod of isolated) counts.get(nodeOf.get(pod)!)!.rules += 1;
  }
  return counts;
}

/** One policy's part of a node's rules: `pods` it selects there × `each` rules per pod. */
export interface PolicyShare {
  policy: string;
  direction: Direction;
  pods: number;
  each: number;
}

/** The rules of a pod's chain: one RETURN per peer address and port each allowing rule names, then DROP. */
function podRules(model: Model, policies: ModelPolicy[], direction: Direction, chain: string): ExplainedRule[] {
  const peerFlag = direction === 'ingress' ? '-s' : '-d';
  const rules = policies.flatMap((policy) =>
    policy[direction].flatMap((rule) => {
      // No peers: from (to) anywhere. A selector that matches no pod allows nothing.
      const peers = rule.peers.length ? rule.peers.flatMap((peer) => peerSources(model, peer)) : [undefined];
      const ports = rule.ports.length ? rule.ports : [undefined];
      return peers.flatMap((peer) =>
        ports.map((port) => ({
          rule: [
            ...(peer ? [peerFlag, peer] : []),
            ...(port ? ['-p', port.protocol, '--dport', String(port.port)] : []),
            '-j',
            'RETURN',
          ],
          explain: `\`-A ${chain} … -j RETURN\`: a packet ${direction === 'ingress' ? 'from' : 'to'} ${peer ?? 'anywhere'}${port ? `, ${port.protocol} port ${port.port}` : ''} is allowed: it returns from the chain and goes on.`,
        })),
      );
    }),
  );
  return [
    ...rules,
    {
      rule: ['-j', 'DROP'],
      explain: `\`-A ${chain} -j DROP\`: the last rule of a pod's chain drops what no rule before it allowed (an isolated pod's default deny).`,
    },
  ];
}

const ESTABLISHED = ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'RETURN'];

function describeRule(rule: PolicyRule, direction: Direction): string {
  const peers = rule.peers.length
    ? rule.peers
        .map((p) =>
          'cidr' in p
            ? p.cidr
            : `pods ${
                Object.entries(p.selector)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(',') || '(all)'
              }`,
        )
        .join(' or ')
    : 'anywhere';
  const ports = rule.ports.length ? ` on ${rule.ports.map((p) => `${p.protocol}/${p.port}`).join(', ')}` : '';
  return `${direction === 'ingress' ? 'from' : 'to'} ${peers}${ports}`;
}

function policySteps(model: Model, node: ModelNode): StepDraft[] {
  if (!model.policies?.length) return [];
  const chains = policyChains(kernelNameOf(model));
  const here = model.pods.filter((p) => p.node === node.name && p.address);
  const podChains = (['egress', 'ingress'] as const).flatMap((direction) =>
    here.flatMap((pod) => {
      const policies = isolating(model, pod, direction);
      return policies.length ? [{ pod, direction, policies, chain: chains.pod(direction, pod.name) }] : [];
    }),
  );
  const all = [chains.main, ...podChains.map((c) => c.chain)];
  const dispatch: ExplainedRule[] = [
    {
      rule: ESTABLISHED,
      explain: `\`-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\`: a packet of a connection conntrack has seen both ways (a reply) leaves ${chains.main} at once, so that an allowed connection works both ways.`,
    },
    ...podChains.map(({ pod, direction, chain }) => {
      const flag = direction === 'ingress' ? '-d' : '-s';
      return {
        rule: [flag, hostOf(pod), '-j', chain],
        explain: `\`-A ${chains.main} ${flag} … -j ${chain}\`: packets ${direction === 'ingress' ? 'to' : 'from'} that pod go to its own chain, ${chain}.`,
      };
    }),
  ];
  return [
    // Services turn it on already; one step per sysctl, so that down puts it back once.
    ...(model.services.length
      ? []
      : [
          step(
            'send bridged traffic through iptables (br_netfilter)',
            'Pods on the same bridge reach each other without routing: their frames are switched, and pass the FORWARD chain (and so the policies) only with net.bridge.bridge-nf-call-iptables=1, which Kubernetes requires.',
            [{ kind: 'sysctl', key: 'net.bridge.bridge-nf-call-iptables', value: '1' }],
          ),
        ]),
    step(
      `create the policy chains of ${node.name}'s pods`,
      `${chains.main} sends each packet of a pod a policy selects to that pod's own chain; netlab's rules live in chains of their own, so that removing the chains removes exactly them.`,
      all.map((name) => ({ kind: 'chain', table: 'filter', name })),
    ),
    ...podChains.map(({ pod, direction, policies, chain }) => {
      const rules = podRules(model, policies, direction, chain);
      const allowed = policies.flatMap((p) => p[direction].map((r) => `${p.name}: ${describeRule(r, direction)}`));
      return step(
        `${direction}: what pod ${pod.name} may ${direction === 'ingress' ? 'receive' : 'send'} (${policies.map((p) => p.name).join(', ')})`,
        `Selected by ${policies.length === 1 ? 'policy' : 'policies'} ${policies.map((p) => p.name).join(', ')}, ${pod.name} is isolated for ${direction}: ${chain} lets through only what a rule allows (${allowed.join('; ') || 'nothing'}) and drops the rest. Each allowing rule returns, so that the other direction's chain is still consulted.`,
        [{ kind: 'rules', table: 'filter', chain, rules }],
      );
    }),
    step(
      `send the packets of ${node.name}'s isolated pods to their chains`,
      `First, replies of connections that were allowed (conntrack ESTABLISHED) go on untouched, as policy engines let them; then each packet to (ingress) or from (egress) a pod with a chain goes there. Packets of other pods are not selected: they pass.`,
      [{ kind: 'rules', table: 'filter', chain: chains.main, rules: dispatch }],
    ),
    step(
      `jump from FORWARD to ${chains.main}`,
      `Inserted first in FORWARD, before the lab's ACCEPT of the cluster CIDR, so that the policies are consulted for every forwarded packet (routed between nodes, or bridged on one with br_netfilter); removed exactly by down.`,
      [
        {
          kind: 'jump',
          table: 'filter',
          from: 'FORWARD',
          to: chains.main,
          comment: labComment(kernelNameOf(model)),
          first: true,
        },
      ],
    ),
  ];
}

// ---- trace

/** The policies behind a pod chain, for trace's hint: "pod db is isolated for ingress by db-from-web". */
function policiesOfChain(model: Model, chain: string): string | undefined {
  const chains = policyChains(kernelNameOf(model));
  for (const pod of model.pods)
    for (const direction of ['ingress', 'egress'] as const)
      if (chains.pod(direction, pod.name) === chain) {
        const names = isolating(model, pod, direction).map((p) => p.name);
        return `pod ${pod.name} is isolated for ${direction} by ${names.join(', ')}: only what their rules allow passes (\`netlab plan\` lists them)`;
      }
  return undefined;
}

/** A drop in a trace by a rule of the policies' chains: which policies isolate which pod. */
function policyForwardDrop(walk: WalkContext, f: Forwarded): End | undefined {
  const { model } = walk;
  if (!model.policies?.length || !isPolicyChain(model, f.rule.chain)) return undefined;
  return walk.end(
    'broken',
    f.place,
    `a NetworkPolicy drops it on ${f.place.node}: \`${f.rule.text}\``,
    policiesOfChain(model, f.rule.chain),
  );
}

/** Whether a chain is one of the lab's policy chains: its main chain or a pod's. */
function isPolicyChain(model: Model, chain: string): boolean {
  const chains = policyChains(kernelNameOf(model));
  return (
    chain === chains.main || chain.startsWith(chains.pod('ingress', '')) || chain.startsWith(chains.pod('egress', ''))
  );
}

// ---- the module

export const policies: WiringParts & { steps: typeof policySteps } = {
  tools: ['iptables', 'sysctl'],
  extensions: [EXTENSIONS.conntrack, EXTENSIONS.comment],
  sysctls: [
    { key: 'net.bridge.bridge-nf-call-iptables', module: 'br_netfilter', why: 'has NetworkPolicies, which need' },
  ],
  steps: policySteps,
  netfilter: { forwardDrop: policyForwardDrop },
  names: (model, node) => {
    if (!model.policies?.length) return [];
    const chains = policyChains(kernelNameOf(model));
    const here = model.pods.filter((p) => p.node === node.name);
    return [chains.main, ...here.flatMap((p) => (['ingress', 'egress'] as const).map((d) => chains.pod(d, p.name)))];
  },
};
