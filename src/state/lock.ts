// One netlab process changes a lab at a time. The lock file holds the holder's
// PID, start time and host; a lock whose process is gone (kill -9, reboot) is
// stale and taken over.
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAlive, processRef, type ProcessRef } from '../exec/processes.js';
import { stateDir } from './store.js';
import { UsageError } from '../errors.js';

interface LockRecord {
  process: ProcessRef;
  host: string;
  command: string;
  since: string;
}

function lockFile(lab: string): string {
  return join(stateDir(), 'locks', `${lab}.lock`);
}

export function acquireLock(lab: string, command: string): () => void {
  const file = lockFile(lab);
  try {
    mkdirSync(join(stateDir(), 'locks'), { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UsageError(`cannot create ${join(stateDir(), 'locks')}: ${(error as Error).message} (set NETLAB_STATE_DIR to a writable directory)`);
  }
  const record: LockRecord = { process: processRef(process.pid)!, host: hostname(), command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    // The record is written to a file of our own, then linked into place: link()
    // fails if the lock exists and is atomic, so no one ever reads a half-written
    // lock (and mistakes it for a stale one, as two racing ups once did).
    const mine = `${file}.${process.pid}`;
    try {
      writeFileSync(mine, JSON.stringify(record), { mode: 0o600 });
      linkSync(mine, file);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new UsageError(`cannot lock lab ${lab} (${file}): ${(error as Error).message}`);
    } finally {
      rmSync(mine, { force: true });
    }
    let holder: LockRecord | undefined;
    try {
      holder = JSON.parse(readFileSync(file, 'utf8')) as LockRecord;
    } catch {
      holder = undefined; // unreadable (a lock from an older netlab, cut short): stale
    }
    if (holder && holder.host === record.host && isAlive(holder.process)) {
      throw new UsageError(`lab ${lab} is being changed by another netlab (\`${holder.command}\`, PID ${holder.process.pid}, since ${holder.since}); wait for it to finish`);
    }
    if (holder && holder.host !== record.host) {
      throw new UsageError(`lab ${lab} is locked by netlab on host ${holder.host} (PID ${holder.process.pid}); if that process is gone, remove ${file}`);
    }
    rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new UsageError(`cannot lock lab ${lab}: another netlab keeps taking the lock`);
}
