// A transport runs a shell script on one node. Only transports touch the
// outside world; everything before them is pure.
import type { Writable } from 'node:stream';

/**
 * The most output netlab collects from one node script. The largest real one
 * (verify evidence of the scale lab) is a few hundred kilobytes; past this the
 * script is stopped and reported, instead of netlab's memory filling up.
 */
export const MAX_SCRIPT_OUTPUT = 64 * 1024 * 1024;

export function outputTooLarge(limit = MAX_SCRIPT_OUTPUT): string {
  return `netlab: the node script's output passed ${limit / 1024 / 1024} MiB; it was stopped\n`;
}

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** stops the script (SIGTERM) when this aborts: Ctrl-C during up */
  signal?: AbortSignal;
  /** the script's stdout as it comes, chunk by chunk (progress of a long phase) */
  onStdout?: (chunk: string) => void;
  /**
   * Out of reach of the terminal's Ctrl-C (a session of its own), for a script
   * that must not stop halfway: a fault and then its record. A script over SSH
   * is out of its reach already.
   */
  uninterruptible?: boolean;
}

export interface InteractiveOptions {
  /**
   * The script's stdout goes to this file descriptor (a pcap file, or netlab's
   * own stdout for a pipe) or pipe (a reader's stdin), byte for byte: over SSH
   * without a terminal, which would turn its line ends into CR LF.
   */
  stdout?: number | Writable;
  /**
   * The script runs a program in the user's terminal and holds the terminal's
   * Ctrl-C for it (terminalScript in shell/prelude.ts makes the script and
   * this option together): netlab waits for
   * the program instead of dying of the signal. Over SSH only with a terminal
   * (ssh -t), where the Ctrl-C reaches the machine; without one it reaches the
   * local ssh alone, and netlab stops with it as before.
   */
  terminal?: boolean;
}

/** What lock() found: another netlab holds the node, or this one does now (with its `then` script's result). */
export type Locked = { busy: string } | { busy?: undefined; answered?: ScriptResult };

export interface Transport {
  readonly node: string;
  /**
   * A simulated node in a user's user namespace (exec/userns.ts): its root
   * cannot load a kernel module, so what a lab lacks is asked of an administrator.
   */
  readonly inUserNamespace?: boolean;
  /** Runs a script (fed on stdin) on the node and collects its output. */
  run(script: string, options?: RunOptions): Promise<ScriptResult>;
  /** Runs a script with the user's terminal attached (for `netlab exec`); resolves to its exit code. */
  interactive(script: string, options?: InteractiveOptions): Promise<number>;
  /**
   * Takes the node's lock (see node-lock.ts) for as long as this command talks
   * to the node, or until unlock(); resolves to what the node says of the
   * netlab that holds it (busy), or, once held, to what `then` answered: a
   * script that only reads, sent in the same round as the lock (up's preflight),
   * which counts only where the lock was taken.
   */
  lock(holder: string, then?: string): Promise<Locked>;
  unlock(): Promise<void>;
}
