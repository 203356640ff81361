// Each group's own overlay identifiers. Groups whose machines share a network
// segment (one host-only network, one lab VLAN) would hear each other: with
// the same VNI and multicast group in every group, one group's vxlan0 learns
// the other's VTEPs from its floods, and both answer ARP for the same pod
// address. So the room gives each group its own VNI (and VXLAN group), written
// into the group's copy of the lab file: its plan, state and nodes all show it.
import { createHmac } from 'node:crypto';
import { isMap, parseDocument } from 'yaml';
import type { TunnelSettings } from '../model/lab.js';
import { formatIp, parseIp } from '../net/ipv4.js';

/**
 * VNIs ten apart: a fault that changes a VNI makes it one more
 * (faults/faults.ts), which must not be the next group's.
 */
export const VNI_STEP = 10;
const MAX_VNI = 2 ** 24 - 1;

/**
 * Rooms whose identifiers start apart: two rooms of the same lab on one segment
 * (two instructors, one server's network) would otherwise give their first
 * groups the same VNI. Each room's secret picks one of this many blocks.
 */
export const ROOM_BLOCKS = 1000;

/**
 * The slot of a room's group: its block (from the room's secret) times the
 * groups a room may have, plus the group's index. Slots of one room never meet;
 * two rooms meet only if their secrets pick the same block (1 in ROOM_BLOCKS).
 */
export function roomSlot(secret: string, index: number, groups: number): number {
  const block = createHmac('sha256', secret).update('netlab room overlay').digest().readUInt32BE(0) % ROOM_BLOCKS;
  return block * groups + index;
}

export interface GroupOverlay {
  id: number;
  group?: string;
}

/**
 * The identifiers of the group in this slot (roomSlot: the room's block and
 * the group's index): the lab's own, moved by the slot. Undefined when they
 * would leave the VNI range or the multicast group's /8 (a lab that says so).
 */
export function groupOverlay(tunnel: Pick<TunnelSettings, 'id' | 'group'>, slot: number): GroupOverlay | undefined {
  const id = tunnel.id + VNI_STEP * (slot + 1);
  if (id > MAX_VNI) return undefined;
  if (tunnel.group === undefined) return { id };
  const base = parseIp(tunnel.group)!;
  const moved = base + slot + 1;
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
