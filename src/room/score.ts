// The scoreboard and the results, computed from the grading log alone (pure):
// the same log gives the same board, however often a watcher was killed and
// started again. A round is one `room start`: its events run until the next
// round's. In a round, each group's challenge began at its last start event
// (a reset starts it again); it is solved at the first grading of that run
// whose goal checks all passed, and stays solved.
import { NO_START, stateOf, type BoardGroup, type GroupChallenge, type LabCondition } from './board.js';
import type { GradeEvent, RoomEvent, RoundEvent, StartEvent } from './log.js';
import type { ScheduledChallenge } from './file.js';

const MINUTE = 60_000;

/** The rounds of a log: each round event with the index range of its events. */
export function roundsOf(events: readonly RoomEvent[]): { round: RoundEvent; from: number; to: number }[] {
  // A round ends at the next one, or at `room down` (an end event).
  const bounds = events.flatMap((e, i) => (e.e === 'round' || e.e === 'end' ? [i] : []));
  return bounds.flatMap((from, k) =>
    events[from]!.e === 'round'
      ? [{ round: events[from] as RoundEvent, from, to: bounds[k + 1] ?? events.length }]
      : [],
  );
}

/**
 * The challenges that have run: made in some group in a round, where the group's last try is a start (one whose
 * every group's last try failed has not run: a start is logged as its fault is made, and a fault not made then
 * logs its failure after it).
 */
export function challengesRun(events: readonly RoomEvent[]): Set<string> {
  return new Set(
    roundsOf(events)
      .filter((r) => {
        const lastTry = new Map<string, string>();
        for (const e of events.slice(r.from, r.to))
          if (e.e === 'start' || e.e === 'start-failed') lastTry.set(e.group, e.e);
        return [...lastTry.values()].includes('start');
      })
      .map((r) => r.round.challenge),
  );
}

/** Whether a round has ended (another began, or the room went down): its clocks stopped then. */
export function endOf(events: readonly RoomEvent[], range: { to: number }): Date | undefined {
  return range.to < events.length ? new Date(events[range.to]!.t) : undefined;
}

/** Hints unlocked for a group: the schedule's by the time elapsed, plus one per `room hint`, up to the challenge's. */
export function hintsUnlocked(
  scheduled: readonly number[],
  total: number,
  minutesSinceRound: number,
  manual: number,
): number {
  const byTime = scheduled.filter((m) => m <= minutesSinceRound).length;
  return Math.min(total, byTime + manual);
}

export interface ChallengeFacts {
  title: string;
  /** the number of hints the challenge has */
  hints: number;
}

/** A group's part in one round: its challenge as the log tells it. */
export function groupInRound(
  events: readonly RoomEvent[],
  range: { round: RoundEvent; from: number; to: number },
  group: string,
  facts: ChallengeFacts,
  schedule: ScheduledChallenge | undefined,
  now: Date,
): GroupChallenge & { run: string | null; fault: string | null; identity: string | null } {
  const { round } = range;
  const mine = events
    .slice(range.from, range.to)
    .filter((e) => 'group' in e && (e.group === group || (e.e === 'hint' && e.group === null)));
  const starts = mine.filter((e): e is StartEvent => e.e === 'start');
  const start = starts.at(-1);
  // Gradings of a start: of its run, of its record and with its challenge's goal checks (a grading that
  // began before it, with the last round's challenge, may find its record: it does not count).
  const gradesOf = (s: StartEvent) =>
    mine.slice(mine.indexOf(s) + 1).filter((e): e is GradeEvent => e.e === 'grade' && isGradingOf(e, s));
  // (each start's, once: the solve, the attempts, the hints read and the reveal read them)
  const gradesOfStarts = starts.map(gradesOf);
  const grades = gradesOfStarts.at(-1) ?? [];
  const solvedBy = grades.find((g) => g.failing.length === 0);
  // An attempt is a change the grader could see: the set of failing checks differs from the grading
  // before, in the order the gradings began (GradeEvent.began). Counted over every start of the round (a reset
  // does not wipe them), the solve included.
  const changes = (list: readonly GradeEvent[]) =>
    list.filter((g, i) => i > 0 && g.failing.join() !== list[i - 1]!.failing.join()).length;
  const byBegin = (logged: GradeEvent[]) =>
    [...logged].sort((a, b) => Date.parse(a.began ?? a.t) - Date.parse(b.began ?? b.t));
  const attempts = gradesOfStarts.reduce((n, logged) => n + changes(upToSolve(byBegin(logged))), 0);
  const closed = +(endOf(events, range) ?? now);
  const end = solvedBy ? Date.parse(solvedBy.t) : closed;
  // The clock runs from the group's first start in the round that made the challenge: a reset does not restart
  // it, and a start that failed (logged, then its failure) no more starts it than one refused before it was logged.
  const made = starts.find(
    (s) => mine.slice(mine.indexOf(s) + 1).find((e) => e.e === 'start' || e.e === 'start-failed')?.e !== 'start-failed',
  );
  const begun = Date.parse((made ?? round).t);
  // Its learners' reading of the hints and a reveal, as gradings of the round's starts found them in their records
  // (a reset's new record has read none yet: the last reading before it stands).
  const readings = gradesOfStarts.flat().filter((g) => g.read !== undefined);
  // The group's last try at making the challenge: a start logged and then failed logs both, in that order.
  const lastTry = mine.filter((e) => e.e === 'start' || e.e === 'start-failed').at(-1);
  return {
    id: round.challenge,
    title: facts.title,
    started: (made ?? round).t,
    solved: solvedBy !== undefined,
    'solved-at': solvedBy?.t ?? null,
    minutes: Number(((end - begun) / MINUTE).toFixed(1)),
    // Hints stop unlocking when the group solves, as its clock does.
    hints: hintsUnlocked(
      schedule?.hints ?? [],
      facts.hints,
      (end - Date.parse(round.t)) / MINUTE,
      mine.filter((e) => e.e === 'hint' && Date.parse(e.t) <= end).length,
    ),
    'hints-read': readings.at(-1)?.read ?? null,
    resets: mine.filter((e) => e.e === 'reset').length,
    attempts,
    // A solve after `challenge reveal`: a reveal up to the solve the board counts, the last start's (the grading
    // that found it solved read the record then), in any start before it; one after it, the answer looked at once
    // solved, changes nothing of how the group solved it.
    revealed: gradesOfStarts.some((logged, i) =>
      (i === gradesOfStarts.length - 1 ? upToSolve(logged) : logged).some((g) => g.revealed === true),
    ),
    'not-started':
      lastTry === undefined
        ? round.groups?.includes(group)
          ? null // room start is still on its way to it
          : NO_START
        : lastTry.e === 'start-failed'
          ? lastTry.error
          : null,
    run: start?.run ?? null,
    fault: start?.fault ?? null,
    identity: start?.started ?? null,
  };
}

/**
 * Whether the group's lab passed this start's goal at its last grading: solved (as the board counts a solve,
 * groupInRound), and not broken again since, as far as the room has seen.
 */
export function passedAtLastGrading(
  events: readonly RoomEvent[],
  group: string,
  start: Pick<StartEvent, 'run' | 'started' | 'challenge'>,
): boolean {
  const last = events
    .filter((e): e is GradeEvent => e.e === 'grade' && e.group === group && isGradingOf(e, start))
    .at(-1);
  return last !== undefined && last.failing.length === 0;
}

/** A start's gradings up to its solve (the first that found every goal check passing), in the order given. */
function upToSolve(logged: readonly GradeEvent[]): readonly GradeEvent[] {
  const solve = logged.findIndex((g) => g.failing.length === 0);
  return solve >= 0 ? logged.slice(0, solve + 1) : logged;
}

/** A grading that found a start's challenge in the group's lab: of its run, its record and its challenge. */
function isGradingOf(grade: GradeEvent, start: Pick<StartEvent, 'run' | 'started' | 'challenge'>): boolean {
  return (
    grade.condition === 'up' &&
    grade.run === start.run &&
    grade.started === start.started &&
    grade.challenge === start.challenge
  );
}

/**
 * What a group's board row stands on now, in a round: the challenge is in its lab (`made`: the start of `run`
 * and `identity`), `room start` is on its way to it (`waiting`: its lab still has the last challenge's fault),
 * or the round made none there (`none`: it joined later, or its start failed and changed nothing).
 */
export type Standing =
  { challenge: string; made: 'made'; run: string; identity: string } | { challenge: string; made: 'waiting' | 'none' };

/** A group's standing from its part in the round (groupInRound). */
export function standingOf(current: ReturnType<typeof groupInRound>): Standing {
  const { id: challenge, run, identity } = current;
  if (current['not-started'] !== null) return { challenge, made: 'none' };
  if (run === null || identity === null) return { challenge, made: 'waiting' };
  return { challenge, made: 'made', run, identity };
}

/**
 * Whether a grading (the `index`th event) tells of the group's lab as it stands now. One logged before the
 * room's last round, end, or the group's last start or reset tells of the lab before them. In a round, one that
 * found the lab up must also be of the start that made the challenge in it (not one that began before the start
 * and ended after); none does while `room start` is on its way to the group; any does where the round made none.
 */
function gradesNow(
  events: readonly RoomEvent[],
  group: string,
  standing: Standing | null,
): (grade: GradeEvent, index: number) => boolean {
  let from = -1;
  events.forEach((e, i) => {
    if (e.e === 'round' || e.e === 'end' || ((e.e === 'start' || e.e === 'reset') && e.group === group)) from = i;
  });
  return (grade, index) => {
    if (index < from) return false;
    if (!standing || grade.condition !== 'up' || standing.made === 'none') return true;
    return standing.made === 'made' && isGradingOf(grade, { ...standing, started: standing.identity });
  };
}

/**
 * A group's condition from its gradings: the last one's that tells of the lab as it stands now (gradesNow),
 * since the first of the streak that ends with it; 'unknown' (and no grading) until there is one.
 */
export function conditionOf(
  events: readonly RoomEvent[],
  group: string,
  standing: Standing | null = null,
): { condition: LabCondition; since: string | null; last: GradeEvent | undefined } {
  const now = gradesNow(events, group, standing);
  const indexed = events.flatMap((e, i) => (e.e === 'grade' && e.group === group ? [{ grade: e, i }] : []));
  let lastNow = indexed.length - 1;
  while (lastNow >= 0 && !now(indexed[lastNow]!.grade, indexed[lastNow]!.i)) lastNow--;
  const grades = indexed.slice(0, lastNow + 1).map(({ grade }) => grade);
  const last = grades.at(-1);
  if (!last) return { condition: 'unknown', since: null, last };
  // A lab up (or rebuilt) since is another streak when its run changed; unreachable and down are one streak
  // whatever run each grading names (one that gave up at the deadline names none, one refused names the lab's).
  const sameRun = last.condition === 'up' || last.condition === 'rebuilt';
  let first = grades.length - 1;
  while (
    first > 0 &&
    grades[first - 1]!.condition === last.condition &&
    (!sameRun || grades[first - 1]!.run === last.run)
  )
    first--;
  return { condition: last.condition, since: grades[first]!.t, last };
}

/** The failing checks' numbers as the board shows them, with their names and ends. */
export type CheckNamer = (number: number) => Pick<BoardGroup['failing'][number], 'name' | 'from' | 'to'>;

/** A group's row of the board. */
export function boardGroup(
  events: readonly RoomEvent[],
  group: { name: string; lab: string; target: BoardGroup['target'] },
  current: ReturnType<typeof groupInRound> | null,
  nameCheck: CheckNamer,
): BoardGroup {
  const { condition, since, last } = conditionOf(events, group.name, current && standingOf(current));
  const {
    run: _run,
    fault: _fault,
    identity: _identity,
    ...challenge
  } = current ?? {
    run: null,
    fault: null,
    identity: null,
  };
  const shown = current ? (challenge as GroupChallenge) : null;
  return {
    name: group.name,
    lab: group.lab,
    target: group.target,
    condition,
    state: stateOf({ condition, challenge: shown }),
    since,
    'checked-at': last?.t ?? null,
    challenge: shown,
    failing: (last?.failing ?? []).map((number) => ({ number, ...nameCheck(number) })),
    ...(last?.error ? { error: last.error } : {}),
  };
}
