// What a challenge does on the nodes, for `netlab challenge` and `netlab down`
// alike: its fault, planned with the lab's own facts, and running the fault's
// commands (to make it, or to mend it) on its node.
import { RunError } from '../errors.js';
import { transportsOf } from '../exec/transports.js';
import { faultsOf, type Fault } from '../faults/faults.js';
import { quoteArgv } from '../os/quote.js';
import { buildPlan } from '../plan/build.js';
import { challengeOfRun } from '../state/challenges.js';
import type { LabState } from '../state/store.js';

export function faultOf(state: LabState, id: string): Fault {
  const fault = faultsOf(buildPlan(state.model, state.facts)).find((f) => f.id === id);
  // The lab file was checked when the lab went up; a state file edited by hand is the only way here.
  if (!fault) throw new RunError(`lab ${state.lab} has no fault ${id}`);
  return fault;
}

/**
 * Runs commands on a node as one script that stops at the first that fails;
 * `whatever` runs them all and ignores failures (mending what a learner may
 * have mended already: `ip route add` of a route that is back fails).
 */
export async function runOnNode(
  state: LabState,
  node: string,
  commands: readonly (readonly string[])[],
  whatever = false,
): Promise<void> {
  const transport = transportsOf(state)[node]!;
  const lines = commands.map((c) => (whatever ? `${quoteArgv(c)} 2>/dev/null || true` : quoteArgv(c)));
  const result = await transport.run(`${whatever ? '' : 'set -e\n'}${lines.join('\n')}\n`);
  if (result.exitCode !== 0)
    throw new RunError(
      `on ${node}: ${result.stderr.trim() || `exit ${result.exitCode}`} (running ${quoteArgv(commands[0]!)} …)`,
    );
}

/**
 * Before `down`: a challenge's fault may have changed what the lab's journal
 * does not undo (FORWARD's policy, a DROP rule put in FORWARD, a sysctl set to
 * 0), so it is mended first and down leaves the machine as the lab found it.
 * The record stays: a `check` after the lab is up again says it was rebuilt.
 * Simulated nodes go away whole: nothing to mend there.
 */
export async function mendActiveChallenge(state: LabState): Promise<string | undefined> {
  const record = challengeOfRun(state);
  if (!record || state.target.kind === 'simulated') return undefined;
  const challenge = state.model.challenges?.find((c) => c.id === record.id);
  if (!challenge) return undefined;
  const fault = faultOf(state, challenge.fault);
  await runOnNode(state, fault.node, fault.mend, true);
  return challenge.id;
}
