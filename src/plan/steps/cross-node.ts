// Joining the pod subnets of different nodes (article 001, section 4; flannel in
// articles 000 and 003). Each node's bridge and pod subnet come from the bridge wiring.
import type { Model, ModelNode } from '../../lab/model.js';
import { parseCidr, formatIp } from '../../net/ipv4.js';
import { step, type NodeFacts, type StepDraft } from '../types.js';

export type FactsOf = (node: string) => NodeFacts;

export function crossNodeSteps(model: Model, node: ModelNode, factsOf: FactsOf): StepDraft[] {
  const others = model.nodes.filter((n) => n !== node);
  const facts = factsOf(node.name);
  switch (model.crossNode) {
    case 'none':
      return [];
    case 'routes':
      return [forwardingStep(), ...others.map((other) => staticRouteStep(other, factsOf(other.name)))];
    case 'ipip':
      return ipipSteps(node, facts, others, factsOf);
    case 'vxlan':
      return vxlanSteps(model, node, facts);
    case 'flannel':
      return flannelSteps(model, node, facts, others, factsOf);
  }
}

function forwardingStep(): StepDraft {
  return step(
    'turn on IPv4 forwarding',
    'Without net.ipv4.ip_forward=1 the node drops packets that are not addressed to itself, such as a pod packet passing from the bridge to the underlay. down puts the previous value back, unless something else has changed it since or another lab on the node needs it.',
    [['netlab_sysctl', 'net.ipv4.ip_forward', '1']],
  );
}

function staticRouteStep(other: ModelNode, otherFacts: NodeFacts): StepDraft {
  return step(
    `route ${other.podSubnet} via ${other.name} (${otherFacts.address})`,
    `Packets for ${other.name}'s pods go to ${other.name}'s underlay address as plain, unencapsulated IP: the underlay must accept pod addresses (one route per node, O(N)).`,
    [['ip', 'route', 'add', other.podSubnet, 'via', otherFacts.address]],
    [['ip', 'route', 'del', other.podSubnet, 'via', otherFacts.address]],
  );
}

/**
 * One tunnel device with no fixed remote (like Calico's tunl0), and per peer a
 * route whose gateway is the peer's underlay address: the kernel uses that
 * gateway as the outer destination. Works for any number of nodes, where the
 * article's point-to-point `ip tunnel add … remote` needs one device per peer.
 */
function ipipSteps(node: ModelNode, facts: NodeFacts, others: ModelNode[], factsOf: FactsOf): StepDraft[] {
  const gateway = node.gateway.split('/')[0]!;
  return [
    step(
      'create the IP-in-IP tunnel ipip0',
      `An ipip device wraps each IP packet in another IP header (protocol 4) from ${facts.address}; with no fixed remote, each route says which node to send to.`,
      [['ip', 'tunnel', 'add', 'ipip0', 'mode', 'ipip', 'local', facts.address, 'dev', facts.dev]],
      [['ip', 'tunnel', 'del', 'ipip0']],
    ),
    step(
      `give ipip0 the address ${gateway}/32`,
      'A /32 on a point-to-point device adds no connected route: it only gives the tunnel a source address. Routes decide what enters the tunnel.',
      [['ip', 'addr', 'add', `${gateway}/32`, 'dev', 'ipip0']],
    ),
    step('bring up ipip0', 'A tunnel that is down takes no routes.', [['ip', 'link', 'set', 'ipip0', 'up']]),
    forwardingStep(),
    ...others.map((other) => {
      const address = factsOf(other.name).address;
      return step(
        `route ${other.podSubnet} through ipip0 to ${other.name} (${address})`,
        `"onlink" lets the gateway ${address} be used on ipip0 although no subnet on ipip0 contains it; the outer IP header goes to ${address}. Still one route per node, O(N).`,
        [['ip', 'route', 'add', other.podSubnet, 'via', address, 'dev', 'ipip0', 'onlink']],
        [['ip', 'route', 'del', other.podSubnet, 'via', address, 'dev', 'ipip0', 'onlink']],
      );
    }),
  ];
}

function vxlanSteps(model: Model, node: ModelNode, facts: NodeFacts): StepDraft[] {
  const vx = model.vxlan!;
  const dev = vx.dev ?? facts.dev;
  return [
    step(
      `create the VXLAN device ${vx.device} (VNI ${vx.id}, group ${vx.group})`,
      `VXLAN carries Ethernet frames in UDP port ${vx.port} between nodes; frames for unknown MACs go to the multicast group ${vx.group} on ${dev}, and the device learns "MAC → node address" from what comes back (flood and learn).`,
      [
        [
          'ip',
          'link',
          'add',
          vx.device,
          'type',
          'vxlan',
          'id',
          String(vx.id),
          'group',
          vx.group!,
          'local',
          facts.address,
          'dstport',
          String(vx.port),
          'dev',
          dev,
        ],
      ],
      [['ip', 'link', 'del', vx.device]],
    ),
    step(
      `attach ${vx.device} to ${node.bridge}`,
      `As a bridge port, ${vx.device} extends the bridge's L2 segment to every node: all nodes' bridges form one virtual switch.`,
      [['ip', 'link', 'set', vx.device, 'master', node.bridge]],
    ),
    step(`bring up ${vx.device}`, 'Bringing it up joins the multicast group on the underlay interface.', [
      ['ip', 'link', 'set', vx.device, 'up'],
    ]),
    step(
      `route the whole cluster CIDR ${model.clusterCidr} to ${node.bridge}`,
      'One route for all nodes, O(1): every pod address is on the shared L2 segment, found by ARP across the VXLAN. Adding a node changes nothing here.',
      [['ip', 'route', 'add', model.clusterCidr, 'dev', node.bridge]],
      [['ip', 'route', 'del', model.clusterCidr, 'dev', node.bridge]],
    ),
    forwardingStep(),
  ];
}

/** flannel.1 gets the .0 address of the node's subnet and a MAC derived from it, as flanneld records in etcd. */
export function flannelVtep(node: ModelNode): { address: string; mac: string } {
  const network = parseCidr(node.podSubnet)!.network;
  const bytes = [24, 16, 8, 0].map((shift) => ((network >>> shift) & 255).toString(16).padStart(2, '0'));
  // 0a:58 is a locally administered unicast prefix (the one Kubernetes uses for pod MACs).
  return { address: formatIp(network), mac: ['0a', '58', ...bytes].join(':') };
}

function flannelSteps(
  model: Model,
  node: ModelNode,
  facts: NodeFacts,
  others: ModelNode[],
  factsOf: FactsOf,
): StepDraft[] {
  const vx = model.vxlan!;
  const dev = vx.dev ?? facts.dev;
  const vtep = flannelVtep(node);
  const steps: StepDraft[] = [
    step(
      `create the VXLAN device ${vx.device} (VNI ${vx.id}, port ${vx.port}, nolearning)`,
      `Flannel's device: unicast only, no multicast group, and "nolearning": every remote MAC comes from the control plane, not from traffic. MAC ${vtep.mac} is fixed so other nodes can be told it.`,
      [
        [
          'ip',
          'link',
          'add',
          vx.device,
          'address',
          vtep.mac,
          'type',
          'vxlan',
          'id',
          String(vx.id),
          'local',
          facts.address,
          'dev',
          dev,
          'dstport',
          String(vx.port),
          'nolearning',
        ],
      ],
      [['ip', 'link', 'del', vx.device]],
    ),
    step(
      `give ${vx.device} the address ${vtep.address}/32`,
      `Flannel gives the VTEP the network address of the node's pod subnet; /32 adds no route, routes below do.`,
      [['ip', 'addr', 'add', `${vtep.address}/32`, 'dev', vx.device]],
    ),
    step(`bring up ${vx.device}`, 'A VXLAN device that is down sends and receives nothing.', [
      ['ip', 'link', 'set', vx.device, 'up'],
    ]),
    forwardingStep(),
  ];
  for (const other of others) {
    const remote = flannelVtep(other);
    const address = factsOf(other.name).address;
    steps.push(
      step(
        `neighbour: ${other.name}'s VTEP ${remote.address} is ${remote.mac}`,
        'A permanent ARP entry written by the control plane (flanneld), so no ARP request ever crosses the VXLAN.',
        [['ip', 'neigh', 'add', remote.address, 'lladdr', remote.mac, 'dev', vx.device, 'nud', 'permanent']],
      ),
      step(
        `FDB: ${remote.mac} is behind ${address}`,
        `Tells ${vx.device} which node to send frames for that MAC to: the outer IP destination of the VXLAN packet.`,
        [['bridge', 'fdb', 'append', remote.mac, 'dev', vx.device, 'dst', address]],
      ),
      step(
        `route ${other.podSubnet} via ${remote.address} on ${vx.device}`,
        `"onlink": the gateway ${remote.address} is not in any subnet of ${vx.device}, but is declared reachable on it; its MAC comes from the neighbour entry above.`,
        [['ip', 'route', 'add', other.podSubnet, 'via', remote.address, 'dev', vx.device, 'onlink']],
        [['ip', 'route', 'del', other.podSubnet, 'via', remote.address, 'dev', vx.device, 'onlink']],
      ),
    );
  }
  return steps;
}
