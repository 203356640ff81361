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
import {
  chainVerdict,
  FILTER_DECIDES,
  ruleMatches,
  ruleOption,
  SOURCE_NAT_DECIDES,
  unjudgedOf,
  type ChainVerdict,
  type SavedRule,
} from '../node/tables.js';
import { SERVICE_CIDR, type Model } from '../model/lab.js';
import type { Change, Created, NodeFacts, Plan } from '../model/plan.js';
import {
  type End,
  type Hop,
  MAX_TRACE_NAMESPACES,
  type Outcome,
  type Packet,
  type Problem,
  type Trace,
} from '../model/trace.js';
import type { Link, Place, Tables } from '../node/tables.js';
import { contains, parseCidr, parseIp } from '../net/ipv4.js';
import { outsideAddress } from '../underlay/routing.js';
import {
  nodeWithAddress,
  outerThroughRouters,
  plainToRouter,
  podAddressStopsAtRouter,
  routerAt,
} from '../underlay/trace.js';
import { acceptChainOf, tunnelHops, wiringOf } from '../wiring/registry.js';
import type { Ingress, TraceContext } from './context.js';
import { bridge, mtuOf, tooBig, veth } from './devices.js';
import { planned, plannedHint } from './hints.js';
import type { Kernel } from './kernel.js';

export type { End, Hop, Outcome, Packet, Problem, Trace } from '../model/trace.js';

export class TraceWalk implements TraceContext {
  private readonly hops: Hop[] = [];
  /** hops whose MACs are already labelled in their text (labelMacs leaves them alone) */
  private readonly labelled = new Set<Hop>();
  private namespacesVisited = 0;
  private deliveredAt: Place | undefined;
  private readonly visited = new Map<string, Place>();
  private caveat: Trace['caveat'];

  constructor(
    readonly model: Model,
    readonly facts: Record<string, NodeFacts>,
    private readonly plan: Plan,
    readonly kernel: Kernel,
  ) {}

  async run(from: Place, packet: Packet): Promise<Trace> {
    const end = await this.ip(from, packet);
    await this.labelMacs();
    return {
      hops: this.hops,
      ...end,
      ...(end.outcome === 'delivered' ? { at: this.deliveredAt! } : {}),
      ...(this.caveat ? { caveat: this.caveat } : {}),
    };
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
      if (this.labelled.has(hop)) continue;
      hop.text = hop.text.replace(/\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/g, (mac) =>
        owners.has(mac) ? `${mac} (${owners.get(mac)})` : mac,
      );
    }
  }

  tables(place: Place): Promise<Tables> {
    this.visited.set(`${place.node}/${place.pod ?? ''}`, place);
    return this.kernel.tables(place);
  }

  label(place: Place): string {
    return place.pod ? `pod ${place.pod}` : place.node;
  }

  hop(place: Place, kind: string, text: string, entry?: string): void {
    this.hops.push({ node: place.node, where: this.label(place), kind, text, ...(entry ? { entry } : {}) });
  }

  end(outcome: Outcome, place: Place, reason: string, hint?: string): { outcome: Outcome; problem: Problem } {
    return { outcome, problem: { node: place.node, where: this.label(place), reason, ...(hint ? { hint } : {}) } };
  }

  hint(place: Place, matches: (declared: Created | Change) => boolean, what: string): string | undefined {
    return plannedHint(this.model, this.plan, place, matches, what);
  }

  planned(place: Place, matches: (declared: Created | Change) => boolean): Created | Change | undefined {
    return planned(this.model, this.plan, place, matches)?.declared;
  }

  private routeHint(place: Place, dst: string): string | undefined {
    const ip = parseIp(dst)!;
    return this.hint(
      place,
      (d) =>
        d.kind === 'route' &&
        (d.dst === 'default' || contains(parseCidr(d.dst, false) ?? { network: 1, prefix: 32 }, ip)),
      `adds the route for ${dst}`,
    );
  }

  upHint(place: Place, ifname: string): string | undefined {
    return this.hint(place, (d) => d.kind === 'up' && d.link === ifname, `brings ${ifname} up`);
  }

  /** The IP layer of a namespace: DNAT (node namespaces), route lookup, forwarding, then out by the route's device. */
  private async ip(place: Place, packet: Packet, ingress?: Ingress): Promise<End> {
    if (++this.namespacesVisited > MAX_TRACE_NAMESPACES)
      return this.end(
        'broken',
        place,
        `the packet passed ${MAX_TRACE_NAMESPACES} namespaces without arriving: a routing loop`,
      );
    // A node's own connection to a cluster IP is routed before nat OUTPUT DNATs it: without a route there,
    // connect() fails before any Service rule sees it (a machine's default route carries it; a simulated node
    // routes the Services range out of its underlay interface: underlay/simulated.ts).
    if (!place.pod && !ingress && !packet.translated && this.model.services.some((s) => s.clusterIp === packet.dst)) {
      const first = await this.kernel.routeGet(place, packet.dst);
      if (!first.ok)
        return this.end(
          'broken',
          place,
          `no route to ${packet.dst} in ${place.node}'s routing table (${first.error}): a node's own connection is routed before nat OUTPUT's DNAT, so it fails before any Service rule sees it`,
          `a machine's default route carries it; a simulated node routes the Services range: \`ip route add ${SERVICE_CIDR} dev ${this.facts[place.node]?.dev ?? 'eth1'}\` on ${place.node}`,
        );
    }
    // nat before routing, on a node: each module's rules (kube-proxy's DNAT of a Service), as the registry lists them.
    if (!place.pod)
      for (const part of wiringOf(this.model)) {
        const rewritten = await part.netfilter?.beforeRouting?.(this, place, packet, ingress);
        if (rewritten && 'outcome' in rewritten) return rewritten;
        if (rewritten) packet = rewritten;
      }
    // Set by DNAT on a bridged frame: it goes back out of the bridge as a frame, not as a routed packet.
    const { bridgedFrom, ...plain } = packet;
    const tables = await this.tables(place);
    const route = await this.kernel.routeGet(place, packet.dst);
    // A cluster IP is on no interface: a packet for it that no DNAT took on a node (a ping, another port) is lost
    // wherever the node routes it (a machine's default route, a simulated node's route of the Services range).
    const onIp =
      place.pod || packet.translated || (route.ok && route.type === 'local')
        ? []
        : this.model.services.filter((s) => s.clusterIp === packet.dst);
    if (onIp.length)
      return this.end(
        'broken',
        place,
        `no DNAT rule of ${place.node} takes this packet: ${packet.dst} is the cluster IP of Service ${onIp.map((s) => s.name).join(' and ')}, which no interface has`,
        `only DNAT of ${onIp.map((s) => `${s.protocol} port ${s.port}`).join(' or ')} makes it reachable (trace to the Service by name)`,
      );
    if (!route.ok) {
      const atRouter = podAddressStopsAtRouter(this, place, packet.dst, route.error);
      if (atRouter) return atRouter;
      return this.end(
        'broken',
        place,
        `no route to ${packet.dst} in ${this.label(place)}'s routing table (${route.error})`,
        this.routeHint(place, packet.dst),
      );
    }
    if (route.type === 'local') {
      // A pod's own firewall (its namespace's INPUT chain) may drop what arrives: the drop-rule fault is one.
      const input = place.pod && this.kernel.podFilter ? await this.kernel.podFilter(place) : undefined;
      const taken =
        input &&
        chainVerdict(
          input.rules,
          'INPUT',
          input.policy,
          (r) => ruleMatches(r, packet, ingress?.ifname ?? 'lo', ''),
          FILTER_DECIDES,
        );
      // (accepted, unless a RETURN that may match sent it back to a DROP policy: unknown)
      if (taken?.verdict === 'accept' && taken.unsure && input!.policy !== 'ACCEPT')
        return uncertainly(this.end('unknown', place, `${this.label(place)}'s own INPUT chain accepts it`), taken);
      if (taken?.verdict === 'drop')
        return this.dropped(
          place,
          taken,
          taken.rule
            ? `${this.label(place)}'s own INPUT chain drops it: ${taken.rule.text}`
            : `${this.label(place)}'s own INPUT chain drops it: its policy is DROP`,
          `\`netlab exec ${place.node} -- ip netns exec ${this.model.pods.find((p) => p.name === place.pod)!.netns} iptables -S INPUT\` shows the pod's own rules (the lab makes none there)`,
        );
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
      const blocked = await this.forwarding(place, tables, ingress, route.dev, packet);
      if (blocked) return blocked;
    }
    // A node that forwards a packet back out of the interface it came in by sends the sender an ICMP redirect; the sender's kernel caches it.
    const redirect = route.redirected
      ? ` (a cached ICMP redirect: the gateway told ${this.label(place)} that ${route.via ?? packet.dst} is on its own link, so it skips the gateway for a few minutes; \`ip route flush cache\` there forgets it)`
      : '';
    const out = tables.links.find((l) => l.ifname === route.dev);
    const outMtu = out ? mtuOf(out, packet) : '';
    this.hop(
      place,
      'route',
      `${packet.dst}${route.via ? ` via ${route.via}` : ''} dev ${route.dev}${outMtu}${route.src ? ` src ${route.src}` : ''}${redirect}`,
      route.entry,
    );
    if (route.redirected && place.pod) await this.behindRedirect(place, packet.dst);
    if (!out) return this.end('broken', place, `the route points to ${route.dev}, which does not exist`);
    if (!out.up)
      return this.end('broken', place, `${out.ifname} is down: nothing leaves by it`, this.upHint(place, out.ifname));
    const tooLarge = tooBig(this, place, out, packet, 'routed');
    if (tooLarge) return tooLarge;
    const nextHop = route.via ?? packet.dst;
    const tunnel = tunnelHops(out.kind);
    if (tunnel?.carries === 'ip') return tunnel.send(this, place, out, { nextHop }, plain);
    if (!place.pod && (out.ifname === this.facts[place.node]?.dev || routerAt(this.model, place)))
      return this.underlay(place, tables, out, nextHop, plain);
    const neighbour = this.neighbour(place, tables, out.ifname, nextHop);
    if ('outcome' in neighbour) return neighbour;
    if (out.kind === 'bridge')
      return bridge(this, place, out, neighbour.mac, plain, bridgedFrom, bridgedFrom !== undefined);
    if (tunnel) return tunnel.send(this, place, out, { nextHop, mac: neighbour.mac }, plain);
    if (out.kind === 'veth') return veth(this, place, out, neighbour.mac, plain);
    return this.end(
      'left',
      place,
      `the packet leaves ${this.label(place)} by ${out.ifname}, which is not one of the lab's interfaces`,
    );
  }

  /** A node forwards only with ip_forward on, and only what its FORWARD chain lets through. */
  private async forwarding(
    place: Place,
    tables: Tables,
    ingress: Ingress,
    outDev: string,
    packet: Packet,
  ): Promise<End | undefined> {
    const forward = tables.sysctls['net.ipv4.ip_forward'];
    if (forward !== '1') {
      return this.end(
        'broken',
        place,
        `net.ipv4.ip_forward is ${forward}: ${place.node} does not forward packets from ${ingress.ifname} to ${outDev}`,
        this.hint(place, (d) => d.kind === 'sysctl' && d.key === 'net.ipv4.ip_forward', 'turns forwarding on') ??
          'sysctl -w net.ipv4.ip_forward=1',
      );
    }
    const { stopped, policy, acceptedBy } = await this.forwardChain(place, packet, ingress.ifname, outDev);
    if (stopped) return stopped;
    const hairpinRoute =
      ingress.ifname === outDev
        ? `; in and out by the same interface, so the node also sends the sender an ICMP redirect ("next time, go directly")`
        : '';
    this.hop(
      place,
      'forward',
      `forwarded from ${ingress.ifname} to ${outDev} (net.ipv4.ip_forward=1, FORWARD policy ${policy}${acceptedBy ? `, accepted by ${acceptedBy}` : ''})${hairpinRoute}`,
    );
    return undefined;
  }

  /**
   * What a node's FORWARD chain does with a packet it forwards (or, with
   * br_netfilter, bridges from port to port), as the kernel judges it: its
   * rules in order, the chains they jump to (the lab's accept chain, its
   * policies', a learner's own), the first that matches deciding, the policy
   * at the end. Undefined: it passes.
   */
  async forwardVerdict(place: Place, packet: Packet, inDev: string, outDev: string): Promise<End | undefined> {
    return (await this.forwardChain(place, packet, inDev, outDev)).stopped;
  }

  /** forwardVerdict, with what the hop that passes says: FORWARD's policy, and the lab's chain or the rule that accepted it. */
  private async forwardChain(
    place: Place,
    packet: Packet,
    inDev: string,
    outDev: string,
  ): Promise<{ stopped?: End; policy: string; acceptedBy?: string }> {
    const { policy, rules } = await this.kernel.filterTable(place.node);
    const matches = (rule: SavedRule) => ruleMatches(rule, packet, inDev, outDev);
    const taken = chainVerdict(rules, 'FORWARD', policy, matches, FILTER_DECIDES);
    const chain = acceptChainOf(this.model);
    if (taken?.verdict !== 'drop') {
      const by = taken?.rule && (taken.rule.chain === chain ? chain : `\`${taken.rule.text}\``);
      const passes = { policy, ...(by ? { acceptedBy: by } : {}) };
      // Accepted, unless a RETURN or goto that may match sent it back to a DROP policy first.
      if (!taken?.unsure || policy === 'ACCEPT') return passes;
      return {
        ...passes,
        stopped: uncertainly(
          this.end('unknown', place, `${place.node}'s FORWARD accepts it${by ? ` (${by})` : ''}`),
          taken,
        ),
      };
    }
    const stopped = (reason: string, hint?: string) => ({ policy, stopped: this.dropped(place, taken, reason, hint) });
    const forward = rules.filter((r) => r.chain === 'FORWARD');
    const jumpAt = chain === undefined ? -1 : forward.findIndex((r) => r.target === chain);
    const jump = forward[jumpAt];
    const labChainHint = () =>
      this.hint(place, (d) => d.kind === 'rule' && d.chain === chain, `accepts the cluster CIDR in ${chain}`) ??
      `\`iptables -S ${chain}\` on ${place.node}`;
    const jumpHint = () =>
      chain &&
      this.hint(place, (d) => d.kind === 'jump' && d.from === 'FORWARD' && d.to === chain, `jumps to ${chain}`);
    if (taken.rule) {
      // A module's own rule (a NetworkPolicy's) is said in the module's words.
      for (const part of wiringOf(this.model)) {
        const said = part.netfilter?.forwardDrop?.(this, { place, packet, inDev, outDev, rule: taken.rule });
        if (said) return { policy, stopped: uncertainly(said, taken) };
      }
      const where = taken.rule.chain === 'FORWARD' ? 'FORWARD chain' : `chain ${taken.rule.chain} (from FORWARD)`;
      // Where FORWARD's walk met it: the rule itself, or the jump to the chain that holds it.
      const viaAt = taken.via ? forward.indexOf(taken.via) : -1;
      if (jump && viaAt === jumpAt)
        return stopped(
          `a rule in ${place.node}'s ${taken.rule.chain === chain ? `lab chain ${chain}` : `chain ${taken.rule.chain} (from the lab's chain ${chain})`} drops it: ${taken.rule.text}`,
          `the lab's chain holds only its ACCEPTs of the cluster CIDR: that rule is not the lab's (\`iptables -S ${chain}\` on ${place.node})`,
        );
      if (jump && viaAt >= 0 && viaAt < jumpAt)
        return stopped(
          `a rule in ${place.node}'s ${where} drops it before the lab's chain ${chain} is consulted: ${taken.rule.text}`,
          `the lab puts its jump first in FORWARD (\`iptables -S FORWARD\` on ${place.node}); that rule is not the lab's`,
        );
      return stopped(
        `a rule in ${place.node}'s ${where} drops it: ${taken.rule.text}`,
        !jump
          ? chain
            ? `FORWARD has no jump to the lab's chain ${chain}, which would accept it first: ${jumpHint() ?? `\`iptables -S FORWARD\` on ${place.node}`}`
            : `that rule is not the lab's (\`iptables -S FORWARD\` on ${place.node})`
          : matches(jump) === false
            ? `FORWARD's jump to the lab's chain ${chain} does not match this packet: ${jump.text}`
            : `the lab's chain ${chain}, consulted before that rule, accepts none of it: ${labChainHint()}`,
      );
    }
    if (jump && chainVerdict(rules, chain!, undefined, matches, FILTER_DECIDES)?.verdict === 'accept') {
      // The lab's chain would accept it: its jump does not match the packet, or a rule before it ends FORWARD's
      // walk (a RETURN, or a goto to a chain that decides nothing).
      const enders = forward.slice(0, jumpAt).filter((r) => r.target === 'RETURN' || r.goto);
      const ender = enders.find((r) => matches(r) === true) ?? enders.find((r) => matches(r) === 'maybe');
      if (matches(jump) !== true)
        return stopped(
          `the FORWARD policy is ${policy} and FORWARD's jump to the lab's chain ${chain} ${matches(jump) === false ? 'does not match' : 'may not match'} this packet: ${jump.text}`,
          jumpHint() ?? `\`iptables -S FORWARD\` on ${place.node}`,
        );
      return stopped(
        `the FORWARD policy is ${policy} and the packet never reaches FORWARD's jump to the lab's chain ${chain}: ${ender ? `${ender.text} ends FORWARD for it first` : 'a rule before it ends FORWARD for it'}`,
        `the lab puts its jump first in FORWARD (\`iptables -S FORWARD\` on ${place.node}); that rule is not the lab's`,
      );
    }
    if (jump)
      return stopped(
        `the FORWARD policy is ${policy} and the lab's chain ${chain}, which FORWARD jumps to, accepts none of it (its rules removed or changed)`,
        labChainHint(),
      );
    return stopped(
      chain
        ? `the FORWARD policy is ${policy} and no rule jumps to ${chain}, which accepts the cluster CIDR`
        : `the FORWARD policy is ${policy} and the lab adds no rule to FORWARD that accepts the cluster CIDR`,
      jumpHint(),
    );
  }

  /** A chain's drop, as `end` says it, or as unknown where trace cannot tell (uncertainly). */
  private dropped(place: Place, taken: ChainVerdict, reason: string, hint?: string): End {
    return uncertainly(this.end('broken', place, reason, hint), taken);
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

  /**
   * A pod's cached redirect skips its gateway, the node: if the node itself has
   * no route to the destination any more, the path works only until the cache
   * expires. Said as the trace's caveat, with the step that adds the route.
   */
  private async behindRedirect(place: Place, dst: string): Promise<void> {
    const node = { node: place.node };
    const route = await this.kernel.routeGet(node, dst);
    if (route.ok || this.caveat) return;
    this.warn(
      `${this.label(place)} reaches ${dst} only through a cached ICMP redirect: its gateway ${place.node} has no route to ${dst} (${route.error}), so the path breaks when the cache expires`,
      this.routeHint(node, dst),
    );
  }

  warn(reason: string, hint?: string): void {
    this.caveat ??= { reason, ...(hint ? { hint } : {}) };
  }

  /** bridgePort: it came up from a bridge, by this port (DNAT of a bridged frame sends it back there). */
  packetArrives(place: Place, packet: Packet, ifname: string, bridgePort?: string): Promise<End> {
    return this.ip(place, packet, { ifname, ...(bridgePort ? { bridgePort } : {}) });
  }

  /** The last hop's MACs are labelled already (a bridge's own MAC): labelMacs leaves it alone. */
  keepMacs(): void {
    this.labelled.add(this.hops.at(-1)!);
  }

  /** A frame arriving on a link: a bridge port hands it to the bridge, any other link to the namespace's IP layer. */
  async frameArrives(place: Place, link: Link, mac: string | undefined, packet: Packet): Promise<End> {
    if (!link.master) {
      // A frame for another MAC than the link's own (its bridge's, once it was a port of one) is another
      // host's: the kernel drops it (unless broadcast or multicast, the first bit of the first octet).
      const group = mac !== undefined && (parseInt(mac.slice(0, 2), 16) & 1) === 1;
      if (mac && link.mac && mac.toLowerCase() !== link.mac.toLowerCase() && !group) {
        const declared = this.planned(place, (d) => d.kind === 'master' && d.link === link.ifname);
        const bridge = declared?.kind === 'master' ? declared.bridge : undefined;
        return this.end(
          'broken',
          place,
          `the frame is for ${mac}, but ${link.ifname} (${link.mac}) is a port of no bridge${bridge ? ` (the lab makes it one of ${bridge})` : ''}: ${place.node} drops it as another host's`,
          this.hint(
            place,
            (d) => d.kind === 'master' && d.link === link.ifname,
            `attaches ${link.ifname} to ${bridge}`,
          ),
        );
      }
      return this.ip(place, packet, { ifname: link.ifname });
    }
    const up = (await this.tables(place)).links.find((l) => l.ifname === link.master)!;
    return bridge(this, place, up, mac, packet, link.ifname);
  }

  /** The outer packet of a tunnel over the underlay, to the node that has the remote address and a device to unwrap it. */
  async tunnel(
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
    const nextNode = nodeWithAddress(this.facts, remote);
    this.hop(
      root,
      'underlay',
      `outer packet (${outer}) to ${remote}${route.via ? ` via ${route.via}` : ''} dev ${route.dev}${nextNode ? `: ${nextNode}'s underlay address` : ''}`,
      route.entry,
    );
    if (!nextNode) return this.end('broken', root, `${remote} is not the underlay address of any node of the lab`);
    const routed = await outerThroughRouters(this, route.via, remote, outer);
    if (routed) return routed;
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

  /**
   * To the lab's outside host: it knows the underlay, never a pod address, so
   * the packet must leave with the node's address (a MASQUERADE in nat
   * POSTROUTING, or a chain it jumps to); conntrack gives the reply back.
   */
  private async toOutside(place: Place, out: Link, packet: Packet): Promise<End> {
    const node = this.facts[place.node]!.address;
    const fromPod = packet.src !== undefined && packet.src !== node;
    if (fromPod) {
      // nat POSTROUTING as the kernel walks it, the first rule that decides: a MASQUERADE (or SNAT) gives the
      // packet the node's address; an ACCEPT, or the chain's end, lets it go with its pod source. Its mark is 0:
      // it went through no Service (kube-proxy's masquerade of marked Service traffic RETURNs it), until a MARK
      // or CONNMARK the walk passes may change it (the walk asks in the kernel's order).
      const nat = await this.kernel.natRules(place.node);
      let marked: Packet = { ...packet, mark: 0 };
      const matches = (r: SavedRule) => {
        const matched = ruleMatches(r, marked, '', out.ifname);
        if (matched !== false && (r.target === 'MARK' || r.target === 'CONNMARK')) marked = packet;
        return matched;
      };
      // (A nat chain's policy is ACCEPT: the walk always decides.)
      const taken = chainVerdict(nat, 'POSTROUTING', 'ACCEPT', matches, SOURCE_NAT_DECIDES)!;
      const leaves = `the packet leaves for the outside host ${packet.dst} with its pod source ${packet.src}, and nothing outside the cluster has a route to a pod address: the reply never comes back`;
      const hint = () =>
        this.hint(
          place,
          (d) => d.kind === 'rule' && d.rule.includes('MASQUERADE'),
          'masquerades pod traffic leaving the cluster',
        );
      if (taken.verdict !== 'snat')
        return uncertainly(
          this.end(
            'broken',
            place,
            `${leaves} (${taken.rule ? `\`${taken.rule.text}\` in ${place.node}'s nat POSTROUTING lets it go before any MASQUERADE` : `no MASQUERADE in ${place.node}'s nat POSTROUTING matches it`})`,
            hint(),
          ),
          taken,
        );
      if (taken.uncertain || taken.unsure) return uncertainly(this.end('broken', place, leaves, hint()), taken, false);
      // SNAT gives the address it names (--to-source ADDRESS[-ADDRESS][:PORTS]), MASQUERADE the interface's.
      const rule = taken.rule!;
      const to = rule.target === 'SNAT' ? ruleOption(rule, '--to-source')?.split(/[-:]/)[0] : node;
      if (to !== node)
        return this.end(
          'unknown',
          place,
          `${place.node}'s nat POSTROUTING gives the packet the source ${to ?? '(none named)'} (\`${rule.text}\`), not ${out.ifname}'s address ${node}: the outside host answers ${to ?? 'it'}, and trace does not follow where that goes`,
        );
      this.hop(
        place,
        'snat',
        `source ${packet.src} becomes ${node}, ${out.ifname}'s address (${rule.target}); conntrack keeps the translation and undoes it on the reply`,
        rule.text,
      );
    }
    this.hop(place, 'outside', `over the underlay to the outside host ${packet.dst}, which answers ${node}`);
    this.deliveredAt = place;
    return { outcome: 'delivered' };
  }

  /** Plain IP over the underlay (the routes lab): the gateway is another node's underlay address. */
  private async underlay(place: Place, tables: Tables, out: Link, nextHop: string, packet: Packet): Promise<End> {
    const neighbour = this.neighbour(place, tables, out.ifname, nextHop);
    if ('outcome' in neighbour) return neighbour;
    const nextNode = nodeWithAddress(this.facts, nextHop);
    if (!nextNode && this.model.outside && packet.dst === outsideAddress(this.model, this.facts))
      return this.toOutside(place, out, packet);
    const toRouter = await plainToRouter(this, place, nextHop, packet);
    if (toRouter) return toRouter;
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
}

/**
 * A chain's drop where trace cannot tell whether it happens: the rule that drops may not match (a match trace
 * does not judge), or a rule before it may have taken the packet (an ACCEPT, a RETURN or goto that may match).
 * The outcome is then unknown, and says which rule and what trace does not judge of it.
 */
function uncertainly(
  end: End,
  taken: ChainVerdict<string>,
  /** false: the end is what happens if the verdict does not (a source NAT that may not be made) */
  verdictBreaks = true,
): End {
  if (!end.problem || (!taken.uncertain && !taken.unsure)) return end;
  const why = (rule: SavedRule) => {
    const unjudged = unjudgedOf(rule);
    return unjudged.length ? `it does not judge ${unjudged.join(', ')}` : 'a rule it does not judge leads there';
  };
  const [ifTaken, ifPassed] = verdictBreaks ? ['if', 'unless'] : ['unless', 'if'];
  const notes = [
    taken.uncertain
      ? `${ifTaken} \`${taken.uncertain.text}\` ${taken.uncertain === taken.rule ? 'matches it' : 'leads it there'}, which trace cannot tell (${why(taken.uncertain)})`
      : '',
    taken.unsure
      ? `${ifPassed} \`${taken.unsure.text}\` ${taken.unsure.target === 'ACCEPT' ? 'accepts it' : 'ends the chain for it'} first, which trace cannot tell (${why(taken.unsure)})`
      : '',
  ].filter(Boolean);
  return { outcome: 'unknown', problem: { ...end.problem, reason: `${end.problem.reason}; ${notes.join('; ')}` } };
}
