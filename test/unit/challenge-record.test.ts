// The challenge record a lab's controller keeps (src/state/challenges.ts): a
// change to one start's record (a hint read, a reveal, the end) is made only
// while it is still the lab's record, so a start of another challenge meanwhile
// (a `room start` while a learner reads a hint) is never overwritten by the
// record before it, and the record is read and written by one netlab at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changeChallenge, readChallenge, writeChallenge, type ChallengeRecord } from '../../src/state/challenges.js';
import { waitFor } from '../wait.js';
import { acquireLock } from '../../src/state/lock.js';

/** The record's own lock (state/challenges.ts): the lab's name, among the challenge records' locks. */
const LOCK = 'vxlan@g1';

const start = (id: string, started: string): ChallengeRecord => ({
  lab: 'vxlan@g1',
  id,
  run: '0123456789ab',
  started,
  hints: 0,
  revealed: false,
  room: 'net101',
});

/** Runs `work` with NETLAB_STATE_DIR a fresh directory, removed after. */
async function inStateDir(work: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-challenge-record-'));
  const saved = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = dir;
  try {
    await work(dir);
  } finally {
    if (saved === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a change to a start's record is made while it is the lab's record; a new start meanwhile keeps its own", () =>
  inStateDir(() => {
    const first = start('wrong-vni', '2026-12-05T08:00:00.000Z');
    writeChallenge(first);
    const read = changeChallenge(first, (current) => ({ ...current, read: 1 }));
    assert.deepEqual(read, { changed: true, record: { ...first, read: 1 } });
    assert.equal(readChallenge('vxlan@g1')?.read, 1);
    // The learner read `first`; the room starts the next challenge; the learner's change comes after.
    const next = start('lost-route', '2026-12-05T08:30:00.000Z');
    writeChallenge(next);
    for (const change of [
      (current: ChallengeRecord) => ({ ...current, revealed: true }),
      (current: ChallengeRecord) => ({ ...current, hints: current.hints + 1 }),
      () => undefined,
    ])
      assert.deepEqual(changeChallenge(first, change), { changed: false });
    assert.deepEqual(readChallenge('vxlan@g1'), next, "the new start's record, untouched");
    // Another run of the lab (rebuilt) is another start too.
    assert.deepEqual(
      changeChallenge({ ...next, run: 'ba9876543210' }, () => undefined),
      { changed: false },
    );
    // The end of the start that is the record: removed.
    assert.deepEqual(
      changeChallenge(next, () => undefined),
      { changed: true, record: undefined },
    );
    assert.equal(readChallenge('vxlan@g1'), undefined);
    assert.deepEqual(
      changeChallenge(next, (current) => current),
      { changed: false },
      'no record: nothing to change',
    );
  }));

test('the record is changed by one netlab at a time: another netlab holding it is waited for, then its lock is gone', () =>
  inStateDir(async (dir) => {
    const first = start('wrong-vni', '2026-12-05T08:00:00.000Z');
    writeChallenge(first);
    // Another netlab takes the record's lock and holds it for a moment.
    const lock = new URL('../../src/state/lock.js', import.meta.url).href;
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { acquireLock } = await import(${JSON.stringify(lock)});
         const release = acquireLock(process.argv[1], 'the other netlab', { kind: 'challenge' });
         console.log('held');
         setTimeout(() => { release(); }, 400);`,
        LOCK,
      ],
      { env: { ...process.env, NETLAB_STATE_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let said = '';
    holder.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      await waitFor('the other netlab holding the lock', () => said.includes('held'), { intervalMs: 5 });
      const locks = readdirSync(join(dir, 'locks', 'challenge'));
      assert.ok(locks.includes(`${LOCK}.lock`), locks.join());
      // Waited for, not refused (a refusal throws "is being changed by another netlab").
      assert.deepEqual(changeChallenge(first, (current) => ({ ...current, hints: 1 })).changed, true);
      assert.equal(existsSync(join(dir, 'locks', 'challenge', `${LOCK}.lock`)), false, 'released');
    } finally {
      holder.kill();
      await exited;
    }
  }));

test('locks of different kinds never share a file: a lab, a room and a challenge record of one name are held at once', () =>
  inStateDir(() => {
    const held = [
      acquireLock('net101', 'netlab up'),
      acquireLock('net101', 'netlab room start', { kind: 'room' }),
      acquireLock('net101', 'netlab challenge hint', { kind: 'challenge' }),
    ];
    for (const release of held) release();
    assert.throws(() => {
      const release = acquireLock('net101', 'netlab room start', { kind: 'room' });
      try {
        acquireLock('net101', 'netlab room hint', { kind: 'room' });
      } finally {
        release();
      }
    }, /room net101 is being changed by another netlab \(`netlab room start`/);
  }));
