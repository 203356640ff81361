// `netlab trace FROM TO`: name resolution, the optional first packet that
// makes the kernel learn ARP and FDB entries, the walk, and its rendering.
import chalk from 'chalk';
import type { Check, Model, ModelPod, Source, Target } from '../model/lab.js';
import { nodeOfSource } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import { planOnce, type PlanOnce } from '../plan/build.js';
import type { Transports } from '../exec/transports.js';
import { ipOf, parseIp } from '../net/ipv4.js';
import { escapeControls, UsageError } from '../errors.js';
import { addressOf, addressOwner, hopAddresses, meantTarget, runChecks } from '../verify/run.js';
import { outsideAddress } from '../underlay/routing.js';
import { podMtu } from '../wiring/mtu.js';
import { ETHERNET_MTU } from '../net/ethernet.js';
import { crossNodeWiring, tunnelHops } from '../wiring/registry.js';
import { LiveKernel, type Kernel, type Place } from './kernel.js';
import { TraceWalk, type Packet, type Trace } from './walk.js';
import type { Problem } from '../model/trace.js';

export interface TraceRequest {
  from: Place;
  /** what the packet is for: a pod, a Service, or an address (a node's is its underlay address) */
  to: Target;
  /** how the learner named the source and destination */
  fromLabel: string;
  toLabel: string;
  packet: Packet;
}

function podAddress(model: Model, name: string): string | undefined {
  return ipOf(model.pods.find((p) => p.name === name)?.address);
}

/** FROM: a pod (or pod/container: same namespace) or a node. */
/** The pod a FROM or TO of `pod` or `pod/container` names (undefined: no pod); a container it lacks is refused. */
function podNamed(model: Model, text: string): ModelPod | undefined {
  const [name, container] = text.split('/');
  const pod = model.pods.find((p) => p.name === name);
  if (pod && container !== undefined && !pod.containers.some((c) => c.name === container))
    throw new UsageError(
      `pod ${pod.name} has no container "${container}" (containers: ${pod.containers.map((c) => c.name).join(', ') || 'none'})`,
    );
  return pod;
}

export function resolveSource(model: Model, from: string): Place {
  const pod = podNamed(model, from);
  if (pod) return { node: pod.node, pod: pod.name };
  if (model.nodes.some((n) => n.name === from)) return { node: from };
  throw new UsageError(
    `FROM is a pod, pod/container or node of lab ${model.name}; found "${from}" (pods: ${model.pods
      .slice(0, 8)
      .map((p) => p.name)
      .join(', ')}${model.pods.length > 8 ? ', …' : ''}; nodes: ${model.nodes.map((n) => n.name).join(', ')})`,
  );
}

/** trace's --size and --port, as numbers. */
export interface TraceNumbers {
  bytes?: number;
  portNumber?: number;
}

/** trace's --port and --size as numbers, or what is wrong with them (bad input, exit 2). */
export function traceNumbers(port?: string, size?: string): TraceNumbers {
  const bytes = size === undefined ? undefined : Number(size);
  // 68: the smallest MTU IPv4 allows a link (RFC 791); 65535: the largest IPv4 packet.
  if (bytes !== undefined && (!Number.isInteger(bytes) || bytes < 68 || bytes > 65535))
    throw new UsageError(`--size takes an IP packet size of 68-65535 bytes; found ${size}`);
  const portNumber = port === undefined ? undefined : Number(port);
  if (portNumber !== undefined && (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535))
    throw new UsageError(`--port takes 1-65535; found ${port}`);
  return { bytes, portNumber };
}

/** TO: a pod, pod/container, node, Service (by name) or IPv4 address; --port makes it TCP (numbers: traceNumbers). */
export function resolveRequest(
  model: Model,
  facts: Record<string, NodeFacts>,
  from: string,
  to: string,
  numbers: TraceNumbers = {},
): TraceRequest {
  const source = resolveSource(model, from);
  const bytes = numbers.bytes;
  let portNumber = numbers.portNumber;
  const src = source.pod ? podAddress(model, source.pod) : facts[source.node]?.address;
  const service = model.services.find((s) => s.name === to || s.clusterIp === to);
  const toPod = podNamed(model, to);
  let dst: string | undefined;
  if (service && !toPod) {
    dst = service.clusterIp;
    portNumber ??= service.port;
  } else if (toPod) {
    // Containers of one pod share its namespace: between them, the pod's loopback.
    if (!toPod.address && toPod.name !== source.pod)
      throw new UsageError(`pod ${toPod.name} has only a loopback interface: it is reachable only from inside itself`);
    dst = toPod.name === source.pod ? '127.0.0.1' : podAddress(model, toPod.name);
  } else if (model.nodes.some((n) => n.name === to)) dst = facts[to]!.address;
  else if (to === 'outside' && model.outside) dst = outsideAddress(model, facts);
  else if (parseIp(to) !== undefined) dst = to;
  if (dst === undefined) {
    throw new UsageError(
      `TO is a pod, node, Service or IPv4 address of lab ${model.name}; found "${to}"${model.services.length ? ` (services: ${model.services.map((s) => s.name).join(', ')})` : ''}`,
    );
  }
  const protocol = portNumber === undefined ? 'icmp' : (service?.protocol ?? 'tcp');
  const packet: Packet = {
    dst,
    protocol,
    ...(src ? { src } : {}),
    ...(portNumber !== undefined ? { port: portNumber } : {}),
    ...(bytes !== undefined ? { size: bytes } : {}),
  };
  const toNode = !service && !toPod && model.nodes.some((n) => n.name === to);
  const target: Target =
    service && !toPod
      ? { service: service.name }
      : toPod
        ? { pod: toPod.name }
        : toNode
          ? { node: to }
          : { address: dst };
  return {
    from: source,
    to: target,
    fromLabel: from,
    toLabel: service && !toPod ? `service ${service.name}` : to,
    packet,
  };
}

/** The packet a verify check sends. */
export function requestOfCheck(model: Model, facts: Record<string, NodeFacts>, check: Check): TraceRequest {
  const from: Place =
    'pod' in check.from ? { node: nodeOfSource(model, check.from), pod: check.from.pod } : { node: check.from.node };
  const src = from.pod ? podAddress(model, from.pod) : facts[from.node]?.address;
  const packet: Packet = {
    dst: addressOf(check, facts),
    protocol: check.port ? 'tcp' : 'icmp',
    ...(src ? { src } : {}),
    ...(check.port ? { port: check.port } : {}),
    // A bulk transfer sends full-size segments: as large as the sender's MTU.
    ...(check.bytes ? { size: podMtu(model, crossNodeWiring(model.crossNode), facts)?.mtu ?? ETHERNET_MTU } : {}),
  };
  return {
    from,
    to: check.to,
    fromLabel: 'pod' in check.from ? check.from.pod : check.from.node,
    toLabel: packet.dst,
    packet,
  };
}

/**
 * One ping, or one TCP connection answered by a responder in the target pod or
 * the Service's endpoints (a refused connection would leave no conntrack entry
 * to show the DNAT choice), so that ARP, the FDBs and conntrack hold this path.
 * None to a UDP port (undefined).
 */
export interface Probe {
  text: string;
  answered: boolean;
  /** how it went: "answered (…)" or "no answer (…)", with the evidence */
  result: string;
  /** the TCP connection's source port: its conntrack entry is the one the walk follows */
  sourcePort?: number;
}

/**
 * Source ports for trace's TCP probe, at random: below Linux's ephemeral range (32768-60999), so the kernel
 * gives none of them to a connect() of its own, and the conntrack entry of the probe's port is the probe's.
 */
export function* randomProbePorts(): Generator<number> {
  for (;;) yield 20000 + Math.floor(Math.random() * 10000);
}

/**
 * How many source ports the probe tries: a port of that range can still be taken in the pod, by a program
 * of the user's, or by an earlier trace's connection in TIME_WAIT (60 s) that drew the same one.
 */
const PROBE_PORT_TRIES = 5;

/** socat could not bind the source port it was given (socat's own words; the reason after them is the C library's, in the node's language). */
const boundNot = (evidence: string): boolean => evidence.includes('bind(');

export async function sendFirst(
  model: Model,
  facts: Record<string, NodeFacts>,
  transports: Transports,
  request: TraceRequest,
  /** aborted: the probe stops, with its TCP responder (runChecks) */
  stop?: AbortSignal,
  ports: Iterator<number> = randomProbePorts(),
): Promise<Probe | undefined> {
  const { packet, from } = request;
  // A UDP Service's port: nothing answers a datagram that could be waited for, and a TCP connection would find no
  // rule of it. The walk reads the tables alone (its DNAT hop says no probe was sent).
  if (packet.protocol === 'udp') return undefined;
  const source: Source = from.pod ? { pod: from.pod } : { node: from.node };
  const send = async (sourcePort: number | undefined) => {
    const check: Check = {
      kind: packet.protocol === 'icmp' ? 'ping' : 'tcp',
      from: source,
      to: request.to,
      toAddress: packet.dst,
      ...(packet.port ? { port: packet.port } : {}),
      ...(sourcePort ? { sourcePort } : {}),
      expect: 'pass',
      derived: false,
    };
    const [checked] = await runChecks(model, facts, transports, { checks: [check], stop });
    return checked!;
  };
  if (packet.protocol === 'icmp') return probeOf(`a ping (two echo requests) to ${packet.dst}`, await send(undefined));
  let sourcePort = ports.next().value as number;
  let checked = await send(sourcePort);
  const taken: number[] = [];
  while (!checked.reached && boundNot(checked.evidence) && taken.length < PROBE_PORT_TRIES - 1 && !stop?.aborted) {
    taken.push(sourcePort);
    sourcePort = ports.next().value as number;
    checked = await send(sourcePort);
  }
  const tried = taken.length
    ? ` (${taken.join(', ')} ${taken.length === 1 ? 'was' : 'were'} taken in ${from.pod ? `pod ${from.pod}` : from.node})`
    : '';
  return {
    ...probeOf(`one TCP connection to ${packet.dst}:${packet.port} from source port ${sourcePort}${tried}`, checked),
    sourcePort,
  };
}

function probeOf(what: string, checked: { reached: boolean; evidence: string }): Probe {
  const result = `${checked.reached ? 'answered' : 'no answer'} (${checked.evidence})`;
  return {
    text: `sent ${what} first, so that ARP, the FDBs and conntrack hold this path: ${result}`,
    answered: checked.reached,
    result,
  };
}

/** The walk gets there, and so does its reply when it has one. */
export function walkedThrough(trace: Trace): boolean {
  return trace.outcome === 'delivered' && (!trace.reply || trace.reply.outcome === 'delivered');
}

/**
 * The probe, then the walk through the tables it left; once more when the probe was
 * answered and the walk does not get through. The probe's own packets can change the
 * tables after its last one, so that the walk reads a path the probe did not take:
 * - a pod whose reply went by its gateway, the node, is sent an ICMP redirect, and the
 *   node rate-limits the redirects it sends each host (each waits twice as long as the
 *   one before, and none after nine until some 20 s pass without one), so it may come
 *   only with the last reply;
 * - a neighbour entry in the PROBE state still carries packets to the address it knew,
 *   and turns FAILED when its unicast ARP probes went unanswered, which can be just
 *   after the replies it carried.
 * The kernel asks by ARP again at the next packet to a FAILED neighbour: the second
 * probe is that packet. A second walk that still does not get through is reported as it
 * is, and a second probe that cannot be sent leaves the first probe's walk.
 */
export async function probeAndWalk(
  sendProbe: () => Promise<Probe | undefined>,
  walk: (probe: Probe | undefined) => Promise<Trace>,
): Promise<{ probe: Probe | undefined; trace: Trace }> {
  const first = await sendProbe();
  const trace = await walk(first);
  if (!first?.answered || walkedThrough(trace)) return { probe: first, trace };
  let again: Probe | undefined;
  try {
    again = await sendProbe();
  } catch {
    return { probe: first, trace };
  }
  if (!again) return { probe: first, trace };
  const port = again.sourcePort ? ` from source port ${again.sourcePort}` : '';
  const probe = {
    ...again,
    text: `${first.text}; the walk did not get through the tables it left, so it was sent again${port}: ${again.result}`,
  };
  return { probe, trace: await walk(probe) };
}

/** When the walk through the tables says the packet gets there but the probe got no answer, the two disagree: say so. */
export function probeDisagrees(trace: Trace, probe: Probe | undefined): string[] {
  if (!probe || probe.answered || !walkedThrough(trace)) return [];
  return [
    `${chalk.red('✗ but the probe got no answer:')} the tables say this path works, yet nothing came back.`,
    "  What the walk does not read is where to look: the program that should answer (is it listening?), a filter rule outside the lab's chains, an MTU.",
  ];
}

/**
 * The packet's path, then its reply's: a ping or a connection needs both. A
 * Service's reply is left out: conntrack un-DNATs it, and the DNAT hop already
 * checks what the reply needs (br_netfilter when it stays on one bridge).
 */
export async function traceRequest(
  model: Model,
  facts: Record<string, NodeFacts>,
  transports: Transports,
  request: TraceRequest,
  kernel: Kernel = new LiveKernel(model, transports),
  planOf: PlanOnce = planOnce(model, facts),
): Promise<Trace> {
  const plan = planOf();
  const walked = await new TraceWalk(model, facts, plan, kernel).run(request.from, request.packet);
  const elsewhere = deliveredElsewhere(request, walked, (address) =>
    addressOwner(model, facts, hopAddresses(model, facts, plan), address),
  );
  const trace: Trace = elsewhere ? { ...walked, outcome: 'broken', problem: elsewhere } : walked;
  // Translated on the way (DNAT to a Service's endpoint, SNAT to the outside): conntrack carries the reply back.
  const translated = trace.hops.some((h) => h.kind === 'dnat' || h.kind === 'snat' || h.kind === 'outside');
  const { src, dst, protocol } = request.packet;
  if (trace.outcome !== 'delivered' || translated || !src || src === dst || dst.startsWith('127.')) return trace;
  const reply = await new TraceWalk(model, facts, plan, kernel).run(trace.at!, {
    src: dst,
    dst: src,
    protocol,
    translated: true,
    reply: true,
  });
  return { ...trace, reply };
}

/**
 * A packet delivered, but not where it was meant to go: the destination's address is also on another
 * namespace on the way (a learner's `ip addr add` of it on the wrong pod or interface), which takes it as
 * its own. Meant: the pod or node named, or whose address it is (`owner`: verify's addressOwner); a packet
 * DNATed on the way (a Service's, a NodePort's) goes where DNAT sent it (the walk's dnat hop names the endpoint).
 */
export function deliveredElsewhere(
  request: TraceRequest,
  trace: Trace,
  owner: (address: string) => ReturnType<typeof addressOwner>,
): Problem | undefined {
  const at = trace.at;
  if (trace.outcome !== 'delivered' || !at || trace.hops.some((h) => h.kind === 'dnat')) return undefined;
  const meant = meantTarget(request.to, request.packet.dst, owner);
  if (!meant || 'outside' in meant) return undefined;
  if ('pod' in meant ? at.pod === meant.pod : !at.pod && at.node === meant.node) return undefined;
  const where = at.pod ? `pod ${at.pod}` : at.node;
  const intended = 'pod' in meant ? `pod ${meant.pod}` : `node ${meant.node}`;
  return {
    node: at.node,
    where,
    reason: `${where} has ${request.packet.dst} as an address of its own and takes the packet: it never reaches ${intended}`,
    hint: `\`netlab exec ${at.pod ?? at.node} -- ip -br addr\` shows where ${where} has it; the lab gives ${request.packet.dst} to ${intended} alone`,
  };
}

export function renderTrace(request: TraceRequest, trace: Trace, lab: string): string[] {
  const { packet } = request;
  const what = packet.protocol === 'icmp' ? 'ICMP' : `${packet.protocol.toUpperCase()} port ${packet.port}`;
  const lines = [
    `trace ${request.fromLabel} → ${request.toLabel} (${packet.src ?? '?'} → ${packet.dst}, ${what}) in lab ${lab}`,
  ];
  const whereWidth = Math.max(...trace.hops.map((h) => h.where.length), 6);
  const kindWidth = Math.max(...trace.hops.map((h) => h.kind.length), 5);
  trace.hops.forEach((hop, i) => {
    lines.push(
      `${String(i + 1).padStart(3)}  ${hop.where.padEnd(whereWidth)}  ${chalk.cyan(hop.kind.padEnd(kindWidth))}  ${escapeControls(hop.text, true)}`,
    );
    if (hop.entry)
      lines.push(
        `${' '.repeat(3 + 2 + whereWidth + 2 + kindWidth + 2)}${chalk.dim(`entry: ${escapeControls(hop.entry, true)}`)}`,
      );
  });
  const view = tracerouteView(trace);
  if (view) lines.push(chalk.dim(view));
  lines.push(...describeOutcome(trace));
  return lines;
}

/**
 * What traceroute shows of a walk. Only a node that routes the packet (a
 * `forward` hop) decrements its TTL, so TTL n expires at the nth of them,
 * which answers "time exceeded"; a bridge, a veth, the hops inside one node
 * and a tunnel's underlay cost no TTL and never show (the outer packet has a
 * TTL of its own, and only the tunnel's ends see the inner one).
 */
export function tracerouteView(trace: Trace): string | undefined {
  const forwards = trace.hops.flatMap((hop, i) => (hop.kind === 'forward' ? [{ node: hop.node, hop: i + 1 }] : []));
  const parts = forwards.map((f, i) => `TTL ${i + 1} expires at ${f.node} (hop ${f.hop})`);
  // A walk that left for the outside host ends at the node that sent it there: the outside host answers.
  const last = trace.hops.at(-1);
  const reached = last?.kind === 'outside' ? 'the outside host' : (last?.where ?? 'the destination');
  if (trace.outcome === 'delivered' && trace.at) parts.push(`TTL ${forwards.length + 1} reaches ${reached}`);
  if (parts.length === 0) return undefined;
  // A tunnel's hops are named by its devices' kind (wiring modules' trace.linkKind).
  const tunnel = trace.hops.some((h) => tunnelHops(h.kind) !== undefined)
    ? '; the underlay inside the tunnel is no hop of it'
    : '';
  return `traceroute's view: ${parts.join(', ')}${tunnel}`;
}

function pathOf(trace: Trace): string {
  return trace.hops
    .map((h) => h.where)
    .filter((where, i, all) => where !== all[i - 1])
    .join(' → ');
}

export function describeOutcome(trace: Trace): string[] {
  const caveats = [trace, ...(trace.reply ? [trace.reply] : [])].flatMap((t) =>
    t.caveat
      ? [
          chalk.yellow(`⚠ ${escapeControls(t.caveat.reason, true)}`),
          ...(t.caveat.hint ? [`  ${escapeControls(t.caveat.hint, true)}`] : []),
        ]
      : [],
  );
  return [...outcomeLines(trace), ...caveats];
}

function outcomeLines(trace: Trace): string[] {
  const problem = trace.problem;
  if (trace.outcome === 'delivered') {
    if (!trace.reply) return [chalk.green('✓ delivered')];
    if (trace.reply.outcome === 'delivered')
      return [chalk.green(`✓ delivered, and the reply comes back (${pathOf(trace.reply)})`)];
    return [
      chalk.yellow('✓ delivered, but the reply does not come back:'),
      ...outcomeLines(trace.reply).map((l) => `  ${l}`),
    ];
  }
  const mark =
    trace.outcome === 'broken'
      ? chalk.red('✗ broken')
      : trace.outcome === 'unknown'
        ? chalk.yellow('? not learned yet')
        : chalk.yellow('→ leaves the lab');
  return [
    `${mark} at ${problem!.where}${problem!.where === problem!.node ? '' : ` on ${problem!.node}`}: ${escapeControls(problem!.reason, true)}`,
    ...(problem!.hint ? [`  ${escapeControls(problem!.hint, true)}`] : []),
  ];
}
