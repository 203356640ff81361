// The room's grading log: one JSON line per event (a challenge started in a
// group, a grading of a group, a hint unlocked, a reset, the room down), appended and never
// rewritten. The scoreboard and the results are computed from it alone
// (room/score.ts), so a `room watch` killed with kill -9 and started again
// loses nothing and counts nothing twice: an event is either a whole line in
// the file or not there (a line cut short by the kill is skipped on reading).
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import type { LabCondition } from './board.js';

interface At {
  /** ISO time */
  t: string;
}

/** `room start`: a challenge began for the room (hints unlock by the schedule from here). */
export interface RoundEvent extends At {
  e: 'round';
  challenge: string;
  /** the challenge's title and number of hints as it began (the results keep them if the lab file drops it) */
  title?: string;
  hints?: number;
  /** the groups `room start` starts it in: one not started yet is being started, one not named joined later */
  groups?: string[];
}

/**
 * The challenge was made in one group's lab, in this run of it, with this
 * landing. Logged before the fault is made; `started` is the start's identity,
 * also in the group's challenge record: a grading counts for this start only
 * if it found that record (a grading that began before a start, or a start
 * killed before its record was written, never solves it).
 */
export interface StartEvent extends At {
  e: 'start';
  group: string;
  challenge: string;
  run: string;
  fault: string;
  started: string;
}

/** The challenge could not be made in a group (its lab down, its machines unreachable). */
export interface StartFailedEvent extends At {
  e: 'start-failed';
  group: string;
  challenge: string;
  error: string;
}

/** One grading of a group: its condition, and the numbers of the goal checks that failed. */
export interface GradeEvent extends At {
  e: 'grade';
  group: string;
  /** the challenge graded (null: none running; all the lab's checks were run) */
  challenge: string | null;
  run: string | null;
  condition: Exclude<LabCondition, 'unknown'>;
  failing: number[];
  /** the start (its `started`) whose record the grading found, before and after its checks */
  started?: string;
  /**
   * when its checks began (a grading is logged when they end): two graders at once (room serve and a room
   * status) log a slow grading after a quicker one begun later, and attempts take them in the order they began
   */
  began?: string;
  /** the fault was revealed to the group's controller (`netlab challenge reveal`) */
  revealed?: boolean;
  /** hints the learners had read, where the controller can know it */
  read?: number;
  error?: string;
}

/** `room hint`: one more hint for a group (or, without a group, for every group). */
export interface HintEvent extends At {
  e: 'hint';
  challenge: string;
  group: string | null;
}

/** `room reset`: the group's lab rebuilt by the room; a start event follows when its challenge is made again. */
export interface ResetEvent extends At {
  e: 'reset';
  group: string;
  challenge: string | null;
}

/** `room down`: the room's labs went down; the round running ends here (its clocks and hints stop). */
export interface EndEvent extends At {
  e: 'end';
}

export type RoomEvent = RoundEvent | StartEvent | StartFailedEvent | GradeEvent | HintEvent | ResetEvent | EndEvent;

/** Distributes Omit over the union: an event without its time. */
export type NewEvent = RoomEvent extends infer E ? (E extends RoomEvent ? Omit<E, 't'> : never) : never;

/**
 * Appends events, each as one line written by one write(2) on a file opened
 * with O_APPEND: lines of two netlabs appending at once do not interleave.
 */
export function appendEvents(file: string, events: readonly NewEvent[], now = new Date()): void {
  if (events.length === 0) return;
  const text = events.map((e) => `${JSON.stringify({ t: now.toISOString(), ...e })}\n`).join('');
  const fd = openSync(file, 'a+', 0o600);
  try {
    // A line cut short (a full disk, a kill mid-write) is ended first, so that it spoils only itself.
    const size = fstatSync(fd).size;
    const last = Buffer.alloc(1);
    const cut = size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    writeSync(fd, cut ? `\n${text}` : text);
  } finally {
    closeSync(fd);
  }
}

/** The events of a log, in order; a line that is not a whole event (cut by a kill) is skipped. */
export function readEvents(file: string): RoomEvent[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const events: RoomEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const event = JSON.parse(line) as RoomEvent;
      if (typeof event.e === 'string' && typeof event.t === 'string') events.push(event);
    } catch {
      // a line cut short: not an event
    }
  }
  return events;
}
