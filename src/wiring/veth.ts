// same-node: veth — article 001 §3.1: two pods joined by one veth pair, a
// virtual cable with one end in each pod's namespace.
import type { ModelPod } from '../model/lab.js';
import type { StepDraft } from '../model/plan.js';
import { step } from '../model/effects.js';
import type { SameNodeWiring } from './types.js';

export const VETH_FEATURE = {
  name: 'veth',
  label: 'kernel veth support',
  module: 'veth',
  probe: ['address', '00:00', 'type', 'veth', 'peer', 'name', 'netlab-p-peer'],
};

export const veth: SameNodeWiring = {
  kind: 'veth',
  describe: 'two pods joined by one veth pair',
  features: [VETH_FEATURE],
  routesPodSubnet: false,
  graph: 'pair',
  podInterfaces: (pod) => ({ podIf: `veth-${pod}` }),
  problems(nodes, pods) {
    return nodes.flatMap((node) => {
      const count = pods.filter((p) => p.node === node.name).length;
      return count !== 0 && count !== 2
        ? [
            `same-node: veth joins exactly two pods with one veth pair, but node ${node.name} has ${count}; use same-node: bridge for more`,
          ]
        : [];
    });
  },
  steps(model, node) {
    const pods = model.pods.filter((p) => p.node === node.name);
    return pods.length === 2 ? vethPairSteps(pods[0]!, pods[1]!) : [];
  },
};

function vethPairSteps(a: ModelPod, b: ModelPod): StepDraft[] {
  const [aIf, bIf] = [a.podIf!, b.podIf!];
  return [
    step(
      `create the veth pair ${aIf} <-> ${bIf}`,
      'A veth pair is a virtual Ethernet cable: a frame sent into one end comes out of the other. Created in the node, then each end is moved into a pod.',
      [{ kind: 'veth', name: aIf, peer: bIf, undo: 'delete' }],
    ),
    ...[a, b].flatMap((pod) => podEndSteps(pod)),
  ];
}

/** Move a pod's end of a veth pair into the pod (unless it was made there), address it and bring it up. */
export function podEndSteps(pod: ModelPod, move = true): StepDraft[] {
  const podIf = pod.podIf!;
  return [
    ...(move
      ? [
          step(
            `move ${podIf} into pod ${pod.name}`,
            `The interface leaves the node's namespace and appears only inside pod ${pod.name} (\`ip link\` in the node no longer shows it).`,
            [{ kind: 'move', link: podIf, netns: pod.netns }],
          ),
        ]
      : []),
    step(
      `give pod ${pod.name} the address ${pod.address}`,
      `The prefix /${pod.address!.split('/')[1]} also installs the connected route: the rest of the subnet is reached directly on ${podIf}.`,
      [{ kind: 'address', address: pod.address!, dev: podIf, netns: pod.netns }],
    ),
    step(`bring up ${podIf} in pod ${pod.name}`, 'Both ends of a veth pair must be up for frames to pass.', [
      { kind: 'up', link: podIf, netns: pod.netns },
    ]),
  ];
}
