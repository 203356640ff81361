// `room results`: every group × challenge of the log, with times, hints,
// resets and attempts: what an instructor keeps after the workshop.
import type { Model } from '../model/lab.js';
import type { GroupChallenge } from './board.js';
import type { Room } from './file.js';
import type { RoomEvent } from './log.js';
import { roundsOf } from './score.js';
import { groupsInRound, roundFacts } from './grade.js';

/** A group's result in one challenge: its part of the board, as the round ended (or now). */
export type ResultRow = { group: string } & Omit<GroupChallenge, 'title'>;

/**
 * From the log, as the README says the results stay: every group the log names (the room file's first, in its
 * order, then any taken out of it since), and every round, also of a challenge the lab file no longer has, with
 * its title and number of hints as the round event kept them (as built).
 */
export function resultRows(room: Room, model: Model, events: readonly RoomEvent[], now = new Date()): ResultRow[] {
  const listed = room.groups.map((g) => g.name);
  const logged = events.flatMap((e) => ('group' in e && typeof e.group === 'string' ? [e.group] : []));
  const groups = [...new Set([...listed, ...logged])];
  return roundsOf(events).flatMap((range) => {
    // The round's end is the next round's start: its hints stop unlocking then.
    const end = range.to < events.length ? new Date(events[range.to]!.t) : now;
    const challenge = model.challenges?.find((c) => c.id === range.round.challenge);
    const facts = roundFacts(range.round, challenge);
    // A group the room file no longer lists has rows for the rounds it had a part in; one it lists, for every
    // round (one it joined later says so: NO_START).
    const inRound = groups.filter(
      (g) => listed.includes(g) || events.slice(range.from, range.to).some((e) => 'group' in e && e.group === g),
    );
    return [...groupsInRound(room, events, range, facts, inRound, end).groups].map(([group, part]) => {
      const { title: _title, run: _run, fault: _fault, identity: _identity, ...row } = part;
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
