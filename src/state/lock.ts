// One netlab process changes a lab at a time. The lock file holds the holder's
// PID, start time and host; a lock whose process is gone (kill -9, reboot) is
// stale and taken over, by exactly one of the processes that find it stale.
import { createHash } from 'node:crypto';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAlive, processRef, type ProcessRef } from '../os/processes.js';
import { judgedStateDirPath, makeStateSubdir } from './store.js';
import { checkedLabName } from '../node/paths.js';
import { UsageError } from '../errors.js';

interface LockRecord {
  process: ProcessRef;
  host: string;
  command: string;
  since: string;
}

/**
 * What a lock guards: a lab (up, down), a room (its commands that change it),
 * or a lab's challenge record. Each kind has a directory of its own, so that
 * no name of one is the name of another.
 */
export type LockKind = 'lab' | 'room' | 'challenge';

function lockDir(kind: LockKind): string {
  return join(judgedStateDirPath(), 'locks', ...(kind === 'lab' ? [] : [kind]));
}

function lockFile(name: string, kind: LockKind): string {
  return join(lockDir(kind), `${checkedLabName(name)}.lock`);
}

/** What the lock guards, in messages: "lab vxlan", "room net101". */
function guarded(name: string, kind: LockKind): string {
  return kind === 'challenge' ? `the challenge record of lab ${name}` : `${kind} ${name}`;
}

/** Creates `file` holding `text`, atomically and only if it does not exist (link() fails with EEXIST). */
function createExclusive(file: string, text: string): boolean {
  // Written to a file of our own first, then linked into place, so no one ever
  // reads a half-written lock (and mistakes it for a stale one).
  const mine = `${file}.${process.pid}`;
  try {
    writeFileSync(mine, text, { mode: 0o600 });
    linkSync(mine, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(mine, { force: true });
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A lock's record; undefined for anything else (a lock from an older netlab, cut short, or not netlab's): stale. */
function parseRecord(text: string): LockRecord | undefined {
  let record: Partial<LockRecord>;
  try {
    record = JSON.parse(text) as Partial<LockRecord>;
  } catch {
    return undefined;
  }
  const { process: ref, host, command, since } = record ?? {};
  const fine =
    typeof ref === 'object' &&
    ref !== null &&
    Number.isSafeInteger(ref.pid) &&
    ref.pid > 0 &&
    typeof ref.startTime === 'string' &&
    (ref.boot === undefined || typeof ref.boot === 'string') &&
    [host, command, since].every((field) => typeof field === 'string');
  return fine ? (record as LockRecord) : undefined;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes a stale lock whose text was `stale`, if no other process is doing so.
 * The processes that found the same stale lock race to create one takeover file
 * named after it; only the one that creates it may remove the lock, and only
 * while the lock still holds that same stale text (a late racer finds the
 * winner's fresh lock there, or none, and removes nothing). Then every racer
 * tries to create the lock again, and link() lets exactly one succeed.
 */
function removeStale(file: string, stale: string, mine: string): boolean {
  const takeover = `${file}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
  // Another process is removing it. (Should that process die in the microseconds it
  // holds the takeover file, the file stays and locking fails below, naming it:
  // removing it here could let two processes in.)
  if (!createExclusive(takeover, mine)) return false;
  try {
    if (readText(file) === stale) rmSync(file, { force: true });
    return true;
  } finally {
    rmSync(takeover, { force: true });
  }
}

/**
 * Takes the lock of `name` (a lab, unless `kind` says otherwise) for
 * `command`; returns its release. A live holder on this host is waited for up
 * to `waitMs` (default: not at all, refused).
 */
export function acquireLock(
  name: string,
  command: string,
  { waitMs = 0, kind = 'lab' }: { waitMs?: number; kind?: LockKind } = {},
): () => void {
  const file = lockFile(name, kind);
  const lab = guarded(name, kind);
  // A NETLAB_STATE_DIR that was not there when the command line checked it, and that another user made
  // meanwhile, is refused before any file is written in it.
  makeStateSubdir(lockDir(kind));
  const record: LockRecord = {
    process: processRef(process.pid)!,
    host: hostname(),
    command,
    since: new Date().toISOString(),
  };
  const text = JSON.stringify(record);
  const until = Date.now() + waitMs;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if (createExclusive(file, text)) return () => rmSync(file, { force: true });
    } catch (error) {
      throw new UsageError(`cannot lock ${lab} (${file}): ${(error as Error).message}`);
    }
    const seen = readText(file);
    if (seen === undefined) continue; // released meanwhile
    const holder = parseRecord(seen);
    if (holder && holder.host === record.host && isAlive(holder.process)) {
      if (Date.now() < until) {
        attempt--; // waiting for a live holder is not a failed attempt
        sleepSync(5);
        continue;
      }
      throw new UsageError(
        `${lab} is being changed by another netlab (\`${holder.command}\`, PID ${holder.process.pid}, since ${holder.since}); wait for it to finish`,
      );
    }
    if (holder && holder.host !== record.host) {
      throw new UsageError(
        `${lab} is locked by netlab on host ${holder.host} (PID ${holder.process.pid}); if that process is gone, remove ${file}`,
      );
    }
    // Stale. Whoever removes it, every racer then tries to create the lock anew.
    if (!removeStale(file, seen, text)) sleepSync(5);
  }
  throw new UsageError(
    `cannot lock ${lab}: another netlab keeps taking the lock (${file}; if no netlab is running, remove it and any ${file}.takeover-* beside it)`,
  );
}
