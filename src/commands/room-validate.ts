// `netlab room validate ROOM_FILE`: every problem of
// a room file, and of its lab file, as `netlab validate` says a lab's.
import { formatIssue, inputProblems, issueFields, UsageError } from '../errors.js';
import { printJson, type JsonOption } from '../json-output.js';
import { loadRoomAndLab } from '../room/load.js';

/**
 * Checks a room file: exit 0 with a line that sums it up (and its lab's warnings,
 * as validate says them), or exit 2 with every problem at file:line:column (those
 * of its lab file name that file). --json gives each problem and warning as
 * fields (`issues`) beside the lines (`problems`, `warnings`).
 */
export function validateRoomCommand(file: string, options: JsonOption = {}): number {
  try {
    const { room, labWarnings } = loadRoomAndLab(file);
    const scheduled = room.schedule.length;
    const warnings = labWarnings.map(formatIssue);
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
        warnings,
        issues: labWarnings.map(issueFields),
      });
    else {
      // Its lab's warnings, as validate says them (every group's lab would fail such a check).
      if (warnings.length) console.error(warnings.join('\n'));
      console.log(
        `${file}: ok (room ${room.name}: lab ${room.labName}, ${room.groups.length} group(s), ${scheduled} challenge(s) scheduled${warnings.length ? `, ${warnings.length} warning(s) of its lab` : ''})`,
      );
    }
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const { problems, issues } = inputProblems(error, file);
    if (options.json) printJson({ room: file, ok: false, problems, issues });
    else console.error(problems.join('\n'));
    return 2;
  }
}
