// What a lab's nodes say of it, for a controller that did not build it
// (`netlab attach`): the lab as built (its model, without the challenges'
// faults, and the nodes' facts, under the run that built it) and the challenge
// in progress (which one, its run, since when, how many hints the owner has
// unlocked). Never a fault or its fix: a learner can read the nodes.
import { challengeOfRun } from '../state/challenges.js';
import { RunError, UsageError } from '../errors.js';
import type { Model } from '../model/lab.js';
import { quoteArg } from '../os/quote.js';
import { scriptPrelude } from '../shell/prelude.js';
import type { ChallengeRecord } from '../state/challenges.js';
import { describeRun, scriptRunOf, type LabState } from '../state/store.js';
import type { Transport } from '../exec/transport.js';
import { transportsOf } from '../exec/transports.js';
import type { NodeChallengeRecord, NodeLabRecord } from './attach-record.js';

export type { NodeChallengeRecord, NodeLabRecord };

const LAB_RECORD = 'lab.json';
const CHALLENGE_RECORD = 'challenge.json';

/**
 * The model as the nodes may hold it: each challenge's fault left out (it would
 * give the fault away), and its hints' texts (the challenge record on the nodes
 * holds the ones unlocked so far: a learner reading the nodes reads no further).
 */
export function modelForNodes(model: Model): Model {
  if (!model.challenges) return model;
  return { ...model, challenges: model.challenges.map((c) => ({ ...c, fault: '', hints: c.hints.map(() => '') })) };
}

/**
 * The start of a script that changes a record of the lab on a node: only a
 * node that holds this state's run of the lab (one built again meanwhile, by
 * a reset, keeps the records its own run wrote).
 */
function recordScriptPrelude(state: Pick<LabState, 'lab' | 'run'>): string {
  const run = scriptRunOf(state);
  return `${scriptPrelude(state.lab, run)}
[ -d "$NETLAB_DIR" ] || exit 0
${run ? 'netlab_ours || exit 0\n' : ''}`;
}

/** A script that writes a record in the lab's directory on a node, atomically (temp file, rename). */
function writeRecordScript(state: Pick<LabState, 'lab' | 'run'>, file: string, record: object): string {
  const json = JSON.stringify(record);
  return `${recordScriptPrelude(state)}printf '%s\\n' ${quoteArg(json)} >"$NETLAB_DIR/${file}.tmp" && mv "$NETLAB_DIR/${file}.tmp" "$NETLAB_DIR/${file}"
`;
}

/** A script that removes a record of the lab from a node (where the node holds this state's run). */
function removeRecordScript(state: Pick<LabState, 'lab' | 'run'>, file: string): string {
  return `${recordScriptPrelude(state)}rm -f "$NETLAB_DIR/${file}"\n`;
}

async function onEveryNode(state: LabState, script: string): Promise<void> {
  const results = await Promise.all(Object.values(transportsOf(state)).map((t) => t.run(script)));
  const failed = results.find((r) => r.exitCode !== 0);
  if (failed) throw new RunError(`could not record the lab on its nodes: ${failed.stderr.trim()}`);
}

/**
 * The lab as built, for whoever attaches to it: the script that writes it on a
 * node. `up` runs it in each node's script, after the steps.
 */
export function labRecordScript(state: LabState): string | undefined {
  if (!state.run) return undefined;
  const record: NodeLabRecord = {
    version: 1,
    lab: state.lab,
    run: state.run,
    model: modelForNodes(state.model),
    facts: state.facts,
  };
  return writeRecordScript(state, LAB_RECORD, record);
}

/** The lab as built, on every node (where `up` ran no phase of its own: --step, a lab without steps). */
export async function recordLabOnNodes(state: LabState): Promise<void> {
  const record = labRecordScript(state);
  if (record) await onEveryNode(state, record);
}

/** Takes the lab's record off every node (an up that failed after some nodes' scripts wrote it): best effort. */
export async function forgetLabRecordOnNodes(state: LabState): Promise<void> {
  const script = removeRecordScript(state, LAB_RECORD);
  await Promise.all(Object.values(transportsOf(state)).map((t) => t.run(script).catch(() => undefined)));
}

/** The owner's challenge, on every node (undefined: none in progress any more). */
export async function recordChallengeOnNodes(state: LabState, record: ChallengeRecord | undefined): Promise<void> {
  const script = record
    ? writeRecordScript(state, CHALLENGE_RECORD, {
        id: record.id,
        run: record.run,
        started: record.started,
        hints: record.hints,
        unlocked: (state.model.challenges?.find((c) => c.id === record.id)?.hints ?? []).slice(0, record.hints),
      } satisfies NodeChallengeRecord)
    : removeRecordScript(state, CHALLENGE_RECORD);
  await onEveryNode(state, script);
}

/**
 * What one node has of a lab: its run ("ID HOST:DIR"), and its lab and
 * challenge records, each checked (lifecycle/attach-record.ts): a lab record
 * that is not one netlab writes is left out, with why.
 */
async function readNode(
  lab: string,
  transport: Transport,
): Promise<{ run?: string; record?: NodeLabRecord; notRecord?: string; challenge?: NodeChallengeRecord }> {
  const result = await transport.run(`${scriptPrelude(lab)}
cat "$NETLAB_DIR/run" 2>/dev/null | sed 's/^/@@netlab run /'
cat "$NETLAB_DIR/${LAB_RECORD}" 2>/dev/null | sed 's/^/@@netlab lab /'
cat "$NETLAB_DIR/${CHALLENGE_RECORD}" 2>/dev/null | sed 's/^/@@netlab challenge /'
`);
  if (result.exitCode !== 0)
    throw new RunError(`${transport.node}: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
  const line = (kind: string) => new RegExp(`^@@netlab ${kind} (.*)$`, 'm').exec(result.stdout)?.[1];
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  // Loaded only here: the other commands an attached lab runs never build these schemas.
  const { checkedLabRecord, checkedChallengeRecord, isRunLine } = await import('./attach-record.js');
  const [run, lab_, challenge] = [line('run'), line('lab'), line('challenge')];
  const refuse = (what: string) =>
    new RunError(`${transport.node}: its record of ${what} of lab ${lab} is not one netlab writes`);
  if (run !== undefined && !isRunLine(run)) throw refuse('the run');
  const checked = lab_ === undefined ? undefined : checkedLabRecord(parse(lab_), lab);
  const challengeRecord = challenge === undefined ? undefined : checkedChallengeRecord(parse(challenge));
  if (challenge !== undefined && !challengeRecord) throw refuse('the challenge in progress');
  return {
    ...(run !== undefined ? { run } : {}),
    ...(checked && 'record' in checked ? { record: checked.record } : {}),
    ...(checked && 'problem' in checked ? { notRecord: checked.problem } : {}),
    ...(challengeRecord ? { challenge: challengeRecord } : {}),
  };
}

/** The lab record of the first node (in the order given) that has one netlab wrote. */
export async function readLabRecord(lab: string, transports: Record<string, Transport>): Promise<NodeLabRecord> {
  const problems: string[] = [];
  for (const [node, transport] of Object.entries(transports)) {
    try {
      const found = await readNode(lab, transport);
      if (found.record) return found.record;
      problems.push(
        found.notRecord
          ? `${node}: its record of lab ${lab} is not one netlab writes (${found.notRecord})`
          : `${node}: ${found.run ? `no record of what run ${found.run.split(' ')[0]} built` : 'no such lab'}`,
      );
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  throw new UsageError(
    `lab ${lab} is not up on these machines (or was built by a netlab that records nothing for attaching):\n  ${problems.join('\n  ')}`,
  );
}

/**
 * An attached lab is still the one it was attached to: the owner may have taken
 * it down (or built it again, another run). Asks the lab's first node that
 * answers (one machine stopped does not stop a learner reading the hints).
 */
export async function confirmAttached(state: LabState): Promise<NodeChallengeRecord | undefined> {
  let node = '';
  let found: Awaited<ReturnType<typeof readNode>> | undefined;
  const unanswered: string[] = [];
  for (const [name, transport] of Object.entries(transportsOf(state))) {
    try {
      found = await readNode(state.lab, transport);
      node = name;
      break;
    } catch (error) {
      unanswered.push(`${name}: ${(error as Error).message}`);
    }
  }
  if (!found) throw new RunError(`cannot read lab ${state.lab} on any of its nodes:\n  ${unanswered.join('\n  ')}`);
  const id = found.run?.split(' ')[0];
  if (id !== state.run?.id)
    throw new RunError(
      `lab ${state.lab} is gone from its nodes: ${id ? `${node} now has another run of it (${describeRun(found.run!)})` : `${node} has no record of it`}; its owner (${state.run ? describeRun(state.run) : '?'}) took it down. \`netlab detach ${state.lab}\` forgets it here${id ? `, \`netlab attach\` attaches to the new run` : ''}`,
    );
  return found.challenge;
}

/**
 * The challenge in progress in this run of the lab: the owner's own record, or,
 * on an attached lab, the owner's record as the nodes hold it. While there is
 * one, verify and status do not show what drifted (it would give the fault away).
 */
export async function challengeInProgress(state: LabState): Promise<{ id: string } | undefined> {
  if (!state.attached) return challengeOfRun(state);
  const onNodes = await confirmAttached(state);
  return onNodes && onNodes.run === state.run?.id ? onNodes : undefined;
}

/** What an attached controller may not do, with who may. */
export function refuseAttached(state: LabState, what: string): void {
  if (!state.attached) return;
  throw new UsageError(
    `lab ${state.lab} is attached here, not built here: ${what} is for its owner, ${state.run ? describeRun(state.run) : 'the controller that built it'}. Ask them, or \`netlab detach ${state.lab}\` to forget it here`,
  );
}
