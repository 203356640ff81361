// Golden tests of the pure pipeline: bad lab files → exact error messages;
// bundled labs → exact plan text. UPDATE_GOLDEN=1 rewrites the golden files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import { labJsonSchema } from '../../src/lab/schema.js';
import { roomJsonSchema } from '../../src/room/file.js';
import { LabInputError, formatIssue } from '../../src/errors.js';
import { buildPlan } from '../../src/plan/build.js';
import { applyOf, explainOf } from '../../src/model/effects.js';
import { renderPlanText } from '../../src/shell/render.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { renderDot, renderMermaid, renderText } from '../../src/workshop/graph.js';
import { describeCheck } from '../../src/verify/run.js';
import { GOLDEN, LABS, ROOT, golden, updateGoldenMode } from '../paths.js';

test('UPDATE_GOLDEN: refused in CI and for any value but 1; off when unset', () => {
  assert.equal(updateGoldenMode({}), false);
  assert.equal(updateGoldenMode({ UPDATE_GOLDEN: '' }), false);
  assert.equal(updateGoldenMode({ UPDATE_GOLDEN: '1' }), true);
  assert.equal(updateGoldenMode({ UPDATE_GOLDEN: '1', CI: 'false' }), true);
  assert.throws(
    () => updateGoldenMode({ UPDATE_GOLDEN: '1', CI: 'true' }),
    /UPDATE_GOLDEN=1 is refused in CI \(CI=true\)/,
  );
  assert.throws(() => updateGoldenMode({ UPDATE_GOLDEN: '1', CI: '1' }), /refused in CI/);
  assert.throws(() => updateGoldenMode({ UPDATE_GOLDEN: 'yes' }), /UPDATE_GOLDEN takes 1; found "yes"/);
});

const labFiles = readdirSync(LABS)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const invalidDir = join(GOLDEN, 'invalid');
const invalidFiles = readdirSync(invalidDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

for (const file of invalidFiles) {
  test(`invalid lab ${file}: every problem, with file:line:col, field and what is allowed`, () => {
    const path = join(invalidDir, file);
    let error: unknown;
    try {
      loadLabFile(relative(ROOT, path));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof LabInputError, `expected a LabInputError, got ${String(error)}`);
    assert.equal(error.exitCode, 2);
    golden(path.replace(/\.yaml$/, '.errors'), `${error.issues.map(formatIssue).join('\n')}\n`);
  });
}

const warningsDir = join(GOLDEN, 'warnings');
for (const file of readdirSync(warningsDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()) {
  test(`lab ${file}: valid, with a warning for each thing surely not meant, at file:line:col`, () => {
    const { warnings } = loadLabFile(relative(ROOT, join(warningsDir, file)));
    assert.ok(warnings.length > 0);
    golden(join(warningsDir, file.replace(/\.yaml$/, '.warnings')), `${warnings.map(formatIssue).join('\n')}\n`);
  });
}

test('no bundled lab has a warning', () => {
  for (const file of labFiles) assert.deepEqual(loadLabFile(join(LABS, file)).warnings.map(formatIssue), [], file);
});

for (const file of labFiles) {
  test(`plan of labs/${file} matches its golden file`, () => {
    const { model } = loadLabFile(relative(ROOT, join(LABS, file)));
    const text = renderPlanText(model, buildPlan(model, simulatedFacts(model)), 'simulated nodes on this host');
    golden(join(GOLDEN, 'plans', file.replace(/\.yaml$/, '.txt')), text);
  });
  // What each command does, from the effect that makes it (the scale lab's 750 pods say nothing more).
  if (file !== 'scale.yaml')
    test(`plan --explain of labs/${file} matches its golden file`, () => {
      const { model } = loadLabFile(relative(ROOT, join(LABS, file)));
      const text = renderPlanText(model, buildPlan(model, simulatedFacts(model)), 'simulated nodes on this host', true);
      const explained = text.split('\n').filter((line) => line.startsWith('#   ↳ '));
      golden(join(GOLDEN, 'explain', file.replace(/\.yaml$/, '.txt')), `${explained.join('\n')}\n`);
    });
}

// What verify runs for each bundled lab, in order: its verify section resolved (each end, the address
// it goes to, the port, the bytes, the hops), or the checks derived from its pods and wiring.
for (const file of labFiles) {
  test(`checks of labs/${file} match their golden file`, () => {
    const { model } = loadLabFile(relative(ROOT, join(LABS, file)));
    const lines = model.checks.map(
      (c, i) =>
        `${i + 1} ${describeCheck(c)} to ${c.toAddress ?? "the target's address where the lab runs"}${c.connections ? `, ${c.connections} connections` : ''}, expect ${c.expect}${c.derived ? ', derived' : ''}`,
    );
    golden(join(GOLDEN, 'checks', file.replace(/\.yaml$/, '.txt')), `${lines.join('\n')}\n`);
  });
}

// The labs whose underlay is more than one segment (routed networks, an outside host on it):
// each network drawn once, with its name and CIDR, and what is attached to it.
const graphFormats = { txt: renderText, dot: renderDot, mermaid: renderMermaid };
for (const lab of ['router', 'router-vxlan', 'egress']) {
  const { model } = loadLabFile(relative(ROOT, join(LABS, `${lab}.yaml`)));
  const facts = simulatedFacts(model);
  for (const [ext, render] of Object.entries(graphFormats))
    test(`graph of labs/${lab}.yaml as ${ext} matches test/golden/graphs/${lab}.${ext}`, () => {
      golden(join(GOLDEN, 'graphs', `${lab}.${ext}`), render(model, facts));
    });
  test(`graph of labs/${lab}.yaml: every box is joined to something, every edge ends at a drawn box`, () => {
    const dot = renderDot(model, facts);
    const declared = new Set([...dot.matchAll(/^\s+(\w+) \[label=/gm)].map((m) => m[1]!));
    const ends = [...dot.matchAll(/^\s+(\w+) -> (\w+) /gm)].flatMap((m) => [m[1]!, m[2]!]);
    for (const end of ends) assert.ok(declared.has(end), `${lab}: an edge ends at ${end}, which is not drawn`);
    for (const box of declared) assert.ok(ends.includes(box), `${lab}: ${box} is drawn but nothing joins it`);
  });
}

test('every bundled lab validates against the generated JSON Schema, and a typo does not', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(labJsonSchema());
  for (const file of labFiles) {
    const ok = validate(parse(readFileSync(join(LABS, file), 'utf8')));
    assert.ok(ok, `${file}: ${JSON.stringify(validate.errors)}`);
  }
  assert.equal(validate(parse('nodes: { node-0: {} }\npods: { a0: { nod: node-0 } }\n')), false);
  assert.equal(validate(parse('nodes: { node-0: {} }\npods: { "a;b": { node: node-0 } }\n')), false);
});

test('the JSON Schemas `netlab schema` prints (lab and room files), as editors get them: every field, its description and bound (golden)', () => {
  golden(join(GOLDEN, 'schema', 'lab.schema.json'), `${JSON.stringify(labJsonSchema(), null, 2)}\n`);
  golden(join(GOLDEN, 'schema', 'room.schema.json'), `${JSON.stringify(roomJsonSchema(), null, 2)}\n`);
});

test('the JSON Schema says what validate says where it can: one kind per check, a node and a pod, the size bounds', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(labJsonSchema());
  const lab = 'nodes: { node-0: {} }\npods: { a0: { node: node-0 }, a1: { node: node-0 } }\n';
  const many = (n: number, entry: (i: number) => string) => Array.from({ length: n }, (_, i) => entry(i)).join(', ');
  const cases: [string, string, boolean][] = [
    ['a lab', lab, true],
    ['pods counted by a node', 'nodes: { node-0: { pods: 3 } }\npods: {}\n', true],
    [
      'a check with ping and tcp',
      `${lab}verify: [{ ping: { from: a0, to: a1 }, tcp: { from: a0, to: a1, port: 80 } }]\n`,
      false,
    ],
    ['a check with no kind', `${lab}verify: [{}]\n`, false],
    ['no nodes', 'nodes: {}\npods: { a0: { node: node-0 } }\n', false],
    ['no pods, none counted', 'nodes: { node-0: {} }\npods: {}\n', false],
    ['33 nodes', `nodes: { ${many(33, (i) => `n${i}: {}`)} }\npods: { a0: { node: n0 } }\n`, false],
    ['257 checks', `${lab}verify: [${many(257, () => '{ ping: { from: a0, to: a1 } }')}]\n`, false],
    ['65 policies', `${lab}policies: { ${many(65, (i) => `p${i}: { pod-selector: {} }`)} }\n`, false],
  ];
  for (const [what, text, valid] of cases) {
    assert.equal(validate(parse(text)), valid, `${what}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    // and validate agrees
    let refused = false;
    try {
      parseLab(text, 'schema-case.yaml');
    } catch (error) {
      if (!(error instanceof LabInputError)) throw error;
      refused = true;
    }
    assert.equal(refused, !valid, `${what}: validate and the JSON Schema disagree`);
  }
});

test('defaults follow the article: node N gets 10.200.N.0/24, bridge brN with .1, pods from .2', () => {
  const { model } = parseLab(
    'nodes: { node-0: {}, node-1: {} }\npods:\n  a0: { node: node-0 }\n  a1: { node: node-0 }\n  b: { node: node-1 }\n',
    'x.yaml',
  );
  assert.deepEqual(
    model.nodes.map((n) => [n.name, n.podSubnet, n.gateway, n.bridge]),
    [
      ['node-0', '10.200.0.0/24', '10.200.0.1/24', 'br0'],
      ['node-1', '10.200.1.0/24', '10.200.1.1/24', 'br1'],
    ],
  );
  assert.deepEqual(
    model.pods.map((p) => [p.name, p.address, p.hostIf, p.podIf]),
    [
      ['a0', '10.200.0.2/24', 'veth-a0', 'veth-a0-c'],
      ['a1', '10.200.0.3/24', 'veth-a1', 'veth-a1-c'],
      ['b', '10.200.1.2/24', 'veth-b', 'veth-b-c'],
    ],
  );
  assert.equal(model.name, 'x');
});

test('what a lab leaves out is resolved to its default: no description, no exercises, the veth moved, a challenge with every check as its goal and no hints; an underlay only as the file gives it', () => {
  const { model } = parseLab(
    [
      'nodes:',
      '  node-0: {}',
      '  node-1: { underlay: { address: 192.168.64.9, dev: eth1 } }',
      'pods:',
      '  a0: { node: node-0 }',
      '  a1: { node: node-0 }',
      'challenges:',
      '  - { id: down, title: a bridge down, fault: "link-down:node-0:br0" }',
    ].join('\n'),
    'defaults.yaml',
  );
  assert.equal(model.description, '');
  assert.deepEqual(model.exercises, []);
  assert.equal(model.vethPeer, 'move');
  for (const absent of ['tunnel', 'mtu', 'underlay', 'outside', 'policies'] as const)
    assert.equal(model[absent], undefined, absent);
  assert.deepEqual(
    model.nodes.map((n) => n.underlay),
    [{}, { address: '192.168.64.9', dev: 'eth1' }],
  );
  assert.equal(model.checks.length, 4);
  assert.deepEqual(model.challenges, [
    { id: 'down', title: 'a bridge down', fault: 'link-down:node-0:br0', goal: [1, 2, 3, 4], hints: [] },
  ]);
});

test('an address written in the file is never handed out as a default', () => {
  const { model } = parseLab(
    'nodes: { node-0: {} }\npods:\n  a0: { node: node-0 }\n  a1: { node: node-0, ip: 10.200.0.2 }\n',
    'y.yaml',
  );
  assert.deepEqual(
    model.pods.map((p) => p.address),
    ['10.200.0.3/24', '10.200.0.2/24'],
  );
});

test('derived checks: same-node pods ping each other and each answers TCP; other nodes only with cross-node wiring', () => {
  const text =
    'nodes: { node-0: {}, node-1: {} }\npods:\n  a0: { node: node-0 }\n  a1: { node: node-0 }\n  b: { node: node-1 }\n';
  const isolated = parseLab(text, 'iso.yaml').model.checks;
  assert.deepEqual(
    isolated
      .filter((c) => c.kind === 'ping')
      .map((c) => `${'pod' in c.from ? c.from.pod : c.from.node}>${c.toAddress}`),
    ['a0>10.200.0.3', 'a1>10.200.0.2'],
  );
  assert.equal(isolated.filter((c) => c.kind === 'tcp').length, 2);
  const joined = parseLab(`${text}wiring: { cross-node: routes }\n`, 'joined.yaml').model.checks;
  assert.equal(joined.filter((c) => c.kind === 'ping').length, 6);
  assert.ok(joined.every((c) => c.derived && c.expect === 'pass'));
  // Above 12 pods, a ring: each pod pings the next (the last the first), and answers the one before it.
  const many = Array.from({ length: 13 }, (_, i) => `  p${i}: { node: node-0 }`).join('\n');
  const ring = parseLab(`nodes: { node-0: {} }\npods:\n${many}\n`, 'ring.yaml').model.checks;
  const pairs = (kind: string) =>
    ring
      .filter((c) => c.kind === kind)
      .map((c) => `${'pod' in c.from ? c.from.pod : ''}>${'pod' in c.to ? c.to.pod : ''}`);
  const expected = Array.from({ length: 13 }, (_, i) => `p${i}>p${(i + 1) % 13}`);
  assert.deepEqual(pairs('ping'), expected);
  assert.deepEqual(pairs('tcp'), expected);
  // A ring skips a pair that cannot reach (other nodes without cross-node wiring).
  const split = Array.from({ length: 13 }, (_, i) => `  p${i}: { node: node-${i < 7 ? 0 : 1} }`).join('\n');
  const halves = parseLab(`nodes: { node-0: {}, node-1: {} }\npods:\n${split}\n`, 'halves.yaml').model.checks;
  assert.deepEqual(
    halves
      .filter((c) => c.kind === 'ping')
      .map((c) => `${'pod' in c.from ? c.from.pod : ''}>${'pod' in c.to ? c.to.pod : ''}`),
    expected.filter((pair) => pair !== 'p6>p7' && pair !== 'p12>p0'),
  );
  // Twelve: every pair.
  const twelve = Array.from({ length: 12 }, (_, i) => `  p${i}: { node: node-0 }`).join('\n');
  const all = parseLab(`nodes: { node-0: {} }\npods:\n${twelve}\n`, 'all.yaml').model.checks;
  assert.equal(all.filter((c) => c.kind === 'ping').length, 12 * 11);
});

test('derived checks of a loopback lab are its own (lo in each pod); with Services, every pod with an address connects to each TCP one', () => {
  const loopback = parseLab(
    'nodes: { node-0: {} }\npods:\n  a0: { node: node-0 }\nwiring: { same-node: loopback }\n',
    'lo.yaml',
  ).model.checks;
  assert.ok(
    loopback.length > 0 && loopback.every((c) => c.toAddress === '127.0.0.1' && c.derived),
    JSON.stringify(loopback),
  );
  const { model } = parseLab(
    [
      'nodes: { node-0: {} }',
      'pods:',
      '  a0: { node: node-0 }',
      '  a1: { node: node-0 }',
      'services:',
      '  web: { cluster-ip: 10.96.0.10, port: 80, backends: [a0] }',
      '  dns: { cluster-ip: 10.96.0.11, port: 53, protocol: udp, backends: [a1] }',
    ].join('\n'),
    'svc.yaml',
  );
  assert.deepEqual(
    model.checks.filter((c) => c.kind === 'service'),
    ['a0', 'a1'].map((pod) => ({
      kind: 'service',
      from: { pod },
      to: { service: 'web' },
      toAddress: '10.96.0.10',
      port: 80,
      connections: 60,
      expect: 'pass',
      derived: true,
    })),
  );
});

test("a check's ends: a pod before a node of the same name, a pod named like a number, and a pod or node named outside in a lab without an outside host", () => {
  const ends = (nodes: string, pods: string, to: string) =>
    parseLab(`nodes: { ${nodes} }\npods: { ${pods} }\nverify:\n  - ping: { from: a0, to: "${to}" }\n`, 'ends.yaml')
      .model.checks[0]!.to;
  assert.deepEqual(ends('n1: {}', 'a0: { node: n1 }, n1: { node: n1 }', 'n1'), { pod: 'n1' });
  assert.deepEqual(ends('n1: {}', 'a0: { node: n1 }, "7": { node: n1 }', '7'), { pod: '7' });
  assert.deepEqual(ends('n1: {}', 'a0: { node: n1 }, outside: { node: n1 }', 'outside'), { pod: 'outside' });
  assert.deepEqual(ends('n1: {}, outside: {}', 'a0: { node: n1 }', 'outside'), { node: 'outside' });
});

test('YAML alias bombs, binary junk and oversized files are refused as input errors', () => {
  const bomb = [
    'a: &a [x, x, x, x, x, x, x, x, x]',
    ...Array.from(
      { length: 8 },
      (_, i) =>
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`,
    ),
  ].join('\n');
  assert.throws(
    () => parseLab(bomb, 'bomb.yaml'),
    (e: unknown) => e instanceof LabInputError && /alias|Excessive/i.test(e.message),
  );
  assert.throws(
    () => parseLab('nodes:\0\x01\x02', 'junk.yaml'),
    (e: unknown) => e instanceof LabInputError && /NUL/.test(e.message),
  );
  assert.throws(
    () => parseLab('- just\n- a list\n', 'list.yaml'),
    (e: unknown) => e instanceof LabInputError && /expected a mapping/.test(e.message),
  );
});

test('adding node-2 to the VXLAN lab changes nothing on node-0 and node-1 (article 001, 4.3.4)', () => {
  const plan = (file: string) => {
    const { model } = loadLabFile(relative(ROOT, join(LABS, file)));
    return buildPlan(model, simulatedFacts(model));
  };
  const two = plan('vxlan.yaml');
  const three = plan('vxlan-3.yaml');
  const commands = (p: ReturnType<typeof plan>, node: string) =>
    p.nodes.find((n) => n.node === node)!.steps.map((s) => [s.apply, s.undo]);
  const strip = (c: unknown) =>
    JSON.stringify(c)
      .replaceAll('vxlan-3', 'LAB')
      .replaceAll('"vxlan"', '"LAB"')
      .replaceAll('lab vxlan', 'lab LAB')
      .replaceAll('FWD-vxlan', 'FWD-LAB');
  for (const node of ['node-0', 'node-1']) assert.equal(strip(commands(three, node)), strip(commands(two, node)), node);
  // whereas with static routes every existing node gets one more route
  const routes = (extra: string) =>
    parseLab(
      `nodes: { node-0: {}, node-1: {}${extra} }\npods: { a0: { node: node-0 } }\nwiring: { cross-node: routes }\n`,
      'r.yaml',
    ).model;
  const before = buildPlan(routes(''), simulatedFacts(routes(''))).nodes[0]!.steps.length;
  const afterAdding = buildPlan(routes(', node-2: {}'), simulatedFacts(routes(', node-2: {}'))).nodes[0]!.steps.length;
  assert.equal(afterAdding, before + 1);
});

test('plan --explain: every command of every bundled lab (and of containers on a root filesystem) has an explanation of its own, from the effect that makes it', () => {
  const containers = (rootfs: string) =>
    `nodes: { node-0: {} }\npods:\n  pod: { node: node-0, containers: [a0, a1], rootfs: ${rootfs} }\nwiring: { same-node: loopback }\n`;
  const labs = [
    ...labFiles.map((file) => ({ file, model: loadLabFile(relative(ROOT, join(LABS, file))).model })),
    ...['/srv/rootfs.tar.gz', '/srv/rootfs'].map((rootfs) => ({
      file: `containers on ${rootfs}`,
      model: parseLab(containers(rootfs), 'containers.yaml').model,
    })),
  ];
  for (const { file, model } of labs) {
    for (const node of buildPlan(model, simulatedFacts(model)).nodes) {
      for (const step of node.steps) {
        const where = `${file} ${node.node} step ${step.id}`;
        for (const effect of step.effects) {
          const explanations = explainOf(effect);
          assert.equal(explanations.length, applyOf(effect).length, `${where}: one explanation per command`);
          for (const text of explanations) assert.match(text, /\S{3}/, `${where}: ${effect.kind} explained`);
        }
      }
    }
  }
});

test("rules match only the lab's traffic: cluster CIDRs wider than /8, outside the private ranges or in special blocks, and Service, node and outside addresses where they do not belong, are refused at their field", () => {
  const lab = (extra: string, node = '{}') => `nodes: { node-0: ${node} }\npods: { a0: { node: node-0 } }\n${extra}`;
  const refused: [string, string, RegExp][] = [
    [
      lab('cluster-cidr: 0.0.0.0/1\n'),
      'cluster-cidr',
      /wider than \/8.*allowed: a range of \/24 or wider inside 10\.0\.0\.0\/8, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 100\.64\.0\.0\/10 \(the private ranges\)/,
    ],
    [lab('cluster-cidr: 11.0.0.0/7\n'), 'cluster-cidr', /wider than \/8/],
    [
      lab('cluster-cidr: 10.200.0.0/25\n'),
      'cluster-cidr',
      /^found \/25; allowed: \/24 or shorter, so that every node gets a \/24 pod subnet$/,
    ],
    [lab('cluster-cidr: 0.0.0.0/16\n'), 'cluster-cidr', /overlaps 0\.0\.0\.0\/8, the "this network" addresses/],
    [lab('cluster-cidr: 127.0.0.0/16\n'), 'cluster-cidr', /overlaps 127\.0\.0\.0\/8, the loopback addresses/],
    [lab('cluster-cidr: 169.254.0.0/16\n'), 'cluster-cidr', /link-local/],
    [lab('cluster-cidr: 224.0.0.0/16\n'), 'cluster-cidr', /multicast/],
    [lab('cluster-cidr: 255.255.0.0/16\n'), 'cluster-cidr', /reserved and broadcast/],
    [lab('cluster-cidr: 10.0.0.0/8\n'), 'cluster-cidr', /overlaps the Services range 10\.96\.0\.0\/12/],
    [lab('cluster-cidr: 10.100.0.0/16\n'), 'cluster-cidr', /overlaps the Services range/],
    // a pod subnet 8.8.8.0/24 would be routed via another node, and the lab's rules would match 8.0.0.0/8
    [lab('cluster-cidr: 8.0.0.0/8\n'), 'cluster-cidr', /which is not a private range: the lab's routes on the nodes/],
    [lab('cluster-cidr: 11.0.0.0/8\n'), 'cluster-cidr', /which is not a private range/],
    [lab('cluster-cidr: 172.32.0.0/16\n'), 'cluster-cidr', /which is not a private range/],
    [lab('cluster-cidr: 100.0.0.0/8\n'), 'cluster-cidr', /which is not a private range/],
    [
      lab('services:\n  ssh: { cluster-ip: 192.168.56.1, port: 22, backends: [a0] }\n'),
      'services.ssh.cluster-ip',
      /192\.168\.56\.1 is outside the Services range 10\.96\.0\.0\/12; allowed: a host address in it/,
    ],
    [
      lab('services:\n  s: { cluster-ip: 10.96.0.0, port: 80, backends: [a0] }\n'),
      'services.s.cluster-ip',
      /the network or broadcast address of the Services range/,
    ],
    [lab('', '{ underlay: { address: 10.96.0.5 } }'), 'nodes.node-0.underlay.address', /inside the Services range/],
    [lab('outside: { address: 10.200.7.7 }\n'), 'outside.address', /inside 10\.200\.0\.0\/16, the cluster CIDR/],
    [lab('outside: { address: 10.96.0.9 }\n'), 'outside.address', /inside 10\.96\.0\.0\/12, the Services range/],
  ];
  for (const [text, field, message] of refused)
    assert.throws(
      () => parseLab(text, 'r.yaml'),
      (e: unknown) =>
        e instanceof LabInputError &&
        e.exitCode === 2 &&
        e.issues.some((i) => i.path === field && message.test(i.message)),
      text,
    );
  // The defaults, and the private ranges of RFC 1918 and RFC 6598 outside the Services range, stay valid.
  for (const cidr of [
    '10.200.0.0/16',
    '10.200.0.0/24',
    '10.128.0.0/9',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '100.64.0.0/10',
  ])
    assert.equal(parseLab(lab(`cluster-cidr: ${cidr}\n`), 'ok.yaml').model.clusterCidr, cidr);
  const { model } = parseLab(lab('services:\n  web: { port: 80, backends: [a0] }\noutside: {}\n'), 'ok.yaml');
  assert.equal(model.services[0]!.clusterIp, '10.96.0.2');
});
