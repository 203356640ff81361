// Where a trace ends at something missing, the hint names the step of the
// lab's plan that makes it, with its command: found by the step's declarations
// (what it creates and sets) and shown from its effects, never by reading its argv.
import type { Model } from '../model/lab.js';
import type { Change, Command, Created, Plan, Step } from '../model/plan.js';
import type { Place } from '../node/tables.js';
import { quoteArgv } from '../os/quote.js';
import { applyOf, ipCommandOf } from '../model/effects.js';

type Declared = Created | Change;

/** The pod namespace a declaration lives in (undefined: the node's own). */
function netnsOf(declared: Declared): string | undefined {
  return 'netns' in declared && declared.kind !== 'moved' ? declared.netns : undefined;
}

/** A step's commands as run in the place: a pod's `ip -n NETNS …` reads `ip …`. */
function commandsIn(step: Step, netns: string | undefined): Command[] {
  return step.effects.flatMap((effect) => {
    const ip = ipCommandOf(effect);
    if (ip?.netns !== netns) return [];
    return ip ? [['ip', ...ip.args]] : applyOf(effect);
  });
}

/** The first step in `place`, and its declaration there, that matches. */
export function planned(
  model: Model,
  plan: Plan,
  place: Place,
  matches: (declared: Declared) => boolean,
): { step: Step; declared: Declared; netns: string | undefined } | undefined {
  const netns = place.pod ? model.pods.find((p) => p.name === place.pod)?.netns : undefined;
  for (const step of plan.nodes.find((n) => n.node === place.node)?.steps ?? [])
    for (const declared of [...step.creates, ...step.sets])
      if (netnsOf(declared) === netns && matches(declared)) return { step, declared, netns };
  return undefined;
}

/** "the lab WHAT with `command` (step N: summary)" for the first step whose declaration in `place` matches. */
export function plannedHint(
  model: Model,
  plan: Plan,
  place: Place,
  matches: (declared: Declared) => boolean,
  what: string,
): string | undefined {
  const found = planned(model, plan, place, matches);
  if (!found) return undefined;
  const { step, netns } = found;
  // A link made from the node straight into the pod (`… peer name X netns POD`) has no command
  // of its own there: shown as the node runs it.
  const inPlace = commandsIn(step, netns);
  // A whole ruleset (netlab_restore's input) would fill the screen: `plan` shows it.
  const shown = (inPlace.length ? inPlace : step.apply)
    .map((c) => quoteArgv(c.map((arg) => (arg.includes('\n') ? '…' : arg))))
    .join('; ');
  return `the lab ${what} with \`${shown}\` (step ${step.id}: ${step.summary})`;
}
