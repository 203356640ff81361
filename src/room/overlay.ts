// Each group's own overlay identifiers. Groups whose machines share a network
// segment (one host-only network, one lab VLAN) would hear each other: with
// the same VNI and multicast group in every group, one group's vxlan0 learns
// the other's VTEPs from its floods, and both answer ARP for the same pod
// address. So the room gives each group its own VNI (and VXLAN group), written
// into the group's copy of the lab file: its plan, state and nodes all show it.
import { isMap, parseDocument } from 'yaml';
import type { TunnelSettings } from '../model/lab.js';
import { formatIp, parseIp } from '../net/ipv4.js';

/**
 * VNIs ten apart: a fault that changes a VNI makes it one more
 * (faults/faults.ts), which must not be the next group's.
 */
export const VNI_STEP = 10;
const MAX_VNI = 2 ** 24 - 1;

export interface GroupOverlay {
  id: number;
  group?: string;
}

/**
 * The identifiers of the group with this index (0, 1, … in the order the room
 * first saw its groups): the lab's own, moved by the index. Undefined when they
 * would leave the VNI range or the multicast group's /8 (a lab that says so).
 */
export function groupOverlay(tunnel: Pick<TunnelSettings, 'id' | 'group'>, index: number): GroupOverlay | undefined {
  const id = tunnel.id + VNI_STEP * (index + 1);
  if (id > MAX_VNI) return undefined;
  if (tunnel.group === undefined) return { id };
  const base = parseIp(tunnel.group)!;
  const moved = base + index + 1;
  // Stays in the lab's own multicast block (239/8 is administratively scoped, RFC 2365).
  if (Math.floor(moved / 2 ** 24) !== Math.floor(base / 2 ** 24)) return undefined;
  return { id, group: formatIp(moved) };
}

/**
 * The lab file's text with the group's identifiers under `wiring.KEY` (vxlan,
 * geneve; flannel's settings live under vxlan too). Comments and everything
 * else stay as the author wrote them.
 */
export function withOverlay(labText: string, key: string, overlay: GroupOverlay, header: string): string {
  const doc = parseDocument(labText);
  const wiring = doc.get('wiring');
  if (!isMap(wiring)) throw new Error('a lab with a tunnel has wiring:');
  doc.setIn(['wiring', key, 'id'], overlay.id);
  if (overlay.group !== undefined) doc.setIn(['wiring', key, 'group'], overlay.group);
  doc.commentBefore = `${header}\n${doc.commentBefore ?? ''}`.trimEnd();
  return doc.toString();
}
