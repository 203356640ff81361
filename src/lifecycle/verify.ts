// Verifying a lab that is up: its checks, the evidence, the diagnosis of drift,
// and a trace of what failed; used by `verify` and by `up --verify`.
import { printJson } from '../json-output.js';
import { crossNodeWiring } from '../wiring/registry.js';
import chalk from 'chalk';
import { escapeControls, EXIT_INTERRUPTED, Interrupted, shown, UsageError } from '../errors.js';
import { onInterrupts } from '../os/hangup.js';
import { DEFAULT_VERIFY_TIMEOUT, describeCheck, runChecks, spreadOf, type CheckResult } from '../verify/run.js';
import type { LabState } from '../state/store.js';
import { challengeInProgress } from './attach.js';
import { traceTransportsOf, transportsOf } from '../exec/transports.js';
import { collectEvidence, type NodeEvidence } from '../verify/evidence.js';
import { cachedRedirectCaveat, describeFindings, diagnose } from '../verify/diagnose.js';
import { describeOutcome, requestOfCheck, traceRequest, type TraceRequest } from '../trace/trace.js';
import type { Trace } from '../trace/walk.js';
import { LiveKernel } from '../trace/kernel.js';
import { planOnce, type PlanOnce } from '../plan/build.js';
import { LAB_LIMITS } from '../model/grammar.js';

/** At most this many failed checks are traced: enough to see the pattern, quick on a large lab. */
const TRACED_FAILURES = 3;

/** Each failed check that should have passed, traced from the live tables (the check already sent its packets). */
async function traceFailures(
  state: LabState,
  results: CheckResult[],
  plan: PlanOnce,
): Promise<{ number: number; request: TraceRequest; trace: Trace }[]> {
  const failed = results.filter((r) => !r.ok && r.check.expect === 'pass').slice(0, TRACED_FAILURES);
  // The routers of a routed underlay too: a packet may stop at one.
  const transports = traceTransportsOf(state);
  // One reader for all the traces: each namespace's tables are read once.
  const kernel = new LiveKernel(state.model, transports);
  return Promise.all(
    failed.map(async (r) => {
      const request = requestOfCheck(state.model, state.facts, r.check);
      return {
        number: r.number!,
        request,
        trace: await traceRequest(state.model, state.facts, transports, request, kernel, plan),
      };
    }),
  );
}

export interface VerifyOptions {
  json?: boolean;
  /** 1-based numbers of the checks to run (default: all) */
  check?: string[];
  /** override the number of connections of Service checks, and of tcp checks to a NodePort or a ClusterIP */
  connections?: string;
  /** seconds for all the checks together (default DEFAULT_VERIFY_TIMEOUT) */
  timeout?: string;
  /** summary (default: long evidence is summarized) or full */
  evidence?: string;
  /** with json: hand the report to this (up --verify --json puts it in its own document) instead of printing it */
  onJson?: (report: object) => void;
  /** aborted: the checks stop (their TCP responders too), and verifyLab throws Interrupted */
  stop?: AbortSignal;
}

/**
 * Runs checks (verifyLab with `stop`) that a Ctrl-C, SIGTERM or a hangup stops, rather than netlab: the TCP
 * responders they started in the pods are stopped before it exits (killed where it stood, netlab left them
 * running until down). Undefined when they were stopped so, as said on stderr.
 */
export async function checksUntilStopped<T>(work: (stop: AbortSignal) => Promise<T>): Promise<T | undefined> {
  const stop = new AbortController();
  const leave = onInterrupts(() => stop.abort());
  const stopped = () => {
    console.error('netlab: interrupted: the checks were stopped, and the TCP responders they had started');
    return undefined;
  };
  try {
    const done = await work(stop.signal);
    // (a Ctrl-C after the checks, while what follows them ran: stopped all the same)
    return stop.signal.aborted ? stopped() : done;
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    return stopped();
  } finally {
    leave();
  }
}

/**
 * Verify's options that say what they are without the lab (bad input, exit 2): checked before the lab is
 * looked up, so that a lab not up is not said first and the option's problem after it is up. The check
 * numbers' upper bound is the lab's (verifyLab).
 */
export function checkVerifyOptions(options: VerifyOptions): void {
  const numbers = (options.check ?? []).map(Number);
  if (numbers.some((n) => !Number.isInteger(n) || n < 1))
    throw new UsageError(`--check takes check numbers (1, 2, …); found ${shown((options.check ?? []).join(', '))}`);
  if (options.connections !== undefined) {
    const n = Number(options.connections);
    if (!Number.isInteger(n) || n < 1 || n > LAB_LIMITS.connections)
      throw new UsageError(
        `--connections takes a number 1-${LAB_LIMITS.connections}; found ${shown(String(options.connections))}`,
      );
  }
  if (options.timeout !== undefined) {
    const timeout = Number(options.timeout);
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3600)
      throw new UsageError(`--timeout takes seconds, 1-3600; found ${shown(String(options.timeout))}`);
  }
  if (options.evidence !== undefined && !['summary', 'full'].includes(options.evidence))
    throw new UsageError(`--evidence takes summary or full; found ${shown(options.evidence)}`);
}

export async function verifyLab(
  state: LabState,
  options: VerifyOptions = {},
  plan: PlanOnce = planOnce(state.model, state.facts),
): Promise<CheckResult[]> {
  checkVerifyOptions(options);
  let checks = state.model.checks;
  const numbers = new Map(checks.map((c, i) => [c, i + 1]));
  if (options.check?.length) {
    const wanted = options.check.map(Number);
    const bad = wanted.filter((n) => !Number.isInteger(n) || n < 1 || n > checks.length);
    if (bad.length)
      throw new UsageError(`--check takes check numbers 1-${checks.length}; found ${options.check.join(', ')}`);
    checks = checks.filter((_, i) => wanted.includes(i + 1));
  }
  if (options.connections !== undefined) {
    const n = Number(options.connections);
    checks = checks.map((c) => {
      // (a tcp check to a pod, or a bulk one, makes one connection: only those spread over backends take it)
      const changed = spreadOf(state.model, c) ? { ...c, connections: n } : c;
      numbers.set(changed, numbers.get(c)!);
      return changed;
    });
  }
  const timeout = options.timeout === undefined ? DEFAULT_VERIFY_TIMEOUT : Number(options.timeout);
  const results = await runChecks(state.model, state.facts, transportsOf(state), {
    checks,
    timeoutSeconds: timeout,
    plan,
    stop: options.stop,
  });
  return results.map((r) => ({ ...r, number: numbers.get(r.check)! }));
}

/** Past this many lines, a node's evidence is summarized (the scale lab's FDB has 580 entries per node). */
export const EVIDENCE_LINES = 8;

/**
 * A node's evidence as verify prints it: whole when short; when long, its
 * count, the static entries and a sample of the rest, so that the report fits
 * a screen (`--evidence full` and --json give everything).
 */
export function evidenceLines(item: NodeEvidence, full = false): string[] {
  if (full || item.lines.length <= EVIDENCE_LINES) return item.lines;
  // What the lab made (permanent entries) first, then what names a remote node (dst), then the rest.
  const rank = (line: string) => (/\bpermanent\b/.test(line) ? 0 : /\bdst\b/.test(line) ? 1 : 2);
  const chosen = new Set(
    item.lines
      .map((line, i) => ({ line, i, rank: rank(line) }))
      .sort((a, b) => a.rank - b.rank || a.i - b.i)
      .slice(0, EVIDENCE_LINES)
      .map((c) => c.i),
  );
  return [
    ...item.lines.filter((_, i) => chosen.has(i)),
    `… and ${item.lines.length - chosen.size} more (${item.lines.length} in all: \`netlab verify --evidence full\`, or --json)`,
  ];
}

export function printEvidence(evidence: NodeEvidence[], full = false): void {
  for (const item of evidence) {
    console.log(`${item.node}: ${item.title}`);
    for (const line of evidenceLines(item, full)) console.log(`    ${escapeControls(line, true)}`);
  }
}

export function printResults(lab: string, results: CheckResult[]): void {
  const width = Math.max(...results.map((r) => describeCheck(r.check).length), 10);
  console.log(`verify ${lab}: ${results.length} check(s)`);
  for (const r of results) {
    const mark = r.ok ? chalk.green('✓ pass') : chalk.red('✗ FAIL');
    const expectation = r.check.expect === 'fail' ? ' (expected to fail)' : '';
    console.log(
      `  ${String(r.number ?? '').padStart(2)} ${mark}  ${describeCheck(r.check).padEnd(width)}  ${r.reached ? 'reached' : 'not reached'}${expectation}: ${escapeControls(r.evidence, true)}`,
    );
  }
  const failed = results.filter((r) => !r.ok).length;
  const late = results.filter((r) => r.timedOut).length;
  console.log(
    failed === 0
      ? chalk.green(`all ${results.length} checks passed`)
      : chalk.red(
          `${failed} of ${results.length} checks failed${late ? ` (${late} stopped by the deadline: --timeout)` : ''}`,
        ),
  );
}

/** Runs the checks and prints them with their evidence (and a diagnosis when one fails): for verify and up --verify alike. */
export async function verifyAndReport(
  state: LabState,
  options: VerifyOptions = {},
  /** the plan of the lab as it is up (`up --verify` has it already) */
  plan: PlanOnce = planOnce(state.model, state.facts),
): Promise<number> {
  const transports = transportsOf(state);
  // A kind that learns from traffic (VXLAN's FDB): show its evidence before the checks too.
  const before = crossNodeWiring(state.model.crossNode).learns ? await collectEvidence(state.model, transports) : [];
  const full = options.evidence === 'full';
  const results = await checksUntilStopped((stop) => verifyLab(state, { ...options, stop }, plan));
  if (!results) return EXIT_INTERRUPTED;
  const evidence = await collectEvidence(state.model, transports);
  const passed = results.every((r) => r.ok);
  // Compared even when every check passes: a check can pass through what the kernel still
  // remembers (an ICMP redirect in a pod's route cache, a learned FDB entry) after what the
  // plan made is gone, and fail when that memory expires.
  // While a challenge is active, what drifted is its fault: not shown (and not needed to fail: its checks fail).
  const challenge = await challengeInProgress(state);
  const hidden = challenge !== undefined;
  const { findings, unanswered } = hidden
    ? { findings: [], unanswered: [] }
    : await diagnose(state.model, state.facts, transports, plan);
  const traces = passed ? [] : await traceFailures(state, results, plan);
  // A lab that has drifted is not reported as working, even while its checks pass.
  const ok = passed && findings.length === 0 && unanswered.length === 0;
  if (options.json) {
    (options.onJson ?? printJson)({
      lab: state.lab,
      // the checks passed; ok: verify's verdict, its exit code's (what the plan made is there, every node answered)
      passed,
      ok,
      checks: results.map((r) => ({ name: describeCheck(r.check), ...r })),
      evidence,
      ...(before.length ? { evidenceBefore: before } : {}),
      findings,
      ...(unanswered.length ? { unanswered } : {}),
      ...(hidden ? { challenge: challenge!.id } : {}),
      traces: traces.map(({ number, trace }) => ({ check: number, ...trace })),
    });
  } else {
    printResults(state.lab, results);
    // Shown before and after only when the checks changed it (a VXLAN device learned MACs).
    if (before.length && JSON.stringify(before) !== JSON.stringify(evidence)) {
      console.log('before the checks:');
      printEvidence(before, full);
      console.log('after the checks:');
    }
    printEvidence(evidence, full);
    if (passed && (findings.length > 0 || unanswered.length > 0)) {
      console.log(
        chalk.yellow(
          findings.length > 0
            ? 'the checks pass now, but what the plan made has changed (so verify fails): they may pass only through what the kernel still remembers, and fail when it forgets'
            : 'the checks pass, but a node did not answer when asked what it has of the plan (so verify fails)',
        ),
      );
      for (const line of describeFindings(findings, unanswered).slice(1)) console.log(line);
      for (const line of cachedRedirectCaveat(findings)) console.log(line);
    }
    if (!passed && hidden)
      console.log(`diagnosis: not shown while challenge ${challenge!.id} is active (\`netlab challenge hint\`)`);
    else if (!passed) {
      for (const line of describeFindings(findings, unanswered)) console.log(line);
      for (const { number, request, trace } of traces) {
        const [first, ...rest] = describeOutcome(trace);
        console.log(
          `  trace of check ${number} (${request.fromLabel} → ${request.packet.dst}${request.packet.port ? `:${request.packet.port}` : ''}, \`netlab trace\` shows every hop): ${first}`,
        );
        for (const line of rest) console.log(`  ${line}`);
      }
    }
  }
  return ok ? 0 : 1;
}
