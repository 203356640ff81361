// NetworkPolicies (wiring/policies.ts): selectors resolved to pods, the
// chains and rules each node gets for its own pods, Kubernetes' defaults and
// the lab file's mistakes, trace's walk through the chains, and the faults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { savedTables } from './saved-tables.js';
import { parseSavedTable } from '../../src/node/tables.js';
import { join } from 'node:path';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { LabInputError } from '../../src/errors.js';
import { faultIdsOf } from '../../src/faults/faults.js';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import type { Packet } from '../../src/model/trace.js';
import { buildPlan } from '../../src/plan/build.js';
import { chainVerdict, FILTER_DECIDES, ruleMatches } from '../../src/node/tables.js';
import { policyRuleCounts } from '../../src/wiring/policies.js';
import { LABS } from '../paths.js';

const { model } = loadLabFile(join(LABS, 'policy.yaml'));
const plan = buildPlan(model, simulatedFacts(model));

/** A node's policy rules as `iptables -S` prints them. */
function rulesOf(node: number): string[] {
  return plan.nodes[node]!.steps.flatMap((s) =>
    s.creates.flatMap((c) =>
      c.kind === 'rule' && c.table === 'filter' && c.chain.startsWith('NL-P')
        ? [`-A ${c.chain} ${c.rule.join(' ')}`]
        : [],
    ),
  );
}

test('selectors resolve to pods by their labels; {} selects every pod; Kubernetes picks the policy types', () => {
  const byName = new Map(model.policies!.map((p) => [p.name, p]));
  assert.deepEqual(byName.get('default-deny')!.pods, ['web', 'rogue', 'db', 'cache', 'stats']);
  assert.deepEqual(byName.get('db-from-web')!.pods, ['db']);
  assert.deepEqual(byName.get('db-from-web')!.types, ['ingress']);
  assert.deepEqual(byName.get('rogue-stays-home')!.types, ['egress']);
  assert.deepEqual(byName.get('db-from-web')!.ingress, [
    { peers: [{ selector: { app: 'web' }, pods: ['web'] }], ports: [{ port: 5432, protocol: 'tcp' }] },
  ]);
});

test('each node gets chains for its own isolated pods: allows return, the rest is dropped, replies pass first', () => {
  assert.deepEqual(rulesOf(1), [
    '-A NL-PI-policy_db -s 10.200.0.2/32 -p tcp --dport 5432 -j RETURN',
    '-A NL-PI-policy_db -j DROP',
    '-A NL-PI-policy_cache -s 10.200.1.2/32 -p tcp --dport 6379 -j RETURN',
    '-A NL-PI-policy_cache -j DROP',
    '-A NL-PI-policy_stats -s 10.200.0.0/16 -j RETURN',
    '-A NL-PI-policy_stats -j DROP',
    '-A NL-POL-policy -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
    '-A NL-POL-policy -d 10.200.1.2/32 -j NL-PI-policy_db',
    '-A NL-POL-policy -d 10.200.1.3/32 -j NL-PI-policy_cache',
    '-A NL-POL-policy -d 10.200.1.4/32 -j NL-PI-policy_stats',
  ]);
  // node-0: rogue's egress before the ingress chains; web allows everything in; rogue nothing.
  assert.ok(rulesOf(0).includes('-A NL-PE-policy_rogue -d 10.200.0.0/24 -j RETURN'));
  assert.ok(rulesOf(0).includes('-A NL-PI-policy_web -j RETURN'));
  assert.deepEqual(
    rulesOf(0).filter((r) => r.startsWith('-A NL-PI-policy_rogue')),
    ['-A NL-PI-policy_rogue -j DROP'],
  );
  const dispatch = rulesOf(0).filter((r) => r.startsWith('-A NL-POL-policy '));
  assert.ok(
    dispatch.indexOf('-A NL-POL-policy -s 10.200.0.3/32 -j NL-PE-policy_rogue') <
      dispatch.findIndex((r) => r.includes('NL-PI')),
  );
  // The jump comes last in the plan, so inserted first in FORWARD: before the lab's ACCEPT of the cluster CIDR.
  const last = plan.nodes[1]!.steps.at(-1)!;
  assert.deepEqual(last.sets, [
    {
      kind: 'jump',
      table: 'filter',
      from: 'FORWARD',
      to: 'NL-POL-policy',
      rule: ['-m', 'comment', '--comment', 'netlab lab policy', '-j', 'NL-POL-policy'],
      first: true,
    },
  ]);
  assert.equal(last.phase, 'policies');
  // br_netfilter, for the pods on one bridge.
  assert.ok(
    plan.nodes[1]!.steps.some((s) =>
      s.sets.some((c) => c.kind === 'sysctl' && c.key === 'net.bridge.bridge-nf-call-iptables'),
    ),
  );
});

/**
 * node-1's filter table once the lab is up, as `iptables-save` prints it: in the kernel's words,
 * not the plan's (`-m tcp` before --dport, the comment in double quotes), as trace reads it.
 */
const NODE1_FILTER_SAVED = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:NETLAB-FWD-policy - [0:0]
:NL-PI-policy_cache - [0:0]
:NL-PI-policy_db - [0:0]
:NL-PI-policy_stats - [0:0]
:NL-POL-policy - [0:0]
-A FORWARD -m comment --comment "netlab lab policy" -j NL-POL-policy
-A FORWARD -m comment --comment "netlab lab policy" -j NETLAB-FWD-policy
-A NETLAB-FWD-policy -s 10.200.0.0/16 -j ACCEPT
-A NETLAB-FWD-policy -d 10.200.0.0/16 -j ACCEPT
-A NL-PI-policy_cache -s 10.200.1.2/32 -p tcp -m tcp --dport 6379 -j RETURN
-A NL-PI-policy_cache -j DROP
-A NL-PI-policy_db -s 10.200.0.2/32 -p tcp -m tcp --dport 5432 -j RETURN
-A NL-PI-policy_db -j DROP
-A NL-PI-policy_stats -s 10.200.0.0/16 -j RETURN
-A NL-PI-policy_stats -j DROP
-A NL-POL-policy -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A NL-POL-policy -d 10.200.1.2/32 -j NL-PI-policy_db
-A NL-POL-policy -d 10.200.1.3/32 -j NL-PI-policy_cache
-A NL-POL-policy -d 10.200.1.4/32 -j NL-PI-policy_stats
COMMIT
`;

test("trace's walk through the policy chains, on the rules as iptables-save prints them: the rule that drops a packet, or none", () => {
  // What trace reads of a node: every rule of its filter table, as node/query.ts reads iptables-save (trace/kernel.ts).
  const rules = parseSavedTable(NODE1_FILTER_SAVED.split('\n').slice(1)).rules;
  const verdict = (src: string, dst: string, port?: number, reply?: true) => {
    const packet: Packet = {
      src,
      dst,
      protocol: port ? 'tcp' : 'icmp',
      ...(port ? { port } : {}),
      ...(reply ? { reply } : {}),
    };
    // FORWARD's jump to the policies' main chain, walked there as the kernel does (node/tables.ts).
    const taken = chainVerdict(
      rules,
      'NL-POL-policy',
      undefined,
      (r) => ruleMatches(r, packet, 'eth1', 'br1'),
      FILTER_DECIDES,
    );
    return taken?.verdict === 'drop' ? taken.rule?.text : undefined;
  };
  assert.equal(verdict('10.200.0.2', '10.200.1.2', 5432), undefined, 'web → db:5432 is allowed');
  assert.equal(verdict('10.200.0.3', '10.200.1.2', 5432), '-A NL-PI-policy_db -j DROP', 'rogue → db is not');
  assert.equal(verdict('10.200.0.2', '10.200.1.2', 8080), '-A NL-PI-policy_db -j DROP', 'nor another port');
  assert.equal(verdict('10.200.0.2', '10.200.1.4'), undefined, 'stats takes the cluster');
  assert.equal(verdict('192.168.64.9', '10.200.1.4'), '-A NL-PI-policy_stats -j DROP', 'and only the cluster');
  assert.equal(verdict('10.200.1.2', '10.200.1.3', 6379), undefined, 'db → cache:6379 is allowed');
  assert.equal(verdict('10.200.1.2', '10.200.1.3', 6380), '-A NL-PI-policy_cache -j DROP', 'not another port');
  assert.equal(verdict('10.200.1.2', '10.200.1.3'), '-A NL-PI-policy_cache -j DROP', 'nor a ping');
  // The reply of an allowed connection: conntrack has it ESTABLISHED, and the policies' first rule lets it
  // through, though db is isolated for ingress (the replies of web → db and db → cache come back).
  assert.equal(verdict('10.200.1.3', '10.200.1.2', 1, true), undefined, 'cache → db, the reply of db → cache:6379');
  assert.equal(verdict('10.200.1.2', '10.200.0.2', 1, true), undefined, 'db → web, the reply of web → db:5432');
  assert.equal(verdict('10.200.1.3', '10.200.1.2', 1), '-A NL-PI-policy_db -j DROP', 'a new one from cache is not');
});

test('faults: the policy jump is named with its chain beside the lab ACCEPT jump; a pod chain rule can be removed', () => {
  const ids = new Set(faultIdsOf(model));
  for (const id of [
    'forward-drop:node-1:FORWARD',
    'jump-removed:node-1:FORWARD/NL-POL-policy',
    'rule-removed:node-1:NL-PI-policy_db#1',
    'drop-rule:node-1:FORWARD',
  ])
    assert.ok(ids.has(id), id);
  assert.equal(
    [...ids].filter((id) => id.startsWith('drop-rule:node-1:FORWARD')).length,
    1,
    'one drop-rule per FORWARD',
  );
  assert.equal(faultIdsOf(model).length, ids.size, 'fault ids are unique');
});

function problems(text: string): string[] {
  try {
    parseLab(text, 'p.yaml');
  } catch (error) {
    if (error instanceof LabInputError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

test('policy mistakes are named at their field', () => {
  const base = 'nodes: { node-0: {} }\npods: { a: { node: node-0, labels: { app: a } }, b: { node: node-0 } }\n';
  assert.deepEqual(
    problems(
      `${base}policies: { p: { pod-selector: {}, ingress: [{ from: [{ pod-selector: {}, ip-block: 10.0.0.0/8 }] }] } }\n`,
    ),
    ['policies.p.ingress.0.from.0: a peer has exactly one of pod-selector, ip-block'],
  );
  assert.match(
    problems(`${base}policies: { p: { pod-selector: {}, policy-types: [Ingress], egress: [{}] } }\n`).join('\n'),
    /policies\.p\.egress: egress rules count only with Egress in policy-types/,
  );
  assert.match(
    problems(`${base}policies: { p: { pod-selector: { "-x": y } } }\n`).join('\n'),
    /policies\.p\.pod-selector/,
  );
  assert.match(
    problems(
      `nodes: { node-0: {} }\npods: { a: { node: node-0 }, b: { node: node-0 } }\nwiring: { same-node: veth }\npolicies: { p: { pod-selector: {} } }\n`,
    ).join('\n'),
    /policies: .*need same-node: bridge/,
  );
  // The network address of a block, as iptables prints it.
  const { model: m } = parseLab(
    `${base}policies: { p: { pod-selector: {}, ingress: [{ from: [{ ip-block: 10.200.0.9/24 }] }] } }\n`,
    'p.yaml',
  );
  assert.deepEqual(m.policies![0]!.ingress[0]!.peers, [{ cidr: '10.200.0.0/24' }]);
});

test('mended, the lab ACCEPT jump goes back after the policies; drift names the two in the wrong order', async () => {
  const { faultsOf } = await import('../../src/faults/faults.js');
  const { findingsOf } = await import('../../src/verify/diagnose.js');
  const faults = new Map(faultsOf(model, simulatedFacts(model), { plan }).map((f) => [f.id, f]));
  assert.deepEqual(faults.get('forward-drop:node-1:FORWARD')!.mend[0]!.slice(0, 6), [
    'iptables',
    '-w',
    '-I',
    'FORWARD',
    '2',
    '-m',
  ]);
  assert.deepEqual(faults.get('jump-removed:node-1:FORWARD/NL-POL-policy')!.mend[0]!.slice(0, 5), [
    'iptables',
    '-w',
    '-I',
    'FORWARD',
    '1',
  ]);
  const steps = plan.nodes[1]!.steps;
  const forward = (first: string, second: string) => ({
    iptables: savedTables([
      `-A FORWARD -m comment --comment "netlab lab policy" -j ${first}`,
      `-A FORWARD -m comment --comment "netlab lab policy" -j ${second}`,
    ]),
  });
  const order = (have: ReturnType<typeof forward>) =>
    findingsOf(steps, have, new Set())
      .map((f) => f.what)
      .filter((w) => w.includes('stands after'));
  assert.deepEqual(order(forward('NL-POL-policy', 'NETLAB-FWD-policy')), []);
  assert.deepEqual(order(forward('NETLAB-FWD-policy', 'NL-POL-policy')), [
    'the jump from FORWARD to NL-POL-policy stands after the jump to NETLAB-FWD-policy, but the lab puts it before',
  ]);
});

test('a bare --step before the lab file is --step=phase, never the file', async () => {
  const { withStepUnit } = await import('../../src/cli.js');
  assert.deepEqual(withStepUnit(['up', '--step', 'labs/x.yaml']), ['up', '--step=phase', 'labs/x.yaml']);
  assert.deepEqual(withStepUnit(['up', '--step', 'command', 'labs/x.yaml']), [
    'up',
    '--step',
    'command',
    'labs/x.yaml',
  ]);
  assert.deepEqual(withStepUnit(['up', 'labs/x.yaml', '--step']), ['up', 'labs/x.yaml', '--step=phase']);
});

test('the rule count validation bounds a lab by is the number of rules the plan builds, on every node', () => {
  const built = (m: typeof model) => {
    const p = buildPlan(m, simulatedFacts(m));
    return p.nodes.map(
      (n) => n.steps.flatMap((s) => s.creates.filter((c) => c.kind === 'rule' && /^NL-P[IE]-/.test(c.chain))).length,
    );
  };
  const counted = (m: typeof model) => m.nodes.map((n) => policyRuleCounts(m).get(n.name)!.rules);
  assert.deepEqual(counted(model), built(model));
  const { model: wide } = parseLab(
    [
      'nodes: { node-0: {}, node-1: {} }',
      'pods:',
      '  a: { node: node-0, labels: { app: a } }',
      '  b: { node: node-0, labels: { app: b } }',
      '  c: { node: node-1, labels: { app: a } }',
      'wiring: { cross-node: routes }',
      'policies:',
      '  p1:',
      '    pod-selector: { app: a }',
      '    ingress:',
      '      - from: [{ pod-selector: {} }, { ip-block: 10.0.0.0/8 }]',
      '        ports: [{ port: 80 }, { port: 53, protocol: udp }]',
      '      - ports: [{ port: 22 }]',
      '      - from: [{ pod-selector: { app: none } }]',
      '    egress: [{ to: [{ pod-selector: { app: b } }] }, {}]',
      '  p2: { pod-selector: {}, policy-types: [Ingress] }',
      '',
    ].join('\n'),
    'wide.yaml',
  );
  assert.deepEqual(counted(wide), built(wide));
  assert.ok(counted(wide)[0]! > 10, 'peers × ports multiply');
});
