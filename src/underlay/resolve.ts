// The underlay of a lab file: a flat one (the nodes' own network, as the
// articles have it) or a routed one (networks joined by routers), checked
// against the nodes, the pods, the cluster and the Services range. Pure; called
// by lab/resolve.ts with the nodes and pods it resolved.
import {
  contains,
  formatCidr,
  formatIp,
  lastAddress,
  overlaps,
  parseCidr,
  parseIp,
  size,
  type Cidr,
} from '../net/ipv4.js';
import { SERVICE_CIDR, type ModelNode, type ModelPod, type ModelRouter } from '../model/lab.js';
import { gatewayTowards } from './routing.js';
import { FIRST_SIMULATED_HOST } from './simulated.js';
import type { Report } from '../errors.js';

/** A lab file's `underlay:`, as lab/schema.ts checks its shape. */
export interface UnderlaySpec {
  networks: Record<string, string>;
  routers?: Record<string, { networks: string[]; 'pod-routes'?: boolean }>;
}

/**
 * A routed underlay: networks that neither overlap each other nor the cluster
 * CIDR, routers on at least two of them with names no node has, every node on
 * one of them (its address, if the lab gives one, inside it), and every
 * network with nodes reachable from every other through the routers.
 */
export function resolveUnderlay(
  spec: UnderlaySpec | undefined,
  /** the lab has an outside host (`outside:`), which a routed underlay does not support yet */
  hasOutside: boolean,
  cluster: Cidr,
  nodes: ModelNode[],
  pods: ModelPod[],
  report: Report,
) {
  for (const node of nodes) {
    if (!spec && node.underlay.network !== undefined)
      report(
        ['nodes', node.name, 'underlay', 'network'],
        `found "${node.underlay.network}", but the lab has no underlay.networks; allowed: leave it out (every node on one L2 segment), or declare the networks under underlay:`,
      );
  }
  if (!spec) return undefined;
  if (Object.keys(spec.networks).length === 0)
    report(['underlay', 'networks'], 'found none; allowed: at least one network, such as "left: 192.168.60.0/24"');
  const networks: { name: string; cidr: string; parsed: Cidr }[] = [];
  for (const [name, text] of Object.entries(spec.networks)) {
    const parsed = parseCidr(text, true);
    if (!parsed || parsed.prefix > 29) {
      report(
        ['underlay', 'networks', name],
        `found "${text}"; allowed: an IPv4 network address with a prefix of /29 or shorter, such as 192.168.64.0/24`,
      );
      continue;
    }
    const clash = networks.find((n) => overlaps(n.parsed, parsed));
    if (clash) report(['underlay', 'networks', name], `${text} overlaps network ${clash.name}'s ${clash.cidr}`);
    else if (overlaps(cluster, parsed))
      report(
        ['underlay', 'networks', name],
        `${text} overlaps the cluster CIDR ${formatCidr(cluster)}; allowed: a subnet outside it (pod and node addresses must differ)`,
      );
    else if (overlaps(parseCidr(SERVICE_CIDR)!, parsed))
      report(
        ['underlay', 'networks', name],
        `${text} overlaps the Services' range ${SERVICE_CIDR}; allowed: a subnet outside it`,
      );
    networks.push({ name, cidr: text, parsed });
  }
  const networkNames = Object.keys(spec.networks);
  const allowed = `allowed: ${networkNames.join(', ') || 'a network of underlay.networks'}`;
  const taken = new Set([...nodes.map((n) => n.name), ...pods.map((p) => p.name), 'outside', 'underlay']);
  const routers: ModelRouter[] = [];
  for (const [name, router] of Object.entries(spec.routers ?? {})) {
    if (taken.has(name))
      report(
        ['underlay', 'routers', name],
        `router name "${name}" is taken (${name === 'outside' || name === 'underlay' ? 'netlab uses it' : 'a node or pod has it'}); allowed: another name`,
        'key',
      );
    taken.add(name);
    router.networks.forEach((network, i) => {
      if (!networkNames.includes(network))
        report(['underlay', 'routers', name, 'networks', i], `found "${network}"; ${allowed}`);
    });
    const own = [...new Set(router.networks.filter((n) => networkNames.includes(n)))];
    if (own.length < 2)
      report(
        ['underlay', 'routers', name, 'networks'],
        `found ${own.length} network${own.length === 1 ? '' : 's'}; allowed: at least two different networks (a router joins networks)`,
      );
    routers.push({ name, networks: own, addresses: {}, podRoutes: router['pod-routes'] ?? false });
  }
  // Each router's address on a network: its last host for the first router there, one less for each next.
  for (const network of networks) {
    routers
      .filter((r) => r.networks.includes(network.name))
      .forEach((r, i) => (r.addresses[network.name] = formatIp(lastAddress(network.parsed) - 1 - i)));
  }
  // Simulated nodes number their hosts from .4 up, routers from the last host down: both must fit.
  for (const network of networks) {
    const hosts =
      nodes.filter((n) => n.underlay.network === network.name).length +
      routers.filter((r) => r.networks.includes(network.name)).length;
    if (FIRST_SIMULATED_HOST + hosts > size(network.parsed) - 1)
      report(
        ['underlay', 'networks', network.name],
        `${network.cidr} is too small for its ${hosts} nodes and routers (simulated nodes start at host ${FIRST_SIMULATED_HOST}); allowed: a shorter prefix`,
      );
  }
  for (const node of nodes) {
    const network = node.underlay.network;
    const found = networks.find((n) => n.name === network);
    if (network === undefined)
      report(
        ['nodes', node.name],
        `node ${node.name} names no underlay network, and the lab has underlay.networks; set nodes.${node.name}.underlay.network (${allowed})`,
        'key',
      );
    else if (!networkNames.includes(network))
      report(['nodes', node.name, 'underlay', 'network'], `found "${network}"; ${allowed}`);
    else if (found && node.underlay.address && !contains(found.parsed, parseIp(node.underlay.address) ?? 0))
      report(
        ['nodes', node.name, 'underlay', 'address'],
        `${node.underlay.address} is not in network ${network} (${found.cidr}); allowed: an address in it`,
      );
    else if (found && node.underlay.address && routers.some((r) => r.addresses[network] === node.underlay.address))
      report(
        ['nodes', node.name, 'underlay', 'address'],
        `${node.underlay.address} is a router's address on ${network}; allowed: another address in ${found.cidr}`,
      );
  }
  const used = [
    ...new Set(nodes.flatMap((n) => (networkNames.includes(n.underlay.network ?? '') ? [n.underlay.network!] : []))),
  ];
  for (const from of used) {
    const unreachable = used.find((to) => to !== from && !gatewayTowards(routers, from, to));
    if (unreachable) {
      report(
        ['underlay', ...(spec.routers ? ['routers'] : [])],
        `no router joins network ${from} to network ${unreachable}, and both have nodes; allowed: routers that join every network with nodes to every other`,
        'key',
      );
      break;
    }
  }
  if (hasOutside)
    report(
      ['outside'],
      'an outside host on a routed underlay is not supported yet; allowed: leave out outside: or underlay:',
      'key',
    );
  return { networks: networks.map(({ name, cidr }) => ({ name, cidr })), routers };
}
