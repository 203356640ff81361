// Building the one script a node runs for its steps (of every phase, or of one
// with `up --step`), and reading its output.
import type { Effect, Step, Table } from '../model/plan.js';
import {
  faultComment,
  FAULT_VALUES,
  ipCommandOf,
  iptablesCommandsOf,
  restoreDocument,
  restoreLine,
  type IptablesCommands,
} from '../model/effects.js';
import { scriptPrelude, type ScriptRun } from './prelude.js';
import { quoteArg, quoteArgv } from '../os/quote.js';

/**
 * Applies steps in order, stopping at the first failure. Write-ahead: a step's
 * undo commands are journalled before the step runs, so that a kill -9 at any
 * instant leaves nothing `down` does not know of. This is safe because the
 * preflight has refused every object the plan creates that already existed: an
 * undo can only ever meet the lab's own object, or nothing (then it is skipped).
 */
export function applyScript(lab: string, steps: readonly Step[], run: ScriptRun): string {
  // The pods these steps start: in the run's first script on the node (the claim that makes the lab's directory),
  // their directories come in the same mkdir; a later script's netlab_pause makes its own.
  const pods = steps.flatMap((step) => step.creates.flatMap((c) => (c.kind === 'pause' ? [c.pod] : [])));
  const lines = [scriptPrelude(lab, run), `${quoteArgv(['netlab_claim', ...pods])} || exit 1`];
  // The journal runs backwards, so a step's undo commands are recorded last-first. A line that cannot be written
  // (a full /run) fails its step before the step changes anything: nothing is made that down would not undo.
  const journal = (step: Step) =>
    [...step.undo]
      .reverse()
      .map((command) => `netlab_record ${quoteArg(quoteArgv(command))} || netlab_fail ${step.id} $?`);
  const commands = (step: Step) => [
    `netlab_begin ${step.id}`,
    ...step.apply.map((command) => `${quoteArgv(command)} || netlab_fail ${step.id} $?`),
    `netlab_done ${step.id}`,
  ];
  for (const { batch, steps: batched } of batchRuns(steps)) {
    if (!batch) {
      const step = batched[0]!;
      lines.push(`netlab_begin ${step.id}`, ...journal(step), ...commands(step).slice(1));
      continue;
    }
    lines.push(`netlab_begin ${batched[0]!.id}`, ...batched.flatMap(journal));
    if (batch.tool === 'ip') {
      const ipLines = ipBatchLines(batched);
      // A line's steps: "ID", or "ID+ID" for a line that does two (netlab_batch).
      const lineIds = quoteArg(ipLines.map((l) => l.ids.join('+')).join(' '));
      lines.push(`netlab_batch ${quoteArg(batch.netns)} ${lineIds} <<'NETLAB_BATCH'`);
      lines.push(...ipLines.map((l) => l.args.join(' ')), 'NETLAB_BATCH');
    } else {
      // One transaction: if it fails, nothing of it was applied, and the steps run one command at a time.
      const ids = quoteArg(batched.map((s) => s.id).join(' '));
      lines.push(`if ! netlab_xt_batch ${ids} <<'NETLAB_BATCH'`, restoreInput(batch.table, batched) + 'NETLAB_BATCH');
      lines.push('then', ...batched.flatMap(commands), 'fi');
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * An \`ip -batch\`'s lines, each with the steps it does (exported for the tests
 * and the benchmark's floor). A veth pair made in the node whose pod end a later
 * line of the batch moves into its pod is made with that end in the pod (\`ip
 * link add NAME type veth peer name PEER netns POD\`, as \`veth-peer: in-pod\`
 * plans it), and the move's line goes. The devices end where the two commands
 * put them, without the move: the kernel moves a device by unregistering it
 * from one namespace and registering it in the other, and waits for an RCU
 * grace period under its one RTNL lock (synchronize_net() in
 * dev_change_net_namespace()), which every other namespace's \`ip\` waits for
 * too: 17-22 ms for a node's batch with one move on this machine's kernel,
 * 2-3 ms without it, and up to 68 ms when two nodes move at once (BENCHMARKS.md).
 * \`plan\` still shows the article's two commands, and \`up --step=command\` runs
 * them. Only across lines whose records name every link they act on (a
 * bridge, a port, an address: not a tunnel device, whose words may name any),
 * none of them the pod end, which is in the node until the move.
 */
export function ipBatchLines(steps: readonly Step[]): { ids: number[]; args: string[] }[] {
  const movedAt = new Map<number, number>(); // a veth step's index → the index of the step that moves its pod end
  steps.forEach((s, i) => {
    const veth = s.effects[0]!;
    if (veth.kind !== 'veth' || 'peerNetns' in veth) return;
    for (let j = i + 1; j < steps.length; j++) {
      const later = steps[j]!.effects[0]!;
      if (later.kind === 'move' && later.link === veth.peer) movedAt.set(i, j);
      if (!NAMES_ITS_LINKS.has(later.kind) || linksNamed(steps[j]!).includes(veth.peer)) return;
    }
  });
  const folded = new Set(movedAt.values());
  return steps.flatMap((s, i) => {
    if (folded.has(i)) return [];
    const at = movedAt.get(i);
    if (at === undefined) return [{ ids: [s.id], args: ipCommandOf(s.effects[0]!)!.args }];
    const { name, peer } = s.effects[0] as Extract<Effect, { kind: 'veth' }>;
    const { netns } = steps[at]!.effects[0] as Extract<Effect, { kind: 'move' }>;
    return [{ ids: [s.id, steps[at]!.id], args: ipCommandOf({ kind: 'veth', name, peer, peerNetns: netns })!.args }];
  });
}

/** The kinds of effect whose declarations name every link the effect acts on (linksNamed). */
const NAMES_ITS_LINKS = new Set<Effect['kind']>([
  'veth',
  'bridge',
  'address',
  'route',
  'up',
  'master',
  'move',
  'mtu',
  'hairpin',
  'neighbour',
  'fdb',
]);

/** Every link a step's declarations name, in any namespace (for the kinds above: every link it acts on). */
const linksNamed = (step: Step): string[] => [
  ...step.creates.flatMap((c) => (c.kind === 'link' ? [c.name] : 'dev' in c && c.dev ? [c.dev] : [])),
  ...step.sets.flatMap((c) =>
    c.kind === 'master' ? [c.link, c.bridge] : 'link' in c ? [c.link] : c.kind === 'hairpin' ? [c.port] : [],
  ),
];

/** Words ip's batch parser takes as they are: the grammar every netlab value obeys. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** Words iptables-restore reads as they are, or between double quotes (restoreLine): a comment has spaces. */
const RESTORE_WORD = /^[A-Za-z0-9_@%+=:,./!-]+( [A-Za-z0-9_@%+=:,./!-]+)*$/;

/** How consecutive steps run as one process: an `ip -batch` in one namespace ("-": the node's), or one iptables-restore of one table. */
export type Batch = { tool: 'ip'; netns: string } | { tool: 'iptables'; table: Table };

/** The batch a step can go into, if any: one `ip` command, or iptables commands on one table. */
function batchOf(step: Step): Batch | undefined {
  const ip = step.effects.length === 1 ? ipCommandOf(step.effects[0]!) : undefined;
  if (ip)
    return [ip.netns ?? '-', ...ip.args].every((arg) => PLAIN_WORD.test(arg))
      ? { tool: 'ip', netns: ip.netns ?? '-' }
      : undefined;
  const xt = step.effects.map(iptablesCommandsOf);
  const table = xt[0]?.table;
  const restorable = (c: IptablesCommands | undefined) =>
    c !== undefined && c.table === table && c.commands.every((words) => words.every((w) => RESTORE_WORD.test(w)));
  return table && xt.every(restorable) ? { tool: 'iptables', table } : undefined;
}

/** The iptables commands of steps batched on one table, as iptables-restore's input (exported for the tests). */
export function restoreInput(table: Table, steps: readonly Step[]): string {
  return restoreDocument(
    table,
    steps.flatMap((s) => s.effects.flatMap((e) => iptablesCommandsOf(e)!.commands.map(restoreLine))),
  );
}

const sameBatch = (a: Batch, b: Batch) =>
  a.tool === 'ip' ? b.tool === 'ip' && a.netns === b.netns : b.tool === 'iptables' && a.table === b.table;

/** Consecutive steps that can go into the same batch form one (exported for the tests). */
export function batchRuns(steps: readonly Step[]): { batch?: Batch; steps: Step[] }[] {
  const runs: { batch?: Batch; steps: Step[] }[] = [];
  for (const step of steps) {
    const batch = batchOf(step);
    const last = runs[runs.length - 1];
    if (batch && last?.batch && sameBatch(last.batch, batch)) last.steps.push(step);
    else runs.push(batch ? { batch, steps: [step] } : { steps: [step] });
  }
  // A batch of one step is just its commands (so `up --step=command` runs each command as the plan shows it).
  return runs.map((run) => (run.steps.length === 1 ? { steps: run.steps } : run));
}

/**
 * What \`ip\`, \`bridge\`, \`iptables\` and \`sysctl\` say when the object an undo
 * removes is not there (any more): a link, namespace, route, address, neighbour
 * or FDB entry, rule or chain. Anything else an undo says is a failure.
 */
export const ALREADY_GONE = [
  'Cannot find device',
  // `ip tunnel del` of a tunnel that is not there (ENODEV): the step that makes it failed, or the kernel lacks its
  // kind (at the line's end: ENXIO's "No such device or address" is another matter)
  'No such device$',
  'No such file or directory',
  'No such process',
  'Cannot assign requested address',
  'does a matching rule exist',
  'No chain/target/match by that name',
  'does not exist',
].join('|');

/**
 * A challenge's fault this run left (the lab's down mends it first, from the challenge's record; a down from the
 * nodes' own records has none): its DROP rule in FORWARD, which carries its comment (faultComment), goes; a
 * setting it changed goes back to the value it saved, while it still holds the fault's (FAULT_VALUES). No journal line undoes either. Part of a down script, after its run's check.
 */
function faultLeftoversScript(lab: string, run: ScriptRun): string {
  return `# What a challenge's fault of this run left on the machine (faultLeftoversScript in src/shell/node-script.ts).
netlab_fault_leftovers() {
  iptables-save -t filter 2>/dev/null | grep -F -- ${quoteArg(`--comment "${faultComment(lab, run.id)}"`)} |
    sed 's/^-A /-D /' >"$NETLAB_DIR/fault.xt"
  [ ! -s "$NETLAB_DIR/fault.xt" ] || netlab_restore "$(echo '*filter'; cat "$NETLAB_DIR/fault.xt"; echo COMMIT)
" || echo "@@netlab kept the DROP rule of a challenge's fault in FORWARD: it could not be deleted (iptables -S FORWARD shows it)"
  rm -f "$NETLAB_DIR/fault.xt"
  for saved in "$NETLAB_DIR"/fault-policy-* "$NETLAB_DIR"/fault-sysctl-*; do
    [ -f "$saved" ] || continue
    setting=\${saved##*/fault-}
    kind=\${setting%%-*} name=\${setting#*-}
    # Another run's (its restore failed): the machine may have changed hands since, so nothing is put back.
    if ! netlab_setting_saved "$kind" "$name"; then
      echo "@@netlab kept $kind $name is left at $(netlab_setting_get "$kind" "$name"): a challenge's fault of \${saved_run:+run }\${saved_run:-an older netlab} saved $saved_value to put back, and could not; that run is over"
      rm -f "$saved"
      continue
    fi
    case $kind in policy) value=${FAULT_VALUES.policy} ;; *) value=${FAULT_VALUES.sysctl} ;; esac
    netlab_setting_restore "$kind" "$name" "$value" ||
      echo "@@netlab kept $kind $name: the value from before a challenge's fault could not be put back"
  done
}
# Only where a challenge was made in this run (its record on the node) or a fault saved a setting: iptables-save
# reads the whole ruleset, 10-20 ms a node, which every other down would pay.
netlab_fault_left() {
  [ -f "$NETLAB_DIR/challenge.json" ] && return 0
  for saved in "$NETLAB_DIR"/fault-*; do [ -e "$saved" ] && return 0; done
  return 1
}
! netlab_fault_left || netlab_fault_leftovers
`;
}

/**
 * Runs the node's undo journal backwards, then forgets the lab on this node.
 * Only the named run's journal: a lab of the same name that another controller
 * (or a later up) made on this node is left alone and named. Without a run (the
 * local state is lost), the node only names the run it has: a controller never
 * removes a run it was not asked for by its id.
 * An undo that fails is told apart by what the command said: its object already
 * gone (deleting a pod's namespace deletes its veth, so the veth's own undo finds
 * "Cannot find device") is skipped; anything else ("Device or resource busy") has
 * failed: its line stays in the journal, with the run, so that the next down
 * tries it again, and the node says so.
 * Only the files netlab writes there are removed, never the directory's other contents.
 */
export function downScript(lab: string, run?: ScriptRun): string {
  return `${scriptPrelude(lab, run)}
if [ ! -f "$NETLAB_DIR/run" ] && [ ! -f "$NETLAB_DIR/undo" ]; then
  echo "@@netlab nothing-recorded"
  exit 0
fi
if [ -f "$NETLAB_DIR/run" ]; then
  read -r id from <"$NETLAB_DIR/run"
  if [ "$id" != "$NETLAB_RUN" ]; then
    echo "@@netlab other-run $id $from"
    exit 0
  fi
  echo "@@netlab run $id $from"
fi
undone=0
failed=0
# One journal line undone by itself: done, its object already gone (skipped), or failed (kept).
netlab_undo_line() {
  if eval "$1" </dev/null 2>"$NETLAB_DIR/undo.err"; then
    undone=$((undone + 1))
  elif grep -qE ${quoteArg(ALREADY_GONE)} "$NETLAB_DIR/undo.err"; then
    echo "@@netlab undo-skipped $1"
  else
    failed=$((failed + 1))
    printf '%s\\n' "$1" >>"$NETLAB_DIR/undo.failed"
    echo "@@netlab undo-failed $1"
    head -n 3 "$NETLAB_DIR/undo.err" | sed 's/^/@@netlab undo-said /'
  fi
}
# Consecutive iptables lines of one table are undone by one iptables-restore, as up applies them: one process
# where each line is one (iptables-nft reads the whole ruleset as it starts: about 15 ms a line, and a Service
# lab journals 20 such lines a node). One transaction: if it fails, none of it was applied, and its lines are
# undone one at a time, each told done, gone or failed as above.
xt_table=
xt_count=0
netlab_undo_xt() {
  [ "$xt_count" -gt 0 ] || return 0
  if netlab_restore "$(echo "*$xt_table"; cat "$NETLAB_DIR/undo.xt.in"; echo COMMIT)\n" 2>/dev/null; then
    undone=$((undone + xt_count))
  else
    while IFS= read -r xt_line; do netlab_undo_line "$xt_line"; done <"$NETLAB_DIR/undo.xt"
  fi
  xt_count=0
  : >"$NETLAB_DIR/undo.xt"
  : >"$NETLAB_DIR/undo.xt.in"
}
# A journal line's words after the table, as iptables-restore reads them: a word with a space between double
# quotes (restoreLine in src/model/effects.ts).
netlab_xt_words() {
  xt_out=
  for xt_word in "$@"; do
    case "$xt_word" in *" "*) xt_word="\\"$xt_word\\"" ;; esac
    xt_out="$xt_out\${xt_out:+ }$xt_word"
  done
  printf '%s\\n' "$xt_out"
}
${run ? faultLeftoversScript(lab, run) : ''}if [ -f "$NETLAB_DIR/undo" ]; then
  tac "$NETLAB_DIR/undo" >"$NETLAB_DIR/undo.reverse"
  : >"$NETLAB_DIR/undo.failed"
  : >"$NETLAB_DIR/undo.xt"
  : >"$NETLAB_DIR/undo.xt.in"
  # no subshell per line: errors go to a file, read only when the line failed
  while IFS= read -r line; do
    # the table of a line \`iptables -w [-t TABLE] ...\` as netlab journals it, and the words after it
    case "$line" in
      "iptables -w -t "*) xt_rest=\${line#iptables -w -t }; xt_of=\${xt_rest%% *}; xt_rest=\${xt_rest#* } ;;
      "iptables -w "*) xt_of=filter; xt_rest=\${line#iptables -w } ;;
      *) xt_of= ;;
    esac
    case "$xt_of" in filter | nat | mangle | raw) ;; *) xt_of= ;; esac
    # Only words netlab writes, single-quoted where they have a space: nothing the shell would expand.
    case "$line" in *[!-A-Za-z0-9\\ _@%+=:,./\\'!]*) xt_of= ;; esac
    [ "$xt_of" = "$xt_table" ] || netlab_undo_xt
    if [ -n "$xt_of" ] && eval "netlab_xt_words $xt_rest" >>"$NETLAB_DIR/undo.xt.in"; then
      xt_table=$xt_of
      xt_count=$((xt_count + 1))
      printf '%s\\n' "$line" >>"$NETLAB_DIR/undo.xt"
    else
      netlab_undo_xt
      netlab_undo_line "$line"
    fi
  done <"$NETLAB_DIR/undo.reverse"
  netlab_undo_xt
  # The kernel tears a deleted namespace down asynchronously: the node ends of the
  # pods' veth pairs vanish a moment after \`ip netns del\`. Wait for them (no event
  # tells when), so that down returns with the node as it was.
  for dev in $(awk '$1 == "netlab_del_unmoved" { print $2 }' "$NETLAB_DIR/undo.reverse"); do
    n=0
    while [ -e "/sys/class/net/$dev" ] && [ "$n" -lt 250 ]; do sleep 0.02; n=$((n + 1)); done
    # A namespace lives on while a socket in it is still closing (a TCP connection
    # retransmitting into a path that drops it, as under a wrong MTU): deleting the
    # node end deletes the pair, and the namespace goes when its socket does.
    [ ! -e "/sys/class/net/$dev" ] || ip link del "$dev" 2>/dev/null || true
  done
fi
echo "@@netlab undone $undone"
if [ "$failed" -gt 0 ]; then
  # What failed stays journalled (in the order it is to be undone again), and the run with it.
  tac "$NETLAB_DIR/undo.failed" >"$NETLAB_DIR/undo"
  rm -f "$NETLAB_DIR/undo.reverse" "$NETLAB_DIR/undo.err" "$NETLAB_DIR/undo.failed" "$NETLAB_DIR/undo.xt" "$NETLAB_DIR/undo.xt.in"
  echo "@@netlab down-done"
  exit 0
fi
rm -rf "$NETLAB_DIR/pods" "$NETLAB_DIR/rootfs"
rm -f "$NETLAB_DIR/undo" "$NETLAB_DIR/undo.reverse" "$NETLAB_DIR/undo.err" "$NETLAB_DIR/undo.failed" "$NETLAB_DIR/undo.xt" "$NETLAB_DIR/undo.xt.in" "$NETLAB_DIR/run" "$NETLAB_DIR/lab" "$NETLAB_DIR/lab.json" "$NETLAB_DIR/challenge.json"
rmdir "$NETLAB_DIR" 2>/dev/null
echo "@@netlab down-done"
`;
}

/** What a down script found and did on one node. */
export interface DownOutcome {
  /** undone: the journal ran; nothing: no record of the lab; other-run: the lab there is another run's, left alone */
  found: 'undone' | 'nothing' | 'other-run';
  /** the run the node recorded: "ID HOST:DIR" */
  run?: string;
  undone: number;
  /** undo lines that found nothing to undo */
  skipped: string[];
  /** undo lines that failed (their object is still there), with what they said: kept in the node's journal */
  failed: { line: string; said: string }[];
  /** shared settings left as they were, and why */
  kept: string[];
  finished: boolean;
}

export function parseDownOutput(stdout: string): DownOutcome {
  const outcome: DownOutcome = { found: 'undone', undone: 0, skipped: [], failed: [], kept: [], finished: false };
  for (const line of stdout.split('\n')) {
    const [, kind, rest = ''] = /^@@netlab (\S+) ?(.*)$/.exec(line) ?? [];
    if (kind === 'nothing-recorded') outcome.found = 'nothing';
    else if (kind === 'other-run') [outcome.found, outcome.run] = ['other-run', rest];
    else if (kind === 'run') outcome.run = rest;
    else if (kind === 'undone') outcome.undone = Number(rest);
    else if (kind === 'undo-skipped') outcome.skipped.push(rest);
    else if (kind === 'undo-failed') outcome.failed.push({ line: rest, said: '' });
    else if (kind === 'undo-said' && outcome.failed.length) {
      const last = outcome.failed.at(-1)!;
      last.said = last.said ? `${last.said}; ${rest}` : rest;
    } else if (kind === 'kept') outcome.kept.push(rest);
    else if (kind === 'down-done') outcome.finished = true;
  }
  if (outcome.found !== 'undone') outcome.finished = true;
  return outcome;
}

export interface ScriptOutcome {
  done: Set<number>;
  failed?: { step: number; exitCode: number; stderr: string };
  /** the step that had begun when the script ended, if it neither finished nor failed */
  interrupted?: number;
}

const MARKER = /^@@netlab (begin|done|fail) ?(.*)$/;

export function parseScriptOutput(stdout: string, stderr: string): ScriptOutcome {
  const outcome: ScriptOutcome = { done: new Set() };
  let current: number | undefined;
  for (const line of stdout.split('\n')) {
    const match = MARKER.exec(line);
    if (!match) continue;
    const [, kind, rest = ''] = match;
    if (kind === 'begin') current = Number(rest);
    else if (kind === 'done') {
      outcome.done.add(Number(rest));
      current = undefined;
    } else if (kind === 'fail') {
      const [step, code] = rest.split(' ').map(Number);
      outcome.failed = { step: step!, exitCode: code!, stderr: stderrOfStep(stderr, step!) };
      current = undefined;
    }
  }
  if (current !== undefined) outcome.interrupted = current;
  return outcome;
}

/** The stderr lines written between a step's begin marker and the next marker. */
export function stderrOfStep(stderr: string, step: number): string {
  const lines = stderr.split('\n');
  // The last: a batch's steps begin again where the batch failed (netlab_batch, netlab_xt_batch).
  const start = lines.lastIndexOf(`@@netlab begin ${step}`);
  if (start < 0) return stderr.trim();
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('@@netlab begin '));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n').trim();
}
