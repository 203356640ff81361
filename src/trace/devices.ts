// A trace's hops through the devices every lab has: a veth pair carries a frame
// into the namespace of its other end; a bridge switches it by its FDB, or takes
// it up to the node's IP stack when it is for the bridge's own MAC. Tunnel
// devices are their wiring module's (src/wiring/); the IP layer is walk.ts's.
import type { End, Packet } from '../model/trace.js';
import type { Link, Place } from '../node/tables.js';
import { tunnelHops } from '../wiring/registry.js';
import type { TraceContext } from './context.js';

/**
 * Where a packet of a given size (trace --size) meets a link too small for
 * it, and what the kernel does there: a router (the IP layer) fragments it, or
 * drops it and tells the sender (ICMP "fragmentation needed", when DF is set,
 * as TCP and Linux's ping set it by default); a veth or a bridge drops the frame and tells
 * nobody, the black hole of a wrong overlay MTU.
 */
export function tooBig(
  walk: TraceContext,
  place: Place,
  link: Link,
  packet: Packet,
  at: 'routed' | 'veth' | 'bridge',
): End | undefined {
  if (!packet.size || !link.mtu || packet.size <= link.mtu) return undefined;
  const what = {
    routed: `the IP layer fragments it, or, with DF set (TCP, and Linux's ping by default), drops it and answers the sender ICMP "fragmentation needed"`,
    veth: 'a veth drops a frame larger than the MTU of the end it arrives at, and tells nobody',
    bridge: 'a bridge drops a frame larger than the MTU of the port it would leave by, and tells nobody',
  }[at];
  return walk.end(
    'broken',
    place,
    `a ${packet.size}-byte packet does not fit ${link.ifname}'s MTU of ${link.mtu}: ${what}`,
    walk.hint(place, (d) => d.kind === 'mtu' && d.link === link.ifname, `sets ${link.ifname}'s MTU`),
  );
}

/** ", MTU 1450" where the walk checks a packet's size. */
export const mtuOf = (link: Link, packet: Packet) => (packet.size && link.mtu ? ` (MTU ${link.mtu})` : '');

/** The other end of a veth pair: in the node's namespace or one of its pods', found by ifindex both ways. */
export async function veth(
  walk: TraceContext,
  place: Place,
  link: Link,
  mac: string | undefined,
  packet: Packet,
): Promise<End> {
  const pods = walk.model.pods.filter((p) => p.node === place.node && p.name !== place.pod);
  const guess = pods.find((p) => p.hostIf === link.ifname || (!p.hostIf && p.podIf && !place.pod));
  const candidates: Place[] = [
    ...(place.pod ? [{ node: place.node }] : []),
    ...(guess ? [{ node: place.node, pod: guess.name }] : []),
    ...pods.filter((p) => p !== guess).map((p) => ({ node: place.node, pod: p.name })),
  ];
  for (const candidate of candidates) {
    const peer = (await walk.tables(candidate)).links.find(
      (l) => l.ifindex === link.peerIndex && l.peerIndex === link.ifindex && l.kind === 'veth',
    );
    if (!peer) continue;
    walk.hop(
      place,
      'veth',
      `out by ${link.ifname}, the veth pair's other end is ${peer.ifname}${mtuOf(peer, packet)} in ${walk.label(candidate)}`,
      `${link.ifname}@if${link.peerIndex}`,
    );
    const dropped = tooBig(walk, candidate, peer, packet, 'veth');
    if (dropped) return dropped;
    if (!peer.up)
      return walk.end(
        'broken',
        candidate,
        `${peer.ifname} is down: the frame is dropped where it arrives`,
        walk.upHint(candidate, peer.ifname),
      );
    return walk.frameArrives(candidate, peer, mac, packet);
  }
  return walk.end(
    'broken',
    place,
    `the other end of ${link.ifname} (ifindex ${link.peerIndex}) is in no namespace of ${place.node}`,
  );
}

/** A frame switched by a bridge: its own MAC goes up to the node, any other by the bridge's FDB to a port. */
export async function bridge(
  walk: TraceContext,
  place: Place,
  bridge: Link,
  mac: string | undefined,
  packet: Packet,
  inPort?: string,
  bridgedBack = false,
): Promise<End> {
  const tables = await walk.tables(place);
  if (!bridge.up)
    return walk.end('broken', place, `bridge ${bridge.ifname} is down`, walk.upHint(place, bridge.ifname));
  const from = inPort ? `from port ${inPort}, ` : '';
  if (!mac) {
    return walk.end(
      'unknown',
      place,
      `${bridge.ifname} does not know the destination MAC yet: the ARP request is flooded to every port`,
      'send traffic first (trace does, unless --no-send) and trace again',
    );
  }
  const own = mac === bridge.mac || tables.links.some((l) => l.master === bridge.ifname && l.mac === mac);
  if (own && inPort && !bridgedBack) {
    walk.hop(
      place,
      'bridge',
      `${from}${mac} is ${bridge.ifname}'s own MAC: up to ${place.node}'s IP stack`,
      `${mac} dev ${inPort} master ${bridge.ifname} permanent`,
    );
    walk.keepMacs();
    return walk.packetArrives(place, packet, bridge.ifname, inPort);
  }
  const entry = tables.fdb.find((f) => f.mac === mac && f.master === bridge.ifname && !f.self);
  if (!entry) {
    return walk.end(
      'unknown',
      place,
      `${mac} is not in ${bridge.ifname}'s FDB (not learned, or aged out): the bridge floods the frame to every port`,
      'send traffic first (trace does, unless --no-send) and trace again',
    );
  }
  const port = tables.links.find((l) => l.ifname === entry.ifname)!;
  if (entry.ifname === inPort && !port.hairpin) {
    return walk.end(
      'broken',
      place,
      `${bridge.ifname} would send the frame back out of ${inPort}, the port it came in by; a bridge does that only in hairpin mode, which is off on ${inPort}`,
      walk.hint(place, (d) => d.kind === 'hairpin' && d.port === inPort, `turns hairpin mode on`) ??
        `bridge link set dev ${inPort} hairpin on`,
    );
  }
  walk.hop(
    place,
    'bridge',
    `${from}${bridge.ifname}'s FDB sends ${mac} to port ${entry.ifname}${mtuOf(port, packet)}${entry.ifname === inPort ? ' (hairpin)' : ''}`,
    `${mac} dev ${entry.ifname} master ${bridge.ifname}`,
  );
  if (!port.up) return walk.end('broken', place, `${port.ifname} is down`, walk.upHint(place, port.ifname));
  const dropped = tooBig(walk, place, port, packet, 'bridge');
  if (dropped) return dropped;
  // With br_netfilter an IP packet switched from one port to another passes the FORWARD chain
  // too, policies, policy and all, with the bridge as its in and out device (one the node
  // routes out of the bridge passed its own FORWARD already).
  if (inPort && tables.sysctls['net.bridge.bridge-nf-call-iptables'] === '1') {
    const denied = await walk.forwardVerdict(place, packet, bridge.ifname, bridge.ifname);
    if (denied) return denied;
  }
  const tunnel = tunnelHops(port.kind);
  if (tunnel?.carries === 'ethernet') return tunnel.send(walk, place, port, { mac }, packet);
  if (port.kind === 'veth') return veth(walk, place, port, mac, packet);
  return walk.end('left', place, `the frame leaves by ${port.ifname}, which is not one of the lab's interfaces`);
}
