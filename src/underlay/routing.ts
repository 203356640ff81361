// A routed underlay (lab file `underlay:`): nodes on several networks, joined
// by routers that know the networks and, like a real underlay, no pod subnet.
// Which router a packet from one network to another goes through first is the
// first router on a shortest path (fewest routers) between the two networks;
// every node and router routes each network it is not on that way. Also where
// the outside host of an egress lab is. Pure.
import type { Model, ModelRouter } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';

/** The network a node is on; undefined on a flat underlay (one L2 segment). */
export function networkOf(model: Pick<Model, 'nodes' | 'underlay'>, node: string): string | undefined {
  return model.underlay ? model.nodes.find((n) => n.name === node)?.underlay.network : undefined;
}

/** The nodes are on more than one network: what crosses between them crosses a router. */
export function isRouted(model: Pick<Model, 'nodes' | 'underlay'>): boolean {
  return new Set(model.nodes.map((n) => networkOf(model, n.name))).size > 1;
}

/** How many routers a packet crosses from each network to `to` (absent: it cannot get there). */
function distancesTo(routers: readonly ModelRouter[], to: string): Map<string, number> {
  const distance = new Map([[to, 0]]);
  for (let frontier = [to]; frontier.length;) {
    const next: string[] = [];
    for (const network of frontier) {
      for (const router of routers.filter((r) => r.networks.includes(network))) {
        for (const other of router.networks) {
          if (distance.has(other)) continue;
          distance.set(other, distance.get(network)! + 1);
          next.push(other);
        }
      }
    }
    frontier = next;
  }
  return distance;
}

/**
 * The router a packet on network `from` goes to first on its way to network
 * `to`, and that router's address on `from`; undefined when `from` is `to` or
 * no router joins them. `except`: a router that is itself on `from` and asks
 * where to send next (it never sends to itself).
 */
export function gatewayTowards(
  routers: readonly ModelRouter[],
  from: string,
  to: string,
  except?: string,
): { router: string; address: string; hops: number } | undefined {
  if (from === to) return undefined;
  const distance = distancesTo(routers, to);
  const hops = distance.get(from);
  if (hops === undefined) return undefined;
  const router = routers.find(
    (r) =>
      r.name !== except &&
      r.networks.includes(from) &&
      r.networks.some((n) => distance.get(n) !== undefined && distance.get(n)! < hops),
  );
  return router ? { router: router.name, address: router.addresses[from]!, hops } : undefined;
}

/** An underlay route: a network reached through a router's address. */
export interface UnderlayRoute {
  dst: string;
  via: string;
  router: string;
}

/** The routes of a host on `networks` (a node: one; a router: its own) to every other network of the underlay. */
export function underlayRoutes(
  model: Pick<Model, 'underlay'>,
  networks: readonly string[],
  self?: string,
): UnderlayRoute[] {
  const underlay = model.underlay;
  if (!underlay) return [];
  return underlay.networks.flatMap((target) => {
    if (networks.includes(target.name)) return [];
    const best = networks
      .map((from) => gatewayTowards(underlay.routers, from, target.name, self))
      .filter((g) => g !== undefined)
      .sort((a, b) => a.hops - b.hops)[0];
    return best ? [{ dst: target.cidr, via: best.address, router: best.router }] : [];
  });
}

/**
 * The underlay address a node sends a packet for node `to` to: `to`'s own
 * address on the same network, else the first router's on the node's network.
 */
export function underlayNextHop(
  model: Pick<Model, 'nodes' | 'underlay'>,
  from: string,
  to: string,
  addressOf: (node: string) => string,
): { address: string; router?: string } {
  const [here, there] = [networkOf(model, from), networkOf(model, to)];
  const gateway = here && there ? gatewayTowards(model.underlay!.routers, here, there) : undefined;
  return gateway ? { address: gateway.address, router: gateway.router } : { address: addressOf(to) };
}

/** The router with this address on one of its networks, if any. */
export function routerWithAddress(model: Pick<Model, 'underlay'>, address: string): ModelRouter | undefined {
  return model.underlay?.routers.find((r) => Object.values(r.addresses).includes(address));
}

/** A router with podRoutes: each node's pod subnet via that node (on one of its networks) or the next router towards it. */
export function routerPodRoutes(
  model: Pick<Model, 'nodes' | 'underlay'>,
  router: ModelRouter,
  addressOf: (node: string) => string,
): { dst: string; via: string }[] {
  if (!router.podRoutes) return [];
  return model.nodes.flatMap((node) => {
    const network = node.underlay.network!;
    if (router.networks.includes(network)) return [{ dst: node.podSubnet, via: addressOf(node.name) }];
    const route = underlayRoutes(model, router.networks, router.name).find(
      (r) => r.dst === model.underlay!.networks.find((n) => n.name === network)!.cidr,
    );
    return route ? [{ dst: node.podSubnet, via: route.via }] : [];
  });
}

/** "router-0: 192.168.60.254 on left, 192.168.61.254 on right, no pod subnet known", as plan and graph say it. */
export function describeRouter(router: ModelRouter): string {
  const addresses = router.networks.map((n) => `${router.addresses[n]} on ${n}`).join(', ');
  return `router ${router.name}: ${addresses}, ${router.podRoutes ? 'with a route to every pod subnet' : 'no pod subnet known'}`;
}

/** The outside host's address: the lab's, or the .1 of the first node's underlay /24. */
export function outsideAddress(model: Pick<Model, 'outside'>, facts: Record<string, NodeFacts>): string {
  if (model.outside?.address) return model.outside.address;
  const first = Object.values(facts)[0];
  if (!first) throw new Error('internal error: no node facts for the outside host');
  return `${first.address.split('.').slice(0, 3).join('.')}.1`;
}
