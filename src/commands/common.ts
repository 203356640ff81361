// What several commands share: finding a lab (by file or by name) and reaching its nodes.
import { existsSync } from 'node:fs';
import { simulatedTransport } from '../exec/simulated.js';
import { sshTransport } from '../exec/ssh.js';
import type { Transports } from '../exec/runner.js';
import { listStates, readState, type LabState } from '../state/store.js';
import { UsageError } from '../errors.js';

export function looksLikeFile(arg: string): boolean {
  return arg.includes('/') || /\.ya?ml$/i.test(arg) || existsSync(arg);
}

/** A lab that is up, named by its name or by its file (the file is only read for the name). */
export async function findUpLab(arg: string | undefined): Promise<LabState> {
  if (arg === undefined) {
    const states = listStates();
    if (states.length === 1) return states[0]!;
    if (states.length === 0) throw new UsageError('no lab is up; start one with `netlab up labs/bridge.yaml`');
    throw new UsageError(`several labs are up (${states.map((s) => s.lab).join(', ')}); name one`);
  }
  // The lab file is read (and validated: zod and yaml, loaded only then) just for its name.
  const name = looksLikeFile(arg) && existsSync(arg) ? (await import('../lab/load.js')).loadLabFile(arg).name : arg;
  const state = readState(name);
  if (!state) {
    const up = listStates().map((s) => s.lab);
    throw new UsageError(`lab ${name} is not up${up.length ? ` (up: ${up.join(', ')})` : ''}; start it with \`netlab up LAB.yaml\``);
  }
  return state;
}

export function transportsOf(state: Pick<LabState, 'target'>): Transports {
  const target = state.target;
  if (target.kind === 'ssh') return Object.fromEntries(Object.keys(target.hosts).map((node) => [node, sshTransport(target, node)]));
  return Object.fromEntries(Object.entries(target.nodes).map(([node, holder]) => [node, simulatedTransport(node, holder)]));
}

/**
 * Simulated nodes need root here: namespaces, interfaces and mounts all need
 * CAP_SYS_ADMIN / CAP_NET_ADMIN. Machines over SSH do not (root or sudo is needed there).
 */
export function requireRoot(command: string, target: { kind: string } = { kind: 'simulated' }): void {
  if (target.kind === 'simulated' && process.getuid?.() !== 0) {
    throw new UsageError(`netlab ${command} needs root to create namespaces and interfaces: run it with sudo (sudo netlab ${command} ...)`);
  }
}

/** The lab that has a pod or node of this name (--lab when several have one; the only lab up when none has). */
export async function findLabWith(name: string, lab?: string): Promise<LabState> {
  if (lab) return findUpLab(lab);
  const states = listStates().filter((s) => s.model.pods.some((p) => p.name === name) || s.model.nodes.some((n) => n.name === name));
  if (states.length === 1) return states[0]!;
  if (states.length === 0) return findUpLab(undefined);
  throw new UsageError(`${name} is in several labs (${states.map((s) => s.lab).join(', ')}); choose one with --lab`);
}
