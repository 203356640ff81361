// cross-node: geneve — GENEVE (RFC 8926), the encapsulation OVN and Cilium
// use: Ethernet frames in UDP port 6081 with a 24-bit network identifier, like
// VXLAN but with room for options. A Linux geneve device has exactly one
// remote and no forwarding database, so each node gets one device per peer
// (gnvJ to the node of index J): a point-to-point Ethernet link over the
// underlay. Each node routes a peer's pod subnet into that peer's device, with
// the peer's bridge address as the gateway; ARP across the tunnel finds its MAC.
import { step } from '../model/effects.js';
import type { Model, TunnelSettings } from '../model/lab.js';
import type { Link } from '../node/tables.js';
import { forwardingStep, podRoute, remotePodRoute, tunnelOf, tunnelSettings } from './shared.js';
import type { CrossNodeWiring } from './types.js';
import { ipOf } from '../net/ipv4.js';

/** The IANA port of GENEVE; VNI 100 as in the vxlan lab; devices gnv0, gnv1, ... */
const DEFAULTS = { id: 100, port: 6081, device: 'gnv' } as const;

/** cross-node: geneve's settings: one point-to-point device per peer, named by the prefix `device`. */
export interface GeneveSettings extends TunnelSettings {
  kind: 'geneve';
  /** every device has its one remote: no group */
  group?: never;
}
const settingsOf = (model: Model) => tunnelOf<GeneveSettings>(model, 'geneve');

export const geneve: CrossNodeWiring = {
  kind: 'geneve',
  // RFC 8926: an 8-byte header (netlab's devices carry no options) in UDP, around an Ethernet frame.
  encapsulation: {
    bytes: 50,
    headers: 'outer IPv4 20 + UDP 8 + GENEVE 8 + the Ethernet header of the frame inside 14',
  },
  describe: 'GENEVE: pod frames in UDP port 6081, one point-to-point device per peer node',
  settings: {
    key: 'geneve',
    fields: { id: 'vni', port: 'port' },
    describe: 'GENEVE settings (cross-node: geneve)',
  },
  tools: ['sysctl'],
  features: [
    {
      name: 'geneve',
      label: 'kernel GENEVE support',
      module: 'geneve',
      probe: ['address', '00:00', 'type', 'geneve', 'id', '1', 'remote', '192.0.2.2'],
      hint: 'a VM with a distribution kernel, such as the workshop Vagrant VMs, has it',
    },
  ],
  resolve: (spec) => tunnelSettings<GeneveSettings>('geneve', spec, DEFAULTS),
  steps(model, node, factsOf) {
    const { id, port, device } = settingsOf(model);
    const source = ipOf(node.gateway);
    return [
      forwardingStep(),
      ...model.nodes
        .filter((other) => other !== node)
        .flatMap((other) => {
          const dev = `${device}${other.index}`;
          const remote = factsOf(other.name).address;
          const gateway = ipOf(other.gateway);
          return [
            step(
              `create the GENEVE device ${dev} to ${other.name} (VNI ${id}, remote ${remote})`,
              `A geneve device sends each Ethernet frame to one fixed remote, ${other.name}'s underlay address ${remote}, in UDP port ${port} with VNI ${id}; there is no FDB to pick a node, so each peer gets its own device.`,
              [
                {
                  kind: 'device',
                  name: dev,
                  command: 'link',
                  words: ['type', 'geneve', 'id', String(id), 'remote', remote, 'dstport', String(port)],
                  tunnel: { vni: id, port },
                  explain: `\`ip link add ${dev} type geneve\` creates a GENEVE tunnel endpoint: VNI ${id} (the virtual network's number in every packet), remote ${remote} (the one node it sends to: the outer destination), dstport ${port} (the UDP port). Frames routed into it leave as UDP packets over the underlay.`,
                },
              ],
            ),
            step(
              `give ${dev} the address ${source}/32`,
              `A /32 adds no route: it gives the device a source address, so ARP across the tunnel asks from ${source}, which ${other.name} routes back through its own device to this node.`,
              [{ kind: 'address', address: `${source}/32`, dev }],
            ),
            step(`bring up ${dev}`, 'A GENEVE device that is down sends and receives nothing.', [
              { kind: 'up', link: dev },
            ]),
            step(
              `route ${other.podSubnet} via ${gateway} on ${dev}`,
              `"onlink": ${other.name}'s bridge address ${gateway} is reachable on ${dev}, which no subnet says; ARP over the tunnel learns its MAC, and the frame goes to ${remote}. One device and one route per node, O(N).`,
              [podRoute(other.podSubnet, gateway, { dev })],
            ),
          ];
        }),
    ];
  },
  names: (model, node) =>
    model.nodes.filter((other) => other !== node).map((other) => `${settingsOf(model).device}${other.index}`),
  graph: (model) => ({
    label: `${settingsOf(model).device}N (GENEVE VNI ${settingsOf(model).id}, port ${settingsOf(model).port}, one per peer)`,
    bridgePort: false,
  }),
  evidence: (model, node) => [
    ...remotePodRoute(model, node),
    { title: 'GENEVE devices: VNI and remote node', argv: ['ip', '-d', 'link', 'show', 'type', 'geneve'] },
  ],
  trace: {
    linkKind: 'geneve',
    carries: 'ethernet',
    send(walk, place, device, { mac }, packet) {
      const { id, port, remote } = geneveParams(device);
      const local = walk.facts[place.node]?.address;
      if (!remote) return Promise.resolve(walk.end('broken', place, `${device.ifname} has no remote address`));
      walk.hop(
        place,
        'geneve',
        `${device.ifname} (VNI ${id}) wraps the frame: outer ${local} → ${remote}, UDP port ${port}; inner ${packet.src ?? '?'} → ${packet.dst}`,
      );
      return walk.tunnel(
        place,
        remote,
        `UDP ${port}`,
        // The receiving device: the same VNI and port, with this node as its remote.
        (links) =>
          links.find((link) => {
            if (link.kind !== 'geneve') return false;
            const other = geneveParams(link);
            return other.id === id && other.port === port && other.remote === local;
          }),
        `GENEVE device with VNI ${id} whose remote is ${local}`,
        (next, link) => {
          walk.hop(next, 'geneve', `${link.ifname} (VNI ${id}) unwraps the frame for ${mac}`);
          return walk.frameArrives(next, link, mac, packet);
        },
      );
    },
  },
};

/** A geneve device's parameters as `ip -d -j link` prints them. */
function geneveParams(link: Link): { id: number; port: number; remote?: string } {
  const data = link.data ?? {};
  return {
    id: Number(data.id),
    port: Number(data.port ?? DEFAULTS.port),
    ...(typeof data.remote === 'string' ? { remote: data.remote } : {}),
  };
}
