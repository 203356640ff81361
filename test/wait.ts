// Waiting in tests for something observable instead of sleeping a fixed time:
// poll a condition until it holds or a deadline passes (then fail, saying what
// was waited for), and read a child's output until a marker line appears.

export interface WaitOptions {
  /** fail after this long (ms) */
  timeoutMs?: number;
  /** between two looks (ms) */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined or false, and
 * returns that. A probe that throws ends the wait with its error. Past the
 * deadline, throws naming `what`.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 30_000, intervalMs = 50 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

interface Readable {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
}

/** A child process as node's spawn and execa both give it. */
export interface ChildLike {
  stdout?: Readable | null;
  stderr?: Readable | null;
  once(event: 'close', listener: (code: number | null) => void): unknown;
}

export interface Watched {
  /** stdout and stderr so far, interleaved as they came */
  readonly output: string;
  readonly exited: boolean;
  /** Resolves once the output matches `marker`; fails if the child exits first, or at the deadline. */
  until(marker: RegExp | string, options?: WaitOptions): Promise<void>;
}

/** Collects a child's output as it comes, to wait for a line that marks a phase of it. */
export function watch(child: ChildLike): Watched {
  let output = '';
  let exited = false;
  const collect = (chunk: Buffer | string) => (output += chunk.toString());
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // 'close': after the last of its output was read
  child.once('close', () => (exited = true));
  const seen = (marker: RegExp | string) =>
    typeof marker === 'string' ? output.includes(marker) : marker.test(output);
  return {
    get output() {
      return output;
    },
    get exited() {
      return exited;
    },
    async until(marker, options) {
      await waitFor(
        `${String(marker)} in the output`,
        () => {
          if (seen(marker)) return true;
          if (exited) throw new Error(`exited before ${String(marker)} appeared; its output:\n${output}`);
          return false;
        },
        { timeoutMs: 60_000, ...options },
      );
    },
  };
}

/** What `promise` gives, if it settles within `ms`; otherwise fails, naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
