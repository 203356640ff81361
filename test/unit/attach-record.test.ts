// What an attached controller takes from a node's records (src/lifecycle/attach-record.ts):
// every record netlab writes, of every bundled lab, is kept whole; a record that is not one
// netlab writes (a name that is a shell command or a path, an address that is none, text
// that drives the terminal, a name that refers to nothing) is refused naming its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { loadLabFile } from '../../src/lab/load.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { modelForNodes, type NodeLabRecord } from '../../src/lifecycle/attach.js';
import { checkedChallengeRecord, checkedLabRecord, isRunLine } from '../../src/lifecycle/attach-record.js';
import { labIdOf, type Model } from '../../src/model/lab.js';

const RUN = { id: '0123456789ab', host: 'instructor', stateDir: '/var/lib/netlab' };

/** The record `up` writes on a lab's nodes (lifecycle/attach.ts recordLabOnNodes), as the node gives it back. */
function recordOf(model: Model): NodeLabRecord {
  const record = {
    version: 1 as const,
    lab: labIdOf(model),
    run: RUN,
    model: modelForNodes(model),
    facts: simulatedFacts(model),
  };
  return JSON.parse(JSON.stringify(record)) as NodeLabRecord;
}

const vxlan = () => recordOf(loadLabFile(join(LABS, 'vxlan.yaml')).model);

/** Why a record changed by `change` is refused (fails if it is kept). */
function refused(change: (record: NodeLabRecord & { model: Record<string, unknown> }) => void, lab = 'vxlan'): string {
  const record = vxlan() as NodeLabRecord & { model: Record<string, unknown> };
  change(record);
  const checked = checkedLabRecord(record, lab);
  assert.ok('problem' in checked, 'refused');
  return checked.problem;
}

test('every bundled lab, and an instance of one: the record up writes is kept whole', () => {
  const files = readdirSync(LABS).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 15, `${files.length} bundled labs`);
  for (const file of files) {
    const record = recordOf(loadLabFile(join(LABS, file)).model);
    assert.deepEqual(checkedLabRecord(record, record.lab), { record }, file);
  }
  // Shapes no bundled lab has: a UDP Service, a lab without challenges, a traceroute check through a router.
  const service = loadLabFile(join(LABS, 'service.yaml')).model;
  const udp = recordOf({ ...service, services: service.services.map((x) => ({ ...x, protocol: 'udp' as const })) });
  assert.deepEqual(checkedLabRecord(udp, 'service'), { record: udp });
  const { challenges: _challenges, ...noChallenges } = loadLabFile(join(LABS, 'vxlan.yaml')).model;
  const plain = recordOf(noChallenges);
  assert.deepEqual(checkedLabRecord(plain, 'vxlan'), { record: plain });
  const router = loadLabFile(join(LABS, 'router.yaml')).model;
  const via = recordOf({ ...router, checks: [{ ...router.checks[0]!, via: [router.underlay!.routers[0]!.name] }] });
  assert.deepEqual(checkedLabRecord(via, 'router'), { record: via });
  // The underlay interface named (wiring.vxlan.dev), which no bundled lab names.
  const vxlanLab = loadLabFile(join(LABS, 'vxlan.yaml')).model;
  const dev = recordOf({ ...vxlanLab, tunnel: { ...vxlanLab.tunnel!, dev: 'eth1' } as typeof vxlanLab.tunnel });
  assert.deepEqual(checkedLabRecord(dev, 'vxlan'), { record: dev });
  const instance = recordOf({ ...loadLabFile(join(LABS, 'policy.yaml')).model, instance: 'g2' });
  assert.equal(instance.lab, 'policy@g2');
  assert.deepEqual(checkedLabRecord(instance, 'policy@g2'), { record: instance });
});

test('a record that is not one netlab writes is refused, naming its field and what is allowed; fields netlab does not write are dropped', () => {
  assert.match(
    refused((r) => ((r.model.pods as { name: string }[])[0]!.name = 'a0;id')),
    /^model\.pods\.0\.name: letters, digits/,
  );
  assert.match(
    refused((r) => ((r.model.pods as { netns: string }[])[1]!.netns = '../../etc/x')),
    /^model\.pods\.1\.netns: /,
  );
  assert.match(
    refused((r) => ((r.model.nodes as { podSubnet: string }[])[0]!.podSubnet = '10.200.0.0/33')),
    /^model\.nodes\.0\.podSubnet: an IPv4 prefix/,
  );
  assert.match(
    refused((r) => (r.model.description = 'look \x1b[2J here')),
    /^model\.description: text without control/,
  );
  assert.match(
    refused((r) => (r.model.file = 'labs/vxlan.yaml\nrm -rf /')),
    /^model\.file: /,
  );
  assert.match(
    refused((r) => ((r.facts['node-0'] as { dev: string }).dev = '$(id)')),
    /^facts\.node-0\.dev: /,
  );
  assert.match(
    refused((r) => (r.run.id = 'not a run')),
    /^run\.id: /,
  );
  assert.match(
    refused((r) => ((r.model.tunnel as { id: number }).id = 2 ** 24)),
    /^model\.tunnel\.id: /,
  );
  assert.match(
    refused((r) => (r.model.pods = Array.from({ length: 2001 }, () => r.model.pods[0]!))),
    /^model\.pods: /,
  );
  // Names that refer to nothing the record defines.
  assert.equal(
    refused((r) => ((r.model.pods as { node: string }[])[0]!.node = 'ghost')),
    'model.pods.0.node: no node "ghost"',
  );
  assert.equal(
    refused((r) => delete r.facts['node-1']),
    'facts: none for node node-1',
  );
  assert.equal(
    refused((r) => ((r.model.checks as { from: { pod: string } }[])[0]!.from = { pod: 'zz' })),
    'model.checks.0.from: no pod "zz"',
  );
  assert.equal(
    refused((r) => ((r.model.checks as { via?: string[] }[])[0]!.via = ['router-9'])),
    'model.checks.0.via: no node or router "router-9"',
  );
  assert.equal(
    refused((r) => ((r.model.challenges as { goal: number[] }[])[0]!.goal = [99])),
    `model.challenges.0.goal: no check 99 (the lab has ${vxlan().model.checks.length})`,
  );
  const policy = () => recordOf(loadLabFile(join(LABS, 'policy.yaml')).model);
  const ghost = policy() as NodeLabRecord & { model: { policies: { ingress: { peers: object[] }[] }[] } };
  const at = ghost.model.policies.findIndex((p) => p.ingress.length > 0);
  ghost.model.policies[at]!.ingress[0]!.peers = [{ pods: ['ghost'], selector: {} }];
  assert.equal(
    (checkedLabRecord(ghost, 'policy') as { problem: string }).problem,
    `model.policies.${at}.ingress.0.peers: no pod with an address "ghost"`,
  );
  // Many checks, and a challenge whose goal is all of them (no `goal:` in the file): as netlab writes it.
  const many = vxlan();
  many.model.checks = Array.from({ length: 300 }, () => many.model.checks[0]!);
  many.model.challenges = [{ ...many.model.challenges![0]!, goal: many.model.checks.map((_, i) => i + 1) }];
  assert.ok('record' in checkedLabRecord(many, 'vxlan'));
  // Another lab's record.
  assert.equal(
    refused(() => {}, 'vxlan@g1'),
    'lab: it is of lab vxlan',
  );
  assert.equal(
    refused((r) => (r.model.name = 'bridge')),
    'lab: its model is of lab bridge',
  );
  assert.equal(
    refused((r) => (r.lab = 'bridge')),
    'lab: it is of lab bridge',
  );
  assert.equal(
    refused((r) => ((r.model.challenges as { goal: number[] }[])[0]!.goal = [0])),
    `model.challenges.0.goal: no check 0 (the lab has ${vxlan().model.checks.length})`,
  );
  assert.match(
    refused((r) => ((r as { version: number }).version = 2)),
    /^version: /,
  );
  // The cross-node kind and its tunnel settings: a kind netlab has, with settings of that kind where it has any.
  assert.match(
    refused((r) => (r.model.crossNode = 'gre')),
    /^model\.crossNode: /,
  );
  assert.match(
    refused((r) => (r.model.sameNode = 'macvlan')),
    /^model\.sameNode: /,
  );
  assert.equal(
    refused((r) => ((r.model.tunnel as { kind: string }).kind = 'geneve')),
    "model.tunnel.kind: geneve settings, but the lab's cross-node kind is vxlan",
  );
  assert.equal(
    refused((r) => delete r.model.tunnel),
    'model.tunnel: none, but cross-node vxlan has settings',
  );
  assert.equal(
    refused((r) => (r.model.crossNode = 'routes')),
    'model.tunnel: cross-node routes has no settings',
  );
  // Settings of the kind's own shape: no multicast group but a multicast one, none for flannel or GENEVE.
  assert.match(
    refused((r) => ((r.model.tunnel as { group: string }).group = '10.1.1.1')),
    /^model\.tunnel\.group: found "10\.1\.1\.1"; allowed: an IPv4 multicast group/,
  );
  for (const file of ['flannel.yaml', 'geneve.yaml']) {
    const record = recordOf(loadLabFile(join(LABS, file)).model) as NodeLabRecord & { model: { tunnel: object } };
    record.model.tunnel = { ...record.model.tunnel, group: '239.1.1.1' };
    const checked = checkedLabRecord(record, record.lab);
    assert.ok('problem' in checked && /^model\.tunnel/.test(checked.problem), `${file}: ${JSON.stringify(checked)}`);
  }
  // What netlab does not write is not kept.
  const extra = vxlan() as NodeLabRecord & { model: { evil?: string } };
  extra.model.evil = 'x';
  const kept = checkedLabRecord(extra, 'vxlan');
  assert.ok('record' in kept && !('evil' in kept.record.model));
});

test("a record is held to a lab file's bounds, and to what a lab file may expand to: a record of a few kB that asks for thousands of policy rules, or a check of 100000 connections, is refused", () => {
  const policy = recordOf(loadLabFile(join(LABS, 'policy.yaml')).model) as NodeLabRecord & {
    model: { policies: { ingress: { peers: unknown[]; ports: unknown[] }[] }[]; checks: Record<string, unknown>[] };
  };
  assert.ok('record' in checkedLabRecord(policy, policy.lab), 'the policy lab as up writes it');
  // Seven rules of 32 CIDR peers and 32 ports, in the policy that selects every pod (default-deny): within the
  // bounds of a rule and of the peers (256), and over the policy rules a node may hold (selected pods × peers × ports).
  const wide = structuredClone(policy);
  wide.model.policies[0]!.ingress = Array.from({ length: 7 }, (_, r) => ({
    peers: Array.from({ length: 32 }, (_, i) => ({ cidr: `10.${r}.${i}.0/24` })),
    ports: Array.from({ length: 32 }, (_, i) => ({ port: 1000 + i, protocol: 'tcp' as const })),
  }));
  const checked = checkedLabRecord(wide, wide.lab);
  assert.ok('problem' in checked);
  assert.match(
    checked.problem,
    /^model\.policies\.[\w-]+: node \S+ would hold \d+ policy rules .*allowed: at most 10000 on one node/,
  );
  const peers = structuredClone(policy);
  peers.model.policies[0]!.ingress = Array.from({ length: 9 }, () => ({
    peers: Array.from({ length: 30 }, () => ({ cidr: '10.9.0.0/16' })),
    ports: [],
  }));
  const tooMany = checkedLabRecord(peers, peers.lab);
  assert.ok('problem' in tooMany);
  assert.match(tooMany.problem, /^model\.policies: found 274 peers .*allowed: at most 256/);
  const service = recordOf(loadLabFile(join(LABS, 'service.yaml')).model) as NodeLabRecord & {
    model: { checks: Record<string, unknown>[] };
  };
  const at = service.model.checks.findIndex((c) => c.kind === 'service');
  service.model.checks[at]!.connections = 100_000;
  const connections = checkedLabRecord(service, service.lab);
  assert.ok('problem' in connections);
  assert.match(connections.problem, new RegExp(`^model\\.checks\\.${at}\\.connections: `));
});

test("a node's run line and its record of the challenge in progress: as netlab writes them, or refused", () => {
  assert.equal(isRunLine('0123456789ab instructor:/var/lib/netlab'), true);
  assert.equal(isRunLine('0123456789ab'), false, 'no controller');
  assert.equal(isRunLine('0123456789AB host:/x'), false);
  assert.equal(isRunLine('0123456789ab host:/x\x1b]0;owned\x07'), false, 'a terminal title set from the node');
  const challenge = {
    id: 'wrong-vni',
    run: '0123456789ab',
    started: '2026-12-05T08:00:00.000Z',
    hints: 1,
    unlocked: ['Compare the VNI on both nodes.'],
  };
  assert.deepEqual(checkedChallengeRecord(challenge), challenge);
  assert.equal(checkedChallengeRecord({ ...challenge, unlocked: ['\x1b[2J'] }), undefined);
  assert.equal(checkedChallengeRecord({ ...challenge, id: '-rf' }), undefined);
  assert.equal(checkedChallengeRecord({ ...challenge, started: 'yesterday' }), undefined);
  assert.equal(checkedChallengeRecord({ ...challenge, hints: 11 }), undefined);
});

test('every reference a record makes is checked, each refusal naming its field', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a record changed as anyone could, by hand
  type Loose = { lab: string; model: any; facts: any };
  const of = (lab: string) => recordOf(loadLabFile(join(LABS, `${lab}.yaml`)).model) as unknown as Loose;
  const problem = (lab: string, change: (r: Loose) => void) => {
    const record = of(lab);
    change(record);
    const checked = checkedLabRecord(record, record.lab);
    assert.ok('problem' in checked, `${lab}: refused`);
    return checked.problem;
  };
  const cases: [string, (r: Loose) => void, string | RegExp][] = [
    [
      'router-vxlan',
      (r) => (r.model.nodes[0].underlay.network = 'nowhere'),
      'model.nodes.0.underlay.network: no network "nowhere"',
    ],
    [
      'router-vxlan',
      (r) => (r.model.underlay.routers[0].networks = ['nowhere']),
      'model.underlay.routers.0.networks: no network "nowhere"',
    ],
    [
      'service',
      (r) => (r.model.services[0].backends = ['zz']),
      'model.services.0.backends: no pod with an address "zz"',
    ],
    [
      'router-vxlan',
      (r) => (r.model.underlay.routers[0].addresses = {}),
      /^model\.underlay\.routers\.0\.addresses: no address on network "\S+"$/,
    ],
    ['policy', (r) => (r.model.policies[0].pods = ['zz']), 'model.policies.0.pods: no pod with an address "zz"'],
    [
      'policy',
      (r) => {
        const pod = r.model.policies[0].pods[0];
        delete r.model.pods.find((p: { name: string }) => p.name === pod).address;
      },
      /^model\.policies\.0\.pods: no pod with an address "\w+"$/,
    ],
    [
      'vxlan',
      (r) => (r.model.checks[0].to = { pod: 'a1', container: 'nope' }),
      'model.checks.0.to.container: no container "nope"',
    ],
    ['vxlan', (r) => (r.model.checks[0].from = { node: 'node-9' }), 'model.checks.0.from: no node "node-9"'],
    ['vxlan', (r) => (r.model.checks[0].to = { service: 'nosvc' }), 'model.checks.0.to: no Service "nosvc"'],
    ['egress', (r) => (r.model.outside = { address: '999.1.1.1' }), /^model\.outside\.address: an IPv4 address/],
    ['service', (r) => (r.model.services[0].protocol = 'sctp'), /^model\.services\.0\.protocol: /],
    ['vxlan', (r) => (r.facts['node-0'].address = 'x'), /^facts\.node-0\.address: an IPv4 address/],
    [
      'policy',
      (r) => (r.model.pods[0].labels = { app: 'bad value!' }),
      /^model\.pods\.0\.labels\.app: at most 63 letters/,
    ],
  ];
  for (const [lab, change, expected] of cases) {
    const said = problem(lab, change);
    if (typeof expected === 'string') assert.equal(said, expected, lab);
    else assert.match(said, expected, lab);
  }
  assert.deepEqual(checkedLabRecord('not a record', 'vxlan'), {
    problem: '(the record): Invalid input: expected object, received string',
  });
  // The run line: the whole of it is an id, a space and the controller (up to a long state path).
  assert.equal(isRunLine('x0123456789ab host:/x'), false);
  assert.equal(isRunLine('0123456789abc host:/x'), false);
  assert.equal(isRunLine(`0123456789ab host:/${'d'.repeat(4000)}`), true);
});

test("a record of a netlab before tunnels had a kind: its tunnel's kind is the lab's cross-node kind", () => {
  for (const file of ['vxlan.yaml', 'flannel.yaml', 'geneve.yaml']) {
    const record = recordOf(loadLabFile(join(LABS, file)).model);
    const { kind, ...older } = record.model.tunnel!;
    assert.equal(kind, record.model.crossNode, file);
    const checked = checkedLabRecord({ ...record, model: { ...record.model, tunnel: older } }, record.lab);
    assert.deepEqual(checked, { record }, file);
  }
});
