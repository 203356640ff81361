// `netlab plan`: every command, per node and phase, each step with its reason.
import { PHASES, type Plan } from '../model/plan.js';
import { kernelNameOf, labIdOf, type Model } from '../model/lab.js';
import { describeRouter } from '../underlay/routing.js';
import { quoteArgv } from '../os/quote.js';
import { stepsOfPhase } from '../plan/build.js';
import { shownOf } from '../model/effects.js';

export function renderPlanText(
  model: Model,
  plan: Plan,
  targetLabel: string,
  explain = false,
  onlyPhase?: string,
): string {
  const out: string[] = [];
  out.push(`# lab ${labIdOf(model)}${model.description ? `: ${model.description}` : ''}`);
  if (kernelNameOf(model) !== labIdOf(model))
    out.push(
      `# kernel name: ${kernelNameOf(model)} (the lab's iptables chains, rule comments and directory on the nodes carry it: lab and instance names are longer than the kernel allows there)`,
    );
  out.push(
    `# target: ${targetLabel}; ${model.nodes.length} node(s), ${model.pods.length} pod(s), same-node: ${model.sameNode}, cross-node: ${model.crossNode}`,
  );
  out.push(
    '# netlab_* are small shell functions netlab sends with every script (see src/shell/prelude.ts); under each, after `#   = `, the plain commands it runs, to type by hand.',
  );
  out.push(...routedUnderlayLines(model));
  for (const nodePlan of plan.nodes) {
    const node = model.nodes.find((n) => n.name === nodePlan.node)!;
    out.push('');
    const network = model.underlay && node.underlay.network ? ` (network ${node.underlay.network})` : '';
    out.push(
      `## node ${node.name}: underlay ${nodePlan.facts.address} on ${nodePlan.facts.dev}${network}, pod subnet ${node.podSubnet}`,
    );
    if (nodePlan.steps.length === 0) out.push('#   (nothing to do on this node)');
    for (const phase of PHASES.filter((p) => onlyPhase === undefined || p === onlyPhase)) {
      const steps = stepsOfPhase(nodePlan.steps, phase);
      if (steps.length === 0) continue;
      out.push('');
      out.push(`### ${node.name} · phase ${phase}`);
      for (const step of steps) {
        out.push(`# [${step.id}] ${step.summary}: ${step.why}`);
        for (const effect of step.effects)
          for (const shown of shownOf(effect)) {
            if (shown.inPlace) out.push(shown.byHand.join('\n'));
            else out.push(quoteArgv(shown.command), ...shown.byHand.map((line) => `#   = ${line}`));
            if (explain) out.push(`#   ↳ ${shown.explain}`);
          }
      }
    }
  }
  return `${out.join('\n')}\n`;
}

export function planJson(model: Model, plan: Plan): object {
  return {
    lab: model.name,
    description: model.description,
    nodes: plan.nodes.map((n) => ({
      node: n.node,
      facts: n.facts,
      phases: PHASES.map((phase) => ({
        phase,
        steps: stepsOfPhase(n.steps, phase).map(({ id, summary, why, apply, undo }) => ({
          id,
          summary,
          why,
          apply,
          undo,
        })),
      })).filter((p) => p.steps.length > 0),
    })),
  };
}

/** A routed underlay is the target's, not the lab's steps: said once, above the nodes' plans. */
function routedUnderlayLines(model: Model): string[] {
  if (!model.underlay) return [];
  return [
    `# underlay: ${model.underlay.networks.map((n) => `network ${n.name} ${n.cidr}`).join(', ')}; on simulated nodes netlab makes them, the routers and each node's routes to the other networks; over SSH they are the machines' own`,
    ...model.underlay.routers.map(
      (r) => `# ${describeRouter(r)}${r.podRoutes ? '' : ' (a real underlay knows node networks only)'}`,
    ),
  ];
}
