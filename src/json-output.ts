// One shape for every command's --json output, so that a tool can read any of them.

/** The version of netlab's --json output format: raised when a field changes meaning or goes away. */
export const JSON_OUTPUT_VERSION = 1;

/** Options of a command that can report as JSON. */
export interface JsonOption {
  json?: boolean;
}

/** Set once a --json document is printed: a command prints one. */
let printed = false;

/** Prints one --json document on stdout: an object whose first field, `version`, is the output format's. */
export function printJson(value: object): void {
  printed = true;
  process.stdout.write(`${JSON.stringify({ version: JSON_OUTPUT_VERSION, ...value }, null, 2)}\n`);
}

/**
 * A command run with --json that ended in an error (bad input, a lab not up) before it printed its document:
 * the error as the document, so that a tool reading stdout reads JSON (the message also goes to stderr).
 */
export function printJsonError(error: { exitCode: number; message: string }): void {
  if (!printed) printJson({ exitCode: error.exitCode, error: error.message });
}

/**
 * Runs a command whose --json document comes at its end (up, down): what it
 * says for people meanwhile (progress, per-node lines) goes to stderr, so that
 * stdout carries the JSON document alone.
 */
export async function withHumanOutputOnStderr<T>(work: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = (...args: unknown[]) => console.error(...args);
  try {
    return await work();
  } finally {
    console.log = log;
  }
}
