// Egress to a host outside the cluster (article 002): a pod's packet for an
// address outside the cluster CIDR leaves its node with the node's own address
// as its source (MASQUERADE in nat POSTROUTING), because nothing outside the
// cluster has a route back to a pod address; conntrack remembers the
// translation and undoes it on the reply. The outside host sits on the
// underlay and knows the nodes' subnet only, like the router of a real
// cluster: on simulated nodes netlab starts it (at the underlay's .1, the
// article's gateway 192.168.64.1), on machines over SSH the lab names one
// (a Vagrant host is 192.168.56.1 on its host-only network).
import { kernelNameOf } from '../model/lab.js';
import { EXTENSIONS, labComment } from './netfilter.js';
import type { Model, ModelNode } from '../model/lab.js';
import type { StepDraft } from '../model/plan.js';
import { step } from '../model/effects.js';
import type { WiringParts } from './types.js';

export const egressChain = (lab: string) => `NL-EGRESS-${lab}`;

/** The rule every node masquerades egress with: in the egress chain, or in the Services' own when the lab has them. */
export const masqueradeRule = (model: Model) => [
  '-s',
  model.clusterCidr,
  '!',
  '-d',
  model.clusterCidr,
  '-j',
  'MASQUERADE',
];

function egressSteps(model: Model, _node: ModelNode): StepDraft[] {
  // A lab with Services masquerades egress already, in its NL-POSTROUTING chain.
  if (!model.outside || model.services.length) return [];
  const chain = egressChain(kernelNameOf(model));
  const rule = masqueradeRule(model);
  return [
    step(
      `create the nat chain ${chain}`,
      "The lab's egress rule lives in a chain of its own: removing the chain removes exactly it.",
      [{ kind: 'chain', table: 'nat', name: chain }],
    ),
    step(
      `masquerade what pods send outside the cluster CIDR ${model.clusterCidr}`,
      "Nothing outside the cluster has a route back to a pod address: a packet leaving for the outside gets the node's own address as its source (MASQUERADE: the address of the interface it leaves by), and conntrack gives the reply back to the pod. Traffic between pods keeps its addresses.",
      [
        {
          kind: 'rules',
          table: 'nat',
          chain,
          rules: [
            {
              rule,
              explain: `\`-s ${model.clusterCidr} ! -d ${model.clusterCidr} -j MASQUERADE\`: a packet from a pod to an address outside the cluster leaves with the address of the interface it leaves by as its source; conntrack undoes it on the reply.`,
            },
          ],
        },
      ],
    ),
    step(
      `jump from POSTROUTING to ${chain}`,
      'POSTROUTING runs last, once the route (and so the interface a packet leaves by) is known: where source NAT belongs.',
      [
        {
          kind: 'jump',
          table: 'nat',
          from: 'POSTROUTING',
          to: chain,
          comment: labComment(kernelNameOf(model)),
          first: false,
          explain: `\`iptables -t nat -A POSTROUTING … -j ${chain}\` sends every packet about to leave the node through the lab's chain; the comment marks the rule as netlab's.`,
        },
      ],
    ),
  ];
}

export const egress: WiringParts & { steps: typeof egressSteps } = {
  tools: ['iptables', 'conntrack'],
  extensions: [EXTENSIONS.MASQUERADE, EXTENSIONS.comment],
  steps: egressSteps,
  names: (model) => (model.outside && !model.services.length ? [egressChain(kernelNameOf(model))] : []),
  evidence: (model) =>
    model.outside
      ? [
          {
            title: 'connections conntrack translated: the original came from the pod, the reply goes to the node',
            // The entries whose reply goes to another address than the original came from: translated.
            argv: [
              'sh',
              '-c',
              `conntrack -L 2>/dev/null | awk '{ s = ""; n = 0; for (i = 1; i <= NF; i++) { if ($i ~ /^src=/ && s == "") s = substr($i, 5); if ($i ~ /^dst=/ && ++n == 2) d = substr($i, 5) } if (s != d) print }' | head -n 4`,
            ],
          },
        ]
      : [],
};
