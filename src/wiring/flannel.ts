// cross-node: flannel — articles 000 and 003: flannel's VXLAN backend. One
// unicast VXLAN device per node (flannel.1, "nolearning"), and for each other
// node what flanneld programs when it sees that node's Node object in the
// Kubernetes API (its annotations flannel.alpha.coreos.com/backend-data, with
// the VTEP MAC, and flannel.alpha.coreos.com/public-ip, the node's address;
// etcd only with flannel's older etcd subnet manager): a permanent ARP entry
// for its VTEP, an FDB entry saying which node has that MAC (written with
// replace, as flanneld's netlink NeighSet does), and a route to its pod subnet.
import type { Model, ModelNode, TunnelSettings } from '../model/lab.js';
import type { StepDraft } from '../model/plan.js';
import { step } from '../model/effects.js';
import { formatIp, parseCidr } from '../net/ipv4.js';
import { macOfAddress } from '../net/ethernet.js';
import { forwardingStep, podRoute, tunnelOf, tunnelSettings } from './shared.js';
import type { CrossNodeWiring } from './types.js';
import { vxlanDevice, VXLAN_ENCAPSULATION, VXLAN_FEATURE, VXLAN_SETTINGS, vxlanHops } from './vxlan.js';

/** Flannel's defaults: VNI 1, the Linux kernel's historical VXLAN port 8472, device flannel.1. */
const DEFAULTS = { id: 1, port: 8472, device: 'flannel.1' } as const;

/**
 * flannel.1 gets the .0 address of the node's subnet and a MAC derived from it (flanneld publishes its
 * VTEP's MAC in the Node annotation flannel.alpha.coreos.com/backend-data, for the other nodes to read).
 */
export function flannelVtep(node: ModelNode): { address: string; mac: string } {
  const network = parseCidr(node.podSubnet)!.network;
  return { address: formatIp(network), mac: macOfAddress(network) };
}

/** cross-node: flannel's settings (under wiring.vxlan): one unicast device, with static neighbour and FDB entries. */
export interface FlannelSettings extends TunnelSettings {
  kind: 'flannel';
  /** unicast: no group */
  group?: never;
  /** the underlay interface, when the lab names one */
  dev?: string;
}
const settingsOf = (model: Model) => tunnelOf<FlannelSettings>(model, 'flannel');

export const flannel: CrossNodeWiring = {
  kind: 'flannel',
  encapsulation: VXLAN_ENCAPSULATION,
  describe: "flannel's VXLAN backend: unicast VXLAN with static ARP and FDB entries per node",
  settings: VXLAN_SETTINGS,
  tools: ['sysctl', 'bridge'],
  features: [VXLAN_FEATURE],
  resolve(spec, report) {
    if (spec.group !== undefined)
      report('group', 'flannel-style VXLAN is unicast (static FDB entries); remove group, or use cross-node: vxlan');
    return tunnelSettings<FlannelSettings>('flannel', spec, DEFAULTS);
  },
  steps(model, node, factsOf) {
    const vx = settingsOf(model);
    const facts = factsOf(node.name);
    const dev = vx.dev ?? facts.dev;
    const vtep = flannelVtep(node);
    const steps: StepDraft[] = [
      step(
        `create the VXLAN device ${vx.device} (VNI ${vx.id}, port ${vx.port}, nolearning)`,
        `Flannel's device: unicast only, no multicast group, and "nolearning": every remote MAC comes from the control plane, not from traffic. MAC ${vtep.mac} is fixed so other nodes can be told it.`,
        [
          vxlanDevice({
            name: vx.device,
            mac: vtep.mac,
            id: vx.id,
            local: facts.address,
            port: vx.port,
            dev,
            learning: false,
          }),
        ],
      ),
      step(
        `give ${vx.device} the address ${vtep.address}/32`,
        `Flannel gives the VTEP the network address of the node's pod subnet; /32 adds no route, routes below do.`,
        [{ kind: 'address', address: `${vtep.address}/32`, dev: vx.device }],
      ),
      step(`bring up ${vx.device}`, 'A VXLAN device that is down sends and receives nothing.', [
        { kind: 'up', link: vx.device },
      ]),
      forwardingStep(),
    ];
    for (const other of model.nodes.filter((n) => n !== node)) {
      const remote = flannelVtep(other);
      const address = factsOf(other.name).address;
      steps.push(
        step(
          `neighbour: ${other.name}'s VTEP ${remote.address} is ${remote.mac}`,
          `A permanent ARP entry written by the control plane: flanneld reads ${other.name}'s VTEP MAC from its Node object in the Kubernetes API (the annotation flannel.alpha.coreos.com/backend-data), so no ARP request ever crosses the VXLAN.`,
          [{ kind: 'neighbour', address: remote.address, mac: remote.mac, dev: vx.device }],
        ),
        step(
          `FDB: ${remote.mac} is behind ${address}`,
          `Tells ${vx.device} which node to send frames for that MAC to: the outer IP destination of the VXLAN packet, ${other.name}'s address, which flanneld reads from the annotation flannel.alpha.coreos.com/public-ip of its Node object.`,
          [
            {
              kind: 'fdb',
              mac: remote.mac,
              dev: vx.device,
              dst: address,
              replace: true,
              explain: `\`bridge fdb replace ${remote.mac} dev ${vx.device} dst ${address}\`: in ${vx.device}'s own forwarding table (not the bridge's), frames for MAC ${remote.mac} are sent in VXLAN to ${address}. "replace" makes that the MAC's one destination, creating the entry or overwriting a stale one, as flanneld does (netlink NeighSet) with the VTEP MAC and public-ip it reads from each Node's annotations in the Kubernetes API (etcd only with its older etcd subnet manager); "append" would add a second destination, which a VTEP MAC never has.`,
            },
          ],
        ),
        step(
          `route ${other.podSubnet} via ${remote.address} on ${vx.device}`,
          `"onlink": the gateway ${remote.address} is not in any subnet of ${vx.device}, but is declared reachable on it; its MAC comes from the neighbour entry above.`,
          [podRoute(other.podSubnet, remote.address, { dev: vx.device })],
        ),
      );
    }
    return steps;
  },
  names: (model) => [settingsOf(model).device],
  graph: (model) => {
    const vx = settingsOf(model);
    return { label: `${vx.device} (VXLAN VNI ${vx.id}, port ${vx.port}, static FDB)`, bridgePort: false };
  },
  // Flannel's port 8472 is not VXLAN's registered 4789: tell tcpdump to decode it as VXLAN.
  captureUnderlay: (model) => ({
    options: ['-T', 'vxlan'],
    filter: `udp port ${settingsOf(model).port}`,
    // Wireshark decodes VXLAN on its IANA port, 4789, by itself; flannel's it must be told.
    wireshark: `Decode As… UDP port ${settingsOf(model).port} → VXLAN (flannel's port; Wireshark knows VXLAN on 4789 only)`,
  }),
  evidence: (model) => [
    {
      title: `static neighbour entries on ${settingsOf(model).device}`,
      argv: ['ip', 'neigh', 'show', 'dev', settingsOf(model).device],
    },
    {
      title: `static FDB entries on ${settingsOf(model).device}`,
      argv: ['bridge', 'fdb', 'show', 'dev', settingsOf(model).device],
    },
  ],
  trace: vxlanHops(),
};
