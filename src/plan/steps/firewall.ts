// Forwarding must survive a host whose filter FORWARD policy is DROP (Docker
// sets it). With br_netfilter, even bridged pod-to-pod frames pass FORWARD. As
// flannel does (FLANNEL-FWD in article 003), netlab accepts the cluster CIDR in
// a chain it owns, jumped to from FORWARD; down removes the jump and the chain.
import type { Model } from '../../lab/model.js';
import { step, type StepDraft } from '../types.js';

export function forwardChain(lab: string): string {
  return `NETLAB-FWD-${lab}`;
}

export function forwardAcceptSteps(model: Model): StepDraft[] {
  const chain = forwardChain(model.name);
  return [
    step(
      `create the iptables chain ${chain}`,
      "netlab's rules live in a chain of their own: removing the chain removes exactly them, and nothing that was there before is touched.",
      [['iptables', '-w', '-N', chain]],
      [['iptables', '-w', '-X', chain]],
    ),
    step(
      `accept forwarded traffic from and to the cluster CIDR ${model.clusterCidr}`,
      'Pod traffic is forwarded by the node (and, with br_netfilter, even bridged traffic passes FORWARD): if the FORWARD policy is DROP, these ACCEPT rules let it through, as flannel does.',
      [
        ['iptables', '-w', '-A', chain, '-s', model.clusterCidr, '-j', 'ACCEPT'],
        ['iptables', '-w', '-A', chain, '-d', model.clusterCidr, '-j', 'ACCEPT'],
      ],
      [['iptables', '-w', '-F', chain]],
    ),
    step(
      `jump from FORWARD to ${chain}`,
      'Inserted first in FORWARD so that it is consulted before any DROP rule; removed exactly by down.',
      [['iptables', '-w', '-I', 'FORWARD', '1', '-m', 'comment', '--comment', `netlab lab ${model.name}`, '-j', chain]],
      [['iptables', '-w', '-D', 'FORWARD', '-m', 'comment', '--comment', `netlab lab ${model.name}`, '-j', chain]],
    ),
  ];
}
