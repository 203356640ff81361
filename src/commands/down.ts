// `netlab down`: undo what up recorded, on every node, then stop simulated nodes.
// Works from state alone: the lab file may have changed or be gone.
import { defaultLabName } from '../lab/grammar.js';
import { destroySimulatedNodes } from '../exec/simulated.js';
import { runDown } from '../exec/runner.js';
import { readState, removeState, type LabState } from '../state/store.js';
import { looksLikeFile, requireRoot, transportsOf } from './common.js';
import { acquireLock } from '../state/lock.js';
import { existsSync } from 'node:fs';
import { isAlive } from '../exec/processes.js';
import { RunError } from '../errors.js';
import { closeMasters } from '../exec/ssh.js';
import { sshTargetForHosts, wantsSsh, type TargetOptions } from '../exec/targets.js';
import { mark } from '../profile.js';

export async function tearDown(state: LabState, log: (line: string) => void = () => {}): Promise<void> {
  const target = state.target;
  const transports = transportsOf(state);
  // A simulated node whose holder is gone has taken everything with it.
  const reachable = target.kind === 'simulated' ? Object.fromEntries(Object.entries(transports).filter(([node]) => isAlive(target.nodes[node]!.init))) : transports;
  mark('read the state');
  const { warnings, unreachable } = await runDown(state.lab, reachable);
  mark('undo journals on the nodes');
  for (const warning of warnings) log(`  skipped (already gone): ${warning}`);
  if (target.kind === 'simulated') {
    destroySimulatedNodes(state.lab, target);
    mark('stop the simulated nodes');
  } else if (unreachable.length) {
    // Keep the state: down must be run again once the nodes are reachable.
    throw new RunError(`could not undo on every node; the lab's state is kept, run \`netlab down ${state.lab}\` again:\n  ${unreachable.join('\n  ')}`);
  }
  for (const node of unreachable) log(`  could not undo on ${node}`);
  if (target.kind === 'ssh') await closeMasters(target);
  removeState(state.lab);
  mark('remove the state');
}

export async function downCommand(arg: string, options: { verbose?: boolean } & TargetOptions): Promise<number> {
  const name = looksLikeFile(arg) && existsSync(arg) ? await safeName(arg) : arg;
  const recorded = readState(name);
  if (recorded ? recorded.target.kind === 'simulated' : !wantsSsh(options)) requireRoot('down');
  const release = acquireLock(name, `netlab down ${arg}`);
  try {
    return await downLocked(name, options);
  } finally {
    release();
  }
}

async function downLocked(name: string, options: { verbose?: boolean } & TargetOptions): Promise<number> {
  const state = readState(name);
  if (!state && wantsSsh(options)) {
    // The local state is lost: every node's own journal still says what to undo.
    const target = await sshTargetForHosts(options);
    const { warnings, unreachable } = await runDown(name, transportsOf({ target }));
    if (options.verbose) for (const w of warnings) console.log(`  skipped (already gone): ${w}`);
    await closeMasters(target);
    if (unreachable.length) throw new RunError(`could not undo on every node:\n  ${unreachable.join('\n  ')}`);
    console.log(`lab ${name} is down on ${Object.keys(target.hosts).length} node(s) (from the nodes' own records)`);
    return 0;
  }
  if (!state) {
    // Nothing recorded: still stop any simulated node a killed `up` may have left.
    destroySimulatedNodes(name);
    console.log(`lab ${name} is not up; nothing to do`);
    return 0;
  }
  await tearDown(state, options.verbose ? console.log : () => {});
  console.log(`lab ${name} is down: ${state.model.nodes.length} node(s) cleaned up`);
  return 0;
}

/** The lab's name from its file; a file that no longer parses still names a lab by its file name. */
async function safeName(file: string): Promise<string> {
  // Loaded only here: reading a lab file needs yaml and zod, a name does not.
  const { loadLabFile } = await import('../lab/load.js');
  try {
    return loadLabFile(file).name;
  } catch {
    return defaultLabName(file);
  }
}
