// The commands a learner uses to look inside: graph, show, capture.
import { labIdOf } from '../model/lab.js';
import { printJson } from '../json-output.js';
import { wantsSsh, type TargetOptions } from '../exec/targets.js';
import { closeSync } from 'node:fs';
import chalk from 'chalk';
import { exitCodeOf, run, startReader, terminalSignalsToChild } from '../exec/spawn.js';
import type { Model, ModelPod } from '../model/lab.js';
import type { Transport } from '../exec/transport.js';
import type { LabState } from '../state/store.js';
import { graphData, renderDot, renderMermaid, renderText, type LiveNames } from '../workshop/graph.js';
import { inPod, scriptPrelude, terminalScript } from '../shell/prelude.js';
import { quoteArgv } from '../os/quote.js';
import { findLabWith, labModelOf, requireNodeAccess } from './common.js';
import { routerTransport, traceTransportsOf, transportOf, transportsOf } from '../exec/transports.js';
import type { Probe, TraceRequest } from '../trace/trace.js';
import { crossNodeWiring, wiringOf } from '../wiring/registry.js';
import { askNode, toolOutput } from '../node/query.js';
import { openOutputFile } from '../os/output-file.js';
import { pcapReaderArgs, pcapStreamCommand } from '../shell/packet-capture.js';
import { escapeControls, EXIT_INTERRUPTED, RunError, shown, UsageError } from '../errors.js';
import { mayEnterNodes } from '../exec/userns.js';
import { newRunTag, stopTaggedScript } from '../exec/run-tag.js';
import { outputMayBeGone } from '../os/hangup.js';
import { ipOf } from '../net/ipv4.js';

/** Interface names as the kernel shows them (veth-a0@if4), for every node and pod of a lab that is up. */
async function liveNames(state: LabState): Promise<LiveNames> {
  const names: LiveNames = {};
  const transports = transportsOf(state);
  await Promise.all(
    state.model.nodes.map(async (node) => {
      const pods = state.model.pods.filter((p) => p.node === node.name && p.podIf);
      const { answers } = await askNode(transports[node.name]!, [
        { links: true },
        ...pods.map((p) => ({ netns: p.netns, links: true })),
      ]);
      const scopes = [node.name, ...pods.map((p) => p.name)];
      answers.forEach((answer, i) => {
        // `ip link` shows a link with a peer (a veth end) as NAME@ifPEER.
        for (const link of answer.links ?? [])
          names[`${scopes[i]}/${link.ifname}`] =
            link.peerIndex !== undefined ? `${link.ifname}@if${link.peerIndex}` : link.ifname;
      });
    }),
  );
  return names;
}

export async function graphCommand(
  arg: string,
  options: { format?: string; output?: string; json?: boolean } & TargetOptions,
): Promise<number> {
  const format = options.json ? 'json' : (options.format ?? 'text');
  if (!['text', 'mermaid', 'dot', 'svg', 'json'].includes(format))
    throw new UsageError(`--format takes text, mermaid, dot, svg or json; found ${shown(format)}`);
  const found = await labModelOf(arg, options);
  const { state } = found;
  // A lab not up, drawn for machines over SSH: their facts (underlay interface and address), as plan shows them.
  const { model, facts } =
    !state && wantsSsh(options) ? await (await import('../lifecycle/up.js')).prepareSsh(found.model, options) : found;
  const canLook = state && (state.target.kind === 'ssh' || mayEnterNodes(state.target));
  const names = canLook ? await liveNames(state!) : {};
  if (format === 'json') printJson({ lab: labIdOf(model), ...graphData(model, facts, names) });
  else if (format === 'text') process.stdout.write(renderText(model, facts, names));
  else if (format === 'mermaid') process.stdout.write(renderMermaid(model, facts, names));
  else if (format === 'dot') process.stdout.write(renderDot(model, facts, names));
  else {
    const result = await run('dot', ['-Tsvg'], { input: renderDot(model, facts, names) });
    // A tool missing is no bad input: exit 1, as capture's tcpdump.
    if (result.exitCode !== 0)
      throw new RunError(
        `rendering SVG needs Graphviz's dot (apt-get install graphviz): ${String(result.stderr).trim() || 'not found'}`,
      );
    process.stdout.write(String(result.stdout));
  }
  return 0;
}

/** A command of a table as shown, and for --json the same table in the tool's own JSON where it has one. */
interface TableCommand {
  text: string[];
  json: string[];
}

/** iproute2's `ip` and `bridge` print JSON with -j. */
const iproute2 = (tool: 'ip' | 'bridge', ...args: string[]): TableCommand => ({
  text: [tool, ...args],
  json: [tool, '-j', ...args],
});
/** `ip`'s brief form (-br, for people; its JSON is the full one). */
const brief = (options: string[], object: string): TableCommand => ({
  text: ['ip', ...options, '-br', object],
  json: ['ip', '-j', ...options, object],
});
/** A tool without JSON: its lines. */
const lines = (...argv: string[]): TableCommand => ({ text: argv, json: argv });

const TABLES: Record<string, { node: TableCommand[]; pod: TableCommand[] }> = {
  links: {
    node: [brief(['-d'], 'link'), brief([], 'addr')],
    pod: [brief([], 'link'), brief([], 'addr')],
  },
  routes: { node: [iproute2('ip', 'route')], pod: [iproute2('ip', 'route')] },
  neigh: { node: [iproute2('ip', 'neigh')], pod: [iproute2('ip', 'neigh')] },
  fdb: { node: [iproute2('bridge', 'fdb', 'show')], pod: [] },
  iptables: { node: [lines('iptables-save')], pod: [lines('iptables-save')] },
  conntrack: { node: [lines('conntrack', '-L')], pod: [] },
};

/** Names of netlab's objects on a node, to highlight them in tables. */
function ownNames(model: Model, node: string): string[] {
  const n = model.nodes.find((x) => x.name === node)!;
  const pods = model.pods.filter((p) => p.node === node).flatMap((p) => [p.hostIf, p.podIf, ipOf(p.address)]);
  return [...wiringOf(model).flatMap((w) => w.names?.(model, n) ?? []), ...pods].filter((x): x is string => Boolean(x));
}

/** A pod, a node or (on simulated nodes) a router of the lab, by name, and the transport that reaches it. */
function placeNamed(
  state: LabState,
  name: string,
): { pod?: ModelPod; node: string; transport: Transport; router: boolean } {
  const pod = state.model.pods.find((p) => p.name === name);
  const node = pod?.node ?? state.model.nodes.find((n) => n.name === name)?.name;
  if (node) return { ...(pod ? { pod } : {}), node, transport: transportOf(state, node), router: false };
  const router = routerTransport(state, name);
  if (router) return { node: name, transport: router, router: true };
  throw new UsageError(`lab ${state.lab} has no pod, node or router "${name}"`);
}

export async function showCommand(
  target: string,
  table: string | undefined,
  options: { lab?: string; json?: boolean },
): Promise<number> {
  const kind = table ?? 'links';
  if (!TABLES[kind]) throw new UsageError(`unknown table "${kind}"; tables: ${Object.keys(TABLES).join(', ')}`);
  const state = await findLabWith(target, options);
  requireNodeAccess('show', state.target);
  const { pod, node, transport, router } = placeNamed(state, target);
  const shownCommands = pod ? TABLES[kind]!.pod : TABLES[kind]!.node;
  if (shownCommands.length === 0)
    throw new UsageError(`the ${kind} table is a node's; try \`netlab show ${pod!.node} ${kind}\``);
  const commands = shownCommands.map((c) => (options.json ? c.json : c.text));
  // The tables as the tools print them, asked in one script (a pod's run in its namespaces by the prelude's netlab_in).
  const { answers, failed } = await askNode(
    transport,
    [{ outputs: commands.map((c) => inPod(c, pod)) }],
    pod ? [scriptPrelude(state.lab)] : [],
  );
  if (failed) throw new RunError(`cannot read ${node}'s tables: ${failed}`);
  // netlab made nothing in a router to highlight.
  const own = router ? [] : ownNames(state.model, node);
  const outputs = answers[0]!.outputs ?? [];
  if (options.json) {
    printJson({
      lab: state.lab,
      node,
      ...(pod ? { pod: pod.name } : {}),
      table: kind,
      own,
      outputs: commands.map((command, i) => ({ command, output: toolOutput(outputs[i] ?? '') })),
    });
    return outputs.length === commands.length ? 0 : 1;
  }
  console.log(`${pod ? `pod ${pod.name} on ${node}` : node}: ${kind} (netlab's objects highlighted)`);
  for (const line of renderTables(commands, outputs, own)) console.log(line);
  return outputs.length === commands.length ? 0 : 1;
}

/** Each command of a table, then what it printed on the node, with the lines naming netlab's objects (own) highlighted. */
export function renderTables(commands: string[][], outputs: string[], own: string[]): string[] {
  const highlight = (line: string) =>
    own.some((name) => new RegExp(`(^|[^\\w.-])${name.replace(/[.]/g, '\\.')}([^\\w.-]|$)`).test(line))
      ? chalk.bold.cyan(line)
      : line;
  return commands.flatMap((c, i) => [
    chalk.dim(`$ ${c.join(' ')}`),
    ...(outputs[i] ?? '')
      .split('\n')
      .filter(Boolean)
      .map((line) => highlight(escapeControls(line, true))),
  ]);
}

const FILTER = /^[A-Za-z0-9 .:/_()!&|<>=-]*$/;

export async function captureCommand(
  target: string,
  iface: string | undefined,
  options: { count?: string; timeout?: string; seconds?: string; filter?: string; lab?: string; write?: string },
): Promise<number> {
  // The options first: what they say is wrong without the lab (a lab not up is said after them).
  if (options.write === '-' && process.stdout.isTTY)
    throw new UsageError(
      'capture -w - writes pcap to stdout, which is a terminal here: pipe it (`netlab capture node-0 -w - | wireshark -k -i -`), or --write FILE',
    );
  const count = Number(options.count ?? 10);
  const timeout = options.timeout ?? options.seconds;
  const seconds = Number(timeout ?? 15);
  if (!Number.isInteger(count) || count < 1 || count > 10000)
    throw new UsageError(`--count takes 1-10000; found ${options.count}`);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600)
    throw new UsageError(`--timeout takes 1-3600 seconds; found ${timeout}`);
  // A word that starts with '-' would be one of tcpdump's options (-w FILE writes anywhere as root, -z runs a program).
  if (options.filter !== undefined && (!FILTER.test(options.filter) || /(^|\s)-\S/.test(options.filter)))
    throw new UsageError(
      `--filter takes a tcpdump expression of letters, digits, spaces and . : / _ ( ) ! & | < > = - (no word starting with -, as an option would); found ${JSON.stringify(options.filter)}`,
    );
  const state = await findLabWith(target, options);
  requireNodeAccess('capture', state.target);
  // Every interface of a router is on the underlay.
  const { pod, node, transport, router } = placeNamed(state, target);
  const dev = iface ?? (pod ? (pod.podIf ?? 'lo') : router ? 'eth1' : state.facts[node]!.dev);
  if (!/^[A-Za-z0-9_.@][A-Za-z0-9_.@-]{0,14}$/.test(dev)) throw new UsageError(`not an interface name: ${dev}`);
  // On the underlay, the cross-node kind may tell tcpdump how to decode its encapsulation.
  const underlay =
    !pod && (router || dev === state.facts[node]!.dev)
      ? crossNodeWiring(state.model.crossNode).captureUnderlay?.(state.model)
      : undefined;
  const filter = options.filter ?? underlay?.filter ?? '';
  const write = options.write;
  // pcap (-w -, each packet as it comes: -U), or text with the Ethernet headers and the decoding
  const output = write !== undefined ? ['-U', '-w', '-'] : ['-n', '-e', '-l', ...(underlay?.options ?? [])];
  const filterArgs = filter.split(' ').filter(Boolean);
  console.error(
    `capturing on ${pod ? `pod ${pod.name}` : node} ${dev} (${count} packets or ${seconds} s${filter ? `, filter: ${filter}` : ''}); now send some traffic, e.g. \`netlab verify ${state.lab}\``,
  );
  const file = write !== undefined && write !== '-' ? openOutputFile(write, { what: 'the pcap file' }) : undefined;
  let code: number;
  let stoppedBy: NodeJS.Signals | undefined;
  try {
    ({ code, stoppedBy } = await stoppedWithNetlab(transport, (tag) => {
      const stdout = write === undefined ? undefined : (file ?? 1);
      if (transport.inUserNamespace)
        return captureInUserNamespace(
          transport,
          state.lab,
          inPod(['env', tag, ...pcapStreamCommand(dev, seconds)], pod),
          {
            reader: pcapReaderArgs(output, count, filterArgs),
            stdout: stdout ?? 'inherit',
          },
        );
      const [script, inTerminal] = terminalScript(
        // --foreground: tcpdump stays in the terminal's process group, where Ctrl-C reaches it (timeout
        // otherwise moves it to a group of its own, and it ran on after netlab until its timeout).
        [
          'env',
          tag,
          'timeout',
          '--foreground',
          String(seconds),
          'tcpdump',
          ...output,
          '-c',
          String(count),
          '-i',
          dev,
          '--',
          ...filterArgs,
        ],
        {
          lab: state.lab,
          pod,
          before: `command -v tcpdump >/dev/null || { echo "tcpdump is not installed on ${node}: apt-get install tcpdump" >&2; exit 1; }`,
        },
      );
      return transport.interactive(script, { ...inTerminal, ...(stdout === undefined ? {} : { stdout }) });
    }));
  } finally {
    if (file !== undefined) closeSync(file);
  }
  // timeout's 124: the time was up before the count, which is no failure.
  const ended = !stoppedBy && (code === 0 || code === 124);
  // Over SSH without a terminal on the machine, a Ctrl-C or Ctrl-\ ends the capture with 128 + its signal (exec/ssh.ts).
  const stopped =
    stoppedBy ?? { [exitCodeOf(null, 'SIGINT')]: 'Ctrl-C', [exitCodeOf(null, 'SIGQUIT')]: 'Ctrl-\\' }[code];
  if (write !== undefined && write !== '-')
    console.error(
      ended
        ? `pcap written to ${write}: ${readingHint(write, underlay?.options ?? [], underlay?.wireshark)}`
        : stopped
          ? `capture stopped by ${stopped}: ${write} holds what tcpdump wrote before`
          : `tcpdump failed (exit ${code}, its words above): ${write} holds what it wrote before`,
    );
  return ended ? 0 : code;
}

/**
 * Runs what a command starts on a node (`start`, given an environment entry
 * to run it with) so that it ends with netlab. A terminal's Ctrl-C reaches
 * every process of its group, tcpdump included; a SIGTERM or SIGHUP to netlab
 * alone (`kill`, a service manager) reaches netlab only, and tcpdump ran on,
 * on the node, until its timeout. On such a signal, netlab stops every process
 * of the node whose environment has the entry, every second until the command
 * has ended (a signal before tcpdump started finds nothing the first time); a
 * second signal stops netlab at once (a node that does not answer).
 */
async function stoppedWithNetlab(
  transport: Transport,
  start: (tag: string) => Promise<number>,
): Promise<{ code: number; stoppedBy?: NodeJS.Signals }> {
  const tag = newRunTag();
  const stopOnNode = stopTaggedScript(tag);
  let stoppedBy: NodeJS.Signals | undefined;
  let ended = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // What netlab writes after a hangup goes nowhere, without failing.
    if (signal === 'SIGHUP') outputMayBeGone();
    if (stoppedBy) process.exit(exitCodeOf(null, stoppedBy));
    stoppedBy = signal;
    void (async () => {
      while (!ended) {
        await transport.run(stopOnNode).catch(() => undefined); // a node that is gone has nothing left running
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      }
    })();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    const code = await start(tag);
    return stoppedBy ? { code: exitCodeOf(null, stoppedBy), stoppedBy } : { code };
  } finally {
    ended = true;
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

/**
 * A capture in a lab's user namespace (shell/packet-capture.ts): the node
 * streams the packets as pcap into tcpdump, run here as the user, which
 * filters, counts and prints or writes them; the node's stream ends when
 * tcpdump has its count (or at the timeout). tcpdump's exit code is the
 * capture's, unless the node's stream failed.
 */
async function captureInUserNamespace(
  transport: Transport,
  lab: string,
  command: string[],
  options: { reader: string[]; stdout: 'inherit' | number },
): Promise<number> {
  // A terminal's Ctrl-C (or Ctrl-\\) stops the node's writer, whose stream then ends: tcpdump, here reading a
  // file (-r -), is kept out of its reach (a read the signal interrupts is an error to it) and ends at the
  // stream's end, with what it wrote; netlab waits for it, and ends with its exit code, as with root's tcpdump.
  const reader = startReader('tcpdump', options.reader, options.stdout, true);
  const leaveTerminalSignals = terminalSignalsToChild();
  let sent: number;
  let code: number;
  try {
    sent = await transport.interactive(
      `${scriptPrelude(lab)}\ncommand -v perl >/dev/null || { echo "perl is not installed here (netlab captures with it in a user namespace): apt-get install perl-base" >&2; exit 1; }\n${quoteArgv(command)}`,
      { stdout: reader.input },
    );
    reader.input.end();
    code = await reader.exited;
  } finally {
    leaveTerminalSignals();
  }
  if (code === 127) throw new RunError('tcpdump is not installed on this host: apt-get install tcpdump');
  // 124: the stream's time was up (timeout); 130: a Ctrl-C stopped it; neither is a failure of the capture.
  return code !== 0 || sent === 0 || sent === 124 || sent === EXIT_INTERRUPTED ? code : sent;
}

/** How to read the capture back with its tunnel decoded. */
function readingHint(file: string, decode: string[], wireshark: string | undefined): string {
  const tcpdump = `tcpdump -n -e -r ${quoteArgv([file])}${decode.length ? ` ${decode.join(' ')}` : ''}`;
  return `read it with \`${tcpdump}\`${wireshark ? `; in Wireshark, ${wireshark}` : '; or open it in Wireshark'}`;
}

export async function traceCommand(
  from: string,
  to: string,
  options: { port?: string; size?: string; lab?: string; send?: boolean; json?: boolean },
): Promise<number> {
  const {
    probeAndWalk,
    probeDisagrees,
    resolveRequest,
    sendFirst,
    traceNumbers,
    traceRequest,
    renderTrace,
    walkedThrough,
  } = await import('../trace/trace.js');
  // The numbers first: what they say is wrong without the lab (a lab not up is said after them).
  const numbers = traceNumbers(options.port, options.size);
  const state = await findLabWith(from.split('/')[0]!, options);
  requireNodeAccess('trace', state.target);
  const request = resolveRequest(state.model, state.facts, from, to, numbers);
  const transports = transportsOf(state);
  const probedBy = (probe: Probe | undefined): TraceRequest =>
    probe?.sourcePort ? { ...request, packet: { ...request.packet, sport: probe.sourcePort } } : request;
  // A Ctrl-C during the probe stops it with its TCP responder, as verify's checks (checksUntilStopped).
  const { checksUntilStopped } = await import('../lifecycle/verify.js');
  const walked = await checksUntilStopped((stop) =>
    probeAndWalk(
      async () => (options.send === false ? undefined : sendFirst(state.model, state.facts, transports, request, stop)),
      (probe) => traceRequest(state.model, state.facts, traceTransportsOf(state), probedBy(probe)),
    ),
  );
  if (!walked) return EXIT_INTERRUPTED;
  const { probe, trace } = walked;
  const probed = probedBy(probe);
  const disagreement = probeDisagrees(trace, probe);
  const delivered = walkedThrough(trace) && disagreement.length === 0;
  if (options.json)
    printJson({
      lab: state.lab,
      from: probed.from,
      packet: probed.packet,
      sent: probe?.text,
      probe,
      delivered,
      ...trace,
    });
  else {
    if (probe) console.log(chalk.dim(escapeControls(probe.text)));
    for (const line of renderTrace(probed, trace, state.lab)) console.log(line);
    for (const line of disagreement) console.log(line);
  }
  return delivered ? 0 : 1;
}
