// Services the way kube-proxy's iptables mode writes them (article 001 §5.4,
// article 002): in the nat table, a dispatch chain jumped to from PREROUTING
// and OUTPUT, one chain per Service that picks an endpoint with a cascade of
// `statistic --mode random` rules, and one chain per endpoint that DNATs.
// Every node gets the same rules, written by one iptables-restore --noflush.
import { kernelNameOf, SERVICE_CIDR } from '../model/lab.js';
import { EXTENSIONS, labComment } from './netfilter.js';
import type { Model, ModelPod, ModelService } from '../model/lab.js';
import type { End, Packet } from '../model/trace.js';
import { ruleOption, type Place, type SavedRule } from '../node/tables.js';
import {
  contains,
  formatCidr,
  formatIp,
  ipOf,
  lastAddress,
  nthAddress,
  parseCidr,
  parseIp,
  type Cidr,
} from '../net/ipv4.js';
import { didYouMean } from '../model/suggest.js';
import type { ChainRule, RulesetJump, StepDraft } from '../model/plan.js';
import { dnatRule, step } from '../model/effects.js';
import { masqueradeRule } from './egress.js';
import type { Ingress, NetfilterHooks, ServicesWiring, WalkContext } from './types.js';

/** A Service as a lab file gives it (lab/schema.ts checks its shape; resolveServices, the rest). */
export interface ServiceSpec {
  'cluster-ip'?: string;
  port: number;
  'target-port'?: number;
  protocol?: 'tcp' | 'udp';
  type?: 'ClusterIP' | 'NodePort';
  'node-port'?: number;
  backends: string[];
}
type ServiceReport = (path: (string | number)[], message: string) => void;

/**
 * The lab file's Services, resolved beside the policies (wiring/policies.ts):
 * each a cluster IP in the Services range (given, or the next free one), a
 * port, and pods as backends; every problem reported at its place.
 */
const FIRST_SERVICE_HOST = 2;

export function resolveServices(
  specs: Record<string, ServiceSpec> | undefined,
  pods: ModelPod[],
  cluster: Cidr,
  report: ServiceReport,
): ModelService[] {
  const range = parseCidr(SERVICE_CIDR)!;
  const entries = Object.entries(specs ?? {});
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
    // Every node opens a NodePort for one Service: the first DNAT of two would take the other's connections.
    const nodePort =
      type === 'NodePort' && spec['node-port'] !== undefined ? `node ${protocol}:${spec['node-port']}` : undefined;
    if (nodePort && usedPorts.has(nodePort))
      report(
        [...path, 'node-port'],
        `${spec['node-port']}/${protocol} is already service ${usedPorts.get(nodePort)}'s node port; allowed: another port in 30000-32767`,
      );
    if (nodePort) usedPorts.set(nodePort, name);
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

/** kube-proxy's masquerade mark bit. */
export const MASQ_MARK = '0x4000';

function serviceChains(lab: string) {
  return {
    services: `NL-SERVICES-${lab}`,
    nodePorts: `NL-NODEPORTS-${lab}`,
    markMasq: `NL-MARK-MASQ-${lab}`,
    postrouting: `NL-POSTROUTING-${lab}`,
    service: (s: ModelService) => `NL-SVC-${lab}-${s.index}`,
    endpoint: (s: ModelService, i: number) => `NL-SEP-${lab}-${s.index}-${i + 1}`,
  };
}

/**
 * Probability for rule i (0-based) of n: 1/(n-i). The first rule takes 1/n of
 * all connections, the second 1/(n-1) of the rest, ... the last takes what is
 * left (probability 1, so no statistic match): every endpoint gets 1/n.
 */
export function cascadeProbabilities(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 1 / (n - i));
}

/** kube-proxy prints probabilities with ten decimals. */
export function formatProbability(p: number): string {
  return p.toFixed(10);
}

/** The jumps from built-in chains into netlab's chains: the only rules netlab adds to chains it does not own. */
function jumps(model: Model): RulesetJump[] {
  const c = serviceChains(kernelNameOf(model));
  const comment = labComment(kernelNameOf(model));
  return [
    {
      from: 'PREROUTING',
      to: c.services,
      comment,
      explain: 'packets arriving (from pods, other nodes) look for a Service first',
    },
    { from: 'OUTPUT', to: c.services, comment, explain: 'packets this node sends look for a Service first' },
    {
      from: 'POSTROUTING',
      to: c.postrouting,
      comment,
      explain: 'after routing: masquerade what was marked, and pod traffic leaving the cluster',
    },
  ];
}

/** Every rule in the Services' own chains, in the order iptables-restore appends them. */
function ownRules(model: Model): ChainRule[] {
  const c = serviceChains(kernelNameOf(model));
  const pods = new Map(model.pods.map((p) => [p.name, p]));
  const rules: ChainRule[] = [];
  const rule = (explain: string, chain: string, args: string[]) => rules.push({ chain, rule: args, explain });
  for (const s of model.services) {
    rule(
      `${s.name}: ${s.clusterIp}:${s.port}/${s.protocol} is a virtual IP: no interface has it, only this rule`,
      c.services,
      ['-d', `${s.clusterIp}/32`, '-p', s.protocol, '--dport', String(s.port), '-j', c.service(s)],
    );
  }
  rule("NodePorts: any connection to one of this node's own addresses", c.services, [
    '-m',
    'addrtype',
    '--dst-type',
    'LOCAL',
    '-j',
    c.nodePorts,
  ]);
  for (const s of model.services.filter((s) => s.type === 'NodePort')) {
    rule(
      `${s.name}: NodePort ${s.nodePort} is masqueraded, so the reply comes back through this node to be un-DNATed`,
      c.nodePorts,
      ['-p', s.protocol, '--dport', String(s.nodePort), '-j', c.markMasq],
    );
    rule(`${s.name}: NodePort ${s.nodePort} is load-balanced like the cluster IP`, c.nodePorts, [
      '-p',
      s.protocol,
      '--dport',
      String(s.nodePort),
      '-j',
      c.service(s),
    ]);
  }
  for (const s of model.services) {
    const probabilities = cascadeProbabilities(s.backends.length);
    s.backends.forEach((backend, i) => {
      const p = probabilities[i]!;
      const random = p < 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', formatProbability(p)] : [];
      rule(
        p < 1
          ? `${s.name}: endpoint ${i + 1} of ${s.backends.length} (${backend}) takes 1/${s.backends.length - i} of the connections still unchosen`
          : `${s.name}: the last endpoint (${backend}) takes all that is left`,
        c.service(s),
        [...random, '-j', c.endpoint(s, i)],
      );
    });
    s.backends.forEach((backend, i) => {
      const ip = ipOf(pods.get(backend)!.address!);
      rule(
        `${s.name} → ${backend}: a connection from ${backend} to itself (hairpin) is masqueraded: unmasqueraded, it would reach ${backend} from ${backend}'s own address, which its kernel drops as a martian source (the connection times out)`,
        c.endpoint(s, i),
        ['-s', `${ip}/32`, '-j', c.markMasq],
      );
      rules.push({
        chain: c.endpoint(s, i),
        ...dnatRule({ protocol: s.protocol, address: ip, port: s.targetPort }),
        explain: `${s.name} → ${backend}: rewrite the destination; conntrack rewrites the replies back`,
      });
    });
  }
  rule(
    "mark the connection's first packet for masquerade (a packet mark; nat decides once per connection; kube-proxy uses the same bit)",
    c.markMasq,
    ['-j', 'MARK', '--set-xmark', `${MASQ_MARK}/${MASQ_MARK}`],
  );
  rule(
    'egress: pods reaching outside the cluster CIDR leave with the node address (article 002)',
    c.postrouting,
    masqueradeRule(model),
  );
  rule('only marked connections are masqueraded below', c.postrouting, [
    '-m',
    'mark',
    '!',
    '--mark',
    `${MASQ_MARK}/${MASQ_MARK}`,
    '-j',
    'RETURN',
  ]);
  rule('masquerade marked connections (hairpin, NodePort) to the address of the outgoing interface', c.postrouting, [
    '-j',
    'MASQUERADE',
  ]);
  return rules;
}

/** Every nat chain the Services own. */
function ownChains(model: Model): string[] {
  const c = serviceChains(kernelNameOf(model));
  return [
    c.services,
    c.nodePorts,
    c.markMasq,
    c.postrouting,
    ...model.services.flatMap((s) => [c.service(s), ...s.backends.map((_, i) => c.endpoint(s, i))]),
  ];
}

function serviceSteps(model: Model, node: { name: string }): StepDraft[] {
  if (model.services.length === 0) return [];
  const backendsHere = [...new Set(model.services.flatMap((s) => s.backends))]
    .map((name) => model.pods.find((p) => p.name === name)!)
    .filter((p) => p.node === node.name && p.hostIf);
  return [
    step(
      'send bridged traffic through iptables (br_netfilter)',
      'A client on the same bridge as the chosen backend gets the reply bridged straight back, never seen by conntrack, so it is never un-DNATed and the client drops it. net.bridge.bridge-nf-call-iptables=1 makes bridged frames pass iptables; Kubernetes requires it.',
      [{ kind: 'sysctl', key: 'net.bridge.bridge-nf-call-iptables', value: '1' }],
    ),
    ...backendsHere.map((pod) =>
      step(
        `hairpin mode on ${pod.hostIf}`,
        `When ${pod.name} connects to a Service and is chosen itself, the packet must go back out of the bridge port it came in by; a bridge never does that unless the port is in hairpin mode (what kubelet's hairpin-veth does).`,
        [{ kind: 'hairpin', port: pod.hostIf!, on: true }],
      ),
    ),
    step(
      `program ${model.services.length} Service(s) in the nat table, in one iptables-restore`,
      "All chains and rules in one transaction, as kube-proxy does: --noflush leaves every rule that is not netlab's alone.",
      [
        {
          kind: 'ruleset',
          table: 'nat',
          chains: ownChains(model),
          jumps: jumps(model),
          rules: ownRules(model),
        },
      ],
    ),
  ];
}

// ---- trace: kube-proxy's DNAT, read from the node's live nat table: a packet
// for a Service's cluster IP (or a NodePort on a node's address) is rewritten
// to one endpoint, as the nat rules and conntrack's entry of the probe's own
// connection say.

/** A Service this packet is addressed to, seen from a node: its cluster IP and port, or a NodePort on this node's own address. */
function serviceFor(walk: WalkContext, node: string, packet: Packet): ModelService | undefined {
  if (packet.protocol === 'icmp') return undefined;
  return walk.model.services.find(
    (s) =>
      s.protocol === packet.protocol &&
      ((s.clusterIp === packet.dst && s.port === packet.port) ||
        (s.nodePort !== undefined && s.nodePort === packet.port && walk.facts[node]?.address === packet.dst)),
  );
}

/** kube-proxy's DNAT, read from the node's nat table; conntrack says which endpoint this connection got. */
async function dnat(
  walk: WalkContext,
  place: Place,
  packet: Packet,
  service: ModelService,
  ingress?: Ingress,
): Promise<Packet | End> {
  const chains = serviceChains(kernelNameOf(walk.model));
  const rules = await walk.kernel.natRules(place.node);
  const hook = ingress ? 'PREROUTING' : 'OUTPUT';
  const restoreHint = walk.hint(
    place,
    (d) => d.kind === 'chain' && d.table === 'nat' && d.name === chains.services,
    'programs the Services',
  );
  if (!rules.some((r) => r.chain === hook && r.target === chains.services)) {
    return walk.end(
      'broken',
      place,
      `${hook} in ${place.node}'s nat table does not jump to ${chains.services}: no Service rule is consulted`,
      restoreHint,
    );
  }
  const isNodePort = packet.dst !== service.clusterIp;
  const dispatch = isNodePort
    ? rules.find(
        (r) =>
          r.chain === chains.nodePorts &&
          ruleOption(r, '--dport') === String(packet.port) &&
          r.target === chains.service(service),
      )
    : rules.find(
        (r) =>
          r.chain === chains.services &&
          ruleOption(r, '-d') === `${service.clusterIp}/32` &&
          ruleOption(r, '--dport') === String(packet.port) &&
          r.target === chains.service(service),
      );
  if (!dispatch)
    return walk.end(
      'broken',
      place,
      `no rule in ${isNodePort ? chains.nodePorts : chains.services} sends ${packet.dst}:${packet.port} to ${chains.service(service)}`,
      restoreHint,
    );
  const endpoints = rules
    .filter((r) => r.chain === chains.service(service) && r.target !== undefined)
    .map((r) => {
      const chain = r.target!;
      const probability = ruleOption(r, '--probability');
      const dnat = rules.find((d) => d.chain === chain && d.target === 'DNAT');
      return {
        chain,
        probability: probability ? Number(probability) : 1,
        target: dnat && ruleOption(dnat, '--to-destination'),
        dnatRule: dnat?.text,
      };
    });
  if (endpoints.length === 0 || endpoints.some((e) => !e.target))
    return walk.end('broken', place, `${chains.service(service)} has no endpoint to DNAT to`, restoreHint);
  // Only the entry of trace's own probe says where this packet goes: an older
  // connection from the same source (a verify's) may have got another endpoint.
  const own =
    packet.src && packet.sport !== undefined
      ? (await walk.kernel.connections(place.node, service.protocol, packet.dst, packet.port!)).find(
          (c) => c.src === packet.src && c.sport === packet.sport,
        )
      : undefined;
  const seen = own && `${own.replySrc}:${own.replyPort}`;
  const chosen = endpoints.find((e) => e.target === seen) ?? endpoints[0]!;
  const cascade = endpoints.map((e) => (e.probability >= 1 ? '1' : `1/${Math.round(1 / e.probability)}`)).join(', ');
  const how = own
    ? `conntrack's entry of the probe's own connection, source port ${packet.sport}, went there`
    : packet.sport !== undefined
      ? `conntrack has no entry of the probe's connection (source port ${packet.sport}): the kernel picks at random; following the first`
      : 'no probe was sent: the kernel picks at random; following the first';
  walk.hop(
    place,
    'dnat',
    `${hook} → ${chains.services} → ${isNodePort ? `${chains.nodePorts} → ` : ''}${chains.service(service)} picks one of ${endpoints.length} endpoint(s) (probabilities ${cascade}): ${chosen.chain} rewrites ${packet.dst}:${packet.port} to ${chosen.target} (${how})`,
    chosen.dnatRule,
  );
  // Where the Service's endpoints listen: each backend's address and the targetPort.
  const pods = new Map(walk.model.pods.map((p) => [p.name, ipOf(p.address)]));
  const served = new Set(service.backends.map((b) => `${pods.get(b)}:${service.targetPort}`));
  const stray = endpoints.filter((e) => !served.has(e.target!));
  if (stray.includes(chosen))
    return walk.end(
      'broken',
      place,
      `${chosen.chain} rewrites the destination to ${chosen.target}, where no backend of ${service.name} listens (its backends: ${[...served].join(', ')}): the connection is refused or unanswered`,
      restoreHint,
    );
  if (stray.length)
    walk.warn(
      `${stray.length} of ${endpoints.length} endpoints of ${service.name} send where no backend listens (${stray.map((e) => `${e.chain} → ${e.target}`).join(', ')}): connections that pick ${stray.length > 1 ? 'them' : 'it'} fail`,
      restoreHint,
    );
  const [address, port] = chosen.target!.split(':');
  if (address && address === packet.src) {
    const unmasked = hairpinUnmasked(rules, chains, chosen.chain, address);
    const self = walk.model.pods.find((p) => ipOf(p.address) === address)?.name ?? address;
    if (unmasked)
      return walk.end(
        'broken',
        place,
        `${self} connects to itself through ${service.name}, and the connection is not masqueraded (${unmasked}): the packet comes back into ${self} from its own address ${address}, which ${self}'s kernel drops as a martian source; nothing answers`,
        restoreHint,
      );
  }
  const translated: Packet = { ...packet, dst: address!, port: Number(port), translated: true };
  const bridgePort = ingress?.bridgePort;
  if (bridgePort) {
    // The client came from this node's bridge. With br_netfilter the frame was
    // DNATed in the bridge's own hook and, if the endpoint is on the same
    // bridge, is bridged back (maybe out of the port it came in by: hairpin).
    // Without br_netfilter the reply of an endpoint on the same bridge is
    // bridged straight to the client, never un-DNATed.
    const brNetfilter = (await walk.tables(place)).sysctls['net.bridge.bridge-nf-call-iptables'];
    const backend = walk.model.pods.find((p) => ipOf(p.address) === address);
    const client = walk.model.pods.find((p) => ipOf(p.address) === packet.src);
    const sameBridge =
      backend && client && backend.node === place.node && client.node === place.node && backend.hostIf && client.hostIf;
    if (brNetfilter !== '1' && sameBridge && backend !== client) {
      return walk.end(
        'broken',
        place,
        `the reply from ${address} to ${packet.src} stays on the bridge: with net.bridge.bridge-nf-call-iptables=${brNetfilter} bridged frames skip iptables, so conntrack never rewrites its source back to ${service.clusterIp} and ${client.name} drops it`,
        walk.hint(
          place,
          (d) => d.kind === 'sysctl' && d.key === 'net.bridge.bridge-nf-call-iptables',
          'turns br_netfilter on',
        ),
      );
    }
    if (brNetfilter === '1') translated.bridgedFrom = bridgePort;
  }
  return translated;
}

/**
 * An endpoint chosen for its own connection (hairpin) must be masqueraded:
 * the endpoint chain marks it, the mark chain sets kube-proxy's bit, and the
 * lab's POSTROUTING chain masquerades what carries it. What is missing, if any.
 */
function hairpinUnmasked(
  rules: readonly SavedRule[],
  chains: ReturnType<typeof serviceChains>,
  endpoint: string,
  address: string,
): string | undefined {
  if (
    !rules.some((r) => r.chain === endpoint && ruleOption(r, '-s') === `${address}/32` && r.target === chains.markMasq)
  )
    return `${endpoint} has no rule marking connections from ${address}`;
  if (!rules.some((r) => r.chain === chains.markMasq && r.target === 'MARK' && r.args.includes('--set-xmark')))
    return `${chains.markMasq} marks nothing`;
  // Every connection that reaches the lab's POSTROUTING chain carries the mark: its one rule matches nothing else.
  if (!rules.some((r) => r.chain === chains.postrouting && r.target === 'MASQUERADE' && r.args.length === 2))
    return `${chains.postrouting} has no MASQUERADE for marked connections`;
  return undefined;
}

/** The Services in a trace: a packet for a cluster IP or a NodePort, on a node, DNATed as the nat table says. */
const netfilter: NetfilterHooks = {
  async beforeRouting(walk, place, packet, ingress) {
    if (packet.translated) return undefined;
    const service = serviceFor(walk, place.node, packet);
    return service ? dnat(walk, place, packet, service, ingress) : undefined;
  },
};

// ---- the module

export const services: ServicesWiring = {
  netfilter,
  tools: ['iptables-restore', 'conntrack', 'sysctl'],
  extensions: [
    EXTENSIONS.statistic,
    EXTENSIONS.DNAT,
    EXTENSIONS.MARK,
    EXTENSIONS.mark,
    EXTENSIONS.MASQUERADE,
    EXTENSIONS.comment,
  ],
  // br_netfilter: a module on Debian/Ubuntu kernels, built in on some others.
  sysctls: [{ key: 'net.bridge.bridge-nf-call-iptables', module: 'br_netfilter', why: 'has Services, which need' }],
  steps: serviceSteps,
  names: (model) => (model.services.length ? ownChains(model) : []),
  evidence(model) {
    const chains = serviceChains(kernelNameOf(model));
    return model.services.flatMap((s) => [
      {
        title: `packets sent to each endpoint of ${s.name} (iptables counters of ${chains.service(s)})`,
        argv: ['iptables', '-w', '-t', 'nat', '-L', chains.service(s), '-v', '-n', '-x'],
      },
      {
        title: `a conntrack entry for ${s.name}: original tuple, then the translated reply tuple`,
        argv: ['sh', '-c', `conntrack -L -p ${s.protocol} --orig-dst ${s.clusterIp} 2>/dev/null | head -n 1`],
      },
    ]);
  },
};
