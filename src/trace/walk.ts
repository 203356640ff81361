// `netlab trace`: the path of one packet, hop by hop, decided by the live
// tables the kernel itself would use. At each namespace: the route lookup
// (`ip route get`), the neighbour entry for the next hop, then by the kind of
// the outgoing interface: a veth delivers into its peer's namespace; a bridge
// looks the destination MAC up in its FDB (its own MAC: up to the node's IP
// stack); a VXLAN device looks the MAC up in its own FDB for the remote VTEP
// and sends a UDP packet over the underlay; an ipip device sends an IP packet
// to the route's gateway; the underlay carries plain IP to another node. Where
// a Service's address is the destination, the nat rules and conntrack say
// which endpoint DNAT picks. The first entry that is missing (no route,
// forwarding off, a link down, no FDB entry, no ARP reply) ends the walk with
// the reason, and, where the lab made that entry, the step that made it.
import type { Model, ModelService } from '../lab/model.js';
import type { Command, NodeFacts, Plan } from '../plan/types.js';
import { contains, parseCidr, parseIp } from '../net/ipv4.js';
import { quoteArgv } from '../shell/quote.js';
import { serviceChains } from '../plan/steps/services.js';
import { forwardChain } from '../plan/steps/firewall.js';
import type { Kernel, Link, Place, Tables } from './kernel.js';

export interface Packet {
  src?: string;
  dst: string;
  protocol: 'icmp' | 'tcp' | 'udp';
  port?: number;
  /** the source port of trace's own probe (TCP): conntrack's entry of that connection says where DNAT sent it */
  sport?: number;
  /** DNAT already applied (a packet is translated once) */
  translated?: boolean;
  /** set when DNAT happened on a bridged frame (br_netfilter): the bridge port it came in by */
  bridgedFrom?: string;
}

export interface Hop {
  node: string;
  /** "pod a0" or the node's name */
  where: string;
  /** what decided: route, neigh, veth, bridge, vxlan, ipip, underlay, forward, dnat, deliver */
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
}

type End = { outcome: Outcome; problem?: Problem };

interface Ingress {
  /** the interface the packet came in by */
  ifname: string;
  /** when it came up from a bridge: the bridge port the frame came in by */
  bridgePort?: string;
}

const MAX_NAMESPACES = 24;
const ZERO_MAC = '00:00:00:00:00:00';

function isMulticast(address: string): boolean {
  const first = Number(address.split('.')[0]);
  return first >= 224 && first <= 239;
}

/** The plan's commands for a place (a pod's are `ip -n NETNS ...`), with the step that runs them. */
function plannedCommands(
  model: Model,
  plan: Plan,
  place: Place,
): { command: Command; step: { id: number; summary: string } }[] {
  const netns = place.pod ? model.pods.find((p) => p.name === place.pod)?.netns : undefined;
  const steps = plan.nodes.find((n) => n.node === place.node)?.steps ?? [];
  return steps.flatMap((step) =>
    step.apply.flatMap((command) => {
      const inPod = command[0] === 'ip' && command[1] === '-n';
      if (netns ? !(inPod && command[2] === netns) : inPod) return [];
      return [{ command: inPod ? ['ip', ...command.slice(3)] : command, step }];
    }),
  );
}

function describePlanned(
  found: { command: Command; step: { id: number; summary: string } } | undefined,
  what: string,
): string | undefined {
  if (!found) return undefined;
  return `the lab ${what} with \`${quoteArgv(found.command)}\` (step ${found.step.id}: ${found.step.summary})`;
}

/**
 * The ipip device that receives an outer packet from `from` to `to`, as the
 * kernel picks it: a tunnel whose fixed ends match exactly wins over one that
 * leaves an end open ("any"); the fallback device tunl0, which the ipip module
 * creates with both ends open, gets only what no other tunnel takes.
 */
export function receivingTunnel(links: Link[], from: string | undefined, to: string): Link | undefined {
  const score = (link: Link): number => {
    const { local, remote } = link.ipip ?? {};
    if ((local && local !== to) || (remote && remote !== from)) return -1;
    return (remote ? 2 : 0) + (local ? 1 : 0);
  };
  const candidates = links.filter((l) => l.kind === 'ipip' && score(l) >= 0);
  return candidates.sort((a, b) => score(b) - score(a))[0];
}

export class TraceWalk {
  private readonly hops: Hop[] = [];
  private namespacesVisited = 0;
  private deliveredAt: Place | undefined;
  private readonly visited = new Map<string, Place>();

  constructor(
    private readonly model: Model,
    private readonly facts: Record<string, NodeFacts>,
    private readonly plan: Plan,
    private readonly kernel: Kernel,
  ) {}

  async run(from: Place, packet: Packet): Promise<Trace> {
    const end = await this.ip(from, packet);
    await this.labelMacs();
    return { hops: this.hops, ...end, ...(end.outcome === 'delivered' ? { at: this.deliveredAt! } : {}) };
  }

  /** "f2:02:…" reads "f2:02:… (pod a1's veth-a1-c)": the owners of MACs, from the namespaces the walk read. */
  private async labelMacs(): Promise<void> {
    const owners = new Map<string, string>();
    for (const place of this.visited.values()) {
      for (const link of (await this.kernel.tables(place)).links) {
        if (link.mac && !owners.has(link.mac))
          owners.set(
            link.mac,
            link.kind === 'bridge' ? `bridge ${link.ifname} of ${place.node}` : `${this.label(place)}'s ${link.ifname}`,
          );
      }
    }
    for (const hop of this.hops) {
      if (hop.text.includes("'s own MAC")) continue;
      hop.text = hop.text.replace(/\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/g, (mac) =>
        owners.has(mac) ? `${mac} (${owners.get(mac)})` : mac,
      );
    }
  }

  private tables(place: Place): Promise<Tables> {
    this.visited.set(`${place.node}/${place.pod ?? ''}`, place);
    return this.kernel.tables(place);
  }

  private label(place: Place): string {
    return place.pod ? `pod ${place.pod}` : place.node;
  }

  private hop(place: Place, kind: string, text: string, entry?: string): void {
    this.hops.push({ node: place.node, where: this.label(place), kind, text, ...(entry ? { entry } : {}) });
  }

  private end(outcome: Outcome, place: Place, reason: string, hint?: string): { outcome: Outcome; problem: Problem } {
    return { outcome, problem: { node: place.node, where: this.label(place), reason, ...(hint ? { hint } : {}) } };
  }

  private planned(place: Place, matches: (command: Command) => boolean, what: string): string | undefined {
    return describePlanned(
      plannedCommands(this.model, this.plan, place).find(({ command }) => matches(command)),
      what,
    );
  }

  private routeHint(place: Place, dst: string): string | undefined {
    const ip = parseIp(dst)!;
    return this.planned(
      place,
      (c) =>
        c[0] === 'ip' &&
        c[1] === 'route' &&
        c[2] === 'add' &&
        (c[3] === 'default' || contains(parseCidr(c[3]!, false) ?? { network: 1, prefix: 32 }, ip)),
      `adds the route for ${dst}`,
    );
  }

  private upHint(place: Place, ifname: string): string | undefined {
    return this.planned(
      place,
      (c) => c[0] === 'ip' && c[1] === 'link' && c[2] === 'set' && c[3] === ifname && c.includes('up'),
      `brings ${ifname} up`,
    );
  }

  private nodeWithAddress(address: string): string | undefined {
    return Object.entries(this.facts).find(([, f]) => f.address === address)?.[0];
  }

  /** The IP layer of a namespace: DNAT (node namespaces), route lookup, forwarding, then out by the route's device. */
  private async ip(place: Place, packet: Packet, ingress?: Ingress): Promise<End> {
    if (++this.namespacesVisited > MAX_NAMESPACES)
      return this.end(
        'broken',
        place,
        `the packet passed ${MAX_NAMESPACES} namespaces without arriving: a routing loop`,
      );
    if (!place.pod && !packet.translated) {
      const service = this.serviceFor(place.node, packet);
      if (service) {
        const translated = await this.dnat(place, packet, service, ingress);
        if ('outcome' in translated) return translated;
        packet = translated;
      }
    }
    // Set by DNAT on a bridged frame: it goes back out of the bridge as a frame, not as a routed packet.
    const { bridgedFrom, ...plain } = packet;
    const tables = await this.tables(place);
    const route = await this.kernel.routeGet(place, packet.dst);
    if (!route.ok) {
      const service = this.model.services.find((s) => s.clusterIp === packet.dst);
      const hint =
        service && packet.port !== service.port
          ? `${packet.dst} is Service ${service.name}'s cluster IP: only DNAT of ${service.protocol} port ${service.port} makes it reachable (trace --port ${service.port})`
          : this.routeHint(place, packet.dst);
      return this.end(
        'broken',
        place,
        `no route to ${packet.dst} in ${this.label(place)}'s routing table (${route.error})`,
        hint,
      );
    }
    if (route.type === 'local') {
      this.hop(
        place,
        'deliver',
        `${packet.dst} is ${this.label(place)}'s own address: delivered${packet.port ? ` to port ${packet.port}` : ''}`,
        `local ${packet.dst} dev ${route.dev}`,
      );
      this.deliveredAt = place;
      return { outcome: 'delivered' };
    }
    if (ingress && !place.pod) {
      const blocked = await this.forwarding(place, tables, ingress, route.dev);
      if (blocked) return blocked;
    }
    // A node that forwards a packet back out of the interface it came in by sends the sender an ICMP redirect; the sender's kernel caches it.
    const redirect = route.redirected
      ? ` (a cached ICMP redirect: the gateway told ${this.label(place)} that ${route.via ?? packet.dst} is on its own link, so it skips the gateway for a few minutes; \`ip route flush cache\` there forgets it)`
      : '';
    this.hop(
      place,
      'route',
      `${packet.dst}${route.via ? ` via ${route.via}` : ''} dev ${route.dev}${route.src ? ` src ${route.src}` : ''}${redirect}`,
      route.entry,
    );
    const out = tables.links.find((l) => l.ifname === route.dev);
    if (!out) return this.end('broken', place, `the route points to ${route.dev}, which does not exist`);
    if (!out.up)
      return this.end('broken', place, `${out.ifname} is down: nothing leaves by it`, this.upHint(place, out.ifname));
    const nextHop = route.via ?? packet.dst;
    if (out.kind === 'ipip') return this.ipip(place, out, nextHop, plain);
    if (!place.pod && out.ifname === this.facts[place.node]?.dev)
      return this.underlay(place, tables, out, nextHop, plain);
    const neighbour = this.neighbour(place, tables, out.ifname, nextHop);
    if ('outcome' in neighbour) return neighbour;
    if (out.kind === 'bridge')
      return this.bridge(place, out, neighbour.mac, plain, bridgedFrom, bridgedFrom !== undefined);
    if (out.kind === 'vxlan') return this.vxlan(place, out, neighbour.mac, plain);
    if (out.kind === 'veth') return this.veth(place, out, neighbour.mac, plain);
    return this.end(
      'left',
      place,
      `the packet leaves ${this.label(place)} by ${out.ifname}, which is not one of the lab's interfaces`,
    );
  }

  /** A node forwards only with ip_forward on, and only what its FORWARD chain lets through. */
  private async forwarding(place: Place, tables: Tables, ingress: Ingress, outDev: string): Promise<End | undefined> {
    const forward = tables.sysctls['net.ipv4.ip_forward'];
    if (forward !== '1') {
      return this.end(
        'broken',
        place,
        `net.ipv4.ip_forward is ${forward}: ${place.node} does not forward packets from ${ingress.ifname} to ${outDev}`,
        this.planned(place, (c) => c[0] === 'netlab_sysctl' && c[1] === 'net.ipv4.ip_forward', 'turns forwarding on') ??
          'sysctl -w net.ipv4.ip_forward=1',
      );
    }
    const rules = await this.kernel.forwardRules(place.node);
    const policy = /^-P FORWARD (\S+)/m.exec(rules.join('\n'))?.[1] ?? 'ACCEPT';
    const chain = forwardChain(this.model.name);
    const accepted = rules.some((r) => r.startsWith('-A FORWARD') && r.endsWith(`-j ${chain}`));
    if (policy !== 'ACCEPT' && !accepted) {
      return this.end(
        'broken',
        place,
        `the FORWARD policy is ${policy} and no rule jumps to ${chain}, which accepts the cluster CIDR`,
        this.planned(
          place,
          (c) => c[0] === 'iptables' && c.includes('FORWARD') && c.includes('-I'),
          `jumps to ${chain}`,
        ),
      );
    }
    const hairpinRoute =
      ingress.ifname === outDev
        ? `; in and out by the same interface, so the node also sends the sender an ICMP redirect ("next time, go directly")`
        : '';
    this.hop(
      place,
      'forward',
      `forwarded from ${ingress.ifname} to ${outDev} (net.ipv4.ip_forward=1, FORWARD policy ${policy}${accepted ? `, accepted by ${chain}` : ''})${hairpinRoute}`,
    );
    return undefined;
  }

  private neighbour(
    place: Place,
    tables: Tables,
    dev: string,
    address: string,
  ): { mac: string } | { outcome: Outcome; problem: Problem } {
    const entry = tables.neighbours.find((n) => n.dst === address && n.dev === dev);
    if (!entry?.mac) {
      if (entry?.state.some((s) => s === 'FAILED' || s === 'INCOMPLETE')) {
        return this.end(
          'broken',
          place,
          `no ARP reply from ${address} on ${dev} (neighbour entry ${entry.state.join(',')}): nothing answered for that address`,
        );
      }
      return this.end(
        'unknown',
        place,
        `no neighbour entry for ${address} on ${dev} yet: the kernel first asks by ARP (a broadcast) who has ${address}, and only the answer decides where the packet goes`,
        'send traffic first (trace does, unless --no-send) and trace again',
      );
    }
    this.hop(
      place,
      'neigh',
      `${address} is at ${entry.mac}`,
      `${address} dev ${dev} lladdr ${entry.mac} ${entry.state.join(',')}`,
    );
    return { mac: entry.mac };
  }

  /** The other end of a veth pair: in the node's namespace or one of its pods', found by ifindex both ways. */
  private async veth(place: Place, link: Link, mac: string | undefined, packet: Packet): Promise<End> {
    const pods = this.model.pods.filter((p) => p.node === place.node && p.name !== place.pod);
    const guess = pods.find((p) => p.hostIf === link.ifname || (!p.hostIf && p.podIf && !place.pod));
    const candidates: Place[] = [
      ...(place.pod ? [{ node: place.node }] : []),
      ...(guess ? [{ node: place.node, pod: guess.name }] : []),
      ...pods.filter((p) => p !== guess).map((p) => ({ node: place.node, pod: p.name })),
    ];
    for (const candidate of candidates) {
      const peer = (await this.tables(candidate)).links.find(
        (l) => l.ifindex === link.peerIndex && l.peerIndex === link.ifindex && l.kind === 'veth',
      );
      if (!peer) continue;
      this.hop(
        place,
        'veth',
        `out by ${link.ifname}, the veth pair's other end is ${peer.ifname} in ${this.label(candidate)}`,
        `${link.ifname}@if${link.peerIndex}`,
      );
      if (!peer.up)
        return this.end(
          'broken',
          candidate,
          `${peer.ifname} is down: the frame is dropped where it arrives`,
          this.upHint(candidate, peer.ifname),
        );
      return this.l2(candidate, peer, mac, packet);
    }
    return this.end(
      'broken',
      place,
      `the other end of ${link.ifname} (ifindex ${link.peerIndex}) is in no namespace of ${place.node}`,
    );
  }

  /** A frame arriving on a link: a bridge port hands it to the bridge, any other link to the namespace's IP layer. */
  private async l2(place: Place, link: Link, mac: string | undefined, packet: Packet): Promise<End> {
    if (!link.master) return this.ip(place, packet, { ifname: link.ifname });
    const bridge = (await this.tables(place)).links.find((l) => l.ifname === link.master)!;
    return this.bridge(place, bridge, mac, packet, link.ifname);
  }

  private async bridge(
    place: Place,
    bridge: Link,
    mac: string | undefined,
    packet: Packet,
    inPort?: string,
    bridgedBack = false,
  ): Promise<End> {
    const tables = await this.tables(place);
    if (!bridge.up)
      return this.end('broken', place, `bridge ${bridge.ifname} is down`, this.upHint(place, bridge.ifname));
    const from = inPort ? `from port ${inPort}, ` : '';
    if (!mac) {
      return this.end(
        'unknown',
        place,
        `${bridge.ifname} does not know the destination MAC yet: the ARP request is flooded to every port`,
        'send traffic first (trace does, unless --no-send) and trace again',
      );
    }
    const own = mac === bridge.mac || tables.links.some((l) => l.master === bridge.ifname && l.mac === mac);
    if (own && inPort && !bridgedBack) {
      this.hop(
        place,
        'bridge',
        `${from}${mac} is ${bridge.ifname}'s own MAC: up to ${place.node}'s IP stack`,
        `${mac} dev ${inPort} master ${bridge.ifname} permanent`,
      );
      return this.ip(place, packet, { ifname: bridge.ifname, bridgePort: inPort });
    }
    const entry = tables.fdb.find((f) => f.mac === mac && f.master === bridge.ifname && !f.self);
    if (!entry) {
      return this.end(
        'unknown',
        place,
        `${mac} is not in ${bridge.ifname}'s FDB (not learned, or aged out): the bridge floods the frame to every port`,
        'send traffic first (trace does, unless --no-send) and trace again',
      );
    }
    const port = tables.links.find((l) => l.ifname === entry.ifname)!;
    if (entry.ifname === inPort && !port.hairpin) {
      return this.end(
        'broken',
        place,
        `${bridge.ifname} would send the frame back out of ${inPort}, the port it came in by; a bridge does that only in hairpin mode, which is off on ${inPort}`,
        this.planned(
          place,
          (c) => c[0] === 'bridge' && c.includes(inPort) && c.includes('hairpin'),
          `turns hairpin mode on`,
        ) ?? `bridge link set dev ${inPort} hairpin on`,
      );
    }
    this.hop(
      place,
      'bridge',
      `${from}${bridge.ifname}'s FDB sends ${mac} to port ${entry.ifname}${entry.ifname === inPort ? ' (hairpin)' : ''}`,
      `${mac} dev ${entry.ifname} master ${bridge.ifname}`,
    );
    if (!port.up) return this.end('broken', place, `${port.ifname} is down`, this.upHint(place, port.ifname));
    if (port.kind === 'vxlan') return this.vxlan(place, port, mac, packet);
    if (port.kind === 'veth') return this.veth(place, port, mac, packet);
    return this.end('left', place, `the frame leaves by ${port.ifname}, which is not one of the lab's interfaces`);
  }

  /** VXLAN: the device's own FDB maps the inner destination MAC to a remote VTEP; the frame travels in UDP to it. */
  private async vxlan(place: Place, device: Link, mac: string | undefined, packet: Packet): Promise<End> {
    const tables = await this.tables(place);
    const vx = device.vxlan!;
    const entries = tables.fdb.filter((f) => f.ifname === device.ifname && f.dst);
    const exact = mac ? entries.find((f) => f.mac === mac) : undefined;
    const fallback = entries.find((f) => f.mac === ZERO_MAC);
    if (!exact && fallback && isMulticast(fallback.dst!)) {
      return this.end(
        'unknown',
        place,
        `${mac ?? 'the destination MAC'} is not in ${device.ifname}'s FDB yet: the frame goes to multicast group ${fallback.dst}, which every node's ${device.ifname} joined; the answer teaches the FDB where the MAC is`,
        'send traffic first (trace does, unless --no-send) and trace again',
      );
    }
    const chosen = exact ?? fallback;
    if (!chosen) {
      return this.end(
        'broken',
        place,
        `${device.ifname} has no FDB entry for ${mac ?? 'the destination MAC'}: the frame has no VTEP to go to and is dropped`,
        this.planned(
          place,
          (c) => c[0] === 'bridge' && c[1] === 'fdb' && c.includes(device.ifname) && (!mac || c.includes(mac)),
          'adds the FDB entry',
        ),
      );
    }
    const remote = chosen.dst!;
    const local = vx.local ?? this.facts[place.node]?.address;
    this.hop(
      place,
      'vxlan',
      `${device.ifname} (VNI ${vx.id}) wraps the frame: outer ${local} → ${remote}, UDP port ${vx.port}; inner ${packet.src ?? '?'} → ${packet.dst}`,
      `${chosen.mac} dev ${device.ifname} dst ${remote} self`,
    );
    return this.tunnel(
      place,
      remote,
      `UDP ${vx.port}`,
      (links) =>
        links.find((link) => link.kind === 'vxlan' && link.vxlan!.id === vx.id && link.vxlan!.port === vx.port),
      `VXLAN device with VNI ${vx.id} on UDP port ${vx.port}`,
      (next, link): Promise<End> => {
        this.hop(next, 'vxlan', `${link.ifname} (VNI ${vx.id}) unwraps the frame for ${mac}`);
        return this.l2(next, link, mac, packet);
      },
    );
  }

  /** IP-in-IP: the route's gateway is the outer destination (one tunnel device, no fixed remote). */
  private async ipip(place: Place, device: Link, nextHop: string, packet: Packet): Promise<End> {
    const remote = device.ipip?.remote ?? nextHop;
    const local = device.ipip?.local ?? this.facts[place.node]?.address;
    this.hop(
      place,
      'ipip',
      `${device.ifname} wraps the packet in another IP header (protocol 4): outer ${local} → ${remote}; inner ${packet.src ?? '?'} → ${packet.dst}`,
    );
    return this.tunnel(
      place,
      remote,
      'IP protocol 4',
      (links) => receivingTunnel(links, local, remote),
      'ipip tunnel device',
      (next, link): Promise<End> => {
        this.hop(next, 'ipip', `${link.ifname} unwraps the packet: inner ${packet.src ?? '?'} → ${packet.dst}`);
        return this.ip(next, packet, { ifname: link.ifname });
      },
    );
  }

  /** The outer packet of a tunnel over the underlay, to the node that has the remote address and a device to unwrap it. */
  private async tunnel(
    place: Place,
    remote: string,
    outer: string,
    receiver: (links: Link[]) => Link | undefined,
    what: string,
    arrive: (next: Place, link: Link) => Promise<End>,
  ): Promise<End> {
    const root = { node: place.node };
    const route = await this.kernel.routeGet(root, remote);
    if (!route.ok)
      return this.end('broken', root, `no route to the tunnel's remote end ${remote} on the underlay (${route.error})`);
    const nextNode = this.nodeWithAddress(remote);
    this.hop(
      root,
      'underlay',
      `outer packet (${outer}) to ${remote}${route.via ? ` via ${route.via}` : ''} dev ${route.dev}${nextNode ? `: ${nextNode}'s underlay address` : ''}`,
      route.entry,
    );
    if (!nextNode) return this.end('broken', root, `${remote} is not the underlay address of any node of the lab`);
    const next = { node: nextNode };
    const link = receiver((await this.tables(next)).links);
    if (!link) return this.end('broken', next, `${nextNode} has no ${what}: the outer packet is dropped`);
    if (!link.up)
      return this.end(
        'broken',
        next,
        `${link.ifname} on ${nextNode} is down: the outer packet is dropped`,
        this.upHint(next, link.ifname),
      );
    return arrive(next, link);
  }

  /** Plain IP over the underlay (the routes lab): the gateway is another node's underlay address. */
  private async underlay(place: Place, tables: Tables, out: Link, nextHop: string, packet: Packet): Promise<End> {
    const neighbour = this.neighbour(place, tables, out.ifname, nextHop);
    if ('outcome' in neighbour) return neighbour;
    const nextNode = this.nodeWithAddress(nextHop);
    if (!nextNode)
      return this.end(
        'left',
        place,
        `${nextHop} is not a node of the lab: the packet leaves ${place.node} by ${out.ifname}`,
      );
    const podAddress = packet.dst !== nextHop;
    this.hop(
      place,
      'underlay',
      `over the underlay to ${nextNode} (${nextHop})${podAddress ? ` as plain IP, unencapsulated: the underlay carries the pod address ${packet.dst}` : ''}`,
    );
    return this.ip({ node: nextNode }, packet, { ifname: this.facts[nextNode]!.dev });
  }

  /** A Service this packet is addressed to, seen from a node: its cluster IP and port, or a NodePort on this node's own address. */
  private serviceFor(node: string, packet: Packet): ModelService | undefined {
    if (packet.protocol === 'icmp') return undefined;
    return this.model.services.find(
      (s) =>
        s.protocol === packet.protocol &&
        ((s.clusterIp === packet.dst && s.port === packet.port) ||
          (s.nodePort !== undefined && s.nodePort === packet.port && this.facts[node]?.address === packet.dst)),
    );
  }

  /** kube-proxy's DNAT, read from the node's nat table; conntrack says which endpoint this connection got. */
  private async dnat(
    place: Place,
    packet: Packet,
    service: ModelService,
    ingress?: Ingress,
  ): Promise<Packet | { outcome: Outcome; problem: Problem }> {
    const chains = serviceChains(this.model.name);
    const rules = await this.kernel.natRules(place.node);
    const hook = ingress ? 'PREROUTING' : 'OUTPUT';
    const restoreHint = this.planned(place, (c) => c[0] === 'netlab_restore', 'programs the Services');
    if (!rules.some((r) => r.startsWith(`-A ${hook} `) && r.endsWith(`-j ${chains.services}`))) {
      return this.end(
        'broken',
        place,
        `${hook} in ${place.node}'s nat table does not jump to ${chains.services}: no Service rule is consulted`,
        restoreHint,
      );
    }
    const isNodePort = packet.dst !== service.clusterIp;
    const dispatch = isNodePort
      ? rules.find(
          (r) =>
            r.startsWith(`-A ${chains.nodePorts} `) &&
            r.includes(`--dport ${packet.port} `) &&
            r.endsWith(`-j ${chains.service(service)}`),
        )
      : rules.find(
          (r) =>
            r.startsWith(`-A ${chains.services} `) &&
            r.includes(`-d ${service.clusterIp}/32`) &&
            r.includes(`--dport ${packet.port} `) &&
            r.endsWith(`-j ${chains.service(service)}`),
        );
    if (!dispatch)
      return this.end(
        'broken',
        place,
        `no rule in ${isNodePort ? chains.nodePorts : chains.services} sends ${packet.dst}:${packet.port} to ${chains.service(service)}`,
        restoreHint,
      );
    const endpoints = rules
      .filter((r) => r.startsWith(`-A ${chains.service(service)} `))
      .map((r) => {
        const chain = /-j (\S+)$/.exec(r)![1]!;
        const probability = /--probability (\S+)/.exec(r)?.[1];
        const dnatRule = rules.find((d) => d.startsWith(`-A ${chain} `) && d.includes('-j DNAT'));
        return {
          chain,
          probability: probability ? Number(probability) : 1,
          target: /--to-destination (\S+)/.exec(dnatRule ?? '')?.[1],
          dnatRule,
        };
      });
    if (endpoints.length === 0 || endpoints.some((e) => !e.target))
      return this.end('broken', place, `${chains.service(service)} has no endpoint to DNAT to`, restoreHint);
    // Only the entry of trace's own probe says where this packet goes: an older
    // connection from the same source (a verify's) may have got another endpoint.
    const own =
      packet.src && packet.sport !== undefined
        ? (await this.kernel.connections(place.node, service.protocol, packet.dst, packet.port!)).find(
            (c) => c.src === packet.src && c.sport === packet.sport,
          )
        : undefined;
    const seen = own && `${own.replySrc}:${own.replyPort}`;
    const chosen = endpoints.find((e) => e.target === seen) ?? endpoints[0]!;
    const cascade = endpoints.map((e) => (e.probability >= 1 ? '1' : `1/${Math.round(1 / e.probability)}`)).join(', ');
    const how = own
      ? `conntrack's entry of the probe's own connection, source port ${packet.sport}, went there`
      : packet.sport !== undefined
        ? `conntrack has no entry of the probe's connection (source port ${packet.sport}): the kernel picks at random; following the first`
        : 'no probe was sent: the kernel picks at random; following the first';
    this.hop(
      place,
      'dnat',
      `${hook} → ${chains.services} → ${isNodePort ? `${chains.nodePorts} → ` : ''}${chains.service(service)} picks one of ${endpoints.length} endpoint(s) (probabilities ${cascade}): ${chosen.chain} rewrites ${packet.dst}:${packet.port} to ${chosen.target} (${how})`,
      chosen.dnatRule,
    );
    const [address, port] = chosen.target!.split(':');
    const translated: Packet = { ...packet, dst: address!, port: Number(port), translated: true };
    const bridgePort = ingress?.bridgePort;
    if (bridgePort) {
      // The client came from this node's bridge. With br_netfilter the frame was
      // DNATed in the bridge's own hook and, if the endpoint is on the same
      // bridge, is bridged back (maybe out of the port it came in by: hairpin).
      // Without br_netfilter the reply of an endpoint on the same bridge is
      // bridged straight to the client, never un-DNATed.
      const brNetfilter = (await this.tables(place)).sysctls['net.bridge.bridge-nf-call-iptables'];
      const backend = this.model.pods.find((p) => p.address?.split('/')[0] === address);
      const client = this.model.pods.find((p) => p.address?.split('/')[0] === packet.src);
      const sameBridge =
        backend &&
        client &&
        backend.node === place.node &&
        client.node === place.node &&
        backend.hostIf &&
        client.hostIf;
      if (brNetfilter !== '1' && sameBridge && backend !== client) {
        return this.end(
          'broken',
          place,
          `the reply from ${address} to ${packet.src} stays on the bridge: with net.bridge.bridge-nf-call-iptables=${brNetfilter} bridged frames skip iptables, so conntrack never rewrites its source back to ${service.clusterIp} and ${client.name} drops it`,
          this.planned(
            place,
            (c) => c[0] === 'netlab_sysctl' && c[1] === 'net.bridge.bridge-nf-call-iptables',
            'turns br_netfilter on',
          ),
        );
      }
      if (brNetfilter === '1') translated.bridgedFrom = bridgePort;
    }
    return translated;
  }
}
