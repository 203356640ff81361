// Running a program and collecting its output: the one place netlab starts
// processes (node:child_process directly; a process library cost more start-up
// time than all of netlab's own code, see BENCHMARKS.md).
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { MAX_SCRIPT_OUTPUT, outputTooLarge, type ScriptResult } from './transport.js';

/** A process's exit code; killed by a signal, 128 + its number, as a shell says it (SIGKILL 137, SIGTERM 143). */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? (signal ? 128 + constants.signals[signal] : 1);
}

export interface SpawnOptions {
  /** fed on stdin (stdin is /dev/null otherwise) */
  input?: string;
  /** the user's terminal attached (interactive commands): nothing is collected; 'stderr': its output goes to netlab's stderr */
  inherit?: boolean | 'stderr';
  /** with inherit: stdout goes to this file descriptor (or pipe) instead */
  stdout?: number | Writable;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** SIGTERM when this aborts (Ctrl-C during up) */
  signal?: AbortSignal;
  /** SIGTERM after this many milliseconds */
  timeout?: number;
  /** stdout as it comes */
  onStdout?: (chunk: string) => void;
  /** stderr as it comes (a child netlab's progress) */
  onStderr?: (chunk: string) => void;
  /** in a session of its own: the terminal's Ctrl-C (SIGINT to netlab's process group) does not reach it */
  detached?: boolean;
  /** with inherit: the terminal's Ctrl-C and Ctrl-\ are the program's (terminalSignalsToChild) */
  terminal?: boolean;
  /** the process, once started (to signal it) */
  started?: (child: ChildProcess) => void;
}

/** Never rejects: a program that cannot start gives exit code 127 and the reason on stderr. */
export function run(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      stdio:
        options.inherit === 'stderr'
          ? ['ignore', 2, 2]
          : options.inherit
            ? ['inherit', options.stdout ?? 'inherit', 'inherit']
            : [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.timeout ? { timeout: options.timeout } : {}),
      ...(options.detached ? { detached: true } : {}),
    });
    options.started?.(child);
    const leaveTerminalSignals = options.inherit === true && options.terminal ? terminalSignalsToChild() : () => {};
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let collected = 0;
    let overflow = false;
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      collected += chunk.length;
      if (collected > MAX_SCRIPT_OUTPUT) {
        if (!overflow) child.kill('SIGKILL');
        overflow = true;
      } else into.push(chunk);
    };
    child.stdout?.on('data', collect(stdout));
    if (options.onStdout) child.stdout?.on('data', (chunk: Buffer) => options.onStdout!(chunk.toString()));
    child.stderr?.on('data', collect(stderr));
    if (options.onStderr) child.stderr?.on('data', (chunk: Buffer) => options.onStderr!(chunk.toString()));
    let startError: Error | undefined;
    child.on('error', (error: NodeJS.ErrnoException) => {
      // ENOENT: the program is missing; AbortError: killed on purpose (the close event follows).
      if (error.name !== 'AbortError') startError = error;
    });
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // the program may exit without reading all of it
      child.stdin.end(options.input);
    }
    child.on('close', (code, signal) => {
      leaveTerminalSignals();
      const err = Buffer.concat(stderr).toString();
      resolve({
        // Output cut at the cap is never a success, even when the program ended before it was stopped.
        exitCode: startError ? 127 : overflow && code === 0 ? 1 : exitCodeOf(code, signal),
        stdout: Buffer.concat(stdout).toString(),
        stderr: startError ? `${err}${command}: ${startError.message}` : overflow ? `${err}${outputTooLarge()}` : err,
      });
    });
  });
}

/**
 * While a program has the user's terminal (exec, capture), the terminal's
 * Ctrl-C (SIGINT) and Ctrl-\ (SIGQUIT) are its own to act on, as system(3)
 * has them: the kernel sends them to the whole foreground process group, the
 * program's and netlab's, and netlab waits for the program and gives its exit
 * code. Dying at once left a program that catches them (a shell, Python's
 * prompt, a `trap`) running without netlab, and the shell that started netlab
 * took the terminal back: the program's next read of it stopped it (SIGTTIN).
 * Returns what puts netlab's own handling back.
 */
export function terminalSignalsToChild(): () => void {
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  return () => {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
  };
}

/**
 * A program that reads what another writes (a pipe between two processes
 * netlab starts): its stdin to hand to the writer, and its exit code once it
 * ends (127 if it cannot start). Its stdout goes where `stdout` says.
 */
export function startReader(
  command: string,
  args: readonly string[],
  stdout: 'inherit' | number,
  /** in a process group of its own: a terminal's Ctrl-C does not reach it (it ends when its input does) */
  apart = false,
): { input: Writable; exited: Promise<number> } {
  const child = spawn(command, args, { stdio: ['pipe', stdout, 'inherit'], detached: apart });
  const input = child.stdin!;
  input.on('error', () => {}); // the writer may outlive the reader
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(exitCodeOf(code, signal)));
  });
  return { input, exited };
}
