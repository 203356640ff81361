// What several commands share: finding a lab (by file or by name) and reaching its nodes.
import { existsSync, lstatSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { placeGiven, wantsSsh, type TargetOptions } from '../exec/targets.js';
import { labIdsIn, listStates, readState, stateDir, type LabState } from '../state/store.js';
import { shown, UsageError } from '../errors.js';
import { quoteArg } from '../os/quote.js';
import { defaultLabName, instanceNameProblem, labId, labIdProblem, labNameProblem } from '../model/grammar.js';
import { labIdOf, type Model } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import { bundledLabNames, bundledLabsDir } from '../lab/bundled.js';
import type { Holder, SimulatedTargetState } from '../state/targets.js';
import { DEFAULT_STATE_DIR, passwdEntry } from '../state/access.js';
import { mayEnterNodes, otherMachine, userNamespaceProblem, withoutRoot } from '../exec/userns.js';
import { holderRunning } from '../exec/simulated.js';

/** A directory where a lab was meant (`netlab plan /tmp`, `netlab validate labs`): the same words from every command. */
function notALabFile(dir: string): UsageError {
  return new UsageError(
    `${shown(dir)} is a directory: name a lab file (such as labs/vxlan.yaml) or a lab (such as vxlan)`,
  );
}

export function looksLikeFile(arg: string): boolean {
  return arg.includes('/') || /\.ya?ml$/i.test(arg) || existsSync(arg);
}

/**
 * The lab a command-line argument names: a lab file (read only for its name; a
 * file that no longer parses still names a lab by its file name) or a lab name.
 * Whatever it gives is checked against the lab-name grammar, so that no empty,
 * "..", "/" or over-long name ever reaches a path here or on a node.
 */
export async function labNameOf(arg: string): Promise<string> {
  let name = arg;
  if (looksLikeFile(arg) && existsSync(arg)) {
    // A directory that happens to have a lab's name (run next to a `vxlan/`) is not what was meant.
    if (statSync(arg).isDirectory() && !labNameProblem(arg)) return arg;
    if (statSync(arg).isDirectory()) throw notALabFile(arg);
    // Read only here: reading a lab file (when it is not cached) needs yaml and zod, a name does not.
    const { loadLabModel } = await import('../lab/cached.js');
    try {
      name = (await loadLabModel(arg)).name;
    } catch {
      name = defaultLabName(arg);
    }
  }
  const problem = labIdProblem(name);
  if (problem) {
    const what =
      name === arg
        ? looksLikeFile(arg)
          ? `no lab file ${shown(arg)}, and it is not a lab name`
          : `${shown(arg)} is not a lab name`
        : `the lab file ${shown(arg)} gives the lab name ${shown(name)}, which is not one`;
    throw new UsageError(`${what}: ${problem}`);
  }
  return name;
}

/**
 * The lab id a lab and `--instance` name together: `vxlan --instance g2` and
 * `vxlan@g2` are the same lab; a name that says one instance and a flag that
 * says another are refused.
 */
export function labIdFor(name: string, instance: string | undefined): string {
  if (instance === undefined) return name;
  const problem = instanceNameProblem(instance);
  if (problem) throw new UsageError(`--instance ${shown(instance)}: ${problem}`);
  const [lab, named] = name.split('@');
  if (named !== undefined && named !== instance)
    throw new UsageError(`${shown(name)} names instance ${named}, and --instance names ${instance}: name one`);
  return labId(lab!, instance);
}

/**
 * The instance a command line names: by `--instance`, or in a lab argument
 * (`vxlan@g2`, when that is no file); both at once must agree.
 */
export function instanceOf(arg: string | undefined, instance: string | undefined): string | undefined {
  const named = arg !== undefined && !labIdProblem(arg) && !existsSync(arg) ? arg.split('@')[1] : undefined;
  if (instance === undefined && named === undefined) return undefined;
  return labIdFor(labId(named === undefined ? 'lab' : arg!.split('@')[0]!, named), instance ?? named).split('@')[1];
}

/** The lab as one instance of it, or the lab itself without one. */
export function withInstance(model: Model, instance: string | undefined): Model {
  return instance === undefined ? model : { ...model, instance };
}

/**
 * A lab's target is recorded when it goes up: every later command finds its
 * nodes there. The same target flags are taken by every command that acts on
 * a lab, and one naming another target than the recorded one is refused.
 */
export function refuseOtherTarget(state: LabState, options: TargetOptions): LabState {
  const other = otherTarget(state, options);
  if (other) throw new UsageError(other);
  return state;
}

/**
 * Simulated nodes: does the holder run (a holder killed whose parent died too may stay a zombie until the
 * machine's init reaps it). Machines over SSH: not probed here (null).
 */
export function nodeRunning(state: LabState, node: string): boolean | null {
  const target = state.target;
  // (another machine's processes, where a state directory is shared, are not to be seen from here)
  if (target.kind === 'ssh' || otherMachine(target)) return null;
  const holder = target.nodes[node];
  return holder ? holderRunning(holder) : false;
}

/**
 * The simulated nodes (and routers) of a lab recorded up whose holders are gone: the machine restarted, or
 * someone killed them. Everything the lab made lived in them: it is gone too.
 */
export function stoppedNodes(state: LabState): string[] {
  if (state.target.kind === 'ssh' || otherMachine(state.target)) return [];
  return [
    ...state.model.nodes.map((n) => n.name).filter((n) => nodeRunning(state, n) === false),
    ...otherHolders(state.target)
      .filter(({ holder }) => !holderRunning(holder))
      .map(({ name }) => name),
  ];
}

/**
 * A simulated lab's holders besides its nodes', each named and said what it is: the routers of a routed underlay
 * (a packet between networks needs them), the underlay's own namespace (its namespace gone, so is every node's
 * underlay interface, a veth's other end) and the outside host. A lab without one of them is not whole.
 */
export function otherHolders(target: SimulatedTargetState): { name: string; what: string; holder: Holder }[] {
  return [
    ...Object.entries(target.routers ?? {}).map(([name, holder]) => ({ name, what: 'the simulated router', holder })),
    ...(target.underlay ? [{ name: 'the underlay', what: 'the simulated network', holder: target.underlay }] : []),
    ...(target.outside ? [{ name: 'the outside host', what: 'the simulated host', holder: target.outside }] : []),
  ];
}

/** What `up` says of a lab recorded up whose simulated nodes are gone (stoppedNodes). */
export function describeStopped(lab: string, stopped: readonly string[]): string {
  return `lab ${lab} was up, but its simulated nodes are not running (${stopped.join(', ')}; this machine restarted?)`;
}

/** Why the target flags name another target than the lab's recorded one; undefined when they do not. */
export function otherTarget(state: LabState, options: TargetOptions): string | undefined {
  if (!wantsSsh(options)) return undefined;
  const given = options.sshConfig
    ? { kind: 'ssh-config', flag: `--ssh-config ${shown(options.sshConfig)}` }
    : options.inventory
      ? { kind: 'inventory', flag: `--inventory ${shown(options.inventory)}` }
      : { kind: 'vagrant', flag: options.vagrantDir ? `--vagrant-dir ${shown(options.vagrantDir)}` : '--vagrant' };
  const recorded = state.target;
  // `--vagrant` keeps what `vagrant ssh-config` printed in the state directory (exec/targets.ts).
  const recordedKind =
    recorded.kind === 'simulated'
      ? 'simulated'
      : !recorded.configFile
        ? 'inventory'
        : dirname(recorded.configFile) === join(stateDir(), 'ssh')
          ? 'vagrant'
          : 'ssh-config';
  const from = recorded.kind === 'ssh' ? recorded.from : undefined;
  const upOn =
    recordedKind === 'simulated'
      ? 'simulated nodes on this host'
      : recordedKind === 'inventory'
        ? `the machines of ${from ? `the inventory ${shown(from)}` : 'an inventory file'}`
        : recordedKind === 'vagrant'
          ? `Vagrant VMs (\`vagrant ssh-config\`${from ? ` in ${shown(from)}` : ''})`
          : `the machines of ${shown(recorded.kind === 'ssh' ? recorded.configFile! : '')}`;
  // The same kind, and the same file or directory: an inventory's or a Vagrant directory's as recorded (a
  // state written before it was recorded takes any of its kind).
  const same =
    given.kind === recordedKind &&
    recorded.kind === 'ssh' &&
    (given.kind === 'ssh-config'
      ? resolve(options.sshConfig!) === recorded.configFile
      : from === undefined || placeGiven(options) === from);
  return same
    ? undefined
    : `lab ${state.lab} is up on ${upOn}, not on the machines of ${given.flag}; leave the target flags out (the target is recorded when the lab goes up)`;
}

/** A lab that is up, named by its name or by its file (the file is only read for the name). */
export async function findUpLab(arg: string | undefined, target: TargetOptions = {}): Promise<LabState> {
  return stillThere(refuseOtherTarget(await findUpLabByName(arg, target.instance), target));
}

/**
 * A lab attached from another controller is still the one attached to: its
 * owner may have taken it down (exit 1, saying so). A lab built here is
 * trusted to its state, as before.
 */
async function stillThere(state: LabState): Promise<LabState> {
  if (state.attached) await (await import('../lifecycle/attach.js')).confirmAttached(state);
  return state;
}

/**
 * No lab of that name (or none at all) is up in this state directory. A user
 * who is not root is told where root's labs are (the challenge commands say
 * more: which labs are there, from `base`).
 */
export class LabNotUp extends UsageError {
  /** where else labs may be (rootsStateNote), as the message ends: read once, for a command that says more */
  readonly note: string;
  constructor(
    /** what is not up: "no lab is up", "lab vxlan is not up (up: …)" */
    readonly what: string,
    /** the `netlab up` that builds it */
    readonly remedy: string,
  ) {
    const note = rootsStateNote('labs');
    super(`${what}; ${remedy}${note}`);
    this.note = note;
  }
}

/**
 * For a user who is not root: the labs (or rooms) brought up with sudo are root's, which this netlab does
 * not see. For root under sudo: the labs the user who ran it brought up without sudo, if any.
 */
export function rootsStateNote(what: 'labs' | 'rooms'): string {
  if (!withoutRoot()) return what === 'labs' ? sudoUsersLabsNote() : '';
  if (resolve(stateDir()) === DEFAULT_STATE_DIR) return '';
  const one = what.slice(0, -1);
  return `. ${what[0]!.toUpperCase()}${what.slice(1)} you bring up without sudo are in ${stateDir()}; a ${one} brought up with sudo is root's, in ${DEFAULT_STATE_DIR}: \`sudo netlab …\` acts on it`;
}

/**
 * Root's netlab under sudo keeps its own state, and does not look in that of the user who ran sudo
 * (SUDO_UID): where that user's own state directory (the default, from their home in the passwd file;
 * sudo passes neither XDG_STATE_HOME nor NETLAB_STATE_DIR on) records labs, they are named, for the
 * netlab without sudo that acts on them. Empty when it records none.
 */
export function sudoUsersLabsNote(env: NodeJS.ProcessEnv = process.env, passwd?: string): string {
  const uid = Number(env.SUDO_UID);
  if (!Number.isSafeInteger(uid) || uid <= 0) return '';
  const user = passwdEntry(uid, passwd);
  if (!user?.home.startsWith('/')) return '';
  const theirs = stateDir({ HOME: user.home }, uid);
  if (resolve(theirs) === resolve(stateDir(env))) return '';
  // Root lists a directory of the user's: only down their own directories, no link of theirs followed elsewhere.
  const below = relative(user.home, join(theirs, 'labs')).split('/');
  const owned = (path: string, stat = lstatSync(path, { throwIfNoEntry: false })) =>
    stat?.isDirectory() && stat.uid === uid;
  if (!owned(user.home, statSync(user.home, { throwIfNoEntry: false }))) return '';
  if (!below.every((_, i) => owned(join(user.home, ...below.slice(0, i + 1))))) return '';
  const labs = labIdsIn(join(theirs, 'labs'));
  if (!labs.length) return '';
  return `. Labs ${user.name} brings up without sudo are theirs, in ${theirs}, which has ${labs.join(', ')}: for those, run the same netlab command without sudo`;
}

async function findUpLabByName(arg: string | undefined, instance?: string): Promise<LabState> {
  if (arg === undefined) {
    if (instance !== undefined) labIdFor('lab', instance);
    const states = listStates().filter((s) => instance === undefined || s.model.instance === instance);
    if (states.length === 1) return states[0]!;
    if (states.length === 0) throw new LabNotUp('no lab is up', 'start one with `netlab up bridge`');
    throw new UsageError(`several labs are up (${states.map((s) => s.lab).join(', ')}); name one`);
  }
  const name = labIdFor(await labNameOf(arg), instance);
  const state = readState(name);
  if (!state) {
    const up = listStates().map((s) => s.lab);
    throw new LabNotUp(
      `lab ${name} is not up${up.length ? ` (up: ${up.join(', ')})` : ''}`,
      `start it with \`${upCommandFor(arg, name)}\``,
    );
  }
  return state;
}

/** The `netlab up` that builds a lab not up: from the file given, or the bundled lab of that name; else a placeholder. */
function upCommandFor(arg: string, id: string): string {
  const [name, instance] = id.split('@');
  const file = existsSync(arg) && statSync(arg).isFile() ? arg : undefined;
  const lab = file ?? (bundledLabNames().includes(name!) ? name! : undefined);
  return lab ? `netlab up ${quoteArg(lab)}${instance ? ` --instance ${instance}` : ''}` : 'netlab up LAB.yaml';
}

/**
 * Simulated nodes need root, or a user namespace: namespaces, interfaces and
 * mounts all need CAP_SYS_ADMIN / CAP_NET_ADMIN over them. Root may act on
 * any; a user builds labs in a user namespace of their own (exec/userns.ts),
 * and acts on those only. Machines over SSH do not (root or sudo is needed there).
 */
export function requireNodeAccess(
  command: string,
  target: SimulatedTargetState | { kind: 'ssh' } | { kind: 'simulated'; nodes?: undefined } = { kind: 'simulated' },
): void {
  if (target.kind !== 'simulated') return;
  // (first: neither root nor a user may find, enter or stop another machine's processes)
  const elsewhere = target.nodes ? otherMachine(target) : undefined;
  if (elsewhere)
    throw new UsageError(
      `netlab ${command}: this lab's simulated nodes run on ${elsewhere}, another machine that shares this state directory: run netlab there`,
    );
  if (!withoutRoot()) return;
  if (target.nodes) {
    if (mayEnterNodes(target)) return;
    throw new UsageError(
      `netlab ${command}: this lab was brought up by root, and only root may enter its nodes: run it with sudo (sudo netlab ${command} ...)`,
    );
  }
  const problem = userNamespaceProblem();
  if (problem) throw new UsageError(`netlab ${command}: ${problem}`);
}

/** The lab that has a pod, node or router of this name (--lab when several have one; the only lab up when none has). */
export async function findLabWith(name: string, options: { lab?: string } & TargetOptions = {}): Promise<LabState> {
  return stillThere(refuseOtherTarget(await findLabWithByName(name, options.lab, options.instance), options));
}

async function findLabWithByName(name: string, lab?: string, instance?: string): Promise<LabState> {
  if (lab !== undefined) return findUpLab(lab, instance === undefined ? {} : { instance });
  const states = listStates().filter(
    (s) =>
      (instance === undefined || s.model.instance === instance) &&
      (s.model.pods.some((p) => p.name === name) ||
        s.model.nodes.some((n) => n.name === name) ||
        (s.model.underlay?.routers.some((r) => r.name === name) ?? false)),
  );
  if (states.length === 1) return states[0]!;
  if (states.length === 0) return findUpLab(undefined, instance === undefined ? {} : { instance });
  throw new UsageError(
    `${name} is in several labs (${states.map((s) => s.lab).join(', ')}); choose one with --lab${instance === undefined ? ' or --instance' : ''}`,
  );
}

/**
 * The lab of that name that is up, for a command that can do without it: a
 * state this user cannot read (root's, to a user running `netlab plan vxlan`)
 * or one that is corrupt is none here (status and down name those).
 */
function upLabIfReadable(name: string): LabState | undefined {
  try {
    return readState(name);
  } catch {
    return undefined;
  }
}

/**
 * The lab file a lab argument names, the same way for every command: a path
 * that exists; else, by name, the file of the lab that is up under that name
 * (while that file still exists), or the bundled lab of that name, so that
 * `netlab up vxlan` works from any directory. A missing file is "no such
 * file: X", naming the bundled labs; a directory is said to be one.
 */
export function labFileOf(arg: string): string {
  if (existsSync(arg) && !statSync(arg).isDirectory()) return arg;
  if (!labIdProblem(arg)) {
    // The state's file is absolute; its model's is as `up` was given it, relative to where that ran. An attached
    // lab's names a file on its owner's machine, not here.
    const up = upLabIfReadable(arg);
    const upFrom = up && !up.attached ? up.file : undefined;
    if (upFrom && existsSync(upFrom)) return upFrom;
    // An instance of a bundled lab (vxlan@g2) is that lab's file.
    const bundled = join(bundledLabsDir(), `${arg.split('@')[0]}.yaml`);
    if (existsSync(bundled)) return bundled;
  }
  if (existsSync(arg)) throw notALabFile(arg);
  throw new UsageError(
    `no such file: ${shown(arg)}${looksLikeFile(arg) ? '' : `, and no lab of that name is up or bundled (bundled: ${bundledLabNames().join(', ')})`}`,
  );
}

/**
 * The lab a lab argument names, as the commands that read a lab (graph,
 * challenge) want it: the lab that is up when it is (its recorded model and
 * facts: what is really there), else the lab file's, on simulated nodes.
 */
export async function labModelOf(
  arg: string,
  target: TargetOptions = {},
): Promise<{ model: Model; facts: Record<string, NodeFacts>; state?: LabState }> {
  const upAs = async (state: LabState) => ({
    model: state.model,
    facts: state.facts,
    state: await stillThere(refuseOtherTarget(state, target)),
  });
  // A name: the lab that is up under it, else its file (the one it came from, or the bundled lab).
  const named = !labIdProblem(arg) && !(existsSync(arg) && statSync(arg).isFile());
  const upByName = named ? upLabIfReadable(labIdFor(arg, target.instance)) : undefined;
  if (upByName) return upAs(upByName);
  const { loadLabModel } = await import('../lab/cached.js');
  const loaded = await loadLabModel(labFileOf(arg));
  const model = withInstance(loaded, instanceOf(arg, target.instance));
  // A file: the lab it names, as it is up when it is (what is really there), else as the file says.
  const up = named ? undefined : upLabIfReadable(labIdOf(model));
  if (up) return upAs(up);
  const { simulatedFacts } = await import('../underlay/simulated.js');
  return { model, facts: simulatedFacts(model) };
}
