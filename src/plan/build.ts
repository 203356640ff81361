// buildPlan: Model + node facts → Plan. Pure.
import type { Model } from '../lab/model.js';
import { podSteps } from './steps/pods.js';
import { bridgePortSteps, bridgeSteps, vethPairSteps } from './steps/same-node.js';
import { crossNodeSteps } from './steps/cross-node.js';
import { forwardAcceptSteps } from './steps/firewall.js';
import { serviceSteps } from './steps/services.js';
import { PHASES, type NodeFacts, type Phase, type Plan, type Step, type StepDraft } from './types.js';

export function buildPlan(model: Model, facts: Record<string, NodeFacts>): Plan {
  const factsOf = (node: string) => {
    const found = facts[node];
    if (!found) throw new Error(`internal error: no facts for node ${node}`);
    return found;
  };
  return {
    lab: model.name,
    nodes: model.nodes.map((node) => {
      const pods = model.pods.filter((p) => p.node === node.name);
      const drafts: Record<Phase, StepDraft[]> = {
        pods: pods.flatMap((pod) => podSteps(model, pod)),
        network: [],
        'cross-node': crossNodeSteps(model, node, factsOf),
        services: serviceSteps(model, node),
      };
      if (model.sameNode === 'bridge' && (pods.length > 0 || model.crossNode !== 'none')) {
        drafts.network = [
          ...bridgeSteps(node),
          ...pods.flatMap((pod) => bridgePortSteps(node, pod, model.vethPeer)),
          ...forwardAcceptSteps(model),
        ];
      } else if (model.sameNode === 'veth' && pods.length === 2) {
        drafts.network = vethPairSteps(pods[0]!, pods[1]!);
      }
      let id = 0;
      const steps: Step[] = PHASES.flatMap((phase) =>
        drafts[phase].map((draft) => ({ id: ++id, node: node.name, phase, ...draft })),
      );
      return { node: node.name, facts: factsOf(node.name), steps };
    }),
  };
}

export function stepsOfPhase(steps: readonly Step[], phase: Phase): Step[] {
  return steps.filter((s) => s.phase === phase);
}
