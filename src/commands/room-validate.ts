// `netlab room validate ROOM_FILE`: every problem of
// a room file, and of its lab file, as `netlab validate` says a lab's.
import { inputProblems, UsageError } from '../errors.js';
import { printJson, type JsonOption } from '../json-output.js';
import { loadRoomFile } from '../room/load.js';

/**
 * Checks a room file: exit 0 with a line that sums it up, or exit 2 with every
 * problem at file:line:column (those of its lab file name that file). --json
 * gives each problem as fields (`issues`) beside the lines (`problems`).
 */
export function validateRoomCommand(file: string, options: JsonOption = {}): number {
  try {
    const room = loadRoomFile(file);
    const scheduled = room.schedule.length;
    if (options.json)
      printJson({
        room: file,
        file: room.file,
        ok: true,
        name: room.name,
        lab: room.labName,
        labFile: room.labFile,
        groups: room.groups.map((g) => g.name),
        schedule: room.schedule.map((s) => s.challenge),
        problems: [],
        issues: [],
      });
    else
      console.log(
        `${file}: ok (room ${room.name}: lab ${room.labName}, ${room.groups.length} group(s), ${scheduled} challenge(s) scheduled)`,
      );
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const { problems, issues } = inputProblems(error, file);
    if (options.json) printJson({ room: file, ok: false, problems, issues });
    else console.error(problems.join('\n'));
    return 2;
  }
}
