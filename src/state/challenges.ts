// The challenge a learner is working on, per lab: which one, since when, for
// which run of the lab, and how many hints were given. Kept beside the labs'
// state but not in it: `down` removes a lab's state, and a challenge "solved"
// by taking the lab down and up again must be noticed, not forgotten.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { checkedLabName } from '../node/paths.js';
import { acquireLock } from './lock.js';
import { judgedStateDirPath, makeStateSubdir, type LabState, writeFileAtomic } from './store.js';

export interface ChallengeRecord {
  lab: string;
  id: string;
  /** the run of the lab the fault was made in: another run is the lab rebuilt */
  run: string;
  started: string;
  /** hints given so far */
  hints: number;
  revealed: boolean;
  /** the seed a random choice was made with (--random) */
  seed?: number;
  /** what making the fault changed on its node and in its pods (`+ route …`, `a0: link eth0 UP → DOWN`), shown by reveal */
  changed?: string[];
  /** the value the node-wide setting a fault changes had before it (FORWARD's policy, a sysctl): reveal's mend gives it back */
  settingWas?: string;
  /** the fault made, when a room landed it elsewhere than the challenge's own (room/landing.ts) */
  fault?: string;
  /** the room that started it: the room grades it and unlocks its hints; the lab's own `check` is advice */
  room?: string;
  /** hints read with `netlab challenge hint` on a room's lab (the room counts them) */
  read?: number;
  /**
   * its fault mended by a `down` that did not finish (an undo failed on a node, the state kept): the next `down`,
   * or a `challenge stop`, does not mend it again, which would make its lab objects anew where that down had
   * removed them (a vxlan0 for nobody, left on the machine)
   */
  mended?: boolean;
  /**
   * since when its fault is made and recorded, the pods not yet made to forget the paths they learned before it
   * (forgetLearnedPaths): a room's grading whose checks begin meanwhile may find the fault hidden by what the pods
   * still remember (a neighbour, a path's MTU), and it does not count. Taken off once they have forgotten; a start
   * killed meanwhile leaves it, and it holds for SETTLING_MS at most.
   */
  settling?: string;
}

/** How long a record's `settling` holds at most: forgetting takes seconds on a lab of many pods over SSH. */
export const SETTLING_MS = 60_000;

/** Whether a start's pods may still remember paths from before its fault (ChallengeRecord.settling), at `now`. */
export function stillSettling(record: Pick<ChallengeRecord, 'settling'>, now = Date.now()): boolean {
  return record.settling !== undefined && now - Date.parse(record.settling) < SETTLING_MS;
}

/** The fault a challenge's record says was made: its landing, or the challenge's own. */
export function faultIdOf(record: Pick<ChallengeRecord, 'fault'>, challenge: { fault: string }): string {
  return record.fault ?? challenge.fault;
}

/** Where the records are: in the state directory, beside the labs' state. */
export function challengesDir(): string {
  return join(judgedStateDirPath(), 'challenges');
}

function recordFile(lab: string): string {
  return join(challengesDir(), `${checkedLabName(lab)}.json`);
}

export function readChallenge(lab: string): ChallengeRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordFile(lab), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const record = JSON.parse(text) as ChallengeRecord;
    return record.lab === lab && typeof record.id === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The challenge started in this run of a lab that is up. A record of another
 * run is a challenge the lab was rebuilt under: its fault is gone with it.
 */
export function challengeOfRun(state: Pick<LabState, 'lab' | 'run'>): ChallengeRecord | undefined {
  const record = readChallenge(state.lab);
  return record && record.run === (state.run?.id ?? '') ? record : undefined;
}

/**
 * The record is read and written by one netlab at a time: a start's new record
 * is never lost under another netlab's change of the record before it. Held
 * for a file's read and write only; another netlab waits for it.
 */
function withRecordLocked<T>(lab: string, work: () => T): T {
  // A lock of its own (not the lab's, which up and down hold for minutes).
  const release = acquireLock(lab, 'netlab challenge record', {
    waitMs: 10_000,
    kind: 'challenge',
  });
  try {
    return work();
  } finally {
    release();
  }
}

function writeRecord(record: ChallengeRecord): void {
  makeStateSubdir(challengesDir());
  try {
    writeFileAtomic(recordFile(record.lab), `${JSON.stringify(record, null, 2)}\n`);
  } catch (error) {
    throw new UsageError(`cannot write netlab state in ${challengesDir()}: ${(error as Error).message}`);
  }
}

/** The record of a challenge just started: it replaces whatever record the lab had. */
export function writeChallenge(record: ChallengeRecord): void {
  withRecordLocked(record.lab, () => writeRecord(record));
}

/**
 * Changes the record of one start of a challenge (its run and start time) if
 * it is still the lab's record: a start that wrote a new record meanwhile (a
 * `room start` while a learner reads a hint) keeps it, and the change, to a
 * challenge that is over, is dropped. `change` gives the new record from the
 * current one (undefined: the record removed). Returns whether it changed.
 */
export function changeChallenge(
  start: Pick<ChallengeRecord, 'lab' | 'run' | 'started'>,
  change: (current: ChallengeRecord) => ChallengeRecord | undefined,
): { changed: false } | { changed: true; record: ChallengeRecord | undefined } {
  return withRecordLocked(start.lab, () => {
    const current = readChallenge(start.lab);
    if (!current || current.run !== start.run || current.started !== start.started) return { changed: false };
    const record = change(current);
    if (record) writeRecord(record);
    else rmSync(recordFile(start.lab), { force: true });
    return { changed: true, record };
  });
}
