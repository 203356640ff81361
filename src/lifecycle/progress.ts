// up's progress: its tasks run one after the other, each a line. At a terminal that says how wide it
// is, listr2 draws them live (a spinner, each node's count under its phase); elsewhere (a pipe, a
// file, CI, a terminal of 0 columns) each task is written as it starts and as it ends, in the words
// listr2's simple renderer used: `❯ title`, `✔ title [0.1s]`, `✖ title [FAILED: …]`, and a task's
// output as `› line`. listr2 (about 3 ms of loading, with its colour and event modules) is loaded
// only for the live display.
import type { Writable } from 'node:stream';

/** What a task can say while it runs: a line shown under its title. */
export interface TaskOutput {
  output: string;
}

export interface ProgressTask {
  title: string;
  task: (context: unknown, task: TaskOutput) => Promise<unknown>;
}

export interface ProgressOptions {
  /** 'live': listr2's display, on stdout; 'lines': a line per change, on `stream`; 'silent': nothing */
  display: 'live' | 'lines' | 'silent';
  /** where the lines go (stderr with --json, whose stdout is the document alone) */
  stream: Writable & { isTTY?: boolean; hasColors?: () => boolean };
  /** where a failed task's line goes (stderr, but for --json, which sends everything to its stream) */
  failures: Writable;
}

/**
 * Whether up draws its live progress display on this stream: a terminal with a width. (listr2 draws it on
 * stdout, so that too must be a terminal: with --json, whose progress goes to stderr, both must be.)
 */
export function liveProgress(stream: { isTTY?: boolean; columns?: number }): boolean {
  return Boolean(stream.isTTY && stream.columns && stream.columns > 0);
}

/**
 * Runs the tasks in order; the first that fails ends the run, and its error is
 * thrown once its line is written.
 */
export async function runProgress(tasks: readonly ProgressTask[], options: ProgressOptions): Promise<void> {
  if (options.display === 'live') return runLive(tasks);
  const lines = options.display === 'lines' ? lineWriter(options) : undefined;
  for (const { title, task } of tasks) {
    lines?.started(title);
    const began = Date.now();
    try {
      await task(undefined, outputOf(lines));
    } catch (error) {
      lines?.failed(title, (error as Error).message);
      throw error;
    }
    lines?.completed(title, Date.now() - began);
  }
}

/** listr2's live display, drawn on stdout (a terminal: liveProgress). */
async function runLive(tasks: readonly ProgressTask[]): Promise<void> {
  const { Listr, PRESET_TIMER } = await import('listr2');
  await new Listr([...tasks], {
    exitOnError: true,
    registerSignalListeners: false,
    renderer: 'default',
    rendererOptions: { timer: PRESET_TIMER },
  }).run();
}

/** A task's output line, written as it is set (lines), or kept (silent). */
function outputOf(lines: ReturnType<typeof lineWriter> | undefined): TaskOutput {
  let output = '';
  return {
    get output() {
      return output;
    },
    set output(line: string) {
      output = line;
      lines?.output(line);
    },
  };
}

const ESC = String.fromCharCode(27);

/**
 * The lines' colours: at a terminal (of 0 columns) as Node's tty says (FORCE_COLOR, NO_COLOR, TERM=dumb);
 * elsewhere only when FORCE_COLOR asks for them, '0' and 'false' being no (Node's rule).
 */
export function linesInColour(
  stream: { isTTY?: boolean; hasColors?: () => boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (stream.isTTY && stream.hasColors) return stream.hasColors();
  return env.FORCE_COLOR !== undefined && !['0', 'false'].includes(env.FORCE_COLOR);
}

function lineWriter({ stream, failures }: ProgressOptions) {
  const colour = linesInColour(stream);
  const paint = (code: number, off: number) => (text: string) =>
    colour ? `${ESC}[${code}m${text}${ESC}[${off}m` : text;
  const [yellow, green, red, dim] = [paint(33, 39), paint(32, 39), paint(31, 39), paint(2, 22)];
  return {
    started: (title: string) => stream.write(`${yellow('❯')} ${title}\n`),
    completed: (title: string, ms: number) => stream.write(`${green('✔')} ${title} ${dim(`[${duration(ms)}]`)}\n`),
    failed: (title: string, message: string) => failures.write(`${red('✖')} ${title} ${red(`[FAILED: ${message}]`)}\n`),
    output: (line: string) => stream.write(`› ${line}\n`),
  };
}

/** A task's time as listr2's timer writes it: 0.3s under a second, 12s, 1m5s. */
export function duration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  if (seconds === 0) return `0.${Math.floor(ms / 100)}s`;
  return minutes > 0 ? `${minutes}m${seconds % 60}s` : `${seconds}s`;
}
