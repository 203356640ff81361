// The pods' MTU, as CNIs set it on an overlay (flannel's subnet.env says
// FLANNEL_MTU=1450 over a 1500-byte underlay, and its cni0, veths and pods all
// get 1450): a tunnel wraps every pod packet in headers of its own, and the
// outer packet must fit the underlay interface's MTU, so a pod packet may be at
// most the underlay's MTU less those headers. With pods left at 1500, TCP picks
// segments that do not fit, and a bridge or veth drops a frame too large for
// the link it leaves by without a word (only a router answers "fragmentation
// needed"): small pings pass and bulk transfers hang.
import type { Model, ModelNode, ModelPod } from '../model/lab.js';
import type { NodeFacts, StepDraft } from '../model/plan.js';
import { step } from '../model/effects.js';
import type { CrossNodeWiring, SameNodeWiring } from './types.js';
import { ETHERNET_MTU } from '../net/ethernet.js';

/** `wiring.mtu`: from IPv4's smallest datagram every host must take (RFC 791) to a jumbo frame. */
export const MTU_RANGE = { min: 576, max: 9000 } as const;

export interface PodMtu {
  mtu: number;
  /** the numbers behind it, for the plan's why */
  why: string;
}

/**
 * The MTU of the lab's pods, and why; undefined where nothing sets one (no
 * overlay and no wiring.mtu, or a lab that went up before netlab read the
 * underlay's MTU: its state has none, and its pods were given none). One for
 * every node, from the smallest underlay: a packet from a pod on a node with
 * jumbo frames must fit the other nodes' underlay too.
 */
export function podMtu(model: Model, crossNode: CrossNodeWiring, facts: Record<string, NodeFacts>): PodMtu | undefined {
  const known = Object.values(facts);
  if (model.mtu === undefined && known.some((f) => f.mtu === undefined)) return undefined;
  const smallest = known.reduce<NodeFacts | undefined>(
    (a, f) => (!a || (f.mtu ?? ETHERNET_MTU) < (a.mtu ?? ETHERNET_MTU) ? f : a),
    undefined,
  );
  if (!smallest) return undefined;
  const underlay = smallest.mtu ?? ETHERNET_MTU;
  const wrap = crossNode.encapsulation;
  const fits = wrap ? underlay - wrap.bytes : underlay;
  const sum = wrap
    ? `cross-node: ${crossNode.kind} wraps every pod packet in ${wrap.bytes} bytes (${wrap.headers}), and the outer packet must fit ${smallest.dev}'s MTU of ${underlay}: a pod packet may be at most ${underlay} - ${wrap.bytes} = ${fits} bytes.`
    : `${smallest.dev}'s MTU is ${underlay}.`;
  if (model.mtu !== undefined)
    return {
      mtu: model.mtu,
      why: `The lab sets wiring.mtu: ${model.mtu}. ${sum}${model.mtu > fits ? ` At ${model.mtu}, a full-size packet does not fit: it is dropped where it meets the smaller link, and a bulk transfer hangs while small pings pass.` : ''}`,
    };
  return wrap
    ? {
        mtu: fits,
        why: `${sum} So the bridge, the pods' veths and the pods get ${fits}, as flannel and Calico set it, and TCP in the pods picks segments that fit.`,
      }
    : undefined;
}

/**
 * `gso_max_segs 1` on a pod's interface: the pod's TCP hands the kernel one
 * segment at a time, as over a NIC without segmentation offload. Otherwise
 * TCP sends 64 KB packets that a veth passes whatever its MTU, cut to size
 * only when they leave the node, and a wrong MTU would go unseen.
 *
 * A pod's veth, both ends; `why` says the numbers where no bridge step said them first.
 */
function podSteps(pod: ModelPod, mtu: number, why: string): StepDraft {
  const podIf = pod.podIf!;
  return step(
    `give pod ${pod.name}'s veth the MTU ${mtu}`,
    `${why}Both ends of the pod's veth get ${mtu}, so that the pod's TCP sends segments that fit. The pod's end hands the kernel one TCP segment at a time (gso_max_segs 1), as a NIC without offload does, so that a packet too large is dropped where it meets a smaller link, as on a wire.`,
    [
      ...(pod.hostIf ? [{ kind: 'mtu' as const, link: pod.hostIf, mtu }] : []),
      { kind: 'mtu', link: podIf, netns: pod.netns, mtu, oneSegment: true },
    ],
  );
}

/** The steps that give a node's bridge and pods the pods' MTU (none where nothing sets one). */
export function mtuSteps(
  model: Model,
  node: ModelNode,
  wiring: { sameNode: SameNodeWiring; crossNode: CrossNodeWiring },
  facts: Record<string, NodeFacts>,
): StepDraft[] {
  const { sameNode, crossNode } = wiring;
  const found = podMtu(model, crossNode, facts);
  if (!found || !sameNode.podInterfaces) return [];
  const pods = model.pods.filter((p) => p.node === node.name && p.podIf);
  const bridge = sameNode.routesPodSubnet
    ? [
        step(
          `give ${node.bridge} the MTU ${found.mtu}`,
          `${found.why} The bridge's own MTU is what the node's packets routed into the pod subnet must fit.`,
          [{ kind: 'mtu', link: node.bridge, mtu: found.mtu }],
        ),
      ]
    : [];
  const why = bridge.length ? '' : `${found.why} `;
  return [...bridge, ...pods.map((pod) => podSteps(pod, found.mtu, why))];
}
