// What `netlab trace` follows and reports: a packet, the hops it takes, how the
// walk ended. Shared by the walk (trace/) and the wiring kinds' own hops (wiring/).

/** A network namespace: a node's own (pod undefined) or a pod's on that node. */
export interface Place {
  node: string;
  pod?: string;
}

export interface Packet {
  src?: string;
  dst: string;
  protocol: 'icmp' | 'tcp' | 'udp';
  port?: number;
  /** the source port of trace's own probe (TCP): conntrack's entry of that connection says where DNAT sent it */
  sport?: number;
  /** the IP packet's size in bytes (`trace --size`, a bulk check's full-size segment): checked against each link's MTU */
  size?: number;
  /** DNAT already applied (a packet is translated once) */
  translated?: boolean;
  /** the reply of the connection the walk just followed: conntrack has it ESTABLISHED */
  reply?: true;
  /** its netfilter mark where trace knows it (0: a packet to the outside host, which went through no Service) */
  mark?: number;
  /** set when DNAT happened on a bridged frame (br_netfilter): the bridge port it came in by */
  bridgedFrom?: string;
}

export interface Hop {
  node: string;
  /** "pod a0" or the node's name */
  where: string;
  /** what decided: route, neigh, veth, bridge, vxlan, ipip, geneve, underlay, forward, dnat, deliver */
  kind: string;
  text: string;
  /** the table entry that made the decision, as the kernel's tools print it */
  entry?: string;
}

export type Outcome = 'delivered' | 'broken' | 'unknown' | 'left';

export interface Problem {
  node: string;
  where: string;
  reason: string;
  /** what the lab made there, and how to put it back */
  hint?: string;
}

export interface Trace {
  hops: Hop[];
  outcome: Outcome;
  problem?: Problem;
  /** delivered: the namespace that has the destination address */
  at?: Place;
  /** the reply's path back (pings and connections need both ways) */
  reply?: Trace;
  /** delivered now, but only through what the kernel still remembers (a cached ICMP redirect) whose route is gone */
  caveat?: { reason: string; hint?: string };
}

/** How a part of the walk ended (the walk goes on only through calls). */
export type End = { outcome: Outcome; problem?: Problem };

/** A walk that passes more namespaces than this without arriving is in a routing loop. */
export const MAX_TRACE_NAMESPACES = 24;
