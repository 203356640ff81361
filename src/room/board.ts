// The scoreboard's shape, as `room status --json`, `room watch` and the web
// page (`room serve`) show it. Computed from the room's grading log
// (room/score.ts); nothing here says where a fault is or how to mend it.

export const BOARD_VERSION = 1;

/** A group's lab as the last grading found it. */
export type LabCondition =
  /** up, and the run the challenge was started on (or no challenge) */
  | 'up'
  /** not up on the room controller (no state): taken down */
  | 'down'
  /** its nodes did not answer (a VM stopped, SSH refused) */
  | 'unreachable'
  /** up, but another run than the one the challenge started on: rebuilt by hand, which is not a fix */
  | 'rebuilt'
  /** never graded yet */
  | 'unknown';

export interface FailingCheck {
  /** the check's number, as `netlab verify` lists them */
  number: number;
  /** the check in words: "ping a0 → a1" */
  name: string;
  /** the pods (or nodes) at its two ends, for the page's graph */
  from?: string;
  to?: string;
}

export interface GroupChallenge {
  id: string;
  title: string;
  /** the group's first start in this round (a reset does not restart the clock) */
  started: string;
  solved: boolean;
  /** ISO time of the first grading that found every goal check passing */
  'solved-at': string | null;
  /** minutes from start to solved (or to now, while unsolved) */
  minutes: number;
  /** hints unlocked for this group (by the schedule and by `room hint`) */
  hints: number;
  /** hints the group's learners have read (`netlab challenge hint` on their attached lab), when known */
  'hints-read': number | null;
  /** times `room reset` rebuilt this group's lab during this challenge */
  resets: number;
  /** gradings whose failing checks differed from the one before: what the learners changed, seen from outside */
  attempts: number;
  /** the fault was revealed (`netlab challenge reveal` on the group's lab): solved with the answer */
  revealed: boolean;
  /**
   * why the challenge is not in the group's lab: its last start in this round
   * failed (the error), or the round never started it (NO_START: the group
   * joined later); null once a start or `room reset` made it, and while
   * `room start` is on its way to the group
   */
  'not-started': string | null;
}

/** A group's state in one word: the terminal's row and the page's data-state alike. */
export type GroupState = 'solved' | 'unsolved' | 'not-started' | 'unreachable' | 'down' | 'rebuilt' | 'idle';

/**
 * A group's state from its condition and challenge. A solved challenge stays
 * solved whatever its lab does after (the group's work is done); otherwise a
 * lab that cannot be graded says so before the challenge does.
 */
export function stateOf(group: Pick<BoardGroup, 'condition' | 'challenge'>): GroupState {
  const c = group.challenge;
  if (c?.solved) return 'solved';
  if (group.condition === 'unreachable' || group.condition === 'down' || group.condition === 'rebuilt')
    return group.condition;
  if (!c) return 'idle';
  return c['not-started'] !== null ? 'not-started' : 'unsolved';
}

export interface BoardGroup {
  name: string;
  /** the lab id on the room's controller: vxlan@g2 */
  lab: string;
  target: 'simulated' | 'ssh';
  condition: LabCondition;
  /** what the board shows of the group in one word (stateOf) */
  state: GroupState;
  /** ISO time since when the condition holds (unreachable since, rebuilt since…) */
  since: string | null;
  /** ISO time of the last grading */
  'checked-at': string | null;
  challenge: GroupChallenge | null;
  /** the goal checks failing at the last grading (all the lab's checks when no challenge is on) */
  failing: FailingCheck[];
  /** why the last grading could not run the checks (unreachable, down) */
  error?: string;
}

export interface Board {
  version: typeof BOARD_VERSION;
  room: string;
  lab: string;
  /** ISO time the board was computed */
  at: string;
  /** the challenge running now, with its schedule */
  current: {
    challenge: string;
    title: string;
    started: string;
    /** minutes it is given by the schedule (null: started by name, off the schedule) */
    minutes: number | null;
    /** hints of the challenge in all */
    hints: number;
  } | null;
  groups: BoardGroup[];
}

/** A group's detail for the page: its lab's graph (workshop/graph.ts graphData) and its failing checks. */
export interface GroupDetail {
  version: typeof BOARD_VERSION;
  room: string;
  group: BoardGroup;
  /** graphData of the group's lab: underlay, nodes with boxes, edges */
  graph: unknown;
}

/** Why a group with no start in its round has no challenge: it joined later, or the start stopped before it. */
export const NO_START =
  'no start in this round: the group was not in the room when the round began, or the start stopped before it';

/** What the projector's board says of a start that failed: not its error, which may name the node it was to land on. */
export const START_FAILED_PUBLIC = "its start failed: `netlab room status` in the room's terminal says why";

/**
 * The board as the web page serves it, to a room that may read its JSON: a failed start's error (which may
 * name where the fault was to land, and so where another group's is) stays in the instructor's terminal.
 */
export function boardForProjector(board: Board): Board {
  return {
    ...board,
    groups: board.groups.map((g) =>
      g.challenge && g.challenge['not-started'] !== null && g.challenge['not-started'] !== NO_START
        ? { ...g, challenge: { ...g.challenge, 'not-started': START_FAILED_PUBLIC } }
        : g,
    ),
  };
}
