// Grading is pulled, never trusted: the room's controller runs each group's
// goal checks itself (over SSH for machines), and a learner's own `challenge
// check` is only advice to the learner. Each grading is appended to the room's
// log as it finishes; the board is computed from the log (room/score.ts).
import { changeChallenge, readChallenge, stillSettling, type ChallengeRecord } from '../state/challenges.js';
import { readState, type LabState } from '../state/store.js';
import { verifyLab } from '../lifecycle/verify.js';
import { recordChallengeOnNodes } from '../lifecycle/attach.js';
import { nodesMatchHere } from '../lifecycle/challenge.js';
import type { Model } from '../model/lab.js';
import { describeCheck } from '../verify/run.js';
import type { Board, BoardGroup } from './board.js';
import { BOARD_VERSION } from './board.js';
import type { Room } from './file.js';
import { groupLabId, isRoomLab } from './groups.js';
import { appendEvents, readEvents, type GradeEvent, type NewEvent, type RoomEvent, type RoundEvent } from './log.js';
import { boardGroup, endOf, groupInRound, roundsOf, type ChallengeFacts, type CheckNamer } from './score.js';
import { roomLog } from './state.js';
import { escapeControls, RunError } from '../errors.js';
import { transportsOf } from '../exec/transports.js';
import { endSessionsWith } from '../exec/ssh.js';
import type { SshTargetState } from '../state/targets.js';

/** A grading's checks get this long in all (seconds): a broken lab must not hold the round up. */
export const GRADE_TIMEOUT = 30;

/** A group's grading gets this long (seconds) before it counts as unreachable: the checks' time and the logins'. */
export const GROUP_DEADLINE = GRADE_TIMEOUT + 20;

/** How a grading round goes: groups graded at once, and the seconds each gets (room --parallel, --timeout). */
export interface Grading {
  parallel: number;
  deadline: number;
}

/** The promise's value, or `late` once `ms` have passed (the work goes on, unwaited). */
async function withDeadline<T>(work: Promise<T>, ms: number, late: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `work` on each item with at most `limit` at once; results in the items' order. */
export async function bounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/**
 * A round's challenge as it was built: its title and number of hints as the round event kept them, the lab
 * file's challenge (if it still has it) for a log written before the event kept them.
 */
export function roundFacts(
  round: RoundEvent,
  challenge: { title: string; hints: readonly unknown[] } | undefined,
): ChallengeFacts {
  return {
    title: round.title ?? challenge?.title ?? round.challenge,
    hints: round.hints ?? challenge?.hints.length ?? 0,
  };
}

/** A round of the log: its challenge, its schedule, and per group its challenge in it, at `now`. */
export function roundOf(
  room: Room,
  model: Model,
  events: readonly RoomEvent[],
  range: ReturnType<typeof roundsOf>[number],
  now: Date,
) {
  const challenge = model.challenges?.find((c) => c.id === range.round.challenge);
  if (!challenge) return undefined;
  const facts = roundFacts(range.round, challenge);
  return {
    range,
    challenge,
    ...groupsInRound(
      room,
      events,
      range,
      facts,
      room.groups.map((g) => g.name),
      now,
    ),
  };
}

/** Each of `groups`' part in a round, with the room's schedule of its challenge. */
export function groupsInRound(
  room: Room,
  events: readonly RoomEvent[],
  range: ReturnType<typeof roundsOf>[number],
  facts: ChallengeFacts,
  groups: readonly string[],
  now: Date,
) {
  const schedule = room.schedule.find((s) => s.challenge === range.round.challenge);
  return {
    schedule,
    groups: new Map(groups.map((g) => [g, groupInRound(events, range, g, facts, schedule, now)] as const)),
  };
}

/** The room's current round (the log's last, unless the room went down since) and, per group, its challenge in it. */
export function currentRound(room: Room, model: Model, events: readonly RoomEvent[], now = new Date()) {
  const range = roundsOf(events).at(-1);
  return range && !endOf(events, range) ? roundOf(room, model, events, range, now) : undefined;
}

type Current = ReturnType<typeof currentRound>;

/** Grades one group: its lab's condition and the goal checks (all checks without a challenge) that fail. */
export async function gradeGroup(
  room: Room,
  group: string,
  current: Current,
  /** aborted: the checks stop (verifyLab), and the grading is none */
  stop?: AbortSignal,
  /** the checks' own timeout (seconds) */
  checksTimeout = GRADE_TIMEOUT,
): Promise<Omit<GradeEvent, 't'>> {
  const lab = groupLabId(room, group);
  const mine = current?.groups.get(group);
  const challenge = mine?.run ? current!.challenge : undefined;
  const base = { e: 'grade' as const, group, challenge: challenge?.id ?? null };
  const down = (error: string) => ({ ...base, run: null, condition: 'down' as const, failing: [], error });
  let state: LabState | undefined;
  try {
    state = readState(lab);
  } catch (error) {
    return down((error as Error).message);
  }
  if (!state || state.status !== 'up') return down(state ? `left ${state.status}` : 'not up');
  if (!isRoomLab(room, group, state)) return down(`up from ${state.file}, not from the room's copy of the lab`);
  const run = state.run?.id ?? '';
  // Rebuilt by hand (down and up): a new lab has no fault to find, and that is not a fix.
  if (challenge && mine?.run !== run) return { ...base, run, condition: 'rebuilt', failing: [] };
  const before = challenge ? readChallenge(lab) : undefined;
  try {
    await answering(state);
    await pushHints(state, before, mine?.identity ?? null, mine?.hints ?? 0);
    // The goal as the lab was built (the lab file may have changed since): verifyLab numbers the built lab's checks.
    const goal = (state.model.challenges?.find((c) => c.id === challenge?.id) ?? challenge)?.goal;
    // As the checks begin, after the login and the hints' rounds (a grading that pushes a hint spends longer there).
    const began = new Date().toISOString();
    const results = await verifyLab(state, {
      ...(goal ? { check: goal.map(String) } : {}),
      timeout: String(checksTimeout),
      ...(stop ? { stop } : {}),
    });
    // The start this grading is of: the record it found before its checks, still there after them,
    // of the challenge whose goal it checked (a `room start` may have begun another since the round was read).
    const after = challenge ? readChallenge(lab) : undefined;
    const ofThis = (r: ChallengeRecord | undefined): r is ChallengeRecord => r !== undefined && r.id === challenge?.id;
    // (a start whose pods had not yet forgotten what they learned before its fault as the checks began: they may
    // have found it hidden, and solved it at once)
    const found =
      ofThis(before) && !stillSettling(before, Date.parse(began)) && ofThis(after) && before.started === after.started
        ? after
        : undefined;
    return {
      ...base,
      run,
      condition: 'up',
      failing: results.filter((r) => !r.ok).map((r) => r.number!),
      began,
      // What the learners did with that start's record (a record of the last challenge, a room start under way,
      // says nothing of this one).
      ...(found
        ? {
            started: found.started,
            ...(found.revealed ? { revealed: true } : {}),
            ...(found.read !== undefined ? { read: found.read } : {}),
          }
        : {}),
    };
  } catch (error) {
    return {
      ...base,
      run,
      condition: 'unreachable',
      failing: [],
      error: escapeControls((error as Error).message, true),
    };
  }
}

/** Every node of the lab answers (a machine stopped, or its sshd refusing, is unreachable, not failing). */
async function answering(state: LabState): Promise<void> {
  const transports = Object.values(transportsOf(state));
  const results = await Promise.all(transports.map((t) => t.run('true\n')));
  const silent = results.findIndex((r) => r.exitCode !== 0);
  if (silent >= 0)
    throw new RunError(
      `${transports[silent]!.node}: ${results[silent]!.stderr.trim().split('\n').at(-1) || `exit ${results[silent]!.exitCode}`}`,
    );
}

/**
 * The hints the room has unlocked for a group, put in its challenge's record
 * here and on its nodes, where its learners read them (`netlab challenge
 * hint`, attached or not): by each grading round (the schedule unlocks them by
 * time) and by `room hint`. Only into the record of the start the room knows:
 * one that another room command replaced meanwhile is left to it.
 */
export async function pushHints(
  state: LabState,
  record: ChallengeRecord | undefined,
  identity: string | null,
  unlocked: number,
): Promise<boolean> {
  if (!record?.room || record.run !== state.run?.id || record.started !== identity) return false;
  if (record.hints < unlocked) {
    // The nodes first: a node that does not take them (a machine stopped) fails this, the record here
    // keeps the hints it had, and the next grading round puts them there again.
    // Here, only if it still is the record of that start: a room start or reset meanwhile keeps its own,
    // and the nodes get that one back.
    const pushed = { ...record, hints: unlocked };
    await recordChallengeOnNodes(state, pushed);
    changeChallenge(record, (current) => ({ ...current, hints: Math.max(current.hints, unlocked) }));
    await nodesMatchHere(state, pushed);
  }
  return true;
}

/**
 * One grading round: every group graded, at most `parallel` at once, each logged as it finishes; none once `stop`
 * is aborted. A group that gives no answer by the deadline is unreachable, and its sessions with its machines end:
 * a shell stuck there (stopped by a learner, or behind a command that hangs) would hold every later round's
 * grading of the group behind it, and a stale grading that ran once it came back would be taken for this one.
 */
export async function gradeRoom(
  room: Room,
  model: Model,
  { parallel, deadline }: Grading,
  stop?: AbortSignal,
): Promise<void> {
  const current = currentRound(room, model, readEvents(roomLog(room.name)));
  // Each grading's own stop: the room's (one listener for them all), or its deadline.
  const running = new Set<AbortController>();
  const stopAll = () => running.forEach((own) => own.abort());
  stop?.addEventListener('abort', stopAll);
  try {
    await bounded(room.groups, parallel, async (g) => {
      if (stop?.aborted) return;
      const event = await gradeInTime(room, g.name, current, deadline, running);
      // A grading the stop cut short is none: its checks were stopped, or killed with netlab's process group (a
      // Ctrl-C at the terminal reaches the simulated nodes' scripts too), and would count as attempts that failed.
      if (stop?.aborted) return;
      appendEvents(roomLog(room.name), [event as NewEvent]);
    });
  } finally {
    stop?.removeEventListener('abort', stopAll);
  }
}

/**
 * A group's grading, or unreachable at the deadline: its checks then stop, and its sessions with its machines
 * end (letGoOfMachines). Its checks get the checks' timeout, or the deadline where that is shorter.
 */
async function gradeInTime(
  room: Room,
  group: string,
  current: Current,
  deadline: number,
  running: Set<AbortController>,
): Promise<Omit<GradeEvent, 't'>> {
  const late: Omit<GradeEvent, 't'> = {
    e: 'grade',
    group,
    challenge: current?.groups.get(group)?.run ? current.challenge.id : null,
    run: null,
    condition: 'unreachable',
    failing: [],
    error: `no answer in ${deadline} s`,
  };
  // The machines the grading talks to, as it begins (a lab built again meanwhile has other sessions).
  const target = targetOf(room, group);
  const own = new AbortController();
  running.add(own);
  try {
    const work = gradeGroup(room, group, current, own.signal, Math.min(GRADE_TIMEOUT, deadline));
    const event = await withDeadline(work, deadline * 1000, late);
    if (event === late) {
      own.abort();
      if (target) letGoOfMachines(target);
    }
    return event;
  } finally {
    running.delete(own);
  }
}

/** The machines of a group's lab over SSH, from its state; none on simulated nodes, or where it has no state. */
function targetOf(room: Room, group: string): SshTargetState | undefined {
  try {
    const target = readState(groupLabId(room, group))?.target;
    return target?.kind === 'ssh' ? target : undefined;
  } catch {
    return undefined; // unreadable: its grading says so, and opens no session
  }
}

/** A grading past its deadline: this process's sessions with its machines end; the next round logs in anew. */
function letGoOfMachines(target: SshTargetState): void {
  try {
    endSessionsWith(target);
  } catch {
    // (its SSH arguments unusable now: the next grading says why)
  }
}

/** What the board says of a failing check: its words, and its two ends for the page's graph. */
export function checkNamer(model: Model): CheckNamer {
  return (number) => {
    const check = model.checks[number - 1];
    if (!check) return { name: `check ${number}` };
    const to =
      'to' in check && check.to && typeof check.to === 'object' && 'pod' in check.to ? check.to.pod : undefined;
    const from = 'pod' in check.from ? check.from.pod : undefined;
    return { name: describeCheck(check), ...(from ? { from } : {}), ...(to ? { to } : {}) };
  };
}

/**
 * The board, from the log; a failing check's name from the group's lab as it was built (`built`: its state's
 * model, which numbered the checks a grading logs), or from the room's lab file where it is not up.
 */
export function boardOf(
  room: Room,
  model: Model,
  events: readonly RoomEvent[],
  now = new Date(),
  built: (group: string) => Model | undefined = (group) => builtModel(room, group),
): Board {
  const current = currentRound(room, model, events, now);
  const namer = checkNamer(model);
  const groups: BoardGroup[] = room.groups.map((g) => {
    const own = built(g.name);
    return boardGroup(
      events,
      { name: g.name, lab: groupLabId(room, g.name), target: g.target.kind === 'simulated' ? 'simulated' : 'ssh' },
      current?.groups.get(g.name) ?? null,
      own ? checkNamer(own) : namer,
    );
  });
  return {
    version: BOARD_VERSION,
    room: room.name,
    lab: room.labName,
    at: now.toISOString(),
    current: current
      ? {
          challenge: current.challenge.id,
          title: current.challenge.title,
          started: current.range.round.t,
          minutes: current.schedule?.minutes ?? null,
          hints: current.challenge.hints.length,
        }
      : null,
    groups,
  };
}

/** A group's lab as it was built, if it is up and readable (boardOf names its failing checks from it). */
export function builtModel(room: Room, group: string): Model | undefined {
  try {
    return readState(groupLabId(room, group))?.model;
  } catch {
    return undefined; // unreadable: said by its grading
  }
}
