// What several commands share: finding a lab (by file or by name) and reaching its nodes.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listStates, readState, type LabState } from '../state/store.js';
import { shown, UsageError } from '../errors.js';
import { defaultLabName, labNameProblem } from '../model/grammar.js';

export function looksLikeFile(arg: string): boolean {
  return arg.includes('/') || /\.ya?ml$/i.test(arg) || existsSync(arg);
}

/**
 * The lab a command-line argument names: a lab file (read only for its name; a
 * file that no longer parses still names a lab by its file name) or a lab name.
 * Whatever it gives is checked against the lab-name grammar, so that no empty,
 * "..", "/" or over-long name ever reaches a path here or on a node.
 */
export async function labNameOf(arg: string): Promise<string> {
  let name = arg;
  if (looksLikeFile(arg) && existsSync(arg)) {
    // A directory that happens to have a lab's name (run next to a `vxlan/`) is not what was meant.
    if (statSync(arg).isDirectory() && !labNameProblem(arg)) return arg;
    if (statSync(arg).isDirectory())
      throw new UsageError(
        `${shown(arg)} is a directory; name a lab file (such as labs/vxlan.yaml) or a lab (such as vxlan)`,
      );
    // Loaded only here: reading a lab file needs yaml and zod, a name does not.
    const { loadLabFile } = await import('../lab/load.js');
    try {
      name = loadLabFile(arg).name;
    } catch {
      name = defaultLabName(arg);
    }
  }
  const problem = labNameProblem(name);
  if (problem) {
    const what =
      name === arg
        ? looksLikeFile(arg)
          ? `no lab file ${shown(arg)}, and it is not a lab name`
          : `${shown(arg)} is not a lab name`
        : `the lab file ${shown(arg)} gives the lab name ${shown(name)}, which is not one`;
    throw new UsageError(`${what}: ${problem}`);
  }
  return name;
}

/** A lab that is up, named by its name or by its file (the file is only read for the name). */
export async function findUpLab(arg: string | undefined): Promise<LabState> {
  if (arg === undefined) {
    const states = listStates();
    if (states.length === 1) return states[0]!;
    if (states.length === 0) throw new UsageError('no lab is up; start one with `netlab up labs/bridge.yaml`');
    throw new UsageError(`several labs are up (${states.map((s) => s.lab).join(', ')}); name one`);
  }
  const name = await labNameOf(arg);
  const state = readState(name);
  if (!state) {
    const up = listStates().map((s) => s.lab);
    throw new UsageError(
      `lab ${name} is not up${up.length ? ` (up: ${up.join(', ')})` : ''}; start it with \`netlab up LAB.yaml\``,
    );
  }
  return state;
}

/**
 * Simulated nodes need root here: namespaces, interfaces and mounts all need
 * CAP_SYS_ADMIN / CAP_NET_ADMIN. Machines over SSH do not (root or sudo is needed there).
 */
export function requireRoot(command: string, target: { kind: string } = { kind: 'simulated' }): void {
  if (target.kind === 'simulated' && process.getuid?.() !== 0) {
    throw new UsageError(
      `netlab ${command} needs root to create namespaces and interfaces: run it with sudo (sudo netlab ${command} ...)`,
    );
  }
}

/** The lab that has a pod or node of this name (--lab when several have one; the only lab up when none has). */
export async function findLabWith(name: string, lab?: string): Promise<LabState> {
  if (lab !== undefined) return findUpLab(lab);
  const states = listStates().filter(
    (s) => s.model.pods.some((p) => p.name === name) || s.model.nodes.some((n) => n.name === name),
  );
  if (states.length === 1) return states[0]!;
  if (states.length === 0) return findUpLab(undefined);
  throw new UsageError(`${name} is in several labs (${states.map((s) => s.lab).join(', ')}); choose one with --lab`);
}

export function bundledLabsDir(): string {
  // dist/src/commands/common.js → the package root's labs/
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'labs');
}
