// Executing a plan: one script per node per phase, nodes in parallel, phases in
// order. A failure names the node, the step, its commands and their stderr.
import type { ScriptResult } from './transport.js';
import type { Model } from '../model/lab.js';
import { stepsOfPhase } from '../plan/build.js';
import { PHASES, type Phase, type Plan, type Step } from '../model/plan.js';
import { applyScript, downScript, parseDownOutput, parseScriptOutput, type DownOutcome } from '../shell/node-script.js';
import type { ScriptRun } from '../shell/prelude.js';
import { quoteArgv } from '../os/quote.js';
import { escapeControls, RunError } from '../errors.js';
import { describeProblems, type KernelProbe, preflightScript } from './preflight.js';
import { describeRun } from '../state/store.js';
import type { Transports } from './transports.js';

export class StepFailure extends RunError {
  constructor(
    readonly node: string,
    readonly step: Step | undefined,
    readonly detail: string,
  ) {
    super(
      step
        ? `step ${step.id} on ${node} failed: ${step.summary}\n  ${step.apply.map((c) => `$ ${quoteArgv(c)}`).join('\n  ')}\n  ${detail || '(no error output)'}`
        : `${node}: ${detail}`,
    );
  }
}

export class Interrupted extends RunError {
  constructor() {
    super('interrupted');
  }
}

/** Settles every node's work, then throws the first failure (never leaves a node's script running). */
async function everyNode<T>(nodes: string[], work: (node: string) => Promise<T>): Promise<T[]> {
  const results = await Promise.allSettled(nodes.map(work));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Runs the preflight on every node, or judges what it printed already (simulated
 * nodes run it in the same script that gives them their underlay address: one
 * round per node, exec/simulated.ts), and throws with every problem found.
 */
export async function runPreflight(
  model: Model,
  transports: Transports,
  plan?: Plan,
  answered: Record<string, ScriptResult> = {},
  /** whether a node's kernel is probed (exec/kernel-seen.ts); by default it is */
  probeOn: (node: string) => KernelProbe = () => ({}),
): Promise<void> {
  const problems = (
    await everyNode(Object.keys(transports), async (node) => {
      const steps = plan?.nodes.find((n) => n.node === node)?.steps ?? [];
      const result =
        answered[node] ?? (await transports[node]!.run(preflightScript(model, node, steps, probeOn(node))));
      if (result.exitCode !== 0) return [`${node}: preflight failed: ${result.stderr.trim()}`];
      return describeProblems(model, node, steps, result.stdout, transports[node]!.inUserNamespace);
    })
  ).flat();
  if (problems.length > 0) throw new RunError(`nothing was changed; on the nodes:\n  ${problems.join('\n  ')}`);
}

/** What a node's phase script does after its steps: a lab's record, written in the last phase's round. */
export interface AfterSteps {
  script: string;
  /** what it does, for its error: "recording the lab on the node" */
  what: string;
}

export async function applyPhase(
  plan: Plan,
  phase: Phase,
  transports: Transports,
  run: ScriptRun,
  options: {
    signal?: AbortSignal;
    onProgress?: (node: string, done: number) => void;
    /** a node's script to run once its steps of this phase succeeded (alone where it has none): one round less */
    after?: (node: string) => AfterSteps;
  } = {},
): Promise<void> {
  const { signal, onProgress, after } = options;
  if (signal?.aborted) throw new Interrupted();
  await everyNode(
    plan.nodes.map((n) => n.node),
    async (node) => {
      const steps = stepsOfPhase(plan.nodes.find((n) => n.node === node)!.steps, phase);
      const then = after?.(node);
      if (steps.length === 0 && !then?.script) return;
      // A failed step ends the script (netlab_fail): what comes after its steps runs only when they all succeeded.
      // Its mark says it began: a node script that ends before it (a connection lost) is not its failure.
      const thenScript = then?.script ? `echo "${AFTER_MARKER}"\n${then.script}` : '';
      const script = steps.length ? `${applyScript(plan.lab, steps, run)}${thenScript}` : thenScript;
      const result = await transports[node]!.run(script, {
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onStdout: countSteps((done) => onProgress(node, done)) } : {}),
      });
      if (signal?.aborted) throw new Interrupted();
      const other = /^@@netlab other-run (.*)$/m.exec(result.stdout);
      if (other)
        throw new StepFailure(
          node,
          undefined,
          `lab ${plan.lab} on this node belongs to ${describeRun(other[1]!)}, not to this up; nothing was changed on it`,
        );
      const outcome = parseScriptOutput(result.stdout, result.stderr);
      if (outcome.failed) {
        const step = steps.find((s) => s.id === outcome.failed!.step);
        throw new StepFailure(node, step, `exit ${outcome.failed.exitCode}: ${outcome.failed.stderr}`);
      }
      const missing = steps.find((s) => !outcome.done.has(s.id));
      const thenBegan = thenScript !== '' && result.stdout.includes(`${AFTER_MARKER}\n`);
      if (missing || (result.exitCode !== 0 && !thenBegan)) {
        throw new StepFailure(
          node,
          missing,
          `the node script ended with exit ${result.exitCode}: ${result.stderr.trim()}`,
        );
      }
      if (result.exitCode !== 0)
        throw new RunError(`${node}: ${then!.what} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
    },
  );
}

const DONE_MARKER = '@@netlab done ';
/** What a phase script prints before the script that follows its steps (applyPhase's `after`; exported for the tests). */
export const AFTER_MARKER = '@@netlab after the steps';

/**
 * A listener for a node script's stdout that counts its finished steps (their
 * done markers) as they come. Only the new chunk is scanned, and of the line
 * still open only as many characters as the marker has are kept: joining the
 * open line again on every chunk made one long line quadratic (32 MiB: 10 s).
 */
export function countSteps(onDone: (done: number) => void): (chunk: string) => void {
  let done = 0;
  let head = ''; // the first characters of the line not yet ended
  return (chunk) => {
    const before = done;
    for (let start = 0; ;) {
      const newline = chunk.indexOf('\n', start);
      const end = newline < 0 ? chunk.length : newline;
      if (head.length < DONE_MARKER.length)
        head += chunk.slice(start, Math.min(end, start + DONE_MARKER.length - head.length));
      if (newline < 0) break;
      if (head === DONE_MARKER) done++;
      head = '';
      start = newline + 1;
    }
    if (done !== before) onDone(done);
  };
}

export function phasesOf(plan: Plan): Phase[] {
  return PHASES.filter((phase) => plan.nodes.some((n) => stepsOfPhase(n.steps, phase).length > 0));
}

export type NodeDown = DownOutcome | { found: 'unreachable'; reason: string };

/**
 * Runs every node's undo journal of this run. Without a run (the local state is
 * lost) nothing is undone: each node names the run it has. Unreachable nodes
 * are reported, not fatal.
 */
export async function runDown(lab: string, transports: Transports, run?: ScriptRun): Promise<Record<string, NodeDown>> {
  const entries = await Promise.all(
    Object.entries(transports).map(async ([node, transport]): Promise<[string, NodeDown]> => {
      try {
        const result = await transport.run(downScript(lab, run));
        const outcome = parseDownOutput(result.stdout);
        return [
          node,
          outcome.finished
            ? outcome
            : { found: 'unreachable', reason: result.stderr.trim() || `exit ${result.exitCode}` },
        ];
      } catch (error) {
        return [node, { found: 'unreachable', reason: (error as Error).message }];
      }
    }),
  );
  return Object.fromEntries(entries);
}

/** The nodes whose journal had undo commands that failed: their objects are still there. */
export function nodesWithFailedUndo(outcomes: Record<string, NodeDown>): string[] {
  return Object.entries(outcomes).flatMap(([node, o]) => ('failed' in o && o.failed.length ? [node] : []));
}

/** One line per node: what down found there and did (what a node said, escaped). */
export function describeDown(lab: string, outcomes: Record<string, NodeDown>, verbose = false): string[] {
  return Object.entries(outcomes).flatMap(([node, o]) =>
    describeNodeDown(lab, node, o, verbose).map((line) => escapeControls(line, true)),
  );
}

function describeNodeDown(lab: string, node: string, o: NodeDown, verbose: boolean): string[] {
  if (o.found === 'unreachable') return [`${node}: could not undo: ${o.reason}`];
  if (o.found === 'nothing') return [`${node}: nothing recorded for lab ${lab}`];
  if (o.found === 'other-run')
    return [`${node}: left alone: lab ${lab} there is ${describeRun(o.run ?? '?')}, not the run this state knows`];
  const counts = [
    `${o.undone} undo command(s)`,
    ...(o.skipped.length ? [`${o.skipped.length} found nothing left to undo`] : []),
    ...(o.failed.length ? [`${o.failed.length} failed`] : []),
  ];
  return [
    `${node}: ${o.failed.length ? 'could not remove all' : 'removed what'} ${o.run ? describeRun(o.run) : 'the lab'} made (${counts.join(', ')})`,
    ...o.failed.map((f) => `  ${node}: failed: ${f.line}: ${f.said || 'no message'}`),
    ...o.kept.map((k) => `  ${node}: ${k}`),
    ...(verbose ? o.skipped.map((w) => `  ${node}: skipped (already gone): ${w}`) : []),
  ];
}
