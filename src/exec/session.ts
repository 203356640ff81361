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
// what came before them is the script's output.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ScriptResult } from './transport.js';

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
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => ((this.stdout += chunk), this.wake?.()));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => ((this.stderr += chunk), this.wake?.()));
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

  /** Runs one script after those already queued; never rejects. */
  run(script: string, options: SessionRunOptions = {}): Promise<ScriptResult> {
    this.pending += 1;
    const result = this.queue.then(() => this.runNow(script, options)).finally(() => (this.pending -= 1));
    this.queue = result;
    return result;
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

  private async runNow(script: string, options: SessionRunOptions): Promise<ScriptResult> {
    if (this.ended !== undefined) return this.takeAll();
    const id = `${this.token}-${++this.scripts}`;
    const delimiter = `@@netlab-script-${id}`;
    const doneOut = new RegExp(`\\n@@netlab-done ${id} (\\d+)\\n`);
    const doneErr = `\n@@netlab-done ${id}\n`;
    this.idle(false);
    this.child.stdin!.write(
      `sh <<'${delimiter}'\n${script}${script.endsWith('\n') ? '' : '\n'}${delimiter}\n` +
        `printf '\\n@@netlab-done ${id} %d\\n' "$?"; printf '\\n@@netlab-done ${id}\\n' >&2\n`,
    );
    const stop = () => this.stop();
    options.signal?.addEventListener('abort', stop);
    const timer = options.timeout ? setTimeout(stop, options.timeout) : undefined;
    if (options.signal?.aborted) stop();
    try {
      for (;;) {
        const out = doneOut.exec(this.stdout);
        const errAt = this.stderr.indexOf(doneErr);
        if (out && errAt >= 0) {
          const result = { exitCode: Number(out[1]), stdout: this.stdout.slice(0, out.index), stderr: this.stderr.slice(0, errAt) };
          this.stdout = this.stdout.slice(out.index + out[0].length);
          this.stderr = this.stderr.slice(errAt + doneErr.length);
          return result;
        }
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
    const result = { exitCode: this.ended!, stdout: this.stdout, stderr: this.stderr };
    this.stdout = '';
    this.stderr = '';
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
