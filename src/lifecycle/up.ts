// Bringing a lab up: the SSH nodes' facts, the plan applied phase after phase
// (with state recorded as it goes), --step's pauses, and the rollback on failure.
import { forgetLabRecordOnNodes, labRecordScript, recordLabOnNodes } from './attach.js';
import { labIdOf, podNamespacesOn } from '../model/lab.js';
import type { ScriptResult } from '../exec/transport.js';
import { type KernelProbe, preflightScript, requirements } from '../exec/preflight.js';
import {
  FORGET_ON_NODE,
  forgetKernel,
  type KernelMemory,
  kernelSeen,
  NODE_MEMORY,
  rememberKernel,
  rememberOnNodeScript,
} from '../exec/kernel-seen.js';
import { stepsOfPhase } from '../plan/build.js';
import { createSimulatedNodes } from '../exec/simulated.js';
import { applyPhases, nodeScripts, phasesInOneRound, phasesOf, runPreflight, StepFailure } from '../exec/runner.js';
import { newRunIdentity, scriptRunOf, STATE_VERSION, writeState, type LabState } from '../state/store.js';
import { transportsOf } from '../exec/transports.js';
import { lockHolder, tearDown } from './down.js';
import { lockNodes } from '../exec/node-lock.js';
import { newSimulatedTarget } from '../exec/userns.js';
import { escapeControls, EXIT_INTERRUPTED, Interrupted } from '../errors.js';
import { renderPlanText } from '../shell/render.js';
import { quoteArgv } from '../os/quote.js';
import { shownOf } from '../model/effects.js';
import { onInterrupts, outputMayBeGone } from '../os/hangup.js';
import { describeChanges, podsActedIn, snapshotNode } from '../workshop/changes.js';
import type { Transports } from '../exec/transports.js';
import { sshTarget, type TargetOptions } from '../exec/targets.js';
import { checkReachable } from '../exec/ssh.js';
import type { SshTargetState } from '../state/targets.js';
import { discoverFacts, FACTS_SCRIPT } from '../exec/facts.js';
import type { Model } from '../model/lab.js';
import type { NodeFacts, Plan } from '../model/plan.js';
import { mark } from '../profile.js';
import type { ScriptRun } from '../shell/prelude.js';
import type { EarlyConnection } from './connect-early.js';
import { liveProgress, runProgress } from './progress.js';

export interface UpOptions extends TargetOptions {
  verify?: boolean;
  keep?: boolean;
  /** the lab is up from another version of the file: take it down first */
  recreate?: boolean;
  /** print the plan with an explanation of every command first */
  explain?: boolean;
  /**
   * apply one phase (true, 'phase') or one step of one node ('command') at a
   * time: show it, wait for Enter (or --yes), then show what changed
   */
  step?: boolean | 'phase' | 'command';
  yes?: boolean;
  /** a JSON document on stdout at the end; progress goes to stderr */
  json?: boolean;
}

/** How a --step pause learns that up is interrupted, and says that the terminal is gone. */
interface Stop {
  signal: AbortSignal;
  interrupt: () => void;
}

/** The network namespaces of the pods on a node. */

/** `q` at a --step=command pause: stop where it is, leaving what is there (down removes it). */
export class StoppedHere extends Error {}

/**
 * --step=command: each step of each node, one at a time: its commands and why,
 * applied on Enter, followed by what it changed on the node. The states the
 * article walks through are seen as they happen: the veth pair in the node
 * before one end moves into the pod, br0 DOWN before it is brought up.
 */
async function stepThroughCommands(
  model: Model,
  plan: Plan,
  transports: Transports,
  run: ScriptRun,
  options: UpOptions,
  stop: Stop,
): Promise<void> {
  const { signal } = stop;
  for (const phase of phasesOf(plan))
    for (const node of plan.nodes)
      for (const step of stepsOfPhase(node.steps, phase)) {
        console.log(`\n${node.node} step ${step.id} (${phase}): ${step.summary}`);
        console.log(`  why: ${step.why}`);
        for (const effect of step.effects)
          for (const { command, byHand, inPlace } of shownOf(effect)) {
            // iptables-restore's input is shown under it, in its plain command.
            console.log(`  $ ${quoteArgv(inPlace ? [command[0]!, '…'] : command)}`);
            // A helper's plain commands, as a learner types them.
            for (const line of byHand) console.log(`    = ${line}`);
          }
        if (!options.yes) {
          const answer = await waitForEnter('press Enter to run it, q to stop here leaving what is there ', stop);
          if (answer.trim() === 'q') throw new StoppedHere();
        }
        if (signal.aborted) throw new Interrupted();
        const transport = transports[node.node]!;
        // The node's tables, and those of the pods whose namespaces the step's effects act in.
        const pods = podsActedIn([step], podNamespacesOn(model, node.node));
        const before = await snapshotNode(transport, pods);
        await applyPhases({ ...plan, nodes: [{ ...node, steps: [step] }] }, [phase], transports, run, { signal });
        const changes = describeChanges(before, await snapshotNode(transport, pods));
        console.log(`  changed on ${node.node}${changes.length ? ':' : ': nothing visible'}`);
        for (const change of changes) console.log(`    ${change}`);
      }
}

/** --step: each phase shown with its reasons, applied on Enter, followed by what it changed on every node. */
async function stepThrough(
  model: Model,
  plan: Plan,
  transports: Transports,
  run: ScriptRun,
  options: UpOptions,
  stop: Stop,
): Promise<void> {
  const { signal } = stop;
  for (const phase of phasesOf(plan)) {
    process.stdout.write(
      `\n${renderPlanText(model, plan, '', options.explain, phase)
        .split('\n')
        .filter((l) => l.startsWith('###') || !l.startsWith('#') || l.startsWith('# [') || l.startsWith('#   = '))
        .join('\n')}`,
    );
    if (!options.yes) await waitForEnter(`press Enter to apply phase ${phase} (Ctrl-C to stop and roll back) `, stop);
    if (signal.aborted) throw new Interrupted();
    // Each node's tables, and those of the pods whose namespaces the phase's steps act in there.
    const pods = plan.nodes.map((n) => podsActedIn(stepsOfPhase(n.steps, phase), podNamespacesOn(model, n.node)));
    const snapshots = () => Promise.all(plan.nodes.map((n, i) => snapshotNode(transports[n.node]!, pods[i])));
    const before = await snapshots();
    await applyPhases(plan, [phase], transports, run, { signal });
    const after = await snapshots();
    console.log(`phase ${phase} changed:`);
    plan.nodes.forEach((n, i) => {
      const changes = describeChanges(before[i]!, after[i]!);
      console.log(`  ${n.node}: ${changes.length ? '' : 'nothing visible'}`);
      for (const change of changes) console.log(`    ${change}`);
    });
  }
}

/**
 * The learner's answer at a --step pause. Ctrl-C at the prompt (which readline
 * reads as a key, not a signal) is sent to netlab as SIGINT; a signal (or the
 * terminal hanging up) ends the wait with Interrupted, and so does the end of
 * the input (a closed terminal): up rolls back.
 */
async function waitForEnter(prompt: string, { signal, interrupt }: Stop): Promise<string> {
  // readline is loaded here, by --step alone: 0.5 ms of the start of every other up.
  const { createInterface } = await import('node:readline');
  if (signal.aborted) throw new Interrupted();
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  return new Promise<string>((resolve, reject) => {
    let answered = false;
    const onAbort = () => rl.close();
    signal.addEventListener('abort', onAbort, { once: true });
    rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
    rl.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      if (!answered) {
        if (!signal.aborted) interrupt();
        reject(new Interrupted());
      }
    });
    rl.question(prompt, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
  });
}

/** The login to every node over SSH (the early one, where `up` started it for this lab), and its facts' answers. */
export interface SshLogin {
  target: SshTargetState;
  underlay: Record<string, { dev?: string; address?: string }>;
  answered: Record<string, ScriptResult>;
}

/** Logs in to every node (or waits for the early login): fails fast, before anything changes. */
export async function loginSsh(model: Model, options: TargetOptions, early?: EarlyConnection): Promise<SshLogin> {
  const adopted =
    early && early.name === model.name && early.nodes.join() === model.nodes.map((n) => n.name).join()
      ? early
      : undefined;
  const { target, underlay } = adopted ?? (await sshTarget(model, options));
  if (!adopted) return { target, underlay, answered: await checkReachable(target, FACTS_SCRIPT) };
  const reached = await adopted.reachable;
  if ('error' in reached) throw reached.error;
  return { target, underlay, answered: reached.answered };
}

/**
 * Real nodes: connect to every node first (failing fast, before anything
 * changes), then read the facts the plan needs from them.
 */
export async function prepareSsh(
  model: Model,
  options: TargetOptions,
  early?: EarlyConnection,
  {
    tookDown = false,
    login,
  }: {
    /** an older version of the lab was taken down since the login asked the facts: they are asked again */
    tookDown?: boolean;
    /** the login, made already (loginSsh) */
    login?: SshLogin;
  } = {},
): Promise<{
  target: SshTargetState;
  facts: Record<string, NodeFacts>;
  /** what each machine remembers its kernel was seen to have (exec/kernel-seen.ts) */
  kernel: Record<string, KernelMemory>;
  model: Model;
}> {
  const { target, underlay, answered } = login ?? (await loginSsh(model, options, early));
  mark('wait for the SSH login');
  // The inventory may say which interface is the underlay; the lab file, where it says so, wins.
  const onNodes: Model = {
    ...model,
    nodes: model.nodes.map((n) => ({ ...n, underlay: { ...underlay[n.name], ...n.underlay } })),
  };
  // The login asked the facts' questions: its answers are the facts (unless the bridges and addresses of a
  // version of the lab taken down since were among them).
  const { facts, kernel } = await discoverFacts(onNodes, transportsOf({ target }), tookDown ? {} : answered);
  return { target, facts, kernel, model: onNodes };
}

/**
 * Starts the nodes and applies a plan, recording state as it goes; rolls back on
 * failure or interrupt unless keep is set. Exported for fault-injection tests.
 */
export async function bringUp(
  model: Model,
  file: string,
  plan: Plan,
  facts: Record<string, NodeFacts>,
  options: UpOptions & {
    silent?: boolean;
    target?: SshTargetState;
    /** over SSH: what each machine remembers its kernel was seen to have (prepareSsh) */
    kernelMemory?: Record<string, KernelMemory>;
    /** for the fault-injection tests only: tearDown's look at the nodes after the rollback's journals ran */
    beforeStop?: (transports: Transports) => Promise<void>;
  },
): Promise<number> {
  mark('plan');
  const state: LabState = {
    version: STATE_VERSION,
    lab: labIdOf(model),
    file,
    status: 'creating',
    createdAt: new Date().toISOString(),
    run: newRunIdentity(),
    target: options.target ?? newSimulatedTarget(),
    facts,
    model,
  };
  writeState(state);
  const run = scriptRunOf(state)!;
  /** set once a script of steps may have run on a node: before that, nothing on the nodes is this run's */
  let applied = false;

  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stderr.write(`\ninterrupted: stopping and rolling back (press Ctrl-C again to stop the rollback)\n`);
      abort.abort();
    } else {
      process.stderr.write(`\nrollback stopped: run \`netlab down ${labIdOf(model)}\` to finish cleaning up\n`);
      process.exit(EXIT_INTERRUPTED);
    }
  };
  // The terminal closed, or the SSH session dropped: rolled back as Ctrl-C, with nobody to see it. A hangup
  // may come more than once (the kernel's, then the shell's to its jobs): only the first counts, and it
  // never stops a rollback that a Ctrl-C started either.
  const onHangup = () => {
    outputMayBeGone();
    if (interrupts === 0) onSignal();
  };
  const leaveInterrupts = onInterrupts(onSignal, onHangup);
  // A kernel seen to have what the lab needs since it booted is not probed again (exec/kernel-seen.ts):
  // simulated nodes share this machine's memory, machines over SSH each have their own.
  const needs = requirements(model);
  const seenHere = !options.target && kernelSeen(needs);
  const memoryOn = (node: string): KernelMemory => options.kernelMemory?.[node] ?? { boot: undefined, seen: new Set() };
  const seenOn = (node: string) => (options.target ? kernelSeen(needs, memoryOn(node)) : seenHere);
  const probeOn = (node: string): KernelProbe => ({ kernel: seenOn(node) ? 'seen' : 'probe' });
  /** a node's preflight script: run as a simulated node starts, or over SSH with the node's lock */
  const preflight = (node: string) =>
    preflightScript(model, node, plan.nodes.find((n) => n.node === node)?.steps ?? [], probeOn(node), {
      freshNode: !options.target,
    });
  /** the nodes whose kernel is not probed */
  const unprobed = model.nodes.map((n) => n.name).filter(seenOn);
  // The progress shows a task's error in its line; netlab prints it once, in full, at the end.
  let failure: unknown;
  const guard = (work: () => Promise<unknown>, label: string) => async () => {
    try {
      await work();
      mark(label);
    } catch (error) {
      failure = error;
      throw new Error(error instanceof Interrupted ? 'interrupted' : 'failed (details below)', { cause: error });
    }
  };
  // With --json, stdout carries the JSON document alone: the progress goes to stderr.
  // The live display needs a terminal that says how wide it is: under one that reports 0 columns it drew one
  // character per line. Elsewhere a line per task, and no per-node counts (a line each, thousands in a phase).
  const progressStream = options.json ? process.stderr : process.stdout;
  const live = liveProgress(progressStream) && process.stdout.isTTY === true;
  /** the phases up runs itself (--step runs them in its own way) */
  const phases = options.step ? [] : phasesOf(plan);
  /** set once the nodes' script, which records the lab on them after its steps, has begun */
  let recordMayBeOnNodes = false;
  // Every node runs all its phases in one script, without waiting for the others between phases; each phase's
  // line ends when every node is past it. After its steps, the script records the lab on the node (one round
  // less), and what a machine over SSH whose kernel was probed was seen to have. (The memory first: the record's
  // script ends the script where the node holds another run's lab.)
  let scripts: ReturnType<typeof nodeScripts> | undefined;
  /** the nodes' scripts of the phases, made once (while simulated nodes start: no process waits for them then) */
  const scriptsOfNodes = () => {
    if (scripts) return scripts;
    const record = labRecordScript(state) ?? '';
    return (scripts = nodeScripts(plan, phases, run, (node) => ({
      script: `${options.target && !seenOn(node) ? rememberOnNodeScript(needs, memoryOn(node)) : ''}${record}`,
      what: 'recording the lab on the node',
    })));
  };
  const applying = phasesInOneRound(plan, (onProgress) => {
    applied = true;
    recordMayBeOnNodes = true;
    return applyPhases(plan, phases, transportsOf(state), run, {
      signal: abort.signal,
      onProgress,
      scripts: scriptsOfNodes(),
    });
  });
  /** the simulated nodes' start: awaited by the first task, and by a rollback before it looks for their holders */
  let nodesStarted: ReturnType<typeof createSimulatedNodes> | undefined;
  try {
    // Simulated nodes start here, before the progress display is made and drawn: their start is mostly waiting for
    // unshare and the kernel, and netlab makes the display meanwhile. Each node runs the preflight in the script
    // that gives it its underlay address (one round per node). The holders are kept in the state in memory, written
    // once before the steps (below): a holder is found by its marker too (exec/simulated.ts), so a killed up's are
    // not lost.
    nodesStarted = options.target
      ? undefined
      : createSimulatedNodes(model, facts, (target) => (state.target = target), preflight);
    // Awaited by the first task; until then a failure of the start is not an unhandled rejection.
    nodesStarted?.catch(() => {});
    if (nodesStarted && phases.length) scriptsOfNodes();
    await runProgress(
      [
        ...(options.target
          ? []
          : [
              {
                title: `start ${model.nodes.length} simulated node(s) and the underlay`,
                task: guard(() => nodesStarted!, 'start the simulated nodes'),
              },
            ]),
        {
          title: 'preflight: tools, kernel features and conflicts on every node',
          task: (_context: unknown, task: { output: string }) =>
            guard(async () => {
              // The nodes stay locked until the last phase: no other netlab changes them in between. Machines over
              // SSH answer the preflight in the lock's round (simulated nodes did as they started).
              const { answered } = await lockNodes(transportsOf(state), lockHolder('up', labIdOf(model), state.run), {
                // (the lock's holder as a node says it)
                waiting: (line) => (task.output = escapeControls(line, true)),
                signal: abort.signal,
                ...(options.target ? { then: preflight } : {}),
              });
              const preflighted = (await nodesStarted)?.answered ?? {};
              await runPreflight(model, transportsOf(state), plan, {
                answered: { ...preflighted, ...answered },
                probeOn,
                freshNodes: !options.target,
              });
              if (!options.target && !seenHere) rememberKernel(needs);
              // The simulated nodes' holders, on disk before any step runs: for status and exec meanwhile (--step).
              if (nodesStarted) writeState(state);
              // The nodes' script starts now, not after the progress display has moved to the next line.
              if (phases.length) void applying.start();
            }, 'preflight')(),
        },
        ...phases.map((phase) => ({
          title: `phase ${phase}: ${plan.nodes.map((n) => `${n.node} (${stepsOfPhase(n.steps, phase).length} steps)`).join(', ')}`,
          task: (_context: unknown, task: { output: string }) =>
            guard(async () => {
              // Each node's steps of this phase done so far, shown under it while it runs: `node-0 312/750  node-1 300/750`.
              const show = () => {
                if (live)
                  task.output = plan.nodes
                    .filter((n) => applying.total(n.node, phase) > 0)
                    .map((n) => `${n.node} ${applying.done(n.node, phase)}/${applying.total(n.node, phase)}`)
                    .join('  ');
              };
              await applying.phaseDone(phase, show);
              // The last also waits for the nodes' scripts to end: their record of the lab, after the steps.
              if (phase === phases.at(-1)) await applying.start();
            }, `phase ${phase}`)(),
        })),
      ],
      {
        display: options.silent ? 'silent' : live ? 'live' : 'lines',
        stream: progressStream,
        failures: process.stderr,
      },
    ).catch((error: unknown) => {
      throw failure ?? error;
    });
    if (options.step) {
      applied = true;
      // The input ending at a pause is the terminal gone: as a hangup.
      const stop = { signal: abort.signal, interrupt: onHangup };
      if (options.step === 'command') await stepThroughCommands(model, plan, transportsOf(state), run, options, stop);
      else await stepThrough(model, plan, transportsOf(state), run, options, stop);
    }
    if (abort.signal.aborted) throw new Interrupted();
    state.status = 'up';
    writeState(state);
    // The lab as built, on its nodes: what another controller attaches to (lifecycle/attach.ts). The nodes'
    // scripts wrote it after their steps, where up ran the phases.
    if (phases.length === 0) await recordLabOnNodes(state);
    await Promise.all(Object.values(transportsOf(state)).map((t) => t.unlock()));
    // A signal during the last rounds said "rolling back": so it does (tearDown locks the nodes again).
    if (abort.signal.aborted) throw new Interrupted();
    mark('record the state');
  } catch (error) {
    if (error instanceof StoppedHere) {
      // Recorded as being created: status says so, and down removes what the steps made.
      if (!options.silent)
        console.log(`stopped here; what the steps made so far stays: \`netlab down ${labIdOf(model)}\` removes it`);
      return 0;
    }
    // Every holder has started (or failed to) before the rollback looks for them.
    await nodesStarted?.catch(() => {});
    const interrupted = abort.signal.aborted;
    // A step that failed where the kernel was not probed may be a feature gone after all: the next up probes it.
    // Every node not probed forgets (only the first failure is reported), before the rollback, which ends the
    // SSH connections.
    const kernelSuspect = unprobed.length > 0 && error instanceof StepFailure && !interrupted;
    const notForgotten = kernelSuspect
      ? await forgetKernelOn(Boolean(options.target), transportsOf(state), unprobed)
      : [];
    // Each node's script records the lab once its steps succeeded, whatever another node's did: a lab that failed
    // elsewhere is no lab to attach to (simulated nodes rolled back are gone with their records).
    if (recordMayBeOnNodes && ((options.keep && !interrupted) || options.target)) await forgetLabRecordOnNodes(state);
    if (options.keep && !interrupted) {
      state.status = 'failed';
      writeState(state);
      if (!options.silent)
        console.error(
          `up failed; kept what was created for debugging (--keep). Remove it with \`netlab down ${labIdOf(model)}\``,
        );
    } else {
      // Before the first phase, nothing on machines over SSH is this run's: the rollback leaves them alone.
      const touchNodes = applied || state.target.kind === 'simulated';
      if (!options.silent)
        console.error(
          touchNodes
            ? `up ${interrupted ? 'interrupted' : 'failed'}; rolling back what was created...`
            : `up ${interrupted ? 'interrupted' : 'failed'} before changing anything on the nodes`,
        );
      try {
        await tearDown(state, { touchNodes, command: 'up (rolling back)', beforeStop: options.beforeStop });
      } catch (rollback) {
        // The rollback's own failure is said; the error of up stays the one that made it roll back.
        // (what a node said is in it: a learner is root on the machines of a lab they work on)
        console.error(`the rollback did not finish: ${escapeControls((rollback as Error).message)}`);
        if (interrupted) return EXIT_INTERRUPTED;
        throw error;
      }
      if (!options.silent && touchNodes) console.error('rolled back: nothing is left on the nodes');
    }
    if (kernelSuspect && !options.silent) console.error(notProbed(options.target ? unprobed : undefined, notForgotten));
    if (interrupted) return EXIT_INTERRUPTED;
    throw error;
  } finally {
    leaveInterrupts();
  }
  if (!options.silent) {
    console.log(`lab ${labIdOf(model)} is up: ${model.nodes.length} node(s), ${model.pods.length} pod(s)`);
    if (!options.verify)
      console.log(
        `next: \`netlab verify ${labIdOf(model)}\`, \`netlab exec ${model.pods[0]?.name ?? 'POD'}${model.instance === undefined ? '' : ` --instance ${model.instance}`} -- ip addr\`, \`netlab down ${labIdOf(model)}\``,
      );
  }
  return 0;
}

/**
 * Forgets what was seen of the kernel: this machine's (simulated nodes), or
 * what each machine over SSH remembers of its own; returns the machines that
 * could not be told (their memory only saves a probe: best effort).
 */
async function forgetKernelOn(overSsh: boolean, transports: Transports, nodes: readonly string[]): Promise<string[]> {
  if (!overSsh) {
    forgetKernel();
    return [];
  }
  const told = await Promise.all(
    nodes.map((node) =>
      transports[node]!.run(FORGET_ON_NODE).then(
        (result) => result.exitCode === 0,
        () => false,
      ),
    ),
  );
  return nodes.filter((_, i) => !told[i]);
}

/** What up says when a step failed where the kernel was not probed: this machine's (no nodes), or those nodes'. */
function notProbed(nodes: readonly string[] | undefined, notForgotten: readonly string[]): string {
  const several = nodes !== undefined && nodes.length > 1;
  const which = !nodes
    ? 'this kernel was'
    : several
      ? `the kernels of ${nodes.join(', ')} were`
      : `the kernel of ${nodes[0]} was`;
  const [them, they] = several ? ['them', 'they'] : ['it', 'it'];
  return (
    `${which} not probed (up saw ${them} have what the lab needs since ${they} booted): the next \`netlab up\` probes ${them}, and names anything ${they} ${several ? 'lack' : 'lacks'}` +
    (notForgotten.length ? `; ${notForgotten.join(', ')} could not be told to forget: remove ${NODE_MEMORY} there` : '')
  );
}
