// Processes netlab leaves running between commands (simulated nodes) are
// recorded with their start time and the machine's boot, so a recycled PID is
// never mistaken for ours: not in this boot, and not after a reboot, where the
// state directory (on disk) still names the processes of the boot before.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';

export interface ProcessRef {
  pid: number;
  /** field 22 of /proc/PID/stat: start time in clock ticks since boot */
  startTime: string;
  /**
   * The boot the process ran in (the kernel's random boot id). A start time counts from its boot: after a reboot, a
   * process of the new boot may have the same PID and start time (a boot runs the same programs in the same order).
   * Records written before netlab kept it have none, and are told by their start time alone.
   */
  boot?: string;
}

export function processRef(pid: number): ProcessRef | undefined {
  const startTime = startTimeOf(pid);
  if (startTime === undefined) return undefined;
  const boot = thisBoot();
  return boot === undefined ? { pid, startTime } : { pid, startTime, boot };
}

/**
 * This machine's boot: a random id the kernel makes at each boot (read once a run); undefined where it cannot be
 * read (read again next time: a file that could not be opened once, out of descriptors in a long `room serve`, is
 * no other boot).
 */
export function thisBoot(): string | undefined {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      // unknown, this time
    }
  }
  return boot;
}
let boot: string | undefined;

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it are plain.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function isAlive(ref: ProcessRef): boolean {
  // Another boot's process is none of this boot's; where this boot is not known, the start time alone tells.
  const here = ref.boot === undefined ? undefined : thisBoot();
  if (here !== undefined && here !== ref.boot) return false;
  return startTimeOf(ref.pid) === ref.startTime;
}

/** Whether the process is still running: alive, and not a zombie that only waits for its parent to reap it. */
export function isRunning(ref: ProcessRef): boolean {
  if (!isAlive(ref)) return false;
  try {
    const stat = readFileSync(`/proc/${ref.pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Waits, up to `ms`, until the processes have exited. SIGKILL returns at once,
 * but the kernel takes a moment to end a process (and to tear down the
 * namespaces it held): a caller that says "removed" waits for it.
 */
export function waitForExit(refs: readonly ProcessRef[], ms = 5000): void {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (refs.some(isRunning) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
}

export function killProcess(ref: ProcessRef): void {
  if (!isAlive(ref)) return;
  try {
    process.kill(ref.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * The processes whose command line passes `test` (used to find holders a killed netlab never recorded), of this
 * netlab's own: in its PID namespace, and its user's. This machine's /proc also lists the processes of its
 * containers (each in a PID namespace of its own), where another netlab with a state directory of the same path,
 * and so the same marker, runs its own labs; and root's netlab stops only root's processes (its holders are): a
 * user's process whose arguments copy a marker (anyone can see one in ps) is not root's to kill.
 * Each is taken with its start time as it was found: a PID the kernel gives another process meanwhile is not it.
 */
export function findProcesses(test: (argv: readonly string[]) => boolean): ProcessRef[] {
  const found: ProcessRef[] = [];
  const namespace = pidNamespaceOf('self');
  const uid = process.getuid?.();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // (the start time first: a command line read after it is that process's or a later one's, never an earlier's)
      const ref = processRef(Number(entry));
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!ref || !test(cmdline) || pidNamespaceOf(entry) !== namespace) continue;
      if (statSync(`/proc/${entry}`).uid !== uid) continue;
      found.push(ref);
    } catch {
      // exited meanwhile, or another user's (its namespace cannot be read)
    }
  }
  return found;
}

/** A process's PID namespace, as the kernel names it ("pid:[4026531836]"). */
function pidNamespaceOf(pid: string): string {
  return readlinkSync(`/proc/${pid}/ns/pid`);
}
