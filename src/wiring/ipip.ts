// cross-node: ipip — article 001 §4.2: each pod packet bound for another node
// gets a second IP header (protocol 4) from this node to that node. One tunnel
// device with no fixed remote (like Calico's tunl0), and per peer a route whose
// gateway is the peer's underlay address: the kernel uses that gateway as the
// outer destination. Works for any number of nodes, where the article's
// point-to-point `ip tunnel add … remote` needs one device per peer.
import { step } from '../model/effects.js';
import type { Link } from '../node/tables.js';
import { forwardingStep, podRoute, remotePodRoute } from './shared.js';
import type { CrossNodeWiring } from './types.js';
import { ipOf } from '../net/ipv4.js';

const DEVICE = 'ipip0';
/** The outer header's TTL, as an IP stack gives its own packets (net.ipv4.ip_default_ttl); 0 would copy the inner one. */
const OUTER_TTL = 64;

export const ipip: CrossNodeWiring = {
  kind: 'ipip',
  // The pod's IP packet itself is the payload: no Ethernet header travels inside.
  encapsulation: { bytes: 20, headers: 'an outer IPv4 header 20' },
  describe: 'IP-in-IP: pod packets wrapped in an IP header from node to node (protocol 4)',
  tools: ['sysctl'],
  features: [
    // IP-in-IP devices have no Ethernet address: this one is created. (A bare "type ipip"
    // clashes with the fallback device tunl0 that the module makes in every namespace.)
    {
      name: 'ipip',
      label: 'kernel IP-in-IP support',
      module: 'ipip',
      probe: ['type', 'ipip', 'local', '192.0.2.1', 'remote', '192.0.2.2'],
      hint: 'a VM with a distribution kernel, such as the workshop Vagrant VMs, has it',
    },
  ],
  steps(model, node, factsOf) {
    const facts = factsOf(node.name);
    const gateway = ipOf(node.gateway);
    return [
      step(
        `create the IP-in-IP tunnel ${DEVICE}`,
        `An ipip device wraps each IP packet in another IP header (protocol 4) from ${facts.address}; with no fixed remote, each route says which node to send to. The outer header gets a TTL of its own (ttl ${OUTER_TTL}): by default it copies the pod packet's, and a router of the underlay would then drop the probes of a pod's traceroute that should reach the next node, a hop of '*'.`,
        [
          {
            kind: 'device',
            name: DEVICE,
            command: 'tunnel',
            words: ['mode', 'ipip', 'local', facts.address, 'dev', facts.dev, 'ttl', String(OUTER_TTL)],
            explain: `\`ip tunnel add ${DEVICE} mode ipip local ${facts.address}\` creates an IP-in-IP device: packets routed into it get an outer IP header (protocol 4) from ${facts.address}; with no fixed remote, the outer destination is the route's gateway; ttl ${OUTER_TTL} is the outer header's TTL (the default, inherit, copies the inner packet's).`,
          },
        ],
      ),
      step(
        `give ${DEVICE} the address ${gateway}/32`,
        'A /32 adds no connected route: it only gives the tunnel a source address. Routes decide what enters the tunnel.',
        [{ kind: 'address', address: `${gateway}/32`, dev: DEVICE }],
      ),
      step(`bring up ${DEVICE}`, 'A tunnel that is down takes no routes.', [{ kind: 'up', link: DEVICE }]),
      forwardingStep(),
      ...model.nodes
        .filter((other) => other !== node)
        .map((other) => {
          const address = factsOf(other.name).address;
          return step(
            `route ${other.podSubnet} through ${DEVICE} to ${other.name} (${address})`,
            `"onlink" lets the gateway ${address} be used on ${DEVICE} although no subnet on ${DEVICE} contains it; the outer IP header goes to ${address}. Still one route per node, O(N).`,
            [podRoute(other.podSubnet, address, { dev: DEVICE })],
          );
        }),
    ];
  },
  names: () => [DEVICE],
  graph: () => ({ label: `${DEVICE} (IP-in-IP, protocol 4)`, bridgePort: false }),
  evidence: remotePodRoute,
  trace: {
    linkKind: 'ipip',
    carries: 'ip',
    send(walk, place, device, to, packet) {
      const ends = tunnelEnds(device);
      const remote = ends.remote ?? to.nextHop!;
      const local = ends.local ?? walk.facts[place.node]?.address;
      walk.hop(
        place,
        'ipip',
        `${device.ifname} wraps the packet in another IP header (protocol 4): outer ${local} → ${remote}; inner ${packet.src ?? '?'} → ${packet.dst}`,
      );
      return walk.tunnel(
        place,
        remote,
        'IP protocol 4',
        (links) => receivingTunnel(links, local, remote),
        'ipip tunnel device',
        (next, link) => {
          walk.hop(next, 'ipip', `${link.ifname} unwraps the packet: inner ${packet.src ?? '?'} → ${packet.dst}`);
          return walk.packetArrives(next, packet, link.ifname);
        },
      );
    },
  },
};

/** An ipip device's fixed ends; "any" (iproute2's word for none) is left out. */
function tunnelEnds(link: Link): { local?: string; remote?: string } {
  const ends: { local?: string; remote?: string } = {};
  for (const key of ['local', 'remote'] as const) {
    const value = link.data?.[key];
    if (typeof value === 'string' && value !== 'any') ends[key] = value;
  }
  return ends;
}

/**
 * The ipip device that receives an outer packet from `from` to `to`, as the
 * kernel picks it: a tunnel whose fixed ends match exactly wins over one that
 * leaves an end open ("any"); the fallback device tunl0, which the ipip module
 * creates with both ends open, gets only what no other tunnel takes.
 */
export function receivingTunnel(links: Link[], from: string | undefined, to: string): Link | undefined {
  const score = (link: Link): number => {
    const { local, remote } = tunnelEnds(link);
    if ((local && local !== to) || (remote && remote !== from)) return -1;
    return (remote ? 2 : 0) + (local ? 1 : 0);
  };
  const candidates = links.filter((l) => l.kind === 'ipip' && score(l) >= 0);
  return candidates.sort((a, b) => score(b) - score(a))[0];
}
