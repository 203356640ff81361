// One long-lived shell that runs many scripts, one after another. Over SSH a
// new session costs ~0.2-0.3 s even through a master connection (a channel, a
// shell, sudo: see BENCHMARKS.md), so a command opens one per node and feeds
// it every script it has for that node: reachability, facts, preflight and
// each phase of `up` cost one session instead of six.
//
// Framing: each script runs in a fresh `sh` whose stdin is a here-document
// holding the script (just as `sh -s` fed on stdin ran it before), so a script
// behaves the same as in a session of its own: its `exit`, `set -e` and
// variables end with it. After it the session prints a line with a token and
// the script's exit status on stdout and a line with the token on stderr;
// what came before them is the script's output. Output is scanned once, as it
// arrives (only the new part is searched for the end of a script), and capped.
//
// A script can also run in the session's shell itself (runInShell): what it
// opens stays open for the scripts after it. The node lock is such a file
// descriptor (fd 9); every script's own sh is started without it, so that no
// process a script leaves running (a pause process) keeps the lock held.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { MAX_SCRIPT_OUTPUT, outputTooLarge, type ScriptResult } from './transport.js';

export interface SessionRunOptions {
  /** ends the session (SIGTERM) when this aborts: Ctrl-C during up */
  signal?: AbortSignal;
  /** ends the session after this many milliseconds */
  timeout?: number;
}

export class ShellSession {
  private readonly child: ChildProcess;
  private readonly token = randomBytes(8).toString('hex');
  private scripts = 0;
  private stdout = '';
  private stderr = '';
  /** where the search for the current script's end markers goes on from */
  private outScanned = 0;
  private errScanned = 0;
  private overflow = false;
  /** set once the session's process has ended: its exit code */
  private ended: number | undefined;
  private wake: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** scripts queued or running */
  private pending = 0;

  /** command and args start a POSIX shell that reads commands on stdin */
  constructor(command: string, args: readonly string[], private readonly onEnd: () => void = () => {}) {
    // A process group of its own: stopping the session stops everything it started here.
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.collect('stdout', chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.collect('stderr', chunk));
    this.child.stdin!.on('error', () => {}); // the shell may be gone; its exit code tells why
    let startError = false;
    this.child.on('error', (error) => {
      startError = true;
      this.stderr += `${command}: ${error.message}\n`;
    });
    this.child.on('close', (code, signal) => {
      // 127 for a program that could not start, as a shell says for a missing command
      this.ended = startError ? 127 : (code ?? (signal ? 143 : 1));
      this.onEnd();
      this.wake?.();
    });
    this.idle(true);
  }

  get alive(): boolean {
    return this.ended === undefined;
  }

  /** Runs one script after those already queued, in a sh of its own; never rejects. */
  run(script: string, options: SessionRunOptions = {}): Promise<ScriptResult> {
    return this.enqueue(script, options, false);
  }

  /** Runs a few lines in the session's shell itself: what they open (a lock) stays open for the next scripts. */
  runInShell(lines: string, options: SessionRunOptions = {}): Promise<ScriptResult> {
    return this.enqueue(lines, options, true);
  }

  private enqueue(script: string, options: SessionRunOptions, inShell: boolean): Promise<ScriptResult> {
    this.pending += 1;
    const result = this.queue.then(() => this.runNow(script, options, inShell)).finally(() => (this.pending -= 1));
    this.queue = result;
    return result;
  }

  private collect(stream: 'stdout' | 'stderr', chunk: string): void {
    if (this.stdout.length + this.stderr.length + chunk.length > MAX_SCRIPT_OUTPUT) {
      if (!this.overflow) this.stop();
      this.overflow = true;
    } else this[stream] += chunk;
    this.wake?.();
  }

  /** Lets the session go without waiting: an idle shell reads end of input; one still running a script is stopped. */
  end(): void {
    if (this.ended !== undefined) return;
    if (this.pending > 0) this.stop();
    else this.child.stdin!.end();
  }

  /** Ends the session: the shell reads end of input and exits. */
  close(): Promise<void> {
    if (this.ended !== undefined) return Promise.resolve();
    this.idle(false);
    this.child.stdin!.end();
    return new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  private async runNow(script: string, options: SessionRunOptions, inShell: boolean): Promise<ScriptResult> {
    if (this.ended !== undefined) return this.takeAll();
    const id = `${this.token}-${++this.scripts}`;
    const delimiter = `@@netlab-script-${id}`;
    const doneOut = `\n@@netlab-done ${id} `;
    const doneErr = `\n@@netlab-done ${id}\n`;
    this.idle(false);
    const body = `${script}${script.endsWith('\n') ? '' : '\n'}`;
    this.child.stdin!.write(
      (inShell ? `{ ${body}}\n` : `sh 9>&- <<'${delimiter}'\n${body}${delimiter}\n`) +
        `printf '\\n@@netlab-done ${id} %d\\n' "$?"; printf '\\n@@netlab-done ${id}\\n' >&2\n`,
    );
    const stop = () => this.stop();
    options.signal?.addEventListener('abort', stop);
    const timer = options.timeout ? setTimeout(stop, options.timeout) : undefined;
    if (options.signal?.aborted) stop();
    try {
      for (;;) {
        // Only what arrived since the last look is searched (less a marker's length, which may straddle).
        const outAt = this.stdout.indexOf(doneOut, Math.max(0, this.outScanned - doneOut.length));
        const outEnd = outAt >= 0 ? this.stdout.indexOf('\n', outAt + doneOut.length) : -1;
        this.outScanned = this.stdout.length;
        const errAt = this.stderr.indexOf(doneErr, Math.max(0, this.errScanned - doneErr.length));
        this.errScanned = this.stderr.length;
        if (outEnd >= 0 && errAt >= 0) {
          const result = { exitCode: Number(this.stdout.slice(outAt + doneOut.length, outEnd)), stdout: this.stdout.slice(0, outAt), stderr: this.stderr.slice(0, errAt) };
          this.stdout = this.stdout.slice(outEnd + 1);
          this.stderr = this.stderr.slice(errAt + doneErr.length);
          this.outScanned = this.errScanned = 0;
          return result;
        }
        // A marker already found is found again next time (the other stream's may still be on its way).
        if (outAt >= 0) this.outScanned = outAt;
        if (errAt >= 0) this.errScanned = errAt;
        // The shell ended before the script did: ssh failed (255), no sudo (126), or it was stopped.
        if (this.ended !== undefined) return this.takeAll();
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      this.wake = undefined;
      options.signal?.removeEventListener('abort', stop);
      if (timer) clearTimeout(timer);
      this.idle(true);
    }
  }

  private stop(): void {
    try {
      process.kill(-this.child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  }

  private takeAll(): ScriptResult {
    const result = { exitCode: this.ended!, stdout: this.stdout, stderr: this.overflow ? `${this.stderr}${outputTooLarge()}` : this.stderr };
    this.stdout = '';
    this.stderr = '';
    this.outScanned = this.errScanned = 0;
    return result;
  }

  /**
   * An idle session does not keep netlab running: when netlab exits, the
   * shell reads end of input and exits too. A script in flight does.
   */
  private idle(idle: boolean): void {
    const handles = [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as unknown as (Socket | null)[];
    for (const handle of handles) {
      if (idle) handle?.unref();
      else handle?.ref();
    }
  }
}
