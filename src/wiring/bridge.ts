// same-node: bridge — article 001 §3.2: each pod's veth pair has its node end
// plugged into the node's bridge, which holds the pod subnet's gateway address.
// The cross-node kinds build on it: every node routes its pod subnet through
// its bridge.
import { kernelNameOf } from '../model/lab.js';
import { macOfAddress } from '../net/ethernet.js';
import { ipOf, parseIp } from '../net/ipv4.js';
import { EXTENSIONS, labComment } from './netfilter.js';
import type { Model, ModelNode, ModelPod } from '../model/lab.js';
import type { StepDraft } from '../model/plan.js';
import { step } from '../model/effects.js';
import { none } from './none.js';
import type { SameNodeWiring } from './types.js';
import { podEndSteps, VETH_FEATURE } from './veth.js';

export const bridge: SameNodeWiring = {
  kind: 'bridge',
  describe: "pods plugged into the node's bridge by veth pairs",
  tools: ['iptables'],
  extensions: [EXTENSIONS.comment],
  features: [
    VETH_FEATURE,
    { name: 'bridge', label: 'kernel bridge support', module: 'bridge', probe: ['address', '00:00', 'type', 'bridge'] },
  ],
  routesPodSubnet: true,
  graph: 'bridge',
  podInterfaces: (pod) => ({ hostIf: `veth-${pod}`, podIf: `veth-${pod}-c` }),
  names: (model, node) => [node.bridge, forwardChain(kernelNameOf(model))],
  netfilter: { acceptChain: (model) => forwardChain(kernelNameOf(model)) },
  steps(model, node) {
    const pods = model.pods.filter((p) => p.node === node.name);
    // A node with no pods still needs its bridge when it joins other nodes' pods.
    if (pods.length === 0 && model.crossNode === none.kind) return [];
    return [
      ...bridgeSteps(node),
      ...pods.flatMap((pod) => bridgePortSteps(node, pod, model.vethPeer)),
      ...forwardAcceptSteps(model),
    ];
  },
};

function bridgeSteps(node: ModelNode): StepDraft[] {
  return [
    step(
      `create the bridge ${node.bridge}`,
      'A Linux bridge is a virtual switch: it forwards Ethernet frames between its ports by MAC address, learning them in its forwarding database (FDB).',
      [{ kind: 'bridge', name: node.bridge, mac: macOfAddress(parseIp(ipOf(node.gateway))!) }],
    ),
    step(
      `give ${node.bridge} the gateway address ${node.gateway}`,
      `With an address, the bridge is also the node's interface into the pod subnet: pods use it as their default gateway, and the node routes ${node.podSubnet} through it.`,
      [{ kind: 'address', address: node.gateway, dev: node.bridge }],
    ),
    step(`bring up ${node.bridge}`, 'Interfaces start DOWN; a bridge that is down forwards nothing.', [
      { kind: 'up', link: node.bridge },
    ]),
  ];
}

function bridgePortSteps(node: ModelNode, pod: ModelPod, vethPeer: 'move' | 'in-pod'): StepDraft[] {
  const [hostIf, podIf] = [pod.hostIf!, pod.podIf!];
  const gateway = ipOf(node.gateway);
  const create =
    vethPeer === 'in-pod'
      ? step(
          `create the veth pair ${hostIf} <-> ${podIf}, ${podIf} directly in pod ${pod.name}`,
          `One end (${hostIf}) in the node as a bridge port, the other (${podIf}) created right inside the pod: the same result as creating both in the node and moving one (the article's way), in one step and without the kernel's slow per-interface move between namespaces. Deleting the pod's namespace deletes the pair.`,
          [{ kind: 'veth', name: hostIf, peer: podIf, peerNetns: pod.netns }],
        )
      : step(
          `create the veth pair ${hostIf} <-> ${podIf} for pod ${pod.name}`,
          `One end (${hostIf}) stays in the node as a bridge port, the other (${podIf}) goes into the pod: the pod's cable to the switch (what the CNI bridge plugin's setupVeth does).`,
          [{ kind: 'veth', name: hostIf, peer: podIf, undo: 'unless-moved' }],
        );
  return [
    create,
    step(
      `attach ${hostIf} to ${node.bridge}`,
      `"master ${node.bridge}" makes ${hostIf} a port of the bridge: frames entering ${hostIf} are switched by ${node.bridge}.`,
      [{ kind: 'master', link: hostIf, bridge: node.bridge }],
    ),
    step(`bring up ${hostIf}`, 'The node end carries no address: it is only a bridge port, a cable end.', [
      { kind: 'up', link: hostIf },
    ]),
    ...podEndSteps(pod, vethPeer === 'move'),
    step(
      `route pod ${pod.name}'s other traffic via ${gateway}`,
      `The pod knows only its own subnet (the connected route); the default route sends everything else to the bridge address, where the node routes it on.`,
      [{ kind: 'route', dst: 'default', via: gateway, netns: pod.netns }],
    ),
  ];
}

/** The lab's own chain in the filter table, accepting the cluster's forwarded traffic. */
function forwardChain(lab: string): string {
  return `NETLAB-FWD-${lab}`;
}

function forwardAcceptSteps(model: Model): StepDraft[] {
  const chain = forwardChain(kernelNameOf(model));
  const accepts = (['source', 'destination'] as const).map((end) => ({
    rule: [end === 'source' ? '-s' : '-d', model.clusterCidr, '-j', 'ACCEPT'],
    explain: `\`iptables -A ${chain} … -j ACCEPT\` appends a rule: packets matching ${end} ${model.clusterCidr} go to ACCEPT.`,
  }));
  return [
    step(
      `create the iptables chain ${chain}`,
      "netlab's rules live in a chain of their own: removing the chain removes exactly them, and nothing that was there before is touched.",
      [{ kind: 'chain', table: 'filter', name: chain }],
    ),
    step(
      `accept forwarded traffic from and to the cluster CIDR ${model.clusterCidr}`,
      'Pod traffic is forwarded by the node (and, with br_netfilter, even bridged traffic passes FORWARD): if the FORWARD policy is DROP, these ACCEPT rules let it through, as flannel does.',
      [{ kind: 'rules', table: 'filter', chain, rules: accepts }],
    ),
    step(
      `jump from FORWARD to ${chain}`,
      'Inserted first in FORWARD so that it is consulted before any DROP rule; removed exactly by down.',
      [
        {
          kind: 'jump',
          table: 'filter',
          from: 'FORWARD',
          to: chain,
          comment: labComment(kernelNameOf(model)),
          first: true,
        },
      ],
    ),
  ];
}
