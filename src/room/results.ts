// `room results`: every group × challenge of the log, with times, hints,
// resets and attempts: what an instructor keeps after the workshop.
import type { Model } from '../model/lab.js';
import type { GroupChallenge } from './board.js';
import type { Room } from './file.js';
import type { RoomEvent } from './log.js';
import { roundsOf } from './score.js';
import { roundOf } from './grade.js';

/** A group's result in one challenge: its part of the board, as the round ended (or now). */
export type ResultRow = { group: string } & Omit<GroupChallenge, 'title'>;

export function resultRows(room: Room, model: Model, events: readonly RoomEvent[], now = new Date()): ResultRow[] {
  return roundsOf(events).flatMap((range) => {
    // The round's end is the next round's start: its hints stop unlocking then.
    const end = range.to < events.length ? new Date(events[range.to]!.t) : now;
    const round = roundOf(room, model, events, range, end);
    return [...(round?.groups ?? [])].map(([group, challenge]) => {
      const { title: _title, run: _run, fault: _fault, identity: _identity, ...row } = challenge;
      return { group, ...row };
    });
  });
}

const COLUMNS: (keyof ResultRow)[] = [
  'group',
  'id',
  'started',
  'solved',
  'solved-at',
  'minutes',
  'hints',
  'hints-read',
  'resets',
  'attempts',
  'revealed',
  // why the challenge never was in the group's lab (its start failed); empty when it was
  'not-started',
];

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function resultsCsv(rows: readonly ResultRow[]): string {
  // The challenge's id is its column "challenge".
  const header = COLUMNS.map((c) => (c === 'id' ? 'challenge' : c));
  return [header.join(','), ...rows.map((r) => COLUMNS.map((c) => csvField(r[c])).join(','))]
    .map((l) => `${l}\r\n`)
    .join('');
}
