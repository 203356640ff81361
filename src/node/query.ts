// The one way netlab asks a node what it has: a single script per node answers
// every question (iproute2's JSON, sysctls, iptables, namespaces, the labs
// recorded there), each answer in its own section (a namespace's iproute2
// answers in one, from one `ip -batch`), parsed by tables.ts.
// Preflight's ownership check, facts, diagnosis, evidence, `up --step` and
// trace all ask through here.
import type { Table } from '../model/plan.js';
import { quoteArg, quoteArgv } from '../os/quote.js';
import { NODE_STATE_ROOT } from './paths.js';
import {
  type Address,
  type Connection,
  type FdbEntry,
  type Link,
  type Neighbour,
  parseAddresses,
  parseConnections,
  parseFdb,
  parseLinks,
  parseNeighbours,
  parseRouteGet,
  parseRoutes,
  parseSavedTable,
  parseSysctls,
  type SavedTable,
  type Route,
  type RouteLookup,
} from './tables.js';

/** What to ask about one namespace: the node's own (netns undefined) or a pod's. */
export interface Questions {
  netns?: string;
  links?: boolean;
  addresses?: boolean;
  routes?: boolean;
  neighbours?: boolean;
  /** the bridge and VXLAN forwarding databases (the node's namespace only) */
  fdb?: boolean;
  /** these sysctls ("-" when the node has no such key); of the pod's network namespace with netns */
  sysctls?: readonly string[];
  /** the processes in the pod's network namespace (netns only): PID and command name */
  processes?: boolean;
  /** named network namespaces (ip netns) */
  namespaces?: boolean;
  /** `iptables-save` of the filter and nat tables (true), or of these (a table not asked for reads empty) */
  iptables?: boolean | readonly Table[];
  /** the labs recorded on the node: lab id → "RUN-ID HOST:STATEDIR" */
  runs?: boolean;
  /** the sysctls a challenge of a lab up on the node changed (its fault saved the value it replaced), as they are now */
  sysctlFaults?: boolean;
  /** route lookups (`ip route get`), with the table entry that matched */
  lookups?: readonly string[];
  /** conntrack's entries for connections to an address and port */
  connections?: { protocol: string; dst: string; port: number };
  /** commands whose output (stdout and stderr) is wanted as it is, for a learner to read */
  outputs?: readonly (readonly string[])[];
}

export interface Answers {
  links: Link[];
  addresses: Address[];
  routes: Route[];
  neighbours: Neighbour[];
  fdb: FdbEntry[];
  sysctls: Record<string, string>;
  /** "PID COMM" of each process in a pod's network namespace */
  processes: string[];
  namespaces: string[];
  /** iptables-save, read once, by table */
  iptables: { filter: SavedTable; nat: SavedTable };
  runs: Map<string, string>;
  /** "LAB KEY VALUE": a challenge of a lab up on the node saved the sysctl KEY (its fault), which is VALUE now */
  sysctlFaults: string[];
  /** by destination */
  lookups: Record<string, RouteLookup>;
  connections: Connection[];
  /** one per command of `outputs`, in order */
  outputs: string[];
}

/** Something that runs a script on a node: a transport. */
export interface Runs {
  run(script: string): Promise<{ stdout: string; exitCode: number; stderr: string }>;
}

const MARK = '@@netlab answer';
/** After the last answer: every question was answered whole. */
const END = `${MARK} end`;

/** A section's name: an answer, one half of a route lookup of destination N, or the output of command N. */
type Section = keyof Answers | `get${number}` | `match${number}` | `out${number}`;

/** `ip` with `args`, in the questions' namespace. */
const ipIn = (q: Questions, args: string) => `ip ${q.netns ? `-n ${quoteArg(q.netns)} ` : ''}${args}`;

/** A shell line run in the questions' namespace: what /proc/sys/net and netfilter show is the reader's own. */
const shIn = (q: Questions, line: string) =>
  q.netns ? `nsenter --net=${quoteArg(`/run/netns/${q.netns}`)} sh -c ${quoteArg(line)}` : line;

/** The questions iproute2 answers about one namespace, in the order a batch of them asks. */
const IP_QUESTIONS = [
  ['links', 'link show'],
  ['addresses', 'addr show'],
  ['routes', 'route show table main'],
  ['neighbours', 'neigh show'],
] as const satisfies readonly (readonly [Section, string])[];

/**
 * What `ip` answers about a namespace. More than one question is one `ip -j
 * -batch`: one process instead of one each (1-2 ms apiece, per pod in
 * verify's evidence). iproute2 prints each batch command's JSON on a line of
 * its own, and stops at the first that fails, so the lines are the answers in
 * order; the section's name lists them ("links,addresses,routes"). `-d` is
 * for the links (their kind and bridge port flags); the others only gain
 * fields.
 */
function ipAnswers(q: Questions): [string, string] | undefined {
  const asked = IP_QUESTIONS.filter(([name]) => q[name]);
  if (asked.length === 0) return undefined;
  const ip = ipIn(q, '-j -d');
  if (asked.length === 1) return [asked[0]![0], `${ip} ${asked[0]![1]}`];
  return [
    asked.map(([name]) => name).join(','),
    `printf '%s\\n' ${asked.map(([, c]) => `'${c}'`).join(' ')} | ${ip} -batch -`,
  ];
}

/** Each question's section name (a batch's names joined by commas) and the command that answers it. */
function commandsOf(q: Questions): [string, string][] {
  const ip = (args: string) => ipIn(q, args);
  const asked: [string, string][] = [];
  const ipAsked = ipAnswers(q);
  if (ipAsked) asked.push(ipAsked);
  if (q.fdb) asked.push(['fdb', 'bridge -j fdb show']);
  if (q.sysctls?.length) {
    const keys = quoteArgv([...q.sysctls]);
    const loop = `for k in ${keys}; do echo "$k=$(sysctl -n "$k" 2>/dev/null || echo -)"; done`;
    asked.push(['sysctls', shIn(q, loop)]);
  }
  if (q.processes && q.netns)
    asked.push([
      'processes',
      `for p in $(ip netns pids ${quoteArg(q.netns)}); do echo "$p $(cat /proc/$p/comm)"; done`,
    ]);
  // The shell lists them itself (a glob, sorted as ls sorts): no process.
  if (q.namespaces) asked.push(['namespaces', 'for f in /run/netns/*; do [ ! -e "$f" ] || echo "${f##*/}"; done']);
  // Each table's own "*filter" or "*nat" line starts its part (a table that cannot be read has none).
  if (q.iptables) {
    const tables: readonly Table[] = q.iptables === true ? ['filter', 'nat'] : q.iptables;
    if (tables.length)
      asked.push(['iptables', shIn(q, `for t in ${tables.join(' ')}; do iptables-save -t "$t"; done`)]);
  }
  if (q.runs)
    asked.push([
      'runs',
      // a lab's directory is its kernel name; its "lab" file (netlab_claim) says its lab id
      `for f in ${NODE_STATE_ROOT}/*/run; do [ ! -f "$f" ] || { d=\${f%/run}; l=$(cat "$d/lab" 2>/dev/null) || l=\${d##*/}; echo "$l $(cat "$f")"; }; done`,
    ]);
  if (q.sysctlFaults)
    asked.push([
      'sysctlFaults',
      // netlab_setting_file's name for a sysctl a fault saved: fault-sysctl-KEY, in the lab's directory, its first
      // line the run that saved it. Only a lab up there (its run file) whose run it is, with the sysctl's value now:
      // a file a mend that failed left behind is no challenge of anyone's.
      `for f in ${NODE_STATE_ROOT}/*/fault-sysctl-*; do [ -f "$f" ] || continue; d=\${f%/*}; k=\${f##*/fault-sysctl-}; case $k in -*|*[!A-Za-z0-9._-]*) continue ;; esac; { read -r r _ <"$d/run" && read -r s <"$f" && [ -n "$r" ] && [ "$s" = "$r" ]; } 2>/dev/null || continue; l=$(cat "$d/lab" 2>/dev/null) || l=\${d##*/}; echo "$l $k $(sysctl -n "$k" 2>/dev/null)"; done`,
    ]);
  (q.lookups ?? []).forEach((dst, i) => {
    asked.push(
      [`get${i}`, ip(`-j route get ${quoteArg(dst)}`)],
      [`match${i}`, ip(`-j route show match ${quoteArg(dst)}`)],
    );
  });
  if (q.connections) {
    const { protocol, dst, port } = q.connections;
    asked.push([
      'connections',
      quoteArgv(['conntrack', '-L', '-p', protocol, '--orig-dst', dst, '--dport', String(port)]),
    ]);
  }
  (q.outputs ?? []).forEach((argv, i) => {
    asked.push([`out${i}`, quoteArgv([...argv])]);
  });
  return asked;
}

/** Shell lines that print the answers to each set of questions, each in its own section. */
export function questionLines(asks: readonly Questions[]): string[] {
  // Route lookups keep stderr ("RTNETLINK answers: Network is unreachable" is the answer), and so do outputs.
  return asks.flatMap((q, i) =>
    commandsOf(q).flatMap(([name, command]) => [
      `echo "${MARK} ${i} ${name}"`,
      `${command} 2>${name.startsWith('get') || name.startsWith('out') ? '&1' : '/dev/null'}`,
    ]),
  );
}

function parseAnswer(
  name: Section,
  text: string,
  answers: Partial<Answers>,
  q: Questions,
  raw: Map<string, string>,
): void {
  const lookup = /^(get|match)(\d+)$/.exec(name);
  const output = /^out(\d+)$/.exec(name);
  if (output) {
    answers.outputs = answers.outputs ?? [];
    answers.outputs[Number(output[1])] = text;
    return;
  }
  if (lookup) {
    raw.set(name, text);
    const i = Number(lookup[2]);
    if (raw.has(`get${i}`) && raw.has(`match${i}`)) {
      const got = raw.get(`get${i}`)!;
      const json = got.trim().startsWith('[') ? got : '';
      answers.lookups = {
        ...answers.lookups,
        [q.lookups![i]!]: parseRouteGet(json, raw.get(`match${i}`)!, json ? '' : got),
      };
    }
    return;
  }
  if (name === 'connections') answers.connections = parseConnections(text);
  else if (name === 'links') answers.links = parseLinks(text);
  else if (name === 'addresses') answers.addresses = parseAddresses(text);
  else if (name === 'routes') answers.routes = parseRoutes(text);
  else if (name === 'neighbours') answers.neighbours = parseNeighbours(text);
  else if (name === 'fdb') answers.fdb = parseFdb(text);
  else if (name === 'sysctls') answers.sysctls = parseSysctls(text);
  else if (name === 'processes') answers.processes = text.split('\n').filter((l) => /^\d+ \S/.test(l));
  else if (name === 'namespaces') answers.namespaces = text.split('\n').filter(Boolean);
  else if (name === 'iptables') {
    const tables = { filter: [] as string[], nat: [] as string[] };
    let table: string[] | undefined;
    for (const line of text.split('\n')) {
      // A table's part starts at its "*NAME" line; only filter's and nat's are read.
      if (line.startsWith('*'))
        table = line === '*filter' || line === '*nat' ? tables[line.slice(1) as 'filter' | 'nat'] : undefined;
      else if (line && table) table.push(line);
    }
    answers.iptables = { filter: parseSavedTable(tables.filter), nat: parseSavedTable(tables.nat) };
  } else if (name === 'sysctlFaults') {
    answers.sysctlFaults = text.split('\n').filter(Boolean);
  } else if (name === 'runs') {
    answers.runs = new Map(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => [line.split(' ')[0]!, line.split(' ').slice(1).join(' ')]),
    );
  }
}

/** The output of questionLines, parsed: one Answers per set of questions, and what came before the first answer. */
export function parseAnswers(
  stdout: string,
  asks: readonly Questions[],
): { head: string; answers: Partial<Answers>[] } {
  const answers: Partial<Answers>[] = asks.map(() => ({}));
  const raw = asks.map(() => new Map<string, string>());
  const parts = stdout.split(new RegExp(`^${MARK} (\\d+) (\\w+(?:,\\w+)*)\n?`, 'm'));
  for (let i = 1; i + 2 <= parts.length; i += 3) {
    const index = Number(parts[i]);
    if (!answers[index]) continue;
    const names = parts[i + 1]!.split(',') as Section[];
    const text = parts[i + 2] ?? '';
    // A batch's section (ipAnswers): its answers are its lines, in order; those after a failed one are missing.
    const texts = names.length === 1 ? [text] : text.split('\n');
    names.forEach((name, k) => parseAnswer(name, texts[k] ?? '', answers[index]!, asks[index]!, raw[index]!));
  }
  return { head: parts[0] ?? '', answers };
}

/** A tool's output as its own JSON where it printed JSON (iproute2's -j), else its lines. */
export function toolOutput(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text.split('\n').filter(Boolean);
  }
}

/**
 * Asks a node every question in one script. `head` runs first (a prelude, a
 * caller's own checks); its output comes back as `head`. `failed` says why the
 * script did not answer every question (a node that could not be reached, a
 * sudo that wanted a password, a connection lost half-way), when it did not: a
 * question's own tool failing is its answer, not a failure of the node.
 */
export async function askNode(
  node: Runs,
  asks: readonly Questions[],
  head: readonly string[] = [],
): Promise<{ head: string; answers: Partial<Answers>[]; failed?: string }> {
  return answersOf(await node.run(askScript(asks, head)), asks);
}

/** The script askNode runs: `head`, then the questions. */
export function askScript(asks: readonly Questions[], head: readonly string[] = []): string {
  // The first line ends any line the shell's start printed (a user's .bashrc over SSH, without its newline), which
  // would hide the first answer's mark; the last says the last question's answer is whole (a connection lost, or
  // the output cut, before it is not).
  return `${['echo', 'PATH=$PATH:/usr/sbin:/sbin', ...head, ...questionLines(asks), `echo "${END}"`].join('\n')}\n`;
}

/** What askScript's run answered (an answer run earlier, by the login: exec/facts.ts). */
export function answersOf(
  result: Awaited<ReturnType<Runs['run']>>,
  asks: readonly Questions[],
): { head: string; answers: Partial<Answers>[]; failed?: string } {
  const ended = new RegExp(`^${END}\n?`, 'm');
  const answered = ended.test(result.stdout);
  // Even with exit 0 (a session that ended cleanly before the script did): what did not come back is not an answer.
  const failed = answered
    ? undefined
    : result.stderr.trim() ||
      (result.exitCode === 0 ? 'its answer ended before the last question' : `exit ${result.exitCode}`);
  return { ...parseAnswers(result.stdout.replace(ended, ''), asks), ...(failed ? { failed } : {}) };
}
