// The node lock's shell lines, run by real shells with util-linux's flock (the
// lock file in a scratch directory instead of /run/netlab): one holder at a
// time, the waiting side told who holds it, the lock gone with its shell, and
// a lock file that cannot be opened reported as such (not as "busy").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShellSession } from '../../src/exec/session.js';
import { lockLines, parseLockOutput, UNLOCK_LINES } from '../../src/exec/node-lock.js';

test('node lock: one holder at a time; the other is told who holds it; unlock or the end of the shell lets go', async () => {
  const root = mkdtempSync(join(tmpdir(), 'netlab-lock-'));
  const [a, b] = [new ShellSession('sh', ['-s']), new ShellSession('sh', ['-s'])];
  let child = 0;
  try {
    const take = async (session: ShellSession, holder: string) => {
      const result = await session.runInShell(lockLines(holder, root));
      return parseLockOutput('node-0', result.stdout, result.stderr);
    };
    assert.equal(await take(a, 'netlab up of lab vxlan, run aaa'), undefined);
    assert.equal(await take(b, 'netlab up of lab bridge, run bbb'), 'netlab up of lab vxlan, run aaa');
    // Scripts run in their own sh without the lock's descriptor: a process they leave running does not hold it.
    child = Number((await a.run('sleep 30 </dev/null >/dev/null 2>&1 & echo $!\n')).stdout);
    await a.runInShell(UNLOCK_LINES);
    assert.equal(
      await take(b, 'netlab up of lab bridge, run bbb'),
      undefined,
      'free once unlocked, although a child of the holder still runs',
    );
    assert.equal(await take(a, 'again'), 'netlab up of lab bridge, run bbb');
    await b.close();
    assert.equal(await take(a, 'again'), undefined, "the holder's shell ended: the kernel let go of the lock");
  } finally {
    if (child) process.kill(child, 'SIGKILL');
    await Promise.all([a.close(), b.close()]);
    rmSync(root, { recursive: true, force: true });
  }
});

test('node lock: a lock file that cannot be opened is an error that names it, not "another netlab"', async () => {
  const work = mkdtempSync(join(tmpdir(), 'netlab-lock-'));
  const session = new ShellSession('sh', ['-s']);
  try {
    writeFileSync(join(work, 'file'), '');
    // The lock's directory would have to be inside a regular file.
    const result = await session.runInShell(lockLines('holder', join(work, 'file', 'netlab')));
    assert.throws(
      () => parseLockOutput('node-0', result.stdout, result.stderr),
      /node-0: cannot open the node lock .*nothing was changed/,
    );
    assert.equal((await session.run('echo alive\n')).stdout, 'alive\n', 'the session goes on');
  } finally {
    await session.close();
    rmSync(work, { recursive: true, force: true });
  }
});

test("node lock with a script in the same round (up's preflight): the script runs after the lines, in a sh without the lock's descriptor, and answers apart; a busy lock's script answers too, for nothing", async () => {
  const root = mkdtempSync(join(tmpdir(), 'netlab-lock-'));
  const [a, b] = [new ShellSession('sh', ['-s']), new ShellSession('sh', ['-s'])];
  try {
    // The script sees what the lines did (the holder file) and not the descriptor they keep open in the session's shell.
    const preflight = `cat ${join(root, '.lock-holder')}; [ -e /proc/self/fd/9 ] && echo fd9 || echo no-fd9; echo warn >&2; exit 4\n`;
    const [locked, answered] = await a.runInShellThen(lockLines('netlab up of lab vxlan, run aaa', root), preflight);
    assert.equal(parseLockOutput('node-0', locked.stdout, locked.stderr), undefined);
    assert.deepEqual(answered, { exitCode: 4, stdout: 'netlab up of lab vxlan, run aaa\nno-fd9\n', stderr: 'warn\n' });
    // The session's shell kept the lock: another shell is told who holds it, and its script ran all the same.
    const [busy, unused] = await b.runInShellThen(lockLines('netlab up of lab bridge, run bbb', root), 'echo read\n');
    assert.equal(parseLockOutput('node-0', busy.stdout, busy.stderr), 'netlab up of lab vxlan, run aaa');
    assert.deepEqual(unused, { exitCode: 0, stdout: 'read\n', stderr: '' });
    // Later scripts of either session are framed as before.
    assert.deepEqual(await a.run('echo next\n'), { exitCode: 0, stdout: 'next\n', stderr: '' });
  } finally {
    await Promise.all([a.close(), b.close()]);
    rmSync(root, { recursive: true, force: true });
  }
});
