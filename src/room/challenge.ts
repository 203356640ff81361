// A room's challenge in one group: the group's earlier challenge mended and
// ended, the fault made at the group's landing (room/landing.ts), and the
// record saying the room owns it (its grading and hints are the room's).
import { faultOf, makeFault, mendFault, saveChallenge } from '../lifecycle/challenge.js';
import type { ModelChallenge } from '../model/lab.js';
import { challengeOfRun, faultIdOf } from '../state/challenges.js';
import { readState } from '../state/store.js';
import type { Room } from './file.js';
import { groupLabId } from './groups.js';
import { dealLandings } from './landing.js';
import type { StartEvent, StartFailedEvent } from './log.js';
import type { RoomRecord } from './state.js';

/** Makes the challenge in one group's lab; what happened, for the log. */
export async function startInGroup(
  room: Room,
  record: RoomRecord,
  challenge: ModelChallenge,
  group: string,
  landings: readonly string[],
): Promise<Omit<StartEvent, 't'> | Omit<StartFailedEvent, 't'>> {
  const failed = (error: string) => ({ e: 'start-failed' as const, group, challenge: challenge.id, error });
  const lab = groupLabId(room, group);
  const state = readState(lab);
  if (!state || state.status !== 'up') return failed(`lab ${lab} is not up (\`netlab room up\` builds it)`);
  try {
    // The challenge before, if any: mended, so that the lab has one fault at a time.
    const before = challengeOfRun(state);
    const earlier = before && state.model.challenges?.find((c) => c.id === before.id);
    if (earlier) await mendFault(state, faultOf(state, faultIdOf(before, earlier)));
    const landing =
      dealLandings(
        record.secret,
        room.name,
        challenge.id,
        room.groups.map((g) => g.name),
        landings,
      ).get(group) ?? challenge.fault;
    const changed = await makeFault(state, faultOf(state, landing));
    await saveChallenge(state, {
      lab,
      id: challenge.id,
      run: state.run?.id ?? '',
      started: new Date().toISOString(),
      hints: 0,
      revealed: false,
      room: room.name,
      ...(landing !== challenge.fault ? { fault: landing } : {}),
      ...(changed ? { changed } : {}),
    });
    return { e: 'start', group, challenge: challenge.id, run: state.run?.id ?? '', fault: landing };
  } catch (error) {
    return failed((error as Error).message);
  }
}
