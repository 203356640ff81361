// One long-lived shell running many scripts (what carries every script of a
// command to a node over SSH): each script's output and exit status come back
// as if it had run in a shell of its own. A real `sh` stands in for ssh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShellSession } from '../../src/exec/session.js';

test('session: each script gets its own stdout, stderr and exit status, in the order given', async () => {
  const session = new ShellSession('sh', ['-s']);
  try {
    const [first, second, third] = await Promise.all([
      session.run('sleep 0.1; echo one; echo warn >&2; exit 3\n'),
      session.run('printf no-newline; printf err-no-newline >&2'),
      session.run('echo three\n'),
    ]);
    assert.deepEqual(first, { exitCode: 3, stdout: 'one\n', stderr: 'warn\n' });
    assert.deepEqual(second, { exitCode: 0, stdout: 'no-newline', stderr: 'err-no-newline' });
    assert.deepEqual(third, { exitCode: 0, stdout: 'three\n', stderr: '' });
  } finally {
    await session.close();
  }
});

test('session: a script ends alone: exit, set -e and its variables do not reach the next one, and it cannot read the next script', async () => {
  const session = new ShellSession('sh', ['-s']);
  try {
    assert.equal((await session.run('set -e\nX=1\nfalse\necho not reached\n')).stdout, '');
    const next = await Promise.all([
      session.run('read -r line; echo "read: [$line]"\n'),
      session.run('echo "X=[$X]"; false; echo still here\n'),
    ]);
    assert.equal(next[0].stdout, 'read: []\n', 'stdin of a script is its own text, already consumed');
    assert.equal(next[1].stdout, 'X=[]\nstill here\n');
    assert.equal((await session.run('exit 7\n')).exitCode, 7);
    assert.equal((await session.run('echo alive\n')).stdout, 'alive\n');
  } finally {
    await session.close();
  }
});

test('session: lines that look like the framing do not end a script early', async () => {
  const session = new ShellSession('sh', ['-s']);
  try {
    const result = await session.run("printf '\\n@@netlab-done 0 0\\n'; echo '@@netlab-script-x'; echo end\n");
    assert.deepEqual(result, { exitCode: 0, stdout: '\n@@netlab-done 0 0\n@@netlab-script-x\nend\n', stderr: '' });
  } finally {
    await session.close();
  }
});

test('session: when the shell itself ends (ssh failed, no sudo), the script gets its exit code and error output; later scripts too', async () => {
  const session = new ShellSession('sh', ['-c', 'echo "no way in" >&2; exit 255']);
  const result = await session.run('echo hi\n');
  assert.deepEqual(result, { exitCode: 255, stdout: '', stderr: 'no way in\n' });
  assert.equal(session.alive, false);
  assert.equal((await session.run('echo hi\n')).exitCode, 255);

  const missing = await new ShellSession('no-such-program-netlab', []).run('echo hi\n');
  assert.equal(missing.exitCode, 127, 'a program that cannot start: 127, as a shell says');
  assert.match(missing.stderr, /no-such-program-netlab: spawn no-such-program-netlab ENOENT/);
});

test('session: an abort or a timeout ends the session (SIGTERM) and the script with it', async () => {
  const session = new ShellSession('sh', ['-s']);
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 50);
  // exec: the shell becomes sleep, so SIGTERM ends the script at once
  const aborted = await session.run('exec sleep 10\n', { signal: abort.signal });
  assert.equal(aborted.exitCode, 143);
  assert.equal(session.alive, false);

  // 143 is SIGTERM's: the script was stopped, not waited for (sleep 10 would end with 0).
  const timed = new ShellSession('sh', ['-s']);
  assert.equal((await timed.run('exec sleep 10\n', { timeout: 50 })).exitCode, 143);
  assert.equal(timed.alive, false);
});

test('session: a script stopped by its timeout ends though another process holds its pipes (over SSH, the master connection)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-session-'));
  const holderFile = join(dir, 'holder');
  // setsid: the holder is out of the session's process group, as ssh's master is, and keeps its stdout and stderr
  // open after the session's process has ended.
  const session = new ShellSession('sh', ['-c', `setsid sleep 60 & echo $! > ${holderFile}; exec sh -s`]);
  try {
    const started = Date.now();
    assert.equal((await session.run('exec sleep 60\n', { timeout: 100 })).exitCode, 143);
    assert.equal(session.alive, false);
    await session.close();
    // the pipes let go a second after the process ended, not when the holder ends (a minute)
    assert.ok(Date.now() - started < 10_000, `ended after ${Date.now() - started} ms`);
  } finally {
    // (also when the session never started its holder, or the holder is gone)
    const holder = existsSync(holderFile) ? Number(readFileSync(holderFile, 'utf8')) : 0;
    try {
      if (holder > 0) process.kill(holder, 'SIGKILL');
    } catch {
      // gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('session: megabytes of output in many chunks, with lines like the framing, come back whole (output is scanned as it arrives)', async () => {
  const session = new ShellSession('sh', ['-s']);
  try {
    const lines = 200_000;
    const script = `seq 1 ${lines} | sed 's/$/ @@netlab-done 1 0 padding padding/'; seq 1 1000 | sed 's/^/err /' >&2\n`;
    const [big, after] = await Promise.all([session.run(script), session.run('echo next\n')]);
    const expected = Array.from({ length: lines }, (_, i) => `${i + 1} @@netlab-done 1 0 padding padding\n`).join('');
    assert.equal(big.exitCode, 0);
    assert.equal(big.stdout.length, expected.length);
    assert.equal(big.stdout, expected);
    assert.equal(big.stderr.split('\n').filter(Boolean).length, 1000);
    assert.deepEqual(after, { exitCode: 0, stdout: 'next\n', stderr: '' });
  } finally {
    await session.close();
  }
});

test('session: a script whose output passes the limit is stopped and said to be, instead of filling memory', async () => {
  const session = new ShellSession('sh', ['-s'], () => {}, 1024 * 1024);
  try {
    const result = await session.run('yes 0123456789abcdef\n');
    assert.notEqual(result.exitCode, 0);
    assert.ok(result.stdout.length <= 1024 * 1024, `collected ${result.stdout.length} characters`);
    assert.match(result.stderr, /the node script's output passed 1 MiB; it was stopped/);
  } finally {
    await session.close();
  }
});
