// `netlab room`: an instructor's room of groups, each with its own copy of one
// lab (the instance named after the group), built, broken by a schedule of
// challenges, graded live from the room's controller, and taken down.
import chalk from 'chalk';
import { escapeControls, EXIT_INTERRUPTED, shown, UsageError, type LabIssue } from '../errors.js';
import { finishDespiteSignals, onInterrupts } from '../os/hangup.js';
import { printJson, type JsonOption } from '../json-output.js';
import { readState } from '../state/store.js';
import { readChallenge } from '../state/challenges.js';
import type { Room, RoomGroup } from '../room/file.js';
import { loadRoomAndLab } from '../room/load.js';
import {
  ensureRoomRecord,
  groupLabFile,
  readRoomRecord,
  refuseAnotherFile,
  roomLog,
  type RoomRecord,
} from '../room/state.js';
import {
  groupLabId,
  groupModel,
  groupState,
  isRoomLab,
  othersLab,
  refuseOthersLab,
  runNetlab,
  targetFlags,
  writeGroupLab,
} from '../room/groups.js';
import { bringUp } from '../lifecycle/up.js';
import { buildPlan } from '../plan/build.js';
import { simulatedFacts } from '../underlay/simulated.js';
import { diffModels } from '../lab/diff.js';
import { warningsFor } from '../lab/cached.js';
import { labIdOf, type Model } from '../model/lab.js';
import { appendEvents, readEvents, type NewEvent } from '../room/log.js';
import { landingsFor, startInGroup } from '../room/challenge.js';
import { foreignVteps } from '../room/crosstalk.js';
import { boardOf, bounded, currentRound, gradeRoom, GROUP_DEADLINE, pushHints, type Grading } from '../room/grade.js';
import { redrawn, renderBoard } from '../room/render.js';
import { describeStopped, requireNodeAccess, rootsStateNote, stoppedNodes } from './common.js';
import { takeDown } from '../lifecycle/challenge.js';
import { acquireLock } from '../state/lock.js';
import { quoteArgv } from '../os/quote.js';
import { endSessions } from '../exec/ssh.js';
import { challengesRun, endOf, roundsOf } from '../room/score.js';
import { BOARD_VERSION, boardForProjector } from '../room/board.js';
import { resultRows, resultsCsv } from '../room/results.js';

/** How many groups build (or grade) at once unless --parallel says. */
export const DEFAULT_PARALLEL = 4;

interface RoomOptions extends JsonOption {
  parallel?: string;
  timeout?: string;
}

/** --parallel N: 1-64. */
function parallelOf(options: RoomOptions): number {
  if (options.parallel === undefined) return DEFAULT_PARALLEL;
  const n = Number(options.parallel);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new UsageError(`--parallel takes a number of groups at once, 1-64; found ${shown(options.parallel)}`);
  return n;
}

/** How many groups a grading round grades at once unless --parallel says. */
export const GRADE_PARALLEL = 16;

/** A grading round's --parallel N and --timeout SECONDS (1-3600; GROUP_DEADLINE by default). */
function gradingOf(options: RoomOptions): Grading {
  const parallel = parallelOf({ parallel: options.parallel ?? String(GRADE_PARALLEL) });
  if (options.timeout === undefined) return { parallel, deadline: GROUP_DEADLINE };
  const deadline = Number(options.timeout);
  // Whole seconds, as verify's --timeout (a group's checks get the shorter of the two): a fraction would fail
  // every group's checks, each said unreachable.
  if (!Number.isInteger(deadline) || deadline < 1 || deadline > 3600)
    throw new UsageError(
      `--timeout takes the seconds one group's grading may take before it counts as unreachable, a whole number 1-3600; found ${shown(options.timeout)}`,
    );
  return { parallel, deadline };
}

/**
 * The room, its record and its lab: what every room command that changes the
 * room starts from. Only `room up` makes the record of a room that has none here.
 */
function openRoom(
  file: string,
  command: string,
  { up = false, groups = (room: Room): readonly RoomGroup[] => room.groups } = {},
): { room: Room; record: RoomRecord; model: Model; labWarnings: LabIssue[] } {
  const { room, model, labWarnings } = loadRoomAndLab(file);
  if (!up) refuseNoRecord(room, file);
  // Refused before the record is written (a group it does not have, no access to the groups' nodes): a command
  // refused changes nothing.
  requireNodeAccessFor(groups(room), `room ${command}`);
  const record = ensureRoomRecord(room);
  return { room, record, model, labWarnings };
}

/** The room and its lab for a command that only reads (status, watch, serve, results): no state is written. */
function readRoom(file: string): { room: Room; model: Model } {
  const { room, model } = loadRoomAndLab(file);
  refuseNoRecord(room, file);
  return { room, model };
}

/** A room never built in this state directory (a room built with sudo is root's: a user's netlab does not see it). */
function refuseNoRecord(room: Room, file: string): void {
  const record = readRoomRecord(room.name);
  if (!record)
    throw new UsageError(
      `room ${room.name} has no state here yet: \`netlab room up ${file}\` builds its groups' labs${rootsStateNote('rooms')}`,
    );
  refuseAnotherFile(room, record);
}

/**
 * Runs a command that changes the room (up, start, hint, reset, down) with the
 * room locked: two at once could leave two faults in a lab, or a record of
 * one challenge over the fault of another. Gradings do not take it: a grading
 * counts only for the start whose record it found (room/grade.ts).
 */
async function withRoomLock<T>(room: Room, command: string, work: () => Promise<T>): Promise<T> {
  const release = acquireLock(room.name, `netlab room ${command}`, { kind: 'room' });
  try {
    return await work();
  } finally {
    release();
  }
}

/** A group of the room, by name. */
function groupOf(room: Room, name: string): RoomGroup {
  const found = room.groups.find((g) => g.name === name);
  if (!found)
    throw new UsageError(
      `room ${room.name} has no group ${shown(name)}; it has ${room.groups.map((g) => g.name).join(', ')}`,
    );
  return found;
}

/** Simulated groups are namespaces on this host: root, as for `netlab up`. */
function requireNodeAccessFor(groups: readonly RoomGroup[], command: string): void {
  if (groups.some((g) => g.target.kind === 'simulated')) requireNodeAccess(command);
}

/** A group's lines of a child netlab's progress, prefixed with its name. */
function prefixed(room: Room, group: string, json: boolean): (line: string) => void {
  const width = Math.max(...room.groups.map((g) => g.name.length));
  return (line) => (json ? console.error : console.log)(`${chalk.bold(group.padEnd(width))} │ ${line}`);
}

/** What a learner of a group on machines types to work on the group's lab. */
function attachLine(room: Room, group: RoomGroup): string | undefined {
  if (group.target.kind === 'simulated') return undefined;
  return quoteArgv(['netlab', 'attach', groupLabId(room, group.name), ...targetFlags(group.target)]);
}

/** `room up ROOM`: every group's lab built, groups side by side; a group already up is left as it is. */
export async function roomUpCommand(file: string, options: RoomOptions): Promise<number> {
  const parallel = parallelOf(options);
  const { room, record, model, labWarnings } = openRoom(file, 'up', { up: true });
  const json = Boolean(options.json);
  const say = json ? console.error : console.log;
  // The lab's warnings, as `up` says them, once for the simulated groups; a group on machines says its own
  // (its netlab up, whose lines are the group's), without those that hold on simulated nodes only.
  if (room.groups.some((g) => g.target.kind === 'simulated'))
    for (const warning of warningsFor({ warnings: labWarnings }, false)) console.error(warning);
  say(`room ${room.name}: building lab ${room.labName} in ${room.groups.length} groups, ${parallel} at a time`);
  // Ctrl-C, SIGTERM or a hangup (the instructor's SSH session dropped): the groups being built roll back (each
  // up's own handler, or the child's, which a SIGTERM sent to this netlab alone reaches too: runNetlab), and no
  // further group starts.
  let interrupted = false;
  const began = new Date();
  const leaveInterrupts = onInterrupts(() => (interrupted = true));
  const results = await withRoomLock(room, 'up', () =>
    bounded(room.groups, parallel, async (group) => {
      const lab = groupLabId(room, group.name);
      const file = groupLabFile(room.name, group.name);
      const say = prefixed(room, group.name, json);
      if (interrupted) {
        say('not built: interrupted');
        return { group, lab, ok: false, exitCode: EXIT_INTERRUPTED, file };
      }
      // A group's failure is its own (an unreadable state, a lab file that cannot be written): the others build.
      try {
        writeGroupLab(room, model, record, group);
        const other = othersLab(room, group.name, readState(lab));
        if (other) {
          say(other);
          return { group, lab, ok: false, exitCode: 2, file };
        }
        const exitCode =
          group.target.kind === 'simulated'
            ? await upHere(groupModel(room, model, record, group.name), say)
            : await upByChild(group, file, say);
        if (exitCode !== 0 || group.target.kind === 'simulated')
          return { group, lab, ok: exitCode === 0, exitCode, file };
        const heard = await hearsOthers(room, group.name, began, say);
        return { group, lab, ok: !heard, exitCode: heard ? 1 : 0, file };
      } catch (error) {
        say(`not built: ${escapeControls((error as Error).message, true)}`);
        return { group, lab, ok: false, exitCode: error instanceof UsageError ? 2 : 1, file };
      }
    }),
  ).finally(leaveInterrupts);
  const failed = results.filter((r) => !r.ok);
  if (interrupted) {
    if (json)
      printJson({
        room: room.name,
        lab: room.labName,
        interrupted: true,
        groups: results.map((r) => ({
          name: r.group.name,
          lab: r.lab,
          status: r.ok ? 'up' : 'not up',
          exitCode: r.exitCode,
        })),
      });
    else
      console.log(
        `room ${room.name}: interrupted; ${results.filter((r) => r.ok).length} of ${room.groups.length} groups are up (\`netlab room up ${file}\` again builds the rest)`,
      );
    return EXIT_INTERRUPTED;
  }
  if (json) {
    printJson({
      room: room.name,
      lab: room.labName,
      groups: results.map((r) => ({
        name: r.group.name,
        lab: r.lab,
        status: r.ok ? 'up' : 'failed',
        exitCode: r.exitCode,
        file: r.file,
        ...(attachLine(room, r.group) ? { attach: attachLine(room, r.group) } : {}),
      })),
    });
    return failed.length ? 1 : 0;
  }
  for (const r of results)
    console.log(
      r.ok
        ? chalk.green(`✓ ${r.group.name}: ${r.lab} is up`)
        : chalk.red(`✗ ${r.group.name}: ${r.lab} failed (exit ${r.exitCode}; its lines above say why)`),
    );
  const learners = results.filter((r) => r.ok && attachLine(room, r.group));
  if (learners.length) {
    console.log('learners on their machines attach with their own netlab (the same SSH config):');
    for (const r of learners) console.log(`  ${r.group.name}: ${attachLine(room, r.group)}`);
  }
  if (failed.length)
    console.log(
      `${failed.length} of ${room.groups.length} groups failed; \`netlab room up ${file}\` again builds only those (a lab up from another version, \`netlab room reset ${file} GROUP\`)`,
    );
  return failed.length ? 1 : 0;
}

/**
 * Builds a simulated group's lab in this process: the lab file was read and
 * checked once for the whole room, and each group saves a netlab's start-up
 * and the lab's validation (most of a small lab's `up`, BENCHMARKS.md). Its
 * rollback on failure is `up`'s own. Machines are built by a netlab of their
 * own each (upByChild): their logins and prompts stay apart.
 */
async function upHere(model: Model, say: (line: string) => void): Promise<number> {
  const lab = labIdOf(model);
  const release = acquireLock(lab, 'netlab room up');
  try {
    const existing = readState(lab);
    const stopped = existing?.status === 'up' ? stoppedNodes(existing) : [];
    if (existing && stopped.length) {
      say(`${describeStopped(lab, stopped)}: building it again`);
      await takeDown(existing);
    } else if (existing) {
      const changes = diffModels(existing.model, model);
      if (existing.status === 'up' && changes.length === 0) {
        say(`lab ${lab} is already up and its file is unchanged`);
        return 0;
      }
      say(
        `lab ${lab} is ${existing.status === 'up' ? `up from another version (${changes.join('; ')})` : `left ${existing.status}`}: \`netlab room reset\` builds it again`,
      );
      return 2;
    }
    const started = Date.now();
    say(`building lab ${lab} on simulated nodes`);
    const facts = simulatedFacts(model);
    const code = await bringUp(model, model.file, buildPlan(model, facts), facts, { silent: true });
    say(
      code === 0
        ? `lab ${lab} is up: ${model.nodes.length} node(s), ${model.pods.length} pod(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`
        : `interrupted: rolled back`,
    );
    return code;
  } catch (error) {
    say(`failed, rolled back: ${escapeControls((error as Error).message, true)}`);
    return error instanceof UsageError ? 2 : 1;
  } finally {
    release();
  }
}

/** How long a group's tunnel listens, once up, for another lab's VTEPs on its segment (seconds). */
export const LISTEN_SECONDS = 2;

/**
 * A group on machines, once up, listens for a while: a VTEP its tunnel learns
 * that is none of its nodes is another lab (or another room) on the segment
 * with the group's VNI and multicast group. Such a group is refused, naming
 * what it heard, and so is one whose tunnel could not be read (whether another
 * lab shares its VNI is not known); either is taken down if this `room up`
 * built it (one that was up already is left to the instructor). True when
 * the group is refused.
 */
async function hearsOthers(room: Room, group: string, began: Date, say: (line: string) => void): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, LISTEN_SECONDS * 1000));
  let heard;
  try {
    heard = await foreignVteps(groupState(room, group));
  } catch (error) {
    say(
      `refused: could not read its tunnel's forwarding table, so whether another lab on its network segment uses its VNI is not known: ${escapeControls((error as Error).message, true)}`,
    );
    return refused(room, group, began, say, 'see why above, then `netlab room up` again');
  }
  if (heard.length === 0) return false;
  // A machine of another group of this room: named by its group.
  const owner = (address: string) =>
    room.groups
      .filter((g) => g.name !== group)
      .find((g) => Object.values(readState(groupLabId(room, g.name))?.facts ?? {}).some((f) => f.address === address));
  for (const { node, address } of heard) {
    const other = owner(address);
    say(
      `refused: ${node} hears VXLAN of this group's VNI from ${address}${other ? ` (group ${other.name}'s)` : ''}, which is none of its machines: another lab on this network segment uses the group's VNI and multicast group`,
    );
  }
  return refused(
    room,
    group,
    began,
    say,
    "stop the other lab, or give this room another secret (its groups' identifiers move with it)",
  );
}

/** A refused group's lab taken down where this `room up` built it, saying whether it went; always true. */
async function refused(
  room: Room,
  group: string,
  began: Date,
  say: (line: string) => void,
  then: string,
): Promise<true> {
  const lab = groupLabId(room, group);
  let state;
  try {
    state = readState(lab);
  } catch (error) {
    say(`not taken down: its state cannot be read (${escapeControls((error as Error).message, true)}); ${then}`);
    return true;
  }
  if (!state || Date.parse(state.createdAt) < +began) return true;
  // (built by this room up from the room's copy of the lab: one built by hand meanwhile is not the room's)
  if (!isRoomLab(room, group, state)) {
    say(`not taken down: lab ${lab} is up from ${state.file}, not from the room's copy of the lab; ${then}`);
    return true;
  }
  const down = await runNetlab(['down', lab, '--json'], say);
  say(
    down.exitCode === 0
      ? `taken down; ${then}`
      : `not taken down (its netlab down exited ${down.exitCode}; its lines above say why): \`netlab down ${lab}\` takes it down; ${then}`,
  );
  return true;
}

/** Builds a group's lab on its machines with a netlab of its own; its lines are the group's progress. */
async function upByChild(group: RoomGroup, labFile: string, say: (line: string) => void): Promise<number> {
  const result = await runNetlab(
    ['up', labFile, '--instance', group.name, ...targetFlags(group.target), '--json'],
    say,
    true,
  );
  let status = 'failed';
  try {
    status = (JSON.parse(result.stdout) as { status?: string }).status ?? 'failed';
  } catch {
    // no document: the child failed before it could write one
  }
  return result.exitCode === 0 && status !== 'up' ? 1 : result.exitCode;
}

/** The challenge `room start` begins: the one named, else the schedule's next. */
function nextChallenge(room: Room, model: Model, named: string | undefined): string {
  const challenges = model.challenges ?? [];
  if (named !== undefined) {
    if (!challenges.some((c) => c.id === named))
      throw new UsageError(
        `lab ${room.labName} has no challenge ${shown(named)}; it has ${challenges.map((c) => c.id).join(', ') || 'none'}`,
      );
    return named;
  }
  if (room.schedule.length === 0)
    throw new UsageError(
      `room ${room.name} has no schedule: name a challenge (${challenges.map((c) => c.id).join(', ')})`,
    );
  const done = challengesRun(readEvents(roomLog(room.name)));
  const next = room.schedule.find((s) => !done.has(s.challenge));
  if (!next)
    throw new UsageError(
      `every challenge of room ${room.name}'s schedule has run (${room.schedule.map((s) => s.challenge).join(', ')}); name one to run it again`,
    );
  return next.challenge;
}

/** `room start ROOM [CHALLENGE]`: the challenge made in every group, each at its own landing. */
export async function roomStartCommand(file: string, id: string | undefined, options: RoomOptions): Promise<number> {
  const parallel = parallelOf(options);
  const { room, record, model } = openRoom(file, 'start');
  const log = (event: NewEvent) => appendEvents(roomLog(room.name), [event]);
  // ^C: the groups being started finish (a fault made is recorded), no other group starts.
  const signals = finishDespiteSignals('the groups being started');
  const { challenge, landings, results } = await withRoomLock(room, 'start', async () => {
    const challenge = model.challenges!.find((c) => c.id === nextChallenge(room, model, id))!;
    const landings = landingsFor(room, record, model, challenge);
    log({
      e: 'round',
      challenge: challenge.id,
      title: challenge.title,
      hints: challenge.hints.length,
      groups: room.groups.map((g) => g.name),
    });
    const results = await bounded(room.groups, parallel, async (g) => {
      const event = signals.interrupted()
        ? { e: 'start-failed' as const, group: g.name, challenge: challenge.id, error: 'not started: interrupted' }
        : await startInGroup(room, challenge, g.name, landings.get(g.name)!, log);
      if (event.e === 'start-failed') log(event);
      return event;
    });
    return { challenge, landings, results };
  }).finally(signals.done);
  const code = signals.interrupted() ? EXIT_INTERRUPTED : results.some((r) => r.e === 'start-failed') ? 1 : 0;
  const places = new Set(landings.values()).size;
  const failed = results.filter((r) => r.e === 'start-failed');
  if (options.json) {
    printJson({
      room: room.name,
      challenge: challenge.id,
      title: challenge.title,
      // Where it landed is not said: the page and the board show no fault either.
      landings: places,
      groups: results.map((r) => ({
        name: r.group,
        started: r.e === 'start',
        ...(r.e === 'start-failed' ? { error: r.error } : {}),
      })),
    });
    return code;
  }
  console.log(`room ${room.name}: challenge ${challenge.id}: ${challenge.title}`);
  if (places > 1) console.log(`  it lands in one of ${places} places, dealt over the groups from the room's secret`);
  for (const r of results)
    console.log(r.e === 'start' ? chalk.green(`✓ ${r.group}: started`) : chalk.red(`✗ ${r.group}: ${r.error}`));
  if (failed.length && code === EXIT_INTERRUPTED)
    console.log(
      `interrupted: ${failed.length} group(s) not started; \`netlab room reset ${file} GROUP\` makes it in one (counted as a reset)`,
    );
  return code;
}

/** The board's width: the terminal's; a file or a pipe gets whole lines. */
function boardWidth(): number {
  return process.stdout.isTTY ? process.stdout.columns : Number.POSITIVE_INFINITY;
}

/** `room status ROOM`: every group graded once, then the board. */
export async function roomStatusCommand(file: string, options: RoomOptions): Promise<number> {
  const grading = gradingOf(options);
  const { room, model } = readRoom(file);
  requireNodeAccessFor(room.groups, 'room status');
  try {
    await gradeRoom(room, model, grading);
  } finally {
    endSessions();
  }
  const board = boardOf(room, model, readEvents(roomLog(room.name)));
  if (options.json) printJson(board);
  else process.stdout.write(renderBoard(board, boardWidth()));
  return board.groups.some((g) => g.condition === 'unreachable' || g.condition === 'down') ? 1 : 0;
}

/** `room watch ROOM`: the board, graded again every --every seconds, until Ctrl-C. */
export async function roomWatchCommand(file: string, options: RoomOptions & { every?: string }): Promise<number> {
  const [every, grading] = [everyOf(options.every), gradingOf(options)];
  const { room, model } = readRoom(file);
  requireNodeAccessFor(room.groups, 'room watch');
  await gradeUntilStopped(room, model, every, grading, () => {
    const board = boardOf(room, model, readEvents(roomLog(room.name)));
    // --json: one board per line (JSON lines), for a tool that follows the room.
    if (options.json) process.stdout.write(`${JSON.stringify(board)}\n`);
    else process.stdout.write(redrawn(renderBoard(board, boardWidth())));
  });
  return 0;
}

export function everyOf(text: string | undefined): number {
  if (text === undefined) return 5;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 1 || n > 3600)
    throw new UsageError(`--every takes seconds between gradings, 1-3600; found ${shown(text)}`);
  return n;
}

/** The port `room serve` listens on unless --listen says. */
export const DEFAULT_LISTEN = '127.0.0.1:8088';

/**
 * `room serve ROOM`: the board as a web page for the projector, and its JSON at
 * /board.json (a group's detail at /groups/NAME.json), while every group is
 * graded again every --every seconds. Read-only: the page shows no fault and no fix.
 */
export async function roomServeCommand(
  file: string,
  options: RoomOptions & { every?: string; listen?: string },
): Promise<number> {
  const [every, grading] = [everyOf(options.every), gradingOf(options)];
  const { room, model } = readRoom(file);
  requireNodeAccessFor(room.groups, 'room serve');
  const { parseListen, reusedFor, startBoardServer } = await import('../room/serve.js');
  const listen = parseListen(options.listen ?? DEFAULT_LISTEN);
  // Folded from the log at most once a second, whoever asks: every screen polls every 2 s, and an 8-hour log of
  // 30 groups takes a third of a second to fold. (Folded again whenever the log had grown, every request during
  // a round folded it: a room's screens could take every core.) A grading shows a second late at most.
  const cached = reusedFor(1000, async () => boardOf(room, model, readEvents(roomLog(room.name))));
  const board = async () => boardForProjector(await cached());
  const server = await startBoardServer({
    listen,
    room: room.name,
    board,
    detail: async (name) => {
      const row = (await board()).groups.find((g) => g.name === name);
      if (!row) return undefined;
      const state = readState(row.lab);
      const { graphData } = await import('../workshop/graph.js');
      return {
        version: BOARD_VERSION,
        room: room.name,
        group: row,
        graph: state ? graphData(state.model, state.facts) : graphData(model, simulatedFacts(model)),
      };
    },
  });
  if (options.json) printJson({ room: room.name, url: server.url, board: `${server.url}board.json` });
  else
    console.log(
      `room ${room.name}: the scoreboard is on ${server.url} (its JSON: ${server.url}board.json); Ctrl-C stops`,
    );
  try {
    await gradeUntilStopped(room, model, every, grading);
  } finally {
    await server.close();
  }
  return 0;
}

/** Grades every group every `every` seconds until SIGINT or SIGTERM; `after` runs after each round. */
async function gradeUntilStopped(
  room: Room,
  model: Model,
  every: number,
  grading: Grading,
  after: () => void = () => {},
): Promise<void> {
  // Ctrl-C, SIGTERM or a hangup: the round being graded stops, and logs none of the gradings it cut short
  // (gradeRoom). A second one ends netlab at once: a group whose machines hang holds a round up to its deadline.
  // (The TCP responders of a check it cut are left in their pods, answering as the others do, until down.)
  const stop = new AbortController();
  const leaveInterrupts = onInterrupts(() => {
    if (stop.signal.aborted) process.exit(EXIT_INTERRUPTED);
    stop.abort();
  });
  try {
    while (!stop.signal.aborted) {
      const began = Date.now();
      await gradeRoom(room, model, grading, stop.signal);
      if (stop.signal.aborted) break;
      after();
      while (!stop.signal.aborted && Date.now() - began < every * 1000) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    leaveInterrupts();
    // A session still running a script (a grading past its deadline, on a machine whose shell hangs) is stopped,
    // the idle ones end: netlab exits once the round is over, not when the machine answers.
    endSessions();
  }
}

/** `room hint ROOM [--group G]`: one more hint now, for one group or all. */
export async function roomHintCommand(file: string, options: RoomOptions & { group?: string }): Promise<number> {
  const chosen = (room: Room) => (options.group === undefined ? room.groups : [groupOf(room, options.group)]);
  const { room, model } = openRoom(file, 'hint', { groups: chosen });
  const targets = chosen(room);
  const { current, pushed } = await withRoomLock(room, 'hint', async () => {
    const before = currentRound(room, model, readEvents(roomLog(room.name)));
    if (!before)
      throw new UsageError(`no challenge is running in room ${room.name}: \`netlab room start ${file}\` starts one`);
    appendEvents(roomLog(room.name), [{ e: 'hint', challenge: before.challenge.id, group: options.group ?? null }]);
    // Put on the groups' labs now (grading rounds would too): learners read them at once.
    const current = currentRound(room, model, readEvents(roomLog(room.name)))!;
    const pushed = await bounded(targets, GRADE_PARALLEL, async (g) => {
      const mine = current.groups.get(g.name)!;
      try {
        const state = groupState(room, g.name);
        const done = await pushHints(state, readChallenge(state.lab), mine.identity, mine.hints);
        return { group: g.name, unlocked: mine.hints, pushed: done };
      } catch (error) {
        return {
          group: g.name,
          unlocked: mine.hints,
          pushed: false,
          error: escapeControls((error as Error).message, true),
        };
      }
    });
    return { current, pushed };
  });
  if (options.json) {
    printJson({ room: room.name, challenge: current.challenge.id, of: current.challenge.hints.length, groups: pushed });
    return 0;
  }
  for (const p of pushed)
    console.log(
      `${p.group}: ${p.unlocked} of ${current.challenge.hints.length} hints unlocked${p.pushed ? '' : ` (not on its lab yet${'error' in p ? `: ${p.error}` : ''}; the next grading puts them there)`}`,
    );
  return 0;
}

/** `room reset ROOM GROUP`: the group's lab built again, and the running challenge made in it again, where it was. */
export async function roomResetCommand(file: string, group: string, options: RoomOptions): Promise<number> {
  const { room, record, model } = openRoom(file, 'reset', { groups: (room) => [groupOf(room, group)] });
  const found = groupOf(room, group);
  // ^C, SIGTERM or a hangup: the reset finishes (a fault made is recorded); a child netlab rebuilding the lab gets
  // the signal too (runNetlab) and rolls its rebuild back.
  const signals = finishDespiteSignals(`group ${found.name}'s reset (a rebuild under way rolls itself back)`);
  const code = await withRoomLock(room, 'reset', () => resetGroup(room, record, model, found, file, options)).finally(
    signals.done,
  );
  return signals.interrupted() ? EXIT_INTERRUPTED : code;
}

async function resetGroup(
  room: Room,
  record: RoomRecord,
  model: Model,
  found: RoomGroup,
  file: string,
  options: RoomOptions,
): Promise<number> {
  const group = found.name;
  refuseOthersLab(room, group, readState(groupLabId(room, group)));
  const current = currentRound(room, model, readEvents(roomLog(room.name)));
  const labFile = writeGroupLab(room, model, record, found);
  // A Ctrl-C reaches the child netlab too (the terminal's process group), and a SIGTERM this netlab gets is passed
  // on to it (runNetlab): it stops its rebuild as `up` does (rolled back; a take-down it was in the middle of is
  // finished by the next one).
  const result = await runNetlab(
    ['up', labFile, '--instance', group, ...targetFlags(found.target), '--recreate', '--json'],
    prefixed(room, group, Boolean(options.json)),
    true,
  );
  if (result.exitCode !== 0) {
    const again = `\`netlab room reset ${file} ${group}\` builds it again`;
    // (130: it rolled back; 143 or 129: a SIGTERM or SIGHUP killed it before its own handling began, in the
    // take-down of the lab's old version, which the next reset finishes)
    const interrupted = [EXIT_INTERRUPTED, 128 + 15, 128 + 1].includes(result.exitCode);
    const why = interrupted
      ? `rebuilding ${groupLabId(room, group)} was interrupted; ${again}`
      : `rebuilding ${groupLabId(room, group)} failed (exit ${result.exitCode}; its lines above say why); ${again}`;
    if (options.json) printJson({ room: room.name, group, reset: false, error: why });
    else console.log(chalk.red(`✗ ${group}: ${why}`));
    return interrupted ? EXIT_INTERRUPTED : 1;
  }
  const log = (event: NewEvent) => appendEvents(roomLog(room.name), [event]);
  log({ e: 'reset', group, challenge: current?.challenge.id ?? null });
  // Where the fault landed at the round's start: a reset does not deal again.
  const landing =
    current && (current.groups.get(group)?.fault ?? landingsFor(room, record, model, current.challenge).get(group)!);
  const started = current ? await startInGroup(room, current.challenge, group, landing!, log) : undefined;
  if (started?.e === 'start-failed') log(started);
  const ok = !started || started.e === 'start';
  if (options.json) {
    printJson({
      room: room.name,
      group,
      reset: true,
      challenge: current?.challenge.id ?? null,
      started: started?.e === 'start',
      ...(started?.e === 'start-failed' ? { error: started.error } : {}),
    });
    return ok ? 0 : 1;
  }
  console.log(chalk.green(`✓ ${group}: ${groupLabId(room, group)} built again`));
  if (started)
    console.log(
      started.e === 'start'
        ? `  challenge ${current!.challenge.id} made in it again: unsolved, reset counted`
        : chalk.red(`  challenge ${current!.challenge.id} could not be made again: ${started.error}`),
    );
  return ok ? 0 : 1;
}

/** `room results ROOM --csv | --json`: every group × challenge, from the log. */
export function roomResultsCommand(file: string, options: JsonOption & { csv?: boolean }): number {
  if (Boolean(options.csv) === Boolean(options.json)) throw new UsageError('room results takes --csv or --json (one)');
  const { room, model } = readRoom(file);
  const rows = resultRows(room, model, readEvents(roomLog(room.name)));
  if (options.json) printJson({ room: room.name, lab: room.labName, results: rows });
  else process.stdout.write(resultsCsv(rows));
  return 0;
}

/** `room down ROOM`: every group's lab down; the room's log stays for its results. */
export async function roomDownCommand(file: string, options: RoomOptions): Promise<number> {
  const parallel = parallelOf(options);
  const { room, record } = openRoom(file, 'down');
  const json = Boolean(options.json);
  // The room file's groups, and any the room built that the file no longer lists (their labs stay its own).
  const listed = new Set(room.groups.map((g) => g.name));
  const removed = Object.keys(record.indexes).filter((g) => !listed.has(g));
  const results = await withRoomLock(room, 'down', async () => {
    // The round running ends before any lab goes down: its clocks and its hints stop here, a grading that finds a
    // fault mended by a down under way is not its solve, and a later `room up` has none running. A lab whose down
    // fails keeps its fault until a down takes it.
    const events = readEvents(roomLog(room.name));
    const last = roundsOf(events).at(-1);
    if (last && !endOf(events, last)) appendEvents(roomLog(room.name), [{ e: 'end' }]);
    return (
      await bounded([...listed, ...removed], parallel, async (group) => {
        const lab = groupLabId(room, group);
        let state;
        try {
          state = readState(lab);
        } catch (error) {
          // An unreadable state is this group's failure; the others go down. (`netlab down LAB` says what to do.)
          prefixed(room, group, json)(escapeControls((error as Error).message, true));
          return { group, lab, down: false, was: 'unreadable', exitCode: error instanceof UsageError ? 2 : 1 };
        }
        if (!state) return listed.has(group) ? { group, lab, down: true, was: 'not up' } : undefined;
        // Another room's lab of the same id is left alone.
        if (!isRoomLab(room, group, state))
          return listed.has(group)
            ? { group, lab, down: true, was: `not this room's (up from ${state.file})` }
            : undefined;
        const result = await runNetlab(['down', lab, '--json'], prefixed(room, group, json));
        const was = listed.has(group) ? 'up' : 'up (no longer in the room file)';
        return { group, lab, down: result.exitCode === 0, was, exitCode: result.exitCode };
      })
    ).filter((r) => r !== undefined);
  });
  const failed = results.filter((r) => !r.down);
  if (json) printJson({ room: room.name, groups: results });
  else {
    for (const r of results)
      console.log(
        r.down
          ? `✓ ${r.group}: ${r.lab} ${r.was.startsWith('up') ? `down${r.was.slice(2)}` : `left: ${r.was}`}`
          : chalk.red(`✗ ${r.group}: ${r.lab}: down failed (exit ${r.exitCode}); \`netlab down ${r.lab}\` says why`),
      );
    // The room's state is the user's who built it: root's under sudo, whose results a plain netlab does not see.
    const netlab = process.getuid?.() === 0 ? 'sudo netlab' : 'netlab';
    console.log(`the room's results stay: \`${netlab} room results ${file} --csv\``);
  }
  return failed.length ? 1 : 0;
}
