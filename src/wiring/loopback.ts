// same-node: loopback — article 001 §2: the containers of one pod share its
// network namespace and talk over 127.0.0.1; pods have no other interface.
import type { Check } from '../model/lab.js';
import type { SameNodeWiring } from './types.js';

export const loopback: SameNodeWiring = {
  kind: 'loopback',
  describe: "pods have only lo: a pod's containers talk over 127.0.0.1",
  noAddress: 'a pod of a loopback lab has no address but 127.0.0.1; remove ip, or use same-node: veth or bridge',
  routesPodSubnet: false,
  graph: 'alone',
  steps: () => [],
  /** Two containers: one serves TCP on 127.0.0.1, the other connects; one container alone pings 127.0.0.1. */
  deriveChecks(pods) {
    const base = { expect: 'pass' as const, derived: true };
    return pods.map((pod): Check => {
      const [server, client] = pod.containers;
      return server && client
        ? {
            kind: 'tcp',
            from: { pod: pod.name, container: client.name },
            to: { pod: pod.name, container: server.name },
            toAddress: '127.0.0.1',
            port: 8080,
            ...base,
          }
        : { kind: 'ping', from: { pod: pod.name }, to: { address: '127.0.0.1' }, toAddress: '127.0.0.1', ...base };
    });
  },
};
