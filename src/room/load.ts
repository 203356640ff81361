// Reading a room file (room/file.ts) as a lab file is read (lab/document.ts):
// YAML, the schema, then what the schema cannot say: one target per group, the
// files the room names, the lab and its challenges. Every problem is reported in
// one go, at file:line:column with what is allowed; the lab file's own problems
// are reported as loadLabFile says them (they name their own file).
import { statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { LabInputError, shown, type LabIssue, type PathSegment } from '../errors.js';
import { bundledLabFile, bundledLabNames } from '../lab/bundled.js';
import {
  describeSchemaIssues,
  mergeIssues,
  readYamlDocument,
  type InputKind,
  type IssueAt,
  type SchemaWords,
} from '../lab/document.js';
import { loadLabFile, type LoadedLab } from '../lab/load.js';
import { readInputFile } from '../lab/read.js';
import { didYouMean } from '../model/suggest.js';
import type { Model } from '../model/lab.js';
import { LAB_LIMITS, labIdProblem } from '../model/grammar.js';
import {
  GROUP_TARGETS,
  MAX_GROUPS,
  roomSchema,
  type GroupTarget,
  type Room,
  type RoomGroup,
  type ScheduledChallenge,
} from './file.js';

const ROOM_FILE: InputKind = { what: 'room file', mapping: 'a mapping with room, lab, groups and schedule' };

const ONE_TARGET = 'exactly one of simulated: true, ssh-config: FILE, inventory: FILE, vagrant-dir: DIR';
/** A schedule runs each challenge at most once, and a lab has at most this many. */
const MAX_SCHEDULE = LAB_LIMITS.challenges;

/** The room file's words for what its schema refuses. */
const ROOM_WORDS: SchemaWords = {
  keyName: (path) => ({ what: path.length === 2 && path[0] === 'groups' ? 'group name' : 'name' }),
  special: (issue, path, found) =>
    issue.code === 'invalid_type' && Array.isArray(found) && path.length === 1 && path[0] === 'groups'
      ? 'written as a list; allowed: a mapping of group names, each with where its lab runs, such as "g1: { simulated: true }" on a line of its own under groups:'
      : undefined,
};

/**
 * The room, its lab's model, as the room's checks read it (a room command reads its lab once), and what
 * validate warns of the lab (lab/warnings.ts), which `room validate` says.
 */
export function loadRoomAndLab(file: string): { room: Room; model: Model; labWarnings: LabIssue[] } {
  return parseRoomAndLab(readInputFile(file, ROOM_FILE.what), file);
}

export function parseRoom(text: string, file: string): Room {
  return parseRoomAndLab(text, file).room;
}

function parseRoomAndLab(text: string, file: string): { room: Room; model: Model; labWarnings: LabIssue[] } {
  const { data, locate, at } = readYamlDocument(text, file, ROOM_FILE);
  // Counts first, whatever their types: a room of a million groups is refused before anything reads them.
  const oversized = checkCounts(data, at);
  if (oversized.length > 0) throw new LabInputError(oversized);

  const parsed = roomSchema.safeParse(data);
  const schemaIssues = parsed.success
    ? []
    : describeSchemaIssues(roomSchema, parsed.error, file, locate, data, ROOM_WORDS);
  // The checks below read the raw data, so that the parts the schema accepted are checked too
  // ("every problem in one run"); mergeIssues leaves out what the schema reports already.
  const problems: LabIssue[] = [];
  const report = (issue: LabIssue) => problems.push(issue);
  const room = { dir: dirname(file), at, report };
  const groups = checkGroups(data.groups, room);
  const lab = checkLab(data.lab, room);
  const schedule = checkSchedule(data.schedule, lab.loaded, room);
  const issues = [...mergeIssues(schemaIssues, problems), ...lab.issues];
  if (issues.length > 0 || !parsed.success || !lab.loaded || !lab.file) throw new LabInputError(issues);
  const { room: name, secret } = parsed.data;
  // The room's name is its directory's under netlab's state: the name grammar (NAME_PATTERN)
  // has no '/', and no name starts with '.', so neither "." nor ".." is one.
  return {
    room: {
      name,
      file: resolve(file),
      labFile: resolve(lab.file),
      labName: lab.loaded.name,
      ...(secret === undefined ? {} : { secret }),
      groups,
      schedule,
    },
    // its file as the room names it (absolute), not as the checks were given it (relative to here)
    model: { ...lab.loaded.model, file: resolve(lab.file) },
    labWarnings: lab.loaded.warnings,
  };
}

/** What the checks of one room file share: where it is, and where its problems go. */
interface RoomCheck {
  /** the room file's directory, which its relative paths are relative to (as given: relative stays relative) */
  dir: string;
  at: IssueAt;
  report: (issue: LabIssue) => void;
}

const isMapping = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function checkCounts(data: Record<string, unknown>, at: IssueAt): LabIssue[] {
  const issues: LabIssue[] = [];
  const groups = isMapping(data.groups) ? Object.keys(data.groups).length : 0;
  if (groups > MAX_GROUPS)
    issues.push(at(['groups'], `found ${groups} groups; allowed: at most ${MAX_GROUPS} (netlab's limit for one room)`));
  const schedule = Array.isArray(data.schedule) ? data.schedule.length : 0;
  if (schedule > MAX_SCHEDULE)
    issues.push(
      at(
        ['schedule'],
        `found ${schedule} entries; allowed: at most ${MAX_SCHEDULE} (a lab has at most ${MAX_SCHEDULE} challenges, and each is scheduled once)`,
      ),
    );
  return issues;
}

/** A path of the room file as shown (relative to the room file's directory) and as kept (absolute). */
function roomPath(room: RoomCheck, path: string): { shownAs: string; absolute: string } {
  const shownAs = isAbsolute(path) ? path : join(room.dir, path);
  return { shownAs, absolute: resolve(shownAs) };
}

function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The groups in the file's order, each with its one target and its files found. */
function checkGroups(value: unknown, room: RoomCheck): RoomGroup[] {
  if (!isMapping(value)) return [];
  const names = Object.keys(value);
  if (names.length === 0)
    room.report(
      room.at(['groups'], 'no groups; allowed: at least one group, such as "g1: { simulated: true }" under groups:'),
    );
  const groups: RoomGroup[] = [];
  for (const name of names) {
    const group = value[name];
    if (!isMapping(group)) continue;
    const given = GROUP_TARGETS.filter((key) => key in group);
    if (given.length === 0) {
      room.report(room.at(['groups', name], `group ${name} says nowhere its lab runs; allowed: ${ONE_TARGET}`));
      continue;
    }
    if (given.length > 1) {
      const both = `${given.slice(0, -1).join(', ')} and ${given[given.length - 1]}`;
      room.report(
        room.at(
          ['groups', name, given[1]!],
          `group ${name} has ${both}, and a group's lab runs in one place; allowed: ${ONE_TARGET}`,
          'key',
        ),
      );
      continue;
    }
    const target = checkTarget(given[0]!, group[given[0]!], ['groups', name, given[0]!], room);
    if (target) groups.push({ name, target });
  }
  return groups;
}

function checkTarget(
  kind: (typeof GROUP_TARGETS)[number],
  value: unknown,
  path: PathSegment[],
  room: RoomCheck,
): GroupTarget | undefined {
  if (kind === 'simulated') return value === true ? { kind } : undefined;
  if (typeof value !== 'string' || value === '') return undefined;
  const { shownAs, absolute } = roomPath(room, value);
  const stat = statOf(absolute);
  const relative = isAbsolute(value) ? '' : ", relative to the room file's directory";
  if (kind === 'vagrant-dir') {
    const allowed = `allowed: the directory of the group's Vagrantfile${relative}`;
    if (!stat) room.report(room.at(path, `no such directory: ${shown(shownAs)}; ${allowed}`));
    else if (!stat.isDirectory())
      room.report(room.at(path, `${shown(shownAs)} is a file, not a directory; ${allowed}`));
    else if (!statOf(join(absolute, 'Vagrantfile'))?.isFile())
      room.report(room.at(path, `${shown(shownAs)} has no Vagrantfile; ${allowed}`));
    else return { kind, dir: absolute };
    return undefined;
  }
  const what =
    kind === 'ssh-config'
      ? "an OpenSSH config file naming the lab's nodes"
      : "a netlab inventory file of the group's machines";
  const allowed = `allowed: ${what}${relative}`;
  if (!stat) room.report(room.at(path, `no such file: ${shown(shownAs)}; ${allowed}`));
  else if (stat.isDirectory()) room.report(room.at(path, `${shown(shownAs)} is a directory; ${allowed}`));
  else return { kind, file: absolute };
  return undefined;
}

interface CheckedLab {
  /** the lab file as loadLabFile was given it */
  file?: string;
  loaded?: LoadedLab;
  /** the lab file's own problems, naming their file */
  issues: LabIssue[];
}

/** `lab:`: a bundled lab by its name, or a lab file; loaded, so that its problems are reported too. */
function checkLab(value: unknown, room: RoomCheck): CheckedLab {
  if (typeof value !== 'string' || value === '') return { issues: [] };
  const path = ['lab'];
  const bundled = bundledLabNames();
  const choices = `allowed: a bundled lab (${bundled.join(', ')}) or a lab file, relative to the room file's directory`;
  const looksLikeFile = value.includes('/') || /\.ya?ml$/i.test(value);
  let file: string | undefined;
  if (!looksLikeFile) {
    const [labName, instance] = value.split('@');
    if (instance !== undefined && !labIdProblem(value)) {
      room.report(
        room.at(
          path,
          `found ${shown(value)}, an instance of lab ${labName}; allowed: a lab without an instance (each group's lab is the instance named after the group: ${labName}@GROUP)`,
        ),
      );
      return { issues: [] };
    }
    file = bundledLabFile(value);
    if (file === undefined && statOf(roomPath(room, value).absolute)?.isFile()) file = roomPath(room, value).shownAs;
    if (file === undefined) {
      room.report(
        room.at(
          path,
          `found ${shown(value)}, which is no bundled lab and no file${didYouMean(value, bundled)}; ${choices}`,
        ),
      );
      return { issues: [] };
    }
  } else {
    const { shownAs, absolute } = roomPath(room, value);
    const stat = statOf(absolute);
    if (!stat) room.report(room.at(path, `no such file: ${shown(shownAs)}; ${choices}`));
    else if (stat.isDirectory()) room.report(room.at(path, `${shown(shownAs)} is a directory; ${choices}`));
    else file = shownAs;
    if (file === undefined) return { issues: [] };
  }
  let loaded: LoadedLab;
  try {
    loaded = loadLabFile(file);
  } catch (error) {
    if (error instanceof LabInputError) return { file, issues: error.issues };
    throw error;
  }
  // A lab file is a plain lab: its name has no '@' (the name grammar), and no instance is given to
  // it here; each group's lab is the instance named after the group. `lab: vxlan@g1` is refused above.
  return { file, loaded, issues: [] };
}

/** The schedule's challenges are the lab's, each once, with its hints in order while it runs. */
function checkSchedule(value: unknown, loaded: LoadedLab | undefined, room: RoomCheck): ScheduledChallenge[] {
  if (!Array.isArray(value)) return [];
  const challenges = loaded?.model.challenges ?? [];
  if (loaded && challenges.length === 0 && value.length > 0)
    room.report(
      room.at(
        ['schedule'],
        `lab ${loaded.name} has no challenges; allowed: no schedule, or a lab with challenges: (such as the bundled vxlan)`,
      ),
    );
  // The lab the challenges are checked against: none when it did not load, or has none to check against.
  const lab = challenges.length > 0 ? loaded : undefined;
  const ids = challenges.map((c) => c.id);
  const seen = new Map<string, number>();
  const schedule: ScheduledChallenge[] = [];
  for (const [index, entry] of value.entries()) {
    if (!isMapping(entry)) continue;
    const { challenge: id, minutes, hints } = entry;
    const here = (...rest: PathSegment[]) => ['schedule', index, ...rest];
    let known: (typeof challenges)[number] | undefined;
    if (typeof id === 'string') {
      known = challenges.find((c) => c.id === id);
      if (lab && !known)
        room.report(
          room.at(
            here('challenge'),
            `found ${shown(id)}, which is no challenge of lab ${lab.name}${didYouMean(id, ids)}; allowed: one of its ${ids.length} challenges: ${ids.join(', ')}`,
          ),
        );
      const first = seen.get(id);
      if (first !== undefined)
        room.report(
          room.at(
            here('challenge'),
            `challenge ${shown(id)} is scheduled already (schedule.${first}); allowed: each challenge at most once`,
          ),
        );
      else seen.set(id, index);
    }
    const times = Array.isArray(hints) ? hints : [];
    for (const [i, time] of times.entries()) {
      if (typeof time !== 'number') continue;
      const before = times[i - 1];
      if (typeof before === 'number' && time <= before)
        room.report(
          room.at(
            here('hints', i),
            `found ${time} after ${before}; allowed: more than the hint before it (each hint unlocks later than the one before, in minutes after the challenge's start)`,
          ),
        );
      if (typeof minutes === 'number' && time >= minutes)
        room.report(
          room.at(
            here('hints', i),
            `found ${time}; allowed: less than the challenge's ${minutes} minutes (a hint unlocks while the challenge runs)`,
          ),
        );
    }
    if (known && times.length > known.hints.length)
      room.report(
        room.at(
          here('hints'),
          `found ${times.length} hint times; allowed: at most ${known.hints.length} (challenge ${known.id} has ${known.hints.length} hint${known.hints.length === 1 ? '' : 's'})`,
        ),
      );
    if (typeof id === 'string' && typeof minutes === 'number')
      schedule.push({ challenge: id, minutes, hints: times.filter((t): t is number => typeof t === 'number') });
  }
  return schedule;
}
