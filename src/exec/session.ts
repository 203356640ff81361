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
// runInShellThen sends such lines and a script together, one round trip for
// both: up's lock and its preflight.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { MAX_SCRIPT_OUTPUT, outputTooLarge, type ScriptResult } from './transport.js';
import { exitCodeOf } from './spawn.js';

/**
 * One stream's output, searched once as it arrives. Text already searched is
 * kept as chunks (joined once, when a script ends); only the new text, and the
 * few characters before it where a marker could begin, is searched again. A
 * string grown by += and searched each time would be copied whole on every
 * chunk: 32 MB of output took over a minute that way.
 */
class Output {
  private searched: string[] = [];
  private searchedLength = 0;
  private recent = '';

  get length(): number {
    return this.searchedLength + this.recent.length;
  }

  append(chunk: string): void {
    this.recent += chunk;
  }

  /**
   * Where `marker` starts and where its line ends (after the newline, with
   * toLineEnd), as offsets into the whole output; undefined if it has not come
   * (complete) yet. Text before a possible start is not searched again.
   */
  find(marker: string, toLineEnd: boolean): { start: number; end: number } | undefined {
    const at = this.recent.indexOf(marker);
    if (at < 0) {
      this.setAside(this.recent.length - marker.length + 1);
      return undefined;
    }
    const end = toLineEnd ? this.recent.indexOf('\n', at + marker.length) + 1 : at + marker.length;
    if (end === 0) {
      this.setAside(at); // its line has not ended yet
      return undefined;
    }
    return { start: this.searchedLength + at, end: this.searchedLength + end };
  }

  /** The output before `start`; what follows `end` stays for the next script. */
  cut(start: number, end: number): { before: string; marker: string } {
    const all = this.takeAll();
    this.recent = all.slice(end);
    return { before: all.slice(0, start), marker: all.slice(start, end) };
  }

  takeAll(): string {
    const all = this.searched.join('') + this.recent;
    this.searched = [];
    this.searchedLength = 0;
    this.recent = '';
    return all;
  }

  private setAside(count: number): void {
    if (count <= 0) return;
    this.searched.push(this.recent.slice(0, count));
    this.searchedLength += count;
    this.recent = this.recent.slice(count);
  }
}

export interface SessionRunOptions {
  /** ends the session (SIGTERM) when this aborts: Ctrl-C during up */
  signal?: AbortSignal;
  /** ends the session after this many milliseconds */
  timeout?: number;
  /** the script's stdout as it comes */
  onStdout?: (chunk: string) => void;
}

/** A script for the session: in a sh of its own, or in the session's shell itself. */
interface Part {
  script: string;
  inShell: boolean;
}

/** A part as the session's shell reads it, then its end: a line with the id and exit status on stdout, the id on stderr. */
function framed({ script, inShell }: Part, id: string): string {
  const body = `${script}${script.endsWith('\n') ? '' : '\n'}`;
  const delimiter = `@@netlab-script-${id}`;
  return (
    (inShell ? `{ ${body}}\n` : `sh 9>&- <<'${delimiter}'\n${body}${delimiter}\n`) +
    `printf '\\n@@netlab-done ${id} %d\\n' "$?"; printf '\\n@@netlab-done ${id}\\n' >&2\n`
  );
}

/**
 * How long the session's pipes may stay open with no output after its process exited: the last of its output is
 * read well within it, where nothing else holds them.
 */
const PIPES_AFTER_EXIT_MS = 1000;

export class ShellSession {
  private readonly child: ChildProcess;
  private readonly token = randomBytes(8).toString('hex');
  private scripts = 0;
  private readonly stdout = new Output();
  private readonly stderr = new Output();
  private overflow = false;
  /** set once the session's process has ended: its exit code */
  private ended: number | undefined;
  private wake: (() => void) | undefined;
  /** the running script's listener for its stdout */
  private onStdout: ((chunk: string) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** scripts queued or running */
  private pending = 0;
  /** chunks of output read so far (the pipes are let go once none has come for a while after the exit) */
  private chunks = 0;

  /** command and args start a POSIX shell that reads commands on stdin; maxOutput: see MAX_SCRIPT_OUTPUT */
  constructor(
    command: string,
    args: readonly string[],
    private readonly onEnd: () => void = () => {},
    private readonly maxOutput = MAX_SCRIPT_OUTPUT,
  ) {
    // A process group of its own: stopping the session stops everything it started here.
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.collect('stdout', chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.collect('stderr', chunk));
    this.child.stdin!.on('error', () => {}); // the shell may be gone; its exit code tells why
    let startError = false;
    this.child.on('error', (error) => {
      startError = true;
      this.stderr.append(`${command}: ${error.message}\n`);
    });
    // The process has exited, but its pipes may stay open: through a master connection, ssh hands the master this
    // session's pipes, and the master keeps them open for as long as the machine's shell runs (one that hangs, or a
    // learner stopped). Node's 'close' waits for them, and with it every script of this session and netlab's exit.
    this.child.on('exit', () => this.letGoOfPipesWhenQuiet());
    this.child.on('close', (code, signal) => {
      // 127 for a program that could not start, as a shell says for a missing command
      this.ended = startError ? 127 : exitCodeOf(code, signal);
      this.onEnd();
      this.wake?.();
    });
    this.idle(true);
  }

  get alive(): boolean {
    return this.ended === undefined;
  }

  /** Runs one script after those already queued, in a sh of its own; never rejects. */
  async run(script: string, options: SessionRunOptions = {}): Promise<ScriptResult> {
    return (await this.enqueue([{ script, inShell: false }], options))[0]!;
  }

  /** Runs a few lines in the session's shell itself: what they open (a lock) stays open for the next scripts. */
  async runInShell(lines: string, options: SessionRunOptions = {}): Promise<ScriptResult> {
    return (await this.enqueue([{ script: lines, inShell: true }], options))[0]!;
  }

  /**
   * runInShell's lines, then a script in a sh of its own, sent together: one round trip for both
   * (up's lock, then its preflight). The script runs whatever the lines did: it must only read.
   */
  async runInShellThen(lines: string, script: string): Promise<[ScriptResult, ScriptResult]> {
    const [first, then] = await this.enqueue(
      [
        { script: lines, inShell: true },
        { script, inShell: false },
      ],
      {},
    );
    return [first!, then!];
  }

  private enqueue(parts: Part[], options: SessionRunOptions): Promise<ScriptResult[]> {
    this.pending += 1;
    const result = this.queue.then(() => this.runNow(parts, options)).finally(() => (this.pending -= 1));
    this.queue = result;
    return result;
  }

  private collect(stream: 'stdout' | 'stderr', chunk: string): void {
    this.chunks += 1;
    if (this.stdout.length + this.stderr.length + chunk.length > this.maxOutput) {
      if (!this.overflow) this.stop();
      this.overflow = true;
    } else this[stream].append(chunk);
    if (stream === 'stdout') this.onStdout?.(chunk);
    this.wake?.();
  }

  /** Lets the session go without waiting: an idle shell reads end of input; one still running a script is stopped. */
  end(): void {
    if (this.ended !== undefined) return;
    if (this.pending > 0) {
      this.stop();
      // Nothing more is wanted from it: its pipes are let go at once (a master connection may keep them open).
      this.letGoOfPipes();
    } else this.child.stdin!.end();
  }

  /**
   * Once the process has exited: its pipes are let go after PIPES_AFTER_EXIT_MS with no output on them. (The
   * timer's end waits for the event loop's next look at its pipes, setImmediate: output that came while the loop
   * was busy is read first, and counts.)
   */
  private letGoOfPipesWhenQuiet(): void {
    const seen = this.chunks;
    setTimeout(
      () =>
        setImmediate(() => {
          if (this.chunks === seen) this.letGoOfPipes();
          else this.letGoOfPipesWhenQuiet();
        }),
      PIPES_AFTER_EXIT_MS,
    ).unref();
  }

  /** Drops netlab's ends of the session's pipes: the session ends as its process has (or will). */
  private letGoOfPipes(): void {
    if (this.ended !== undefined) return;
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) stream?.destroy();
  }

  /** Ends the session: the shell reads end of input and exits. */
  close(): Promise<void> {
    if (this.ended !== undefined) return Promise.resolve();
    this.idle(false);
    this.child.stdin!.end();
    return new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  /** Writes the parts at once, each framed with its own end; their results in order. */
  private async runNow(parts: Part[], options: SessionRunOptions): Promise<ScriptResult[]> {
    if (this.ended !== undefined) return parts.map(() => this.takeAll());
    const ids = parts.map(() => `${this.token}-${++this.scripts}`);
    this.idle(false);
    this.child.stdin!.write(parts.map((part, i) => framed(part, ids[i]!)).join(''));
    const stop = () => this.stop();
    this.onStdout = options.onStdout;
    options.signal?.addEventListener('abort', stop);
    const timer = options.timeout ? setTimeout(stop, options.timeout) : undefined;
    if (options.signal?.aborted) stop();
    try {
      const results: ScriptResult[] = [];
      for (const id of ids) results.push(await this.resultOf(id));
      return results;
    } finally {
      this.wake = undefined;
      this.onStdout = undefined;
      options.signal?.removeEventListener('abort', stop);
      if (timer) clearTimeout(timer);
      this.idle(true);
    }
  }

  /** The output of the script `id`, up to its end; what follows stays for the next. */
  private async resultOf(id: string): Promise<ScriptResult> {
    const doneOut = `\n@@netlab-done ${id} `;
    const doneErr = `\n@@netlab-done ${id}\n`;
    let outAt: { start: number; end: number } | undefined;
    let errAt: { start: number; end: number } | undefined;
    for (;;) {
      outAt ??= this.stdout.find(doneOut, true);
      errAt ??= this.stderr.find(doneErr, false);
      if (outAt && errAt) {
        const out = this.stdout.cut(outAt.start, outAt.end);
        return {
          exitCode: Number(out.marker.slice(doneOut.length)),
          stdout: out.before,
          stderr: this.stderr.cut(errAt.start, errAt.end).before,
        };
      }
      // The shell ended before the script did: ssh failed (255), no sudo (126), or it was stopped.
      if (this.ended !== undefined) return this.takeAll();
      await new Promise<void>((resolve) => (this.wake = resolve));
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
    const stderr = this.stderr.takeAll();
    return {
      exitCode: this.ended!,
      stdout: this.stdout.takeAll(),
      stderr: this.overflow ? `${stderr}${outputTooLarge(this.maxOutput)}` : stderr,
    };
  }

  /**
   * An idle session does not keep netlab running: when netlab exits, the
   * shell reads end of input and exits too. A script in flight does.
   */
  private idle(idle: boolean): void {
    const handles = [
      this.child,
      this.child.stdin,
      this.child.stdout,
      this.child.stderr,
    ] as unknown as (Socket | null)[];
    for (const handle of handles) {
      if (idle) handle?.unref();
      else handle?.ref();
    }
  }
}
