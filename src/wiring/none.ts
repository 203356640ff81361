// cross-node: none — every node's pods are on their own: nothing joins the nodes.
import type { CrossNodeWiring } from './types.js';

export const none: CrossNodeWiring = {
  kind: 'none',
  describe: 'nodes are not joined: pods reach only pods on their own node',
  steps: () => [],
};
