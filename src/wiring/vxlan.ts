// cross-node: vxlan — article 001 §4.3: one VXLAN device per node, a port of
// the node's bridge, joins every node's bridge into one L2 segment. Frames for
// unknown MACs go to a multicast group; the device learns "MAC → node" from
// what comes back (flood and learn). Multicast does not cross a router: on a
// routed underlay each node floods to every other node by unicast instead
// (head-end replication: one all-zero FDB entry per peer), and learns the same.
import { step } from '../model/effects.js';
import type { Model, TunnelSettings } from '../model/lab.js';
import type { Effect } from '../model/plan.js';
import { isRouted } from '../underlay/routing.js';
import { nodeWithAddress } from '../underlay/trace.js';
import { contains, parseCidr, parseIp } from '../net/ipv4.js';
import type { Link } from '../node/tables.js';
import { forwardingStep, tunnelOf, tunnelSettings } from './shared.js';
import type { CrossNodeWiring, Feature, TunnelHops } from './types.js';

export const DEFAULTS = { id: 100, group: '239.1.1.1', port: 4789, device: 'vxlan0' } as const;

export const VXLAN_FEATURE: Feature = {
  name: 'vxlan',
  label: 'kernel VXLAN support',
  module: 'vxlan',
  probe: ['address', '00:00', 'type', 'vxlan', 'id', '1', 'dstport', '4789'],
};

/** The `wiring.vxlan` settings, shared with flannel. */
export const VXLAN_SETTINGS = {
  key: 'vxlan',
  fields: { id: 'vni', group: 'ipv4', port: 'port', dev: 'ifname' },
  describe: 'VXLAN settings (cross-node: vxlan or flannel)',
} as const;

/** cross-node: vxlan's settings: one device, flooding to a multicast group, or to the other nodes across a router. */
export interface VxlanSettings extends TunnelSettings {
  kind: 'vxlan';
  /** the underlay interface, when the lab names one */
  dev?: string;
}
const settingsOf = (model: Model) => tunnelOf<VxlanSettings>(model, 'vxlan');

/** VXLAN's headers, for vxlan and flannel alike (RFC 7348: an 8-byte header in UDP). */
export const VXLAN_ENCAPSULATION = {
  bytes: 50,
  headers: 'outer IPv4 20 + UDP 8 + VXLAN 8 + the Ethernet header of the frame inside 14',
};

export const vxlan: CrossNodeWiring = {
  kind: 'vxlan',
  encapsulation: VXLAN_ENCAPSULATION,
  describe: 'VXLAN with multicast: every node bridge joined into one L2 segment (flood and learn)',
  settings: VXLAN_SETTINGS,
  tools: ['sysctl', 'bridge'],
  features: [VXLAN_FEATURE],
  learns: true,
  resolve(spec, report, underlay) {
    // Across a router the flood list replaces the group (steps below): a group the lab names would go unused.
    if (underlay.routed && spec.group !== undefined)
      report(
        'group',
        `found "${String(spec.group)}", but the nodes are on different networks and multicast does not cross a router: vxlan floods to the other nodes by unicast there; allowed: leave group out`,
      );
    const group = (spec.group as string | undefined) ?? DEFAULTS.group;
    const ip = parseIp(group);
    // 224.0.0.0/4 is IPv4 multicast; 224.0.0.0/24 is link-local control traffic.
    if (ip === undefined || !contains(parseCidr('224.0.0.0/4')!, ip) || contains(parseCidr('224.0.0.0/24')!, ip)) {
      report(
        'group',
        `found "${group}"; allowed: an IPv4 multicast group in 224.0.1.0-239.255.255.255, such as 239.1.1.1`,
      );
    }
    return tunnelSettings<VxlanSettings>('vxlan', spec, DEFAULTS, group);
  },
  steps(model, node, factsOf) {
    const vx = settingsOf(model);
    const facts = factsOf(node.name);
    const dev = vx.dev ?? facts.dev;
    const unicast = isRouted(model);
    const peers = model.nodes
      .filter((n) => n !== node)
      .map((n) => ({ name: n.name, address: factsOf(n.name).address }));
    return [
      step(
        `create the VXLAN device ${vx.device} (VNI ${vx.id}, ${unicast ? 'unicast to the other nodes' : `group ${vx.group}`})`,
        unicast
          ? `VXLAN carries Ethernet frames in UDP port ${vx.port} between nodes. The nodes are on different networks, and a router does not forward multicast: frames for unknown MACs are copied to every other node by unicast (the next steps list them), and the device learns "MAC → node address" from what comes back.`
          : `VXLAN carries Ethernet frames in UDP port ${vx.port} between nodes; frames for unknown MACs go to the multicast group ${vx.group} on ${dev}, and the device learns "MAC → node address" from what comes back (flood and learn).`,
        [
          vxlanDevice({
            name: vx.device,
            id: vx.id,
            ...(unicast ? {} : { group: vx.group! }),
            local: facts.address,
            port: vx.port,
            dev,
            learning: true,
          }),
        ],
      ),
      ...(unicast
        ? peers.map((peer) =>
            step(
              `add ${peer.name} (${peer.address}) to ${vx.device}'s flood list`,
              `An all-zero MAC entry is the flood list: a frame for a MAC ${vx.device} has not learned goes to every such destination (head-end replication), where multicast would have reached all nodes at once.`,
              [
                {
                  kind: 'fdb',
                  mac: ZERO_MAC,
                  dev: vx.device,
                  dst: peer.address,
                  replace: false,
                  explain: `\`bridge fdb append ${ZERO_MAC} dev ${vx.device} dst ${peer.address}\`: the all-zero MAC is ${vx.device}'s default destination; with several (append), a frame for a MAC the device has not learned is copied to each of them (head-end replication, what multicast does on one segment).`,
                },
              ],
            ),
          )
        : []),
      step(
        `attach ${vx.device} to ${node.bridge}`,
        `As a bridge port, ${vx.device} extends the bridge's L2 segment to every node: all nodes' bridges form one virtual switch.`,
        [{ kind: 'master', link: vx.device, bridge: node.bridge }],
      ),
      step(
        `bring up ${vx.device}`,
        unicast
          ? 'A VXLAN device that is down sends and receives nothing.'
          : 'Bringing it up joins the multicast group on the underlay interface.',
        [{ kind: 'up', link: vx.device }],
      ),
      step(
        `route the whole cluster CIDR ${model.clusterCidr} to ${node.bridge}`,
        'One route for all nodes, O(1): every pod address is on the shared L2 segment, found by ARP across the VXLAN. Adding a node changes nothing here.',
        [{ kind: 'route', dst: model.clusterCidr, dev: node.bridge }],
      ),
      forwardingStep(
        `such as a pod's packet to a pod on another node: the cluster route points into ${node.bridge}, so the node routes it from ${node.bridge} back out of ${node.bridge} (in and out of one interface, so it also sends the pod an ICMP redirect), and ${node.bridge} then bridges the frame to ${vx.device}`,
      ),
    ];
  },
  names: (model) => [settingsOf(model).device],
  graph: (model) => {
    const vx = settingsOf(model);
    const flood = isRouted(model) ? 'unicast flood list' : `group ${vx.group}`;
    return { label: `${vx.device} (VXLAN VNI ${vx.id}, ${flood}, port ${vx.port})`, bridgePort: true };
  },
  evidence: (model) => [
    {
      title: `VXLAN FDB of ${settingsOf(model).device} (learned: MAC → remote node)`,
      argv: ['bridge', 'fdb', 'show', 'dev', settingsOf(model).device],
    },
  ],
  trace: vxlanHops(),
};

function isMulticast(address: string): boolean {
  const first = Number(address.split('.')[0]);
  return first >= 224 && first <= 239;
}

function vxlanParams(link: Link): { id: number; port: number; local?: string } {
  const data = link.data ?? {};
  return {
    id: Number(data.id),
    port: Number(data.port ?? 8472),
    ...(typeof data.local === 'string' ? { local: data.local } : {}),
  };
}

/** A VXLAN device in a trace: its own FDB maps the inner destination MAC to a remote VTEP; the frame travels in UDP to it. */
export function vxlanHops(): TunnelHops {
  return {
    linkKind: 'vxlan',
    carries: 'ethernet',
    async send(walk, place, device, { mac }, packet) {
      const tables = await walk.tables(place);
      const vx = vxlanParams(device);
      const entries = tables.fdb.filter((f) => f.ifname === device.ifname && f.dst);
      const exact = mac ? entries.find((f) => f.mac === mac) : undefined;
      const flood = entries.filter((f) => f.mac === ZERO_MAC);
      const fallback = flood[0];
      if (!exact && flood.length > 1) {
        return walk.end(
          'unknown',
          place,
          `${mac ?? 'the destination MAC'} is not in ${device.ifname}'s FDB yet: the frame is copied to every node of its flood list (${flood.map((f) => f.dst).join(', ')}); the answer teaches the FDB where the MAC is`,
          'send traffic first (trace does, unless --no-send) and trace again',
        );
      }
      if (!exact && fallback && isMulticast(fallback.dst!)) {
        return walk.end(
          'unknown',
          place,
          `${mac ?? 'the destination MAC'} is not in ${device.ifname}'s FDB yet: the frame goes to multicast group ${fallback.dst}, which every node's ${device.ifname} joined; the answer teaches the FDB where the MAC is`,
          'send traffic first (trace does, unless --no-send) and trace again',
        );
      }
      const chosen = exact ?? fallback;
      if (!chosen) {
        return walk.end(
          'broken',
          place,
          `${device.ifname} has no FDB entry for ${mac ?? 'the destination MAC'}: the frame has no VTEP to go to and is dropped`,
          walk.hint(
            place,
            (d) => d.kind === 'fdb' && d.dev === device.ifname && (!mac || d.mac === mac),
            'adds the FDB entry',
          ),
        );
      }
      const remote = chosen.dst!;
      // A static entry (flannel's control plane) must send the MAC to the node the lab put it on.
      const meant = walk.planned(place, (d) => d.kind === 'fdb' && d.dev === device.ifname && d.mac === chosen.mac);
      if (meant?.kind === 'fdb' && meant.dst !== remote) {
        const owner = (address: string) => nodeWithAddress(walk.facts, address) ?? 'no node';
        return walk.end(
          'broken',
          place,
          `${device.ifname}'s FDB sends frames for ${chosen.mac} to ${remote} (${owner(remote)}), but that MAC is the VTEP behind ${meant.dst} (${owner(meant.dst)})`,
          walk.hint(place, (d) => d === meant, 'adds the FDB entry'),
        );
      }
      const local = vx.local ?? walk.facts[place.node]?.address;
      walk.hop(
        place,
        'vxlan',
        `${device.ifname} (VNI ${vx.id}) wraps the frame: outer ${local} → ${remote}, UDP port ${vx.port}; inner ${packet.src ?? '?'} → ${packet.dst}`,
        `${chosen.mac} dev ${device.ifname} dst ${remote} self`,
      );
      return walk.tunnel(
        place,
        remote,
        `UDP ${vx.port}`,
        (links) =>
          links.find((link) => {
            if (link.kind !== 'vxlan') return false;
            const other = vxlanParams(link);
            return other.id === vx.id && other.port === vx.port;
          }),
        `VXLAN device with VNI ${vx.id} on UDP port ${vx.port}`,
        (next, link) => {
          walk.hop(next, 'vxlan', `${link.ifname} (VNI ${vx.id}) unwraps the frame for ${mac}`);
          return walk.frameArrives(next, link, mac, packet);
        },
      );
    },
  };
}

/** A VXLAN device: `group` floods to a multicast group; a fixed `mac` and no `learning` are flannel's. */
export interface VxlanDevice {
  name: string;
  id: number;
  port: number;
  local: string;
  dev: string;
  group?: string;
  mac?: string;
  learning: boolean;
}

/** The effect that makes a VXLAN device, for vxlan and flannel alike. */
export function vxlanDevice(d: VxlanDevice): Effect {
  const parts = [
    `VNI ${d.id} (the virtual network's number in every packet)`,
    `local ${d.local} (the outer source address)`,
    `dstport ${d.port} (the UDP port)`,
    `dev ${d.dev} (the underlay interface)`,
  ];
  if (d.group)
    parts.push(
      `group ${d.group} (unknown destinations are flooded to this multicast group; the device learns MAC → node from replies)`,
    );
  if (!d.learning) parts.push('nolearning (nothing is learned from traffic: every entry comes from the control plane)');
  if (d.mac) parts.push(`address ${d.mac} (a fixed MAC that the other nodes are told)`);
  return {
    kind: 'device',
    name: d.name,
    command: 'link',
    words: [
      ...(d.mac ? ['address', d.mac] : []),
      'type',
      'vxlan',
      'id',
      String(d.id),
      ...(d.group ? ['group', d.group] : []),
      'local',
      d.local,
      'dstport',
      String(d.port),
      'dev',
      d.dev,
      ...(d.learning ? [] : ['nolearning']),
    ],
    tunnel: { vni: d.id, port: d.port },
    explain: `\`ip link add ${d.name} type vxlan\` creates a VXLAN tunnel endpoint: ${parts.join(', ')}.`,
  };
}

/** The all-zero MAC: a VXLAN device's default destination (its flood list). */
const ZERO_MAC = '00:00:00:00:00:00';
