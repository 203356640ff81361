// One module per kind of wiring (src/wiring/): the registry is the only place
// that lists them, every step declares what it creates and changes, and those
// declarations say the same as the step's commands; the drift check compares
// them with a node's answers (node/query.ts), parsed from the script's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { savedTables } from './saved-tables.js';
import { ruleWords } from '../../src/node/tables.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import type { Command, Step } from '../../src/model/plan.js';
import { findingsOf } from '../../src/verify/diagnose.js';
import { parseAnswers, questionLines } from '../../src/node/query.js';
import { CROSS_NODE, SAME_NODE } from '../../src/wiring/registry.js';
import { explainOf } from '../../src/model/effects.js';
import { LABS, ROOT } from '../paths.js';
import { skipUnlessRoot } from '../root.js';

const labFiles = readdirSync(LABS).filter((f) => f.endsWith('.yaml'));

function planOf(lab: string) {
  const { model } = loadLabFile(join(LABS, lab));
  return buildPlan(model, simulatedFacts(model));
}

/**
 * What a command creates or changes, read from its argv: the test's own
 * oracle of the effects table (src/model/effects.ts), which derives a
 * record's commands and its declarations in two places that must agree; the
 * code itself never reads a command back.
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
    // A tunnel's VNI and UDP port, which the drift check compares (ip -d link's id and port).
    const tunnel = rest.includes('id') ? ` vni ${at('id')} port ${at('dstport')}` : '';
    return [`link ${name}${where}${tunnel}`, ...peer];
  }
  if (tool === 'ip' && object === 'tunnel' && verb === 'add') return [`link ${first}`];
  if (tool === 'ip' && object === 'addr' && verb === 'add') return [`address ${first} on ${at('dev')}${where}`];
  if (tool === 'ip' && object === 'route' && verb === 'add') {
    const via = rest.includes('via') ? ` via ${at('via')}` : '';
    const dev = rest.includes('dev') ? ` dev ${at('dev')}` : '';
    return [`route ${first}${via}${dev}${where}`];
  }
  if (tool === 'ip' && object === 'neigh' && verb === 'add')
    return [`neighbour ${first} ${at('lladdr')} on ${at('dev')}`];
  if (tool === 'ip' && object === 'link' && verb === 'set') {
    if (rest.includes('master')) return [`master ${first} ${at('master')}`];
    if (rest.includes('mtu')) return [`mtu ${first}${where} ${at('mtu')}`];
    if (rest.includes('netns')) return [`moved ${first} ${at('netns')}`];
    if (rest.includes('up')) return [`up ${first}${where}`];
  }
  if (tool === 'bridge' && object === 'fdb')
    return [`fdb ${verb === 'append' || verb === 'replace' ? first : ''} on ${at('dev')} to ${at('dst')}`];
  if (tool === 'bridge' && rest.includes('hairpin')) return [`hairpin ${at('dev')} ${at('hairpin')}`];
  if (tool === 'netlab_sysctl') return [`sysctl ${object} ${verb}`];
  if (tool === 'netlab_pause') return [`pause ${object}`];
  const table = rest.includes('-t') ? at('-t') : 'filter';
  if (tool === 'iptables' && rest.includes('-N')) return [`chain ${table} ${at('-N')}`];
  // A jump: inserted first (-I CHAIN 1), or a rule appended to a built-in chain; its words after the chain.
  if (tool === 'iptables' && rest.includes('-I'))
    return [`jump ${table} ${at('-I')} ${at('-j')}: ${rest.slice(rest.indexOf('-I') + 3).join(' ')}`];
  if (tool === 'iptables' && rest.includes('-A') && /^[A-Z]+$/.test(at('-A')))
    return [`jump ${table} ${at('-A')} ${at('-j')}: ${rest.slice(rest.indexOf('-A') + 2).join(' ')}`];
  if (tool === 'iptables' && rest.includes('-A'))
    return [`rule ${table} ${at('-A')} ${rest.slice(rest.indexOf('-A') + 2).join(' ')}`];
  if (tool === 'netlab_restore') {
    const lines = object!.split('\n');
    return [
      ...lines.filter((l) => l.startsWith(':')).map((l) => `chain nat ${l.slice(1).split(' ')[0]}`),
      ...lines
        .filter((l) => /^-A (PREROUTING|OUTPUT|POSTROUTING) /.test(l))
        .map((l) => {
          const [, from, ...words] = ruleWords(l);
          return `jump nat ${from} ${words.at(-1)}: ${words.join(' ')}`;
        }),
      ...lines
        .filter((l) => l.startsWith('-A ') && !/^-A (PREROUTING|OUTPUT|POSTROUTING) /.test(l))
        .map((l) => `rule nat ${l.slice(3)}`),
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
        return `link ${d.name}${where(d.netns)}${d.tunnel ? ` vni ${d.tunnel.vni} port ${d.tunnel.port}` : ''}`;
      case 'address':
        return `address ${d.address} on ${d.dev}${where(d.netns)}`;
      case 'route':
        return `route ${d.dst}${d.via ? ` via ${d.via}` : ''}${d.dev ? ` dev ${d.dev}` : ''}${where(d.netns)}`;
      case 'neighbour':
        return `neighbour ${d.address} ${d.mac} on ${d.dev}`;
      case 'fdb':
        return `fdb ${d.mac} on ${d.dev} to ${d.dst}`;
      case 'chain':
        return `chain ${d.table} ${d.name}`;
      case 'rule':
        return `rule ${d.table} ${d.chain} ${d.rule.join(' ')}`;
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
      case 'mtu':
        return `mtu ${d.link}${where(d.netns)} ${d.mtu}`;
      case 'jump':
        return `jump ${d.table} ${d.from} ${d.to}: ${d.rule.join(' ')}`;
      default:
        return JSON.stringify(d);
    }
  });
}

test('effects table: every step of every bundled lab declares exactly what its commands create and change', () => {
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
  const masters = new Map(
    steps.flatMap((s) => s.sets.flatMap((c) => (c.kind === 'master' ? [[c.link, c.bridge]] : []))),
  );
  const healthy = {
    links: links.map((ifname, i) => ({
      ifindex: i + 2,
      ifname,
      up: true,
      ...(ifname === 'veth-a0' ? { hairpin: false } : {}),
      ...(masters.has(ifname) ? { master: masters.get(ifname)! } : {}),
    })),
    routes: steps.flatMap((s) =>
      s.creates.flatMap((c) =>
        c.kind === 'route' && !c.netns
          ? [{ dst: c.dst, ...(c.via ? { gateway: c.via } : {}), ...(c.dev ? { dev: c.dev } : {}) }]
          : [],
      ),
    ),
    namespaces: ['a0'],
    neighbours: [{ dst: '10.200.1.0', dev: 'flannel.1', mac: '0a:58:0a:c8:01:00', state: ['PERMANENT'] }],
    fdb: [{ mac: '0a:58:0a:c8:01:00', ifname: 'flannel.1', dst: '192.168.64.5', self: true, permanent: true }],
    sysctls: { 'net.ipv4.ip_forward': '1' },
    iptables: savedTables([
      ':FORWARD DROP [0:0]',
      ':NETLAB-FWD-flannel - [0:0]',
      '-A FORWARD -m comment --comment "netlab lab flannel" -j NETLAB-FWD-flannel',
      '-A NETLAB-FWD-flannel -s 10.200.0.0/16 -j ACCEPT',
      '-A NETLAB-FWD-flannel -d 10.200.0.0/16 -j ACCEPT',
    ]),
  };
  assert.deepEqual(findingsOf(steps, healthy, new Set()), [], 'a node with everything has no finding');
  const dropFirst = {
    ...healthy,
    iptables: savedTables(['-A FORWARD -s 10.200.0.0/16 -j DROP', ...healthy.iptables.filter.lines]),
  };
  assert.deepEqual(
    findingsOf(steps, dropFirst, new Set()).map((f) => f.what),
    [
      'a rule the lab did not make drops or rejects in FORWARD before the jump to NETLAB-FWD-flannel: `-A FORWARD -s 10.200.0.0/16 -j DROP`',
    ],
  );

  const broken = {
    ...healthy,
    links: healthy.links
      .filter((l) => l.ifname !== 'flannel.1')
      .map((l) => (l.ifname === 'br0' ? { ...l, up: false } : l)),
    fdb: [],
    routes: [],
    neighbours: [],
    namespaces: [],
    sysctls: { 'net.ipv4.ip_forward': '0' },
    iptables: savedTables([':FORWARD DROP [0:0]']),
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
      `${stepOf(/^create pod a0's network namespace$/)} the network namespace of pod a0 is missing`,
      `${stepOf(/^neighbour: node-1's VTEP/)} the neighbour entry 10.200.1.0 → 0a:58:0a:c8:01:00 on flannel.1 is missing or changed`,
      `${stepOf(/^route 10\.200\.1\.0\/24 via/)} route 10.200.1.0/24 is missing`,
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
  // iptables-save read once: each table's chains (and policies), its rules (and their targets), its lines without counters.
  assert.deepEqual(answers[0]!.iptables, {
    filter: {
      chains: new Map([['FORWARD', 'DROP']]),
      rules: [
        { chain: 'FORWARD', args: ['-j', 'NETLAB-FWD-x'], target: 'NETLAB-FWD-x', text: '-A FORWARD -j NETLAB-FWD-x' },
      ],
      lines: [':FORWARD DROP', '-A FORWARD -j NETLAB-FWD-x'],
    },
    nat: { chains: new Map([['NL-SERVICES-x', '-']]), rules: [], lines: [':NL-SERVICES-x -'] },
  });
  assert.deepEqual(
    answers[1]!.links!.map((l) => [l.ifname, l.up, l.peerIndex]),
    [['veth-a0-c', false, 5]],
  );
});

test("node questions: a namespace's links, addresses and routes are one ip -batch, its lines the answers in order; iptables-save's other tables are not read", () => {
  const asks = [{ netns: 'a0', links: true, addresses: true, routes: true, iptables: true }];
  const script = questionLines(asks).join('\n');
  assert.match(script, /^echo "@@netlab answer 0 links,addresses,routes"$/m);
  assert.match(
    script,
    /^printf '%s\\n' 'link show' 'addr show' 'route show table main' \| ip -n a0 -j -d -batch - 2>\/dev\/null$/m,
  );
  assert.doesNotMatch(script, /^ip /m, 'no ip process of its own per question');
  const answered = (ipLines: string[]) =>
    parseAnswers(
      [
        '@@netlab answer 0 links,addresses,routes',
        ...ipLines,
        '@@netlab answer 0 iptables',
        '*filter',
        ':FORWARD ACCEPT [0:0]',
        'COMMIT',
        '*mangle',
        ':PREROUTING ACCEPT [0:0]',
        'COMMIT',
        '*nat',
        ':NL-SERVICES-x - [0:0]',
        'COMMIT',
        '',
      ].join('\n'),
      asks,
    ).answers[0]!;
  const links = '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"]}]';
  const addresses = '[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]}]';
  const all = answered([links, addresses, '[{"dst":"10.200.0.0/24","dev":"br0"}]']);
  assert.deepEqual(
    all.links!.map((l) => l.ifname),
    ['lo'],
  );
  assert.deepEqual(
    all.addresses!.map((a) => a.address),
    ['127.0.0.1'],
  );
  assert.deepEqual(
    all.routes!.map((r) => r.dst),
    ['10.200.0.0/24'],
  );
  assert.deepEqual([...all.iptables!.nat.chains.keys()], ['NL-SERVICES-x']);
  assert.deepEqual([...all.iptables!.filter.chains.keys()], ['FORWARD'], "mangle's chains are not filter's");
  // iproute2 stops a batch at its first failure: the answers after it are missing, not shifted.
  const cut = answered([links]);
  assert.deepEqual(
    cut.links!.map((l) => l.ifname),
    ['lo'],
  );
  assert.deepEqual(cut.addresses, []);
  assert.deepEqual(cut.routes, []);
});

test("drift of the lab's rules: compared in iptables-save's own words; a rule missing, changed, added or out of order is named", () => {
  const steps = planOf('service.yaml').nodes[0]!.steps;
  // iptables-save of node-0's nat table with the lab up (on this kernel): it adds `-m tcp`, and
  // prints the statistic probability as the kernel keeps it.
  const saved = [
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...[
      'NL-MARK-MASQ-service',
      'NL-NODEPORTS-service',
      'NL-POSTROUTING-service',
      'NL-SEP-service-1-1',
      'NL-SEP-service-1-2',
      'NL-SERVICES-service',
      'NL-SVC-service-1',
    ].map((c) => `:${c} - [0:0]`),
    '-A PREROUTING -m comment --comment "netlab lab service" -j NL-SERVICES-service',
    '-A OUTPUT -m comment --comment "netlab lab service" -j NL-SERVICES-service',
    '-A POSTROUTING -m comment --comment "netlab lab service" -j NL-POSTROUTING-service',
    '-A NL-MARK-MASQ-service -j MARK --set-xmark 0x4000/0x4000',
    '-A NL-POSTROUTING-service -s 10.200.0.0/16 ! -d 10.200.0.0/16 -j MASQUERADE',
    '-A NL-POSTROUTING-service -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A NL-POSTROUTING-service -j MASQUERADE',
    '-A NL-SEP-service-1-1 -s 10.200.0.2/32 -j NL-MARK-MASQ-service',
    '-A NL-SEP-service-1-1 -p tcp -j DNAT --to-destination 10.200.0.2:8080',
    '-A NL-SEP-service-1-2 -s 10.200.1.2/32 -j NL-MARK-MASQ-service',
    '-A NL-SEP-service-1-2 -p tcp -j DNAT --to-destination 10.200.1.2:8080',
    '-A NL-SERVICES-service -d 10.96.0.2/32 -p tcp -m tcp --dport 8080 -j NL-SVC-service-1',
    '-A NL-SERVICES-service -m addrtype --dst-type LOCAL -j NL-NODEPORTS-service',
    '-A NL-SVC-service-1 -m statistic --mode random --probability 0.50000000000 -j NL-SEP-service-1-1',
    '-A NL-SVC-service-1 -j NL-SEP-service-1-2',
  ];
  const natFindings = (nat: string[]) =>
    findingsOf(steps, { iptables: savedTables([], nat) }, new Set())
      .map((f) => f.what)
      .filter((what) => what.includes('nat chain'));
  assert.deepEqual(natFindings(saved), [], 'the rules as iptables-save prints them are the rules the lab made');

  const changed = saved
    .filter((l) => l !== '-A NL-POSTROUTING-service -j MASQUERADE')
    .map((l) => l.replace('10.200.0.2:8080', '10.200.0.2:8081'));
  assert.deepEqual(natFindings(changed), [
    'the iptables nat chain NL-SEP-service-1-1 lacks the rule `-A NL-SEP-service-1-1 -p tcp -j DNAT --to-destination 10.200.0.2:8080`',
    'the iptables nat chain NL-SEP-service-1-1 has a rule the lab did not make: `-A NL-SEP-service-1-1 -p tcp -j DNAT --to-destination 10.200.0.2:8081`',
    'the iptables nat chain NL-POSTROUTING-service lacks the rule `-A NL-POSTROUTING-service -j MASQUERADE`',
  ]);
  const swapped = saved.map((l) =>
    l.startsWith('-A NL-SVC-service-1 -m')
      ? '-A NL-SVC-service-1 -j NL-SEP-service-1-2'
      : l === '-A NL-SVC-service-1 -j NL-SEP-service-1-2'
        ? saved.find((x) => x.startsWith('-A NL-SVC-service-1 -m'))!
        : l,
  );
  assert.deepEqual(natFindings(swapped), [
    'the rules of the iptables nat chain NL-SVC-service-1 are not in the order the lab made them',
  ]);
  const added = [...saved, '-A NL-SVC-service-1 -j DROP'];
  assert.deepEqual(natFindings(added), [
    'the iptables nat chain NL-SVC-service-1 has a rule the lab did not make: `-A NL-SVC-service-1 -j DROP`',
  ]);
});

test("drift of a tunnel's VNI and port: read from ip -d link's info_data", () => {
  const steps = planOf('vxlan.yaml').nodes[1]!.steps;
  const vxlan0 = (data: Record<string, unknown>) =>
    findingsOf(
      steps,
      { links: [{ ifindex: 5, ifname: 'vxlan0', up: true, kind: 'vxlan', master: 'br1', data }] },
      new Set(),
    )
      .map((f) => f.what)
      .filter((what) => what.startsWith('vxlan0 '));
  assert.deepEqual(vxlan0({ id: 100, port: 4789 }), []);
  assert.deepEqual(vxlan0({ id: 101, port: 4790 }), [
    'vxlan0 has VNI 101, but the lab makes it with VNI 100',
    'vxlan0 sends to UDP port 4790, but the lab makes it with port 4789',
  ]);
});

test('drift inside a pod: the links the steps make or move there, whether they are up, and its routes', () => {
  const steps = planOf('flannel.yaml').nodes[0]!.steps;
  const stepOf = (summary: RegExp) => steps.find((s) => summary.test(s.summary))!.id;
  const pod = (up: boolean, routes: string[]) => ({
    links: [
      { ifindex: 1, ifname: 'lo', up: true },
      { ifindex: 2, ifname: 'veth-a0-c', up },
    ],
    // the default route as the lab makes it: through the pod's gateway, the node's bridge
    routes: routes.map((dst) => (dst === 'default' ? { dst, gateway: '10.200.0.1', dev: 'veth-a0-c' } : { dst })),
  });
  const inPod = (answers: ReturnType<typeof pod>) =>
    findingsOf(steps, {}, new Set(), new Map([['a0', answers]]))
      .filter((f) => f.what.startsWith('in pod'))
      .map((f) => `${f.step.id} ${f.what}`);
  assert.deepEqual(inPod(pod(true, ['default', '10.200.0.0/24'])), []);
  assert.deepEqual(inPod(pod(false, ['10.200.0.0/24'])), [
    `${stepOf(/^bring up veth-a0-c in pod a0/)} in pod namespace a0: link veth-a0-c is down`,
    `${stepOf(/^route pod a0's other traffic/)} in pod namespace a0: route default is missing`,
  ]);
  assert.deepEqual(inPod({ links: [{ ifindex: 1, ifname: 'lo', up: true }], routes: [] }).slice(0, 1), [
    `${stepOf(/^move veth-a0-c into pod a0/)} in pod namespace a0: link veth-a0-c is missing`,
  ]);
});

test("the why and --explain texts say what today's flannel does, and that the vxlan lab's node routes br0 → br0", () => {
  const flannel = planOf('flannel.yaml').nodes[0]!.steps;
  const fdb = flannel.filter((s) => s.effects.some((e) => e.kind === 'fdb'));
  assert.ok(fdb.length > 0);
  for (const s of fdb) {
    // flanneld sets a VTEP's one destination (netlink NeighSet: replace), learned from the Node's annotations
    assert.equal(s.apply[0]![2], 'replace', s.summary);
    assert.match(s.why, /flannel\.alpha\.coreos\.com\/public-ip/);
    const explained = explainOf(s.effects[0]!)[0]!;
    assert.match(explained, /"replace"/);
    assert.match(explained, /Kubernetes API/);
  }
  const neighbour = flannel.find((s) => s.effects[0]!.kind === 'neighbour')!;
  assert.match(neighbour.why, /flannel\.alpha\.coreos\.com\/backend-data/);
  // etcd only as what older flannel used
  for (const lab of labFiles) {
    for (const node of planOf(lab).nodes)
      for (const s of node.steps) {
        const texts = [s.why, ...s.effects.flatMap(explainOf)];
        for (const text of texts)
          assert.doesNotMatch(
            text.replace(/etcd only with its older etcd subnet manager/, ''),
            /etcd/,
            `${lab}: ${s.summary}`,
          );
      }
  }
  const forwarding = planOf('vxlan.yaml').nodes[0]!.steps.find((s) => s.summary === 'turn on IPv4 forwarding')!;
  assert.match(forwarding.why, /routes it from br0 back out of br0 .* and br0 then bridges the frame to vxlan0/);
  assert.doesNotMatch(forwarding.why, /from the bridge to the underlay/);
});

/**
 * Whether a step's own undo, or the removal of something the lab made around
 * it, takes away what it creates or sets: down leaves nothing. Read from the
 * undo's argv: the test's own oracle, apart from the effects table.
 */
function undoneBy(step: Step, labLinks: Set<string>): string[] {
  const iptablesOn = (table: 'filter' | 'nat') => (table === 'nat' ? 'iptables -w -t nat' : 'iptables -w');
  const undo = step.undo.map((c) => c.join(' '));
  const has = (words: string) => undo.some((u) => u === words || u.startsWith(`${words} `));
  const onLabLink = (dev: string | undefined) => dev !== undefined && labLinks.has(dev);
  const missing: string[] = [];
  for (const c of step.creates) {
    const inPod = 'netns' in c && c.netns !== undefined;
    const ok =
      inPod ||
      (c.kind === 'netns' && has(`ip netns del ${c.name}`)) ||
      (c.kind === 'pause' && has(`netlab_kill_pod ${c.pod}`)) ||
      // A veth pair goes whole: deleting either end, or the pod's namespace one end is in, deletes both.
      (c.kind === 'link' &&
        step.creates.some(
          (end) =>
            end.kind === 'link' &&
            (end.netns !== undefined ||
              has(`ip link del ${end.name}`) ||
              has(`ip tunnel del ${end.name}`) ||
              has(`netlab_del_unmoved ${end.name}`)),
        )) ||
      (c.kind === 'address' && onLabLink(c.dev)) ||
      (c.kind === 'route' && (onLabLink(c.dev) || has(`ip route del ${c.dst}`))) ||
      ((c.kind === 'neighbour' || c.kind === 'fdb') && onLabLink(c.dev)) ||
      (c.kind === 'chain' && has(`${iptablesOn(c.table)} -X ${c.name}`)) ||
      (c.kind === 'rule' && has(`${iptablesOn(c.table)} -F ${c.chain}`));
    if (!ok) missing.push(JSON.stringify(c));
  }
  for (const s of step.sets)
    if (s.kind === 'jump' && !has(`${iptablesOn(s.table)} -D ${s.from} ${s.rule.join(' ')}`))
      missing.push(JSON.stringify(s));
  return missing;
}

test('effects table: everything a step of a bundled lab makes is undone by its own undo or goes with what the lab made around it', () => {
  for (const file of labFiles)
    for (const node of planOf(file).nodes) {
      const labLinks = new Set(
        node.steps.flatMap((s) => s.creates.flatMap((c) => (c.kind === 'link' && !c.netns ? [c.name] : []))),
      );
      for (const step of node.steps)
        assert.deepEqual(undoneBy(step, labLinks), [], `${file} ${node.node} step ${step.id} (${step.summary})`);
    }
});

/** Each batch of the bundled labs' node scripts that `pattern` matches (its group `ids`: the steps'), with its steps. */
async function* scriptBatches(pattern: RegExp) {
  const { applyScript } = await import('../../src/shell/node-script.js');
  for (const file of labFiles)
    for (const node of planOf(file).nodes) {
      const script = applyScript('lab', node.steps, { id: 'r', from: 'host:/state' });
      const byId = new Map(node.steps.map((s) => [s.id, s]));
      for (const match of script.matchAll(pattern)) {
        const { ids, ...parts } = match.groups!;
        // a line's steps: "ID", or "ID+ID" for a line that does two (an ip batch's veth pair made in its pod)
        const lines = ids!.split(' ').map((line) => line.split('+').map((id) => byId.get(Number(id))!));
        const steps = lines.flat();
        assert.ok(steps.length > 1, `${file}: a batch of one is its commands`);
        yield { where: `${file} ${node.node} batch ${ids}`, steps, lines, parts: parts as Record<string, string> };
      }
    }
}

test("ip -batch: each bundled lab's node script batches a step's one ip command as that command, in its namespace, and nothing else, but for a veth pair made with its pod end in the pod", async () => {
  let [batched, folded] = [0, 0];
  for await (const { where, steps, lines, parts } of scriptBatches(
    // (ids of one line, "7+9", need no quotes)
    /^netlab_batch (?<target>\S+) '?(?<ids>[\d +]+)'? <<'NETLAB_BATCH'\n(?<body>[^]*?)\nNETLAB_BATCH$/gm,
  )) {
    // The test's own reading of each command: `ip [-n NETNS] WORDS` becomes WORDS in NETNS's batch ("-": the node's).
    const words = (s: Step) => {
      assert.equal(s.apply.length, 1, `${where} step ${s.id}: one command`);
      const c = s.apply[0]!;
      assert.equal(c[0], 'ip', `${where} step ${s.id}: an ip command`);
      assert.equal(
        c[1] === '-n' ? c[2] : '-',
        parts.target!.replace(/^'|'$/g, ''),
        `${where} step ${s.id}: its namespace`,
      );
      return c[1] === '-n' ? c.slice(3) : c.slice(1);
    };
    const expected = lines.map(([first, second]) => {
      if (!second) return words(first!).join(' ');
      // Two steps on a line: a veth pair made in the node, and the move of its pod end (the pair's last word) into
      // a pod, which the line does by making that end in the pod.
      const [pair, move] = [words(first!), words(second)];
      assert.deepEqual(pair.slice(0, 2), ['link', 'add'], `${where}: the first of two steps makes a link`);
      assert.equal(pair.at(-3), 'peer', `${where}: a veth pair's peer`);
      assert.deepEqual(move.slice(0, 3), ['link', 'set', pair.at(-1)], `${where}: the second moves the pair's peer`);
      assert.equal(move[3], 'netns', where);
      assert.ok(second.id > first!.id, where);
      folded++;
      return [...pair, 'netns', move[4]].join(' ');
    });
    assert.deepEqual(parts.body!.split('\n'), expected, where);
    batched += steps.length;
  }
  assert.ok(batched > 100, `steps batched in the bundled labs: ${batched}`);
  assert.ok(folded >= 20, `veth pairs made with their pod end in the pod: ${folded}`);
});

/** A node's steps as a plain `up` batches them: every phase's, in order, in one script (applyPhases). */
async function runsOf(steps: readonly Step[]) {
  const { batchRuns } = await import('../../src/shell/node-script.js');
  const { PHASES } = await import('../../src/model/plan.js');
  return batchRuns(PHASES.flatMap((phase) => steps.filter((s) => s.phase === phase)));
}

test("iptables-restore: each bundled lab's node script batches consecutive iptables steps of a table as the plan's commands, and runs them one at a time if it fails", async () => {
  let batched = 0;
  for await (const { where, steps, parts } of scriptBatches(
    /^if ! netlab_xt_batch '(?<ids>[\d ]+)' <<'NETLAB_BATCH'\n\*(?<table>\w+)\n(?<body>[^]*?)\nCOMMIT\nNETLAB_BATCH\nthen\n(?<fallback>[^]*?)\nfi$/gm,
  )) {
    // The test's own reading of each command: `iptables -w [-t nat] WORDS` becomes WORDS in TABLE's input.
    const commands = steps.flatMap((s) => s.apply);
    const expected = commands.map((c) => {
      assert.deepEqual(c.slice(0, 2), ['iptables', '-w'], `${where}: an iptables command`);
      assert.equal(c[2] === '-t' ? c[3] : 'filter', parts.table, `${where}: its table`);
      return (c[2] === '-t' ? c.slice(4) : c.slice(2)).map((w) => (w.includes(' ') ? `"${w}"` : w)).join(' ');
    });
    assert.deepEqual(parts.body!.split('\n'), expected, where);
    // If the transaction fails, each step runs as it would alone: its commands, its markers.
    const fallback = parts.fallback!.split('\n');
    assert.equal(fallback.filter((l) => l.startsWith('iptables ')).length, commands.length, where);
    assert.equal(fallback.filter((l) => l.startsWith('netlab_done ')).length, steps.length, where);
    batched += steps.length;
  }
  assert.ok(batched >= 60, `iptables steps batched in the bundled labs: ${batched}`);
});

test("iptables-restore: on a real kernel, each bundled lab's batches make exactly the rules its commands make one by one", async (t) => {
  if (skipUnlessRoot(t, 'a network namespace of its own: unshare -n')) return;
  const { restoreInput } = await import('../../src/shell/node-script.js');
  const { quoteArgv } = await import('../../src/os/quote.js');
  const { spawnSync } = await import('node:child_process');
  const restore = (input: string) => [`iptables-restore -w --noflush <<'NETLAB_INPUT'`, `${input}NETLAB_INPUT`];
  // The node's iptables work in order: a batch as one restore, or every command alone (a ruleset is its own restore).
  const script = (runs: Awaited<ReturnType<typeof runsOf>>, batches: boolean) =>
    runs.flatMap((run) =>
      batches && run.batch?.tool === 'iptables'
        ? restore(restoreInput(run.batch.table, run.steps))
        : run.steps.flatMap((s) =>
            s.apply.flatMap((c) =>
              c[0] === 'iptables' ? [quoteArgv(c)] : c[0] === 'netlab_restore' ? restore(c[1]!) : [],
            ),
          ),
    );
  // In a network namespace of its own, gone when the shell ends: the rules it made, without comments and counters.
  const rulesMadeBy = (lines: string[]) => {
    const run = spawnSync('unshare', ['-n', 'sh', '-ec', [...lines, 'iptables-save'].join('\n')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.split('\n').filter((l) => !l.startsWith('#'));
  };
  let compared = 0;
  for (const file of ['vxlan.yaml', 'policy.yaml', 'egress.yaml', 'nodeport.yaml'])
    for (const node of planOf(file).nodes) {
      const runs = await runsOf(node.steps);
      if (!runs.some((r) => r.batch?.tool === 'iptables')) continue;
      const made = rulesMadeBy(script(runs, true));
      assert.deepEqual(made, rulesMadeBy(script(runs, false)), `${file} ${node.node}`);
      assert.ok(
        made.some((l) => l.startsWith('-A ')),
        `${file} ${node.node}: rules were made`,
      );
      compared++;
    }
  assert.ok(compared >= 8, `nodes compared: ${compared}`);
});

test("ip -batch: on a real kernel, a veth pair made with its pod end in the pod leaves each node's and pod's links, addresses and routes as the plan's commands one by one do", async (t) => {
  if (skipUnlessRoot(t, 'network and mount namespaces of its own: unshare -m -n')) return;
  const { ipBatchLines } = await import('../../src/shell/node-script.js');
  const { quoteArgv } = await import('../../src/os/quote.js');
  const { spawnSync } = await import('node:child_process');
  // A node's network phase, its ip steps only (the pods' namespaces made first): the runner's batches, or every command alone.
  const script = (steps: Step[], batches: boolean) =>
    runsOf(steps).then((runs) =>
      runs.flatMap((run) =>
        batches && run.batch?.tool === 'ip'
          ? [
              `ip ${run.batch.netns === '-' ? '' : `-n ${run.batch.netns} `}-batch - <<'NETLAB_INPUT'`,
              ...ipBatchLines(run.steps).map((l) => l.args.join(' ')),
              'NETLAB_INPUT',
            ]
          : run.steps.flatMap((s) => s.apply.filter((c) => c[0] === 'ip').map(quoteArgv)),
      ),
    );
  // In network and mount namespaces of their own (the pods' namespaces pinned in a /run/netns of its own), gone when
  // the shell ends: each namespace's links (not their MACs or indexes: the kernel picks those), IPv4 addresses (the
  // pods' IPv6 is off, netlab_ipv4_only, which is not an ip step) and routes. Not a link's carrier (NO-CARRIER,
  // LOWER_UP) or operational state either, nor a route's linkdown (a route added while its device has no carrier
  // yet): the kernel sets the carrier a moment after a veth's ends are up (linkwatch, deferred up to a second on a
  // busy machine), so a show that follows at once may catch either; the admin flag UP, which the commands set, is
  // compared.
  const madeBy = (pods: string[], lines: string[]) => {
    const show = (ns: string) =>
      [`link show`, `-4 addr show`, `route show`].map(
        (what) =>
          `echo '# ${ns} ${what}'; ip ${ns === '-' ? '' : `-n ${ns} `}-o ${what} | sed -E 's/link\\/ether [0-9a-f:]+( brd [0-9a-f:]+)?//; s/^[0-9]+: //; s/@if[0-9]+/@if/; s/NO-CARRIER,//; s/,LOWER_UP//; s/ state [A-Z]+ / /; s/ linkdown//'`,
      );
    const run = spawnSync(
      'unshare',
      [
        '-m',
        '-n',
        'sh',
        '-ec',
        [
          'mkdir -p /run/netns',
          'mount -t tmpfs netlab-test /run/netns',
          'ip link set lo up',
          ...pods.map((p) => `ip netns add ${p}`),
          ...lines,
          ...['-', ...pods].flatMap(show),
        ].join('\n'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.split('\n');
  };
  let compared = 0;
  for (const file of ['bridge.yaml', 'vxlan.yaml', 'routes.yaml', 'service.yaml'])
    for (const node of planOf(file).nodes) {
      const pods = node.steps.flatMap((s) => s.creates.flatMap((c) => (c.kind === 'netns' ? [c.name] : [])));
      const network = node.steps.filter((s) => s.phase === 'network');
      const folded = await script(network, true);
      assert.ok(
        folded.some((l) => / type veth peer name \S+ netns /.test(l)),
        `${file} ${node.node}: a pair made in its pod`,
      );
      const made = madeBy(pods, folded);
      assert.deepEqual(made, madeBy(pods, await script(network, false)), `${file} ${node.node}`);
      assert.ok(
        made.filter((l) => /veth.*master/.test(l)).length >= 1,
        `${file} ${node.node}: veths were made: ${made.join('\n')}`,
      );
      compared++;
    }
  assert.ok(compared >= 6, `nodes compared: ${compared}`);
});

test("ip -batch: a line that does two steps marks both done, and its failure is the first's, saying the two were one command; a failure ip names no line of is the batch's first step's, saying so", async (t) => {
  if (skipUnlessRoot(t, 'network and mount namespaces of its own: unshare -m -n')) return;
  const { scriptPrelude } = await import('../../src/shell/prelude.js');
  const { parseScriptOutput } = await import('../../src/shell/node-script.js');
  const { spawnSync } = await import('node:child_process');
  // The batch's lines, for steps 6 (a line of its own) and 7+9 (one line, two steps); a pod p, with a link vb in it
  // where `clash` says so.
  const run = (lines: string[], clash = false) => {
    const script = `${scriptPrelude('lab')}\nnetlab_begin 6\nnetlab_batch - '6 7+9' <<'NETLAB_BATCH'\n${lines.join('\n')}\nNETLAB_BATCH\n`;
    // In network and mount namespaces of their own: ip changes nothing of this machine.
    const setup = `mkdir -p /run/netns && mount -t tmpfs t /run/netns && ip netns add p${clash ? ' && ip -n p link add vb type veth peer name vc' : ''}`;
    const r = spawnSync('unshare', ['-m', '-n', 'sh', '-c', `${setup} && ${script}`], { encoding: 'utf8' });
    return { outcome: parseScriptOutput(r.stdout, r.stderr), r };
  };
  const ok = run(['link set lo up', 'link add va type veth peer name vb netns p']);
  assert.deepEqual([...ok.outcome.done].sort(), [6, 7, 9], ok.r.stdout + ok.r.stderr);
  assert.equal(ok.outcome.failed, undefined);
  // The pod already has a link of the pod end's name: ip names line 2, the two steps' line.
  const clash = run(['link set lo up', 'link add va type veth peer name vb netns p'], true);
  assert.equal(clash.outcome.failed?.step, 7, clash.r.stdout + clash.r.stderr);
  assert.match(clash.outcome.failed!.stderr, /File exists/);
  assert.match(clash.outcome.failed!.stderr, /in one command with step 9's move/);
  assert.deepEqual([...clash.outcome.done], [6]);
  // A line ip refuses outright names no line: the batch's first step is named, and the note says so.
  const refused = run(['link set lo up', 'link add va type veth peer name vb netns no-such-pod']);
  assert.equal(refused.outcome.failed?.step, 6, refused.r.stdout);
  assert.match(refused.outcome.failed!.stderr, /no-such-pod/);
  assert.match(
    refused.outcome.failed!.stderr,
    /ip did not say which line failed: this step's, or a later one of the batch's: 6 7\+9/,
  );
  assert.doesNotMatch(refused.outcome.failed!.stderr, /one command with step/);
  assert.deepEqual([...refused.outcome.done], []);
});

test("a batch's first line that fails is its step's failure, with what the tool said (the step begins twice: as the batch, then as the failure)", async (t) => {
  if (skipUnlessRoot(t, 'a network namespace of its own: unshare -n')) return;
  const { scriptPrelude } = await import('../../src/shell/prelude.js');
  const { parseScriptOutput } = await import('../../src/shell/node-script.js');
  const { spawnSync } = await import('node:child_process');
  const batch = [
    'netlab_begin 7',
    "netlab_batch - '7 8' <<'NETLAB_BATCH'",
    'link set no-such-dev up',
    'link set lo up',
  ];
  const script = `${scriptPrelude('lab')}\n${[...batch, 'NETLAB_BATCH'].join('\n')}\n`;
  // In a network namespace of its own: ip's batch changes nothing of this machine.
  const run = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
  const outcome = parseScriptOutput(run.stdout, run.stderr);
  assert.equal(outcome.failed?.step, 7, run.stdout);
  assert.match(outcome.failed!.stderr, /Cannot find device "no-such-dev"/);
  assert.deepEqual([...outcome.done], []);
});

test("every veth pair's node end is journalled for down, made in the pod or moved there: down waits for it to go with the pod's namespace (the kernel tears one down a moment later)", () => {
  let inPod = 0;
  for (const file of labFiles)
    for (const node of planOf(file).nodes)
      for (const step of node.steps)
        for (const effect of step.effects)
          if (effect.kind === 'veth' && ('peerNetns' in effect || effect.undo !== 'delete')) {
            if ('peerNetns' in effect) inPod++;
            assert.ok(
              step.undo.some((c) => c[0] === 'netlab_del_unmoved' && c[1] === effect.name),
              `${file} ${node.node} step ${step.id}: ${JSON.stringify(step.undo)}`,
            );
          }
  assert.ok(inPod > 0, 'the scale lab makes its pairs in the pods');
});
