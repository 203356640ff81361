// The SSH control directory as controlDir() makes and checks it, in process
// (src/exec/ssh-args.ts): refused while it is not private, made in
// XDG_RUNTIME_DIR or, for root without one, in /run, and checked once per
// process after it is found good. Its own file: the answer is kept per process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlDir } from '../../src/exec/ssh-args.js';
import { UsageError } from '../../src/errors.js';

const uid = process.getuid!();
// (short: ssh's socket paths leave the directory 38 characters)
const work = mkdtempSync(join(tmpdir(), 'nlcd-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

test('the control directory: one that others may use is refused, in words; once private it is used, and kept for the process', () => {
  const runtime = join(work, 'rt');
  mkdirSync(runtime, { mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = runtime;
  const dir = join(runtime, `netlab-ssh-${uid}`);
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o755);
  assert.throws(
    () => controlDir(),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message ===
        `refusing the SSH control directory ${dir}: others may use it (mode 755, not 700); its sockets would let others use netlab's logins. Remove it, or set XDG_RUNTIME_DIR to a private directory`,
  );
  // A refusal is not kept: made private, the same directory is used, and from then on without looking again.
  chmodSync(dir, 0o700);
  assert.equal(controlDir(), dir);
  chmodSync(dir, 0o755);
  assert.equal(controlDir(), dir, 'checked once per process');
});

test(
  'without XDG_RUNTIME_DIR, root makes it in /run (mode 700), where no other user can make it first',
  { skip: uid !== 0 && 'needs root: /run' },
  async () => {
    // A fresh process: the answer above is kept in this one.
    const { execFileSync } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const had = existsSync('/run/netlab-ssh-0');
    const made = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { controlDir } = await import(${JSON.stringify(new URL('../../src/exec/ssh-args.js', import.meta.url).href)}); console.log(controlDir());`,
      ],
      { env: { PATH: process.env.PATH }, encoding: 'utf8' },
    ).trim();
    try {
      assert.equal(made, '/run/netlab-ssh-0');
      assert.equal(statSync(made).mode & 0o777, 0o700);
    } finally {
      // netlab's own directory for root's SSH masters: left as it was found.
      if (!had) rmSync('/run/netlab-ssh-0', { recursive: true, force: true });
    }
  },
);

test("an XDG_RUNTIME_DIR too long for ssh's socket paths (a 10-digit uid's), or with a '%', is passed over for TMPDIR's", async () => {
  const { execFileSync } = await import('node:child_process');
  const controlDirOf = (runtime: string) =>
    execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { controlDir } = await import(${JSON.stringify(new URL('../../src/exec/ssh-args.js', import.meta.url).href)}); console.log(controlDir());`,
      ],
      { env: { PATH: process.env.PATH, XDG_RUNTIME_DIR: runtime, TMPDIR: work }, encoding: 'utf8' },
    ).trim();
  // (/run/user/1668600001 is 20 characters: with netlab-ssh-1668600001, 42, where ssh's paths leave 38)
  const long = join(work, 'r'.repeat(Math.max(1, 40 - work.length)));
  const percent = join(work, 'a%b');
  // (root's is in /run, where no other user can make it first)
  const fallback = uid === 0 ? '/run/netlab-ssh-0' : join(work, `netlab-ssh-${uid}`);
  const had = existsSync(fallback);
  try {
    for (const runtime of [long, percent]) {
      mkdirSync(runtime, { mode: 0o700 });
      assert.equal(controlDirOf(runtime), fallback, runtime);
    }
  } finally {
    if (!had) rmSync(fallback, { recursive: true, force: true });
  }
});
