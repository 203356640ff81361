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
import { lockLines, lockNodes, parseLockOutput, UNLOCK_LINES } from '../../src/exec/node-lock.js';
import type { Transport } from '../../src/exec/transport.js';

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

test("lockNodes with a script to send with each lock (up's preflight): its answers where every node was locked at the first try; after a wait none are sent, and none come back", async () => {
  /** A node whose lock is busy for its first `busyFor` tries; what it was sent, try by try. */
  const node = (name: string, busyFor = 0) => {
    const sent: (string | undefined)[] = [];
    const transport: Transport = {
      node: name,
      run: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
      interactive: async () => 0,
      async lock(_holder, then) {
        sent.push(then);
        if (sent.length <= busyFor) return { busy: 'netlab up of lab other, run zzz' };
        return then === undefined ? {} : { answered: { exitCode: 0, stdout: `${then} answered\n`, stderr: '' } };
      },
      async unlock() {},
    };
    return { transport, sent };
  };
  const then = (name: string) => `preflight of ${name}`;

  const [a, b] = [node('node-0'), node('node-1')];
  const at = await lockNodes({ 'node-0': a.transport, 'node-1': b.transport }, 'up', { then });
  assert.deepEqual(Object.keys(at.answered).sort(), ['node-0', 'node-1']);
  assert.equal(at.answered['node-1']!.stdout, 'preflight of node-1 answered\n');
  assert.deepEqual([a.sent, b.sent], [['preflight of node-0'], ['preflight of node-1']]);

  // node-1 busy at the first try: node-0's answer is dropped (it was not locked with every node), and the
  // second try sends no script: the caller asks the preflight once every node is locked.
  const [c, d] = [node('node-0'), node('node-1', 1)];
  const waited: string[] = [];
  const after = await lockNodes({ 'node-0': c.transport, 'node-1': d.transport }, 'up', {
    then,
    waiting: (line) => waited.push(line),
  });
  assert.deepEqual(after, { unreachable: {}, answered: {} });
  assert.deepEqual(
    [c.sent, d.sent],
    [
      ['preflight of node-0', undefined],
      ['preflight of node-1', undefined],
    ],
  );
  assert.match(waited.join('\n'), /waiting for another netlab to finish on node-1: netlab up of lab other, run zzz/);
});
