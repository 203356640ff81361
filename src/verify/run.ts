// Running checks: start a TCP responder in every pod a check connects to, run
// the checks from each client's node (nodes in parallel), then stop the
// responders. Three scripts per node, whatever the number of checks.
import { randomBytes } from 'node:crypto';
import { labIdOf } from '../model/lab.js';
import { outsideAddress } from '../underlay/routing.js';
import { endpointLabel, nodeOfSource, type Check, type Model, type ModelService } from '../model/lab.js';
import type { NodeFacts, Plan } from '../model/plan.js';
import { scriptPrelude, SERVICE_GIVE_UP } from '../shell/prelude.js';
import { quoteArgv } from '../os/quote.js';
import type { Transports } from '../exec/transports.js';
import { Interrupted, RunError } from '../errors.js';
import { planOnce, type PlanOnce } from '../plan/build.js';
import { fewestConnections, isPlausibleSpread, spreadBound } from './stats.js';
import { answerersOf, podOf, serviceOf } from '../model/answerers.js';
import { ipOf } from '../net/ipv4.js';

export interface CheckResult {
  check: Check;
  /** did the packet or connection get through (tcp to a pod: did that pod answer; service: every backend, plausibly spread) */
  reached: boolean;
  ok: boolean;
  evidence: string;
  /** service checks: answers per backend pod, and "-" for failed connections */
  answers?: Record<string, number>;
  /** the check's number in the lab (1-based), for `verify --check N` */
  number?: number;
  /** verify's deadline passed before the check ran (or finished) */
  timedOut?: boolean;
}

interface Listener {
  pod: string;
  port: number;
  node: string;
}

/**
 * A check spread over a Service's backends (many connections; every backend must
 * answer): a Service check, and a tcp check to a NodePort or a ClusterIP of a
 * Service of several backends, where one connection would reach one backend only
 * (a NodePort broken for the other would pass half the time). Not a bulk check
 * (bytes), nor trace's probe: one connection from a source port it chose.
 */
export function spreadOf(model: Model, check: Check): { service: ModelService; connections: number } | undefined {
  const overService =
    check.kind === 'service' ||
    (check.kind === 'tcp' && !check.bytes && !check.sourcePort && podOf(model, check.to) === undefined);
  const service = overService ? serviceOf(model, check) : undefined;
  if (!service || (check.kind === 'tcp' && service.backends.length < 2)) return undefined;
  return { service, connections: check.connections ?? fewestConnections(service.backends.length) };
}

/** Responders: whoever answers each tcp and Service check. */
function listenersFor(model: Model, checks: readonly Check[]): Listener[] {
  const seen = new Map<string, Listener>();
  for (const check of checks) {
    const answerers = answerersOf(model, check);
    for (const name of answerers?.pods ?? []) {
      const pod = model.pods.find((p) => p.name === name)!;
      seen.set(`${pod.name}:${answerers!.port}`, { pod: pod.name, port: answerers!.port, node: pod.node });
    }
  }
  return [...seen.values()];
}

function byNode<T>(items: readonly T[], nodeOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(nodeOf(item), [...(groups.get(nodeOf(item)) ?? []), item]);
  return groups;
}

export function addressOf(check: Check, facts: Record<string, NodeFacts>): string {
  if (check.toAddress !== undefined) return check.toAddress;
  if ('node' in check.to) return facts[check.to.node]!.address;
  if ('outside' in check.to) return outsideAddress({}, facts);
  throw new Error(`internal error: no address for ${endpointLabel(check.to)}`);
}

/** What a node's check commands need beyond the check: the lab's addresses, and how far traceroute goes. */
interface CheckContext {
  model: Model;
  facts: Record<string, NodeFacts>;
  /** traceroute's most hops: 6, or the lab's routers and 3 more (the two nodes and the target) */
  traceHops: number;
}

function checkContext(model: Model, facts: Record<string, NodeFacts>): CheckContext {
  return { model, facts, traceHops: Math.max(6, (model.underlay?.routers.length ?? 0) + 3) };
}

function checkCommand(check: Check, index: number, { model, facts, traceHops }: CheckContext): string {
  const where = 'pod' in check.from ? check.from.pod : '-';
  const address = addressOf(check, facts);
  const spread = spreadOf(model, check);
  if (spread)
    return quoteArgv([
      'netlab_service_check',
      String(index),
      where,
      address,
      String(check.port),
      String(spread.connections),
    ]);
  return quoteArgv([
    'netlab_check',
    String(index),
    check.kind,
    where,
    address,
    // A path that works answers within milliseconds, or after about 1 s when its first ARP
    // request or SYN was lost (the kernel resends both after 1 s, as on a busy VXLAN underlay):
    // every check waits 2 s, one that must fail too, or an open path would pass as closed.
    String(CHECK_WAIT_SECONDS),
    ...(check.kind === 'traceroute' ? [String(traceHops)] : []),
    ...(check.port ? [String(check.port), check.sourcePort ? String(check.sourcePort) : '-'] : []),
    ...(check.port && check.bytes ? [String(check.bytes)] : []),
  ]);
}

/** How long a check waits for an answer (or a connection), in seconds. */
const CHECK_WAIT_SECONDS = 2;

/**
 * A node's checks as lines of its script. Those that must pass run one after the
 * other (a working path answers at once); those that must fail each wait their full
 * time, so they run side by side, and the script waits for exactly them (by PID).
 */
function checkLines(items: readonly { check: Check; index: number }[], context: CheckContext): string[] {
  const mustFail = items.filter(({ check }) => check.expect === 'fail');
  return [
    ...items
      .filter(({ check }) => check.expect !== 'fail')
      .map(({ check, index }) => checkCommand(check, index, context)),
    ...(mustFail.length
      ? [
          'netlab_waiting=""',
          ...mustFail.map(
            ({ check, index }) => `${checkCommand(check, index, context)} & netlab_waiting="$netlab_waiting $!"`,
          ),
          'wait $netlab_waiting',
        ]
      : []),
  ];
}

/** verify's overall deadline when none is given: a broken Service on a large lab must not run for hours. */
export const DEFAULT_VERIFY_TIMEOUT = 120;

export async function runChecks(
  model: Model,
  facts: Record<string, NodeFacts>,
  transports: Transports,
  {
    checks = model.checks,
    timeoutSeconds = DEFAULT_VERIFY_TIMEOUT,
    plan = planOnce(model, facts),
    stop,
  }: {
    /** default: the lab's */
    checks?: readonly Check[];
    timeoutSeconds?: number;
    /** the command's plan, built once (plan/once.ts) */
    plan?: PlanOnce;
    /** aborted (a Ctrl-C): the checks stop, their TCP responders are stopped, and Interrupted is thrown */
    stop?: AbortSignal | undefined;
  } = {},
): Promise<CheckResult[]> {
  const listeners = byNode(listenersFor(model, checks), (l) => l.node);
  // This run's responders, apart from those of another run on the same lab (netlab_listen).
  const run = randomBytes(4).toString('hex');
  const runOn = async (groups: Map<string, string[]>, options: { signal?: AbortSignal } = {}) =>
    Object.fromEntries(
      await Promise.all(
        [...groups].map(
          async ([node, lines]) =>
            [
              node,
              await transports[node]!.run(`${scriptPrelude(labIdOf(model))}\n${lines.join('\n')}\n`, options),
            ] as const,
        ),
      ),
    );
  const startedAt = Date.now();

  try {
    const started = await runOn(
      new Map(
        [...listeners].map(([node, ls]) => [
          node,
          ls.map((l) => `${quoteArgv(['netlab_listen', l.pod, String(l.port), run])} || exit 1`),
        ]),
      ),
    );
    // A Ctrl-C meanwhile (on simulated nodes it may have killed netlab_listen's shells too): stopped, not failed.
    if (stop?.aborted) throw new Interrupted();
    for (const [node, result] of Object.entries(started)) {
      if (result.exitCode !== 0)
        throw new RunError(`${node}: cannot start the TCP responders for verify: ${result.stderr.trim()}`);
    }
    const indexed = checks.map((check, index) => ({ check, index }));
    const groups = byNode(indexed, ({ check }) => nodeOfSource(model, check.from));
    // Each node checks the deadline before every check (its own clock: the seconds that are left);
    // a node script that still runs well past it is stopped here.
    const left = Math.max(1, Math.ceil(timeoutSeconds - (Date.now() - startedAt) / 1000));
    const deadline = `NETLAB_DEADLINE=$(($(date +%s) + ${left}))`;
    const ended = new AbortController();
    const end = () => ended.abort();
    const late = setTimeout(end, (left + 15) * 1000);
    stop?.addEventListener('abort', end);
    // (a listener added to a signal already aborted is never called)
    if (stop?.aborted) end();
    const outputs = await runOn(
      new Map([...groups].map(([node, items]) => [node, [deadline, ...checkLines(items, checkContext(model, facts))]])),
      { signal: ended.signal },
    ).finally(() => {
      clearTimeout(late);
      stop?.removeEventListener('abort', end);
    });
    if (stop?.aborted) throw new Interrupted();
    const parsed = new Map<number, { rc: number; out: string[]; answers: string[]; timedOut?: boolean }>();
    const entry = (id: number) => parsed.get(id) ?? parsed.set(id, { rc: -1, out: [], answers: [] }).get(id)!;
    for (const result of Object.values(outputs)) {
      for (const line of result.stdout.split('\n')) {
        let m = /^@@netlab check (\d+) (\d+|timeout)$/.exec(line);
        if (m)
          Object.assign(entry(Number(m[1])), m[2] === 'timeout' ? { rc: 0, timedOut: true } : { rc: Number(m[2]) });
        m = /^@@netlab out (\d+) ?(.*)$/.exec(line);
        if (m) entry(Number(m[1])).out.push(m[2]!);
        m = /^@@netlab answer (\d+) (.*)$/.exec(line);
        if (m) entry(Number(m[1])).answers.push(m[2]!.trim());
      }
    }
    let addresses: Record<string, string[]> | undefined;
    return indexed.map(({ check, index }) => {
      const result = parsed.get(index);
      if (!result || result.rc < 0) {
        const stderr = outputs[nodeOfSource(model, check.from)]?.stderr ?? '';
        return { check, reached: false, ok: false, evidence: `the check did not run: ${stderr.trim() || 'no output'}` };
      }
      if (result.timedOut) {
        const done = result.answers.length
          ? ` after ${result.answers.length} of ${spreadOf(model, check)?.connections} connections`
          : '';
        return {
          check,
          reached: false,
          ok: false,
          timedOut: true,
          evidence: `stopped by verify's deadline (${timeoutSeconds} s, --timeout)${done}`,
        };
      }
      // 126 and 127: the shell could not run the check (netlab_in without the pod's pause
      // process, a tool missing): neither reached nor not, so failed whatever it expects.
      if (result.rc === 126 || result.rc === 127) {
        const why = result.out
          .map((l) => l.trim())
          .filter(Boolean)
          .join('; ');
        return { check, reached: false, ok: false, evidence: `the check did not run: ${why || `exit ${result.rc}`}` };
      }
      if (spreadOf(model, check)) return judgeService(model, check, result.answers);
      if (check.kind === 'traceroute')
        return judgeTraceroute(
          check,
          addressOf(check, facts),
          result.out,
          (addresses ??= hopAddresses(model, facts, plan())),
        );
      return judge(check, result, podOf(model, check.to), addressOf(check, facts), () =>
        ownerElsewhere(model, facts, check, (addresses ??= hopAddresses(model, facts, plan()))),
      );
    });
  } finally {
    await runOn(
      new Map(
        [...listeners].map(([node, ls]) => [
          node,
          ls.map((l) => quoteArgv(['netlab_unlisten', l.pod, String(l.port), run])),
        ]),
      ),
    );
  }
}

/**
 * A ping or tcp check's verdict; `expected`: the pod that must answer a tcp check (none: any of a Service's
 * backends); `address`: where it was sent; `elsewhere`: the namespace other than the sender's that has it.
 */
function judge(
  check: Check,
  result: { rc: number; out: string[] },
  expected: string | undefined,
  address: string,
  elsewhere: () => string | undefined,
): CheckResult {
  const text = result.out.filter((l) => l.trim() !== '');
  let reached = result.rc === 0;
  let evidence: string;
  if (check.kind === 'ping') {
    const rtt = text.find((l) => l.includes('time='));
    const lost = /(\d+) packets transmitted, (\d+) received/.exec(text.join('\n'));
    const unanswered =
      lost && lost[1] !== lost[2] ? ` (${Number(lost[1]) - Number(lost[2])} of ${lost[1]} unanswered)` : '';
    // Another pod's or a node's address that the sender has as its own (an `ip addr add` there) answers from
    // the sender.
    const owner = reached && text.includes('netlab: answered locally') ? elsewhere() : undefined;
    if (owner) reached = false;
    evidence = owner
      ? `answered by ${endpointLabel(check.from)} itself: ${address} is an address of its own (ip route get says local), so the ping never reached ${owner}`
      : reached && rtt
        ? `reply ${/time=\S+ ms/.exec(rtt)?.[0] ?? rtt}${unanswered}`
        : (text.find((l) => /loss|unreachable|Network/.test(l)) ?? (text.join(' ') || 'no reply'));
  } else {
    // The responder's answer: its pod's name, then the bytes it took (a bulk check needs them all).
    const [answer = '', took] = result.rc === 0 ? text.map((l) => l.trim()) : [text.join(' ').trim()];
    if (reached && expected !== undefined && answer !== expected) reached = false;
    if (reached && answer === '') reached = false;
    const whole = !check.bytes || took === String(check.bytes);
    evidence = !reached
      ? answer && result.rc === 0
        ? `answered by ${answer}, expected ${expected}`
        : answer.replace(/^\S+ \S+ socat\[\d+\] E /, '') || 'no answer'
      : whole
        ? `${check.bytes ? `took ${check.bytes} bytes, ` : ''}answered by ${answer}`
        : `answered by ${answer}, but took ${took ?? 'nothing'} of ${check.bytes} bytes (stalled: are full-size packets dropped?)`;
    reached &&= whole;
  }
  return { check, reached, ok: reached === (check.expect === 'pass'), evidence };
}

/**
 * Who a local answer to a ping is not from, when it is not the sender's own address: the pod, node or outside
 * host the check names or whose address it is (or the bare address, where the lab gives it to no one). None
 * where the address is the sender's own (a pod's, a node's underlay, bridge or tunnel address, 127/8).
 */
function ownerElsewhere(
  model: Model,
  facts: Record<string, NodeFacts>,
  check: Check,
  nodeAddresses: Record<string, string[]>,
): string | undefined {
  const address = addressOf(check, facts);
  const { from, to } = check;
  const own =
    'pod' in from
      ? ipOf(model.pods.find((p) => p.name === from.pod)?.address) === address || ('pod' in to && to.pod === from.pod)
      : (nodeAddresses[from.node] ?? []).includes(address) || ('node' in to && to.node === from.node);
  if (own || address.startsWith('127.')) return undefined;
  const meant = meantTarget(to, address, (a) => addressOwner(model, facts, nodeAddresses, a));
  if (meant === undefined) return address;
  return 'pod' in meant ? `pod ${meant.pod}` : 'node' in meant ? meant.node : 'the outside host';
}

/**
 * Where a check or a trace is meant to reach: the pod or node it names, else whoever the lab gives the address it
 * goes to (`owner`: addressOwner); verify and trace judge an answer from elsewhere by it.
 */
export function meantTarget(
  to: object,
  address: string,
  owner: (address: string) => ReturnType<typeof addressOwner>,
): ReturnType<typeof addressOwner> {
  if ('pod' in to && typeof to.pod === 'string') return { pod: to.pod };
  if ('node' in to && typeof to.node === 'string') return { node: to.node };
  return owner(address);
}

/** The pod, node (or router) or outside host the lab gives an address to, if any (nodeAddresses: hopAddresses). */
export function addressOwner(
  model: Model,
  facts: Record<string, NodeFacts>,
  nodeAddresses: Record<string, string[]>,
  address: string,
): { pod: string } | { node: string } | { outside: true } | undefined {
  const pod = model.pods.find((p) => ipOf(p.address) === address);
  if (pod) return { pod: pod.name };
  const node = Object.entries(nodeAddresses).find(([, list]) => list.includes(address))?.[0];
  if (node) return { node };
  return model.outside && outsideAddress(model, facts) === address ? { outside: true } : undefined;
}

/** Every IPv4 address of each node (its underlay address, and what the plan gives its bridge and tunnels) and router. */
export function hopAddresses(model: Model, facts: Record<string, NodeFacts>, plan: Plan): Record<string, string[]> {
  return Object.fromEntries([
    ...plan.nodes.map((n) => [
      n.node,
      [
        facts[n.node]!.address,
        ...n.steps.flatMap((s) =>
          s.creates.flatMap((c) => (c.kind === 'address' && !c.netns ? [ipOf(c.address)] : [])),
        ),
      ],
    ]),
    ...(model.underlay?.routers ?? []).map((r) => [r.name, Object.values(r.addresses)]),
  ]);
}

/**
 * A traceroute check: the target answers last, and the hops before it are the
 * nodes of `via`, in order (each answers from one of its addresses: Linux
 * sends "time exceeded" from the address of the interface back towards the
 * sender). A hop that does not answer is "*".
 */
export function judgeTraceroute(
  check: Check,
  target: string,
  out: string[],
  addresses: Record<string, string[]>,
): CheckResult {
  const hops = out.flatMap((line) => {
    const m = /^\s*(\d+)\s+(\S+)/.exec(line);
    return m ? [m[2]!] : [];
  });
  const ownerOf = (address: string) => Object.entries(addresses).find(([, list]) => list.includes(address))?.[0];
  const named = hops.map((h) => (h === '*' ? '*' : ownerOf(h) ? `${h} (${ownerOf(h)})` : h));
  const arrived = hops.at(-1) === target;
  const routers = hops.slice(0, -1).map((h) => ownerOf(h) ?? h);
  const viaOk = check.via === undefined || JSON.stringify(routers) === JSON.stringify(check.via);
  const reached = arrived && viaOk;
  const path = named.length ? named.join(' → ') : out.join(' ').trim() || 'no hops';
  // netlab_traceroute traced again a second later: a router rate-limits its "time exceeded"
  const again = out.some((line) => line.startsWith('netlab: traced again'))
    ? ' (traced twice: a hop was silent the first time)'
    : '';
  const evidence = !arrived
    ? `did not arrive: ${path}`
    : viaOk
      ? `hops: ${path}${again}`
      : `arrived by another way: ${path}${again}; expected via ${check.via!.join(', ') || 'no router'}`;
  return { check, reached, ok: reached === (check.expect === 'pass'), evidence };
}

/** A check spread over a Service's backends (spreadOf): every connection answered, by every backend, plausibly evenly. */
export function judgeService(model: Model, check: Check, answers: string[]): CheckResult {
  const { service, connections } = spreadOf(model, check)!;
  const counts: Record<string, number> = Object.fromEntries(service.backends.map((b) => [b, 0]));
  let failed = 0;
  const strangers: string[] = [];
  for (const answer of answers) {
    if (answer === '-') failed++;
    else if (answer in counts) counts[answer]! += 1;
    else strangers.push(answer);
  }
  const answered = service.backends.map((b) => counts[b]!);
  const plausible = isPlausibleSpread(answered);
  const reached =
    failed === 0 &&
    strangers.length === 0 &&
    answered.every((c) => c > 0) &&
    plausible &&
    answers.length === connections;
  const bound = spreadBound(answers.length - failed, service.backends.length);
  const spread = service.backends.map((b) => `${b} ${counts[b]}`).join(', ');
  const gaveUp = answers.length < connections && failed >= SERVICE_GIVE_UP;
  const fewest = fewestConnections(service.backends.length);
  const tooFew = connections < fewest;
  const problems = [
    failed
      ? `${failed} failed${gaveUp ? ` (stopped there: the other ${connections - answers.length} were not tried)` : ''}`
      : '',
    strangers.length ? `unexpected answers from ${[...new Set(strangers)].join(', ')}` : '',
    answered.some((c) => c === 0)
      ? `not answered by ${service.backends.filter((b) => counts[b] === 0).join(', ')}${tooFew ? ` (${connections} connections are too few to be sure: ${fewest} or more leave no backend unanswered by chance)` : ''}`
      : '',
    !plausible ? `spread outside ${bound.low.toFixed(1)}-${bound.high.toFixed(1)} per backend` : '',
  ].filter(Boolean);
  const evidence = `${answers.length} connections: ${spread}${problems.length ? `; ${problems.join('; ')}` : ` (each within ${bound.low.toFixed(1)}-${bound.high.toFixed(1)})`}`;
  return { check, reached, ok: reached === (check.expect === 'pass'), evidence, answers: { ...counts, '-': failed } };
}

export function describeCheck(check: Check): string {
  const to = endpointLabel(check.to);
  const target =
    check.kind === 'tcp'
      ? `${to}:${check.port}`
      : check.kind === 'service'
        ? `${to} (${check.toAddress}:${check.port})`
        : to;
  const address = check.kind !== 'service' && 'pod' in check.to ? ` (${check.toAddress})` : '';
  const bulk = check.bytes ? `, ${check.bytes} bytes` : '';
  const via = check.via ? ` via ${check.via.join(', ') || 'no router'}` : '';
  return `${check.kind} ${endpointLabel(check.from)} → ${target}${address}${bulk}${via}`;
}
