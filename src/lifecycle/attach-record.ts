// What a node's records of a lab may hold, checked before an attached
// controller takes them for its state (lifecycle/attach.ts): whoever is root on
// a machine can write them, and their names and addresses end up in commands,
// paths and on the learner's terminal. The record must be what netlab writes:
// every name in the grammar a lab file's names have (model/grammar.ts), every
// address an IPv4 address or prefix, every text free of control characters,
// every count within the lab's bounds, and every name it refers to one it
// defines. Unknown fields are dropped: what the controller keeps is only what
// was checked.
import { z } from 'zod';
import {
  FREE_TEXT_PATTERN,
  IFNAME_MAX,
  LAB_LIMITS,
  FREE_TEXT_RULE,
  LABEL_PATTERN,
  LABEL_RULE,
  NAME_PATTERN,
  NAME_RULE,
  NODE_NAME_MAX,
  POD_NAME_MAX,
  RUN_ID,
  labIdProblem,
} from '../model/grammar.js';
import { CIDR_PATTERN, CIDR_RULE, IPV4_PATTERN, IPV4_RULE } from '../net/ipv4.js';
import { withTunnelKind, type Model, type TunnelSettings } from '../model/lab.js';
import { modelBoundProblem } from '../lab/bounds.js';
import { CROSS_NODE, SAME_NODE, crossNodeWiring } from '../wiring/registry.js';
import type { ChallengeRecord } from '../state/challenges.js';
import type { LabState, RunIdentity } from '../state/store.js';

/** The lab as its nodes record it: what an attached controller's state is made of. */
export interface NodeLabRecord {
  version: 1;
  lab: string;
  run: RunIdentity;
  model: Model;
  facts: LabState['facts'];
}

/** The challenge in progress as the nodes record it: no fault, no fix, and only the hints unlocked. */
export type NodeChallengeRecord = Pick<ChallengeRecord, 'id' | 'run' | 'started' | 'hints'> & { unlocked: string[] };

/** Longer than any name netlab makes (a namespace, a chain's target), shorter than any path trick needs. */
const NAME_MAX = 63;
/** A path as the record shows it (the lab file, a pod's root file system): shown, never opened here. */
const PATH_MAX = 4096;

/** A run's identity as netlab writes it: 12 hexadecimal digits. */

const name = (max = NAME_MAX) => z.string().min(1).max(max).regex(NAME_PATTERN, { error: NAME_RULE });
const text = (max: number = LAB_LIMITS.text) => z.string().max(max).regex(FREE_TEXT_PATTERN, { error: FREE_TEXT_RULE });
const ipv4 = z.string().regex(IPV4_PATTERN, { error: IPV4_RULE });
const cidr = z.string().regex(CIDR_PATTERN, { error: CIDR_RULE });
const port = z.number().int().min(1).max(65535);
const count = (max: number) => z.number().int().min(0).max(max);
const list = <T extends z.ZodType>(item: T, max: number) => z.array(item).max(max);
const label = z.string().regex(LABEL_PATTERN, { error: LABEL_RULE });
const labels = z.record(label.min(1), label);
const protocol = z.enum(['tcp', 'udp']);

const endpoint = z.object({ pod: name(POD_NAME_MAX), container: name().optional() });
const source = z.union([endpoint, z.object({ node: name(NODE_NAME_MAX) })]);
const target = z.union([
  endpoint,
  z.object({ node: name(NODE_NAME_MAX) }),
  z.object({ address: ipv4 }),
  z.object({ service: name() }),
  z.object({ outside: z.literal(true) }),
]);

const policyRule = z.object({
  peers: list(
    z.union([z.object({ pods: list(name(POD_NAME_MAX), LAB_LIMITS.pods), selector: labels }), z.object({ cidr })]),
    LAB_LIMITS.policyRules,
  ),
  ports: list(z.object({ port, protocol }), LAB_LIMITS.policyRules),
});

const modelSchema = z.object({
  name: name(),
  instance: name().optional(),
  description: text(),
  file: text(PATH_MAX),
  clusterCidr: cidr,
  sameNode: z.enum(SAME_NODE.map((w) => w.kind)),
  vethPeer: z.enum(['move', 'in-pod']),
  crossNode: z.enum(CROSS_NODE.map((w) => w.kind)),
  tunnel: z
    .object({
      // absent in the records of a netlab before tunnels had a kind: the lab's cross-node kind (withTunnelKind)
      kind: name().optional(),
      id: count(2 ** 24 - 1),
      group: ipv4.optional(),
      port,
      dev: name(IFNAME_MAX).optional(),
      device: name(IFNAME_MAX),
    })
    .optional(),
  mtu: count(65535).optional(),
  nodes: list(
    z.object({
      name: name(NODE_NAME_MAX),
      index: count(LAB_LIMITS.nodes),
      podSubnet: cidr,
      gateway: cidr,
      bridge: name(IFNAME_MAX),
      underlay: z.object({ address: ipv4.optional(), dev: name(IFNAME_MAX).optional(), network: name().optional() }),
    }),
    LAB_LIMITS.nodes,
  ).min(1),
  pods: list(
    z.object({
      name: name(POD_NAME_MAX),
      node: name(NODE_NAME_MAX),
      netns: name(),
      address: cidr.optional(),
      podIf: name(IFNAME_MAX).optional(),
      hostIf: name(IFNAME_MAX).optional(),
      containers: list(z.object({ name: name() }), LAB_LIMITS.pods),
      rootfs: text(PATH_MAX).optional(),
      labels: labels.optional(),
    }),
    LAB_LIMITS.pods,
  ),
  services: list(
    z.object({
      name: name(),
      index: count(LAB_LIMITS.services),
      clusterIp: ipv4,
      port,
      targetPort: port,
      protocol,
      type: z.enum(['ClusterIP', 'NodePort']),
      nodePort: port.optional(),
      backends: list(name(POD_NAME_MAX), LAB_LIMITS.backends),
    }),
    LAB_LIMITS.services,
  ),
  underlay: z
    .object({
      networks: list(z.object({ name: name(), cidr }), LAB_LIMITS.networks),
      routers: list(
        z.object({
          name: name(NODE_NAME_MAX),
          networks: list(name(), LAB_LIMITS.networks),
          addresses: z.record(name(), ipv4),
          podRoutes: z.boolean(),
        }),
        LAB_LIMITS.routers,
      ),
    })
    .optional(),
  outside: z.object({ address: ipv4.optional() }).optional(),
  policies: list(
    z.object({
      name: name(),
      selector: labels,
      pods: list(name(POD_NAME_MAX), LAB_LIMITS.pods),
      types: list(z.enum(['ingress', 'egress']), 2),
      ingress: list(policyRule, LAB_LIMITS.policyRules),
      egress: list(policyRule, LAB_LIMITS.policyRules),
    }),
    LAB_LIMITS.policies,
  ).optional(),
  checks: list(
    z.object({
      kind: z.enum(['ping', 'tcp', 'service', 'traceroute']),
      from: source,
      to: target,
      toAddress: ipv4.optional(),
      port: port.optional(),
      connections: count(LAB_LIMITS.connections).optional(),
      bytes: count(LAB_LIMITS.bytes).optional(),
      expect: z.enum(['pass', 'fail']),
      derived: z.boolean(),
      via: list(name(NODE_NAME_MAX), LAB_LIMITS.routers + LAB_LIMITS.nodes).optional(),
      sourcePort: port.optional(),
    }),
    LAB_LIMITS.checks + LAB_LIMITS.derivedChecks,
  ),
  exercises: list(text(), LAB_LIMITS.exercises),
  // On the nodes a challenge has no fault and no hint texts (modelForNodes): empty strings.
  challenges: list(
    z.object({
      id: name(),
      title: text(),
      fault: text(),
      // a challenge without `goal:` has every check, derived ones too
      goal: list(count(LAB_LIMITS.checks + LAB_LIMITS.derivedChecks), LAB_LIMITS.checks + LAB_LIMITS.derivedChecks),
      hints: list(text(), LAB_LIMITS.hints),
    }),
    LAB_LIMITS.challenges,
  ).optional(),
});

const labRecordSchema = z.object({
  version: z.literal(1),
  lab: z.string(),
  run: z.object({ id: z.string().regex(RUN_ID), host: text(255), stateDir: text(PATH_MAX) }),
  model: modelSchema,
  facts: z.record(
    name(NODE_NAME_MAX),
    z.object({ address: ipv4, dev: name(IFNAME_MAX), mtu: count(65535).optional() }),
  ),
});

/** The run a node holds, as its "run" file says: "ID HOST:DIR". */
export function isRunLine(line: string): boolean {
  const [id, ...from] = line.split(' ');
  return RUN_ID.test(id!) && from.length > 0 && text(PATH_MAX + 256).safeParse(from.join(' ')).success;
}

const challengeRecordSchema = z.object({
  id: name(),
  run: z.string().regex(RUN_ID),
  started: z.iso.datetime(),
  hints: count(LAB_LIMITS.hints),
  unlocked: list(text(), LAB_LIMITS.hints),
});

/**
 * The names a model refers to that it does not define (a pod on no node, a
 * check from no pod, a policy of a pod without an address…): planning would
 * take each for granted.
 */
function dangling(model: Model, facts: NodeLabRecord['facts']): string[] {
  const nodes = new Set(model.nodes.map((n) => n.name));
  const pods = new Map(model.pods.map((p) => [p.name, p]));
  const addressed = new Set(model.pods.filter((p) => p.address).map((p) => p.name));
  const services = new Set(model.services.map((s) => s.name));
  const networks = new Set(model.underlay?.networks.map((n) => n.name) ?? []);
  const hops = new Set([...nodes, ...(model.underlay?.routers.map((r) => r.name) ?? [])]);
  const problems: string[] = [];
  const need = (where: string, known: Set<string> | Map<string, unknown>, what: string, name: string) => {
    if (!known.has(name)) problems.push(`${where}: no ${what} ${JSON.stringify(name)}`);
  };
  for (const node of nodes) if (!facts[node]) problems.push(`facts: none for node ${node}`);
  // A kind with settings (a tunnel's VNI and port) plans from them: the record has them, and of that kind.
  const settled = crossNodeWiring(model.crossNode).resolve !== undefined;
  if (settled && !model.tunnel) problems.push(`model.tunnel: none, but cross-node ${model.crossNode} has settings`);
  if (!settled && model.tunnel) problems.push(`model.tunnel: cross-node ${model.crossNode} has no settings`);
  if (model.tunnel && model.tunnel.kind !== model.crossNode)
    problems.push(
      `model.tunnel.kind: ${model.tunnel.kind} settings, but the lab's cross-node kind is ${model.crossNode}`,
    );
  else if (model.tunnel && settled) problems.push(...settingsProblems(model.tunnel));
  model.nodes.forEach((n, i) => {
    if (n.underlay.network !== undefined)
      need(`model.nodes.${i}.underlay.network`, networks, 'network', n.underlay.network);
  });
  model.underlay?.routers.forEach((r, i) =>
    r.networks.forEach((n) => {
      need(`model.underlay.routers.${i}.networks`, networks, 'network', n);
      need(`model.underlay.routers.${i}.addresses`, new Set(Object.keys(r.addresses)), 'address on network', n);
    }),
  );
  model.pods.forEach((p, i) => need(`model.pods.${i}.node`, nodes, 'node', p.node));
  model.services.forEach((s, i) =>
    s.backends.forEach((b) => need(`model.services.${i}.backends`, addressed, 'pod with an address', b)),
  );
  model.policies?.forEach((p, i) => {
    p.pods.forEach((pod) => need(`model.policies.${i}.pods`, addressed, 'pod with an address', pod));
    for (const direction of ['ingress', 'egress'] as const)
      p[direction].forEach((rule, j) =>
        rule.peers.forEach((peer) => {
          if ('pods' in peer)
            for (const pod of peer.pods)
              need(`model.policies.${i}.${direction}.${j}.peers`, addressed, 'pod with an address', pod);
        }),
      );
  });
  model.checks.forEach((c, i) => {
    for (const [end, at] of [
      [c.from, 'from'],
      [c.to, 'to'],
    ] as const) {
      if ('pod' in end) {
        need(`model.checks.${i}.${at}`, pods, 'pod', end.pod);
        const pod = pods.get(end.pod);
        if (pod && end.container !== undefined)
          need(
            `model.checks.${i}.${at}.container`,
            new Set(pod.containers.map((x) => x.name)),
            'container',
            end.container,
          );
      }
      if ('node' in end) need(`model.checks.${i}.${at}`, nodes, 'node', end.node);
      if ('service' in end) need(`model.checks.${i}.${at}`, services, 'Service', end.service);
    }
    c.via?.forEach((hop) => need(`model.checks.${i}.via`, hops, 'node or router', hop));
  });
  model.challenges?.forEach((c, i) => {
    const beyond = c.goal.find((n) => n < 1 || n > model.checks.length);
    if (beyond !== undefined)
      problems.push(`model.challenges.${i}.goal: no check ${beyond} (the lab has ${model.checks.length})`);
  });
  return problems;
}

/**
 * Whether tunnel settings are what their kind makes of them (its own shape: no
 * multicast group for flannel or GENEVE; a group that is multicast): the
 * kind's resolution run again on them gives them back. Not routed: whether a
 * group may cross a router is the lab file's question (up answered it).
 */
function settingsProblems(tunnel: TunnelSettings): string[] {
  const { kind, device: _device, ...spec } = tunnel;
  const said: string[] = [];
  const again = crossNodeWiring(kind).resolve!(
    spec,
    (field, message) => said.push(`model.tunnel.${field}: ${message}`),
    {
      routed: false,
    },
  );
  const sorted = (t: object) => JSON.stringify(Object.entries(t).sort(([a], [b]) => a.localeCompare(b)));
  if (said.length) return said;
  return sorted(again) === sorted(tunnel) ? [] : [`model.tunnel: not the settings netlab makes for cross-node ${kind}`];
}

/** The first of a zod error's issues, as "field.path: what is wrong". */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.join('.') || '(the record)'}: ${issue.message}`;
}

/** A node's lab record of `lab`, checked: the record to keep, or why it is not one netlab writes. */
export function checkedLabRecord(found: unknown, lab: string): { record: NodeLabRecord } | { problem: string } {
  const parsed = labRecordSchema.safeParse(found);
  if (!parsed.success) return { problem: firstIssue(parsed.error) };
  const record = { ...parsed.data, model: withTunnelKind(parsed.data.model as Model) } as NodeLabRecord;
  const id = `${record.model.name}${record.model.instance === undefined ? '' : `@${record.model.instance}`}`;
  const problem =
    labIdProblem(record.lab) ??
    (record.lab !== lab ? `it is of lab ${record.lab}` : id !== lab ? `its model is of lab ${id}` : undefined);
  if (problem) return { problem: `lab: ${problem}` };
  const refs = dangling(record.model, record.facts);
  if (refs.length) return { problem: refs[0]! };
  // What it expands to, as a lab file's is bounded: a record of a few MB could ask for billions of policy rules.
  const over = modelBoundProblem(record.model);
  return over ? { problem: `model.${over}` } : { record };
}

/** A node's record of the challenge in progress, checked (undefined: not one netlab writes). */
export function checkedChallengeRecord(found: unknown): NodeChallengeRecord | undefined {
  const parsed = challengeRecordSchema.safeParse(found);
  return parsed.success ? parsed.data : undefined;
}
