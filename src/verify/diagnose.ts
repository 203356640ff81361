// When a check fails (and whenever status asks): compare each node's live
// state with what the plan declares it made there (sysctls, links and whether
// they are up, routes, hairpin, static neighbour and FDB entries, iptables
// chains and jumps, pause processes) and say which node lacks what, naming the
// step that made it. Driven by the steps' declarations alone, so every lab
// and every wiring kind gets it without special cases; the node is asked once
// (node/query.ts), the comparison is pure.
import type { Transports } from '../exec/transports.js';
import type { Model } from '../model/lab.js';
import type { NodeFacts, Step } from '../model/plan.js';
import { type Answers, askNode, type Questions } from '../node/query.js';
import { routeKey } from '../node/tables.js';
import { quoteArgv } from '../os/quote.js';
import { buildPlan } from '../plan/build.js';
import { scriptPrelude } from '../shell/prelude.js';

export interface Finding {
  node: string;
  step: number;
  what: string;
  /** the step's summary: what it was for */
  summary: string;
}

/** What to ask a node to compare it with these steps. */
export function questionsFor(steps: readonly Step[]): Questions {
  const sets = steps.flatMap((s) => s.sets);
  const creates = steps.flatMap((s) => s.creates);
  return {
    links: true,
    routes: true,
    namespaces: true,
    neighbours: creates.some((c) => c.kind === 'neighbour'),
    fdb: creates.some((c) => c.kind === 'fdb'),
    sysctls: sets.flatMap((c) => (c.kind === 'sysctl' ? [c.key] : [])),
    iptables: creates.some((c) => c.kind === 'chain') || sets.some((c) => c.kind === 'jump'),
  };
}

/**
 * What differs between the steps' declarations and a node's answers. Objects
 * inside pods are not compared (the pod's namespace and pause process are),
 * nor links that a step moves into a pod.
 */
export function findingsOf(steps: readonly Step[], have: Partial<Answers>, pausesGone: ReadonlySet<string>) {
  const findings: { step: Step; what: string }[] = [];
  const links = new Map((have.links ?? []).map((l) => [l.ifname, l]));
  const routes = new Set((have.routes ?? []).map((r) => routeKey(r.dst)));
  const namespaces = new Set(have.namespaces ?? []);
  const rules = [...(have.iptables?.filter ?? []), ...(have.iptables?.nat ?? [])];
  const chains = {
    filter: new Set(
      (have.iptables?.filter ?? []).filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]),
    ),
    nat: new Set((have.iptables?.nat ?? []).filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0])),
  };
  const moved = new Set(steps.flatMap((s) => s.sets.flatMap((c) => (c.kind === 'moved' ? [c.link] : []))));
  for (const step of steps) {
    const lacks = (what: string) => findings.push({ step, what });
    for (const c of step.creates) {
      if ('netns' in c && c.netns) continue;
      if (c.kind === 'link' && !moved.has(c.name) && !links.has(c.name)) lacks(`link ${c.name} is missing`);
      else if (c.kind === 'netns' && !namespaces.has(c.name))
        lacks(`the network namespace of pod ${c.name} is missing`);
      else if (c.kind === 'pause' && pausesGone.has(c.pod)) lacks(`the pause process of pod ${c.pod} is gone`);
      else if (c.kind === 'route' && !routes.has(routeKey(c.dst))) lacks(`route ${c.dst} is missing`);
      else if (
        c.kind === 'neighbour' &&
        !(have.neighbours ?? []).some((n) => n.dst === c.address && n.dev === c.dev && n.mac === c.mac)
      )
        lacks(`the neighbour entry ${c.address} → ${c.mac} on ${c.dev} is missing or changed`);
      else if (
        c.kind === 'fdb' &&
        !(have.fdb ?? []).some((f) => f.mac === c.mac && f.ifname === c.dev && f.dst === c.dst)
      )
        lacks(`the FDB entry ${c.mac} → ${c.dst} on ${c.dev} is missing or changed`);
      else if (c.kind === 'chain' && !chains[c.table].has(c.name))
        lacks(`the iptables ${c.table === 'nat' ? 'nat ' : ''}chain ${c.name} is missing`);
    }
    for (const c of step.sets) {
      if ('netns' in c && c.netns && c.kind !== 'moved') continue;
      if (c.kind === 'sysctl') {
        const value = have.sysctls?.[c.key];
        if (value !== c.value)
          lacks(`${c.key} is ${value === '-' ? 'unset' : value}, but the lab sets it to ${c.value}`);
      } else if (c.kind === 'up' && !moved.has(c.link) && links.has(c.link) && !links.get(c.link)!.up)
        lacks(`link ${c.link} is down`);
      else if (c.kind === 'hairpin' && links.has(c.port) && links.get(c.port)!.hairpin !== c.on)
        lacks(`hairpin is ${c.on ? 'off' : 'on'} on ${c.port}`);
      else if (c.kind === 'jump' && !rules.some((r) => r.startsWith(`-A ${c.from} `) && r.endsWith(`-j ${c.to}`)))
        lacks(`the jump from ${c.from} to the lab chain ${c.to} is missing`);
    }
  }
  return findings;
}

export async function diagnose(
  model: Model,
  facts: Record<string, NodeFacts>,
  transports: Transports,
): Promise<Finding[]> {
  const plan = buildPlan(model, facts);
  const perNode = await Promise.all(
    plan.nodes.map(async (nodePlan) => {
      const pods = nodePlan.steps.flatMap((s) => s.creates.flatMap((c) => (c.kind === 'pause' ? [c.pod] : [])));
      // A pause process is asked after by the prelude's own reader (PID and start time).
      const pauses = pods.length
        ? [
            scriptPrelude(model.name),
            `for pod in ${quoteArgv(pods)}; do netlab_pause_pid "$pod" >/dev/null 2>&1 || echo "@@netlab pause-gone $pod"; done`,
          ]
        : [];
      const { head, answers } = await askNode(transports[nodePlan.node]!, [questionsFor(nodePlan.steps)], pauses);
      const gone = new Set([...head.matchAll(/^@@netlab pause-gone (\S+)$/gm)].map((m) => m[1]!));
      return findingsOf(nodePlan.steps, answers[0]!, gone).map(({ step, what }) => ({
        node: nodePlan.node,
        step: step.id,
        what,
        summary: step.summary,
      }));
    }),
  );
  return perNode.flat();
}

export function describeFindings(findings: Finding[]): string[] {
  if (findings.length === 0)
    return [
      'diagnosis: every node still has what the plan made (sysctls, links, routes, hairpin, static neighbour and FDB entries, iptables chains and jumps); look at the pods and the path (netlab exec)',
    ];
  return ['diagnosis:', ...findings.map((f) => `  ${f.node}: ${f.what} (step ${f.step}: ${f.summary})`)];
}
