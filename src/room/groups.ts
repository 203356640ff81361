// A room's groups as lab instances: each group's copy of the lab file, the
// target flags that reach its machines, and the lab commands (`netlab up`,
// `netlab down`) run for it as a netlab of its own, so that groups build side
// by side, each with its own output, its own rollback and its own exit code.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { packageRoot } from '../lab/bundled.js';
import { run } from '../exec/spawn.js';
import type { ScriptResult } from '../exec/transport.js';
import type { Model } from '../model/lab.js';
import { labId } from '../model/grammar.js';
import { crossNodeWiring } from '../wiring/registry.js';
import { MAX_GROUPS, type GroupTarget, type Room, type RoomGroup } from './file.js';
import { groupOverlay, roomSlot, withOverlay, type GroupOverlay } from './overlay.js';
import { quoteArgv } from '../os/quote.js';
import { groupLabFile, type RoomRecord } from './state.js';
import { UsageError } from '../errors.js';
import { SIGNALS_PASSED_ON } from '../os/hangup.js';
import { readState, writeFileAtomic, type LabState } from '../state/store.js';

/** The lab id of a group's lab: the room's lab, as the instance named after the group. */
export function groupLabId(room: Pick<Room, 'labName'>, group: string): string {
  return labId(room.labName, group);
}

/** Whether a lab that is up is this room's group's: built from the group's copy of the lab file. */
export function isRoomLab(room: Room, group: string, state: Pick<LabState, 'file'>): boolean {
  return state.file === groupLabFile(room.name, group);
}

/**
 * The group's lab, up, and this room's: another room with a group of the same
 * name has a lab of the same id, and a room never touches another's.
 */
export function groupState(room: Room, group: string): LabState {
  const lab = groupLabId(room, group);
  const state = readState(lab);
  // Built by `room up`, a group's lab has no challenge yet: reset makes the running one in it too.
  if (!state || state.status !== 'up')
    throw new UsageError(
      `lab ${lab} is not up: \`${quoteArgv(['netlab', 'room', 'reset', room.file, group])}\` builds it again`,
    );
  refuseOthersLab(room, group, state);
  return state;
}

/** What is wrong with a lab of the group's id that is not from this room's copy of the lab file, if it is not. */
export function othersLab(room: Room, group: string, state: LabState | undefined): string | undefined {
  // A lab this state directory attached to is its owner's, whatever file it names.
  if (state?.attached)
    return `lab ${state.lab} here is attached to a lab another controller built (\`netlab detach ${state.lab}\` forgets it), not room ${room.name}'s; left as it is`;
  return state && !isRoomLab(room, group, state)
    ? `lab ${state.lab} is up from ${state.file}, not from room ${room.name}'s copy of the lab: another room, or a lab built by hand; left as it is`
    : undefined;
}

/** Refuses (exit 2) a lab of the group's id that is not from this room's copy of the lab file. */
export function refuseOthersLab(room: Room, group: string, state: LabState | undefined): void {
  const wrong = othersLab(room, group, state);
  if (wrong) throw new UsageError(wrong);
}

/** The lab commands' target flags for a group (none for simulated nodes). */
export function targetFlags(target: GroupTarget): string[] {
  switch (target.kind) {
    case 'simulated':
      return [];
    case 'ssh-config':
      return ['--ssh-config', target.file];
    case 'inventory':
      return ['--inventory', target.file];
    case 'vagrant-dir':
      return ['--vagrant-dir', target.dir];
  }
}

/** The group's overlay identifiers (undefined: the lab has no tunnel). */
export function overlayOf(model: Model, record: RoomRecord, group: string): GroupOverlay | undefined {
  if (!model.tunnel) return undefined;
  // Over a routed underlay VXLAN floods by unicast, to the nodes it lists: no group to move (nor may one be written).
  const tunnel = model.underlay ? { id: model.tunnel.id } : model.tunnel;
  const overlay = groupOverlay(tunnel, roomSlot(record.secret, record.indexes[group]!, MAX_GROUPS));
  if (!overlay)
    throw new UsageError(
      `group ${group}: the lab's VNI ${model.tunnel.id}${model.tunnel.group ? ` and group ${model.tunnel.group}` : ''} leave no room for a group's own; give the lab a smaller VNI`,
    );
  return overlay;
}

/**
 * Writes the group's copy of the lab file (when it differs) and returns its
 * path: the lab as written, with the group's own overlay identifiers.
 */
export function writeGroupLab(room: Room, model: Model, record: RoomRecord, group: RoomGroup): string {
  const file = groupLabFile(room.name, group.name);
  const text = readFileSync(room.labFile, 'utf8');
  const overlay = overlayOf(model, record, group.name);
  const lab = overlay
    ? withOverlay(
        text,
        crossNodeWiring(model.crossNode).settings!.key,
        overlay,
        ` netlab room ${room.name}, group ${group.name}: ${room.labFile} with the group's own VNI ${overlay.id}${overlay.group ? ` and group ${overlay.group}` : ''}`,
      )
    : text;
  if (!existsSync(file) || readFileSync(file, 'utf8') !== lab) writeFileAtomic(file, lab);
  return file;
}

/**
 * The group's lab as its copy of the lab file reads: the lab's model with the
 * group's overlay identifiers, as the instance named after the group. The same
 * model `netlab up GROUP-FILE --instance GROUP` builds (a unit test compares
 * them for every bundled lab), without reading and checking the file again.
 */
export function groupModel(room: Room, model: Model, record: RoomRecord, group: string): Model {
  const overlay = overlayOf(model, record, group);
  return {
    ...model,
    instance: group,
    file: groupLabFile(room.name, group),
    ...(overlay && model.tunnel ? { tunnel: { ...model.tunnel, ...overlay } } : {}),
  };
}

/**
 * This netlab's own command line, as a user's shell starts it: the package's
 * bin/netlab (from the bundle or from the compiled tests), whose first line
 * starts Node as netlab wants it (without NODE_EXTRA_CA_CERTS's certificates),
 * with this process's Node first on its PATH.
 */
function netlabCommand(): { command: string; env: NodeJS.ProcessEnv } {
  return {
    command: join(packageRoot(), 'bin', 'netlab'),
    env: { ...process.env, PATH: [dirname(process.execPath), process.env.PATH].filter(Boolean).join(':') },
  };
}

/** The child netlabs running `up` for groups now: a SIGTERM this netlab gets is passed on to each (runNetlab). */
const building = new Set<ChildProcess>();
const passOnTerm = () => {
  for (const child of building) child.kill('SIGTERM');
};

/**
 * Runs a netlab command for a group; each line it prints to stderr goes to
 * `progress` as it comes (a room shows every group's progress), its stdout is
 * kept (a --json document).
 *
 * `passSignals` (an `up`, which rolls back on a signal): a SIGTERM this netlab
 * gets is passed on to the child. A terminal's Ctrl-C and hangup reach the
 * child by themselves (it is in this netlab's process group), but a `kill
 * -TERM` sent to the room's netlab alone (an instructor's, a service manager's
 * that stops the main process first) did not: the child went on building a lab
 * the room had given up. Where the SIGTERM was sent to every process (a service
 * manager's stop, `pkill`), the child gets it twice at once, and takes the two
 * as one (os/hangup.ts SIGNALS_PASSED_ON): an `up`'s second signal stops its
 * rollback.
 */
export async function runNetlab(
  args: string[],
  progress: (line: string) => void,
  passSignals = false,
): Promise<ScriptResult> {
  const { command, env } = netlabCommand();
  let partial = '';
  let child: ChildProcess | undefined;
  // (first among the listeners: a handler of this netlab's may end it on a second signal)
  if (passSignals && building.size === 0) process.prependListener('SIGTERM', passOnTerm);
  try {
    const result = await run(command, args, {
      env: passSignals ? { ...env, [SIGNALS_PASSED_ON]: '1' } : env,
      started: (started) => {
        child = started;
        if (passSignals) building.add(started);
      },
      onStderr: (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line.trim()) progress(line);
      },
    });
    if (partial.trim()) progress(partial);
    return result;
  } finally {
    if (child) building.delete(child);
    if (passSignals && building.size === 0) process.off('SIGTERM', passOnTerm);
  }
}
