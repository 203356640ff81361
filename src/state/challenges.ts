// The challenge a learner is working on, per lab: which one, since when, for
// which run of the lab, and how many hints were given. Kept beside the labs'
// state but not in it: `down` removes a lab's state, and a challenge "solved"
// by taking the lab down and up again must be noticed, not forgotten.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { checkedLabName } from '../node/paths.js';
import { stateDir, type LabState, writeFileAtomic } from './store.js';

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
  /** the fault made, when a room landed it elsewhere than the challenge's own (room/landing.ts) */
  fault?: string;
  /** the room that started it: the room grades it and unlocks its hints; the lab's own `check` is advice */
  room?: string;
  /** hints read with `netlab challenge hint` on a room's lab (the room counts them) */
  read?: number;
}

/** The fault a challenge's record says was made: its landing, or the challenge's own. */
export function faultIdOf(record: Pick<ChallengeRecord, 'fault'>, challenge: { fault: string }): string {
  return record.fault ?? challenge.fault;
}

/** Where the records are: in the state directory, beside the labs' state. */
export function challengesDir(): string {
  return join(stateDir(), 'challenges');
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

export function writeChallenge(record: ChallengeRecord): void {
  try {
    mkdirSync(challengesDir(), { recursive: true, mode: 0o700 });
    writeFileAtomic(recordFile(record.lab), `${JSON.stringify(record, null, 2)}\n`);
  } catch (error) {
    throw new UsageError(`cannot write netlab state in ${challengesDir()}: ${(error as Error).message}`);
  }
}

export function clearChallenge(lab: string): void {
  rmSync(recordFile(lab), { force: true });
}
