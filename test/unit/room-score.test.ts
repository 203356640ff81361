// The scoreboard's arithmetic (src/room/score.ts), case by case on logs
// written by hand: which events are a group's and a round's, which gradings
// count for a start, attempts, the clock, hints read, a group's condition and
// its board row. (test/unit/room.test.ts drives the same code through whole
// rooms; these pin each rule so that a change to one turns one test red.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boardGroup, challengesRun, conditionOf, groupInRound, roundsOf } from '../../src/room/score.js';
import type { GradeEvent, RoomEvent } from '../../src/room/log.js';
import {
  BOARD_VERSION,
  boardForProjector,
  NO_START,
  START_FAILED_PUBLIC,
  stateOf,
  type Board,
  type GroupChallenge,
  type LabCondition,
} from '../../src/room/board.js';

const T0 = Date.parse('2026-12-04T10:00:00.000Z');
/** The time `minutes` after 10:00. */
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

const round = (m: number, challenge = 'wrong-vni'): RoomEvent => ({ t: at(m), e: 'round', challenge });
const start = (m: number, group: string, run = 'r1', started = at(m)): RoomEvent => ({
  t: at(m),
  e: 'start',
  group,
  challenge: 'wrong-vni',
  run,
  fault: `vni-changed:node-1:vxlan0@${group}`,
  started,
});
const grade = (m: number, group: string, failing: number[], more: Partial<GradeEvent> = {}): GradeEvent => ({
  t: at(m),
  e: 'grade',
  group,
  challenge: 'wrong-vni',
  run: 'r1',
  condition: 'up',
  failing,
  started: at(1),
  ...more,
});
const facts = { title: 'a wrong VNI', hints: 3 };

/** g1's part in the only (or the first) round of the log, at `now` minutes. */
function g1(events: RoomEvent[], now = 30, schedule?: { hints: number[] }) {
  const [first] = roundsOf(events);
  return groupInRound(
    events,
    first!,
    'g1',
    facts,
    schedule ? { challenge: 'wrong-vni', minutes: 30, ...schedule } : undefined,
    new Date(T0 + now * 60_000),
  );
}

test('rounds: each from its round event to the next one, the last to the end of the log', () => {
  const events = [round(0), start(1, 'g1'), round(10, 'lost-route'), start(11, 'g1'), grade(12, 'g1', [])];
  assert.deepEqual(
    roundsOf(events).map((r) => [r.round.challenge, r.from, r.to]),
    [
      ['wrong-vni', 0, 2],
      ['lost-route', 2, 5],
    ],
  );
});

test("rounds: room down's end event ends the round and is none itself; a round after it runs to the end", () => {
  const events: RoomEvent[] = [round(0), start(1, 'g1'), { t: at(5), e: 'end' }, round(10, 'lost-route')];
  assert.deepEqual(
    roundsOf(events).map((r) => [r.round.challenge, r.from, r.to]),
    [
      ['wrong-vni', 0, 2],
      ['lost-route', 3, 4],
    ],
  );
  assert.deepEqual(roundsOf([{ t: at(5), e: 'end' }]), []);
});

test('a challenge has run once it was made in some group: a round whose every start failed (labs down, ^C) has not', () => {
  const failed = (m: number, group: string): RoomEvent => ({
    t: at(m),
    e: 'start-failed',
    group,
    challenge: 'lost-route',
    error: 'not up',
  });
  const events = [round(0), start(1, 'g1'), round(10, 'lost-route'), failed(11, 'g1'), failed(11, 'g2')];
  assert.deepEqual([...challengesRun(events)], ['wrong-vni']);
  assert.deepEqual([...challengesRun([...events, round(20, 'lost-route'), start(21, 'g2')])].sort(), [
    'lost-route',
    'wrong-vni',
  ]);
  // A start logged, then its fault not made (a node that refused it): the group's last try failed. A round whose
  // every group's last try failed has not run; one group whose start was made again (room reset) makes it run.
  const triedAndFailed = [
    round(0),
    start(1, 'g1'),
    { ...failed(1, 'g1'), challenge: 'wrong-vni' },
    start(1, 'g2'),
    { ...failed(1, 'g2'), challenge: 'wrong-vni' },
  ];
  assert.deepEqual([...challengesRun(triedAndFailed)], []);
  assert.deepEqual([...challengesRun([...triedAndFailed, start(5, 'g2')])], ['wrong-vni']);
});

test("a group's round: only its own events and the room's hints, and only this round's", () => {
  const events = [
    round(0),
    start(1, 'g1'),
    start(1, 'g2', 'r2'),
    { t: at(2), e: 'hint', challenge: 'wrong-vni', group: 'g2' } as RoomEvent,
    { t: at(3), e: 'hint', challenge: 'wrong-vni', group: null } as RoomEvent,
    { t: at(4), e: 'reset', group: 'g2', challenge: 'wrong-vni' } as RoomEvent,
    grade(5, 'g2', [], { run: 'r2' }),
    round(20, 'lost-route'),
    { t: at(21), e: 'reset', group: 'g1', challenge: 'lost-route' } as RoomEvent,
  ];
  const mine = g1(events, 30, { hints: [] });
  assert.equal(mine.hints, 1, "the room's hint, not g2's");
  assert.equal(mine.resets, 0, "g2's reset and the next round's are not g1's");
  assert.equal(mine.solved, false, "g2's solving grading is not g1's");
  assert.deepEqual([mine.run, mine.identity], ['r1', at(1)]);
  assert.equal(mine.fault, 'vni-changed:node-1:vxlan0@g1');
  // The round is over: its clock stopped at the next round, not at now.
  assert.equal(mine.minutes, 19);
});

test('a grading counts for a start only if it is of its run and its record, with the lab up', () => {
  const base = [round(0), start(1, 'g1')];
  assert.equal(g1([...base, grade(2, 'g1', [], { run: 'r0' })]).solved, false, 'another run');
  assert.equal(g1([...base, grade(2, 'g1', [], { started: at(0) })]).solved, false, 'another start');
  assert.equal(g1([...base, grade(2, 'g1', [], { condition: 'down' })]).solved, false, 'the lab down');
  const solved = g1([...base, grade(2, 'g1', [1]), grade(4, 'g1', [])]);
  assert.deepEqual([solved.solved, solved['solved-at'], solved.minutes], [true, at(4), 3]);
});

test('attempts: changes of the failing checks up to the solve, over every start of the round', () => {
  // Solved at its first grading: what came after (a learner breaking it again) is no attempt.
  assert.equal(g1([round(0), start(1, 'g1'), grade(2, 'g1', []), grade(3, 'g1', [1]), grade(4, 'g1', [])]).attempts, 0);
  const reset = [
    round(0),
    start(1, 'g1'),
    grade(2, 'g1', [1, 2]),
    grade(3, 'g1', [2]),
    start(5, 'g1', 'r1', at(5)),
    grade(6, 'g1', [2], { started: at(5) }),
    grade(7, 'g1', [], { started: at(5) }),
  ];
  const mine = g1(reset);
  assert.deepEqual([mine.attempts, mine.solved, mine.identity, mine.started], [2, true, at(5), at(1)]);
  // The clock runs from the first start: a reset does not restart it.
  assert.equal(mine.minutes, 6);
  // Two graders at once (room serve and a room status): a slow grading, begun before the learners' change, is
  // logged after a quicker one begun since. Taken in the order they began, the change is one attempt, not three.
  const overlapping = [
    round(0),
    start(1, 'g1'),
    grade(2, 'g1', [3, 4], { began: at(2) }),
    grade(5, 'g1', [4], { began: at(4.5) }),
    grade(6, 'g1', [3, 4], { began: at(4) }),
    grade(7, 'g1', [4], { began: at(6.5) }),
  ];
  assert.equal(g1(overlapping).attempts, 1);
  // The solve, too, is where it began: a failing grading begun after a slow passing one, and logged before it,
  // came after the solve.
  const solvedSlowly = [
    round(0),
    start(1, 'g1'),
    grade(2, 'g1', [3], { began: at(2) }),
    grade(6, 'g1', [4], { began: at(5) }),
    grade(7, 'g1', [], { began: at(4) }),
  ];
  assert.equal(g1(solvedSlowly).attempts, 1);
});

test('no start in the round: the round began the clock; no run, fault or identity; nothing read', () => {
  const mine = g1([round(0), grade(2, 'g1', [1], { started: undefined })], 12);
  assert.deepEqual(
    [mine.started, mine.minutes, mine.run, mine.fault, mine.identity, mine['hints-read'], mine.revealed],
    [at(0), 12, null, null, null, null, false],
  );
  assert.equal(mine.hints, 0, 'no schedule, no hint');
  // No challenge was made in g1's lab (it joined the room after the round began, or the start stopped before
  // it): not started, not working.
  assert.equal(mine['not-started'], NO_START);
  const row = boardGroup([round(0)], { name: 'g1', lab: 'vxlan@g1', target: 'simulated' }, g1([round(0)]), (n) => ({
    name: `check ${n}`,
  }));
  assert.equal(row.state, 'not-started');
  // A group the round names, not started yet: room start is on its way to it (working, not failed).
  const starting: RoomEvent[] = [{ t: at(0), e: 'round', challenge: 'wrong-vni', groups: ['g0', 'g1'] }];
  assert.equal(g1(starting)['not-started'], null);
  assert.equal(g1([{ t: at(0), e: 'round', challenge: 'wrong-vni', groups: ['g0'] }])['not-started'], NO_START);
});

test('hints stop unlocking when the group solves, as its clock does: by the schedule and by room hint', () => {
  const hint = (m: number): RoomEvent => ({ t: at(m), e: 'hint', challenge: 'wrong-vni', group: 'g1' });
  const events = [round(0), start(1, 'g1'), hint(2), grade(3, 'g1', []), hint(20)];
  const mine = g1(events, 30, { hints: [5, 10] });
  assert.equal(mine.minutes, 2);
  assert.equal(mine.hints, 1, "the hint before the solve; neither the schedule's at 5 and 10 nor the hint at 20");
  // Unsolved, every one of them unlocks.
  assert.equal(g1([round(0), start(1, 'g1'), hint(2), hint(20)], 30, { hints: [5, 10] }).hints, 3);
});

test('hints read: the last grading that knows them; revealed: a grading that says so', () => {
  const events = [
    round(0),
    start(1, 'g1'),
    grade(2, 'g1', [1], { read: 1 }),
    grade(3, 'g1', [1], { read: 2 }),
    grade(4, 'g1', [1]),
    grade(5, 'g1', [1], { read: 3 }),
    grade(6, 'g1', [1]),
  ];
  assert.equal(g1(events)['hints-read'], 3);
  assert.equal(g1(events).revealed, false);
  assert.equal(g1([...events, grade(7, 'g1', [], { revealed: true })]).revealed, true);
  // A reveal after the solve (the instructor showing the answer) is no solve after a reveal.
  assert.equal(g1([...events, grade(7, 'g1', []), grade(8, 'g1', [], { revealed: true })]).revealed, false);
  // A grading of the last challenge's record (begun before this round, or a room start under way) says nothing of
  // this challenge's: neither its reveal nor its hints read.
  const stale = [
    round(0),
    grade(1, 'g1', [1], { challenge: 'lost-route', started: at(-5), revealed: true, read: 2 }),
    start(2, 'g1', 'r1', at(2)),
    grade(3, 'g1', [1], { started: at(2) }),
  ];
  assert.deepEqual([g1(stale).revealed, g1(stale)['hints-read']], [false, null]);
  // A reset's new record has read none yet: the board keeps what the learners read before it.
  const reset = [
    round(0),
    start(1, 'g1'),
    grade(2, 'g1', [1], { read: 2, revealed: true }),
    start(5, 'g1', 'r1', at(5)),
    grade(6, 'g1', [1], { started: at(5) }),
  ];
  assert.deepEqual([g1(reset)['hints-read'], g1(reset).revealed], [2, true]);
  // The board's solve is the last start's: a reveal after an earlier start's passing grading comes before it.
  const solvedAgain = [
    round(0),
    start(1, 'g1'),
    grade(2, 'g1', []),
    grade(3, 'g1', [1], { revealed: true }),
    start(5, 'g1', 'r1', at(5)),
    grade(6, 'g1', [], { started: at(5) }),
  ];
  assert.equal(g1(solvedAgain).revealed, true);
  // Hints unlock by the schedule (minutes since the round) and by `room hint`, up to the challenge's.
  assert.equal(g1(events, 6, { hints: [5, 10, 15] }).hints, 1);
  assert.equal(g1(events, 60, { hints: [5, 10, 15, 20] }).hints, 3);
});

test("a group's condition: its last grading's, since the first of the streak of the same condition and run", () => {
  assert.deepEqual(conditionOf([], 'g1'), { condition: 'unknown', since: null, last: undefined });
  const one = [grade(2, 'g1', [1])];
  assert.deepEqual(conditionOf(one, 'g1').since, at(2));
  const events: RoomEvent[] = [
    grade(1, 'g1', [], { condition: 'down' }),
    grade(2, 'g1', [1]),
    grade(3, 'g2', [], { condition: 'down' }),
    grade(4, 'g1', [1], { run: 'r2' }),
    grade(5, 'g1', []),
    grade(6, 'g1', [2], { run: 'r2' }),
  ];
  const { condition, since, last } = conditionOf(events, 'g1');
  // Up since 10:06 only: the grading before it (10:05) is of another run.
  assert.deepEqual([condition, since, last?.t], ['up', at(6), at(6)]);
  assert.equal(conditionOf(events.slice(0, 5), 'g1').since, at(5), 'run r1 again after r2: a streak of its own');
  assert.equal(conditionOf(events.slice(0, 3), 'g1').since, at(2), 'down then up: up since the first up');
  // Unreachable is one streak whether a grading gave up at the deadline (no run) or was refused (the lab's run).
  const unreachable = (m: number, run: string | null) => grade(m, 'g1', [], { condition: 'unreachable', run });
  assert.equal(conditionOf([unreachable(1, null), unreachable(2, 'r1'), unreachable(3, null)], 'g1').since, at(1));
});

test("a group's board row: condition, last grading, failing checks named, its error; no challenge", () => {
  const nameCheck = (n: number) => ({ name: `check ${n}`, from: 'a0', to: 'a1' });
  const group = { name: 'g1', lab: 'vxlan@g1', target: 'simulated' as const };
  const events: RoomEvent[] = [grade(2, 'g1', [1]), grade(3, 'g1', [1, 3], { error: 'node-1: unreachable' })];
  assert.deepEqual(boardGroup(events, group, null, nameCheck), {
    name: 'g1',
    lab: 'vxlan@g1',
    target: 'simulated',
    condition: 'up',
    state: 'idle',
    since: at(2),
    'checked-at': at(3),
    challenge: null,
    failing: [
      { number: 1, name: 'check 1', from: 'a0', to: 'a1' },
      { number: 3, name: 'check 3', from: 'a0', to: 'a1' },
    ],
    error: 'node-1: unreachable',
  });
  const never = boardGroup([], group, null, nameCheck);
  assert.deepEqual(
    [never.condition, never['checked-at'], never.failing, 'error' in never],
    ['unknown', null, [], false],
  );
  const current = g1([round(0), start(1, 'g1'), grade(2, 'g1', [1])]);
  const row = boardGroup([grade(2, 'g1', [1])], group, current, nameCheck);
  assert.equal(row.challenge?.id, 'wrong-vni');
  assert.ok(
    row.challenge && !('run' in row.challenge) && !('fault' in row.challenge) && !('identity' in row.challenge),
  );
});

test("a start that failed: the group's challenge is not in its lab until a start (or reset) makes it", () => {
  const failed = (m: number, error: string, group = 'g1'): RoomEvent => ({
    t: at(m),
    e: 'start-failed',
    group,
    challenge: 'wrong-vni',
    error,
  });
  const group = { name: 'g1', lab: 'vxlan@g1', target: 'simulated' as const };
  const nameCheck = (n: number) => ({ name: `check ${n}` });
  // Logged, then its fault could not be made (room start logs the start first).
  const logged = [round(0), start(1, 'g1'), failed(1, 'node-1: the fault could not be made')];
  assert.equal(g1(logged)['not-started'], 'node-1: the fault could not be made');
  // A grading after it finds no record of that start (no `started`): it solves nothing.
  const graded = [...logged, grade(2, 'g1', [], { started: undefined })];
  assert.equal(boardGroup(graded, group, g1(graded), nameCheck).state, 'not-started');
  // Never logged (the lab was down when the round began).
  assert.equal(g1([round(0), failed(1, 'not up')])['not-started'], 'not up');
  // A reset that made it.
  const reset = [...logged, start(5, 'g1', 'r1', at(5))];
  assert.equal(g1(reset)['not-started'], null);
  // Its clock runs from the start that made it, as where the first start was refused before it was logged.
  assert.deepEqual([g1(reset, 30).started, g1(reset, 30).minutes], [at(5), 25]);
  assert.equal(g1([round(0), failed(1, 'not up'), start(5, 'g1', 'r1', at(5))], 30).minutes, 25);
  assert.equal(boardGroup(reset, group, g1(reset), nameCheck).state, 'unsolved');
  // Another group's failure is not g1's.
  assert.equal(g1([round(0), start(1, 'g1'), failed(1, 'x', 'g2')])['not-started'], null);
});

test("a group's state: solved stays solved whatever its lab does after; then the lab's condition, then the challenge", () => {
  const current = g1([round(0), start(1, 'g1'), grade(2, 'g1', [])]);
  assert.equal(current.solved, true);
  const state = (condition: LabCondition, challenge: GroupChallenge | null) => stateOf({ condition, challenge });
  for (const condition of ['down', 'unreachable', 'rebuilt', 'up'] as const)
    assert.equal(state(condition, current), 'solved', condition);
  const working = { ...current, solved: false };
  assert.deepEqual(
    (['down', 'unreachable', 'rebuilt', 'up', 'unknown'] as const).map((c) => state(c, working)),
    ['down', 'unreachable', 'rebuilt', 'unsolved', 'unsolved'],
  );
  assert.equal(state('unreachable', { ...working, 'not-started': 'e' }), 'unreachable');
  assert.equal(state('up', { ...working, 'not-started': 'e' }), 'not-started');
  assert.equal(state('up', null), 'idle');
  assert.equal(state('down', null), 'down');
});

test("the projector's board keeps a failed start's error (which may name where the fault was to land) in the terminal", () => {
  const group = { name: 'g1', lab: 'vxlan@g1', target: 'simulated' as const };
  const nameCheck = (n: number) => ({ name: `check ${n}` });
  const failed: RoomEvent = {
    t: at(1),
    e: 'start-failed',
    group: 'g1',
    challenge: 'wrong-vni',
    error: 'on node-1: iptables: Bad rule',
  };
  const row = (events: RoomEvent[]) => boardGroup(events, group, g1(events), nameCheck);
  const board = (rows: ReturnType<typeof row>[]) =>
    ({ version: BOARD_VERSION, room: 'r', lab: 'vxlan', at: at(2), current: null, groups: rows }) as Board;
  const shown = boardForProjector(board([row([round(0), failed]), row([round(0)]), row([round(0), start(1, 'g1')])]));
  assert.deepEqual(
    shown.groups.map((g) => g.challenge?.['not-started']),
    [START_FAILED_PUBLIC, NO_START, null],
  );
  assert.doesNotMatch(JSON.stringify(shown), /node-1/);
});

test("a group's row tells of its lab as it stands now: after room start, a reset or room down, the last challenge's gradings are not its failing checks", () => {
  const nameCheck = (n: number) => ({ name: `check ${n}` });
  const group = { name: 'g1', lab: 'vxlan@g1', target: 'simulated' as const };
  // As boardOf: the round's part of the group while a round runs, none once the room went down.
  const row = (events: RoomEvent[]) => {
    const range = roundsOf(events).at(-1);
    const ended = range && events.slice(range.to).some((e) => e.e === 'end');
    const current =
      range && !ended ? groupInRound(events, range, 'g1', facts, undefined, new Date(T0 + 30 * 60_000)) : null;
    const r = boardGroup(events, group, current, nameCheck);
    return [r.condition, r.failing.map((f) => f.number), r['checked-at']];
  };
  const all = (m: number, failing: number[]) => grade(m, 'g1', failing, { challenge: null, started: undefined });
  // Graded with no challenge on: check 4 failing. Then room start: until a grading of this start, nothing is known
  // of the challenge's goal checks (before: "up", failing 4, the last challenge's).
  const before: RoomEvent[] = [all(2, [4])];
  assert.deepEqual(row(before), ['up', [4], at(2)]);
  const started: RoomEvent[] = [...before, round(3), start(4, 'g1', 'r1', at(4))];
  assert.deepEqual(row(started), ['unknown', [], null]);
  // A grading that began before the start and was logged after it graded the lab before it.
  const late = [...started, all(5, [4])];
  assert.deepEqual(row(late), ['unknown', [], null]);
  const graded = [...late, grade(6, 'g1', [1, 2], { started: at(4) })];
  assert.deepEqual(row(graded), ['up', [1, 2], at(6)]);
  // Rebuilt by hand since the start: that grading tells of the lab now.
  assert.deepEqual(row([...late, grade(6, 'g1', [], { condition: 'rebuilt', run: 'r2' })]), ['rebuilt', [], at(6)]);
  // room reset: unknown again until a grading of the start that follows it.
  const reset: RoomEvent[] = [...graded, { t: at(7), e: 'reset', group: 'g1', challenge: 'wrong-vni' }];
  assert.deepEqual(row(reset), ['unknown', [], null]);
  assert.deepEqual(row([...reset, start(8, 'g1', 'r1', at(8)), grade(9, 'g1', [2], { started: at(8) })]), [
    'up',
    [2],
    at(9),
  ]);
  // room start on its way to the group (the round names it): its lab still has the last challenge's fault, and
  // its gradings of all the lab's checks say nothing of this one.
  const waiting: RoomEvent[] = [
    ...before,
    { t: at(3), e: 'round', challenge: 'wrong-vni', groups: ['g1'] },
    all(5, [4]),
  ];
  assert.deepEqual(row(waiting), ['unknown', [], null]);
  // A group the round made no challenge in (it joined later): its gradings of all the lab's checks count.
  assert.deepEqual(row([round(3), all(5, [3])]), ['up', [3], at(5)]);
  // A start logged, then failed (nothing made): the gradings after it tell of the lab as it is.
  const failed: RoomEvent[] = [
    ...started,
    { t: at(5), e: 'start-failed', group: 'g1', challenge: 'wrong-vni', error: 'node-1: refused' },
    grade(6, 'g1', [4], { started: undefined }),
  ];
  assert.deepEqual(row(failed), ['up', [4], at(6)]);
  // room down ends the round: what was graded before it tells of labs no longer up.
  assert.deepEqual(row([...graded, { t: at(10), e: 'end' }]), ['unknown', [], null]);
});
