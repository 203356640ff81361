// Exit codes: 0 ok, 1 a check or step failed, 2 bad input or usage.
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** One problem in a lab file, located in the file. */
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
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
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
