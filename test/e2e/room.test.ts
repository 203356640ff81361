// End to end, as root, on simulated nodes: an instructor's room of four groups
// of the vxlan lab, each the lab's instance named after the group (one lab many
// times on one host: the same addresses in each, no frame of one in another).
// room up builds each group's instance with its own VNI;
// room start lands the challenge in different places in different groups; the
// revealed fix in two groups makes exactly those two solved; hints unlock by
// the schedule and by room hint, and a learner reads them; room reset and a
// rebuild by hand; room watch killed with -9 and started again counts nothing
// twice; room results as CSV; room down leaves the host as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LABS, NETLAB } from '../paths.js';
import { writeRoom } from './room-case.js';
import { json, type Netlab } from './challenge-case.js';
import { labTestContext, netlab, snapshotHost } from './host.js';
import { quoteArgv } from '../../src/os/quote.js';
import { waitFor } from '../wait.js';
import type { Board } from '../../src/room/board.js';
import { readEvents } from '../../src/room/log.js';
import { readState } from '../../src/state/store.js';
import { readChallenge, SETTLING_MS, writeChallenge } from '../../src/state/challenges.js';
import { pushHints } from '../../src/room/grade.js';
import { transportsOf } from '../../src/exec/transports.js';
import { kernelLabName } from '../../src/model/grammar.js';
import { destroySimulatedNodes } from '../../src/exec/simulated.js';

const state = labTestContext();
const run: Netlab = (...args) => netlab(state.dir, ...args);
const groups = ['g1', 'g2', 'g3', 'g4'];
const simulated = Object.fromEntries(groups.map((g) => [g, '{ simulated: true }']));

async function board(room: string): Promise<Board> {
  return json<Board>(await run('room', 'status', room, '--json'));
}

const group = (b: Board, name: string) => b.groups.find((g) => g.name === name)!;

/** The MAC of pod a1's interface in one group's lab. */
async function macOfA1(run: Netlab, g: string): Promise<string> {
  const link = await run('exec', 'a1', '--instance', g, '--', 'ip', '-o', 'link', 'show', 'veth-a1-c');
  assert.equal(link.exitCode, 0, link.stderr);
  const mac = /link\/ether (\S+)/.exec(link.stdout)?.[1];
  assert.ok(mac, link.stdout);
  return mac;
}

test('room up: a group that fails is reported and rolled back, the others stay up; again, only it is built; room reset refuses a lab of its id built by hand', async () => {
  const dir = join(state.dir, 'failing');
  mkdirSync(dir);
  // A group whose machines refuse SSH (nothing listens on port 9 of this host's loopback).
  writeFileSync(
    join(dir, 'refused.ssh'),
    ['node-0', 'node-1'].map((n) => `Host ${n}\n  HostName 127.0.0.1\n  Port 9\n`).join(''),
  );
  const room = writeRoom(
    dir,
    { ok: '{ simulated: true }', refused: '{ ssh-config: refused.ssh }', broken: '{ simulated: true }' },
    'failing',
  );
  // A group whose state here cannot be read (a hand edit, a full disk): its failure is its own, in up and down.
  const corrupt = join(state.dir, 'labs', 'vxlan@broken.json');
  mkdirSync(dirname(corrupt), { recursive: true });
  writeFileSync(corrupt, '{ not json');
  try {
    const up = await run('room', 'up', room, '--json');
    assert.equal(up.exitCode, 1, up.stdout + up.stderr);
    assert.deepEqual(
      json<{ groups: { name: string; status: string }[] }>(up).groups.map((g) => [g.name, g.status]),
      [
        ['ok', 'up'],
        ['refused', 'failed'],
        ['broken', 'failed'],
      ],
    );
    assert.match(up.stderr, /^refused +│ .*(refused|Connection)/m, "the group's own lines say why");
    assert.match(up.stderr, /^broken +│ not built: .*vxlan@broken.*unreadable/m);
    const again = await run('room', 'up', room);
    assert.equal(again.exitCode, 1);
    assert.match(again.stdout, /^ok +│ lab vxlan@ok is already up and its file is unchanged/m);
    assert.match(again.stdout, /2 of 3 groups failed/);
    // A challenge started meanwhile: a group not up is told the command that builds its lab and makes it there.
    const start = await run('room', 'start', room);
    assert.equal(start.exitCode, 1, start.stdout + start.stderr);
    assert.match(start.stdout, /^✓ ok: started$/m);
    assert.ok(
      start.stdout.includes(
        `✗ refused: lab vxlan@refused is not up: \`netlab room reset ${room} refused\` builds it again\n`,
      ),
      start.stdout,
    );
    const down = await run('room', 'down', room);
    assert.equal(down.exitCode, 1, down.stdout + down.stderr);
    assert.match(down.stdout, /^✓ ok: vxlan@ok down$/m);
    assert.match(down.stdout, /^✗ broken: vxlan@broken: down failed/m);
    assert.deepEqual(
      readEvents(join(state.dir, 'rooms', 'failing', 'log.jsonl')).map((e) => e.e),
      ['round', 'start', 'start-failed', 'start-failed', 'end'],
      'the round ends as room down begins, also where a down fails: its clocks stop there',
    );
    rmSync(corrupt);
    assert.equal((await run('room', 'up', room)).exitCode, 1, 'ok and broken built (refused still refused)');
    // As after a restart: ok's simulated nodes gone, its state still up. room up builds it again.
    const before = process.env.NETLAB_STATE_DIR;
    process.env.NETLAB_STATE_DIR = state.dir;
    try {
      destroySimulatedNodes('vxlan@ok');
    } finally {
      if (before === undefined) delete process.env.NETLAB_STATE_DIR;
      else process.env.NETLAB_STATE_DIR = before;
    }
    const rebuilt = await run('room', 'up', room);
    assert.equal(rebuilt.exitCode, 1, rebuilt.stdout + rebuilt.stderr);
    assert.match(
      rebuilt.stdout,
      /^ok +│ lab vxlan@ok was up, but its simulated nodes are not running \(node-0, node-1[^)]*\): building it again$/m,
    );
    assert.match(rebuilt.stdout, /^broken +│ lab vxlan@broken is already up and its file is unchanged$/m);
    assert.equal((await run('verify', 'vxlan@ok')).exitCode, 0, 'the group that was built works');
    // A lab of the group's id built by hand from another file: room reset refuses it, and leaves it up.
    assert.equal((await run('down', 'vxlan@ok')).exitCode, 0);
    assert.equal((await run('up', join(LABS, 'vxlan.yaml'), '--instance', 'ok')).exitCode, 0);
    const byHand = readState('vxlan@ok')!.run!.id;
    const reset = await run('room', 'reset', room, 'ok');
    assert.equal(reset.exitCode, 2, reset.stdout + reset.stderr);
    assert.match(
      reset.stderr,
      /lab vxlan@ok is up from \S+\/labs\/vxlan\.yaml, not from room failing's copy of the lab/,
    );
    assert.equal(readState('vxlan@ok')?.run?.id, byHand, 'the lab built by hand is the one up');
  } finally {
    assert.equal((await run('room', 'down', room)).exitCode, 0);
    await run('down', 'vxlan@ok');
  }
});

test("room up says its lab's warnings once, as validate does, and builds every group's lab all the same", async () => {
  const dir = join(state.dir, 'warned');
  mkdirSync(dir);
  // A check to an address no part of the lab has: valid, and it cannot pass.
  const lab = join(dir, 'one.yaml');
  writeFileSync(
    lab,
    'nodes: { node-0: {} }\npods:\n  a0: { node: node-0 }\nverify:\n  - ping: { from: a0, to: 10.99.0.1 }\n',
  );
  const room = join(dir, 'warned.yaml');
  writeFileSync(room, 'room: warned\nlab: one.yaml\ngroups:\n  g1: { simulated: true }\n  g2: { simulated: true }\n');
  try {
    const validated = await run('validate', lab);
    const warnings = validated.stderr.split('\n').filter((line) => line.includes(': warning: '));
    assert.equal(warnings.length, 1, validated.stderr);
    const up = await run('room', 'up', room);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.deepEqual(
      up.stderr.split('\n').filter((line) => line.includes(': warning: ')),
      warnings,
      'once for the room, not once per group',
    );
    assert.equal(readState('one@g2')?.status, 'up');
  } finally {
    assert.equal((await run('room', 'down', room)).exitCode, 0);
  }
});

/** A signal to `room up` as its first group builds (one at a time): that group rolls back, no other starts, exit 130. */
async function interruptRoomUp(signal: 'SIGINT' | 'SIGHUP', names: string[]): Promise<void> {
  const dir = join(state.dir, `interrupted-${signal}`);
  mkdirSync(dir);
  const room = writeRoom(dir, Object.fromEntries(names.map((g) => [g, '{ simulated: true }'])), `int${signal}`);
  const child = spawn(NETLAB, ['room', 'up', room, '--parallel', '1'], {
    env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let said = '';
  child.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor('the first group building', () => new RegExp(`^${names[0]} +│ building lab`, 'm').test(said));
    child.kill(signal);
    assert.equal(await exited, 130, said);
    for (const g of names.slice(1)) assert.match(said, new RegExp(`^${g} +│ not built: interrupted$`, 'm'));
    assert.match(said, new RegExp(`interrupted; 0 of ${names.length} groups are up`));
    for (const g of names) assert.equal((await run('status', `vxlan@${g}`)).exitCode, 2, `${g}: no lab left`);
  } finally {
    child.kill('SIGKILL');
    await exited;
    await run('room', 'down', room);
  }
}

test('Ctrl-C during room up: the group being built rolls back, no other group starts, exit 130, nothing left', () =>
  interruptRoomUp('SIGINT', ['i1', 'i2', 'i3']));

test("a hangup during room up (the instructor's SSH session dropped) is a Ctrl-C: no other group starts", () =>
  interruptRoomUp('SIGHUP', ['h1', 'h2']));

test('Ctrl-C during room start: the group being started finishes (its fault recorded), no other group starts, exit 130; during room reset, the reset finishes, and a Ctrl-C that reaches its rebuild rolls that back and says how to build it; room down takes down a group taken out of the room file', async () => {
  const dir = join(state.dir, 'start-interrupted');
  mkdirSync(dir);
  const room = writeRoom(dir, { s1: '{ simulated: true }', s2: '{ simulated: true }' }, 'startint');
  const log = join(state.dir, 'rooms', 'startint', 'log.jsonl');
  let child: ReturnType<typeof spawn> | undefined;
  let reset: ReturnType<typeof spawn> | undefined;
  let cut: ReturnType<typeof spawn> | undefined;
  try {
    assert.equal((await run('room', 'up', room)).exitCode, 0);
    // The nodes' ip starts 0.3 s late (a command of that name first in PATH): s1's fault (ip commands) is
    // still being made when the ^C below comes, however slow this test is to see s1's start in the log.
    // With the real ip, a fault made in a few ms could be done, and s2 started, before the ^C.
    const slowIp = join(dir, 'slow-ip');
    mkdirSync(slowIp);
    writeFileSync(join(slowIp, 'ip'), '#!/bin/sh\nsleep 0.3\nPATH=${PATH#*:} exec ip "$@"\n', { mode: 0o755 });
    child = spawn(NETLAB, ['room', 'start', room, '--parallel', '1', '--json'], {
      env: { ...process.env, PATH: `${slowIp}:${process.env.PATH}`, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let said = '';
    child.stdout!.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    // s1's start is logged just before its fault is made: ^C then.
    await waitFor('s1 starting', () => readEvents(log).some((e) => e.e === 'start' && e.group === 's1'), {
      intervalMs: 5,
    });
    child.kill('SIGINT');
    assert.equal(await exited, 130, said);
    assert.deepEqual(
      json<{ groups: { name: string; started: boolean; error?: string }[] }>({
        exitCode: 130,
        stdout: said,
        stderr: '',
      }).groups,
      [
        { name: 's1', started: true },
        { name: 's2', started: false, error: 'not started: interrupted' },
      ],
    );
    // The log says so (the board shows s2 "start failed" from it: test/unit/room-score).
    assert.deepEqual(
      readEvents(log).flatMap((e) => (e.e === 'start' || e.e === 'start-failed' ? [[e.e, e.group]] : [])),
      [
        ['start', 's1'],
        ['start-failed', 's2'],
      ],
    );
    const revealed = json<{ fault: string }>(await run('challenge', 'reveal', 'vxlan', '--instance', 's1', '--json'));
    assert.match(revealed.fault, /^vni-changed:node-[01]:vxlan0$/, "s1's fault is recorded");
    // Ctrl-C during room reset, as the challenge is made again in the group: the reset finishes, its fault recorded.
    reset = spawn(NETLAB, ['room', 'reset', room, 's2', '--json'], {
      env: { ...process.env, PATH: `${slowIp}:${process.env.PATH}`, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let resetSaid = '';
    reset.stdout!.on('data', (chunk: Buffer) => (resetSaid += chunk.toString()));
    const resetExited = new Promise<number | null>((resolve) => reset!.once('exit', (code) => resolve(code)));
    await waitFor(
      "s2's start after its reset",
      () => {
        const events = readEvents(log);
        const at = events.findIndex((e) => e.e === 'reset' && e.group === 's2');
        return at >= 0 && events.slice(at).some((e) => e.e === 'start' && e.group === 's2');
      },
      { intervalMs: 5, timeoutMs: 60_000 },
    );
    reset.kill('SIGINT');
    assert.equal(await resetExited, 130, resetSaid);
    assert.equal(json<{ started: boolean }>({ exitCode: 130, stdout: resetSaid, stderr: '' }).started, true);
    const revealedS2 = json<{ fault: string }>(await run('challenge', 'reveal', 'vxlan', '--instance', 's2', '--json'));
    assert.match(
      revealedS2.fault,
      /^vni-changed:node-[01]:vxlan0$/,
      "s2's fault, made again by the reset, is recorded",
    );
    // Ctrl-C at a terminal reaches its whole process group; a `kill -TERM`, room reset alone. Either way the child
    // netlab rebuilding the lab gets it, and rolls its rebuild back; the reset says so, and how to build it, and
    // exits 130.
    const resets = () => readEvents(log).filter((e) => e.e === 'reset' && e.group === 's2').length;
    const resetsBefore = resets();
    const interruptRebuild = async (how: string, signal: (pid: number) => void) => {
      cut = spawn(NETLAB, ['room', 'reset', room, 's2'], {
        env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // a process group of its own, as a terminal's job
      });
      let said = '';
      let interrupted = false;
      const exited = new Promise<number | null>((resolve) => cut!.once('exit', (code) => resolve(code)));
      // As the rebuild starts the lab's nodes (its old version taken down): the signal then, with no wait for a poll.
      for (const stream of [cut.stdout!, cut.stderr!])
        stream.on('data', (chunk: Buffer) => {
          said += chunk.toString();
          if (interrupted || !/^s2 +│ \S+ start 2 simulated node/m.test(said)) return;
          interrupted = true;
          signal(cut!.pid!);
        });
      assert.equal(await exited, 130, `${how}: ${said}`);
      assert.match(
        said,
        new RegExp(
          `^✗ s2: rebuilding vxlan@s2 was interrupted; \`netlab room reset ${room} s2\` builds it again$`,
          'm',
        ),
        how,
      );
      assert.equal(resets(), resetsBefore, `${how}: no reset logged for a rebuild that did not happen`);
      assert.equal((await run('status', 'vxlan@s2')).exitCode, 2, `${how}: the rebuild rolled back: no lab vxlan@s2`);
    };
    await interruptRebuild('Ctrl-C', (pid) => process.kill(-pid, 'SIGINT'));
    await interruptRebuild('SIGTERM to room reset alone', (pid) => process.kill(pid, 'SIGTERM'));
    // A service manager's stop signals every process: the child gets SIGTERM itself and passed on, as one.
    await interruptRebuild('SIGTERM to every process', (pid) => process.kill(-pid, 'SIGTERM'));
    const again = await run('room', 'reset', room, 's2');
    assert.equal(again.exitCode, 0, again.stdout + again.stderr);
    assert.equal(resets(), resetsBefore + 1);
    assert.match(
      json<{ fault: string }>(await run('challenge', 'reveal', 'vxlan', '--instance', 's2', '--json')).fault,
      /^vni-changed:node-[01]:vxlan0$/,
      "s2's fault made again by the second reset",
    );
    // s1 taken out of the room file: room down takes its lab down all the same.
    writeRoom(dir, { s2: '{ simulated: true }' }, 'startint');
    const down = await run('room', 'down', room);
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    assert.match(down.stdout, /^✓ s1: vxlan@s1 down \(no longer in the room file\)$/m);
    assert.equal((await run('status', 'vxlan@s1')).exitCode, 2, 'no lab vxlan@s1 left');
  } finally {
    child?.kill('SIGKILL');
    reset?.kill('SIGKILL');
    if (cut?.pid && cut.exitCode === null) process.kill(-cut.pid, 'SIGKILL'); // the reset and its child netlab
    await run('room', 'down', room);
    await run('down', 'vxlan@s1');
  }
});

test('a room of four vxlan groups: built, broken in different places, two solved, hints, reset, rebuilt by hand, watch killed and restarted, results, down', async () => {
  const room = writeRoom(state.dir, simulated);
  try {
    const up = await run('room', 'up', room, '--json');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.deepEqual(
      json<{ groups: { name: string; status: string }[] }>(up).groups.map((g) => [g.name, g.status]),
      groups.map((g) => [g, 'up']),
    );
    // Each group's own VNI, on its plan: vxlan@g2 is the instance named after the group.
    const vnis = await Promise.all(
      groups.map(async (g) => /type vxlan id (\d+)/.exec((await run('plan', `vxlan@${g}`)).stdout)?.[1]),
    );
    assert.equal(new Set(vnis).size, 4, `VNIs ${vnis.join(', ')}`);
    // Instances of one lab side by side: the article's addresses in each, and no frame of one reaches
    // another (before the room's challenge: every group's checks pass, and g1's node-0 learned g1's a1 only).
    const idle = await board(room);
    for (const g of groups)
      assert.deepEqual([group(idle, g).condition, group(idle, g).failing], ['up', []], `${g} passes its checks`);
    // A grading's --timeout is whole seconds: a fraction is refused, where each group's checks refused it and
    // every group was said unreachable (exit 1).
    const fraction = await run('room', 'status', room, '--timeout', '10.5');
    assert.equal(fraction.exitCode, 2, fraction.stdout + fraction.stderr);
    for (const g of groups) {
      const address = await run('exec', 'a0', '--instance', g, '--', 'ip', '-4', '-o', 'addr', 'show', 'veth-a0-c');
      assert.match(address.stdout, /inet 10\.200\.0\.2\/24/, g);
    }
    const [a1g1, a1g2] = [await macOfA1(run, 'g1'), await macOfA1(run, 'g2')];
    assert.notEqual(a1g1, a1g2);
    const fdb = await run('exec', 'node-0', '--instance', 'g1', '--', 'bridge', 'fdb', 'show', 'dev', 'vxlan0');
    assert.match(fdb.stdout, new RegExp(`^${a1g1} `, 'm'));
    assert.doesNotMatch(fdb.stdout, new RegExp(a1g2));
    const refused = await run('verify', 'vxlan@g2', '--instance', 'g3');
    assert.equal(refused.exitCode, 2);
    assert.match(refused.stderr, /"vxlan@g2" names instance g2, and --instance names g3/);
    // Again: nothing to build.
    const again = await run('room', 'up', room);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /already up and its file is unchanged/);

    const start = await run('room', 'start', room, '--json');
    assert.equal(start.exitCode, 0, start.stdout + start.stderr);
    assert.equal(json<{ challenge: string }>(start).challenge, 'wrong-vni-ping');
    assert.doesNotMatch(start.stdout, /vni-changed/, 'room start does not say where the fault is');
    const revealed = new Map<string, { node: string; fault: string; mend: string[][] }>();
    for (const g of groups) revealed.set(g, json(await run('challenge', 'reveal', 'vxlan', '--instance', g, '--json')));
    assert.deepEqual(
      [...new Set([...revealed.values()].map((r) => r.fault))].sort(),
      ['vni-changed:node-0:vxlan0', 'vni-changed:node-1:vxlan0'],
      'dealt: two groups get each landing',
    );

    // Graded with the goal as the labs were built, whatever the lab file says since (here: check 2 alone).
    const labFile = join(state.dir, 'vxlan.yaml');
    const asBuilt = readFileSync(labFile, 'utf8');
    writeFileSync(labFile, asBuilt.replace('    goal: [1, 2]\n', '    goal: [2]\n'));
    let broken;
    try {
      broken = await board(room);
    } finally {
      writeFileSync(labFile, asBuilt);
    }
    for (const g of groups) {
      assert.equal(group(broken, g).challenge?.solved, false, g);
      assert.deepEqual(
        group(broken, g).failing.map((f) => f.number),
        [1, 2],
      );
      assert.ok(group(broken, g).challenge!.hints >= 1, `${g}: the schedule's first hint`);
    }

    // The revealed fix in g1 and g2: exactly those two solved.
    for (const g of ['g1', 'g2']) {
      const { node, mend } = revealed.get(g)!;
      const fix = await run(
        'exec',
        node,
        '--instance',
        g,
        '--',
        'sh',
        '-c',
        mend.map((c) => quoteArgv(c)).join(' && '),
      );
      assert.equal(fix.exitCode, 0, fix.stderr);
    }
    // The kernel settles after a fix in its own time (the new vxlan0's multicast join): graded until solved.
    const solved = await waitFor(
      'g1 and g2 solved',
      async () => {
        const b = await board(room);
        return group(b, 'g1').challenge?.solved && group(b, 'g2').challenge?.solved && b;
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
    assert.deepEqual(
      solved.groups.map((g) => [g.name, g.challenge?.solved]),
      [
        ['g1', true],
        ['g2', true],
        ['g3', false],
        ['g4', false],
      ],
    );
    for (const g of ['g1', 'g2']) {
      const c = group(solved, g).challenge!;
      assert.ok(c['solved-at'] && Date.parse(c['solved-at']) > Date.parse(c.started), `${g}: solved after its start`);
      assert.ok(c.minutes > 0 && c.minutes < 5, `${g}: ${c.minutes} min`);
    }

    // A hint for g3 now: the learner gets both unlocked, and no more.
    const hint = await run('room', 'hint', room, '--group', 'g3', '--json');
    assert.equal(hint.exitCode, 0, hint.stderr);
    const learner = json<{ hints: string[] }>(await run('challenge', 'hint', 'vxlan', '--instance', 'g3', '--json'));
    assert.deepEqual(learner.hints, ['first', 'second']);
    const hinted = await board(room);
    assert.equal(group(hinted, 'g3').challenge!.hints, 2);
    assert.equal(group(hinted, 'g3').challenge!['hints-read'], 2, 'the learner read both');
    assert.equal(group(hinted, 'g4').challenge!.hints, 1);
    // A grading that read g3's record before a start wrote a new one pushes that older record's hints to the
    // nodes: then the nodes get the record here again (their last write is never the older record).
    const g3 = readState('vxlan@g3')!;
    const now = readChallenge('vxlan@g3')!;
    const older = { ...now, id: 'older', started: '2000-01-01T00:00:00.000Z' };
    assert.equal(await pushHints(g3, older, older.started, now.hints + 1), true);
    const onNode = await transportsOf(g3)['node-0']!.run(
      `cat /run/netlab/${kernelLabName('vxlan@g3')}/challenge.json\n`,
    );
    assert.deepEqual(
      JSON.parse(onNode.stdout) as object,
      { id: now.id, run: now.run, started: now.started, hints: now.hints, unlocked: ['first', 'second'] },
      "the nodes hold the record here, not the older one's",
    );
    assert.deepEqual(readChallenge('vxlan@g3'), now, 'the record here is untouched');
    // A push read from a state of another run (the group's lab rebuilt by a reset meanwhile) changes nothing on
    // the nodes, which hold the new run: neither the older record nor the removal of the new one reaches them.
    const other = 'ffffffffffff';
    await pushHints({ ...g3, run: { ...g3.run!, id: other } }, { ...older, run: other }, older.started, 9);
    const still = await transportsOf(g3)['node-0']!.run(
      `cat /run/netlab/${kernelLabName('vxlan@g3')}/challenge.json\n`,
    );
    assert.deepEqual(
      JSON.parse(still.stdout) as object,
      JSON.parse(onNode.stdout) as object,
      "another run's push: nothing",
    );

    // Mended by hand, the room's challenge would be graded solved: stop is the room's.
    const stop = await run('challenge', 'stop', 'vxlan@g3');
    assert.equal(stop.exitCode, 2);
    assert.match(stop.stderr, /belongs to room net101: `netlab room start` starts its next challenge/);

    // room reset of a solved group: unsolved again, the reset counted.
    const reset = await run('room', 'reset', room, 'g1', '--json');
    assert.equal(reset.exitCode, 0, reset.stdout + reset.stderr);
    // A group's lab rebuilt by hand (down, up): shown as rebuilt, not solved.
    assert.equal((await run('down', 'vxlan@g4')).exitCode, 0);
    const rebuilt = await run('up', join(state.dir, 'rooms', 'net101', 'labs', 'g4.yaml'), '--instance', 'g4');
    assert.equal(rebuilt.exitCode, 0, rebuilt.stderr);
    const after = await board(room);
    assert.equal(group(after, 'g1').challenge!.solved, false);
    assert.equal(group(after, 'g1').challenge!.resets, 1);
    assert.equal(group(after, 'g2').challenge!.solved, true);
    assert.equal(group(after, 'g4').condition, 'rebuilt');
    assert.equal(group(after, 'g4').challenge!.solved, false);

    // room watch killed with -9 in the middle of a grading round, then started again: the same results.
    const results = async () => json<{ results: object[] }>(await run('room', 'results', room, '--json')).results;
    const log = join(state.dir, 'rooms', 'net101', 'log.jsonl');
    const before = await results();
    const grades = () => readEvents(log).filter((e) => e.e === 'grade').length;
    const graded = grades();
    const watch = spawn(NETLAB, ['room', 'watch', room, '--every', '1'], {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir },
      stdio: 'ignore',
    });
    // Some groups of a round graded (g3's failing pings take longer than the others' passing ones), not all.
    await waitFor('a grading logged by room watch', () => grades() > graded, { timeoutMs: 30_000 });
    watch.kill('SIGKILL');
    await new Promise((resolve) => watch.once('exit', resolve));
    // Started again (--json: a board per round, one per line), its first round's board; Ctrl-C ends it, exit 0.
    const restart = spawn(NETLAB, ['room', 'watch', room, '--every', '1', '--json'], {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let followed = '';
    restart.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()));
    const line = await waitFor("the restarted watch's first board", () => /^.*\n/.exec(followed)?.[0]);
    restart.kill('SIGINT');
    assert.equal(
      await new Promise((resolve) => restart.once('exit', resolve)),
      0,
      'room watch ends at Ctrl-C with exit 0',
    );
    const restarted = JSON.parse(line) as Board;
    assert.deepEqual(
      restarted.groups.map((g) => g.name),
      groups,
    );
    assert.ok(grades() >= graded + 5, 'the restart graded every group again');
    const strip = (rows: object[]) => rows.map((r) => ({ ...r, minutes: undefined }));
    assert.deepEqual(strip(await results()), strip(before), 'nothing lost, nothing counted twice');
    assert.equal(group(restarted, 'g1').challenge!.resets, 1);

    // Ctrl-C in the middle of a round: the gradings it cut short are not logged (a Ctrl-C at a terminal kills the
    // simulated nodes' check scripts with netlab, and they would count as failed attempts). g3's failing pings take
    // longer than the other groups' passing ones: once another group's grading is logged, g3's is cut.
    const logged = readEvents(log).length;
    const cut = spawn(NETLAB, ['room', 'watch', room, '--every', '60'], {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir },
      stdio: 'ignore',
    });
    try {
      await waitFor('a grading of the round logged', () => readEvents(log).length > logged, { intervalMs: 10 });
      cut.kill('SIGINT');
      assert.equal(await new Promise((resolve) => cut.once('exit', resolve)), 0);
    } finally {
      cut.kill('SIGKILL');
    }
    assert.deepEqual(
      readEvents(log)
        .slice(logged)
        .filter((e) => e.e === 'grade' && e.group === 'g3'),
      [],
      "g3's grading, cut by the Ctrl-C, is not logged",
    );

    // room serve: the board's JSON and a group's detail (its lab's graph) over HTTP, until SIGINT.
    const serve = spawn(NETLAB, ['room', 'serve', room, '--listen', '127.0.0.1:0', '--every', '60'], {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      let said = '';
      serve.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
      const url = await waitFor('room serve says where', () => /is on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(said)?.[1]);
      const served = (await (await fetch(`${url}board.json`)).json()) as Board;
      assert.deepEqual(
        served.groups.map((g) => [g.name, g.challenge?.solved]),
        (await board(room)).groups.map((g) => [g.name, g.challenge?.solved]),
      );
      assert.doesNotMatch(JSON.stringify(served), /vni-changed|ip link/, 'no fault, no fix');
      const detail = (await (await fetch(`${url}groups/g3.json`)).json()) as { graph: { nodes: { label: string }[] } };
      assert.deepEqual(
        detail.graph.nodes.map((n) => n.label),
        ['node-0', 'node-1'],
      );
      assert.match(await (await fetch(url)).text(), /net101/);
    } finally {
      serve.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => serve.once('exit', (c) => resolve(c)));
      assert.equal(code, 0, 'room serve ends at SIGINT with exit 0');
    }

    const csv = await run('room', 'results', room, '--csv');
    assert.equal(csv.exitCode, 0, csv.stderr);
    const rows = csv.stdout
      .trimEnd()
      .split('\r\n')
      .map((l) => l.split(','));
    assert.deepEqual(rows[0]!.slice(0, 4), ['group', 'challenge', 'started', 'solved']);
    assert.deepEqual(
      rows.slice(1).map((r) => [r[0], r[1], r[3], r[8]]),
      [
        ['g1', 'wrong-vni-ping', 'false', '1'],
        ['g2', 'wrong-vni-ping', 'true', '0'],
        ['g3', 'wrong-vni-ping', 'false', '0'],
        ['g4', 'wrong-vni-ping', 'false', '0'],
      ],
    );
    // room down ends the running challenge: the board has none running (its clocks and hints stopped).
    const down = await run('room', 'down', room);
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    const ended = await board(room);
    assert.equal(ended.current, null);
    assert.deepEqual(
      ended.groups.map((g) => [g.condition, g.challenge]),
      groups.map(() => ['down', null]),
    );
  } finally {
    await run('room', 'down', room);
  }
  assert.deepEqual(await snapshotHost(), state.pristine(), 'the host as it was');
});

test("room start's next challenge: a solved challenge keeps the learners' fix (a VNI matched on the other node) and its machine's setting goes back (FORWARD's policy), also on simulated nodes; one broken again since its solve is mended whole", async () => {
  const room = writeRoom(state.dir, { g1: '{ simulated: true }' }, 'solved1');
  // A challenge whose fault also changes the node (FORWARD's policy), beside the room's own.
  appendFileSync(
    join(state.dir, 'vxlan.yaml'),
    '  - id: fwd-drop\n    title: "nothing crosses a node"\n    fault: "forward-drop:node-0:FORWARD"\n    goal: [1, 2]\n',
  );
  const g1 = (node: string, ...command: string[]) => run('exec', node, '--instance', 'g1', '--', ...command);
  const vniOn = async (node: string) => {
    const shown = await g1(node, 'ip', '-d', '-j', 'link', 'show', 'vxlan0');
    assert.equal(shown.exitCode, 0, shown.stderr);
    return (JSON.parse(shown.stdout) as { linkinfo: { info_data: { id: number } } }[])[0]!.linkinfo.info_data.id;
  };
  const faultedNode = async () => json<{ node: string }>(await run('challenge', 'reveal', 'vxlan@g1', '--json')).node;
  // Graded until every goal check passes (solved), or fails (a solve stays a solve whatever the lab does after).
  const graded = (passing: boolean) =>
    waitFor(
      passing ? 'g1 solved' : 'g1 failing',
      async () => {
        const row = json<Board>(await run('room', 'status', room, '--json')).groups[0]!;
        return row.condition === 'up' && (row.failing.length === 0) === passing && row.challenge?.solved;
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
  const start = async (challenge: string) => {
    const started = await run('room', 'start', room, challenge);
    assert.equal(started.exitCode, 0, started.stdout + started.stderr);
  };
  try {
    assert.equal((await run('room', 'up', room)).exitCode, 0);
    await start('wrong-vni-ping');
    const faulted = await faultedNode();
    const other = faulted === 'node-0' ? 'node-1' : 'node-0';
    // The learners' fix: the other node's vxlan0 made again with the VNI the fault gave, as its plan makes it.
    const wrong = await vniOn(faulted);
    const plan = (await run('plan', 'vxlan@g1')).stdout;
    const ofOther = plan.slice(plan.indexOf(`## node ${other}:`)).split('\n## node ')[0]!;
    const lines = ofOther.split('\n').filter((l) => /^ip link (add|set) vxlan0 /.test(l));
    assert.equal(lines.length, 3, ofOther);
    const fix = ['ip link del vxlan0', ...lines.map((l) => l.replace(/ id \d+ /, ` id ${wrong} `))].join(' && ');
    assert.equal((await g1(other, 'sh', '-c', fix)).exitCode, 0);
    await graded(true);
    await start('fwd-drop');
    assert.deepEqual([await vniOn('node-0'), await vniOn('node-1')], [wrong, wrong], 'both ends keep their VNI');

    // Solved another way: an ACCEPT of the learners' own first in FORWARD, the policy left DROP.
    const dropped = await faultedNode();
    assert.equal((await g1(dropped, 'iptables', '-w', '-I', 'FORWARD', '1', '-j', 'ACCEPT')).exitCode, 0);
    await graded(true);
    await start('vtep-down');
    const policy = async () => (await g1(dropped, 'iptables', '-w', '-S', 'FORWARD')).stdout.split('\n')[0];
    assert.equal(await policy(), '-P FORWARD ACCEPT', "the fault's DROP policy put back");

    // Solved, then broken again (the tunnel taken down once more): mended whole by the next start.
    const down = await faultedNode();
    assert.equal((await g1(down, 'ip', 'link', 'set', 'vxlan0', 'up')).exitCode, 0);
    await graded(true);
    assert.equal((await g1(down, 'ip', 'link', 'set', 'vxlan0', 'down')).exitCode, 0);
    await graded(false);
    await start('mtu');
    const link = await g1(down, 'ip', '-j', 'link', 'show', 'vxlan0');
    assert.match(link.stdout, /"operstate":"(UP|UNKNOWN)"/, 'vxlan0 up again');
  } finally {
    await run('room', 'down', room);
  }
  assert.deepEqual(await snapshotHost(), state.pristine(), 'the host as it was');
});

test("a grading whose checks began while a start's pods had not yet forgotten what they learned before its fault does not count: no solve at once", async () => {
  const room = writeRoom(state.dir, { g1: '{ simulated: true }' }, 'settle1');
  try {
    assert.equal((await run('room', 'up', room)).exitCode, 0);
    const start = await run('room', 'start', room);
    assert.equal(start.exitCode, 0, start.stdout + start.stderr);
    const record = readChallenge('vxlan@g1')!;
    assert.equal(record.settling, undefined, 'settled once room start is done');
    // The fault mended by hand, and checked until the goal passes (a room lab's own check is advice, logs nothing).
    const { node, mend } = json<{ node: string; mend: string[][] }>(
      await run('challenge', 'reveal', 'vxlan@g1', '--json'),
    );
    const fix = await run(
      'exec',
      node,
      '--instance',
      'g1',
      '--',
      'sh',
      '-c',
      mend.map((c) => quoteArgv(c)).join(' && '),
    );
    assert.equal(fix.exitCode, 0, fix.stderr);
    await waitFor('the goal passing', async () => (await run('challenge', 'check', 'vxlan@g1')).exitCode === 0, {
      timeoutMs: 60_000,
      intervalMs: 0,
    });
    // As while the start was still making the pods forget: the goal passes, and it is no solve (nor a grading of
    // the lab as it stands: unknown, as while room start is on its way to the group).
    writeChallenge({ ...record, settling: new Date().toISOString() });
    const settling = await board(room);
    assert.deepEqual([group(settling, 'g1').condition, group(settling, 'g1').challenge?.solved], ['unknown', false]);
    // A start killed while its pods forgot leaves its record settling: for SETTLING_MS at most.
    writeChallenge({ ...record, settling: new Date(Date.now() - SETTLING_MS).toISOString() });
    assert.equal(group(await board(room), 'g1').challenge?.solved, true, 'settled long ago: the grading counts');
  } finally {
    await run('room', 'down', room);
  }
  assert.deepEqual(await snapshotHost(), state.pristine(), 'the host as it was');
});
