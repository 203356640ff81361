// A room's challenge in one group: the group's earlier challenge mended and
// ended, the fault made at the group's landing (room/landing.ts), and the
// record saying the room owns it (its grading and hints are the room's).
import { faultOf, mendFault, mendMachineOfSolved, startFault } from '../lifecycle/challenge.js';
import type { Model, ModelChallenge } from '../model/lab.js';
import { challengeOfRun, faultIdOf } from '../state/challenges.js';
import type { LabState } from '../state/store.js';
import type { Room } from './file.js';
import { groupLabId, groupState } from './groups.js';
import { dealLandings, landingsOf } from './landing.js';
import { readEvents, type NewEvent, type StartEvent, type StartFailedEvent } from './log.js';
import { passedAtLastGrading } from './score.js';
import { roomLog, type RoomRecord } from './state.js';
import { buildPlan } from '../plan/build.js';
import { escapeControls } from '../errors.js';

/** Where a challenge lands in each group: dealt once per `room start` (a reset keeps its group's landing). */
export function landingsFor(
  room: Room,
  record: RoomRecord,
  model: Model,
  challenge: ModelChallenge,
): Map<string, string> {
  return dealLandings(
    record.secret,
    room.name,
    challenge.id,
    room.groups.map((g) => g.name),
    landingsOf(model, challenge),
  );
}

/**
 * Makes the challenge in one group's lab at `landing`. The start is logged
 * (by `log`) before the fault is made, with the identity its record gets
 * after: a grading in between finds no such record and counts for nothing.
 */
export async function startInGroup(
  room: Room,
  challenge: ModelChallenge,
  group: string,
  landing: string,
  log: (event: NewEvent) => void,
): Promise<Omit<StartEvent, 't'> | Omit<StartFailedEvent, 't'>> {
  // What a node said, escaped (as a grading's error): learners are root on their machines, and it reaches the
  // instructor's terminal and the room's log.
  const failed = (error: string) => ({
    e: 'start-failed' as const,
    group,
    challenge: challenge.id,
    error: escapeControls(error, true),
  });
  let state: LabState;
  try {
    state = groupState(room, group);
  } catch (error) {
    return failed((error as Error).message);
  }
  const started = new Date().toISOString();
  const start = {
    e: 'start' as const,
    group,
    challenge: challenge.id,
    run: state.run?.id ?? '',
    fault: landing,
    started,
  };
  try {
    // The challenge before, if any: mended, so that the lab has one fault at a time. One the group solved, its
    // lab still passing at its last grading, keeps the lab's objects as its learners mended them (a VNI matched
    // on the other node, which the fault's own mend would break again: a hidden second fault in the new
    // challenge); only what its fault changed of the machine goes back, as a solved `challenge check` does. The
    // log is read here, as late as can be: a grading logged while room start was on its way to this group counts.
    const before = challengeOfRun(state);
    const earlier = before && state.model.challenges?.find((c) => c.id === before.id);
    const plan = buildPlan(state.model, state.facts);
    if (earlier) {
      const passing = passedAtLastGrading(readEvents(roomLog(room.name)), group, {
        run: before.run,
        started: before.started,
        challenge: before.id,
      });
      if (passing) await mendMachineOfSolved(state, before);
      else await mendFault(state, faultOf(state, faultIdOf(before, earlier), plan));
    }
    log(start);
    await startFault(state, faultOf(state, landing, plan), {
      lab: groupLabId(room, group),
      id: challenge.id,
      started,
      room: room.name,
      ...(landing !== challenge.fault ? { fault: landing } : {}),
    });
    return start;
  } catch (error) {
    return failed((error as Error).message);
  }
}
