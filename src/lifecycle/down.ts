// Taking a lab down on its nodes: every node locked, its recorded steps undone,
// simulated nodes stopped; used by `down` and by `up` (--recreate, rollback).
import { destroySimulatedNodes, holderRunning } from '../exec/simulated.js';
import { describeDown, nodesWithFailedUndo, runDown, type NodeDown } from '../exec/runner.js';
import type { Transports } from '../exec/transports.js';
import { describeRun, removeState, scriptRunOf, writeState, type LabState } from '../state/store.js';
import { transportsOf } from '../exec/transports.js';
import { RunError } from '../errors.js';
import { closeMasters } from '../exec/ssh.js';
import { lockNodes } from '../exec/node-lock.js';
import { mark } from '../profile.js';

/** What the node lock says of a netlab that holds it. */
export function lockHolder(command: string, lab: string, run?: LabState['run']): string {
  return `netlab ${command} of lab ${lab}${run ? `, ${describeRun(run)}` : ''}, PID ${process.pid}`;
}

/**
 * Undoes the lab on its nodes (each node's journal of this run only) and
 * forgets it. `touchNodes: false` (a rollback of an up that never started a
 * phase) changes nothing on machines over SSH: nothing there is this run's.
 */
export async function tearDown(
  state: LabState,
  options: {
    touchNodes?: boolean;
    command?: string;
    /** the state stays when every node is undone: what else must be done first was not (takeDown) */
    keepState?: boolean;
    /**
     * For the fault-injection tests (test/e2e/faults) only: looks at the nodes whose journals
     * ran, once they are unlocked, before simulated nodes are stopped; what it throws is thrown
     * after the teardown has finished.
     */
    beforeStop?: (transports: Transports) => Promise<void>;
  } = {},
): Promise<Record<string, NodeDown>> {
  const target = state.target;
  const transports = transportsOf(state);
  // A simulated node whose holder is gone has taken everything with it.
  const reachable: Transports =
    target.kind === 'simulated'
      ? Object.fromEntries(Object.entries(transports).filter(([node]) => holderRunning(target.nodes[node]!)))
      : transports;
  mark('read the state');
  let outcomes: Record<string, NodeDown> = {};
  let looked: Promise<unknown> | undefined;
  if (options.touchNodes !== false) {
    let unreachable: Record<string, string>;
    try {
      // An unreachable node is reported below; every other node is undone all the same.
      ({ unreachable } = await lockNodes(reachable, lockHolder(options.command ?? 'down', state.lab, state.run), {
        skipUnreachable: true,
      }));
    } catch (error) {
      throw new RunError(
        `${(error as Error).message}\nthe lab's state is kept: run \`netlab down ${state.lab}\` again`,
      );
    }
    const locked = Object.fromEntries(Object.entries(reachable).filter(([node]) => !(node in unreachable)));
    outcomes = await runDown(state.lab, locked, scriptRunOf(state));
    for (const [node, reason] of Object.entries(unreachable)) outcomes[node] = { found: 'unreachable', reason };
    await Promise.all(Object.values(locked).map((t) => t.unlock()));
    mark('undo journals on the nodes');
    looked = options.beforeStop?.(locked).then(
      () => undefined,
      (error: unknown) => error,
    );
  }
  const lookFailed = await looked;
  const unreachable = Object.entries(outcomes).filter(([, o]) => o.found === 'unreachable');
  const failed = nodesWithFailedUndo(outcomes);
  if (target.kind === 'simulated') {
    // Stopping a simulated node removes everything in it, what an undo failed to remove too.
    destroySimulatedNodes(state.lab, target);
    mark('stop the simulated nodes');
  } else if (unreachable.length || failed.length) {
    // Keep the state: down must be run again once the nodes are reachable, or what
    // blocked an undo is fixed (each node kept the journal lines that failed). The lab is up no more (part of it
    // is undone): `up` must not say it is, nor `status` that it is whole.
    writeState({ ...state, status: 'failed' });
    throw new RunError(
      `could not undo ${unreachable.length ? 'on every node' : `everything on ${failed.join(', ')}`}; the lab's state is kept, run \`netlab down ${state.lab}\` again${failed.length ? ' once what is named is fixed (the failed commands are tried again)' : ''}:\n  ${describeDown(state.lab, outcomes).join('\n  ')}`,
    );
  }
  if (target.kind === 'ssh') await closeMasters(target);
  if (options.keepState) return outcomes;
  removeState(state.lab);
  mark('remove the state');
  if (lookFailed) throw lookFailed;
  return outcomes;
}
