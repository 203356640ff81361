// What a challenge does on the nodes, for `netlab challenge` and `netlab down`
// alike: its fault, planned with the lab's own facts, and running the fault's
// commands (to make it, or to mend it) on its node.
import { escapeControls, RunError, UsageError } from '../errors.js';
import { transportOf, transportsOf } from '../exec/transports.js';
import { faultsOf, settingCommand, whyNotOffered, type Fault, type NodeSetting } from '../faults/faults.js';
import { lockNodes } from '../exec/node-lock.js';
import { scriptPrelude } from '../shell/prelude.js';
import { lockHolder, tearDown } from './down.js';
import type { NodeDown } from '../exec/runner.js';
import { quoteArg, quoteArgv } from '../os/quote.js';
import { finishDespiteHangup } from '../os/hangup.js';
import { describeChanges, snapshotNode } from '../workshop/changes.js';
import { buildPlan } from '../plan/build.js';
import {
  challengeOfRun,
  changeChallenge,
  faultIdOf,
  writeChallenge,
  type ChallengeRecord,
} from '../state/challenges.js';
import { recordChallengeOnNodes } from './attach.js';
import { scriptRunOf, writeState, type LabState } from '../state/store.js';
import { podNamespacesOn } from '../model/lab.js';
import { ipIn } from '../model/effects.js';

export function faultOf(state: LabState, id: string, plan = buildPlan(state.model, state.facts)): Fault {
  const fault = faultsOf(state.model, state.facts, { plan, run: state.run?.id }).find((f) => f.id === id);
  // The lab file was checked when the lab went up; a state file edited by hand is the only way here.
  if (!fault) throw new RunError(`lab ${state.lab} has no fault ${id}`);
  return fault;
}

/** The node-wide setting's arguments for the prelude's netlab_setting_* helpers. */
function settingArgs(setting: NodeSetting): string[] {
  return setting.kind === 'policy' ? ['policy', setting.chain] : ['sysctl', setting.key];
}

/**
 * Runs a script on a fault's node with the node locked, as `up` and `down` do:
 * a challenge never changes a node while another netlab is changing it. A fault
 * (`ours`) is made only on a node that holds this run of the lab, not on one
 * the lab has left (a `down` that held the node meanwhile). A mend runs
 * whatever the node holds (a `down` that stopped halfway must be able to mend
 * again): what a fault changed on the machine (FORWARD's policy, a rule marked
 * with the run) outlives the lab, and mendFault mends the lab's objects only
 * where the node holds the run.
 */
async function runLocked(
  state: LabState,
  node: string,
  command: string,
  script: string,
  { ours = false } = {},
): Promise<string> {
  const transport = transportOf(state, node);
  const run = scriptRunOf(state);
  const gone = [
    `lab ${state.lab} is not up on ${node} any more (the node has run `,
    `, not ${run?.id}); nothing was changed`,
  ];
  const holdsRun =
    ours && run
      ? `netlab_ours || { printf '%s%s%s\\n' ${quoteArg(gone[0]!)} "\${id:-none}" ${quoteArg(gone[1]!)} >&2; exit 1; }\n`
      : '';
  // A terminal that hangs up meanwhile does not leave the node locked or the fault half made: the script finishes.
  const hangup = finishDespiteHangup();
  try {
    await lockNodes({ [node]: transport }, lockHolder(command, state.lab, state.run));
    try {
      // Out of the terminal's reach: a Ctrl-C (netlab finishes despite it) must not stop a fault halfway.
      const result = await transport.run(`${scriptPrelude(state.lab, run)}\n${holdsRun}${script}`, {
        uninterruptible: true,
      });
      if (result.exitCode !== 0) throw new RunError(`on ${node}: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
      return result.stdout;
    } finally {
      await transport.unlock();
    }
  } finally {
    hangup();
  }
}

/**
 * A challenge started in a lab: its fault made, then recorded with what it
 * changed (here and on the nodes), then the pods made to forget the paths they
 * learned before it (forgetLearnedPaths: seconds on a lab of many pods, which a
 * fault must not wait through unrecorded). Until they have, the record says it
 * is settling, and a room's grading does not count (room/grade.ts).
 */
export async function startFault(
  state: LabState,
  fault: Fault,
  record: Omit<ChallengeRecord, 'run' | 'hints' | 'revealed' | 'changed' | 'settingWas'>,
): Promise<void> {
  // A lab an older netlab brought up may have a challenge whose fault breaks nothing (no lab file may name one now).
  if (fault.notOffered)
    throw new UsageError(
      `challenge ${record.id}'s fault ${fault.id} breaks nothing on a fresh node: ${whyNotOffered(fault)}; nothing was changed. Bring the lab up again from a lab file whose challenge names one of those`,
    );
  const made = await makeFault(state, fault);
  const saved: ChallengeRecord = {
    ...record,
    run: state.run?.id ?? '',
    hints: 0,
    revealed: false,
    ...made,
    settling: new Date().toISOString(),
  };
  await saveChallenge(state, saved);
  try {
    await forgetLearnedPaths(state);
  } finally {
    try {
      changeChallenge(saved, ({ settling: _settled, ...settled }) => settled);
    } catch {
      // the record's lock held elsewhere, a full disk: the fault is made and recorded; settling ends by its time
    }
  }
}

/**
 * A sysctl is the whole machine's: another lab on the node that set it too (two labs on one set of machines
 * over SSH) would lose it with the fault, and its learners would chase a fault that is not theirs. The script
 * ends before anything changes, naming that lab.
 */
function sharedSysctlRefusal(node: string, key: string): string {
  const said = [
    `lab `,
    ` on ${node} needs ${key} too: this challenge's fault would turn it off for that lab as well; nothing was changed. Take that lab down first, or start another challenge`,
  ];
  return `if ${quoteArgv(['netlab_sysctl_other', key])}; then printf '%s%s%s\n' ${quoteArg(said[0]!)} "$other" ${quoteArg(said[1]!)} >&2; exit 1; fi`;
}

/**
 * Makes a fault on its node, stopping at the first command that fails. A
 * node-wide setting it changes is saved first, for the mend to put back.
 * A fault stopped halfway (a learner removed what it acts on) is mended in the
 * same script: no record is written for it, so nothing would mend it later,
 * and FORWARD's policy would stay DROP. Returns what it changed, for
 * `challenge reveal`.
 */
async function makeFault(state: LabState, fault: Fault): Promise<Pick<ChallengeRecord, 'changed' | 'settingWas'>> {
  const commands = [
    ...(fault.setting ? [quoteArgv(['netlab_setting_save', ...settingArgs(fault.setting)])] : []),
    ...fault.apply.map((c) => quoteArgv(c)),
  ];
  const lines = [
    ...(fault.setting?.kind === 'sysctl' ? [sharedSysctlRefusal(fault.node, fault.setting.key)] : []),
    'netlab_unmake_fault() {',
    ...mendLines(state, fault),
    `  echo ${quoteArg('the fault stopped halfway: its mend was run')} >&2`,
    '}',
    ...commands.map((c) => `${c} || { netlab_unmake_fault; exit 1; }`),
  ];
  // What the fault changed, for `challenge reveal`: the node's tables, and those of the pod it acts in.
  const transport = transportOf(state, fault.node);
  const pods = fault.netns ? [fault.netns] : [];
  const snapshot = () => snapshotNode(transport, pods, { processes: false }).catch(() => undefined);
  const before = await snapshot();
  const said = await runLocked(state, fault.node, 'challenge start', `${lines.join('\n')}\n`, { ours: true });
  const after = before && (await snapshot());
  // (a policy or a number, nothing else, from a node a learner is root on)
  const settingWas = /^@@netlab saved ([A-Za-z0-9]{1,16})$/m.exec(said)?.[1];
  return {
    ...(before && after ? { changed: describeChanges(before, after) } : {}),
    ...(settingWas ? { settingWas } : {}),
  };
}

/**
 * The pods forget what their kernels learned from the lab's traffic, so that a
 * fault shows at once and the same way every time (best effort: the fault is
 * made, and its record must be written whatever happens here; a pod a learner
 * deleted or a node that does not answer only keeps its caches). A node that routes a pod's
 * packet back out of the bridge it came in by (the vxlan lab's one cluster
 * route) sends the pod an ICMP redirect, and the pod's kernel caches it for
 * about 5 minutes (route/gc_timeout): until then its packets skip the node, a
 * route broken there does not show, and a traceroute reads otherwise. A pod
 * caches a redirect only towards a neighbour it already knows, so both go:
 * the route cache, and the neighbours it learned (never a permanent one).
 */
async function forgetLearnedPaths(state: LabState): Promise<void> {
  const transports = transportsOf(state);
  // One script per node, one `ip -batch` per pod (-force: the second line runs if the first fails),
  // and no node lock: a cache forgotten changes nothing netlab or a learner made.
  await Promise.allSettled(
    state.model.nodes.map(({ name }) => {
      const perPod = podNamespacesOn(state.model, name).map(
        (n) =>
          `${quoteArgv(ipIn(n, '-force', '-batch', '-'))} 2>/dev/null <<'EOF'\nroute flush cache\nneigh flush all\nEOF\n`,
      );
      return transports[name]!.run(perPod.join(''));
    }),
  );
}

/**
 * Mends a fault on its node, running every command whatever the others did (a
 * learner may have mended part of it already: `ip route add` of a route that is
 * back fails). The node-wide setting goes back to the value the fault replaced,
 * and only if it still holds the fault's value. Returns what was left as it was.
 */
export async function mendFault(state: LabState, fault: Fault): Promise<string[]> {
  const stdout = await runLocked(state, fault.node, 'challenge stop', `${mendLines(state, fault).join('\n')}\n`);
  return [...stdout.matchAll(/^@@netlab kept (.*)$/gm)].map((m) => m[1]!);
}

/**
 * A challenge solved (`challenge check`, or a room's grading before its next start): what its fault changed of
 * the node, which the lab's down does not undo (FORWARD's policy, a sysctl, the fault's DROP rule in FORWARD),
 * goes back now, as down would have put it back first (mendActiveChallenge) while the record was there: a
 * learner may have solved it another way (the lab's jump put back under the fault's DROP policy). The lab's
 * objects stay as the learner mended them: a mend of those could undo a fix that works (a VNI matched on the
 * other node). On simulated nodes too: the lab lives on after a solve, and its nodes go away whole only with its
 * down.
 */
export async function mendMachineOfSolved(state: LabState, record: ChallengeRecord): Promise<void> {
  const fault = faultToMend(state, record, { onSimulatedNodes: true });
  if (!fault) return;
  const lines = mendLines(state, fault, { machineOnly: true });
  if (lines.length) await runLocked(state, fault.node, 'challenge check', `${lines.join('\n')}\n`);
}

/**
 * A fault's mend as `challenge reveal` shows it, to type by hand: a node-wide setting goes back to the value it
 * had before the fault (a Docker host's FORWARD policy is DROP, where the fault's own `mended` ACCEPT would open
 * the machine), as netlab's own mend puts it back.
 */
export function shownMend(fault: Fault, record: Pick<ChallengeRecord, 'settingWas'>): Fault['mend'] {
  if (!fault.setting || record.settingWas === undefined) return fault.mend;
  // By construction the setting's own command is the last of mend (faults.ts).
  return [...fault.mend.slice(0, -1), settingCommand(fault.setting, record.settingWas)];
}

/**
 * A fault's mend (mendFault, and of a fault stopped halfway); `machineOnly`: only what it changed of the machine
 * (its setting, a rule of its own in FORWARD), not the lab's objects, which a learner who solved it has mended
 * their own way.
 */
function mendLines(state: LabState, fault: Fault, options: { machineOnly?: boolean } = {}): string[] {
  const { setting } = fault;
  // By construction the setting's own command is the last of mend (faults.ts).
  const objects = options.machineOnly && !fault.onTheMachine ? [] : setting ? fault.mend.slice(0, -1) : fault.mend;

  // A rule is put back only where it is missing (iptables -C): a learner may have put it back already, and a
  // fault stopped halfway may not have removed it; a second jump would outlive down.
  const commands = objects.map((c) => {
    const check = ruleCheckOf(c);
    return `${check ? `${quoteArgv(check)} 2>/dev/null || ` : ''}${quoteArgv(c)} 2>/dev/null || true`;
  });
  // The lab's objects are mended only where the node still holds this run: on a node the lab has
  // left (a `down` that stopped halfway) a mend would make them anew (a vxlan0 for nobody).
  const run = scriptRunOf(state);
  const lines = run && !fault.onTheMachine && commands.length ? ['if netlab_ours; then', ...commands, 'fi'] : commands;
  if (!setting) return lines;
  // Only a value the fault saved goes back (a fault stopped halfway may have saved none, and a second mend finds
  // it put back already): a machine whose own policy is DROP (Docker's) is never opened to ACCEPT.
  return [...lines, quoteArgv(['netlab_setting_restore', ...settingArgs(setting), setting.value])];
}

/** `iptables … -C CHAIN RULE` for a command that inserts or appends RULE (-I CHAIN [POS] RULE, -A CHAIN RULE). */
export function ruleCheckOf(command: readonly string[]): string[] | undefined {
  if (command[0] !== 'iptables') return undefined;
  const at = command.findIndex((arg) => arg === '-I' || arg === '-A');
  if (at < 0) return undefined;
  const chain = command[at + 1]!;
  const rule = command.slice(command[at] === '-I' && /^\d+$/.test(command[at + 2] ?? '') ? at + 3 : at + 2);
  return [...command.slice(0, at), '-C', chain, ...rule];
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
  const fault = record && faultToMend(state, record);
  if (!fault) return undefined;
  await mendFault(state, fault);
  // Once: the down that follows may stop halfway and keep the state, and the next one finds the record again.
  changeChallenge(record, (current) => ({ ...current, mended: true }));
  return record.id;
}

/**
 * The fault a challenge's record made, to mend before the lab's down on machines; none on simulated nodes (they go
 * away whole) unless asked, nor where a down mended it already (ChallengeRecord.mended).
 */
function faultToMend(state: LabState, record: ChallengeRecord, { onSimulatedNodes = false } = {}): Fault | undefined {
  const challenge = state.model.challenges?.find((c) => c.id === record.id);
  if (!challenge || (state.target.kind === 'simulated' && !onSimulatedNodes) || record.mended) return undefined;
  return faultOf(state, faultIdOf(record, challenge));
}

/**
 * A lab taken down (`down`, `up --recreate`, and so `room reset`): its active
 * challenge's fault mended first (mendActiveChallenge), then its journals run.
 */
export async function takeDown(state: LabState): Promise<Record<string, NodeDown>> {
  let unmended: Error | undefined;
  try {
    const mended = await mendActiveChallenge(state);
    if (mended) console.log(`challenge ${mended} was active: its fault is mended first`);
  } catch (error) {
    // Its node does not answer (a VM stopped): the journals are undone where nodes answer, and the state is
    // kept, so that the next down mends the fault first (its record stays until then).
    unmended = error as Error;
    console.log(`the active challenge's fault could not be mended first: ${escapeControls(unmended.message)}`);
  }
  const outcomes = await tearDown(state, { keepState: unmended !== undefined });
  if (unmended) {
    // Its journals are undone: the lab is not up, and `up` must not say it is; only the fault's mend is left.
    writeState({ ...state, status: 'failed' });
    throw new RunError(
      `the active challenge's fault could not be mended (${unmended.message}); the lab's state is kept: run \`netlab down ${state.lab}\` again`,
    );
  }
  return outcomes;
}

/** The owner's record of a challenge just started, here and on the lab's nodes (where an attached learner reads it). */
async function saveChallenge(state: LabState, record: ChallengeRecord): Promise<void> {
  writeChallenge(record);
  await onTheNodes(state, () => recordChallengeOnNodes(state, record));
}

/**
 * The challenge's record written on the lab's nodes, for learners attached there. The record here is the
 * challenge's: a node that misses the write (its SSH dropped for a moment) is said on stderr, and returned, not
 * an error: the fault made, the hint counted or the fault mended stands, and the next write puts the node right.
 */
async function onTheNodes(state: LabState, write: () => Promise<void>): Promise<string | undefined> {
  try {
    await write();
    return undefined;
  } catch (error) {
    const said = `the challenge's record is not on every node of lab ${state.lab} (${escapeControls((error as Error).message, true)}): a learner attached there sees the one before`;
    console.error(`netlab: ${said}`);
    return said;
  }
}

/**
 * A change to the owner's record of a start of a challenge (a hint given; the
 * challenge over: `change` gives undefined), here and on the lab's nodes, if
 * it still is the lab's record (state/challenges.ts changeChallenge): a start
 * of another challenge meanwhile keeps its own. Returns what a node that missed
 * it said (onTheNodes), if one did.
 */
export async function updateChallenge(
  state: LabState,
  start: ChallengeRecord,
  change: (current: ChallengeRecord) => ChallengeRecord | undefined,
): Promise<string | undefined> {
  const done = changeChallenge(start, change);
  if (!done.changed) return undefined;
  return onTheNodes(state, async () => {
    await recordChallengeOnNodes(state, done.record);
    await nodesMatchHere(state, done.record);
  });
}

/**
 * After `written` went to the lab's nodes: if the record here is another one
 * now (a start of another challenge wrote its own here, and then on the nodes,
 * in between), the nodes get that one, so that their last write is never the
 * older record (an attached learner reads it).
 */
export async function nodesMatchHere(state: LabState, written: ChallengeRecord | undefined): Promise<void> {
  const here = challengeOfRun(state);
  if (JSON.stringify(here) !== JSON.stringify(written)) await recordChallengeOnNodes(state, here);
}
