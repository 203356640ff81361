// Building the one script a node runs for one phase, and reading its output.
import type { Step } from '../plan/types.js';
import { scriptPrelude } from './prelude.js';
import { quoteArg, quoteArgv } from './quote.js';

/**
 * Applies steps in order, stopping at the first failure. Write-ahead: a step's
 * undo commands are journalled before the step runs, so that a kill -9 at any
 * instant leaves nothing `down` does not know of. This is safe because the
 * preflight has refused every object the plan creates that already existed: an
 * undo can only ever meet the lab's own object, or nothing (then it is skipped).
 */
export function applyScript(lab: string, steps: readonly Step[]): string {
  const lines = [scriptPrelude(lab)];
  for (const run of batchRuns(steps)) {
    // The journal runs backwards, so a step's undo commands are recorded last-first.
    const journal = (step: Step) => [...step.undo].reverse().map((command) => `netlab_record ${quoteArg(quoteArgv(command))}`);
    if (run.target === undefined) {
      const step = run.steps[0]!;
      lines.push(`netlab_begin ${step.id}`, ...journal(step));
      for (const command of step.apply) lines.push(`${quoteArgv(command)} || netlab_fail ${step.id} $?`);
      lines.push(`netlab_done ${step.id}`);
    } else {
      lines.push(`netlab_begin ${run.steps[0]!.id}`, ...run.steps.flatMap(journal));
      lines.push(`netlab_batch ${quoteArg(run.target)} ${run.steps.map((s) => s.id).join(',')} <<'NETLAB_BATCH'`);
      lines.push(...run.steps.map((s) => batchLine(s.apply[0]!)), 'NETLAB_BATCH');
    }
  }
  return lines.join('\n') + '\n';
}

/** Words ip's batch parser takes as they are: the grammar every netlab value obeys. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,.\/-]+$/;

/** The namespace an `ip` command acts in ("-" for the node itself), if it can go into an `ip -batch`. */
function batchTarget(step: Step): string | undefined {
  if (step.apply.length !== 1) return undefined;
  const command = step.apply[0]!;
  if (command[0] !== 'ip' || !command.every((arg) => PLAIN_WORD.test(arg))) return undefined;
  if (command[1] === '-n') return command[3] === 'netns' ? undefined : command[2];
  return command[1] === 'netns' && command[2] === 'exec' ? undefined : '-';
}

function batchLine(command: readonly string[]): string {
  return (command[1] === '-n' ? command.slice(3) : command.slice(1)).join(' ');
}

/** Consecutive steps that are one `ip` command each for the same namespace form a batch. */
function batchRuns(steps: readonly Step[]): { target?: string; steps: Step[] }[] {
  const runs: { target?: string; steps: Step[] }[] = [];
  for (const step of steps) {
    const target = batchTarget(step);
    const last = runs[runs.length - 1];
    if (target !== undefined && last?.target === target) last.steps.push(step);
    else runs.push(target !== undefined ? { target, steps: [step] } : { steps: [step] });
  }
  // A batch of one is just a command.
  return runs.map((run) => (run.steps.length === 1 ? { steps: run.steps } : run));
}

/**
 * Runs the node's undo journal backwards, then forgets the lab on this node.
 * An undo that fails is reported and skipped: usually its object is already gone
 * (deleting a pod's namespace deletes its veth, so the veth's own undo finds nothing).
 */
export function downScript(lab: string): string {
  return `${scriptPrelude(lab)}
if [ -f "$NETLAB_DIR/undo" ]; then
  tac "$NETLAB_DIR/undo" >"$NETLAB_DIR/undo.reverse"
  # no subshell per line: errors go to a file, the line is reported
  while IFS= read -r line; do
    eval "$line" </dev/null 2>>"$NETLAB_DIR/undo.err" || echo "@@netlab undo-skipped $line"
  done <"$NETLAB_DIR/undo.reverse"
  # The kernel tears a deleted namespace down asynchronously: the node ends of the
  # pods' veth pairs vanish a moment after \`ip netns del\`. Wait for them (no event
  # tells when), so that down returns with the node as it was.
  for dev in $(awk '$1 == "netlab_del_unmoved" { print $2 }' "$NETLAB_DIR/undo.reverse"); do
    n=0
    while [ -e "/sys/class/net/$dev" ] && [ "$n" -lt 250 ]; do sleep 0.02; n=$((n + 1)); done
  done
fi
rm -rf "$NETLAB_DIR"
echo "@@netlab down-done"
`;
}

export interface ScriptOutcome {
  done: Set<number>;
  failed?: { step: number; exitCode: number; stderr: string };
  /** the step that had begun when the script ended, if it neither finished nor failed */
  interrupted?: number;
  warnings: string[];
}

const MARKER = /^@@netlab (begin|done|fail|undo-skipped) ?(.*)$/;

export function parseScriptOutput(stdout: string, stderr: string): ScriptOutcome {
  const outcome: ScriptOutcome = { done: new Set(), warnings: [] };
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
    } else outcome.warnings.push(rest);
  }
  if (current !== undefined) outcome.interrupted = current;
  return outcome;
}

/** The stderr lines written between a step's begin marker and the next marker. */
export function stderrOfStep(stderr: string, step: number): string {
  const lines = stderr.split('\n');
  const start = lines.indexOf(`@@netlab begin ${step}`);
  if (start < 0) return stderr.trim();
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('@@netlab begin '));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n').trim();
}
