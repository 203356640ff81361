// Reading an input file's bytes (a lab file, a room file), before anything parses
// them. Kept apart from the parser (yaml, zod) so that the early SSH login can use it too.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { LabInputError, whole } from '../errors.js';
import { MAX_LAB_BYTES } from '../model/grammar.js';

/** Why a file is refused for its size; `what` is the kind of file ("lab file", "room file"). */
export function tooLarge(what: string): string {
  return `file is larger than ${MAX_LAB_BYTES} bytes; a ${what} is a few kilobytes of YAML`;
}

export const TOO_LARGE = tooLarge('lab file');

/**
 * An input file's text: opened once, checked to be a regular file (not a FIFO or
 * /dev/zero, whose size says nothing), and read with a bound.
 */
export function readYamlText(file: string, what = 'lab file'): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (!stat.isFile())
      throw new LabInputError([whole(file, `not a regular file (a device, FIFO or socket); a ${what} is YAML`)]);
    if (stat.size > MAX_LAB_BYTES) throw new LabInputError([whole(file, tooLarge(what))]);
    const buffer = Buffer.allocUnsafe(MAX_LAB_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_LAB_BYTES) throw new LabInputError([whole(file, tooLarge(what))]);
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

/** The same, with every failure to read said as a problem of the file (no such file, a directory, ...). */
export function readInputFile(file: string, what: string): string {
  try {
    return readYamlText(file, what);
  } catch (error) {
    if (error instanceof LabInputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? `is a directory, not a ${what}`
          : code === 'EACCES'
            ? 'permission denied'
            : String((error as Error).message);
    throw new LabInputError([whole(file, reason)]);
  }
}

/**
 * A lab file's YAML as data, unchecked: for a field or two wanted before the parser's
 * checks (the early SSH login) or instead of them (`netlab labs`). The yaml module is
 * imported lazily here. It throws at an error; its warnings are left to the parser,
 * which reports them with their place if it reads the file.
 */
export async function uncheckedLabData(file: string): Promise<unknown> {
  return (await import('yaml')).parse(readYamlText(file), { maxAliasCount: 100, logLevel: 'error' });
}
