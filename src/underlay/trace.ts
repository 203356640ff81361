// The routers of a routed underlay in `netlab trace`: what a router does with a
// packet (it routes node addresses and, unless it learned the pod subnets,
// nothing else), a tunnel's outer packet forwarded router by router, and plain
// IP handed to a router. trace/walk.ts walks the namespaces and calls these
// where the next hop is a router; a router netlab cannot read (the machines'
// own, over SSH) is described from the lab file instead of its tables.
import type { Model, ModelRouter } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import { type End, MAX_TRACE_NAMESPACES, type Packet, type Place } from '../model/trace.js';
import { contains, parseCidr, parseIp } from '../net/ipv4.js';
import type { Kernel, Tables } from '../node/tables.js';
import { routerWithAddress } from './routing.js';

/** What crossing the underlay needs of a trace's walk (trace/walk.ts's TraceWalk is one). */
export interface UnderlayWalk {
  readonly model: Model;
  readonly kernel: Kernel;
  readonly facts: Record<string, NodeFacts>;
  tables(place: Place): Promise<Tables>;
  hop(place: Place, kind: string, text: string, entry?: string): void;
  end(outcome: End['outcome'], place: Place, reason: string, hint?: string): End;
  /** the packet arrives in place by ifname: its IP layer takes it */
  packetArrives(place: Place, packet: Packet, ifname: string): Promise<End>;
}

/** The node whose underlay address this is, if any. */
export function nodeWithAddress(facts: Record<string, NodeFacts>, address: string): string | undefined {
  return Object.entries(facts).find(([, f]) => f.address === address)?.[0];
}

/** The router of a routed underlay that this place is, if it is one. */
export function routerAt(model: Pick<Model, 'underlay'>, place: Place): ModelRouter | undefined {
  return place.pod ? undefined : model.underlay?.routers.find((r) => r.name === place.node);
}

/** A router without a route to a pod address: the reason is the underlay's, and so is the way out. */
export function podAddressStopsAtRouter(
  walk: UnderlayWalk,
  place: Place,
  dst: string,
  routeError: string,
): End | undefined {
  const router = routerAt(walk.model, place);
  if (!router || !contains(parseCidr(walk.model.clusterCidr)!, parseIp(dst)!)) return undefined;
  return walk.end(
    'broken',
    place,
    `no route to ${dst} in router ${router.name}'s routing table (${routeError}): a router of the underlay knows the node networks, not the pod subnets, so a pod address crossing it unencapsulated goes no further`,
    `an overlay wraps pod packets in node addresses, which ${router.name} routes (cross-node: ipip or vxlan); or the network learns the pod subnets (underlay.routers.${router.name}.pod-routes: true)`,
  );
}

/**
 * A tunnel's outer packet through the routers of a routed underlay: each
 * forwards it by its own route to the remote node's network (node addresses
 * only, which a router knows). The inner packet's TTL is untouched: these
 * hops are invisible to traceroute. Returns an end only where it stops.
 */
export async function outerThroughRouters(
  walk: UnderlayWalk,
  via: string | undefined,
  remote: string,
  outer: string,
): Promise<End | undefined> {
  for (let gateway = via, count = 0; gateway && count < MAX_TRACE_NAMESPACES; count++) {
    const router = routerWithAddress(walk.model, gateway);
    if (!router) return undefined;
    const place = { node: router.name };
    if (!walk.kernel.reads(router.name)) {
      walk.hop(
        place,
        'underlay',
        `router ${router.name} (${gateway}) forwards the outer packet (${outer}) to ${remote}`,
      );
      return undefined;
    }
    const route = await walk.kernel.routeGet(place, remote);
    if (!route.ok)
      return walk.end(
        'broken',
        place,
        `router ${router.name} has no route to the tunnel's remote end ${remote} (${route.error})`,
      );
    walk.hop(
      place,
      'underlay',
      `router ${router.name} forwards the outer packet (${outer}) to ${remote}${route.via ? ` via ${route.via}` : ''} dev ${route.dev}; the pod packet inside is not looked at`,
      route.entry,
    );
    gateway = route.via;
  }
  return undefined;
}

/**
 * Plain IP handed to a router of the underlay (the next hop is its address):
 * a router netlab reads takes it into its own IP layer; the machines' own
 * router is described: it forwards a node address and, as far as netlab
 * knows, no pod address. undefined: the next hop is no router.
 */
export async function plainToRouter(
  walk: UnderlayWalk,
  place: Place,
  nextHop: string,
  packet: Packet,
): Promise<End | undefined> {
  const router = routerWithAddress(walk.model, nextHop);
  if (!router) return undefined;
  const next = { node: router.name };
  walk.hop(place, 'underlay', `over the underlay to router ${router.name} (${nextHop}) as plain IP`);
  if (walk.kernel.reads(router.name)) {
    // By its interface on the network the packet comes from: the one with the next hop's address.
    const ifname = (await walk.tables(next)).addresses.find((a) => a.address === nextHop)?.ifname ?? '?';
    return walk.packetArrives(next, packet, ifname);
  }
  const node = nodeWithAddress(walk.facts, packet.dst);
  if (node) {
    walk.hop(next, 'underlay', `router ${router.name} forwards it to ${node} (${packet.dst}), a node address`);
    return walk.packetArrives({ node }, packet, walk.facts[node]!.dev);
  }
  const pod = contains(parseCidr(walk.model.clusterCidr)!, parseIp(packet.dst)!);
  return walk.end(
    'left',
    next,
    `the packet goes on to router ${router.name} (${nextHop}), a router of the machines' own network, which netlab does not read${pod ? `: unless it has a route to ${packet.dst}, it goes no further (a real underlay's routers know no pod subnet)` : ''}`,
  );
}
