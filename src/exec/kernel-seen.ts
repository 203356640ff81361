// What this machine's kernel was seen to have, remembered until it reboots.
// Simulated nodes share this machine's kernel, and what a kernel has stays
// until it reboots: a module loaded stays loaded (and, as root, one unloaded by
// hand is loaded again when a lab needs it). So `up` on simulated nodes probes
// the kernel only when the lab needs a feature or iptables extension not seen
// working since this boot. The probe made devices in a throwaway network
// namespace per node, and the kernel cleans such a namespace up after the
// probe, under the RTNL lock that the lab's own `ip` commands then wait for:
// about 25 ms of a small lab's `up` (BENCHMARKS.md). What is missing is never
// remembered: it is probed, and reported, every time. Nodes over SSH are probed
// every time: a probe asks their iproute2 and iptables as much as their kernel,
// and machines that share a kernel (containers, and its boot id) need not
// share those.
//
// Should something seen be gone after all (a module unloaded by hand, without
// root or where modules can no longer be loaded; iptables switched between its
// nft and legacy builds), the step that needs it fails, names itself and the
// kernel's words, up rolls back, says that the kernel was not probed, and
// forgets what it saw: the next up probes the kernel, and names what it lacks.
// Two ups at once may each write the file: one's memory is lost, which only
// costs a probe.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir, writeFileAtomic } from '../state/store.js';
import type { Requirements } from './preflight.js';

/** What marks the file as one, and its format: this line, the boot id, then one name a line. */
const FORMAT = 'netlab kernel seen 1';

const seenFile = () => join(stateDir(), 'kernel-seen');

/** This boot of the kernel: a new random id at each boot. */
function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** What a lab needs of the kernel, by the probe's names. */
function kernelNeeds(needs: Requirements): string[] {
  return [...needs.features.map((f) => `feature ${f.name}`), ...needs.extensions.map((x) => `extension ${x.name}`)];
}

/** What was seen working since this boot (nothing, for a file of another boot, another format, or none). */
function seenThisBoot(boot = bootId()): Set<string> {
  if (!boot) return new Set();
  try {
    const [format, id, ...names] = readFileSync(seenFile(), 'utf8').split('\n');
    return format === FORMAT && id === boot ? new Set(names.filter(Boolean)) : new Set();
  } catch {
    return new Set();
  }
}

/**
 * Whether the lab needs kernel features or iptables extensions, and every one
 * was seen working since this machine booted (a lab that needs none has no
 * probe to skip).
 */
export function kernelSeen(needs: Requirements): boolean {
  const names = kernelNeeds(needs);
  const seen = names.length > 0 ? seenThisBoot() : new Set<string>();
  return names.length > 0 && names.every((name) => seen.has(name));
}

/**
 * Remembers, until this machine reboots, that its kernel has what the lab
 * needs (the preflight probed it and found nothing missing). A file that cannot
 * be written only costs the next `up` its probe.
 */
export function rememberKernel(needs: Requirements): void {
  const boot = bootId();
  if (!boot || kernelNeeds(needs).length === 0) return;
  const seen = new Set([...seenThisBoot(boot), ...kernelNeeds(needs)]);
  try {
    writeFileAtomic(seenFile(), `${[FORMAT, boot, ...[...seen].sort()].join('\n')}\n`);
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
