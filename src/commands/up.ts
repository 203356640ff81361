// `netlab up`: validate, start the nodes, preflight, apply phase by phase,
// recording everything; on failure or Ctrl-C, roll back (unless --keep).
import { resolve } from 'node:path';
import { Listr, PRESET_TIMER } from 'listr2';
import { buildPlan, stepsOfPhase } from '../plan/build.js';
import { createSimulatedNodes, simulatedFacts } from '../exec/simulated.js';
import { applyPhase, Interrupted, phasesOf, runPreflight } from '../exec/runner.js';
import { newRunIdentity, readState, scriptRunOf, STATE_VERSION, writeState, type LabState } from '../state/store.js';
import { transportsOf } from './common.js';
import { lockHolder, tearDown } from './down.js';
import { lockNodes } from '../exec/node-lock.js';
import { verifyAndReport } from './verify.js';
import { EXIT_INTERRUPTED, UsageError } from '../errors.js';
import { acquireLock } from '../state/lock.js';
import { diffModels } from '../lab/diff.js';
import { createInterface } from 'node:readline';
import { renderPlanText } from '../plan/render.js';
import { describeChanges, snapshotNode } from '../workshop/changes.js';
import type { Transports } from '../exec/runner.js';
import { sshTarget, wantsSsh, type TargetOptions } from '../exec/targets.js';
import { checkReachable, endSessions, type SshTargetState } from '../exec/ssh.js';
import { discoverFacts } from '../exec/facts.js';
import { requireRoot } from './common.js';
import type { Model } from '../lab/model.js';
import type { NodeFacts, Plan } from '../plan/types.js';
import { mark } from '../profile.js';
import type { ScriptRun } from '../shell/prelude.js';
import { connectEarly, type EarlyConnection } from './connect-early.js';

export interface UpOptions extends TargetOptions {
  verify?: boolean;
  keep?: boolean;
  /** the lab is up from another version of the file: take it down first */
  recreate?: boolean;
  /** print the plan with an explanation of every command first */
  explain?: boolean;
  /** apply one phase at a time: show it, wait for Enter (or --yes), then show what changed */
  step?: boolean;
  yes?: boolean;
}

/** early: the login to the nodes, started by the command line before this module loaded (see connect-early.ts). */
export async function upCommand(
  file: string,
  options: UpOptions,
  early = connectEarly(file, options),
): Promise<number> {
  try {
    return await up(file, options, early);
  } finally {
    // Nothing more to run on the nodes; a login still under way is stopped (an error came first).
    await early;
    endSessions();
  }
}

async function up(file: string, options: UpOptions, early: Promise<EarlyConnection | undefined>): Promise<number> {
  // The lab parser (yaml, zod: about 60 ms of imports) loads while an early SSH login is under way.
  const { model } = (await import('../lab/load.js')).loadLabFile(file);
  if (!wantsSsh(options)) requireRoot('up');
  if (options.step && !options.yes && !process.stdin.isTTY)
    throw new UsageError(
      '--step waits for Enter before each phase: run it in a terminal, or add --yes to go on by itself',
    );
  const release = acquireLock(model.name, `netlab up ${file}`);
  try {
    const existing = readState(model.name);
    if (existing) {
      // Underlay facts come from the target, so compare what the file says.
      const changes = diffModels(
        {
          ...existing.model,
          nodes: existing.model.nodes.map((n) => ({
            ...n,
            underlay: model.nodes.find((m) => m.name === n.name)?.underlay ?? n.underlay,
          })),
        },
        model,
      );
      if (changes.length === 0 && existing.status === 'up' && !options.recreate) {
        // "Unchanged" is said of the file; whether the lab still works is for the checks to say.
        console.log(
          `lab ${model.name} is already up and its file is unchanged; nothing to build (\`netlab down ${model.name}\` to remove it, \`--recreate\` to build it again)`,
        );
        return options.verify ? await verifyAndReport(existing) : 0;
      }
      if (!options.recreate) {
        throw new UsageError(
          existing.status === 'up'
            ? `lab ${model.name} is already up from a different version of ${existing.file}: ${changes.join('; ')}. Run \`netlab up ${file} --recreate\` to take it down and build it again, or \`netlab down ${model.name}\``
            : `lab ${model.name} was left ${existing.status} by an earlier up; run \`netlab down ${model.name}\` first (or \`netlab up ${file} --recreate\`)`,
        );
      }
      console.log(`lab ${model.name}: taking down the version that is up (${changes.join('; ') || 'unchanged'})`);
      await tearDown(existing);
    }
    mark('read and validate the lab');
    const prepared = wantsSsh(options)
      ? await prepareSsh(model, options, await early)
      : { model, facts: simulatedFacts(model), target: undefined };
    if (prepared.target) mark('read the facts (SSH)');
    const target = prepared.target ? { target: prepared.target } : {};
    if (options.explain)
      process.stdout.write(
        renderPlanText(
          prepared.model,
          buildPlan(prepared.model, prepared.facts),
          prepared.target ? 'machines over SSH' : 'simulated nodes on this host',
          true,
        ),
      );
    const code = await bringUp(
      prepared.model,
      resolve(file),
      buildPlan(prepared.model, prepared.facts),
      prepared.facts,
      { ...options, ...target },
    );
    if (code !== 0 || !options.verify) return code;
    return await verifyAndReport(readState(model.name)!);
  } finally {
    release();
  }
}

/** --step: each phase shown with its reasons, applied on Enter, followed by what it changed on every node. */
async function stepThrough(
  model: Model,
  plan: Plan,
  transports: Transports,
  run: ScriptRun,
  options: UpOptions,
  signal: AbortSignal,
): Promise<void> {
  for (const phase of phasesOf(plan)) {
    process.stdout.write(
      `\n${renderPlanText(model, plan, '', options.explain, phase)
        .split('\n')
        .filter((l) => l.startsWith('###') || !l.startsWith('#') || l.startsWith('# ['))
        .join('\n')}`,
    );
    if (!options.yes) await waitForEnter(`press Enter to apply phase ${phase} (Ctrl-C to stop and roll back) `);
    if (signal.aborted) throw new Interrupted();
    const before = await Promise.all(plan.nodes.map((n) => snapshotNode(transports[n.node]!)));
    await applyPhase(plan, phase, transports, run, signal);
    const after = await Promise.all(plan.nodes.map((n) => snapshotNode(transports[n.node]!)));
    console.log(`phase ${phase} changed:`);
    plan.nodes.forEach((n, i) => {
      const changes = describeChanges(before[i]!, after[i]!);
      console.log(
        `  ${n.node}: ${changes.length ? '' : 'nothing visible in the node itself (the changes are inside the pods)'}`,
      );
      for (const change of changes) console.log(`    ${change}`);
    });
  }
}

function waitForEnter(prompt: string): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) => rl.question(prompt, () => (rl.close(), resolve())));
}

/**
 * Real nodes: connect to every node first (failing fast, before anything
 * changes), then read the facts the plan needs from them.
 */
export async function prepareSsh(
  model: Model,
  options: TargetOptions,
  early?: EarlyConnection,
): Promise<{ target: SshTargetState; facts: Record<string, NodeFacts>; model: Model }> {
  const adopted =
    early && early.name === model.name && early.nodes.join() === model.nodes.map((n) => n.name).join()
      ? early
      : undefined;
  const { target, underlay } = adopted ?? (await sshTarget(model, options));
  // The inventory may say which interface is the underlay; the lab file, where it says so, wins.
  const onNodes: Model = {
    ...model,
    nodes: model.nodes.map((n) => ({ ...n, underlay: { ...underlay[n.name], ...n.underlay } })),
  };
  if (adopted) {
    const unreachable = await adopted.reachable;
    if (unreachable) throw unreachable;
  } else await checkReachable(target);
  mark('wait for the SSH login');
  const facts = await discoverFacts(onNodes, transportsOf({ target }));
  return { target, facts, model: onNodes };
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
  options: UpOptions & { silent?: boolean; target?: SshTargetState },
): Promise<number> {
  mark('plan');
  const state: LabState = {
    version: STATE_VERSION,
    lab: model.name,
    file,
    status: 'creating',
    createdAt: new Date().toISOString(),
    run: newRunIdentity(),
    target: options.target ?? { kind: 'simulated', nodes: {} },
    facts,
    model,
  };
  writeState(state);
  const run = scriptRunOf(state)!;
  /** set once a phase script may have run on a node: before that, nothing on the nodes is this run's */
  let applied = false;

  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stderr.write(`\ninterrupted: stopping and rolling back (press Ctrl-C again to stop the rollback)\n`);
      abort.abort();
    } else {
      process.stderr.write(`\nrollback stopped: run \`netlab down ${model.name}\` to finish cleaning up\n`);
      process.exit(EXIT_INTERRUPTED);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Listr prints a task's error in its title; netlab prints it once, in full, at the end.
  let failure: unknown;
  const guard = (work: () => Promise<unknown>, label: string) => async () => {
    try {
      await work();
      mark(label);
    } catch (error) {
      failure = error;
      throw new Error(error instanceof Interrupted ? 'interrupted' : 'failed (details below)');
    }
  };
  try {
    const tasks = new Listr(
      [
        ...(options.target
          ? []
          : [
              {
                title: `start ${model.nodes.length} simulated node(s) and the underlay`,
                task: guard(
                  () =>
                    createSimulatedNodes(model, facts, (target) => {
                      state.target = target;
                      writeState(state);
                    }),
                  'start the simulated nodes',
                ),
              },
            ]),
        {
          title: 'preflight: tools, kernel features and conflicts on every node',
          task: (_context: unknown, task: { output: string }) =>
            guard(async () => {
              // The nodes stay locked until the last phase: no other netlab changes them in between.
              await lockNodes(transportsOf(state), lockHolder('up', model.name, state.run), {
                waiting: (line) => (task.output = line),
                signal: abort.signal,
              });
              await runPreflight(model, transportsOf(state), plan);
            }, 'preflight')(),
        },
        ...(options.step ? [] : phasesOf(plan)).map((phase) => ({
          title: `phase ${phase}: ${plan.nodes.map((n) => `${n.node} (${stepsOfPhase(n.steps, phase).length} steps)`).join(', ')}`,
          task: guard(
            () => ((applied = true), applyPhase(plan, phase, transportsOf(state), run, abort.signal)),
            `phase ${phase}`,
          ),
        })),
      ],
      {
        exitOnError: true,
        registerSignalListeners: false,
        renderer: options.silent ? 'silent' : 'default',
        fallbackRenderer: options.silent ? 'silent' : 'simple',
        rendererOptions: { timer: PRESET_TIMER },
        fallbackRendererOptions: { timer: PRESET_TIMER },
      },
    );
    await tasks.run().catch((error: unknown) => {
      throw failure ?? error;
    });
    if (options.step) {
      applied = true;
      await stepThrough(model, plan, transportsOf(state), run, options, abort.signal);
    }
    if (abort.signal.aborted) throw new Interrupted();
    state.status = 'up';
    writeState(state);
    await Promise.all(Object.values(transportsOf(state)).map((t) => t.unlock()));
    mark('record the state');
  } catch (error) {
    const interrupted = abort.signal.aborted;
    if (options.keep && !interrupted) {
      state.status = 'failed';
      writeState(state);
      if (!options.silent)
        console.error(
          `up failed; kept what was created for debugging (--keep). Remove it with \`netlab down ${model.name}\``,
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
      await tearDown(state, { touchNodes, command: 'up (rolling back)' });
      if (!options.silent && touchNodes) console.error('rolled back: nothing is left on the nodes');
    }
    if (interrupted) return EXIT_INTERRUPTED;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (!options.silent) {
    console.log(`lab ${model.name} is up: ${model.nodes.length} node(s), ${model.pods.length} pod(s)`);
    if (!options.verify)
      console.log(
        `next: \`netlab verify ${model.name}\`, \`netlab exec ${model.pods[0]?.name ?? 'POD'} -- ip addr\`, \`netlab down ${model.name}\``,
      );
  }
  return 0;
}
