// Joining pods on one node: a direct veth pair (article 001, 3.1) or a bridge
// with one veth pair per pod (3.2), which is what flannel's cni0 does.
import type { ModelNode, ModelPod } from '../../lab/model.js';
import { step, type StepDraft } from '../types.js';

export function vethPairSteps(a: ModelPod, b: ModelPod): StepDraft[] {
  const [aIf, bIf] = [a.podIf!, b.podIf!];
  return [
    step(
      `create the veth pair ${aIf} <-> ${bIf}`,
      'A veth pair is a virtual Ethernet cable: a frame sent into one end comes out of the other. Created in the node, then each end is moved into a pod.',
      [['ip', 'link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf]],
      // Deleting one end deletes both; once an end is in a pod, deleting the pod's namespace does it.
      [['ip', 'link', 'del', aIf]],
    ),
    ...[a, b].flatMap((pod) => podEndSteps(pod)),
  ];
}

export function bridgeSteps(node: ModelNode): StepDraft[] {
  return [
    step(
      `create the bridge ${node.bridge}`,
      'A Linux bridge is a virtual switch: it forwards Ethernet frames between its ports by MAC address, learning them in its forwarding database (FDB).',
      [['ip', 'link', 'add', 'name', node.bridge, 'type', 'bridge']],
      [['ip', 'link', 'del', node.bridge]],
    ),
    step(
      `give ${node.bridge} the gateway address ${node.gateway}`,
      `With an address, the bridge is also the node's interface into the pod subnet: pods use it as their default gateway, and the node routes ${node.podSubnet} through it.`,
      [['ip', 'addr', 'add', node.gateway, 'dev', node.bridge]],
    ),
    step(`bring up ${node.bridge}`, 'Interfaces start DOWN; a bridge that is down forwards nothing.', [
      ['ip', 'link', 'set', node.bridge, 'up'],
    ]),
  ];
}

export function bridgePortSteps(node: ModelNode, pod: ModelPod, vethPeer: 'move' | 'in-pod' = 'move'): StepDraft[] {
  const [hostIf, podIf] = [pod.hostIf!, pod.podIf!];
  const create =
    vethPeer === 'in-pod'
      ? step(
          `create the veth pair ${hostIf} <-> ${podIf}, ${podIf} directly in pod ${pod.name}`,
          `One end (${hostIf}) in the node as a bridge port, the other (${podIf}) created right inside the pod: the same result as creating both in the node and moving one (the article's way), in one step and without the kernel's slow per-interface move between namespaces. Deleting the pod's namespace deletes the pair.`,
          [['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', podIf, 'netns', pod.netns]],
        )
      : step(
          `create the veth pair ${hostIf} <-> ${podIf} for pod ${pod.name}`,
          `One end (${hostIf}) stays in the node as a bridge port, the other (${podIf}) goes into the pod: the pod's cable to the switch (what the CNI bridge plugin's setupVeth does).`,
          [['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', podIf]],
          // Once the pod end is in the pod, deleting the pod's namespace deletes the pair
          // (cheaply, batched by the kernel); only a pair still in the node needs deleting.
          [['netlab_del_unmoved', hostIf, podIf]],
        );
  return [
    create,
    step(
      `attach ${hostIf} to ${node.bridge}`,
      `"master ${node.bridge}" makes ${hostIf} a port of the bridge: frames entering ${hostIf} are switched by ${node.bridge}.`,
      [['ip', 'link', 'set', hostIf, 'master', node.bridge]],
    ),
    step(`bring up ${hostIf}`, 'The node end carries no address: it is only a bridge port, a cable end.', [
      ['ip', 'link', 'set', hostIf, 'up'],
    ]),
    ...podEndSteps(pod, vethPeer === 'move'),
    step(
      `route pod ${pod.name}'s other traffic via ${node.gateway.split('/')[0]}`,
      `The pod knows only its own subnet (the connected route); the default route sends everything else to the bridge address, where the node routes it on.`,
      [['ip', '-n', pod.netns, 'route', 'add', 'default', 'via', node.gateway.split('/')[0]!]],
    ),
  ];
}

/** Move a pod's end of a veth pair into the pod (unless it was made there), address it and bring it up. */
function podEndSteps(pod: ModelPod, move = true): StepDraft[] {
  const podIf = pod.podIf!;
  return [
    ...(move
      ? [
          step(
            `move ${podIf} into pod ${pod.name}`,
            `The interface leaves the node's namespace and appears only inside pod ${pod.name} (\`ip link\` in the node no longer shows it).`,
            [['ip', 'link', 'set', podIf, 'netns', pod.netns]],
          ),
        ]
      : []),
    step(
      `give pod ${pod.name} the address ${pod.address}`,
      `The prefix /${pod.address!.split('/')[1]} also installs the connected route: the rest of the subnet is reached directly on ${podIf}.`,
      [['ip', '-n', pod.netns, 'addr', 'add', pod.address!, 'dev', podIf]],
    ),
    step(`bring up ${podIf} in pod ${pod.name}`, 'Both ends of a veth pair must be up for frames to pass.', [
      ['ip', '-n', pod.netns, 'link', 'set', podIf, 'up'],
    ]),
  ];
}
