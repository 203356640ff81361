// The one place where an argument becomes shell text. Every command netlab
// sends to a node goes through quoteArgv, so a value can never be read by the
// shell as anything but a single word.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for POSIX sh. Plain words stay readable in `netlab plan`. */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) throw new Error('internal error: NUL byte in a shell argument');
  if (arg !== '' && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}
