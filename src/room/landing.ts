// Where a challenge's fault lands in each group of a room. A challenge names
// one fault (`vni-changed:node-1:vxlan0`); the same fault of the same device on
// another node breaks the same goal checks, so a room may land it there
// instead, a different place in neighbouring groups: a fix copied from the next
// table fixes nothing. The choice is keyed by the room's secret, so learners
// cannot work it out from the group names, and is the same again for the same
// room file and secret (a reset lands the fault where it was).
import { createHmac } from 'node:crypto';
import { faultIdsOf } from '../faults/faults.js';
import type { Model, ModelChallenge } from '../model/lab.js';

/** A fault id's parts: kind, node, subject (the subject may contain ':'). */
function partsOf(id: string): { kind: string; node: string; subject: string } {
  const [kind = '', node = '', ...rest] = id.split(':');
  return { kind, node, subject: rest.join(':') };
}

/**
 * The places a challenge's fault can land: its own fault first, then the same
 * kind of fault on the same subject on each other node that has it (a VTEP on
 * every node, not a pod's veth that only one node has).
 */
export function landingsOf(model: Model, challenge: Pick<ModelChallenge, 'fault'>): string[] {
  const own = partsOf(challenge.fault);
  const others = faultIdsOf(model).filter((id) => {
    const p = partsOf(id);
    return p.kind === own.kind && p.subject === own.subject && p.node !== own.node;
  });
  return [challenge.fault, ...others];
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
