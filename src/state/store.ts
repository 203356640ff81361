// Local state: one JSON file per lab that is up (or was being brought up).
// Written atomically (temp file, fsync, rename) before each change it describes,
// so `down` can always find what a previous command started, even after a crash
// (a simulated lab's without the fsyncs: its namespaces end with the machine's kernel).
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { withTunnelKind, type Model } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import type { SimulatedTargetState, SshTargetState } from './targets.js';
import { checkedLabName } from '../node/paths.js';
import { labIdProblem } from '../model/grammar.js';
import type { ScriptRun } from '../shell/prelude.js';
import { UsageError } from '../errors.js';
import { DEFAULT_STATE_DIR, othersCanWrite } from './access.js';

/** 2: runs have an identity (run). Version 1 files (no run) are still read. */
export const STATE_VERSION = 3;
const READABLE_VERSIONS = [1, 2, 3];

/**
 * Which `up` made a lab: recorded here and on every node it changes. `down` and
 * a rollback act only on the nodes' journals of this run, never on another
 * controller's run of a lab with the same name on the same machines.
 */
export interface RunIdentity {
  id: string;
  /** the controller: where netlab ran, and its state directory */
  host: string;
  stateDir: string;
}

export interface LabState {
  version: number;
  lab: string;
  file: string;
  status: 'creating' | 'up' | 'failed';
  createdAt: string;
  /** missing in version 1 files */
  run?: RunIdentity;
  target: SimulatedTargetState | SshTargetState;
  facts: Record<string, NodeFacts>;
  model: Model;
  /**
   * Set when this controller attached to a lab another controller built
   * (`netlab attach`): read from the nodes' records; the run is the owner's,
   * and what changes the lab as built stays with the owner.
   */
  attached?: { at: string };
}

/**
 * Where this netlab keeps its state: NETLAB_STATE_DIR when set; root's
 * /var/lib/netlab; for any other user their own directory (the XDG base
 * directory rule: $XDG_STATE_HOME/netlab, else ~/.local/state/netlab), where
 * their labs without root are recorded (README: "Without sudo").
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  // Made absolute once: a lab's state records paths under it (a room's copies of its lab file) that
  // later commands compare, and child processes (a room's) may start elsewhere.
  if (env.NETLAB_STATE_DIR) return resolve(env.NETLAB_STATE_DIR);
  if (uid === 0) return DEFAULT_STATE_DIR;
  // The spec: a relative XDG_STATE_HOME is invalid and ignored.
  if (env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME)) return join(env.XDG_STATE_HOME, 'netlab');
  return join(env.HOME || homedir(), '.local', 'state', 'netlab');
}

/**
 * The variable that chose the state directory, where one did: NETLAB_STATE_DIR, or a user's XDG_STATE_HOME
 * (stateDir). Such a directory may be anywhere (in /tmp, made by another user first), and is judged
 * (refuseUnsafeStateDir); root's /var/lib/netlab and a user's ~/.local/state/netlab are theirs.
 */
export function stateDirVariable(
  env: NodeJS.ProcessEnv = process.env,
  uid = process.getuid?.() ?? 0,
): 'NETLAB_STATE_DIR' | 'XDG_STATE_HOME' | undefined {
  if (env.NETLAB_STATE_DIR) return 'NETLAB_STATE_DIR';
  return uid !== 0 && env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? 'XDG_STATE_HOME' : undefined;
}

/**
 * A state directory a variable chose (stateDirVariable) that another user could write (othersCanWrite:
 * root's, or for a user theirs or root's) is refused, exit 2: the command line asks before any command runs
 * (a state directory not there yet is made, and asked about again, by the first write: makeStateSubdir).
 */
export function refuseUnsafeStateDir(): void {
  const variable = stateDirVariable();
  if (!variable) return;
  const uid = process.getuid?.() ?? 0;
  const dir = stateDir();
  const why = othersCanWrite(dir, uid);
  const given = `${variable}=${variable === 'NETLAB_STATE_DIR' ? dir : process.env.XDG_STATE_HOME}`;
  if (why && uid === 0)
    throw new UsageError(
      `${given}: ${why}. Root runs what its state says (SSH options, processes it enters and kills), so only root may write there (or unset NETLAB_STATE_DIR: root's is ${DEFAULT_STATE_DIR})`,
    );
  if (why)
    throw new UsageError(
      `${given}: ${why}. netlab runs what its state says (SSH options, processes it enters and kills), so only you may write there (or unset ${variable}: yours is ${stateDir({ ...process.env, [variable]: '' }, uid)})`,
    );
  if (existsSync(dir)) judgedStateDir = dir;
}

/** The NETLAB_STATE_DIR this process has judged, there (it stays as judged: only root or its user may write it). */
let judgedStateDir: string | undefined;

/**
 * The state directory, for a path in it that is read or written (labs, locks, the lab cache, challenges,
 * rooms, the kernel's memory, SSH configs). A NETLAB_STATE_DIR that was not there when the command line
 * judged it, and is there now, was made since, maybe by another user: it is judged now (exit 2), before
 * anything in it is read and trusted.
 */
export function judgedStateDirPath(): string {
  const dir = stateDir();
  if (stateDirVariable() && judgedStateDir !== dir && existsSync(dir)) refuseUnsafeStateDir();
  return dir;
}

/**
 * Makes a directory in the state directory (its labs, locks, lab cache, SSH configs, challenges, rooms),
 * and the state directory with it. A NETLAB_STATE_DIR is judged again (refuseUnsafeStateDir, exit 2)
 * before anything is made in it: one not there when the command line judged it is made here a directory
 * at a time, never into one that another user made, or linked elsewhere, in the meantime (in /tmp, say).
 */
export function makeStateSubdir(dir: string): void {
  if (stateDirVariable() && judgedStateDir !== stateDir()) {
    makeOneAtATime(stateDir(), process.getuid?.() ?? 0);
    refuseUnsafeStateDir();
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UsageError(`cannot create ${dir}: ${(error as Error).message} (${writableStateDirAdvice()})`);
  }
}

/**
 * mkdir of each missing directory of an absolute path in turn (mode 0700). A directory found there
 * already is gone into only if it is root's or this user's, as is a symbolic link of theirs to one;
 * anything else stops it, and the judgement that follows names it.
 */
function makeOneAtATime(dir: string, uid: number): void {
  let path = '';
  for (const name of dir.split('/').filter(Boolean)) {
    path += `/${name}`;
    try {
      mkdirSync(path, { mode: 0o700 });
      continue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return;
    }
    // A link is followed only to a directory of root's or this user's (the judgement names whatever stops it).
    const mine = (stat: { uid: number }) => stat.uid === 0 || stat.uid === uid;
    const found = lstatSync(path, { throwIfNoEntry: false });
    const target = found?.isSymbolicLink() ? statSync(path, { throwIfNoEntry: false }) : found;
    if (!found || !target || !mine(found) || !mine(target) || !target.isDirectory()) return;
  }
}

/** What to do about a state directory that cannot be written, the same words from every place that writes one. */
export function writableStateDirAdvice(): string {
  return process.env.NETLAB_STATE_DIR || process.getuid?.() === 0
    ? 'set NETLAB_STATE_DIR to a writable directory'
    : 'set XDG_STATE_HOME (or NETLAB_STATE_DIR) to a writable directory';
}

export function newRunIdentity(): RunIdentity {
  return { id: randomBytes(6).toString('hex'), host: hostname(), stateDir: stateDir() };
}

/** This controller as a node records the runs it made: "HOST:STATEDIR". */
export function thisController(): string {
  return `${hostname()}:${stateDir()}`;
}

/** The run as node scripts carry it and nodes record it ("ID HOST:STATEDIR" in /run/netlab/LAB/run). */
export function scriptRunOf(state: Pick<LabState, 'run'>): ScriptRun | undefined {
  return state.run ? { id: state.run.id, from: `${state.run.host}:${state.run.stateDir}` } : undefined;
}

/** A run, or a node's record of one, as a person reads it: "run 3f2a9c01d4e7 from HOST:/var/lib/netlab". */
export function describeRun(run: RunIdentity | string): string {
  const record = typeof run === 'string' ? run : `${run.id} ${run.host}:${run.stateDir}`;
  const space = record.indexOf(' ');
  return space < 0 ? `run ${record}` : `run ${record.slice(0, space)} from ${record.slice(space + 1)}`;
}

export function labsDir(): string {
  return join(judgedStateDirPath(), 'labs');
}

function stateFile(lab: string): string {
  return join(labsDir(), `${checkedLabName(lab)}.json`);
}

/** A state file that cannot be read as one: named, with why; it breaks no other lab. */
export class CorruptState extends UsageError {
  constructor(
    readonly lab: string,
    readonly file: string,
    readonly reason: string,
  ) {
    super(`the state of lab ${lab} (${file}) is unreadable: ${reason}`);
  }

  /** What takes such a lab down: down finds simulated nodes by their marker, machines by their own records. */
  get remedy(): string {
    return `\`netlab down ${this.lab}\` takes the lab down (add --ssh-config FILE for machines over SSH)`;
  }
}

/**
 * Writes a file so that a crash leaves the old version or the new one, never a
 * part: temp file, fsync, rename, then fsync of the directory (the rename is in
 * the directory's blocks: without it, a power cut can lose the new name). The
 * temp file is created anew (O_EXCL): a symbolic link planted at its name is
 * removed, never written through. `onlyNew`: written only where no file has
 * that name (link(2), which fails where the name is taken, in place of a rename
 * that would replace it); false when one has. `durable: false`: for a file
 * whose subject a power cut ends anyway, without the two fsyncs (about 1.5 ms
 * each here): the rename still leaves the old version or the new one to any
 * process that reads it, crashed or not.
 */
export function writeFileAtomic(file: string, text: string, { onlyNew = false, durable = true } = {}): boolean {
  const temp = `${file}.${process.pid}.tmp`;
  rmSync(temp, { force: true });
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (onlyNew) {
    try {
      linkSync(temp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return false;
    } finally {
      rmSync(temp, { force: true });
    }
  } else renameSync(temp, file);
  if (!durable) return true;
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return true;
}

export function writeState(state: LabState): void {
  makeStateSubdir(labsDir());
  try {
    // A lab on simulated nodes is namespaces and processes of this machine: a power cut or a
    // crash of its kernel ends them, and its state's last write says nothing that still exists.
    // Its state is still replaced atomically (for a netlab that dies), without waiting for the disk.
    writeFileAtomic(stateFile(state.lab), `${JSON.stringify(state, null, 2)}\n`, {
      durable: state.target.kind !== 'simulated',
    });
  } catch (error) {
    throw new UsageError(
      `cannot write netlab state in ${labsDir()}: ${(error as Error).message} (${writableStateDirAdvice()})`,
    );
  }
}

/** The lab's state; undefined if it has none; CorruptState if its file is not a state. */
export function readState(lab: string): LabState | undefined {
  const file = stateFile(lab);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CorruptState(lab, file, (error as Error).message);
  }
  let state: LabState;
  try {
    state = JSON.parse(text) as LabState;
  } catch (error) {
    throw new CorruptState(
      lab,
      file,
      text.trim() === '' ? 'the file is empty' : `not JSON (${(error as Error).message})`,
    );
  }
  if (typeof state !== 'object' || state === null || !READABLE_VERSIONS.includes(state.version)) {
    throw new CorruptState(
      lab,
      file,
      `format version ${JSON.stringify((state as Partial<LabState> | null)?.version)}; this netlab reads versions ${READABLE_VERSIONS.join(', ')}`,
    );
  }
  if (state.lab !== lab || typeof state.model !== 'object' || typeof state.target !== 'object')
    throw new CorruptState(lab, file, 'it does not describe this lab');
  return upgrade(state);
}

/**
 * Versions 1 and 2 called the cross-node kind's tunnel settings `vxlan` (only
 * vxlan and flannel had any); before 2026-12-05 they had no kind.
 */
function upgrade(state: LabState): LabState {
  const model = state.model as LabState['model'] & { vxlan?: LabState['model']['tunnel'] };
  if (model.vxlan && !model.tunnel) {
    const { vxlan, ...rest } = model;
    return { ...state, model: withTunnelKind({ ...rest, tunnel: vxlan }) };
  }
  return { ...state, model: withTunnelKind(model) };
}

export function removeState(lab: string): void {
  rmSync(stateFile(lab), { force: true });
}

/**
 * The labs a state directory's labs/ records, by the names of their files, unread; none where it cannot
 * be read. A file whose name is no lab's was not written by netlab.
 */
export function labIdsIn(labs: string): string[] {
  try {
    return readdirSync(labs)
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -'.json'.length))
      .filter((lab) => !labIdProblem(lab));
  } catch {
    return [];
  }
}

/** Every lab's state, and the state files that could not be read (each one breaks nothing but its own lab). */
export function readStates(): { states: LabState[]; corrupt: CorruptState[] } {
  const states: LabState[] = [];
  const corrupt: CorruptState[] = [];
  for (const lab of labIdsIn(labsDir())) {
    try {
      const state = readState(lab);
      if (state) states.push(state);
    } catch (error) {
      if (!(error instanceof CorruptState)) throw error;
      corrupt.push(error);
    }
  }
  return { states, corrupt };
}

export function listStates(): LabState[] {
  return readStates().states;
}
