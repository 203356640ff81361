// End to end, over SSH: a room with two groups on machines of one shared
// network segment (sshd in simulated machines, as in ssh.test.ts) and one group
// on simulated nodes. No cross-talk: each group's checks pass and its VXLAN FDB
// holds its own VTEPs only. A learner attached to a group reads the hints the
// room unlocked. One machine stopped: its group unreachable, the others graded.
// Another lab on the segment with a group's VNI and multicast group: that group refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json } from './challenge-case.js';
import { nodeLeftovers, snapshotHost, stateDirForTest, type HostSnapshot } from './host.js';
import { startMachines, type Machines } from './machines.js';
import { writeRoom } from './room-case.js';
import type { Board } from '../../src/room/board.js';
import { waitFor, watch, within } from '../wait.js';

const work = stateDirForTest();
const instructor = join(work.dir, 'instructor');
const learner = join(work.dir, 'learner');
let machines: Machines;
let pristine: HostSnapshot;
/** The machines of each SSH group, as node-0 and node-1 of its lab. */
const machinesOf = { g1: ['m0', 'm1'], g2: ['m2', 'm3'] } as const;

before(async () => {
  pristine = await snapshotHost();
  mkdirSync(instructor);
  mkdirSync(learner);
  machines = await startMachines('room-ssh-e2e', ['m0', 'm1', 'm2', 'm3', 'm4'], work.dir);
});

after(async () => {
  machines?.stop();
  work.remove();
  assert.deepEqual(await snapshotHost(), pristine, 'the machines and their ssh connections are gone');
});

/** A group's SSH config: the machines' own entries, under the lab's node names. */
function groupSshConfig(group: keyof typeof machinesOf): string {
  const blocks = readFileSync(machines.sshConfig, 'utf8').split(/^(?=Host )/m);
  const text = machinesOf[group]
    .map((m, i) => blocks.find((b) => b.startsWith(`Host ${m}\n`))!.replace(`Host ${m}\n`, `Host node-${i}\n`))
    .join('');
  const file = join(work.dir, `${group}.ssh`);
  writeFileSync(file, text);
  return file;
}

test('a room over SSH on one shared segment: no cross-talk, a learner reads the unlocked hints, a stopped machine is unreachable and slows nobody', async () => {
  const ssh = { g1: groupSshConfig('g1'), g2: groupSshConfig('g2') };
  const room = writeRoom(work.dir, {
    g1: `{ ssh-config: ${ssh.g1} }`,
    g2: `{ ssh-config: ${ssh.g2} }`,
    g3: '{ simulated: true }',
  });
  const run = (...args: string[]) => machines.netlab(instructor, ...args);
  const board = async () => json<Board>(await run('room', 'status', room, '--json'));
  const group = (b: Board, name: string) => b.groups.find((g) => g.name === name)!;
  try {
    const up = await run('room', 'up', room, '--json');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const attach = json<{ groups: { name: string; attach?: string }[] }>(up).groups;
    assert.equal(attach.find((g) => g.name === 'g1')!.attach, `netlab attach vxlan@g1 --ssh-config ${ssh.g1}`);
    assert.equal(attach.find((g) => g.name === 'g3')!.attach, undefined, 'a simulated group is on this host');

    // Every group's checks pass: no group answers another's ARP or learns its VTEPs.
    const idle = await board();
    for (const g of ['g1', 'g2', 'g3'])
      assert.deepEqual(
        [group(idle, g).condition, group(idle, g).failing],
        ['up', []],
        `${g}: ${JSON.stringify(group(idle, g))}`,
      );
    // netlab's shell on g2's node-0 stopped (kill -STOP: a learner is root there): `room watch` counts g2
    // unreachable at its --timeout, then logs in anew, and its next round grades g2 as before (before: every
    // round queued behind the stopped shell, unreachable for as long as it stayed stopped).
    const m2 = machines.transport('m2');
    // netlab's session shells there: `sh -s` under sshd (the machine's own transport runs a `sh -s` too).
    const sessionShells = (signal: string) =>
      m2.run(
        `for p in $(pgrep -f '^sh -s$'); do pp=$(ps -o ppid= -p "$p" | tr -d ' '); [ "$(ps -o comm= -p "$pp")" = sshd ] && kill -${signal} "$p"; done; true\n`,
      );
    const watching = machines.start(instructor, 'room', 'watch', room, '--json', '--every', '1', '--timeout', '5');
    const boards = watch(watching);
    /** the boards `room watch` printed so far, one JSON document a line (the last, maybe a part, left out) */
    const printed = () =>
      boards.output
        .split('\n')
        .slice(0, -1)
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Board);
    try {
      await waitFor('a first board with g2 up', () => printed().some((b) => group(b, 'g2').condition === 'up'));
      assert.equal((await sessionShells('STOP')).exitCode, 0);
      const stuck = await waitFor(
        'g2 unreachable at the timeout',
        () => {
          const at = printed().findIndex((b) => group(b, 'g2').condition === 'unreachable');
          return at >= 0 ? at + 1 : false;
        },
        { timeoutMs: 30_000 },
      );
      assert.equal(group(printed()[stuck - 1]!, 'g2').error, 'no answer in 5 s');
      await waitFor(
        'g2 graded again, its shell still stopped',
        () =>
          printed()
            .slice(stuck)
            .some((b) => group(b, 'g2').condition === 'up'),
        { timeoutMs: 30_000 },
      );
      // Ctrl-C, the shell still stopped: the watch ends with its round (before, its session with the stopped
      // shell kept netlab running until that machine answered).
      watching.kill('SIGINT');
      await within(watching, 15_000, 'room watch ending at its Ctrl-C');
    } finally {
      watching.kill('SIGKILL');
      await watching;
      await sessionShells('CONT');
    }

    for (const g of ['g1', 'g2'] as const) {
      const fdb = await run('exec', 'node-0', '--instance', g, '--', 'bridge', 'fdb', 'show', 'dev', 'vxlan0');
      const vteps = new Set([...fdb.stdout.matchAll(/ dst (\S+)/g)].map((m) => m[1]));
      const own = machinesOf[g].map((m) => machines.addresses[m]!);
      assert.ok(vteps.has(own[1]), `${g}'s node-0 learned its node-1: ${fdb.stdout}`);
      for (const vtep of vteps)
        assert.ok(
          own.includes(vtep!) || vtep === '0.0.0.0' || vtep!.startsWith('239.'),
          `${g} heard ${vtep}: ${fdb.stdout}`,
        );
    }

    const started = Date.now();
    const start = await run('room', 'start', room);
    assert.equal(start.exitCode, 0, start.stdout + start.stderr);
    // A learner of g1 on a machine of their own (another controller: another state directory).
    const attached = await machines.netlab(learner, 'attach', 'vxlan@g1', '--ssh-config', ssh.g1);
    assert.equal(attached.exitCode, 0, attached.stderr);
    // Past the schedule's first hint (1.2 s after the start), one more from the room.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + 1500 - Date.now())));
    assert.equal((await run('room', 'hint', room, '--group', 'g1')).exitCode, 0);
    const hints = json<{ hints: string[] }>(await machines.netlab(learner, 'challenge', 'hint', 'vxlan@g1', '--json'));
    assert.deepEqual(hints.hints, ['first', 'second'], "the schedule's first and the room's");

    // g2's node-0 stops answering (every packet to it dropped: a VM stopped, the connection netlab keeps
    // included): unreachable once ssh gives up on it (9 s); g1 and g3 graded as before.
    const stop = 'INPUT -j DROP';
    assert.equal((await m2.run(`iptables -w -I ${stop}\n`)).exitCode, 0);
    try {
      const began = Date.now();
      // A hint for g2 meanwhile: its node-0 does not take it (said), and a later grading puts it there.
      const hinted = run('room', 'hint', room, '--group', 'g2', '--json');
      const stopped = json<Board>(await run('room', 'status', room, '--json'));
      assert.equal(group(stopped, 'g2').condition, 'unreachable', JSON.stringify(group(stopped, 'g2')));
      assert.ok(group(stopped, 'g2').error, 'says why');
      for (const g of ['g1', 'g3']) {
        assert.equal(group(stopped, g).condition, 'up', g);
        assert.deepEqual(
          group(stopped, g).failing.map((f) => f.number),
          [1, 2],
          `${g} graded: its fault fails the goal`,
        );
      }
      assert.ok(Date.now() - began < 60_000, `a round with a stopped machine took ${Date.now() - began} ms`);
      const notYet = json<{ groups: { pushed: boolean; unlocked: number }[] }>(await hinted).groups;
      assert.deepEqual(
        notYet.map((g) => [g.pushed, g.unlocked]),
        [[false, 2]],
      );
    } finally {
      await m2.run(`iptables -w -D ${stop}\n`);
    }
    // The machine back, one grading round: g2's learners read both hints.
    assert.equal(group(await board(), 'g2').condition, 'up');
    assert.equal((await machines.netlab(learner, 'attach', 'vxlan@g2', '--ssh-config', ssh.g2)).exitCode, 0);
    const g2hints = json<{ hints: string[] }>(
      await machines.netlab(learner, 'challenge', 'hint', 'vxlan@g2', '--json'),
    );
    assert.deepEqual(g2hints.hints, ['first', 'second'], 'the hint the stopped machine missed');

    // Another lab on the segment with g1's VNI and multicast group (m4, no machine of the room), its
    // pod side asking ARP for an address nobody has: room up built g1 again, heard m4, refused it. (Its ping
    // runs until the test stops it: one bounded in time could end before a slow room down and up heard it.)
    const [, vni, mgroup] = /type vxlan id (\d+) group (\S+)/.exec((await run('plan', 'vxlan@g1')).stdout)!;
    const m4 = machines.transport('m4');
    const foreign = `ip link add nlx type vxlan id ${vni} group ${mgroup} dev eth1 dstport 4789 && ip link set nlx up && ip addr add 10.250.0.1/24 dev nlx && { ping -i 0.2 10.250.0.9 >/dev/null 2>&1 & }`;
    assert.equal((await m4.run(`${foreign}\n`)).exitCode, 0);
    try {
      assert.equal((await run('room', 'down', room)).exitCode, 0);
      const heard = await run('room', 'up', room);
      assert.equal(heard.exitCode, 1, heard.stdout + heard.stderr);
      assert.match(
        heard.stdout,
        new RegExp(
          `^g1 +│ refused: node-\\d hears VXLAN of this group's VNI from ${machines.addresses.m4!.replace(/\./g, '\\.')}, which is none of its machines`,
          'm',
        ),
      );
      assert.match(heard.stdout, /✗ g1: /);
      assert.match(heard.stdout, /✓ g2: vxlan@g2 is up/);
      assert.equal((await run('status', 'vxlan@g1')).exitCode, 2, 'g1 taken down');
    } finally {
      await m4.run('pkill -f "ping -i 0.2 10.250.0.9"; ip link del nlx\n');
    }
  } finally {
    const down = await run('room', 'down', room);
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    await machines.netlab(learner, 'detach', 'vxlan@g1');
    await machines.netlab(learner, 'detach', 'vxlan@g2');
  }
  for (const name of machines.names) {
    const left = (await nodeLeftovers(machines.transport(name))).filter((l) => !/process \d+ sshd/.test(l));
    assert.deepEqual(left, [], `${name}: nothing left`);
  }
});
