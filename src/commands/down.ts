// `netlab down`: undo what up recorded, on every node, then stop simulated nodes.
// Works from state alone: the lab file may have changed or be gone.
import { destroySimulatedNodes } from '../exec/simulated.js';
import { runDown } from '../exec/runner.js';
import { readState, removeState, type LabState } from '../state/store.js';
import { looksLikeFile, requireRoot, transportsOf } from './common.js';
import { acquireLock } from '../state/lock.js';
import { existsSync } from 'node:fs';
import { loadLabFile, defaultLabName } from '../lab/load.js';
import { isAlive } from '../exec/processes.js';

export async function tearDown(state: LabState, log: (line: string) => void = () => {}): Promise<void> {
  const alive = Object.fromEntries(Object.entries(transportsOf(state)).filter(([node]) => isAlive(state.target.nodes[node]!.init)));
  const { warnings, unreachable } = await runDown(state.lab, alive);
  for (const warning of warnings) log(`  skipped (already gone): ${warning}`);
  for (const node of unreachable) log(`  could not undo on ${node}`);
  destroySimulatedNodes(state.lab, state.target);
  removeState(state.lab);
}

export async function downCommand(arg: string, options: { verbose?: boolean }): Promise<number> {
  const name = looksLikeFile(arg) && existsSync(arg) ? safeName(arg) : arg;
  requireRoot('down');
  const release = acquireLock(name, `netlab down ${arg}`);
  try {
    return await downLocked(name, options);
  } finally {
    release();
  }
}

async function downLocked(name: string, options: { verbose?: boolean }): Promise<number> {
  const state = readState(name);
  if (!state) {
    // Nothing recorded: still stop any simulated node a killed `up` may have left.
    destroySimulatedNodes(name);
    console.log(`lab ${name} is not up; nothing to do`);
    return 0;
  }
  await tearDown(state, options.verbose ? console.log : () => {});
  console.log(`lab ${name} is down: ${Object.keys(state.target.nodes).length} node(s) cleaned up`);
  return 0;
}

/** The lab's name from its file; a file that no longer parses still names a lab by its file name. */
function safeName(file: string): string {
  try {
    return loadLabFile(file).name;
  } catch {
    return defaultLabName(file);
  }
}
