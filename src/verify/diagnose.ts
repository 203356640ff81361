// When a check fails (and whenever status asks): compare each node's live
// state with what the plan declares it made there (sysctls, links and whether
// they are up, their MTU, addresses, routes, hairpin, static neighbour and FDB entries, iptables
// chains and jumps, pause processes) and say which node lacks what, naming the
// step that made it. Driven by the steps' declarations alone, so every lab
// and every wiring kind gets it without special cases; the node is asked once
// (node/query.ts), the comparison is pure.
import { labIdOf } from '../model/lab.js';
import { ruleLine } from '../model/effects.js';
import type { Transports } from '../exec/transports.js';
import type { Model } from '../model/lab.js';
import type { Created, NodeFacts, Step } from '../model/plan.js';
import { type Answers, askNode, type Questions } from '../node/query.js';
import { dropsBeforeJump, routeKey, ruleKey, type Route } from '../node/tables.js';
import { quoteArgv } from '../os/quote.js';
import { planOnce, type PlanOnce } from '../plan/build.js';
import { escapeControls } from '../errors.js';
import { scriptPrelude } from '../shell/prelude.js';

export interface Finding {
  node: string;
  step: number;
  what: string;
  /** the step's summary: what it was for */
  summary: string;
  /** the destination, when what is missing is a route of the node out of a pod bridge (a redirect may hide it) */
  route?: string;
}

/** What to ask a node to compare it with these steps. */
export function questionsFor(steps: readonly Step[]): Questions {
  const sets = steps.flatMap((s) => s.sets);
  const creates = steps.flatMap((s) => s.creates);
  return {
    links: true,
    addresses: creates.some((c) => c.kind === 'address' && !c.netns),
    routes: true,
    namespaces: true,
    neighbours: creates.some((c) => c.kind === 'neighbour'),
    fdb: creates.some((c) => c.kind === 'fdb'),
    sysctls: sets.flatMap((c) => (c.kind === 'sysctl' ? [c.key] : [])),
    iptables: creates.some((c) => c.kind === 'chain' || c.kind === 'rule') || sets.some((c) => c.kind === 'jump'),
  };
}

/**
 * What differs between the steps' declarations and a node's answers, and the
 * answers of the pods' namespaces that were asked (podFindings).
 */
export function findingsOf(
  steps: readonly Step[],
  have: Partial<Answers>,
  pausesGone: ReadonlySet<string>,
  inPods: ReadonlyMap<string, Partial<Answers>> = new Map(),
) {
  const findings: { step: Step; what: string; route?: string }[] = [];
  const links = new Map((have.links ?? []).map((l) => [l.ifname, l]));
  const routes = new Set((have.routes ?? []).map((r) => routeKey(r.dst)));
  const addresses = have.addresses && new Set(have.addresses.map((a) => `${a.ifname} ${a.address}/${a.prefix}`));
  const namespaces = new Set(have.namespaces ?? []);
  const rules = [...(have.iptables?.filter.rules ?? []), ...(have.iptables?.nat.rules ?? [])];
  const chains = {
    filter: new Set(have.iptables?.filter.chains.keys() ?? []),
    nat: new Set(have.iptables?.nat.chains.keys() ?? []),
  };
  // A pod's packet leaves such a route by the bridge it came in by: the node may have sent the pod an ICMP redirect.
  const bridges = new Set(steps.flatMap((s) => s.sets.flatMap((c) => (c.kind === 'master' ? [c.bridge] : []))));
  const moved = new Set(steps.flatMap((s) => s.sets.flatMap((c) => (c.kind === 'moved' ? [c.link] : []))));
  for (const step of steps) {
    const lacks = (what: string, route?: string) => findings.push({ step, what, ...(route ? { route } : {}) });
    for (const c of step.creates) {
      if ('netns' in c && c.netns) continue;
      if (c.kind === 'link' && !moved.has(c.name) && !links.has(c.name)) lacks(`link ${c.name} is missing`);
      else if (c.kind === 'link' && c.tunnel) {
        // ip -d link's info_data: the VNI as "id", the UDP port as "port".
        const data = links.get(c.name)?.data ?? {};
        if (typeof data.id === 'number' && data.id !== c.tunnel.vni)
          lacks(`${c.name} has VNI ${data.id}, but the lab makes it with VNI ${c.tunnel.vni}`);
        if (typeof data.port === 'number' && data.port !== c.tunnel.port)
          lacks(`${c.name} sends to UDP port ${data.port}, but the lab makes it with port ${c.tunnel.port}`);
      } else if (c.kind === 'netns' && !namespaces.has(c.name))
        lacks(`the network namespace of pod ${c.name} is missing`);
      else if (c.kind === 'pause' && pausesGone.has(c.pod)) lacks(`the pause process of pod ${c.pod} is gone`);
      else if (c.kind === 'route' && !routes.has(routeKey(c.dst)))
        lacks(`route ${c.dst} is missing`, c.dev && bridges.has(c.dev) ? c.dst : undefined);
      else if (
        c.kind === 'route' &&
        !(have.routes ?? []).some((r) => routeKey(r.dst) === routeKey(c.dst) && routeIs(r, c))
      )
        lacks(routeChanged(c, have.routes ?? []));
      else if (c.kind === 'address' && addresses && links.has(c.dev) && !addresses.has(`${c.dev} ${c.address}`))
        lacks(`${c.dev} lacks the address ${c.address}`);
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
      else if (
        c.kind === 'master' &&
        !moved.has(c.link) &&
        links.has(c.link) &&
        links.get(c.link)!.master !== c.bridge
      ) {
        const master = links.get(c.link)!.master;
        lacks(`${c.link} is not a port of ${c.bridge}${master ? ` (it is a port of ${master})` : ''}`);
      } else if (c.kind === 'hairpin' && links.has(c.port) && links.get(c.port)!.hairpin !== c.on)
        lacks(`hairpin is ${c.on ? 'off' : 'on'} on ${c.port}`);
      else if (c.kind === 'mtu' && !moved.has(c.link) && links.get(c.link)?.mtu && links.get(c.link)!.mtu !== c.mtu)
        lacks(`${c.link}'s MTU is ${links.get(c.link)!.mtu}, but the lab sets ${c.mtu}`);
      else if (c.kind === 'jump' && !rules.some((r) => r.chain === c.from && r.target === c.to))
        lacks(`the jump from ${c.from} to the lab chain ${c.to} is missing`);
      else if (c.kind === 'jump' && c.table === 'filter') {
        // The lab inserts its jump first: a DROP or REJECT before it is met before the lab's ACCEPTs.
        const drop = dropsBeforeJump(have.iptables?.filter.rules ?? [], c.from, c.to)[0]?.text;
        if (drop)
          lacks(`a rule the lab did not make drops or rejects in ${c.from} before the jump to ${c.to}: \`${drop}\``);
      }
    }
  }
  findings.push(...jumpOrderFindings(steps, have), ...ruleFindings(steps, have, chains), ...podFindings(steps, inPods));
  return findings.sort((a, b) => a.step.id - b.step.id);
}

/** A live route is the one the lab declares: through its gateway and its device, where it names them. */
function routeIs(live: Route, declared: { via?: string; dev?: string }): boolean {
  return (
    (declared.via === undefined || live.gateway === declared.via) &&
    (declared.dev === undefined || live.dev === declared.dev)
  );
}

/** A route that is there, but another way than the lab made it: where it goes now, and where the lab sends it. */
function routeChanged(declared: { dst: string; via?: string; dev?: string }, live: readonly Route[]): string {
  const way = (r: { gateway?: string; via?: string; dev?: string }) =>
    [(r.gateway ?? r.via) && `via ${r.gateway ?? r.via}`, r.dev && `dev ${r.dev}`].filter(Boolean).join(' ');
  const now = live.find((r) => routeKey(r.dst) === routeKey(declared.dst))!;
  return `route ${declared.dst} goes ${way(now) || 'elsewhere'}, but the lab routes it ${way(declared)}`;
}

/**
 * Inside each pod that was asked (its namespace is there): the links the
 * steps make or move there, whether they are up, and the routes they add (the
 * pod's default route), and their MTU. Addresses are not compared: a pod without its address
 * has lost its connected route too, which is.
 */
function podFindings(steps: readonly Step[], inPods: ReadonlyMap<string, Partial<Answers>>) {
  const findings: { step: Step; what: string }[] = [];
  for (const step of steps) {
    for (const c of [...step.creates, ...step.sets]) {
      const netns = 'netns' in c ? c.netns : undefined;
      const pod = netns === undefined ? undefined : inPods.get(netns);
      if (!pod) continue;
      const lacks = (what: string) => findings.push({ step, what: `in pod namespace ${netns}: ${what}` });
      const link = (name: string) => pod.links?.find((l) => l.ifname === name);
      if ((c.kind === 'link' || c.kind === 'moved') && !link(c.kind === 'link' ? c.name : c.link))
        lacks(`link ${c.kind === 'link' ? c.name : c.link} is missing`);
      else if (c.kind === 'up' && link(c.link) && !link(c.link)!.up) lacks(`link ${c.link} is down`);
      else if (c.kind === 'mtu' && link(c.link)?.mtu && link(c.link)!.mtu !== c.mtu)
        lacks(`${c.link}'s MTU is ${link(c.link)!.mtu}, but the lab sets ${c.mtu}`);
      else if (c.kind === 'route' && !pod.routes?.some((r) => routeKey(r.dst) === routeKey(c.dst)))
        lacks(`route ${c.dst} is missing`);
      else if (c.kind === 'route' && !pod.routes?.some((r) => routeKey(r.dst) === routeKey(c.dst) && routeIs(r, c)))
        lacks(routeChanged(c, pod.routes ?? []));
    }
  }
  return findings;
}

/**
 * The lab's jumps out of one filter chain stand in the order its steps put
 * them: each is inserted first, so a later step's jump stands before an
 * earlier one's (the policies before the ACCEPT of the cluster CIDR, which
 * would otherwise accept everything before a policy is consulted).
 */
function jumpOrderFindings(steps: readonly Step[], have: Partial<Answers>): { step: Step; what: string }[] {
  const jumps = steps.flatMap((step) =>
    step.sets.flatMap((c) => (c.kind === 'jump' && c.table === 'filter' ? [{ step, from: c.from, to: c.to }] : [])),
  );
  const findings: { step: Step; what: string }[] = [];
  for (const from of new Set(jumps.map((j) => j.from))) {
    const ours = jumps.filter((j) => j.from === from).reverse();
    const live = (have.iptables?.filter.rules ?? []).filter((r) => r.chain === from);
    const at = ours.map((j) => live.findIndex((r) => r.target === j.to));
    if (ours.length < 2 || at.some((i) => i < 0)) continue;
    for (let i = 1; i < ours.length; i++)
      if (at[i]! < at[i - 1]!)
        findings.push({
          step: ours[i - 1]!.step,
          what: `the jump from ${from} to ${ours[i - 1]!.to} stands after the jump to ${ours[i]!.to}, but the lab puts it before`,
        });
  }
  return findings;
}

type RuleDeclared = Extract<Created, { kind: 'rule' }>;
const ruleText = (chain: string, args: readonly string[]) => `\`${ruleLine(chain, args)}\``;

/**
 * The rules in each of the lab's own chains against the rules the steps
 * append there, compared in iptables' own words (ruleKey): a rule missing, one
 * the lab did not make (a rule changed is both), or the same rules in another
 * order (which matters: the Services' cascade and a DROP before an ACCEPT).
 */
function ruleFindings(
  steps: readonly Step[],
  have: Partial<Answers>,
  chains: Record<'filter' | 'nat', Set<string>>,
): { step: Step; what: string }[] {
  const findings: { step: Step; what: string }[] = [];
  const byChain = new Map<string, { step: Step; rule: RuleDeclared }[]>();
  for (const step of steps)
    for (const c of step.creates)
      if (c.kind === 'rule') {
        const key = `${c.table} ${c.chain}`;
        byChain.set(key, [...(byChain.get(key) ?? []), { step, rule: c }]);
      }
  for (const declared of byChain.values()) {
    const { table, chain } = declared[0]!.rule;
    if (!chains[table].has(chain)) continue; // said above: the chain is missing
    const where = `the iptables ${table === 'nat' ? 'nat ' : ''}chain ${chain}`;
    const live = (have.iptables?.[table].rules ?? []).filter((r) => r.chain === chain);
    const liveKeys = live.map((r) => ruleKey(r.args));
    const unmatched = [...liveKeys];
    const before = findings.length;
    for (const { step, rule } of declared) {
      const at = unmatched.indexOf(ruleKey(rule.rule));
      if (at >= 0) unmatched.splice(at, 1);
      else findings.push({ step, what: `${where} lacks the rule ${ruleText(chain, rule.rule)}` });
    }
    for (const key of unmatched) {
      const extra = live[liveKeys.indexOf(key)]!;
      findings.push({
        step: declared[0]!.step,
        what: `${where} has a rule the lab did not make: ${ruleText(chain, extra.args)}`,
      });
    }
    const inOrder = declared.map((d) => ruleKey(d.rule.rule)).join('\n') === liveKeys.join('\n');
    if (!inOrder && findings.length === before && liveKeys.length === declared.length)
      findings.push({ step: declared[0]!.step, what: `the rules of ${where} are not in the order the lab made them` });
  }
  return findings;
}

/**
 * Up to this many pods per node are looked inside (two `ip` commands each);
 * on a node with more (the scale lab), only the node's own objects are compared.
 */
const POD_DRIFT_LIMIT = 100;

/**
 * What to ask one node: its own objects (questionsFor), links and routes
 * inside each pod's namespace (up to POD_DRIFT_LIMIT of them), and, first, the
 * pause processes that are gone ("@@netlab pause-gone POD" lines).
 */
export function nodeDriftQuestions(
  lab: string,
  steps: readonly Step[],
): { asks: Questions[]; head: string[]; asked: string[] } {
  const pods = steps.flatMap((s) => s.creates.flatMap((c) => (c.kind === 'pause' ? [c.pod] : [])));
  // A pause process is asked after by the prelude's own reader (PID and start time).
  const head = pods.length
    ? [
        scriptPrelude(lab),
        `for pod in ${quoteArgv(pods)}; do netlab_pause_pid "$pod" >/dev/null 2>&1 || echo "@@netlab pause-gone $pod"; done`,
      ]
    : [];
  const namespaces = steps.flatMap((s) => s.creates.flatMap((c) => (c.kind === 'netns' ? [c.name] : [])));
  const asked = namespaces.length <= POD_DRIFT_LIMIT ? namespaces : [];
  return {
    asks: [questionsFor(steps), ...asked.map((netns) => ({ netns, links: true, routes: true }))],
    head,
    asked,
  };
}

/** One node's findings from its answers to nodeDriftQuestions (the node's first, then each pod asked, in order). */
export function nodeDriftFindings(
  node: string,
  steps: readonly Step[],
  asked: readonly string[],
  head: string,
  answers: readonly Partial<Answers>[],
): Finding[] {
  const gone = new Set([...head.matchAll(/^@@netlab pause-gone (\S+)$/gm)].map((m) => m[1]!));
  const [own, ...inside] = answers;
  // A namespace that is gone answers nothing: its finding is the namespace's own.
  const present = new Set(own!.namespaces ?? []);
  const inPods = new Map(asked.flatMap((netns, i) => (present.has(netns) ? [[netns, inside[i]!] as const] : [])));
  return findingsOf(steps, own!, gone, inPods).map(({ step, what, route }) => ({
    node,
    step: step.id,
    what,
    summary: step.summary,
    ...(route ? { route } : {}),
  }));
}

/** What the nodes have that differs from the plan, and the nodes that did not answer (of which nothing is known). */
export interface Diagnosis {
  findings: Finding[];
  /** "NODE: why", for each node whose answer did not come back whole (a lost connection, a shell that died) */
  unanswered: string[];
}

export async function diagnose(
  model: Model,
  facts: Record<string, NodeFacts>,
  transports: Transports,
  planOf: PlanOnce = planOnce(model, facts),
): Promise<Diagnosis> {
  const perNode = await Promise.all(
    planOf().nodes.map(async ({ node, steps }) => {
      const { asks, head, asked } = nodeDriftQuestions(labIdOf(model), steps);
      const answered = await askNode(transports[node]!, asks, head);
      // An answer cut short reads as a node with nothing: every step of it would be "missing".
      if (answered.failed) return { findings: [], unanswered: [`${node}: ${answered.failed}`] };
      return { findings: nodeDriftFindings(node, steps, asked, answered.head, answered.answers), unanswered: [] };
    }),
  );
  return { findings: perNode.flatMap((n) => n.findings), unanswered: perNode.flatMap((n) => n.unanswered) };
}

export function describeFindings(findings: Finding[], unanswered: readonly string[] = []): string[] {
  if (findings.length === 0 && unanswered.length === 0)
    return [
      'diagnosis: every node still has what the plan made (sysctls, links, routes, hairpin, static neighbour and FDB entries, iptables chains and jumps); look at the pods and the path (netlab exec)',
    ];
  // What differs is in the node's words (a link's name), and why a node did not answer in its own: escaped.
  return [
    'diagnosis:',
    ...findings.map((f) => `  ${f.node}: ${escapeControls(f.what, true)} (step ${f.step}: ${f.summary})`),
    ...unanswered.map((u) => `  ${escapeControls(u, true)} (did not answer: what it has is not known)`),
  ];
}

/**
 * What to add when a node lacks a route: a pod that was sent an ICMP redirect
 * (on a segment its gateway shares with the next hop) keeps it in its route
 * cache for about 5 minutes (net.ipv4.route.gc_timeout) and still gets through.
 */
export function cachedRedirectCaveat(findings: readonly Finding[]): string[] {
  const missing = findings.filter((f) => f.route);
  if (missing.length === 0) return [];
  const routes = missing.map((f) => `${f.node} has no route to ${f.route}`).join(', ');
  return [
    `  a check may pass now through a cached ICMP redirect and fail when the cache expires (about 5 minutes), because ${routes}; \`netlab trace\` says when a path works only through the cache`,
  ];
}
