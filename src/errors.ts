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

/** How resolving a lab file reports a problem: at its path in the file, on the key or (the default) the value. */
export type Report = (path: readonly PathSegment[], message: string, at?: 'key' | 'value') => void;

export interface LabIssue {
  file: string;
  line: number;
  col: number;
  /** field path such as pods.a0.node */
  path: string;
  message: string;
  /** a warning: the lab is valid, but surely not meant so (`validate --strict` makes it an error) */
  severity?: 'warning';
  /** about the file as a whole (not read, or not YAML text): it has no line and column to name (1:1 and `whole` in --json) */
  whole?: true;
  /** a warning that holds on simulated nodes only (lab/warnings.ts LabWarning) */
  simulated?: true;
}

/** A problem of a file as a whole (not read, or not YAML text): no line and column of it to name. */
export function whole(file: string, message: string): LabIssue {
  return { file, line: 1, col: 1, path: '', message, whole: true };
}

export function formatIssue(issue: LabIssue): string {
  const at = issue.whole ? issue.file : `${issue.file}:${issue.line}:${issue.col}`;
  const where = `${at}${issue.severity === 'warning' ? ': warning' : ''}`;
  return escapeControls(issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`, true);
}

/**
 * Text as it may reach a terminal: the one escaping function for messages
 * and for everything printed that a node or a pod said (verify's evidence,
 * show's tables, trace's hops, status's drift). Every control character (C0
 * with ESC, CR and BEL, DEL, C1 0x80-0x9f) and Unicode text-direction control
 * is shown escaped, so no lab file, name, option or pod can retitle or clear
 * the terminal or fake lines. A tab stays, and so does a line break unless
 * oneLine (text inside one line of output: shown as \n).
 */
export function escapeControls(text: string, oneLine = false): string {
  return text.replace(/[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    if (c === '\t' || (c === '\n' && !oneLine)) return c;
    return c === '\n' ? '\\n' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * A validate command's problems of a file it could not take, as lines and as fields (--json): a
 * LabInputError's issues, or the error's message as an issue of the whole file (a lab argument that
 * names no file nor lab).
 */
export function inputProblems(
  error: UsageError,
  file: string,
): { problems: string[]; issues: ReturnType<typeof issueFields>[] } {
  if (error instanceof LabInputError && error.issues.length > 0)
    return { problems: error.issues.map(formatIssue), issues: error.issues.map(issueFields) };
  return {
    problems: [error.message],
    issues: [issueFields(whole(file, error.message))],
  };
}

/** A problem as fields, for --json: the message split from what is allowed (after its last "; allowed: "). */
export function issueFields(issue: LabIssue): {
  file: string;
  line: number;
  column: number;
  path: string;
  message: string;
  allowed?: string;
  severity: 'error' | 'warning';
  whole?: true;
} {
  const at = issue.message.lastIndexOf('; allowed: ');
  return {
    file: issue.file,
    line: issue.line,
    column: issue.col,
    path: issue.path,
    message: at < 0 ? issue.message : issue.message.slice(0, at),
    ...(at < 0 ? {} : { allowed: issue.message.slice(at + '; allowed: '.length) }),
    severity: issue.severity ?? 'error',
    // (its line and column, 1 and 1, name no place in a file that was never read)
    ...(issue.whole ? { whole: true as const } : {}),
  };
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

/** A Ctrl-C (SIGINT, SIGTERM, a hangup) stopped the work: what was begun is undone or stopped before it is thrown. */
export class Interrupted extends RunError {
  constructor() {
    super('interrupted');
  }
}
