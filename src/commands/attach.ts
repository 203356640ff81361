// `netlab attach` and `netlab detach`: a learner's netlab working on a lab that
// someone else (an instructor's netlab) built on machines both can reach. The
// attached controller reads the lab from its nodes' own records; it can look
// (verify, status, trace, exec, show, capture, graph, challenge check and hint)
// and never changes the lab as built: that stays with the owner.
import { UsageError } from '../errors.js';
import { printJson, type JsonOption } from '../json-output.js';
import { confirmAttached, readLabRecord } from '../lifecycle/attach.js';
import { sshTarget, sshTargetForHosts, wantsSsh, type TargetOptions } from '../exec/targets.js';
import { transportsOf } from '../exec/transports.js';
import { closeMasters } from '../exec/ssh.js';
import { describeRun, readState, removeState, STATE_VERSION, writeState, type LabState } from '../state/store.js';
import { labIdFor, labNameOf } from './common.js';
import { acquireLock } from '../state/lock.js';

export async function attachCommand(arg: string, options: JsonOption & TargetOptions): Promise<number> {
  if (!wantsSsh(options))
    throw new UsageError(
      'attach reaches a lab on machines over SSH: give --ssh-config FILE, --inventory FILE or --vagrant (a lab on simulated nodes lives on the host that built it)',
    );
  const lab = labIdFor(await labNameOf(arg), options.instance);
  refuseOwn(lab);
  const hosts = await sshTargetForHosts(options);
  const record = await readLabRecord(lab, transportsOf({ target: hosts }));
  await closeMasters(hosts);
  const { target } = await sshTarget(record.model, options);
  const now = new Date().toISOString();
  const state: LabState = {
    version: STATE_VERSION,
    lab,
    file: record.model.file,
    status: 'up',
    createdAt: now,
    run: record.run,
    target,
    facts: record.facts,
    model: record.model,
    attached: { at: now },
  };
  await confirmAttached(state);
  // Written with the lab's lock, as up and down write: an up of the same lab here since the first look
  // (the SSH reads take a while) is not overwritten.
  const release = acquireLock(lab, 'netlab attach');
  try {
    refuseOwn(lab);
    writeState(state);
  } finally {
    release();
  }
  if (options.json) {
    printJson({ lab, attached: true, owner: record.run, nodes: Object.keys(target.hosts) });
    return 0;
  }
  console.log(`attached to lab ${lab} on ${Object.keys(target.hosts).join(', ')}: built by ${describeRun(record.run)}`);
  console.log(
    `  from here: verify, status, trace, exec, show, capture, graph, challenge check and hint; down, up --recreate and challenge start/stop/reveal stay with its owner. \`netlab detach ${lab}\` forgets it here`,
  );
  return 0;
}

/** A lab built from this controller is its own: never taken for an attached one. */
function refuseOwn(lab: string): void {
  const existing = readState(lab);
  if (existing && !existing.attached)
    throw new UsageError(`lab ${lab} was built from this controller: it is yours already (\`netlab status ${lab}\`)`);
}

export async function detachCommand(arg: string, options: JsonOption & TargetOptions): Promise<number> {
  const lab = labIdFor(await labNameOf(arg), options.instance);
  const release = acquireLock(lab, 'netlab detach');
  let state;
  try {
    state = readState(lab);
    if (!state) throw new UsageError(`lab ${lab} is not attached here`);
    if (!state.attached)
      throw new UsageError(
        `lab ${lab} was built from this controller, not attached: \`netlab down ${lab}\` takes it down`,
      );
    removeState(lab);
  } finally {
    release();
  }
  if (state.target.kind === 'ssh') await closeMasters(state.target);
  if (options.json) printJson({ lab, detached: true });
  else console.log(`lab ${lab}: detached here; nothing was changed on its nodes`);
  return 0;
}
