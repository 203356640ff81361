// Simulated nodes: each node of a lab is a set of namespaces on this host
// (network, mount, UTS and PID) held by a small holder process, and all nodes
// are joined by an underlay bridge that lives in a namespace of its own. The
// host's root network namespace, routes, iptables and /run are never changed.
//
// Facts checked on this machine: with its own mount namespace
// and a private tmpfs on /run, a node has its own `ip netns` list and
// /run/netlab, so node scripts are byte for byte the ones a VM runs.
import { labIdOf } from '../model/lab.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { stateDir } from '../state/store.js';
import { run } from './spawn.js';
import { HOLD_TERMINAL_SIGNALS } from '../shell/prelude.js';
import type { Model } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import {
  findProcesses,
  isAlive,
  isRunning,
  killProcess,
  processRef,
  waitForExit,
  type ProcessRef,
} from '../os/processes.js';
import type { ScriptResult, Transport } from './transport.js';
import type { Holder, SimulatedTargetState } from '../state/targets.js';
import { RunError, UsageError } from '../errors.js';
import { outsideAddress } from '../underlay/routing.js';
import {
  nodeUnderlayScript,
  OUTSIDE_HOLDER,
  outsideScript,
  routerScript,
  simulatedUnderlayProblem,
  UNDERLAY_FAILED,
  underlaySwitchScript,
} from '../underlay/simulated.js';
import { enterHolder, newSimulatedTarget, OWN_USER_NAMESPACE, withoutRoot } from './userns.js';

/**
 * The marker in a holder's command line: lets `down` find holders that a killed
 * `up` never recorded. It names the state directory too (by a hash), so that a
 * netlab with another state directory (another user, NETLAB_STATE_DIR) never
 * stops the nodes of a lab of the same name that is not its own.
 */
export function holderMarker(lab: string, node: string, dir = stateDir()): string {
  const owner = createHash('sha256').update(dir).digest('hex').slice(0, 8);
  return `netlab-sim:${lab}:${owner}:${node}`;
}

/**
 * Whether a command line is a holder's of the lab: its marker is the $0 of a `sh -c` (unshare's arguments, and its
 * child's as it starts), not anywhere in it (root's `pgrep -f` of a marker is no holder).
 */
function isHolderOf(lab: string): (argv: readonly string[]) => boolean {
  const prefix = holderMarker(lab, '');
  return (argv) => argv.some((arg, i) => i >= 2 && argv[i - 2] === '-c' && arg.startsWith(prefix));
}

// Runs as PID 1 of the new PID namespace. /proc is still the host's when it
// reads /proc/self/stat, so it reports its host PID, which nsenter needs.
// Then it is the node's init. The kernel gives PID 1 every process whose parent
// ends first (a capture's timeout after Ctrl-C, what a learner starts with &),
// and such a process stays a zombie until PID 1 waits for it. So it waits for
// each child as it ends, as the pause container does for a pod: perl, asleep
// until a child ends (SIGCHLD, which a handler makes interrupt the sleep), then
// waiting for every child that has (waitpid's 1 is WNOHANG). Once at the start
// too, and at least every minute: a child that ends between the last wait and
// the sleep is reaped a minute late at most. perl-base is in every Debian and
// Ubuntu; without perl, a sleep that waits for nothing, as before.
const HOLDER_SCRIPT = `read -r pid _ </proc/self/stat
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t tmpfs -o mode=0755 netlab-run /run && hostname "$1" && ip link set lo up || exit 1
echo "$pid"
exec </dev/null >/dev/null 2>&1
command -v perl >/dev/null && exec perl -e '$SIG{CHLD} = sub {}; for (;;) { 1 while waitpid(-1, 1) > 0; sleep 60 }'
exec sleep infinity`;

async function startHolder(lab: string, name: string, userNamespaceOf?: Holder): Promise<Holder> {
  const unshare = [
    'unshare',
    ...(withoutRoot() && !userNamespaceOf ? OWN_USER_NAMESPACE : []),
    '--net',
    '--mount',
    '--uts',
    '--pid',
    '--fork',
    '--kill-child',
    '--propagation',
    'private',
    'sh',
    '-c',
    HOLDER_SCRIPT,
    holderMarker(lab, name),
    name,
  ];
  // nsenter with only -U does not fork: it becomes unshare (its PID, marker and all).
  const argv = userNamespaceOf ? ['nsenter', ...enterHolder(userNamespaceOf), '--', ...unshare] : unshare;
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const initPid = await new Promise<number>((resolve, reject) => {
    let line = '';
    let err = '';
    // Only the first line matters: each chunk is scanned once, until it ends.
    child.stdout.on('data', function firstLine(chunk: Buffer) {
      const text = chunk.toString();
      const end = text.indexOf('\n');
      line += end < 0 ? text : text.slice(0, end);
      if (end < 0) return;
      child.stdout.off('data', firstLine);
      if (/^\d+$/.test(line)) resolve(Number(line));
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', (error) => reject(new RunError(`cannot start simulated node ${name}: ${error.message}`)));
    child.on('exit', (code) =>
      reject(
        new RunError(
          `simulated node ${name} did not start (exit ${code}): ${err.trim() || 'no message'}; netlab needs util-linux's unshare, and root or user namespaces (\`netlab doctor\`)`,
        ),
      ),
    );
  });
  child.stdout.destroy();
  child.stderr.destroy();
  child.removeAllListeners('exit');
  child.unref();
  const unshareRef = processRef(child.pid!);
  const init = processRef(initPid);
  if (!unshareRef || !init) throw new RunError(`simulated node ${name} exited right after starting`);
  return { unshare: unshareRef, init, ...(withoutRoot() ? { userns: true as const } : {}) };
}

/**
 * Starts the underlay and the nodes. `record` is called after each holder
 * starts, so that up's state knows about it (for its rollback) before anything
 * else can fail; a holder is found by its marker too.
 */
export async function createSimulatedNodes(
  model: Model,
  facts: Record<string, NodeFacts>,
  record: (state: SimulatedTargetState) => void,
  /** a script each node runs once its underlay is up, in the same round (up's preflight); its results are returned */
  then?: (node: string) => string,
): Promise<{ target: SimulatedTargetState; answered: Record<string, ScriptResult> }> {
  const state = newSimulatedTarget();
  const outside = model.outside ? outsideAddress(model, facts) : undefined;
  const problem = simulatedUnderlayProblem(model, outside);
  if (problem) throw new UsageError(problem);
  state.underlay = await startHolder(labIdOf(model), 'underlay');
  record(state);
  // Without root, the underlay's user namespace holds the whole lab.
  const userNamespace = state.underlay.userns ? state.underlay : undefined;
  if (outside) {
    state.outside = await startHolder(labIdOf(model), OUTSIDE_HOLDER, userNamespace);
    record(state);
  }
  const routers = model.underlay?.routers ?? [];
  const holders = await Promise.all(
    [...model.nodes, ...routers].map((host) => startHolder(labIdOf(model), host.name, userNamespace)),
  );
  for (const [i, node] of model.nodes.entries()) state.nodes[node.name] = holders[i]!;
  if (routers.length)
    state.routers = Object.fromEntries(routers.map((r, i) => [r.name, holders[model.nodes.length + i]!]));
  record(state);
  const pidsOf = (held: Record<string, Holder> = {}) =>
    Object.fromEntries(Object.entries(held).map(([name, holder]) => [name, holder.init.pid]));
  const pids = {
    nodes: pidsOf(state.nodes),
    routers: pidsOf(state.routers),
    ...(state.outside ? { outside: state.outside.init.pid } : {}),
  };
  await runChecked(
    ['nsenter', ...enterHolder(state.underlay), '-n', '--', 'sh', '-ec', underlaySwitchScript(model, facts, pids)],
    'underlay',
  );
  const answered: Record<string, ScriptResult> = {};
  await Promise.all(
    model.nodes.map(async (node) => {
      const result = await simulatedTransport(node.name, state.nodes[node.name]!).run(
        `${nodeUnderlayScript(model, node.name, facts[node.name]!)}${then ? then(node.name) : ''}`,
      );
      if (result.exitCode === UNDERLAY_FAILED || (!then && result.exitCode !== 0))
        throw new RunError(`simulated node ${node.name}: underlay setup failed: ${result.stderr.trim()}`);
      answered[node.name] = result;
    }),
  );
  await Promise.all(
    routers.map(async (router) => {
      const result = await simulatedTransport(router.name, state.routers![router.name]!).run(
        routerScript(model, router, (node) => facts[node]!.address),
      );
      if (result.exitCode !== 0)
        throw new RunError(`simulated router ${router.name}: setup failed: ${result.stderr.trim()}`);
    }),
  );
  if (state.outside) {
    const result = await simulatedTransport(OUTSIDE_HOLDER, state.outside).run(outsideScript(outside!));
    if (result.exitCode !== 0) throw new RunError(`simulated outside host: setup failed: ${result.stderr.trim()}`);
  }
  return { target: state, answered: then ? answered : {} };
}

async function runChecked(argv: string[], what: string): Promise<void> {
  const result = await run(argv[0]!, argv.slice(1));
  if (result.exitCode !== 0)
    throw new RunError(`simulated ${what}: ${String(result.stderr).trim() || `exit ${result.exitCode}`}`);
}

/** Stops every holder of the lab: recorded ones, and any a killed `up` left unrecorded; returns how many processes it stopped. */
export function destroySimulatedNodes(lab: string, state?: SimulatedTargetState): number {
  const killed: ProcessRef[] = [];
  const stop = (ref: ProcessRef | undefined) => {
    if (!ref || !isAlive(ref)) return;
    killProcess(ref);
    killed.push(ref);
  };
  const extra = [state?.underlay, state?.outside, ...Object.values(state?.routers ?? {})].filter(
    (h): h is Holder => h !== undefined,
  );
  for (const holder of [...extra, ...Object.values(state?.nodes ?? {})]) {
    stop(holder.init);
    stop(holder.unshare);
  }
  for (const ref of findProcesses(isHolderOf(lab))) stop(ref);
  waitForExit(killed);
  return killed.length;
}

/**
 * Whether a simulated node's (or router's) holder runs: alive and not a zombie (a holder killed with its parent
 * stays one until the machine's init reaps it; its namespaces are gone already).
 */
export function holderRunning(holder: Holder): boolean {
  return isRunning(holder.init);
}

export function simulatedTransport(node: string, holder: Holder): Transport {
  const enter = () => {
    if (!holderRunning(holder))
      throw new RunError(
        `simulated node ${node} is not running (its holder process ${holder.init.pid} is gone); run \`netlab down\` to clean up`,
      );
    return [...enterHolder(holder), '-n', '-m', '-u', '-p', '--', 'sh'];
  };
  return {
    node,
    ...(holder.userns ? { inUserNamespace: true } : {}),
    async run(script, options): Promise<ScriptResult> {
      return run('nsenter', [...enter(), '-s'], {
        input: script,
        ...(options?.signal ? { signal: options.signal } : {}),
        ...(options?.onStdout ? { onStdout: options.onStdout } : {}),
        ...(options?.uninterruptible ? { detached: true } : {}),
      });
    },
    async interactive(script, options) {
      const argv = ['nsenter', ...enter(), '-c', script];
      // The first nsenter too ignores the terminal's Ctrl-C, which is the program's (HOLD_TERMINAL_SIGNALS).
      const held = options?.terminal ? ['sh', '-c', `${HOLD_TERMINAL_SIGNALS}\nexec "$@"`, 'sh', ...argv] : argv;
      return (await run(held[0]!, held.slice(1), { inherit: true, ...options })).exitCode;
    },
    // A simulated node exists for one run of one lab (its namespaces are made by
    // that up and die with its down): no other netlab changes it.
    async lock(_holder, then) {
      return then === undefined ? {} : { answered: await this.run(then) };
    },
    async unlock() {},
  };
}
