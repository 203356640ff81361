// A room's state on its controller, beside the labs' own: the room's record
// (its file, its secret, the index each group's overlay identifiers come
// from), each group's copy of the lab file, and the grading log (room/log.ts).
// `room down` takes the labs down and keeps this: the results outlive the labs.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { judgedStateDirPath, makeStateSubdir, writeFileAtomic } from '../state/store.js';
import type { Room } from './file.js';

export const ROOM_STATE_VERSION = 1;

export interface RoomRecord {
  version: typeof ROOM_STATE_VERSION;
  room: string;
  /** the room file the room was first made from */
  file: string;
  /** the file's secret, or the one netlab made when it had none */
  secret: string;
  created: string;
  /** each group's index, in the order the room first saw them: its overlay identifiers (room/overlay.ts) */
  indexes: Record<string, number>;
}

export function roomDir(room: string): string {
  return join(judgedStateDirPath(), 'rooms', room);
}

export function roomLog(room: string): string {
  return join(roomDir(room), 'log.jsonl');
}

/** The group's own copy of the lab file (its overlay identifiers written in). */
export function groupLabFile(room: string, group: string): string {
  return join(roomDir(room), 'labs', `${group}.yaml`);
}

function recordFile(room: string): string {
  return join(roomDir(room), 'room.json');
}

export function readRoomRecord(room: string): RoomRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordFile(room), 'utf8');
  } catch (error) {
    // None yet (a dangling link reads as none too: ensureRoomRecord's second look says it); any other failure
    // (not readable, a directory) is said, never taken for none.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UsageError(
      `cannot read the room's record ${recordFile(room)}: ${code === 'EACCES' ? "permission denied (a room built with sudo is root's: run the room command with sudo)" : code === 'EISDIR' ? 'it is a directory' : (error as Error).message}`,
    );
  }
  try {
    const record = JSON.parse(text) as RoomRecord;
    if (record.version === ROOM_STATE_VERSION && record.room === room) return record;
  } catch {
    // fall through
  }
  throw new UsageError(`${recordFile(room)} is not a netlab room record; move it away to start the room afresh`);
}

/**
 * One room, one file: another file with the same `room:` name would take the first one's labs down, grade its
 * groups into the first one's log, and mix their results. A file that was moved (the old one is gone) is the
 * same room, and so is the same file reached by another path.
 */
export function refuseAnotherFile(room: Room, record: RoomRecord): void {
  if (record.file === room.file || !existsSync(record.file)) return;
  const [a, b] = [statSync(record.file), statSync(room.file, { throwIfNoEntry: false })];
  if (b && a.dev === b.dev && a.ino === b.ino) return;
  throw new UsageError(
    `room ${room.name} is ${record.file}'s, and ${room.file} names the same room: give this one a \`room:\` name of its own (a room's labs, log and results are kept under its name)`,
  );
}

/**
 * The room's record, made on first use: its secret (the file's, or a new one),
 * and an index for every group it has not seen (indexes are never reused, so a
 * group's identifiers do not change when another is added or removed).
 */
export function ensureRoomRecord(room: Room, again = false): RoomRecord {
  const old = readRoomRecord(room.name);
  if (old) refuseAnotherFile(room, old);
  // Keyed by group names, which may be "constructor" or "__proto__": own properties only, no prototype.
  const indexes: Record<string, number> = Object.assign(Object.create(null) as object, old?.indexes);
  let next = Math.max(-1, ...Object.values(indexes)) + 1;
  for (const g of room.groups) if (!Object.hasOwn(indexes, g.name)) indexes[g.name] = next++;
  const record: RoomRecord = {
    version: ROOM_STATE_VERSION,
    room: room.name,
    file: room.file,
    secret: room.secret ?? old?.secret ?? randomBytes(24).toString('base64url'),
    created: old?.created ?? new Date().toISOString(),
    indexes,
  };
  let madeMeanwhile = false;
  if (JSON.stringify(record) !== JSON.stringify(old)) {
    makeStateSubdir(join(roomDir(room.name), 'labs'));
    try {
      // A room's first record is made only where no other netlab made one meanwhile (two first `room up`s at
      // once, before either holds the room's lock): the first made is the room's, with its secret, and this
      // netlab takes it.
      const text = `${JSON.stringify(record, null, 2)}\n`;
      if (!writeFileAtomic(recordFile(room.name), text, { onlyNew: !old })) madeMeanwhile = true;
    } catch (error) {
      throw new UsageError(`cannot write the room's state in ${roomDir(room.name)}: ${(error as Error).message}`);
    }
    // Read once more, as the record now there; a name that no read finds (a dangling link) is said.
    if (madeMeanwhile && again)
      throw new UsageError(`${recordFile(room.name)} is there but is no file to read; move it away`);
    if (madeMeanwhile) return ensureRoomRecord(room, true);
  }
  return record;
}
