// The room's pure parts: landings dealt from the secret, each group's overlay
// identifiers, the board and results folded from the grading log, the log's
// reading of a line cut short, the CSV, and the terminal board's width.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { dealLandings, landingsOf } from '../../src/room/landing.js';
import { groupOverlay, ROOM_BLOCKS, roomSlot, withOverlay, VNI_STEP } from '../../src/room/overlay.js';
import { appendEvents, readEvents, type RoomEvent } from '../../src/room/log.js';
import { conditionOf, endOf, groupInRound, hintsUnlocked, roundsOf } from '../../src/room/score.js';
import { resultRows, resultsCsv, type ResultRow } from '../../src/room/results.js';
import { boardOf, checkNamer, currentRound } from '../../src/room/grade.js';
import { redrawn, renderBoard } from '../../src/room/render.js';
import { BOARD_VERSION, stateOf, type Board } from '../../src/room/board.js';
import { loadLabFile } from '../../src/lab/load.js';
import { faultsOf } from '../../src/faults/faults.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { LABS } from '../paths.js';
import { groupModel, writeGroupLab } from '../../src/room/groups.js';
import { ensureRoomRecord } from '../../src/room/state.js';
import { MAX_GROUPS, type Room } from '../../src/room/file.js';
import { learnedVteps } from '../../src/room/crosstalk.js';

const vxlan = loadLabFile(join(LABS, 'vxlan.yaml')).model;
const challenge = (id: string) => vxlan.challenges!.find((c) => c.id === id)!;

test('a challenge lands on the same device of another node, never on a device only one node has; each landing is a fault of the lab', () => {
  assert.deepEqual(landingsOf(vxlan, challenge('wrong-vni')), [
    'vni-changed:node-1:vxlan0',
    'vni-changed:node-0:vxlan0',
  ]);
  // veth-a1 is on node-1 only.
  assert.deepEqual(landingsOf(vxlan, challenge('mtu')), ['mtu-wrong:node-1:veth-a1']);
  const ids = new Set(faultsOf(vxlan, simulatedFacts(vxlan)).map((f) => f.id));
  for (const c of vxlan.challenges!) for (const l of landingsOf(vxlan, c)) assert.ok(ids.has(l), l);
  // Only where a goal check runs from or to: geneve's node-2 has a gnv0 too (its tunnel to node-0), which the
  // goal between a0 and a1 does not cross; egress's goal is a1's way out, not a0's.
  const of = (lab: string, id: string) => {
    const model = loadLabFile(join(LABS, `${lab}.yaml`)).model;
    return landingsOf(
      model,
      model.challenges!.find((c) => c.id === id)!,
    );
  };
  assert.deepEqual(of('geneve', 'wrong-vni'), ['vni-changed:node-1:gnv0']);
  assert.deepEqual(of('geneve', 'peer-down'), ['link-down:node-2:gnv0']);
  assert.deepEqual(of('egress', 'skipped'), ['jump-removed:node-1:POSTROUTING']);
});

test('landings are dealt, not drawn: balanced over the groups, the same again for the same secret, another deal for another secret', () => {
  const groups = Array.from({ length: 12 }, (_, i) => `g${i + 1}`);
  const landings = ['a', 'b', 'c'];
  const deal = dealLandings('s'.repeat(16), 'net101', 'wrong-vni', groups, landings);
  const counts = landings.map((l) => [...deal.values()].filter((v) => v === l).length);
  assert.deepEqual(counts, [4, 4, 4]);
  assert.deepEqual(dealLandings('s'.repeat(16), 'net101', 'wrong-vni', groups, landings), deal);
  const others = ['t', 'u', 'v', 'w'].map((c) => dealLandings(c.repeat(16), 'net101', 'wrong-vni', groups, landings));
  assert.ok(
    others.some((o) => JSON.stringify([...o]) !== JSON.stringify([...deal])),
    'the secret changes the deal',
  );
  // One landing: everybody gets it.
  assert.deepEqual(new Set(dealLandings('x'.repeat(16), 'r', 'c', groups, ['only']).values()), new Set(['only']));
});

test("each group's VNI and VXLAN group are the lab's moved by its index, ten VNIs apart (a wrong-VNI fault adds one), in the lab's multicast /8", () => {
  const tunnel = { id: 100, group: '239.1.1.1' };
  assert.deepEqual(groupOverlay(tunnel, 0), { id: 100 + VNI_STEP, group: '239.1.1.2' });
  assert.deepEqual(groupOverlay(tunnel, 3), { id: 140, group: '239.1.1.5' });
  const ids = Array.from({ length: 64 }, (_, i) => groupOverlay(tunnel, i)!.id);
  // No group's VNI is another's plus one (the vni-changed fault's wrong VNI).
  for (const id of ids) assert.ok(!ids.includes(id + 1));
  assert.equal(groupOverlay({ id: 2 ** 24 - 5 }, 0), undefined, 'past the 24-bit VNI');
  assert.equal(groupOverlay({ id: 1, group: '239.255.255.255' }, 0), undefined, 'out of 239/8');
  assert.deepEqual(groupOverlay({ id: 1 }, 1), { id: 21 }, 'no group: a VNI only');
});

test("each room's identifiers start in a block its secret picks: a room's groups never share a slot, two rooms rarely (1 in 1000), every slot in range", () => {
  const slots = (secret: string) => Array.from({ length: MAX_GROUPS }, (_, i) => roomSlot(secret, i, MAX_GROUPS));
  assert.deepEqual(slots('a'.repeat(16)), slots('a'.repeat(16)), 'the same again');
  assert.equal(new Set(slots('a'.repeat(16))).size, MAX_GROUPS);
  const firsts = new Set(Array.from({ length: 50 }, (_, k) => roomSlot(`secret-number-${k}`, 0, MAX_GROUPS)));
  assert.ok(firsts.size >= 45, `50 rooms, ${firsts.size} different first slots`);
  // The last slot of the last block still fits: VNI (24 bits) and the group in 239/8.
  const last = (ROOM_BLOCKS - 1) * MAX_GROUPS + MAX_GROUPS - 1;
  assert.ok(groupOverlay({ id: 100, group: '239.1.1.1' }, last));
  for (const secret of ['a'.repeat(16), 'b'.repeat(16)])
    for (const slot of slots(secret)) assert.ok(slot >= 0 && slot <= last);
});

test("a group's copy of the lab file has its identifiers written in and keeps the author's comments", () => {
  const text = readFileSync(join(LABS, 'vxlan.yaml'), 'utf8');
  const copy = withOverlay(text, 'vxlan', { id: 120, group: '239.1.1.3' }, ' netlab room r, group g2');
  const data = parse(copy) as { wiring: { vxlan: { id: number; group: string; port: number } } };
  assert.deepEqual(data.wiring.vxlan, { id: 120, group: '239.1.1.3', port: 4789 });
  assert.match(copy, /^# netlab room r, group g2$/m);
  assert.match(copy, /^# Follows article 001, section 4\.3/m);
  // A lab whose file gives no tunnel settings gets them made.
  const bare = withOverlay('name: x\nwiring:\n  cross-node: vxlan\n', 'vxlan', { id: 110 }, ' h');
  assert.deepEqual((parse(bare) as { wiring: unknown }).wiring, { 'cross-node': 'vxlan', vxlan: { id: 110 } });
});

const at = (s: number) => new Date(Date.UTC(2026, 11, 3, 9, 0, s)).toISOString();

/** A log: round at 0 s; g1 started (run r1) and graded failing, then a different failure, then passing; g2 rebuilt. */
function sampleLog(): RoomEvent[] {
  return [
    { t: at(0), e: 'round', challenge: 'wrong-vni' },
    { t: at(1), e: 'start', group: 'g1', challenge: 'wrong-vni', run: 'r1', fault: 'f', started: 'A' },
    { t: at(1), e: 'start', group: 'g2', challenge: 'wrong-vni', run: 'q1', fault: 'f', started: 'B' },
    {
      t: at(10),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [1, 2],
      started: 'A',
    },
    {
      t: at(20),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [1, 2],
      started: 'A',
    },
    {
      t: at(30),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [2],
      started: 'A',
    },
    {
      t: at(40),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [],
      started: 'A',
    },
    {
      t: at(50),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [1],
      started: 'A',
    },
    // g2 rebuilt by hand: another run, whose checks all pass, is not solved.
    { t: at(41), e: 'grade', group: 'g2', challenge: 'wrong-vni', run: 'q2', condition: 'rebuilt', failing: [] },
    { t: at(42), e: 'grade', group: 'g2', challenge: 'wrong-vni', run: 'q2', condition: 'up', failing: [] },
    { t: at(43), e: 'hint', challenge: 'wrong-vni', group: 'g2' },
    { t: at(44), e: 'hint', challenge: 'wrong-vni', group: null },
  ];
}

const facts = { title: 't', hints: 3 };
const schedule = { challenge: 'wrong-vni', minutes: 20, hints: [1, 2] };

test('the board from the log: solved at the first grading with every goal check passing, and stays so; attempts are changes the grader saw', () => {
  const events = sampleLog();
  const range = roundsOf(events)[0]!;
  const g1 = groupInRound(events, range, 'g1', facts, schedule, new Date(at(59)));
  assert.equal(g1.solved, true);
  assert.equal(g1['solved-at'], at(40));
  assert.equal(g1.minutes, 0.7, '39 s from its start');
  // [1,2] → [1,2] (no change) → [2] (a change) → [] (the solve).
  assert.equal(g1.attempts, 2);
  const g2 = groupInRound(events, range, 'g2', facts, schedule, new Date(at(59)));
  assert.equal(g2.solved, false, 'a rebuilt lab passes its checks, and that is no solve');
  assert.equal(conditionOf(events, 'g2').condition, 'up');
});

test("a failing check is named from the group's lab as it was built (whose checks the grading numbered), else from the room's lab file", () => {
  const room: Room = {
    name: 'r',
    file: '/rooms/r.yaml',
    labFile: join(LABS, 'vxlan.yaml'),
    labName: 'vxlan',
    groups: [
      { name: 'g1', target: { kind: 'simulated' } },
      { name: 'g2', target: { kind: 'simulated' } },
    ],
    schedule: [],
  };
  const grade = (group: string): RoomEvent => ({
    t: at(1),
    e: 'grade',
    group,
    challenge: null,
    run: 'r1',
    condition: 'up',
    failing: [1],
  });
  // g1 was built before the lab file's checks were put in another order: its check 1 is the file's last.
  const built = { ...vxlan, checks: [vxlan.checks.at(-1)!, ...vxlan.checks.slice(0, -1)] };
  const board = boardOf(room, vxlan, [grade('g1'), grade('g2')], new Date(at(2)), (g) =>
    g === 'g1' ? built : undefined,
  );
  const named = (g: string) => board.groups.find((x) => x.name === g)!.failing.map((f) => f.name);
  assert.deepEqual(named('g1'), [checkNamer(built)(1).name]);
  assert.deepEqual(named('g2'), [checkNamer(vxlan)(1).name]);
  assert.notEqual(named('g1')[0], named('g2')[0]);
});

test('hints: the schedule unlocks by the minutes since the round began, each room hint one more, never more than the challenge has', () => {
  assert.equal(hintsUnlocked([1, 2], 3, 0.5, 0), 0);
  assert.equal(hintsUnlocked([1, 2], 3, 1, 0), 1);
  assert.equal(hintsUnlocked([1, 2], 3, 1.5, 1), 2);
  assert.equal(hintsUnlocked([1, 2], 3, 5, 5), 3);
  const events = sampleLog();
  const range = roundsOf(events)[0]!;
  // At 59 s: none by the schedule; g2 had its own and the room's. g1 solved at 40 s, before the room's hint at
  // 44 s: its hints stopped there, as its clock did.
  assert.equal(groupInRound(events, range, 'g2', facts, schedule, new Date(at(59))).hints, 2);
  assert.equal(groupInRound(events, range, 'g1', facts, schedule, new Date(at(59))).hints, 0);
  // At 2 min: both of the schedule's as well, for g2, still at work.
  assert.equal(groupInRound(events, range, 'g2', facts, schedule, new Date(at(120))).hints, 3);
  assert.equal(groupInRound(events, range, 'g1', facts, schedule, new Date(at(120))).hints, 0);
});

test("a grading counts only for the start whose record it found, with its challenge's checks: one that began before a start (a watcher's, during room start) never solves it", () => {
  const events: RoomEvent[] = [
    { t: at(0), e: 'round', challenge: 'wrong-vni' },
    { t: at(1), e: 'start', group: 'g1', challenge: 'wrong-vni', run: 'r1', fault: 'f', started: 'A' },
    // Measured before the fault was made (no record yet, or the last challenge's): logged after the start.
    { t: at(2), e: 'grade', group: 'g1', challenge: 'wrong-vni', run: 'r1', condition: 'up', failing: [] },
    {
      t: at(3),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [],
      started: 'Z',
    },
    // Graded with the last round's goal checks (its round read before `room start` logged this one),
    // though its record is this start's: its checks are not this challenge's.
    { t: at(4), e: 'grade', group: 'g1', challenge: 'mtu', run: 'r1', condition: 'up', failing: [], started: 'A' },
    {
      t: at(9),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [1],
      started: 'A',
    },
  ];
  const g1 = groupInRound(events, roundsOf(events)[0]!, 'g1', facts, schedule, new Date(at(10)));
  assert.equal(g1.solved, false);
  assert.equal(g1.revealed, false);
  const revealed: RoomEvent[] = [
    ...events,
    {
      t: at(11),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [],
      started: 'A',
      revealed: true,
    },
  ];
  const solved = groupInRound(revealed, roundsOf(revealed)[0]!, 'g1', facts, schedule, new Date(at(12)));
  assert.deepEqual([solved.solved, solved['solved-at'], solved.revealed], [true, at(11), true]);
});

test('room down ends the round: its clock and its hints stop there, and it is no longer the one running', () => {
  const events: RoomEvent[] = [
    { t: at(0), e: 'round', challenge: 'wrong-vni' },
    { t: at(0), e: 'start', group: 'g1', challenge: 'wrong-vni', run: 'r1', fault: 'f', started: 'A' },
    {
      t: at(30),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r1',
      condition: 'up',
      failing: [1],
      started: 'A',
    },
    { t: at(90), e: 'end' },
    // A watch left running grades the group down afterwards.
    { t: at(95), e: 'grade', group: 'g1', challenge: null, run: null, condition: 'down', failing: [] },
  ];
  const [range] = roundsOf(events);
  assert.deepEqual([range!.from, range!.to], [0, 3]);
  assert.equal(endOf(events, range!)?.toISOString(), at(90));
  const nextDay = new Date(Date.parse(at(0)) + 86_400_000);
  const g1 = groupInRound(events, range!, 'g1', facts, schedule, nextDay);
  // 1.5 minutes, and the hint of minute 1 (not that of minute 2), the next day as at the end.
  assert.deepEqual([g1.solved, g1.minutes, g1.hints], [false, 1.5, 1]);
  // A round after the end runs (room up, then room start).
  const again: RoomEvent[] = [...events, { t: at(200), e: 'round', challenge: 'mtu' }];
  assert.equal(endOf(again, roundsOf(again).at(-1)!), undefined);
});

test('a reset starts the challenge again: solved only by gradings of the new run after it, resets counted', () => {
  const events: RoomEvent[] = [
    ...sampleLog(),
    { t: at(60), e: 'reset', group: 'g1', challenge: 'wrong-vni' },
    { t: at(61), e: 'start', group: 'g1', challenge: 'wrong-vni', run: 'r2', fault: 'f', started: 'C' },
    {
      t: at(70),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r2',
      condition: 'up',
      failing: [1],
      started: 'C',
    },
    {
      t: at(80),
      e: 'grade',
      group: 'g1',
      challenge: 'wrong-vni',
      run: 'r2',
      condition: 'up',
      failing: [2],
      started: 'C',
    },
  ];
  const g1 = groupInRound(events, roundsOf(events)[0]!, 'g1', facts, schedule, new Date(at(121)));
  assert.deepEqual([g1.solved, g1.resets, g1.run], [false, 1, 'r2']);
  // The clock and the attempts run on from the group's first start: a reset wipes neither.
  assert.equal(g1.started, at(1));
  assert.equal(g1.minutes, 2, '120 s from the first start');
  assert.equal(g1.attempts, 2 + 1, "the first start's two, and one since the reset");
});

test("the condition is the last grading's, since the first of its run of equal gradings", () => {
  const events: RoomEvent[] = [
    { t: at(1), e: 'grade', group: 'g', challenge: null, run: 'r', condition: 'up', failing: [] },
    { t: at(2), e: 'grade', group: 'g', challenge: null, run: 'r', condition: 'unreachable', failing: [] },
    { t: at(3), e: 'grade', group: 'g', challenge: null, run: 'r', condition: 'unreachable', failing: [] },
  ];
  assert.deepEqual(conditionOf(events, 'g').condition, 'unreachable');
  assert.equal(conditionOf(events, 'g').since, at(2));
  assert.equal(conditionOf(events, 'other').condition, 'unknown');
});

test('the log: a line cut short is skipped and spoils only itself; appended lines of two writers are whole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-room-'));
  try {
    const file = join(dir, 'log.jsonl');
    appendEvents(file, [{ e: 'round', challenge: 'a' }]);
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"t":"2026-12-03T09:00:00.000Z","e":"gra`);
    appendEvents(file, [{ e: 'hint', challenge: 'a', group: null }]);
    assert.deepEqual(
      readEvents(file).map((e) => e.e),
      ['round', 'hint'],
    );
    assert.deepEqual(readEvents(join(dir, 'missing')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('results come from the log: a group taken out of the room file since, and a challenge the lab file no longer has, keep their rows', () => {
  const room: Room = {
    name: 'r',
    file: '/rooms/r.yaml',
    labFile: join(LABS, 'vxlan.yaml'),
    labName: 'vxlan',
    groups: [{ name: 'g1', target: { kind: 'simulated' } }],
    schedule: [],
  };
  const events: RoomEvent[] = [
    ...sampleLog(),
    { t: at(70), e: 'round', challenge: 'gone', title: 'a challenge since removed', hints: 2 },
    { t: at(71), e: 'start', group: 'g1', challenge: 'gone', run: 'r1', fault: 'f', started: 'C' },
    { t: at(72), e: 'hint', challenge: 'gone', group: null },
  ];
  const rows = resultRows(room, vxlan, events, new Date(at(90)));
  assert.deepEqual(
    rows.map((r) => [r.group, r.id, r.solved]),
    [
      ['g1', 'wrong-vni', true],
      ['g2', 'wrong-vni', false],
      ['g1', 'gone', false],
    ],
  );
  assert.equal(rows[2]!.hints, 1, "the room's hint, of the two the round event kept");

  // A round of a challenge the lab file still has, but with more hints than the round was built with (the
  // instructor added two since): the round's own count holds, as built.
  const round: RoomEvent[] = [
    { t: at(0), e: 'round', challenge: 'wrong-vni', title: 'as built', hints: 1 },
    { t: at(1), e: 'start', group: 'g1', challenge: 'wrong-vni', run: 'r1', fault: 'f', started: 'A' },
    { t: at(2), e: 'hint', challenge: 'wrong-vni', group: null },
    { t: at(3), e: 'hint', challenge: 'wrong-vni', group: null },
  ];
  const asBuilt = resultRows(room, vxlan, round, new Date(at(90)));
  assert.equal(vxlan.challenges!.find((c) => c.id === 'wrong-vni')!.hints.length, 3);
  assert.deepEqual(
    asBuilt.map((r) => [r.group, r.hints]),
    [['g1', 1]],
    'one hint: all the round had',
  );
  // The live board reads the round as built too.
  assert.equal(currentRound(room, vxlan, round, new Date(at(90)))!.groups.get('g1')!.hints, 1);
});

test('results as CSV: RFC 4180, a header and a row each, fields with commas or quotes quoted', () => {
  const row: ResultRow = {
    group: 'g1',
    id: 'c',
    started: at(0),
    solved: true,
    'solved-at': at(40),
    minutes: 0.7,
    hints: 1,
    'hints-read': null,
    resets: 0,
    attempts: 2,
    revealed: false,
    'not-started': null,
  };
  const csv = resultsCsv([row, { ...row, group: 'a,"b"' }]);
  const lines = csv.split('\r\n');
  assert.equal(
    lines[0],
    'group,challenge,started,solved,solved-at,minutes,hints,hints-read,resets,attempts,revealed,not-started',
  );
  assert.equal(lines[1], `g1,c,${at(0)},true,${at(40)},0.7,1,,0,2,false,`);
  assert.match(lines[2]!, /^"a,""b""",/);
  const failed = resultsCsv([{ ...row, solved: false, 'not-started': 'node-1: down, "vm stopped"' }]);
  assert.match(failed.split('\r\n')[1]!, /,"node-1: down, ""vm stopped"""$/);
});

test('the terminal board: 30 groups, one line each, none wider than the terminal; control characters in names are shown, not run', () => {
  const board: Board = {
    version: BOARD_VERSION,
    room: 'net101',
    lab: 'vxlan',
    at: at(90),
    current: {
      challenge: 'wrong-vni',
      title: 'a0 and a1 cannot reach each other',
      started: at(0),
      minutes: 20,
      hints: 3,
    },
    groups: Array.from({ length: 30 }, (_, i) => {
      const group = {
        name: i === 0 ? 'g\x1b[2J' : `group-${i}`,
        lab: `vxlan@g${i}`,
        target: 'simulated' as const,
        // group-4 solved, then its lab went down; group-5 unreachable; group-7's start failed
        condition: i === 5 ? ('unreachable' as const) : i === 4 ? ('down' as const) : ('up' as const),
        since: at(1),
        'checked-at': at(90),
        challenge: {
          id: 'wrong-vni',
          title: 't',
          started: at(1),
          solved: i % 2 === 0,
          'solved-at': i % 2 === 0 ? at(60) : null,
          minutes: 1.5,
          hints: 1,
          'hints-read': null,
          resets: 0,
          attempts: 1,
          revealed: false,
          'not-started': i === 7 ? 'node-1: the fault could not be made' : null,
        },
        failing: i % 2 === 0 ? [] : [{ number: 1, name: 'ping a0 → a1' }],
      };
      return { ...group, state: stateOf(group) };
    }),
  };
  const lines = renderBoard(board, 80).trimEnd().split('\n');
  assert.ok(lines.length <= 36, `${lines.length} lines`);
  // eslint-disable-next-line no-control-regex
  for (const line of lines) assert.ok(line.replace(/\x1b\[[0-9;]*m/g, '').length <= 80, line);
  assert.ok(!lines.join('\n').includes('\x1b[2J'));
  assert.match(lines.join('\n'), /unreachable since 09:00:01/);
  // The page's order too: a solved challenge stays solved whatever its lab does after.
  assert.match(
    lines.find((l) => l.startsWith('group-4 '))!,
    /✓ solved/,
  );
  assert.match(
    lines.find((l) => l.startsWith('group-7 '))!,
    /✗ start failed/,
  );
  assert.match(lines.at(-1)!, /^15 of 30 solved/);
});

test("a simulated group's lab built in the room's process is the lab its copy of the lab file gives, for every bundled lab with a tunnel", () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-room-'));
  const saved = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = dir;
  try {
    for (const file of readdirSync(LABS).filter((f) => f.endsWith('.yaml'))) {
      const model = loadLabFile(join(LABS, file)).model;
      if (!model.tunnel) continue;
      const room: Room = {
        name: 'r',
        file: join(dir, 'r.yaml'),
        labFile: join(LABS, file),
        labName: model.name,
        groups: [
          { name: 'g1', target: { kind: 'simulated' } },
          { name: 'g2', target: { kind: 'simulated' } },
        ],
        schedule: [],
      };
      const record = ensureRoomRecord(room);
      const group = room.groups[1]!;
      const copy = loadLabFile(writeGroupLab(room, model, record, group)).model;
      assert.deepEqual(groupModel(room, model, record, group.name), { ...copy, instance: group.name }, file);
      assert.notEqual(copy.tunnel!.id, model.tunnel.id, `${file}: a VNI of its own`);
    }
  } finally {
    if (saved === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('groups named like the properties of every object (constructor, __proto__) get an index each, and keep it when the record is read again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-room-'));
  const saved = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = dir;
  try {
    const room = (names: string[]): Room => ({
      name: 'r',
      file: join(dir, 'r.yaml'),
      labFile: join(LABS, 'vxlan.yaml'),
      labName: 'vxlan',
      groups: names.map((name) => ({ name, target: { kind: 'simulated' } })),
      schedule: [],
    });
    const first = ensureRoomRecord(room(['g1', 'constructor', '__proto__', 'toString']));
    assert.deepEqual({ ...first.indexes }, { g1: 0, constructor: 1, ['__proto__']: 2, toString: 3 });
    const again = ensureRoomRecord(room(['toString', '__proto__', 'g2']));
    assert.deepEqual(Object.entries(again.indexes), [
      ['g1', 0],
      ['constructor', 1],
      ['__proto__', 2],
      ['toString', 3],
      ['g2', 4],
    ]);
    assert.notEqual(groupModel(room(['__proto__']), vxlan, again, '__proto__').tunnel!.id, vxlan.tunnel!.id);
  } finally {
    if (saved === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the deal: the groups in an order only the secret gives (not the order the room lists them), dealt from a start only the secret gives', () => {
  const groups = Array.from({ length: 6 }, (_, i) => `g${i + 1}`);
  const landings = ['a', 'b', 'c'];
  const deal = dealLandings('s'.repeat(16), 'net101', 'wrong-vni', groups, landings);
  // The room file's order of its groups changes nothing: the keyed hash orders them.
  assert.deepEqual(
    new Map([...dealLandings('s'.repeat(16), 'net101', 'wrong-vni', [...groups].reverse(), landings)].sort()),
    new Map([...deal].sort()),
  );
  // The first group in that order does not always get the first landing: the start is keyed too.
  const firsts = new Set(
    ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'].map((challenge) => {
      const dealt = dealLandings('s'.repeat(16), 'net101', challenge, groups, landings);
      return [...dealt.values()][0];
    }),
  );
  assert.ok(firsts.size > 1, `the first group got ${[...firsts].join(', ')} in all eight challenges`);
  // The room and the challenge are two parts of the key, not one string: "ab"+"c" is not "a"+"bc".
  assert.notDeepEqual(
    [...dealLandings('k'.repeat(16), 'ab', 'c', groups, landings)],
    [...dealLandings('k'.repeat(16), 'a', 'bc', groups, landings)],
  );
});

test("a room's slots are its block's, in the groups' order; the VNI stops at 2^24 - 1 exactly", () => {
  const slots = Array.from({ length: 8 }, (_, i) => roomSlot('q'.repeat(16), i, 64));
  assert.deepEqual(
    slots.map((s) => s - slots[0]!),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.equal(slots[0]! % 64, 0, 'a block starts at a multiple of the groups a room may have');
  assert.deepEqual(groupOverlay({ id: 2 ** 24 - 1 - VNI_STEP }, 0), { id: 2 ** 24 - 1 }, 'the last VNI is one');
  assert.equal(groupOverlay({ id: 2 ** 24 - VNI_STEP }, 0), undefined, '2^24 is not');
});

test("a group's lab file: the header above the lab's own first comment (or alone), the rest as written; a lab without wiring is refused", () => {
  const overlay = { id: 110, group: '239.1.1.2' };
  const lab = 'name: vxlan\nwiring:\n  vxlan: { id: 100 }\n';
  const commented = withOverlay(`# the vxlan lab\n\n${lab}`, 'vxlan', overlay, ' group g1');
  assert.match(commented, /^# group g1\n# the vxlan lab\n\nname: vxlan\n/);
  assert.deepEqual(parse(commented).wiring.vxlan, { id: 110, group: '239.1.1.2' });
  const bare = withOverlay(lab, 'vxlan', { id: 110 }, ' group g1');
  assert.match(bare, /^# group g1\n\nname: vxlan\n/);
  assert.deepEqual(parse(bare).wiring.vxlan, { id: 110 });
  assert.throws(() => withOverlay('name: vxlan\n', 'vxlan', overlay, ' g'), /a lab with a tunnel has wiring:/);
});

/** A terminal's screen after some output: the cursor codes `room watch` writes (home, erase to the end of the line, erase below). */
function screenAfter(output: string): string[] {
  const screen: string[] = [];
  let [row, col] = [0, 0];
  const ESC = String.fromCharCode(27);
  for (const token of output.match(new RegExp(`${ESC}\\[[HKJ]|\\n|[^${ESC}\\n]`, 'g')) ?? []) {
    const line = screen[row] ?? '';
    if (token === `${ESC}[H`) [row, col] = [0, 0];
    else if (token === `${ESC}[K`) screen[row] = line.slice(0, col);
    else if (token === `${ESC}[J`) {
      screen.splice(row + 1);
      screen[row] = line.slice(0, col);
    } else if (token === '\n') [row, col] = [row + 1, 0];
    else {
      screen[row] = line.slice(0, col).padEnd(col) + token + line.slice(col + 1);
      col += 1;
    }
  }
  return screen.map((l) => l.trimEnd());
}

test("room watch draws each board over the last: what is on the screen is the new board, not the end of the old one's longer lines", () => {
  const first = 'room r\ng1  working  1,2,3,4,5\ng2  working  1,2\nlast line of the first\n';
  const second = 'room r\ng1  working  3,4\ng2  solved\n';
  assert.deepEqual(screenAfter(redrawn(first) + redrawn(second)), ['room r', 'g1  working  3,4', 'g2  solved', '']);
});

test("another lab's VTEPs a group's tunnel learned: not its flood list, not its own nodes, and only addresses (a learner's bridge that says otherwise reaches no terminal)", () => {
  const entry = (mac: string, dst: string | undefined, ifname = 'vxlan0') => ({
    mac,
    ifname,
    ...(dst !== undefined ? { dst } : {}),
    self: true,
    permanent: false,
  });
  const entries = [
    entry('00:00:00:00:00:00', '239.1.1.1'),
    entry('0a:00:00:00:00:01', '192.168.64.5'),
    entry('0a:00:00:00:00:02', '192.168.64.9'),
    entry('0a:00:00:00:00:03', '192.168.64.10', 'vxlan1'),
    entry('0a:00:00:00:00:04', undefined),
    entry('0a:00:00:00:00:05', '\x1b]0;owned\x07\x1b[2J192.168.64.11'),
  ];
  assert.deepEqual(
    learnedVteps(entries, { device: 'vxlan0', group: '239.1.1.1' }, new Set(['192.168.64.4', '192.168.64.5'])),
    ['192.168.64.9'],
  );
});
