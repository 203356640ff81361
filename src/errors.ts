// Exit codes: 0 ok, 1 a check or step failed, 2 bad input or usage.
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/**
 * A value the user gave, as it may be shown in a message: quoted, with control
 * characters escaped, so that no input can fake lines or terminal sequences.
 */
export function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}

/** One problem in a lab file, located in the file. */
/** One step of a path into the lab file: a key, or an index into a list. */
export type PathSegment = string | number;

export interface LabIssue {
  file: string;
  line: number;
  col: number;
  /** field path such as pods.a0.node */
  path: string;
  message: string;
}

export function formatIssue(issue: LabIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.col}`;
  return escapeControls(
    issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`,
  ).replace(/\n/g, '\\n');
}

/**
 * A message as it may be printed: any control character (other than a line
 * break) or Unicode text-direction control that came from input is shown
 * escaped, so no lab file, name or option can fake lines or drive the terminal.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu, (c) =>
    c === '\n' || c === '\t' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A user's mistake: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  readonly exitCode: number = EXIT_USAGE;
}

/** A lab file with problems: every problem is listed. */
export class LabInputError extends UsageError {
  constructor(readonly issues: LabIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

/** Something on a node failed (a step, a check, a connection): exit code 1. */
export class RunError extends Error {
  readonly exitCode: number = EXIT_FAILED;
}
