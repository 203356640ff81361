import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { quoteArg, quoteArgv } from '../../src/os/quote.js';
import { ROOT } from '../paths.js';

const HOSTILE = [
  'plain',
  '',
  'two words',
  "it's",
  '$(touch /tmp/pwned)',
  '`id`',
  'a;b',
  'a\nb',
  '-rf',
  '"dq"',
  '\\',
  '*',
  '~root',
  '$HOME',
  'ünïcødé',
  "'",
  "''",
];

test('quoted arguments reach a real shell as exactly the same words', () => {
  const script = `printf '%s\\0' ${quoteArgv(HOSTILE)}`;
  const out = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(out.stdout.split('\0').slice(0, -1), HOSTILE);
});

test('plain words stay readable, everything else is single-quoted', () => {
  assert.equal(quoteArg('10.200.0.0/24'), '10.200.0.0/24');
  assert.equal(quoteArg('veth-a0-c'), 'veth-a0-c');
  assert.equal(quoteArg('a b'), "'a b'");
  assert.equal(quoteArg("it's"), "'it'\\''s'");
  assert.equal(quoteArg(''), "''");
});

test('a NUL byte is refused: it cannot be passed in argv', () => {
  assert.throws(() => quoteArg('a\0b'), /NUL/);
});

test('one quoting function: no file of src/ but src/os/quote.ts quotes for the shell by itself', () => {
  // What a hand-made POSIX quoting looks like: replacing every "'" (/'/g) or writing
  // the '\'' escape. src/exec/ssh.ts had one (shellWord) for `exec` and `capture`.
  const own = /\/'\/g|'\\\\''|'\\''/;
  const files = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 50, `the sources were found (${files.length} files)`);
  const quoting = files.filter((f) => own.test(readFileSync(join(ROOT, 'src', f), 'utf8')));
  assert.deepEqual(quoting, [join('os', 'quote.ts')]);
});
