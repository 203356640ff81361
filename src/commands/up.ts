// `netlab up`: validate, start the nodes, preflight, apply the phases in order,
// recording everything; on failure or Ctrl-C, roll back (unless --keep).
import { refuseAttached } from '../lifecycle/attach.js';
import { bringUp, loginSsh, prepareSsh, type SshLogin, type UpOptions } from '../lifecycle/up.js';
import { resolve } from 'node:path';
import { buildPlan } from '../plan/build.js';
import { simulatedFacts } from '../underlay/simulated.js';
import { CorruptState, readState } from '../state/store.js';
import { RunError, shown, UsageError } from '../errors.js';
import { printJson, withHumanOutputOnStderr } from '../json-output.js';
import { acquireLock } from '../state/lock.js';
import { diffModels } from '../lab/diff.js';
import { renderPlanText } from '../shell/render.js';
import { wantsSsh } from '../exec/targets.js';
import { endSessions } from '../exec/ssh.js';
import { describeStopped, refuseOtherTarget, requireNodeAccess, stoppedNodes, withInstance } from './common.js';
import { labIdOf } from '../model/lab.js';
import { mark } from '../profile.js';
import { readLab, warningsFor } from '../lab/cached.js';
import { connectEarly, type EarlyConnection } from '../lifecycle/connect-early.js';
/** early: the login to the nodes, started by the command line before this module loaded (see lifecycle/connect-early.ts). */
export async function upCommand(
  file: string,
  options: UpOptions,
  early = connectEarly(file, options),
): Promise<number> {
  try {
    return options.json ? await upAsJson(file, options, early) : await up(file, options, early);
  } finally {
    // Nothing more to run on the nodes; a login still under way is stopped (an error came first).
    await early;
    endSessions();
  }
}

/** `up --json`: progress on stderr, then one document: the lab as it is up (and the checks' report, with --verify). */
async function upAsJson(
  file: string,
  options: UpOptions,
  early: Promise<EarlyConnection | undefined>,
): Promise<number> {
  let verify: object | undefined;
  const report = (v: object) => (verify = v);
  // The lab's id, as up read it from the file: the file is read once.
  let name = '';
  const onLab = (id: string) => (name = id);
  let code: number;
  try {
    code = await withHumanOutputOnStderr(() => up(file, { ...options, onJson: report, onLab }, early));
  } catch (error) {
    if (error instanceof UsageError || error instanceof RunError)
      printJson({ file, status: 'failed', exitCode: error.exitCode, error: error.message });
    throw error;
  }
  const state = readState(name);
  printJson({
    lab: name,
    file: resolve(file),
    status: state?.status ?? 'down',
    exitCode: code,
    ...(state
      ? {
          run: state.run?.id,
          target: state.target.kind,
          nodes: state.model.nodes.map((n) => ({ name: n.name, underlay: state.facts[n.name] })),
          pods: state.model.pods.map((p) => ({
            name: p.name,
            node: p.node,
            ...(p.address ? { address: p.address } : {}),
          })),
        }
      : {}),
    ...(verify ? { verify } : {}),
  });
  return code;
}

async function up(
  file: string,
  options: UpOptions & { onJson?: (report: object) => void; onLab?: (id: string) => void },
  early: Promise<EarlyConnection | undefined>,
): Promise<number> {
  // The lab parser (yaml, zod: about 60 ms of imports), when the lab is not cached, loads while an early SSH login is under way.
  const read = await readLab(file, { keep: true });
  const loaded = read.model;
  mark('read the lab (parsed, or from the cache)');
  const model = withInstance(loaded, options.instance);
  const id = labIdOf(model);
  options.onLab?.(id);
  if (options.json && (options.step !== undefined || options.explain))
    throw new UsageError(
      '--json gives one JSON document on stdout; --step and --explain print for a person: use one or the other',
    );
  if (!wantsSsh(options)) requireNodeAccess('up');
  if (options.step !== undefined && ![true, 'phase', 'command'].includes(options.step))
    throw new UsageError(`--step takes phase or command; found ${shown(String(options.step))}`);
  if (options.step && !options.yes && !process.stdin.isTTY)
    throw new UsageError(
      '--step waits for Enter before each phase: run it in a terminal, or add --yes to go on by itself',
    );
  // What validate warns of the lab (a check its own policy drops, an MTU the underlay cannot carry): said before
  // the lab is built, and built all the same, as validate calls such a lab valid (its --strict refuses it).
  for (const warning of warningsFor(read, wantsSsh(options))) console.error(warning);
  const release = acquireLock(id, `netlab up ${file}`);
  try {
    let existing;
    /** over SSH, where a version up is taken down first: the login to the machines, made before it */
    let login: SshLogin | undefined;
    try {
      existing = readState(id);
    } catch (error) {
      if (error instanceof CorruptState) throw new UsageError(`${error.message}; ${error.remedy}, then up builds it`);
      throw error;
    }
    if (existing?.attached) refuseAttached(existing, '`netlab up` of a lab that is up');
    // root's lab, in a state directory a user shares: its nodes are not this user's to change
    if (existing) requireNodeAccess('up', existing.target);
    if (existing) {
      // Underlay facts come from the target, so compare what the file says.
      const changes = diffModels(
        {
          ...existing.model,
          nodes: existing.model.nodes.map((n) => ({
            ...n,
            underlay: model.nodes.find((m) => m.name === n.name)?.underlay ?? n.underlay,
          })),
        },
        model,
      );
      // Flags that name another target: the lab there is not this one (--recreate moves it there).
      if (!options.recreate) refuseOtherTarget(existing, options);
      const stopped = existing.status === 'up' ? stoppedNodes(existing) : [];
      if (changes.length === 0 && existing.status === 'up' && !options.recreate && stopped.length === 0) {
        // "Unchanged" is said of the file; whether the lab still works is for the checks to say.
        console.log(
          `lab ${id} is already up and its file is unchanged; nothing to build (\`netlab down ${id}\` to remove it, \`--recreate\` to build it again)`,
        );
        return options.verify ? await verifyAndReport(existing, verifyOptions(options)) : 0;
      }
      if (!options.recreate && stopped.length === 0) {
        throw new UsageError(
          existing.status === 'up'
            ? `lab ${id} is already up from a different version of ${existing.file}: ${changes.join('; ')}. Run \`netlab up ${file} --recreate\` to take it down and build it again, or \`netlab down ${id}\``
            : `lab ${id} was left ${existing.status} by an earlier up or down; run \`netlab down ${id}\` first (or \`netlab up ${file} --recreate\`)`,
        );
      }
      // The machines the lab is to be built on answer before the version up is taken down: a target that does
      // not (its VMs stopped) leaves the lab up where it is, as the error says ("nothing was changed").
      if (wantsSsh(options)) login = await loginSsh(model, options, await early);
      console.log(
        stopped.length && !options.recreate
          ? `${describeStopped(id, stopped)}: taking down what is left, and building it again`
          : `lab ${id}: taking down the version that is up (${changes.join('; ') || 'unchanged'})`,
      );
      await (await import('../lifecycle/challenge.js')).takeDown(existing);
    }
    const prepared = wantsSsh(options)
      ? await prepareSsh(model, options, await early, { tookDown: existing !== undefined, ...(login ? { login } : {}) })
      : { model, facts: simulatedFacts(model), target: undefined, kernel: undefined };
    if (prepared.target) mark('read the facts (SSH)');
    const target = prepared.target ? { target: prepared.target, kernelMemory: prepared.kernel } : {};
    // One plan for the whole command: shown, applied, and read by verify (its state holds the same model and facts).
    const plan = buildPlan(prepared.model, prepared.facts);
    if (options.explain)
      process.stdout.write(
        renderPlanText(
          prepared.model,
          plan,
          prepared.target ? 'machines over SSH' : 'simulated nodes on this host',
          true,
        ),
      );
    const code = await bringUp(prepared.model, resolve(file), plan, prepared.facts, { ...options, ...target });
    if (code !== 0 || !options.verify) return code;
    return await verifyAndReport(readState(id)!, verifyOptions(options), () => plan);
  } finally {
    release();
  }
}

/** verify's modules, loaded only by an up that verifies (most do not). */
async function verifyAndReport(...args: Parameters<typeof import('../lifecycle/verify.js').verifyAndReport>) {
  return (await import('../lifecycle/verify.js')).verifyAndReport(...args);
}

/** up --verify --json: the checks' report goes into up's document. */
function verifyOptions(options: { json?: boolean; onJson?: (report: object) => void }) {
  return options.json && options.onJson ? { json: true, onJson: options.onJson } : {};
}
