// How big a lab may be: the counts its file asks for, read from the raw data
// before the schema (whatever their types), and what it expands to, counted
// from the model before anything is planned. A lab over a bound is refused
// with the count and the bound, in well under a second, whatever its size.
import type { LabIssue } from '../errors.js';
import { LAB_LIMITS } from '../model/grammar.js';
import type { Model } from '../model/lab.js';
import { policyRuleCounts } from '../wiring/policies.js';
import type { Locator } from './document.js';

const LIMIT = "(netlab's limit for one lab)";

/** Entries of a list or mapping; 0 for anything else. */
const count = (value: unknown) =>
  Array.isArray(value) ? value.length : value !== null && typeof value === 'object' ? Object.keys(value).length : 0;

const entries = (value: unknown): unknown[] =>
  value !== null && typeof value === 'object' ? Object.values(value as object) : [];

/** Peers of every rule of every policy (from: of ingress, to: of egress), however the file types them. */
function policyPeers(policies: unknown): number {
  return entries(policies).reduce((sum: number, policy) => {
    const rules = (key: string) => entries((policy as Record<string, unknown> | null)?.[key]);
    const peers = [...rules('ingress').map((r) => (r as { from?: unknown } | null)?.from)];
    peers.push(...rules('egress').map((r) => (r as { to?: unknown } | null)?.to));
    return sum + peers.reduce((n: number, list) => n + count(list), 0);
  }, 0);
}

/** The lab's size against LAB_LIMITS, read from the raw data (before the schema, whatever its types). */
export function checkBounds(data: Record<string, unknown>, file: string, locate: Locator): LabIssue[] {
  const counted = entries(data.nodes).reduce((sum: number, node: unknown) => {
    const pods = (node as { pods?: unknown } | null)?.pods;
    return sum + (typeof pods === 'number' && Number.isFinite(pods) && pods > 0 ? pods : 0);
  }, 0);
  const underlay = (data.underlay ?? {}) as Record<string, unknown>;
  const limits: [string[], number, number, string][] = [
    [['nodes'], count(data.nodes), LAB_LIMITS.nodes, 'nodes'],
    [['pods'], count(data.pods) + counted, LAB_LIMITS.pods, 'pods (listed under pods: and counted by nodes.X.pods)'],
    [['underlay', 'routers'], count(underlay.routers), LAB_LIMITS.routers, 'routers'],
    [['underlay', 'networks'], count(underlay.networks), LAB_LIMITS.networks, 'networks'],
    [['services'], count(data.services), LAB_LIMITS.services, 'services'],
    [['policies'], count(data.policies), LAB_LIMITS.policies, 'policies'],
    [['policies'], policyPeers(data.policies), LAB_LIMITS.policyPeers, 'peers in the rules of all policies'],
    [['verify'], count(data.verify), LAB_LIMITS.checks, 'checks'],
  ];
  return limits
    .filter(([, found, max]) => found > max)
    .map(([path, found, max, what]) => ({
      file,
      ...locate(path, 'key'),
      path: path.join('.'),
      message: `found ${found} ${what}; allowed: at most ${max} ${LIMIT}`,
    }));
}

/**
 * What the lab expands to, counted from the model before it is planned: the
 * iptables rules of the policy chains, on each node and on all together, and
 * the checks verify would run when the lab lists none.
 */
export function checkExpansion(model: Model, file: string, locate: Locator): LabIssue[] {
  const issue = (path: string[], message: string): LabIssue => ({
    file,
    ...locate(path, 'key'),
    path: path.join('.'),
    message,
  });
  return expansionProblems(model).map(([path, message]) => issue(path, message));
}

/**
 * A model that came from elsewhere than a lab file (a node's record of a lab, which anyone root there can write)
 * against the same bounds: the peers of its policies, then what it expands to. "field: what is wrong", or none.
 */
export function modelBoundProblem(model: Model): string | undefined {
  const peers = (model.policies ?? []).reduce(
    (n, p) => n + [...p.ingress, ...p.egress].reduce((m, rule) => m + rule.peers.length, 0),
    0,
  );
  if (peers > LAB_LIMITS.policyPeers)
    return `policies: found ${peers} peers in the rules of all policies; allowed: at most ${LAB_LIMITS.policyPeers} ${LIMIT}`;
  const [problem] = expansionProblems(model);
  return problem && `${problem[0].join('.')}: ${problem[1]}`;
}

function expansionProblems(model: Model): [string[], string][] {
  return [...policyRuleProblems(model), ...derivedCheckProblems(model)];
}

/** Policy rules over the bounds: on each node over its bound, or else on all nodes together. */
function policyRuleProblems(model: Model): [string[], string][] {
  const counts = [...policyRuleCounts(model)];
  const allowed = `allowed: at most ${LAB_LIMITS.policyRulesPerNode} on one node and ${LAB_LIMITS.policyRulesInAll} in all ${LIMIT}`;
  const over = counts.filter(([, c]) => c.rules > LAB_LIMITS.policyRulesPerNode);
  if (over.length)
    return over.map(([node, { rules, largest }]) => [
      ['policies', largest!.policy],
      `node ${node} would hold ${rules} policy rules (${largest!.direction} of policy ${largest!.policy}: ${largest!.pods} selected pods there × ${largest!.each} rules each, one per peer address and port); ${allowed}`,
    ]);
  const total = counts.reduce((n, [, c]) => n + c.rules, 0);
  if (total > LAB_LIMITS.policyRulesInAll)
    return [[['policies'], `the nodes would hold ${total} policy rules together; ${allowed}`]];
  return [];
}

/** Checks derived for a lab without verify: (lab/resolve.ts) over their bound. */
function derivedCheckProblems(model: Model): [string[], string][] {
  const derived = model.checks.filter((c) => c.derived).length;
  if (derived <= LAB_LIMITS.derivedChecks) return [];
  return [
    [
      ['verify'],
      `without a verify: section the lab derives ${derived} checks (a ping and a TCP check per pod, and one per pod and Service); allowed: at most ${LAB_LIMITS.derivedChecks} ${LIMIT}; list the checks to run under verify:`,
    ],
  ];
}
