// Executing a plan: one script per node with its phases in order (one per phase
// with --step), nodes in parallel. A failure names the node, the step, its
// commands and their stderr.
import type { ScriptResult } from './transport.js';
import type { Model } from '../model/lab.js';
import { stepsOfPhase } from '../plan/build.js';
import { PHASES, type Phase, type Plan, type Step } from '../model/plan.js';
import { applyScript, downScript, parseDownOutput, parseScriptOutput, type DownOutcome } from '../shell/node-script.js';
import type { ScriptRun } from '../shell/prelude.js';
import { quoteArgv } from '../os/quote.js';
import { escapeControls, Interrupted, RunError } from '../errors.js';
import { describeProblems, type KernelProbe, preflightScript } from './preflight.js';
import { describeRun, thisController } from '../state/store.js';
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
  plan: Plan | undefined,
  {
    answered = {},
    probeOn = () => ({}),
    freshNodes = false,
  }: {
    /** the nodes that answered already (simulated nodes, as they started; machines, in their lock's round) */
    answered?: Record<string, ScriptResult>;
    /** whether a node's kernel is probed (exec/kernel-seen.ts); by default it is */
    probeOn?: (node: string) => KernelProbe;
    /** the nodes are simulated nodes this up started (PreflightJudging.freshNode) */
    freshNodes?: boolean;
  } = {},
): Promise<void> {
  const here = thisController();
  const problems = (
    await everyNode(Object.keys(transports), async (node) => {
      const steps = plan?.nodes.find((n) => n.node === node)?.steps ?? [];
      const result =
        answered[node] ??
        (await transports[node]!.run(preflightScript(model, node, steps, probeOn(node), { freshNode: freshNodes })));
      if (result.exitCode !== 0) return [`${node}: preflight failed: ${result.stderr.trim()}`];
      return describeProblems(model, node, steps, result.stdout, {
        inUserNamespace: transports[node]!.inUserNamespace,
        here,
        freshNode: freshNodes,
      });
    })
  ).flat();
  if (problems.length > 0) throw new RunError(`nothing was changed; on the nodes:\n  ${problems.join('\n  ')}`);
}

/** What a node's script does after its steps: a lab's record, written in the steps' round. */
export interface AfterSteps {
  script: string;
  /** what it does, for its error: "recording the lab on the node" */
  what: string;
}

/** What a node runs to apply its steps of some phases, and what follows them. */
export interface NodeScript {
  steps: Step[];
  then?: AfterSteps;
  /** the script that follows the steps, after the mark that says it began ('' for none) */
  thenScript: string;
  script: string;
}

/**
 * Each node's script for its steps of `phases` (undefined: nothing to run there). A pure function of the plan:
 * `up` makes them while the simulated nodes start.
 */
export function nodeScripts(
  plan: Plan,
  phases: readonly Phase[],
  run: ScriptRun,
  after?: (node: string) => AfterSteps,
): Record<string, NodeScript | undefined> {
  return Object.fromEntries(
    plan.nodes.map(({ node, steps: ofNode }) => {
      const steps = phases.flatMap((phase) => stepsOfPhase(ofNode, phase));
      const then = after?.(node);
      if (steps.length === 0 && !then?.script) return [node, undefined];
      // A failed step ends the script (netlab_fail): what comes after its steps runs only when they all succeeded.
      // Its mark says it began: a node script that ends before it (a connection lost) is not its failure.
      const thenScript = then?.script ? `echo "${AFTER_MARKER}"\n${then.script}` : '';
      const script = steps.length ? `${applyScript(plan.lab, steps, run)}${thenScript}` : thenScript;
      return [node, { steps, ...(then ? { then } : {}), thenScript, script }];
    }),
  );
}

/**
 * Applies the steps of `phases` on every node, in parallel: each node runs one
 * script with its steps of all of them, in order (`up --step` gives one phase
 * at a time). A node does not wait for the others between phases: nothing a
 * step makes on one node needs another node's, and a round per phase cost each
 * node the wait for the slowest (BENCHMARKS.md). A node that fails does not
 * stop the others' scripts: stopped in the middle, a node's shell still holds
 * the node's lock for a moment, and the next script there (the rollback's)
 * could not take it. The failure reported is a step's, of the earliest phase.
 */
export async function applyPhases(
  plan: Plan,
  phases: readonly Phase[],
  transports: Transports,
  run: ScriptRun,
  options: {
    signal?: AbortSignal;
    onProgress?: OnProgress;
    /**
     * the nodes' scripts, made before (nodeScripts, with the same plan, phases and run; with what each node runs
     * once its steps succeeded, `up`'s record of the lab); by default their steps alone
     */
    scripts?: Record<string, NodeScript | undefined>;
  } = {},
): Promise<void> {
  const { signal, onProgress } = options;
  if (signal?.aborted) throw new Interrupted();
  const scripts = options.scripts ?? nodeScripts(plan, phases, run);
  const results = await Promise.allSettled(plan.nodes.map(({ node }) => applyOnNode(node)));
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (errors.length)
    throw errors.reduce((chosen, error) => (failureRank(error) < failureRank(chosen) ? error : chosen));

  async function applyOnNode(node: string): Promise<void> {
    if (!scripts[node]) return;
    const { steps, then, thenScript, script } = scripts[node];
    const result = await transports[node]!.run(script, {
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onStdout: countSteps((_done, ids) => onProgress(node, ids)) } : {}),
    });
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
    // (A step that failed as Ctrl-C stopped the script is still its failure.)
    if (signal?.aborted) throw new Interrupted();
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
  }
}

/**
 * Which of the nodes' errors applyPhases reports (the lowest rank): a step's
 * failure, of the earliest phase first; then any other; an interruption last.
 */
function failureRank(error: unknown): number {
  if (error instanceof StepFailure) return error.step ? PHASES.indexOf(error.step.phase) : PHASES.length;
  return error instanceof Interrupted ? PHASES.length + 2 : PHASES.length + 1;
}

const DONE_MARKER = '@@netlab done ';
/** What a node's script prints before the script that follows its steps (applyPhases' `after`; exported for the tests). */
export const AFTER_MARKER = '@@netlab after the steps';

/**
 * A listener for a node script's stdout that counts its finished steps (their
 * done markers) as they come, with their ids. Only the new chunk is scanned,
 * and of the line still open only as many characters as the marker and an id
 * have are kept: joining the open line again on every chunk made one long line
 * quadratic (32 MiB: 10 s).
 */
export function countSteps(onDone: (done: number, ids: readonly number[]) => void): (chunk: string) => void {
  let done = 0;
  let head = ''; // the first characters of the line not yet ended: the marker and a step's id
  const keep = DONE_MARKER.length + 10;
  return (chunk) => {
    const ids: number[] = [];
    for (let start = 0; ;) {
      const newline = chunk.indexOf('\n', start);
      const end = newline < 0 ? chunk.length : newline;
      if (head.length < keep) head += chunk.slice(start, Math.min(end, start + keep - head.length));
      if (newline < 0) break;
      if (head.startsWith(DONE_MARKER)) {
        done++;
        ids.push(Number(head.slice(DONE_MARKER.length)));
      }
      head = '';
      start = newline + 1;
    }
    if (ids.length) onDone(done, ids);
  };
}

/** applyPhases' progress: the ids of a node's steps just done. */
export type OnProgress = (node: string, ids: readonly number[]) => void;

/**
 * Phases applied in one round per node (applyPhases), followed phase by phase:
 * a phase is done when every node has done its steps of it (what follows the
 * steps, applyPhases' `after`, is awaited by `start`'s promise). `apply` runs
 * once, from `start` or the first phase asked for. A failure (or an
 * interruption) is that of the first phase whose steps were not all done: the
 * phases before it are done.
 */
export function phasesInOneRound(
  plan: Plan,
  apply: (onProgress: OnProgress) => Promise<void>,
): {
  /** starts `apply` if it has not begun: its promise, which settles once every node's script has ended */
  start: () => Promise<void>;
  phaseDone: (phase: Phase, onChange?: () => void) => Promise<void>;
  done: (node: string, phase: Phase) => number;
  total: (node: string, phase: Phase) => number;
} {
  const key = (node: string, phase: Phase) => `${node} ${phase}`;
  const totals = new Map(
    plan.nodes.flatMap((n) =>
      PHASES.map((phase) => [key(n.node, phase), stepsOfPhase(n.steps, phase).length] as const),
    ),
  );
  const phaseOf = new Map(plan.nodes.map((n) => [n.node, new Map(n.steps.map((s) => [s.id, s.phase]))]));
  /** the ids done, by node and phase (a set: a marker said twice counts once) */
  const doneIds = new Map<string, Set<number>>();
  const listeners = new Set<() => void>();
  const done = (node: string, phase: Phase) => doneIds.get(key(node, phase))?.size ?? 0;
  const total = (node: string, phase: Phase) => totals.get(key(node, phase)) ?? 0;
  const complete = (phase: Phase) => plan.nodes.every((n) => done(n.node, phase) >= total(n.node, phase));
  let applying: Promise<void> | undefined;
  const start = () => {
    applying ??= apply((node, ids) => {
      for (const id of ids) {
        const phase = phaseOf.get(node)?.get(id);
        if (!phase) continue;
        const ofPhase = doneIds.get(key(node, phase)) ?? new Set<number>();
        doneIds.set(key(node, phase), ofPhase.add(id));
      }
      for (const listener of [...listeners]) listener();
    });
    // Awaited by the phase it fails, which may be asked for later: not an unhandled rejection meanwhile.
    applying.catch(() => {});
    return applying;
  };
  return {
    start,
    done,
    total,
    phaseDone(phase, onChange) {
      const all = start();
      return new Promise<void>((resolve, reject) => {
        let settled = false;
        const settle = (failure?: { error: unknown }) => {
          if (settled) return;
          settled = true;
          listeners.delete(check);
          if (failure) reject(failure.error);
          else resolve();
        };
        const check = () => {
          onChange?.();
          if (complete(phase)) settle();
        };
        listeners.add(check);
        check();
        // Every node's script ended well: applyPhases saw every step's done marker, whatever was streamed.
        all.then(
          () => settle(),
          (error: unknown) => settle(complete(phase) ? undefined : { error }),
        );
      });
    },
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
