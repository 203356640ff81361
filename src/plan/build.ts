// buildPlan: Model + node facts → Plan. Pure. Each phase's steps come from the
// lab's wiring modules (src/wiring/); pods are the same for every lab.
import { labIdOf } from '../model/lab.js';
import type { Model } from '../model/lab.js';
import { type NodeFacts, PHASES, type Phase, type Plan, type Step, type StepDraft } from '../model/plan.js';
import { mtuSteps } from '../wiring/mtu.js';
import { crossNodeWiring, sameNodeWiring } from '../wiring/registry.js';
import { egress } from '../wiring/egress.js';
import { policies } from '../wiring/policies.js';
import { services } from '../wiring/services.js';
import { podSteps } from './steps/pods.js';

export function buildPlan(model: Model, facts: Record<string, NodeFacts>): Plan {
  const factsOf = (node: string) => {
    const found = facts[node];
    if (!found) throw new Error(`internal error: no facts for node ${node}`);
    return found;
  };
  const sameNode = sameNodeWiring(model.sameNode);
  const crossNode = crossNodeWiring(model.crossNode);
  return {
    lab: labIdOf(model),
    nodes: model.nodes.map((node) => {
      const drafts: Record<Phase, StepDraft[]> = {
        pods: model.pods.filter((p) => p.node === node.name).flatMap((pod) => podSteps(model, pod)),
        network: sameNode.steps(model, node),
        // Last, the pods' MTU: what the overlay's headers leave of the underlay's (wiring/mtu.ts).
        'cross-node': [
          ...crossNode.steps(model, node, factsOf),
          ...mtuSteps(model, node, { sameNode, crossNode }, facts),
        ],
        services: [...services.steps(model, node), ...egress.steps(model, node)],
        policies: policies.steps(model, node),
      };
      let id = 0;
      const steps: Step[] = PHASES.flatMap((phase) =>
        drafts[phase].map((draft) => ({ id: ++id, node: node.name, phase, ...draft })),
      );
      return { node: node.name, facts: factsOf(node.name), steps };
    }),
  };
}

/**
 * A lab's plan for one command, built the first time it is asked for and
 * then the same: verify's traceroute hops, its diagnosis and its traces all
 * read one plan, and a verify whose checks need none builds none.
 */
export type PlanOnce = () => Plan;

export function planOnce(model: Model, facts: Record<string, NodeFacts>): PlanOnce {
  let plan: Plan | undefined;
  return () => (plan ??= buildPlan(model, facts));
}

export function stepsOfPhase(steps: readonly Step[], phase: Phase): Step[] {
  return steps.filter((s) => s.phase === phase);
}
