// A transport runs a shell script on one node. Only transports touch the
// outside world; everything before them is pure.

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Transport {
  readonly node: string;
  /** Runs a script (fed on stdin) on the node and collects its output. */
  run(script: string, options?: { signal?: AbortSignal }): Promise<ScriptResult>;
  /** Runs a script with the user's terminal attached (for `netlab exec`); resolves to its exit code. */
  interactive(script: string): Promise<number>;
}
