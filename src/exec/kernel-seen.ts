// What a kernel was seen to have, remembered until it reboots. What a kernel
// has stays until it reboots: a module loaded stays loaded (and, as root, one
// unloaded by hand is loaded again when a lab needs it). So `up` probes a
// node's kernel only when the lab needs a feature or iptables extension not
// seen working there since this boot. The probe made devices in a throwaway
// network namespace, and the kernel cleans such a namespace up after the
// probe, under the RTNL lock that the lab's own `ip` commands then wait for:
// about 25 ms of a small lab's `up` (BENCHMARKS.md). What is missing is never
// remembered: it is probed, and reported, every time.
//
// Where the memory is kept is where what was probed lives. Simulated nodes
// share this machine's kernel, iproute2 and iptables: the state directory
// keeps one memory for all of them. A machine over SSH keeps its own, in
// /run/netlab (a tmpfs, emptied at reboot), read in up's facts round and
// written by its script of steps: a probe asks the machine's iproute2 and iptables
// as much as its kernel, and containers that share a kernel (and its boot id)
// have /run directories, and tools, of their own.
//
// Should something seen be gone after all (a module unloaded by hand, without
// root or where modules can no longer be loaded; iptables switched between its
// nft and legacy builds), the step that needs it fails, names itself and the
// kernel's words, up rolls back, says that the kernel was not probed, and
// forgets what it saw: the next up probes the kernel, and names what it lacks.
// Two ups at once may each write a memory: one's is lost, which only costs a
// probe. A machine's memory is merged with what the facts round read, before
// up locked the machine: a forgetting up in between may be undone by this
// one, and the next up that needs what is gone fails as that one did, and
// forgets again.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_STATE_ROOT } from '../node/paths.js';
import { thisBoot } from '../os/processes.js';
import { quoteArg } from '../os/quote.js';
import { judgedStateDirPath, writeFileAtomic } from '../state/store.js';
import type { Requirements } from './preflight.js';

/** What marks the file as one, and its format: this line, the boot id, then one name a line. */
const FORMAT = 'netlab kernel seen 1';

/** What a kernel was seen to have since it booted, as remembered: its boot id and the names seen working. */
export interface KernelMemory {
  boot: string | undefined;
  seen: Set<string>;
}

/** A memory file's names, if it is one of this boot (none for another boot, another format, or no file). */
function seenIn(text: string | undefined, boot: string | undefined): Set<string> {
  const [format, id, ...names] = (text ?? '').split('\n');
  return boot && format === FORMAT && id === boot ? new Set(names.filter(Boolean)) : new Set();
}

/** A memory file's text: what `memory` saw, and what the lab needs (probed and found just now). */
function memoryText(needs: Requirements, memory: KernelMemory): string | undefined {
  if (!memory.boot || kernelNeeds(needs).length === 0) return undefined;
  const seen = new Set([...memory.seen, ...kernelNeeds(needs)]);
  return `${[FORMAT, memory.boot, ...[...seen].sort()].join('\n')}\n`;
}

/** What a lab needs of the kernel, by the probe's names. */
function kernelNeeds(needs: Requirements): string[] {
  return [...needs.features.map((f) => `feature ${f.name}`), ...needs.extensions.map((x) => `extension ${x.name}`)];
}

/**
 * Whether the lab needs kernel features or iptables extensions, and every one
 * was seen working since the kernel booted (a lab that needs none has no probe
 * to skip). Without a memory: this machine's.
 */
export function kernelSeen(needs: Requirements, memory: KernelMemory = thisMachine()): boolean {
  const names = kernelNeeds(needs);
  return names.length > 0 && names.every((name) => memory.seen.has(name));
}

// --- this machine (simulated nodes): a file in the state directory -------------------------

const seenFile = () => join(judgedStateDirPath(), 'kernel-seen');

function readOrNothing(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** This machine's memory: its boot (a new random id at each boot) and what was seen since. */
function thisMachine(): KernelMemory {
  const boot = thisBoot();
  return { boot, seen: boot ? seenIn(readOrNothing(seenFile()), boot) : new Set() };
}

/**
 * Remembers, until this machine reboots, that its kernel has what the lab
 * needs (the preflight probed it and found nothing missing). A file that cannot
 * be written only costs the next `up` its probe.
 */
export function rememberKernel(needs: Requirements): void {
  const text = memoryText(needs, thisMachine());
  if (!text) return;
  try {
    writeFileAtomic(seenFile(), text);
  } catch {
    // the state directory was checked writable by up's first state write; a full disk costs time only
  }
}

/** Forgets what was seen (a step failed where the kernel was not probed): the next `up` probes it. */
export function forgetKernel(): void {
  try {
    rmSync(seenFile(), { force: true });
  } catch {
    // unreadable state directory: up's own error is the one to report
  }
}

// --- a machine over SSH: a file in its /run/netlab ----------------------------------------

/** The memory on a machine over SSH: beside the labs' directories, a dot file as the node lock's are. */
export const NODE_MEMORY = `${NODE_STATE_ROOT}/.kernel-seen`;

/** The command (node/query.ts's `outputs`) that prints a machine's boot id, then its memory file. */
export const READ_NODE_MEMORY = ['cat', '/proc/sys/kernel/random/boot_id', NODE_MEMORY] as const;

/** A machine's memory from READ_NODE_MEMORY's output (cat's complaint of a missing file is no memory). */
export function nodeMemoryOf(output: string | undefined): KernelMemory {
  const [boot, ...rest] = (output ?? '').split('\n');
  const id = /^[0-9a-f-]{36}$/.test(boot ?? '') ? boot : undefined;
  return { boot: id, seen: seenIn(rest.join('\n'), id) };
}

/** A line of up's script of steps on a machine whose kernel up probed just now: what it saw there. */
export function rememberOnNodeScript(needs: Requirements, memory: KernelMemory): string {
  const text = memoryText(needs, memory);
  // A memory that cannot be written only costs the next up its probe.
  // (2>/dev/null first: it silences a file that cannot be opened too.)
  return text ? `printf %s ${quoteArg(text)} 2>/dev/null >${NODE_MEMORY} || true\n` : '';
}

/** The script that forgets a machine's memory (a step failed there where its kernel was not probed). */
export const FORGET_ON_NODE = `rm -f ${NODE_MEMORY}\n`;
