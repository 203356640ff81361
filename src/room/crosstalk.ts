// Groups never hear each other. A VXLAN device learns, from every packet of its
// VNI that reaches its multicast group, "this MAC is behind that VTEP" (flood
// and learn): an entry whose VTEP is none of the lab's nodes is another lab on
// the same segment with the same VNI and group, answering ARP for the same pod
// addresses. The room gives each group identifiers of its own (room/overlay.ts);
// this finds what it cannot rule out: another lab, or another room, there.
import { RunError } from '../errors.js';
import { transportsOf } from '../exec/transports.js';
import { askNode } from '../node/query.js';
import type { FdbEntry } from '../node/tables.js';
import { parseIp } from '../net/ipv4.js';
import type { LabState } from '../state/store.js';

export interface ForeignVtep {
  /** the node of the group whose tunnel learned it */
  node: string;
  /** the other VTEP's address */
  address: string;
}

/** The VTEPs a group's flood-and-learn tunnel learned that are none of its nodes (none for other tunnels). */
export async function foreignVteps(state: LabState): Promise<ForeignVtep[]> {
  const tunnel = state.model.tunnel;
  // Only a tunnel with a multicast group floods to whoever joined it (flannel and GENEVE list their peers).
  if (!tunnel?.group || state.model.underlay) return [];
  const own = new Set(Object.values(state.facts).map((f) => f.address));
  const found: ForeignVtep[] = [];
  await Promise.all(
    Object.entries(transportsOf(state)).map(async ([node, transport]) => {
      const { answers, failed } = await askNode(transport, [{ fdb: true }]);
      if (failed) throw new RunError(`${node}: ${failed}`);
      for (const address of learnedVteps(answers[0]!.fdb ?? [], tunnel, own))
        if (!found.some((f) => f.address === address)) found.push({ node, address });
    }),
  );
  return found;
}

/**
 * The VTEPs a tunnel's forwarding table learned that are not the lab's own nodes. The all-zero MAC's entry is the
 * flood list (the group itself); the others are learned. An address is what the kernel gives, an IPv4 address: any
 * other text (a `bridge` a learner, root on the machine, replaced) is no VTEP, and never reaches the instructor's
 * terminal or the room's log.
 */
export function learnedVteps(
  entries: readonly FdbEntry[],
  tunnel: { device: string; group?: string },
  own: ReadonlySet<string>,
): string[] {
  return entries
    .filter((e) => e.ifname === tunnel.device)
    .map((e) => e.dst)
    .filter(
      (address): address is string =>
        address !== undefined && parseIp(address) !== undefined && address !== tunnel.group && !own.has(address),
    );
}
