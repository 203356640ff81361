// Local state: one JSON file per lab that is up (or was being brought up).
// Written atomically (temp file + rename) before each change it describes, so
// `down` can always find what a previous command started.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../lab/model.js';
import type { NodeFacts } from '../plan/types.js';
import type { SimulatedTargetState } from '../exec/simulated.js';
import type { SshTargetState } from '../exec/ssh.js';
import { UsageError } from '../errors.js';

export const STATE_VERSION = 1;

export interface LabState {
  version: number;
  lab: string;
  file: string;
  status: 'creating' | 'up' | 'failed';
  createdAt: string;
  target: SimulatedTargetState | SshTargetState;
  facts: Record<string, NodeFacts>;
  model: Model;
}

export function stateDir(): string {
  return process.env.NETLAB_STATE_DIR ?? '/var/lib/netlab';
}

function labsDir(): string {
  return join(stateDir(), 'labs');
}

function stateFile(lab: string): string {
  return join(labsDir(), `${lab}.json`);
}

export function writeState(state: LabState): void {
  try {
    mkdirSync(labsDir(), { recursive: true, mode: 0o700 });
    const file = stateFile(state.lab);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    renameSync(temp, file);
  } catch (error) {
    throw new UsageError(`cannot write netlab state in ${labsDir()}: ${(error as Error).message} (set NETLAB_STATE_DIR to a writable directory)`);
  }
}

export function readState(lab: string): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(lab), 'utf8');
  } catch {
    return undefined;
  }
  const state = JSON.parse(text) as LabState;
  if (state.version !== STATE_VERSION) throw new UsageError(`state of lab ${lab} (${stateFile(lab)}) has format version ${state.version}; this netlab reads version ${STATE_VERSION}`);
  return state;
}

export function removeState(lab: string): void {
  rmSync(stateFile(lab), { force: true });
}

export function listStates(): LabState[] {
  let names: string[];
  try {
    names = readdirSync(labsDir()).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const state = readState(name.slice(0, -'.json'.length));
    return state ? [state] : [];
  });
}
