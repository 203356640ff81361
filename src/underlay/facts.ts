// A real node's underlay, chosen from what its interfaces are: the lab's
// choice where it names one; otherwise the interface every node has whose
// addresses differ between nodes and share one subnet. On a Vagrant VM that is
// the private network (eth1, 192.168.56.x), not the NAT interface (eth0,
// 10.0.2.15 on every VM alike). On a routed underlay, each node's network is
// the lab's, and its routes through the lab's routers must be there. Pure:
// exec/facts.ts asks the nodes.
import { SERVICE_CIDR, type Model } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import { RunError } from '../errors.js';
import { contains, formatCidr, ipOf, parseCidr, parseIp } from '../net/ipv4.js';
import type { Answers } from '../node/query.js';
import { underlayRoutes } from './routing.js';

export interface NodeInterfaces {
  node: string;
  /** dev → address/prefix (first global IPv4 address) */
  addresses: Map<string, string>;
  defaultDev?: string;
  links: string[];
  /** dev → MTU */
  mtus: Map<string, number>;
  /** its routes that go through a gateway: destination → gateway */
  gateways: { dst: string; via: string }[];
}

/** A node's interfaces as node/query.ts answers: its global IPv4 addresses, the default route's device, its links. */
export function interfacesOf(node: string, a: Partial<Answers>): NodeInterfaces {
  const links = a.links ?? [];
  const result: NodeInterfaces = {
    node,
    addresses: new Map(),
    links: links.map((l) => l.ifname),
    mtus: new Map(links.flatMap((l) => (l.mtu ? [[l.ifname, l.mtu] as const] : []))),
    gateways: (a.routes ?? []).flatMap((r) => (r.gateway ? [{ dst: r.dst, via: r.gateway }] : [])),
  };
  for (const x of a.addresses ?? []) {
    if (x.scope === 'global' && !result.addresses.has(x.ifname))
      result.addresses.set(x.ifname, `${x.address}/${x.prefix}`);
  }
  const defaultDev = (a.routes ?? []).find((r) => r.dst === 'default' && r.dev)?.dev;
  if (defaultDev) result.defaultDev = defaultDev;
  return result;
}

/** The lab's range that holds a node's address (the lab file's addresses are checked in lab/resolve.ts; these come from the machine or an inventory). */
function rangeHolding(model: Model, address: string): string | undefined {
  const ip = parseIp(address);
  if (ip === undefined) return undefined;
  if (contains(parseCidr(model.clusterCidr)!, ip)) return `the cluster CIDR ${model.clusterCidr}`;
  if (contains(parseCidr(SERVICE_CIDR)!, ip)) return `the Services range ${SERVICE_CIDR}`;
  return undefined;
}

/**
 * Picks each node's underlay: the lab's choice where it names one; otherwise an
 * interface that every node has, whose addresses differ between nodes and share
 * one subnet, preferring one that is not the default route (the NAT interface).
 */
export function chooseUnderlay(model: Model, interfaces: NodeInterfaces[]): Record<string, NodeFacts> {
  const problems: string[] = [];
  const byNode = new Map(interfaces.map((i) => [i.node, i]));
  const common = [...(interfaces[0]?.addresses.keys() ?? [])].filter((dev) =>
    interfaces.every((i) => i.addresses.has(dev)),
  );
  const subnetOf = (cidr: string) => {
    const parsed = parseCidr(cidr, false);
    return parsed ? formatCidr(parsed) : cidr;
  };
  const usable = common.filter((dev) => {
    const addrs = interfaces.map((i) => i.addresses.get(dev)!);
    return new Set(addrs.map(ipOf)).size === addrs.length && new Set(addrs.map(subnetOf)).size === 1;
  });
  const preferred = [
    ...usable.filter((dev) => !interfaces.some((i) => i.defaultDev === dev)),
    ...usable.filter((dev) => interfaces.some((i) => i.defaultDev === dev)),
  ];
  const facts: Record<string, NodeFacts> = {};
  for (const node of model.nodes) {
    const found = byNode.get(node.name)!;
    // On a routed underlay the nodes' subnets differ: each node's is the network the lab puts it on.
    const network = model.underlay?.networks.find((n) => n.name === node.underlay.network);
    const inside = (address: string) =>
      network !== undefined && contains(parseCidr(network.cidr)!, parseIp(ipOf(address)) ?? 0);
    const inNetwork = network && [...found.addresses].find(([, a]) => inside(a))?.[0];
    if (network && !node.underlay.dev && !inNetwork) {
      problems.push(
        `${node.name} has no address in network ${network.name} (${network.cidr}), where the lab puts it (interfaces with addresses: ${[...found.addresses].map(([d, a]) => `${d} ${a}`).join(', ') || 'none'}); the machines' own network setup must put it there (see the README's routed underlay)`,
      );
      continue;
    }
    const dev = node.underlay.dev ?? (network ? inNetwork : preferred[0]);
    if (node.underlay.dev && !found.links.includes(node.underlay.dev)) {
      problems.push(
        `${node.name} has no interface ${node.underlay.dev} (nodes.${node.name}.underlay.dev); its interfaces: ${found.links.join(', ')}`,
      );
      continue;
    }
    if (!dev) {
      problems.push(
        `cannot tell which interface of ${node.name} reaches the other nodes (interfaces with addresses: ${[...found.addresses].map(([d, a]) => `${d} ${a}`).join(', ') || 'none'}); set nodes.${node.name}.underlay.dev in the lab or the inventory`,
      );
      continue;
    }
    const address = node.underlay.address ?? ipOf(found.addresses.get(dev));
    if (!address) {
      problems.push(`${node.name}'s interface ${dev} has no IPv4 address; set nodes.${node.name}.underlay.address`);
      continue;
    }
    const taken = rangeHolding(model, address);
    if (taken) {
      problems.push(
        `${node.name}'s underlay address ${address} is inside ${taken}: the lab's rules would take the node's own traffic for a pod's or a Service's; allowed: a lab whose cluster-cidr does not hold the nodes' addresses`,
      );
      continue;
    }
    if (network && !inside(address)) {
      problems.push(
        `${node.name}'s underlay address ${address} is not in network ${network.name} (${network.cidr}), where the lab puts it`,
      );
      continue;
    }
    // The machines' own routers: the lab says where they are (underlay/routing.ts), and each node must route through them.
    const missing = network
      ? underlayRoutes(model, [network.name]).filter(
          (r) => !found.gateways.some((g) => (g.dst === r.dst || g.dst === 'default') && g.via === r.via),
        )
      : [];
    if (missing.length) {
      problems.push(
        `${node.name} has no route ${missing.map((r) => `to ${r.dst} via ${r.via} (router ${r.router})`).join(', ')}, which the lab's routed underlay needs; the machines' network setup must give it (\`NETLAB_UNDERLAY=routed vagrant up\` does, see the README)`,
      );
      continue;
    }
    const mtu = found.mtus.get(dev);
    facts[node.name] = { address, dev, ...(mtu ? { mtu } : {}) };
  }
  if (problems.length) throw new RunError(`node facts:\n  ${problems.join('\n  ')}`);
  return facts;
}
