// One module per kind of wiring (src/wiring/): the registry is the only place
// that lists them, every step declares what it creates and changes, and those
// declarations say the same as the step's commands; the drift check compares
// them with a node's answers (node/query.ts), parsed from the script's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/exec/simulated.js';
import type { Command, Step } from '../../src/model/plan.js';
import { findingsOf } from '../../src/verify/diagnose.js';
import { parseAnswers, questionLines } from '../../src/node/query.js';
import { CROSS_NODE, SAME_NODE } from '../../src/wiring/registry.js';
import { LABS, ROOT } from '../paths.js';

const labFiles = readdirSync(LABS).filter((f) => f.endsWith('.yaml'));

function planOf(lab: string) {
  const { model } = loadLabFile(join(LABS, lab));
  return buildPlan(model, simulatedFacts(model));
}

/**
 * What a command creates or changes, read from its argv: the test's own
 * oracle, so that a declaration that says something else than its command fails.
 */
function fromArgv(c: Command): string[] {
  const at = (word: string) => c[c.indexOf(word) + 1]!;
  const [netns, rest] = c[0] === 'ip' && c[1] === '-n' ? [c[2], ['ip', ...c.slice(3)]] : [undefined, c];
  const where = netns ? ` in ${netns}` : '';
  const [tool, object, verb, first] = rest;
  if (tool === 'ip' && object === 'netns' && verb === 'add') return [`netns ${first}`];
  if (tool === 'ip' && object === 'link' && verb === 'add') {
    const name = first === 'name' ? rest[4]! : first!;
    const peer = rest.includes('peer')
      ? [`link ${at('peer') === 'name' ? at('name') : ''}${rest.includes('netns') ? ` in ${at('netns')}` : ''}`]
      : [];
    return [`link ${name}${where}`, ...peer];
  }
  if (tool === 'ip' && object === 'tunnel' && verb === 'add') return [`link ${first}`];
  if (tool === 'ip' && object === 'addr' && verb === 'add') return [`address ${first} on ${at('dev')}${where}`];
  if (tool === 'ip' && object === 'route' && verb === 'add') return [`route ${first}${where}`];
  if (tool === 'ip' && object === 'neigh' && verb === 'add')
    return [`neighbour ${first} ${at('lladdr')} on ${at('dev')}`];
  if (tool === 'ip' && object === 'link' && verb === 'set') {
    if (rest.includes('master')) return [`master ${first} ${at('master')}`];
    if (rest.includes('netns')) return [`moved ${first} ${at('netns')}`];
    if (rest.includes('up')) return [`up ${first}${where}`];
  }
  if (tool === 'bridge' && object === 'fdb')
    return [`fdb ${verb === 'append' ? first : ''} on ${at('dev')} to ${at('dst')}`];
  if (tool === 'bridge' && rest.includes('hairpin')) return [`hairpin ${at('dev')} ${at('hairpin')}`];
  if (tool === 'netlab_sysctl') return [`sysctl ${object} ${verb}`];
  if (tool === 'netlab_pause') return [`pause ${object}`];
  if (tool === 'iptables' && rest.includes('-N')) return [`chain filter ${at('-N')}`];
  if (tool === 'iptables' && rest.includes('-I')) return [`jump filter ${at('-I')} ${at('-j')}`];
  if (tool === 'netlab_restore') {
    const lines = object!.split('\n');
    return [
      ...lines.filter((l) => l.startsWith(':')).map((l) => `chain nat ${l.slice(1).split(' ')[0]}`),
      ...lines
        .filter((l) => /^-A (PREROUTING|OUTPUT|POSTROUTING) /.test(l))
        .map((l) => `jump nat ${l.split(' ')[1]} ${l.split(' ').at(-1)}`),
    ];
  }
  return [];
}

function declared(step: Step): string[] {
  const where = (netns?: string) => (netns ? ` in ${netns}` : '');
  return [...step.creates, ...step.sets].map((d) => {
    switch (d.kind) {
      case 'netns':
        return `netns ${d.name}`;
      case 'pause':
        return `pause ${d.pod}`;
      case 'link':
        return `link ${d.name}${where(d.netns)}`;
      case 'address':
        return `address ${d.address} on ${d.dev}${where(d.netns)}`;
      case 'route':
        return `route ${d.dst}${where(d.netns)}`;
      case 'neighbour':
        return `neighbour ${d.address} ${d.mac} on ${d.dev}`;
      case 'fdb':
        return `fdb ${d.mac} on ${d.dev} to ${d.dst}`;
      case 'chain':
        return `chain ${d.table} ${d.name}`;
      case 'sysctl':
        return `sysctl ${d.key} ${d.value}`;
      case 'up':
        return `up ${d.link}${where(d.netns)}`;
      case 'master':
        return `master ${d.link} ${d.bridge}`;
      case 'moved':
        return `moved ${d.link} ${d.netns}`;
      case 'hairpin':
        return `hairpin ${d.port} ${d.on ? 'on' : 'off'}`;
      case 'jump':
        return `jump ${d.table} ${d.from} ${d.to}`;
      default:
        return JSON.stringify(d);
    }
  });
}

test('every step of every bundled lab declares exactly what its commands create and change', () => {
  for (const file of labFiles) {
    for (const node of planOf(file).nodes) {
      for (const step of node.steps) {
        assert.deepEqual(
          declared(step).sort(),
          step.apply.flatMap(fromArgv).sort(),
          `${file} ${node.node} step ${step.id} (${step.summary})`,
        );
      }
    }
  }
});

test('every kind of the registry is used by a bundled lab, and no code outside src/wiring names a cross-node kind', () => {
  const used = labFiles.map((f) => loadLabFile(join(LABS, f)).model);
  for (const { kind } of CROSS_NODE)
    assert.ok(
      used.some((m) => m.crossNode === kind),
      `no bundled lab uses cross-node: ${kind}`,
    );
  for (const { kind } of SAME_NODE)
    assert.ok(
      used.some((m) => m.sameNode === kind),
      `no bundled lab uses same-node: ${kind}`,
    );
  // A quoted kind name in code outside the wiring modules is a switch on kinds (comments may name them).
  const kinds = CROSS_NODE.map((w) => w.kind).filter((k) => k !== 'none' && k !== 'routes');
  const quoted = new RegExp(`['"\`](${kinds.join('|')})['"\`]`);
  const walk = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  const offenders = walk('src')
    .filter((f) => !f.startsWith(join('src', 'wiring')))
    .flatMap((f) =>
      readFileSync(join(ROOT, f), 'utf8')
        .split('\n')
        .filter((line) => !/^(\/\/|\/\*|\*)/.test(line.trim()) && quoted.test(line))
        .map((line) => `${f}: ${line.trim()}`),
    );
  assert.deepEqual(offenders, []);
});

test("drift: each declaration the node lacks is one finding on the step that made it; objects in pods and moved links are not the node's", () => {
  const plan = planOf('flannel.yaml');
  const steps = plan.nodes[0]!.steps;
  const stepOf = (summary: RegExp) => steps.find((s) => summary.test(s.summary))!.id;
  // What node-0 has when everything is in place, in the shape node/query.ts parses.
  const links = steps.flatMap((s) => s.creates.flatMap((c) => (c.kind === 'link' && !c.netns ? [c.name] : [])));
  const healthy = {
    links: links.map((ifname, i) => ({
      ifindex: i + 2,
      ifname,
      up: true,
      ...(ifname === 'veth-a0' ? { hairpin: false } : {}),
    })),
    routes: steps.flatMap((s) => s.creates.flatMap((c) => (c.kind === 'route' && !c.netns ? [{ dst: c.dst }] : []))),
    namespaces: ['a0'],
    neighbours: [{ dst: '10.200.1.0', dev: 'flannel.1', mac: '0a:58:0a:c8:01:00', state: ['PERMANENT'] }],
    fdb: [{ mac: '0a:58:0a:c8:01:00', ifname: 'flannel.1', dst: '192.168.64.5', self: true, permanent: true }],
    sysctls: { 'net.ipv4.ip_forward': '1' },
    iptables: {
      filter: [
        ':FORWARD DROP [0:0]',
        ':NETLAB-FWD-flannel - [0:0]',
        '-A FORWARD -m comment --comment "netlab lab flannel" -j NETLAB-FWD-flannel',
      ],
      nat: [],
    },
  };
  assert.deepEqual(findingsOf(steps, healthy, new Set()), [], 'a node with everything has no finding');

  const broken = {
    ...healthy,
    links: healthy.links
      .filter((l) => l.ifname !== 'flannel.1')
      .map((l) => (l.ifname === 'br0' ? { ...l, up: false } : l)),
    fdb: [],
    sysctls: { 'net.ipv4.ip_forward': '0' },
    iptables: { filter: [':FORWARD DROP [0:0]'], nat: [] },
  };
  const found = findingsOf(steps, broken, new Set(['a0'])).map((f) => `${f.step.id} ${f.what}`);
  assert.deepEqual(
    found.sort(),
    [
      `${stepOf(/^start pod a0's pause process/)} the pause process of pod a0 is gone`,
      `${stepOf(/^create the iptables chain/)} the iptables chain NETLAB-FWD-flannel is missing`,
      `${stepOf(/^jump from FORWARD/)} the jump from FORWARD to the lab chain NETLAB-FWD-flannel is missing`,
      `${stepOf(/^bring up br0/)} link br0 is down`,
      `${stepOf(/^create the VXLAN device flannel\.1/)} link flannel.1 is missing`,
      `${stepOf(/^FDB: /)} the FDB entry 0a:58:0a:c8:01:00 → 192.168.64.5 on flannel.1 is missing or changed`,
      `${stepOf(/^turn on IPv4 forwarding/)} net.ipv4.ip_forward is 0, but the lab sets it to 1`,
    ].sort(),
  );
  // veth-a0-c is made in the node and moved into the pod: its absence from the node is no finding.
  assert.ok(!found.some((f) => f.includes('veth-a0-c')));
});

test('node questions: one script, each answer in its own section, parsed back per namespace', () => {
  const asks = [
    { links: true, lookups: ['10.200.1.2', '10.9.9.9'], iptables: true },
    { netns: 'a0', links: true },
  ];
  const script = questionLines(asks).join('\n');
  assert.match(script, /^ip -j -d link show 2>\/dev\/null$/m);
  assert.match(script, /^ip -n a0 -j -d link show 2>\/dev\/null$/m);
  assert.match(script, /^ip -j route get 10\.200\.1\.2 2>&1$/m, 'a failed lookup says why on stderr');
  const output = [
    '@@netlab answer 0 links',
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"]},{"ifindex":5,"ifname":"veth-a0","link_index":2,"flags":["UP"],"master":"br0","linkinfo":{"info_kind":"veth","info_slave_data":{"hairpin":true}}}]',
    '@@netlab answer 0 get0',
    '[{"dst":"10.200.1.2","gateway":"192.168.64.5","dev":"eth1","prefsrc":"192.168.64.4"}]',
    '@@netlab answer 0 match0',
    '[{"dst":"10.200.1.0/24","gateway":"192.168.64.5","dev":"eth1"}]',
    '@@netlab answer 0 get1',
    'RTNETLINK answers: Network is unreachable',
    '@@netlab answer 0 match1',
    '',
    '@@netlab answer 0 iptables',
    '*filter',
    ':FORWARD DROP [0:0]',
    '-A FORWARD -j NETLAB-FWD-x',
    '*nat',
    ':NL-SERVICES-x - [0:0]',
    '@@netlab answer 1 links',
    '[{"ifindex":2,"ifname":"veth-a0-c","link_index":5,"flags":["BROADCAST"]}]',
  ].join('\n');
  const { answers } = parseAnswers(`something the head printed\n${output}\n`, asks);
  assert.deepEqual(
    answers[0]!.links!.map((l) => [l.ifname, l.up, l.hairpin]),
    [
      ['lo', true, undefined],
      ['veth-a0', true, true],
    ],
  );
  assert.deepEqual(answers[0]!.lookups!['10.200.1.2'], {
    ok: true,
    type: 'unicast',
    dev: 'eth1',
    via: '192.168.64.5',
    src: '192.168.64.4',
    entry: '10.200.1.0/24 via 192.168.64.5 dev eth1',
  });
  assert.deepEqual(answers[0]!.lookups!['10.9.9.9'], { ok: false, error: 'Network is unreachable' });
  assert.deepEqual(answers[0]!.iptables, {
    filter: [':FORWARD DROP [0:0]', '-A FORWARD -j NETLAB-FWD-x'],
    nat: [':NL-SERVICES-x - [0:0]'],
  });
  assert.deepEqual(
    answers[1]!.links!.map((l) => [l.ifname, l.up, l.peerIndex]),
    [['veth-a0-c', false, 5]],
  );
});
