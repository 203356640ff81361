// `netlab challenge`: graded break-and-fix exercises. A challenge of the lab
// file names a fault of the lab's vocabulary (src/faults/faults.ts); `start`
// makes it on the node without saying what it is, `check` runs the goal checks
// and grades the fix, `hint` gives the hints in order, `reveal` shows the fault
// and the commands that mend it, `stop` mends it and ends the challenge. A lab
// taken down and up again is another run: `check` says that does not count.
import chalk from 'chalk';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { escapeControls, EXIT_INTERRUPTED, shown, UsageError } from '../errors.js';
import { labIdOf, type Model, type ModelChallenge } from '../model/lab.js';
import { quoteArgv } from '../os/quote.js';
import { seededRandom } from '../os/random.js';
import {
  challengeOfRun,
  challengesDir,
  faultIdOf,
  readChallenge,
  changeChallenge,
  type ChallengeRecord,
} from '../state/challenges.js';
import { CorruptState, describeRun, labIdsIn, labsDir, listStates, stateDir, type LabState } from '../state/store.js';
import {
  DEFAULT_STATE_DIR,
  describeDenied,
  me,
  ownerAndMode,
  unreadable,
  unreadableFile,
  unwritable,
  userName,
  type Denied,
} from '../state/access.js';
import { confirmAttached, refuseAttached } from '../lifecycle/attach.js';
import { describeCheck } from '../verify/run.js';
import { checksUntilStopped, checkVerifyOptions, printResults, verifyLab } from '../lifecycle/verify.js';
import {
  faultOf,
  mendFault,
  mendMachineOfSolved,
  shownMend,
  startFault,
  updateChallenge,
} from '../lifecycle/challenge.js';
import { findUpLab, LabNotUp, labModelOf, refuseOtherTarget, requireNodeAccess } from './common.js';
import type { TargetOptions } from '../exec/targets.js';
import { printJson, type JsonOption } from '../json-output.js';
import { finishDespiteSignals } from '../os/hangup.js';
import { acquireLock } from '../state/lock.js';

/** The model of a lab that is up, of a lab file, or of a bundled lab, by name. */
async function modelOf(arg: string): Promise<Model> {
  return (await labModelOf(arg)).model;
}

/** `netlab challenge list LAB` (or `netlab challenge LAB`): the lab's challenges. */
export async function challengeListCommand(arg: string, options: JsonOption): Promise<number> {
  const model = await modelOf(arg);
  const challenges = model.challenges ?? [];
  if (options.json) {
    printJson({
      lab: labIdOf(model),
      challenges: challenges.map(({ id, title, goal, hints }) => ({ id, title, goal, hints: hints.length })),
    });
    return 0;
  }
  if (challenges.length === 0) {
    console.log(`lab ${labIdOf(model)} has no challenges`);
    return 0;
  }
  console.log(`challenges of lab ${labIdOf(model)} (\`netlab challenge start ${labIdOf(model)} ID\`, or --random):`);
  for (const c of challenges) console.log(`  ${c.id.padEnd(20)} ${c.title}`);
  return 0;
}

/** `netlab challenge faults LAB`: every fault a challenge of this lab may name. */
export async function challengeFaultsCommand(arg: string, options: JsonOption): Promise<number> {
  const model = await modelOf(arg);
  const { faultIdsOf } = await import('../faults/faults.js');
  const ids = faultIdsOf(model);
  if (options.json) printJson({ lab: labIdOf(model), faults: ids });
  else for (const id of ids) console.log(id);
  return 0;
}

/** The challenge commands that act on a lab that is up. */
type Acting = 'check' | 'hint' | 'reveal' | 'stop';

/**
 * The lab a challenge command acts on: the one named, else the only lab with
 * an active challenge, else the only lab up. A user who may not read the state
 * (root's, of a lab brought up with sudo), or may not write the challenge's
 * record, is told so, with the command to run, before anything is written.
 */
async function labWithChallenge(sub: Acting, arg: string | undefined, target: TargetOptions = {}): Promise<LabState> {
  refuseUnreadable(sub, arg, target);
  let state: LabState;
  try {
    state = await findLab(arg, target);
  } catch (error) {
    // A state file this user may not read is no lab here, nor a corrupt one: it is another user's.
    if (error instanceof CorruptState) refuseUnreadable(sub, arg, target, [error.file]);
    if (error instanceof LabNotUp && arg === undefined) refuseUnreadable(sub, arg, target, stateFiles());
    if (error instanceof LabNotUp) throw new UsageError(notUpHere(error, inRootsState(sub, arg, target, error.note)));
    throw error;
  }
  refuseUnwritable(sub, arg, target);
  return state;
}

async function findLab(arg: string | undefined, target: TargetOptions): Promise<LabState> {
  if (arg !== undefined) return findUpLab(arg, target);
  const active = listStates().filter((s) => readChallenge(s.lab));
  if (active.length === 1) return refuseOtherTarget(active[0]!, target);
  if (active.length > 1)
    throw new UsageError(`challenges are active on several labs (${active.map((s) => s.lab).join(', ')}); name one`);
  return findUpLab(undefined, target);
}

/**
 * The same challenge command as the owner of the state directory runs it:
 * `sudo netlab challenge hint vxlan` (sudo does not pass NETLAB_STATE_DIR on,
 * so a directory other than the default is given on the command line), or,
 * for another user's directory, the command to run as that user.
 */
export function asOwner(
  sub: Acting,
  arg: string | undefined,
  target: Pick<TargetOptions, 'instance'>,
  owner: number,
  dir: string,
): string {
  const words = [
    'netlab',
    'challenge',
    sub,
    ...(arg === undefined ? [] : [arg]),
    ...(target.instance === undefined ? [] : ['--instance', target.instance]),
  ];
  const env = dir === DEFAULT_STATE_DIR ? [] : [`NETLAB_STATE_DIR=${dir}`];
  if (owner !== 0) return `run \`${quoteArgv([...env, ...words])}\` as ${userName(owner)}, who owns it`;
  return `run \`${quoteArgv(['sudo', ...env, ...words])}\``;
}

/** Whose a directory is, in a message: root's is where a lab brought up with sudo keeps its state and its challenge. */
function whose(denied: Denied): string {
  return denied.owner === 0
    ? "root's, as is a lab brought up with sudo and its challenge"
    : `${userName(denied.owner)}'s`;
}

/** Why each challenge command writes the challenge's record. */
const WRITES: Record<Acting, string> = {
  hint: 'the hints given are counted there',
  reveal: '`challenge check` says "revealed"',
  check: 'a solved challenge ends there',
  stop: 'the challenge ends there',
};

/** The labs' state files. */
function stateFiles(): string[] {
  try {
    return readdirSync(labsDir())
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(labsDir(), f));
  } catch {
    return [];
  }
}

/**
 * Refuses, naming the directory (or the state file), its owner and the
 * command to run, when this user may not read the labs' state.
 */
function refuseUnreadable(sub: Acting, arg: string | undefined, target: TargetOptions, files: string[] = []): void {
  if (process.getuid?.() === 0) return;
  const denied = unreadable([stateDir(), labsDir()]) ?? unreadableFile(files);
  if (!denied) return;
  const where = denied.path === resolve(stateDir()) ? '' : ` in ${stateDir()}`;
  throw new UsageError(
    `user ${me()} may not read the labs' state${where}: ${describeDenied(denied)} is ${whose(denied)}; ${asOwner(sub, arg, target, denied.owner, stateDir())}`,
  );
}

/**
 * Refuses the same way when this user may not write the challenges' records:
 * every challenge command that acts on a lab writes its record (a hint that
 * could not be counted is not given, a reveal that could not be recorded is
 * not shown).
 */
function refuseUnwritable(sub: Acting, arg: string | undefined, target: TargetOptions): void {
  if (process.getuid?.() === 0) return;
  const denied = unwritable(challengesDir());
  if (!denied) return;
  throw new UsageError(
    `\`netlab challenge ${sub}\` writes the challenge's record in ${challengesDir()} (${WRITES[sub]}), and user ${me()} may not write there: ${describeDenied(denied)} is ${whose(denied)}; ${asOwner(sub, arg, target, denied.owner, stateDir())}`,
  );
}

/**
 * A lab not up in this user's state, for a challenge command: where root's state may hold it (`roots`, from
 * inRootsState), that first, the likelier story for a learner whose instructor used sudo; then how to build one.
 */
export function notUpHere(error: Pick<LabNotUp, 'what' | 'remedy'>, roots: string): string {
  return roots ? `${error.what}${roots}; otherwise, ${error.remedy}` : `${error.what}; ${error.remedy}`;
}

/**
 * Where else a lab that is not up here may be: for root, the state directory of the user who ran sudo;
 * for a user, root's state directory, when
 * this user's is another (NETLAB_STATE_DIR; sudo does not pass it on, so a lab
 * brought up with sudo is in /var/lib/netlab). Empty when there is no such place.
 */
function inRootsState(sub: Acting, arg: string | undefined, target: TargetOptions, rootsNote: string): string {
  // (root's note, LabNotUp's: the labs the user who ran sudo brought up without it)
  if (process.getuid?.() === 0) return rootsNote;
  if (resolve(stateDir()) === DEFAULT_STATE_DIR) return '';
  const labs = join(DEFAULT_STATE_DIR, 'labs');
  const denied = unreadable([DEFAULT_STATE_DIR, labs]);
  const there = denied ? [] : labIdsIn(labs);
  return rootsLabsNote(
    stateDir(),
    { denied, labs: there },
    me(),
    asOwner(sub, arg, target, 0, DEFAULT_STATE_DIR),
    Boolean(process.env.NETLAB_STATE_DIR),
  );
}

/**
 * What a lab not up in this user's state directory (own) adds of root's: that
 * a lab brought up with sudo is there, which this user may not read (denied),
 * or the labs it has; empty when it has none.
 */
export function rootsLabsNote(
  own: string,
  roots: { denied?: Denied | undefined; labs: string[] },
  user: string,
  command: string,
  /** the state directory came from NETLAB_STATE_DIR (else it is the user's own default) */
  fromEnvironment = true,
): string {
  const here = fromEnvironment
    ? `This netlab's state is NETLAB_STATE_DIR=${own}; sudo does not pass NETLAB_STATE_DIR on, so a lab brought up with sudo is in ${DEFAULT_STATE_DIR}`
    : `This netlab's state is ${own}, yours (the labs you bring up without sudo); a lab brought up with sudo is root's, in ${DEFAULT_STATE_DIR}`;
  if (roots.denied) {
    const what = roots.denied.path === DEFAULT_STATE_DIR ? ownerAndMode(roots.denied) : describeDenied(roots.denied);
    return `. ${here}, which user ${user} may not read (${what}): if it was, ${command}`;
  }
  return roots.labs.length > 0 ? `. ${here}, which has ${roots.labs.join(', ')}: for those, ${command}` : '';
}

function challengeOf(state: LabState, id: string): ModelChallenge {
  const challenges = state.model.challenges ?? [];
  const challenge = challenges.find((c) => c.id === id);
  if (!challenge)
    throw new UsageError(
      `lab ${state.lab} has no challenge ${shown(id)}; it has ${challenges.map((c) => c.id).join(', ') || 'none'}`,
    );
  return challenge;
}

/**
 * The active challenge of a lab: its record, and whether the lab was rebuilt
 * since it started. On a lab attached from another controller, the record is
 * the owner's, as the nodes hold it (lifecycle/attach.ts).
 */
async function activeChallenge(
  state: LabState,
): Promise<{ record: ChallengeRecord; challenge: ModelChallenge; rebuilt: boolean; unlocked: string[] }> {
  const onNodes = state.attached ? await confirmAttached(state) : undefined;
  const record = state.attached ? onNodes && { lab: state.lab, ...onNodes, revealed: false } : readChallenge(state.lab);
  if (!record)
    throw new UsageError(
      state.attached
        ? `no challenge is active on lab ${state.lab}: its owner (${state.run ? describeRun(state.run) : '?'}) starts them`
        : `no challenge is active on lab ${state.lab}; \`netlab challenge ${state.lab}\` lists them, \`netlab challenge start ${state.lab} ID\` starts one`,
    );
  const challenge = challengeOf(state, record.id);
  return {
    record,
    challenge,
    rebuilt: record.run !== (state.run?.id ?? ''),
    unlocked: onNodes?.unlocked ?? challenge.hints.slice(0, record.hints),
  };
}

/**
 * A hint or the reveal of a challenge whose lab was rebuilt since it started (`up --recreate`): its fault went with
 * the old lab, so neither is given, nor counted.
 */
function refuseRebuilt(
  state: LabState,
  record: ChallengeRecord,
  challenge: ModelChallenge,
  rebuilt: boolean,
  what: 'hint' | 'reveal',
): void {
  if (!rebuilt) return;
  const { since, again } = rebuiltSince(state, record, challenge);
  throw new UsageError(
    `${since}: its fault went with the old lab, so there is no ${what === 'hint' ? 'hint' : 'fault'} to give; ${again}`,
  );
}

/**
 * A challenge whose lab was rebuilt since it started (check, hint, reveal): since when, and who makes it again (the
 * lab's owner for a learner attached to it, the room for a room's group).
 */
function rebuiltSince(
  state: LabState,
  record: ChallengeRecord,
  challenge: ModelChallenge,
): { since: string; again: string } {
  return {
    since: `lab ${state.lab} was rebuilt since challenge ${challenge.id} started (run ${record.run || '?'}, now ${state.run?.id ?? '?'})`,
    again: state.attached
      ? "the lab's owner starts it again"
      : record.room
        ? `\`netlab room reset\` of room ${record.room} makes it again`
        : `\`netlab challenge start ${state.lab} ${challenge.id}\` makes it again`,
  };
}

/** The challenge `--random [--seed N]` picks: the same for the same seed and list. */
export function pickChallenge<T>(challenges: readonly T[], seed: number): T {
  return challenges[Math.floor(seededRandom(seed)() * challenges.length)]!;
}

/**
 * start and stop change a node and then the challenge's record: neither a
 * terminal that hangs up nor ^C stops them between the two. Interrupted, they
 * finish, say so and exit 130.
 */
async function uninterrupted(what: string, work: () => Promise<number>): Promise<number> {
  const signals = finishDespiteSignals(what);
  try {
    const code = await work();
    if (!signals.interrupted()) return code;
    console.error(`interrupted: ${what} finished first${code === 0 ? '' : ` (exit ${code})`}`);
    return EXIT_INTERRUPTED;
  } finally {
    signals.done();
  }
}

export function challengeStartCommand(
  arg: string,
  id: string | undefined,
  options: JsonOption & TargetOptions & { random?: boolean; seed?: string },
): Promise<number> {
  return uninterrupted('challenge start', () => startChallenge(arg, id, options));
}

async function startChallenge(
  arg: string,
  id: string | undefined,
  options: JsonOption & TargetOptions & { random?: boolean; seed?: string },
): Promise<number> {
  const state = await findUpLab(arg, options);
  refuseAttached(state, '`netlab challenge start`');
  requireNodeAccess('challenge start', state.target);
  const challenges = state.model.challenges ?? [];
  if (challenges.length === 0) throw new UsageError(`lab ${state.lab} has no challenges`);
  if ((id === undefined) === !options.random)
    throw new UsageError(
      `name one challenge (${challenges.map((c) => c.id).join(', ')}) or --random, not ${id ? 'both' : 'neither'}`,
    );
  if (options.seed !== undefined && !options.random) throw new UsageError('--seed goes with --random');
  const seed = options.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(options.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new UsageError(`--seed takes a whole number 0-4294967295; found ${shown(String(options.seed))}`);
  const challenge = id === undefined ? pickChallenge(challenges, seed) : challengeOf(state, id);
  // One start at a time, from the look for an active challenge to its record: two at once would each find none,
  // and the second's record would hide the first's fault from stop and down. Another is refused at once, as a
  // second up is (a wait would hold off Ctrl-C, and the lab read before it could have gone meanwhile).
  const release = acquireLock(state.lab, 'netlab challenge start');
  try {
    const active = challengeOfRun(state);
    if (active)
      throw new UsageError(
        `challenge ${active.id} is active on lab ${state.lab}: \`netlab challenge check\` grades it, \`netlab challenge stop\` mends the lab and ends it`,
      );
    await startFault(state, faultOf(state, challenge.fault), {
      lab: state.lab,
      id: challenge.id,
      started: new Date().toISOString(),
      ...(options.random ? { seed } : {}),
    });
  } finally {
    release();
  }
  if (options.json) {
    printJson({
      lab: state.lab,
      challenge: challenge.id,
      title: challenge.title,
      goal: challenge.goal,
      ...(options.random ? { seed } : {}),
    });
    return 0;
  }
  console.log(`challenge ${challenge.id} on lab ${state.lab}${options.random ? ` (--random --seed ${seed})` : ''}:`);
  console.log(`  ${challenge.title}`);
  console.log(
    `netlab broke one thing in the lab and does not say what. Find it (verify, trace, show, exec) and fix it by hand;`,
  );
  console.log(
    `\`netlab challenge check\` grades the fix (checks ${challenge.goal.join(', ')} must pass), \`netlab challenge hint\` helps.`,
  );
  return 0;
}

export async function challengeCheckCommand(
  arg: string | undefined,
  options: JsonOption & TargetOptions & { connections?: string },
): Promise<number> {
  // A bad --connections is said before the lab is looked up, as verify says it.
  checkVerifyOptions({ ...(options.connections !== undefined ? { connections: options.connections } : {}) });
  const state = await labWithChallenge('check', arg, options);
  requireNodeAccess('challenge check', state.target);
  const { record, challenge, rebuilt } = await activeChallenge(state);
  if (rebuilt) {
    const { since, again } = rebuiltSince(state, record, challenge);
    const why = `${since}: a new lab has no fault to find, so that does not count`;
    if (options.json) printJson({ lab: state.lab, challenge: challenge.id, solved: false, rebuilt: true, why });
    else console.log(chalk.red(`✗ not solved: ${why}; ${again}`));
    if (!state.attached && !record.room) await updateChallenge(state, record, () => undefined);
    return 1;
  }
  const results = await checksUntilStopped((stop) =>
    verifyLab(state, {
      check: challenge.goal.map(String),
      ...(options.connections !== undefined ? { connections: options.connections } : {}),
      stop,
    }),
  );
  if (!results) return EXIT_INTERRUPTED;
  const solved = results.every((r) => r.ok);
  const minutes = (Date.now() - Date.parse(record.started)) / 60_000;
  // The owner's solved challenge ends, what its fault changed of the machine put back first
  // (mendMachineOfSolved): a node that does not take that back keeps the record, for stop or down to put it back.
  // An attached learner's check is advice and changes nothing, as is a check of a room's lab: the room grades
  // it by its own checks (room/grade.ts).
  let warning: string | undefined;
  if (solved && !state.attached && !record.room) {
    try {
      await mendMachineOfSolved(state, record);
      // Ended here first: a node that does not take the end shows the one before to a learner attached there.
      warning = await updateChallenge(state, record, () => undefined);
    } catch (error) {
      warning = `what the fault changed of the machine could not be put back (${escapeControls((error as Error).message, true)}); \`netlab challenge stop ${state.lab}\` or \`netlab down ${state.lab}\` puts it back`;
      console.error(`netlab: ${warning}`);
    }
  }
  if (options.json) {
    printJson({
      lab: state.lab,
      challenge: challenge.id,
      solved,
      rebuilt: false,
      minutes: Number(minutes.toFixed(1)),
      hints: record.hints,
      revealed: record.revealed,
      ...(warning ? { warning } : {}),
      checks: results.map((r) => ({
        number: r.number,
        name: describeCheck(r.check),
        ok: r.ok,
        evidence: r.evidence,
      })),
    });
    return solved ? 0 : 1;
  }
  printResults(state.lab, results);
  if (solved) {
    const help = [`${record.hints} hint${record.hints === 1 ? '' : 's'}`, ...(record.revealed ? ['revealed'] : [])];
    console.log(chalk.green(`✓ solved: challenge ${challenge.id} in ${minutes.toFixed(1)} min (${help.join(', ')})`));
    return 0;
  }
  const failed = results.filter((r) => !r.ok);
  console.log(chalk.red(`✗ not solved yet: ${failed.length} of ${results.length} goal checks fail`));
  console.log('  `netlab trace FROM TO` walks a failing pair hop by hop; `netlab challenge hint` gives the next hint');
  return 1;
}

export async function challengeHintCommand(
  arg: string | undefined,
  options: JsonOption & TargetOptions,
): Promise<number> {
  const state = await labWithChallenge('hint', arg, options);
  const { record, challenge, unlocked, rebuilt } = await activeChallenge(state);
  refuseRebuilt(state, record, challenge, rebuilt, 'hint');
  if (state.attached) return attachedHints(state, unlocked, challenge, options);
  // A room's lab: the room unlocks its hints; the room counts the ones read.
  if (record.room) {
    if ((record.read ?? 0) < record.hints)
      changeChallenge(record, (current) => ({ ...current, read: Math.max(current.read ?? 0, record.hints) }));
    return attachedHints(state, unlocked, challenge, options);
  }
  const next = challenge.hints[record.hints];
  if (next !== undefined)
    await updateChallenge(state, record, (current) => ({
      ...current,
      hints: Math.max(current.hints, record.hints + 1),
    }));
  if (options.json) {
    printJson({
      lab: state.lab,
      challenge: challenge.id,
      hint: next ?? null,
      number: next === undefined ? null : record.hints + 1,
      of: challenge.hints.length,
    });
    return 0;
  }
  if (next === undefined)
    console.log(
      `no more hints for ${challenge.id} (${challenge.hints.length} given); \`netlab challenge reveal\` shows the fault and how to mend it`,
    );
  else console.log(`hint ${record.hints + 1} of ${challenge.hints.length}: ${next}`);
  return 0;
}

export async function challengeRevealCommand(
  arg: string | undefined,
  options: JsonOption & TargetOptions,
): Promise<number> {
  const state = await labWithChallenge('reveal', arg, options);
  refuseAttached(state, '`netlab challenge reveal`');
  const { record, challenge, rebuilt } = await activeChallenge(state);
  refuseRebuilt(state, record, challenge, rebuilt, 'reveal');
  const fault = faultOf(state, faultIdOf(record, challenge));
  changeChallenge(record, (current) => ({ ...current, revealed: true }));
  const mend = shownMend(fault, record);
  if (options.json) {
    printJson({
      lab: state.lab,
      challenge: challenge.id,
      fault: fault.id,
      node: fault.node,
      describe: fault.describe,
      step: fault.step,
      made: fault.apply,
      mend,
      ...(record.changed ? { changed: record.changed } : {}),
    });
    return 0;
  }
  console.log(`challenge ${challenge.id}: on ${fault.node}, ${fault.describe}`);
  console.log(`  it undoes step ${fault.step.id} of ${fault.node}'s plan: ${fault.step.summary}`);
  console.log(`  netlab made it with:`);
  for (const c of fault.apply) printCommand(c);
  if (record.changed) {
    console.log(`  what it changed on ${fault.node}${record.changed.length ? ':' : ': nothing visible'}`);
    for (const line of record.changed) console.log(`    ${line}`);
  }
  console.log(`  this mends it (on ${fault.node}: \`netlab exec ${fault.node} -- …\`):`);
  for (const c of mend) printCommand(c);
  return 0;
}

/** A command of a fault: a plain command, as a learner types it (no fault uses netlab's helpers: test/unit/by-hand). */
function printCommand(command: readonly string[]): void {
  console.log(`    ${quoteArgv(command)}`);
}

export function challengeStopCommand(
  arg: string | undefined,
  options: JsonOption & TargetOptions = {},
): Promise<number> {
  return uninterrupted('challenge stop', () => stopChallenge(arg, options));
}

async function stopChallenge(arg: string | undefined, options: JsonOption & TargetOptions): Promise<number> {
  const state = await labWithChallenge('stop', arg, options);
  requireNodeAccess('challenge stop', state.target);
  refuseAttached(state, '`netlab challenge stop`');
  const { record, challenge, rebuilt } = await activeChallenge(state);
  // Mended by hand, a room's challenge would be graded solved: the room ends it, by starting the next.
  if (record.room && !rebuilt)
    throw new UsageError(
      `challenge ${challenge.id} of lab ${state.lab} belongs to room ${record.room}: \`netlab room start\` starts its next challenge, \`netlab room reset\` builds the group's lab again`,
    );
  // (a down that stopped halfway mended it already: mended again, its lab objects would be made anew)
  const mend = !rebuilt && !record.mended;
  const kept = mend ? await mendFault(state, faultOf(state, faultIdOf(record, challenge))) : [];
  await updateChallenge(state, record, () => undefined);
  if (options.json) {
    printJson({ lab: state.lab, challenge: challenge.id, ended: true, mended: mend });
    return 0;
  }
  console.log(
    rebuilt
      ? `challenge ${challenge.id} ended (lab ${state.lab} was rebuilt since it started: nothing to mend)`
      : mend
        ? `challenge ${challenge.id} ended: the fault is mended`
        : `challenge ${challenge.id} ended (its fault was mended by a \`netlab down\` that did not finish)`,
  );
  // (what a node said: a learner is root on the machines of a lab they work on)
  for (const line of kept) console.log(`  ${escapeControls(line, true)}`);
  return 0;
}

/**
 * `challenge hint` on an attached lab: the hints the owner has unlocked so far,
 * and no more (the owner, or a room's schedule, unlocks them).
 */
function attachedHints(state: LabState, unlocked: string[], challenge: ModelChallenge, options: JsonOption): number {
  if (options.json) {
    printJson({
      lab: state.lab,
      challenge: challenge.id,
      hints: unlocked,
      unlocked: unlocked.length,
      of: challenge.hints.length,
    });
    return 0;
  }
  if (unlocked.length === 0)
    console.log(
      `no hint of ${challenge.id} is unlocked yet (${challenge.hints.length} in all): your instructor unlocks them`,
    );
  unlocked.forEach((hint, i) => console.log(`hint ${i + 1} of ${challenge.hints.length}: ${hint}`));
  return 0;
}
