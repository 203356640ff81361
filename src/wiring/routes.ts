// cross-node: routes — article 001 §4.1: each node routes the other nodes' pod
// subnets to their underlay addresses, as plain, unencapsulated IP. Works only
// where the underlay carries pod addresses (one L2 segment, or routers that
// know the pod routes).
import { step } from '../model/plan.js';
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
        const address = factsOf(other.name).address;
        return step(
          `route ${other.podSubnet} via ${other.name} (${address})`,
          `Packets for ${other.name}'s pods go to ${other.name}'s underlay address as plain, unencapsulated IP: the underlay must accept pod addresses (one route per node, O(N)).`,
          [['ip', 'route', 'add', other.podSubnet, 'via', address]],
          [['ip', 'route', 'del', other.podSubnet, 'via', address]],
          { creates: [podRoute(other.podSubnet, address)] },
        );
      }),
    ];
  },
  evidence: remotePodRoute,
};
