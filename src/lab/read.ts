// Reading a lab file's bytes, before anything parses them. Kept apart from the
// parser (yaml, zod) so that the early SSH login can use it too.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { LabInputError, type LabIssue } from '../errors.js';
import { MAX_LAB_BYTES } from '../model/grammar.js';

export const TOO_LARGE = `file is larger than ${MAX_LAB_BYTES} bytes; a lab file is a few kilobytes of YAML`;

export function whole(file: string, message: string): LabIssue {
  return { file, line: 1, col: 1, path: '', message };
}

/**
 * A lab file's text: opened once, checked to be a regular file (not a FIFO or
 * /dev/zero, whose size says nothing), and read with a bound.
 */
export function readLabText(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (!stat.isFile())
      throw new LabInputError([whole(file, 'not a regular file (a device, FIFO or socket); a lab file is YAML')]);
    if (stat.size > MAX_LAB_BYTES) throw new LabInputError([whole(file, TOO_LARGE)]);
    const buffer = Buffer.allocUnsafe(MAX_LAB_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_LAB_BYTES) throw new LabInputError([whole(file, TOO_LARGE)]);
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}
