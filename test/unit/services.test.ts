import { test } from 'node:test';
import { LAB_LIMITS } from '../../src/model/grammar.js';
import assert from 'node:assert/strict';
import { cascadeProbabilities, formatProbability } from '../../src/wiring/services.js';
import {
  connectionsDefaults,
  fewestConnections,
  isPlausibleSpread,
  MISS_CHANCE,
  spreadBound,
} from '../../src/verify/stats.js';
import { execFileSync } from 'node:child_process';
import { NETLAB } from '../paths.js';
import { judgeService } from '../../src/verify/run.js';
import { parseLab } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { applyOf, undoOf } from '../../src/model/effects.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import type { Model } from '../../src/model/lab.js';

/** The iptables-restore input of the first node's Services step, as `up` runs it. */
function servicesRestoreInput(model: Model): string {
  const effect = buildPlan(model, simulatedFacts(model))
    .nodes[0]!.steps.flatMap((s) => s.effects)
    .find((e) => e.kind === 'ruleset')!;
  const [command] = applyOf(effect);
  assert.equal(command![0], 'netlab_restore');
  return command![1]!;
}

test('the probability cascade gives every endpoint an equal share, N = 1..10', () => {
  for (let n = 1; n <= 10; n++) {
    const p = cascadeProbabilities(n);
    assert.equal(p.length, n);
    assert.equal(p[n - 1], 1, 'the last rule takes all that is left');
    let unchosen = 1;
    for (const probability of p) {
      const share = unchosen * probability;
      assert.ok(Math.abs(share - 1 / n) < 1e-12, `N=${n}: share ${share}`);
      unchosen -= share;
    }
    assert.ok(Math.abs(unchosen) < 1e-12);
  }
  assert.deepEqual(cascadeProbabilities(3).map(formatProbability), ['0.3333333333', '0.5000000000', '1.0000000000']);
});

test('the binomial bound accepts fair spreads and rejects skewed ones', () => {
  const bound = spreadBound(60, 2);
  assert.equal(bound.mean, 30);
  assert.ok(bound.low > 10 && bound.low < 11 && bound.high > 49 && bound.high < 50);
  assert.ok(isPlausibleSpread([27, 33]));
  assert.ok(!isPlausibleSpread([60, 0]), 'everything to one backend');
  assert.ok(!isPlausibleSpread([54, 6]), '9 of 10 to one backend');
  // A seeded fair simulation stays inside the bound almost always (z = 5: < 1e-6 per endpoint).
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let outside = 0;
  for (let run = 0; run < 2000; run++) {
    const counts = [0, 0, 0];
    for (let i = 0; i < 60; i++) counts[Math.floor(random() * 3)]! += 1;
    if (!isPlausibleSpread(counts)) outside++;
  }
  assert.ok(outside <= 2, `${outside} of 2000 fair runs rejected`);
  // ...and a real skew (2/3 to one of two backends) is caught most of the time at 400 connections.
  let caught = 0;
  for (let run = 0; run < 200; run++) {
    const counts = [0, 0];
    for (let i = 0; i < 400; i++) counts[random() < 2 / 3 ? 0 : 1]! += 1;
    if (!isPlausibleSpread(counts)) caught++;
  }
  assert.ok(caught > 150, `caught ${caught} of 200`);
});

test('a Service check makes enough connections for every backend to answer: by default, and said when a count given was too few', () => {
  // The fewest n with k (1 - 1/k)^n at most MISS_CHANCE: one fewer is above it.
  const missed = (k: number, n: number) => k * (1 - 1 / k) ** n;
  assert.equal(fewestConnections(1), 1);
  for (const k of [2, 3, 6, 10, 20, 64]) {
    const n = fewestConnections(k);
    assert.ok(missed(k, n) <= MISS_CHANCE && missed(k, n - 1) > MISS_CHANCE, `${k} backends: ${n}`);
  }
  assert.deepEqual([2, 4, 5, 10, 64].map(fewestConnections), [21, 53, 70, 153, 1142]);
  // A Service of the most backends a lab may have needs no more connections than a check may make.
  assert.ok(fewestConnections(LAB_LIMITS.backends) <= LAB_LIMITS.connections);
  // verify's help says the defaults in words of its own (the command line loads nothing but commander for
  // its help): they are these numbers.
  assert.equal(
    connectionsDefaults(),
    '60, or more for a Service of 5 or more backends: as many as every backend needs to answer (153 for 10)',
  );
  const help = execFileSync(NETLAB, ['verify', '--help'], {
    encoding: 'utf8',
    env: { ...process.env, COLUMNS: '1000' },
  });
  assert.ok(
    help
      .replace(/\s+/g, ' ')
      .includes(
        `(default: the lab's, else 60, or more for a Service of 5 or more backends; ${fewestConnections(2)} for a tcp check to two backends)`,
      ),
    help,
  );

  // A lab's Service of 10 backends: its checks make 153 connections unless the lab says otherwise
  // (at the old 60, a healthy Service of 10 left a backend unanswered in about 1 check of 50).
  const pods = Array.from({ length: 10 }, (_, i) => `p${i}`);
  const { model } = parseLab(
    [
      'nodes: { node-0: {} }',
      `pods: { ${pods.map((p) => `${p}: { node: node-0 }`).join(', ')} }`,
      `services: { web: { cluster-ip: 10.96.0.10, port: 80, backends: [${pods}] } }`,
      'verify:',
      '  - service: { from: p0, to: web }',
      '  - service: { from: p1, to: web, connections: 20 }',
    ].join('\n'),
    'ten.yaml',
  );
  assert.deepEqual(
    model.checks.map((c) => c.connections),
    [153, 20],
  );
  // With 20 connections one backend unanswered says the count was too few; with 153, only that it was not answered.
  const answers = (n: number) => Array.from({ length: n }, (_, i) => pods[i % 9]!);
  const few = judgeService(model, model.checks[1]!, answers(20));
  assert.equal(few.ok, false);
  assert.match(
    few.evidence,
    /not answered by p9 \(20 connections are too few to be sure: 153 or more leave no backend unanswered by chance\)/,
  );
  const enough = judgeService(model, { ...model.checks[1]!, connections: 153 }, answers(153));
  assert.match(enough.evidence, /not answered by p9(;|$)/);
});

test('service rules: a cascade per Service, a DNAT and a hairpin mark per endpoint', () => {
  const { model } = parseLab(
    'nodes: { node-0: {}, node-1: {} }\npods: { a: { node: node-0 }, b: { node: node-0 }, c: { node: node-1 } }\nwiring: { cross-node: routes }\nservices:\n  s: { port: 80, target-port: 8080, backends: [a, b, c] }\n',
    'lb.yaml',
  );
  assert.equal(model.services[0]!.clusterIp, '10.96.0.2', 'the first free address of 10.96.0.0/12');
  const rules = servicesRestoreInput(model)
    .split('\n')
    .filter((l) => l.startsWith('-A NL-SVC-lb-1'));
  assert.deepEqual(rules, [
    '-A NL-SVC-lb-1 -m statistic --mode random --probability 0.3333333333 -j NL-SEP-lb-1-1',
    '-A NL-SVC-lb-1 -m statistic --mode random --probability 0.5000000000 -j NL-SEP-lb-1-2',
    '-A NL-SVC-lb-1 -j NL-SEP-lb-1-3',
  ]);
  const input = servicesRestoreInput(model);
  assert.match(input, /-A NL-SEP-lb-1-3 -s 10\.200\.1\.2\/32 -j NL-MARK-MASQ-lb\n/);
  assert.match(input, /-A NL-SEP-lb-1-3 -p tcp -j DNAT --to-destination 10\.200\.1\.2:8080\n/);
  assert.match(input, /^\*nat\n/);
  assert.match(input, /COMMIT\n$/);
});

test("the Services' ruleset is undone jumps first, then every chain flushed, then deleted (a chain goes only once empty and unjumped to)", () => {
  const { model } = parseLab(
    'nodes: { node-0: {} }\npods: { a: { node: node-0 } }\nservices:\n  s: { port: 80, backends: [a] }\n',
    'one.yaml',
  );
  const effect = buildPlan(model, simulatedFacts(model))
    .nodes[0]!.steps.flatMap((s) => s.effects)
    .find((e) => e.kind === 'ruleset')!;
  const chains = [
    'NL-SERVICES-one',
    'NL-NODEPORTS-one',
    'NL-MARK-MASQ-one',
    'NL-POSTROUTING-one',
    'NL-SVC-one-1',
    'NL-SEP-one-1-1',
  ];
  const jump = (from: string, to: string) => ['-D', from, '-m', 'comment', '--comment', 'netlab lab one', '-j', to];
  assert.deepEqual(
    undoOf(effect).map((c) => c.slice(c.indexOf('nat') + 1)),
    [
      jump('PREROUTING', 'NL-SERVICES-one'),
      jump('OUTPUT', 'NL-SERVICES-one'),
      jump('POSTROUTING', 'NL-POSTROUTING-one'),
      ...chains.map((c) => ['-F', c]),
      ...chains.map((c) => ['-X', c]),
    ],
  );
  assert.ok(undoOf(effect).every((c) => c.join(' ').startsWith('iptables -w -t nat ')));
});
