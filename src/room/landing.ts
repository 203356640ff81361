// Where a challenge's fault lands in each group of a room. A challenge names
// one fault (`vni-changed:node-1:vxlan0`); the same fault of the same device on
// another node breaks the same goal checks, so a room may land it there
// instead, a different place in neighbouring groups: a fix copied from the next
// table fixes nothing. The choice is keyed by the room's secret, so learners
// cannot work it out from the group names, and is the same again for the same
// room file and secret (a reset lands the fault where it was).
import { createHmac } from 'node:crypto';
import { faultIdsOf } from '../faults/faults.js';
import type { Model, ModelChallenge, Source, Target } from '../model/lab.js';

/** A fault id's parts: kind, node, subject (the subject may contain ':'). */
function partsOf(id: string): { kind: string; node: string; subject: string } {
  const [kind = '', node = '', ...rest] = id.split(':');
  return { kind, node, subject: rest.join(':') };
}

/**
 * The places a challenge's fault can land: its own fault first, then the same
 * kind of fault on the same subject on each other node that has it (a VTEP on
 * every node, not a pod's veth that only one node has) and that one of the goal
 * checks runs from or to. Elsewhere it would break other checks than the goal's,
 * and the group would be solved at its first grading: a third node's tunnel to
 * node-0 (geneve names a tunnel by the node it leads to) when the goal is
 * between node-0 and node-1, a node's masquerade when the goal is another's pod.
 */
export function landingsOf(model: Model, challenge: Pick<ModelChallenge, 'fault' | 'goal'>): string[] {
  const own = partsOf(challenge.fault);
  const reached = goalNodes(model, challenge.goal);
  const others = faultIdsOf(model).filter((id) => {
    const p = partsOf(id);
    return p.kind === own.kind && p.subject === own.subject && p.node !== own.node && reached.has(p.node);
  });
  return [challenge.fault, ...others];
}

/** The nodes the goal checks run between: each one's source's, and its target's (a pod's, a node, a Service's backends'). */
function goalNodes(model: Model, goal: readonly number[]): Set<string> {
  const nodeOf = new Map(model.pods.map((p) => [p.name, p.node]));
  const nodes = new Set<string>();
  const add = (end: Source | Target) => {
    const pods =
      'pod' in end
        ? [end.pod]
        : 'service' in end
          ? (model.services.find((s) => s.name === end.service)?.backends ?? [])
          : [];
    if ('node' in end) nodes.add(end.node);
    for (const pod of pods) if (nodeOf.has(pod)) nodes.add(nodeOf.get(pod)!);
  };
  for (const number of goal) {
    const check = model.checks[number - 1];
    if (check) {
      add(check.from);
      add(check.to);
    }
  }
  return nodes;
}

function keyed(secret: string, ...parts: string[]): Buffer {
  return createHmac('sha256', secret).update(parts.join('\n')).digest();
}

/**
 * Each group's landing: the groups ordered by a keyed hash (an order nobody
 * can guess without the secret), then dealt the landings in turn from a keyed
 * start. Dealt, not drawn: with two landings and four groups, two get each.
 */
export function dealLandings(
  secret: string,
  room: string,
  challenge: string,
  groups: readonly string[],
  landings: readonly string[],
): Map<string, string> {
  const order = [...groups].sort((a, b) =>
    Buffer.compare(keyed(secret, room, challenge, a), keyed(secret, room, challenge, b)),
  );
  const start = keyed(secret, room, challenge).readUInt32BE(0) % landings.length;
  return new Map(order.map((group, rank) => [group, landings[(start + rank) % landings.length]!]));
}
