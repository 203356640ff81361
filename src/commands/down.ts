// `netlab down`: undo what up recorded, on every node, then stop simulated nodes.
// Works from state alone: the lab file may have changed or be gone. With the
// local state lost (or unreadable), the nodes' own records say what to undo.
import { refuseAttached } from '../lifecycle/attach.js';
import { lockHolder } from '../lifecycle/down.js';
import { takeDown } from '../lifecycle/challenge.js';
import { finishDespiteHangup } from '../os/hangup.js';
import { renameSync } from 'node:fs';
import { destroySimulatedNodes } from '../exec/simulated.js';
import { describeDown, nodesWithFailedUndo, runDown, type NodeDown } from '../exec/runner.js';
import { quoteArg } from '../os/quote.js';
import { printJson, withHumanOutputOnStderr } from '../json-output.js';
import { CorruptState, describeRun, listStates, readState, type LabState } from '../state/store.js';
import {
  findUpLab,
  LabNotUp,
  labIdFor,
  labNameOf,
  refuseOtherTarget,
  requireNodeAccess,
  rootsStateNote,
} from './common.js';
import { transportsOf } from '../exec/transports.js';
import { acquireLock } from '../state/lock.js';
import { RunError, shown, UsageError } from '../errors.js';
import { closeMasters } from '../exec/ssh.js';
import { lockNodes } from '../exec/node-lock.js';
import { sshTargetForHosts, wantsSsh, type TargetOptions } from '../exec/targets.js';
import { RUN_ID } from '../model/grammar.js';

type DownOptions = { verbose?: boolean; json?: boolean; run?: string } & TargetOptions;

/** The runs the nodes recorded (other than the one asked for), each with the nodes that have it. */
function recordedRuns(outcomes: Record<string, NodeDown>): [string, string[]][] {
  const runs = new Map<string, string[]>();
  for (const [node, o] of Object.entries(outcomes))
    if (o.found === 'other-run' && o.run) runs.set(o.run, [...(runs.get(o.run) ?? []), node]);
  return [...runs];
}

/**
 * A down without the lab's state, where the nodes hold a run of it: what they hold, and the command that takes
 * that run down. The run's id is the node's word (a learner is root there): the command to copy names it only
 * where it is an id netlab writes.
 */
export function refusedWithoutState(name: string, flags: string, runs: [string, string[]][]): string {
  const id = runs[0]![0].split(' ')[0]!;
  const named = RUN_ID.test(id)
    ? `to take that run down from here, name it: \`netlab down ${name} ${flags} --run ${id}\``
    : `the first is no run id netlab writes (12 hexadecimal digits): see the lab's run file under /run/netlab on those nodes`;
  return `lab ${name} has no state in this state directory; on the nodes it is ${describeRuns(runs)}. Nothing was changed: ${named}`;
}

/** The runs the nodes hold, each with its nodes: "run ID from HOST:DIR (node-0, node-1); …". */
function describeRuns(runs: [string, string[]][]): string {
  return runs.map(([run, nodes]) => `${describeRun(run)} (${nodes.join(', ')})`).join('; ');
}

/** The target flags of this command line, as a command to copy says them. */
function targetFlagsOf(options: TargetOptions): string {
  if (options.sshConfig) return `--ssh-config ${quoteArg(options.sshConfig)}`;
  if (options.inventory) return `--inventory ${quoteArg(options.inventory)}`;
  return `--vagrant${options.vagrantDir ? ` --vagrant-dir ${quoteArg(options.vagrantDir)}` : ''}`;
}

/** What down found and did, for --json: per node, and the line it said. */
interface DownReport {
  lab?: string;
  nodes?: Record<string, NodeDown>;
  said?: string;
}

export async function downCommand(given: string | undefined, options: DownOptions): Promise<number> {
  // A terminal that hangs up does not stop down halfway: it finishes (what is left, if it fails, stays recorded).
  const hangup = finishDespiteHangup();
  try {
    return await downReporting(given, options);
  } finally {
    hangup();
  }
}

async function downReporting(given: string | undefined, options: DownOptions): Promise<number> {
  if (!options.json) return down(given, options, {});
  const report: DownReport = {};
  let code: number;
  try {
    code = await withHumanOutputOnStderr(() => down(given, options, report));
  } catch (error) {
    if (error instanceof UsageError || error instanceof RunError)
      printJson({ lab: report.lab, exitCode: error.exitCode, error: error.message, nodes: report.nodes ?? {} });
    throw error;
  }
  printJson({ lab: report.lab, exitCode: code, said: report.said, nodes: report.nodes ?? {} });
  return code;
}

async function down(given: string | undefined, options: DownOptions, report: DownReport) {
  if (options.run !== undefined && !RUN_ID.test(options.run))
    throw new UsageError(
      `--run takes a run id of 12 hexadecimal digits (as status and down name it); found ${shown(options.run)}`,
    );
  // Without a name, the only lab that is up (as verify does); none: nothing to do, as for a lab named that is not up.
  let arg = given;
  if (arg === undefined) {
    try {
      arg = (await findUpLab(undefined, options)).lab;
    } catch (error) {
      if (!(error instanceof LabNotUp)) throw error;
      report.said = `no lab is up; nothing to do${error.note}`;
      console.log(report.said);
      return 0;
    }
  }
  const name = labIdFor(await labNameOf(arg), options.instance);
  report.lab = name;
  let recorded: LabState | undefined;
  try {
    recorded = readState(name);
  } catch (error) {
    if (!(error instanceof CorruptState)) throw error;
  }
  if (recorded) requireNodeAccess('down', recorded.target);
  else if (!wantsSsh(options)) requireNodeAccess('down');
  const release = acquireLock(name, `netlab down ${arg}`);
  try {
    return await downLocked(name, options, report);
  } finally {
    release();
  }
}

async function downLocked(name: string, options: DownOptions, report: DownReport): Promise<number> {
  const say = (line: string) => {
    report.said = line;
    console.log(line);
  };
  let state: LabState | undefined;
  let corrupt: CorruptState | undefined;
  try {
    state = readState(name);
  } catch (error) {
    if (!(error instanceof CorruptState)) throw error;
    corrupt = error;
  }
  if (state && options.run !== undefined && options.run !== state.run?.id)
    throw new UsageError(
      `lab ${name} is ${state.run ? describeRun(state.run) : 'up'} here, not run ${shown(options.run)}: \`netlab down ${name}\` takes down the run this state knows`,
    );
  if (!state && wantsSsh(options)) {
    // The local state is lost or unreadable: the nodes' own records name the run
    // they have, and only a run named by its id (--run) is undone: a controller
    // never removes another controller's live lab by accident.
    const target = await sshTargetForHosts(options);
    const transports = transportsOf({ target });
    const { unreachable } = await lockNodes(transports, lockHolder('down', name), { skipUnreachable: true });
    const outcomes = await runDown(
      name,
      Object.fromEntries(Object.entries(transports).filter(([node]) => !(node in unreachable))),
      options.run === undefined ? undefined : { id: options.run, from: '' },
    );
    for (const [node, reason] of Object.entries(unreachable)) outcomes[node] = { found: 'unreachable', reason };
    report.nodes = outcomes;
    await closeMasters(target);
    const runs = recordedRuns(outcomes);
    if (options.run === undefined && runs.length > 0)
      throw new UsageError(refusedWithoutState(name, targetFlagsOf(options), runs));
    if (options.run !== undefined && runs.length > 0 && !Object.values(outcomes).some((o) => o.found === 'undone'))
      throw new UsageError(
        `no node has run ${options.run} of lab ${name}; they have ${describeRuns(runs)}. Nothing was changed`,
      );
    for (const line of describeDown(name, outcomes, options.verbose)) console.log(`  ${line}`);
    if (Object.values(outcomes).some((o) => o.found === 'unreachable'))
      throw new RunError(`could not undo lab ${name} on every node`);
    const failed = nodesWithFailedUndo(outcomes);
    if (failed.length)
      throw new RunError(
        `could not undo everything on ${failed.join(', ')}: fix what is named, then run this down again (the failed commands are tried again)`,
      );
    if (corrupt) setAside(corrupt);
    const found = Object.values(outcomes).filter((o) => o.found === 'undone').length;
    say(
      found
        ? `lab ${name} is down on ${found} node(s) (from the nodes' own records)`
        : `lab ${name}: no node has a record of it; nothing to do`,
    );
    return 0;
  }
  if (corrupt) {
    // A simulated lab's nodes are found by their holders' marker; anything else needs the nodes' records.
    if (destroySimulatedNodes(name) > 0) {
      setAside(corrupt);
      say(
        `lab ${name}: its state file was unreadable; stopped its simulated nodes (everything the lab made lived in them)`,
      );
      return 0;
    }
    throw new UsageError(
      `${corrupt.message}. If the lab ran on machines over SSH, \`netlab down ${name} --ssh-config FILE\` (or --inventory, --vagrant) takes it down from the nodes' own records; otherwise remove ${corrupt.file}`,
    );
  }
  if (!state) {
    // Nothing recorded: still stop any simulated node a killed `up` may have left.
    const stopped = destroySimulatedNodes(name);
    const up = listStates().map((s) => s.lab);
    say(
      stopped
        ? `lab ${name} had no state; stopped ${stopped} simulated node process(es) a killed \`netlab up\` left`
        : `lab ${name} is not up; nothing to do${up.length ? ` (up: ${up.join(', ')})` : ''}${rootsStateNote('labs')}`,
    );
    return 0;
  }
  refuseAttached(state, '`netlab down`');
  // Target flags that name another target than the lab's are a slip: the lab there is not this one.
  refuseOtherTarget(state, options);
  const outcomes = await takeDown(state);
  report.nodes = outcomes;
  const lines = describeDown(name, outcomes, options.verbose);
  say(
    `lab ${name} is down${state.target.kind === 'simulated' ? ` (its ${state.model.nodes.length} simulated node(s) stopped)` : ''}:`,
  );
  for (const line of lines) console.log(`  ${line}`);
  return 0;
}

/** An unreadable state file, once its lab is down: kept beside, for whoever wants to look at it. */
function setAside(corrupt: CorruptState): void {
  renameSync(corrupt.file, `${corrupt.file}.unreadable`);
  console.log(`  (the unreadable state file is kept as ${corrupt.file}.unreadable)`);
}
