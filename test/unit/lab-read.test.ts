// Reading a lab file (src/lab/read.ts, src/lab/load.ts): a regular file only,
// read with a bound of 1 MiB. The bound is what is tested here, at its edge,
// with files that are otherwise valid labs: a file of 1 MiB + 1 byte of YAML
// comments is refused for its size and for nothing else, so raising the bound
// (to 1 GiB, say) turns this test red. Before it, a huge file was refused only
// by the 1000-character description limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import { readYamlText, TOO_LARGE } from '../../src/lab/read.js';
import { MAX_LAB_BYTES } from '../../src/model/grammar.js';
import { LabInputError } from '../../src/errors.js';

const MIB = 1024 * 1024;
const LAB = 'nodes: { node-0: {} }\npods: { a0: { node: node-0 } }\n';

/** A valid lab padded with comment lines to exactly `bytes` bytes. */
function labOfSize(bytes: number): string {
  const line = `#${'x'.repeat(1023)}\n`; // 1024 bytes
  let text = LAB;
  while (text.length + line.length <= bytes) text += line;
  return text + '#'.repeat(bytes - text.length);
}

const refusedForSize = (file: string) => (error: unknown) =>
  error instanceof LabInputError &&
  error.exitCode === 2 &&
  error.issues.length === 1 &&
  error.issues[0]!.file === file &&
  error.issues[0]!.line === 1 &&
  error.issues[0]!.col === 1 &&
  error.issues[0]!.message === TOO_LARGE;

test('the lab-file bound is 1 MiB, and says so', () => {
  assert.equal(MAX_LAB_BYTES, MIB);
  assert.equal(TOO_LARGE, 'file is larger than 1048576 bytes; a lab file is a few kilobytes of YAML');
});

test('a valid lab of exactly 1 MiB is read and loads; one byte more is refused for its size alone, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-read-'));
  try {
    const edge = join(dir, 'edge.yaml');
    writeFileSync(edge, labOfSize(MIB));
    const text = readYamlText(edge);
    assert.equal(text.length, MIB, 'read whole, not cut at the bound');
    assert.equal(text, labOfSize(MIB));
    assert.deepEqual(
      loadLabFile(edge).model.nodes.map((n) => n.name),
      ['node-0'],
    );

    const over = join(dir, 'over.yaml');
    writeFileSync(over, labOfSize(MIB + 1));
    assert.throws(() => readYamlText(over), refusedForSize(over));
    assert.throws(() => loadLabFile(over), refusedForSize(over));
    // The same text handed over as a string (the early SSH login's path) is refused too.
    assert.throws(() => parseLab(labOfSize(MIB + 1), 'text.yaml'), refusedForSize('text.yaml'));
    assert.equal(parseLab(labOfSize(MIB), 'text.yaml').model.pods.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a small lab is read whole, byte for byte (multi-byte UTF-8 included)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-read-'));
  try {
    const file = join(dir, 'small.yaml');
    const text = `description: "Größe – ünïcødé"\n${LAB}`;
    writeFileSync(file, text);
    assert.equal(readYamlText(file), text);
    assert.equal(loadLabFile(file).lab.description, 'Größe – ünïcødé');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that is not there or is a directory is named as such, exit 2, at 1:1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-read-'));
  try {
    const sub = join(dir, 'sub.yaml');
    mkdirSync(sub);
    for (const [file, message] of [
      [join(dir, 'missing.yaml'), 'no such file'],
      [sub, 'is a directory, not a lab file'],
      ['/dev/null', 'not a regular file (a device, FIFO or socket); a lab file is YAML'],
    ] as const)
      assert.throws(
        () => loadLabFile(file),
        (error: unknown) =>
          error instanceof LabInputError &&
          error.exitCode === 2 &&
          error.issues.length === 1 &&
          error.issues[0]!.message === message &&
          error.issues[0]!.file === file &&
          error.issues[0]!.line === 1 &&
          error.issues[0]!.col === 1 &&
          error.issues[0]!.path === '',
        file,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bound holds while reading too: a file whose size says 0 but that reads as megabytes (/proc/kallsyms) is refused', (t) => {
  // The size from fstat is checked first; a file may still read longer than it
  // said (one that grows, or a kernel file of size 0), and the read stops one byte past the bound.
  let size = 0;
  try {
    size = readFileSync('/proc/kallsyms').length;
  } catch {
    // not on this kernel
  }
  if (size <= MIB) {
    t.skip('/proc/kallsyms is missing or under 1 MiB here');
    return;
  }
  assert.equal(statSync('/proc/kallsyms').size, 0);
  assert.throws(() => readYamlText('/proc/kallsyms'), refusedForSize('/proc/kallsyms'));
});

test('reading a lab file leaves no file descriptor open, whether it is read or refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-read-'));
  try {
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, LAB);
    const over = join(dir, 'over.yaml');
    writeFileSync(over, labOfSize(MIB + 1));
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 20; i++) {
      readYamlText(ok);
      assert.throws(() => readYamlText(over), refusedForSize(over));
      assert.throws(() => readYamlText('/dev/null'), LabInputError);
    }
    assert.equal(open(), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
