// cross-node: routes — article 001 §4.1: each node routes the other nodes' pod
// subnets to their underlay addresses, as plain, unencapsulated IP. Works only
// where the underlay carries pod addresses (one L2 segment, or routers that
// know the pod routes). On a routed underlay, a node on another network is
// reached through the first router on the way, which must then know the pod
// subnets: a real underlay's routers do not (underlay/routing.ts).
import { step } from '../model/effects.js';
import { underlayNextHop } from '../underlay/routing.js';
import { forwardingStep, podRoute, remotePodRoute } from './shared.js';
import type { CrossNodeWiring } from './types.js';

export const routes: CrossNodeWiring = {
  kind: 'routes',
  describe: "a static route per node: the other nodes' pod subnets via their underlay addresses, unencapsulated",
  tools: ['sysctl'],
  routesOverUnderlay: true,
  steps(model, node, factsOf) {
    const others = model.nodes.filter((n) => n !== node);
    return [
      forwardingStep(),
      ...others.map((other) => {
        const { address, router } = underlayNextHop(model, node.name, other.name, (n) => factsOf(n).address);
        return step(
          router
            ? `route ${other.podSubnet} via router ${router} (${address}) towards ${other.name}`
            : `route ${other.podSubnet} via ${other.name} (${address})`,
          router
            ? `${other.name} is on another network of the underlay: packets for its pods go to the router ${router} as plain, unencapsulated IP, and get further only if ${router} has a route to ${other.podSubnet} (a real underlay's routers know node networks, not pod subnets: why overlays exist).`
            : `Packets for ${other.name}'s pods go to ${other.name}'s underlay address as plain, unencapsulated IP: the underlay must accept pod addresses (one route per node, O(N)).`,
          [podRoute(other.podSubnet, address)],
        );
      }),
    ];
  },
  evidence: remotePodRoute,
};
