// The bounds of one lab (README "Bounded"; LAB_LIMITS in src/model/grammar.ts,
// checked in src/lab/bounds.ts and src/lab/schema.ts), each at its edge: a
// valid lab with exactly the bound loads, one more is refused with exit 2, the
// count and the bound, at the field. The numbers are written out here, so
// that a bound raised or lowered in the code turns this test red.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLab } from '../../src/lab/load.js';
import { LabInputError } from '../../src/errors.js';
import { checkBounds } from '../../src/lab/bounds.js';
import { isName, LAB_LIMITS, POD_NAME_MAX } from '../../src/model/grammar.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Every problem parseLab finds in a lab's text, as "line:col path: message"; none when it loads. */
function problemsOf(text: string): string[] {
  try {
    parseLab(text, 'x.yaml');
  } catch (error) {
    if (error instanceof LabInputError) return error.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

/** A lab of `pods` pods on node-0 (one /24 holds them). */
const podsOn0 = (pods: number) =>
  `pods:\n${range(pods)
    .map((i) => `  a${i}: { node: node-0 }`)
    .join('\n')}\n`;

const CASES: {
  what: string;
  bound: number;
  lab: (n: number) => string;
  path: string;
  message: (n: number) => string;
}[] = [
  {
    what: 'nodes',
    bound: 32,
    lab: (n) =>
      `nodes:\n${range(n)
        .map((i) => `  node-${i}: {}`)
        .join('\n')}\npods: { a0: { node: node-0 } }\n`,
    path: 'nodes',
    message: (n) => `found ${n} nodes; allowed: at most 32 (netlab's limit for one lab)`,
  },
  {
    what: 'pods',
    bound: 2000,
    lab: (n) =>
      `nodes:\n${range(8)
        .map((i) => `  node-${i}: { pods: ${i < 7 ? 250 : n - 1750}, pod-subnet: 10.200.${2 * i}.0/23 }`)
        .join('\n')}\npods: {}\n`,
    path: 'pods',
    message: (n) =>
      `found ${n} pods (listed under pods: and counted by nodes.X.pods); allowed: at most 2000 (netlab's limit for one lab)`,
  },
  {
    what: 'Services',
    bound: 64,
    lab: (n) =>
      `nodes: { node-0: {} }\npods: { a0: { node: node-0 } }\nservices:\n${range(n)
        .map((i) => `  s${i}: { cluster-ip: 10.96.0.${i + 2}, port: 80, backends: [a0] }`)
        .join('\n')}\n`,
    path: 'services',
    message: (n) => `found ${n} services; allowed: at most 64 (netlab's limit for one lab)`,
  },
  {
    what: 'backends of one Service',
    bound: 64,
    lab: (n) =>
      `nodes: { node-0: {} }\n${podsOn0(n)}services:\n  s: { cluster-ip: 10.96.0.2, port: 80, backends: [${range(n)
        .map((i) => `a${i}`)
        .join(', ')}] }\n`,
    path: 'services.s.backends',
    message: () => 'found a list; allowed: at most 64 backends',
  },
  {
    what: 'checks',
    bound: 256,
    lab: (n) =>
      `nodes: { node-0: {} }\npods: { a0: { node: node-0 }, a1: { node: node-0 } }\nverify:\n${range(n)
        .map((i) => `  - tcp: { from: a0, to: a1, port: ${1000 + i} }`)
        .join('\n')}\n`,
    path: 'verify',
    message: (n) => `found ${n} checks; allowed: at most 256 (netlab's limit for one lab)`,
  },
];

for (const c of CASES) {
  test(`bounds: ${c.bound} ${c.what} load; ${c.bound + 1} are refused with the count and the bound, exit 2`, () => {
    assert.ok(parseLab(c.lab(c.bound), 'edge.yaml').model, 'at the bound');
    assert.throws(
      () => parseLab(c.lab(c.bound + 1), 'over.yaml'),
      (error: unknown) =>
        error instanceof LabInputError &&
        error.exitCode === 2 &&
        error.issues.some((i) => i.path === c.path && i.message === c.message(c.bound + 1)),
    );
  });
}

// checkBounds itself, on raw data as the file gives it (before the schema, whatever its types): each count
// at its bound passes and one more is refused at its field, with its words; what is not a count counts 0.
test('checkBounds: every count of the raw file against its bound, each at its field with its words; what is no count counts 0', () => {
  const located: string[] = [];
  const locate = (path: readonly (string | number)[], at?: 'key' | 'value') => {
    located.push(`${path.join('.')} ${at}`);
    return { line: 7, col: 3 };
  };
  const map = (n: number, value: (i: number) => unknown = () => ({})) =>
    Object.fromEntries(range(n).map((i) => [`k${i}`, value(i)]));
  const peers = (n: number) => ({
    p: { ingress: [{ from: range(n - 1).map(() => ({})) }], egress: [{ to: [{}] }] },
  });
  const limits: [string, (n: number) => Record<string, unknown>, number, string][] = [
    ['nodes', (n) => ({ nodes: map(n) }), 32, 'nodes'],
    ['pods', (n) => ({ pods: map(n) }), 2000, 'pods (listed under pods: and counted by nodes.X.pods)'],
    [
      'pods',
      (n) => ({ nodes: { a: { pods: n - 5 } }, pods: map(5) }),
      2000,
      'pods (listed under pods: and counted by nodes.X.pods)',
    ],
    ['underlay.routers', (n) => ({ underlay: { routers: map(n) } }), 16, 'routers'],
    ['underlay.networks', (n) => ({ underlay: { networks: map(n) } }), 32, 'networks'],
    ['services', (n) => ({ services: map(n) }), 64, 'services'],
    ['policies', (n) => ({ policies: map(n) }), 64, 'policies'],
    ['policies', (n) => ({ policies: peers(n) }), 256, 'peers in the rules of all policies'],
    ['verify', (n) => ({ verify: range(n) }), 256, 'checks'],
  ];
  for (const [path, data, bound, what] of limits) {
    assert.deepEqual(checkBounds(data(bound), 'f.yaml', locate), [], `${what}: ${bound} pass`);
    located.length = 0;
    assert.deepEqual(
      checkBounds(data(bound + 1), 'f.yaml', locate),
      [
        {
          file: 'f.yaml',
          line: 7,
          col: 3,
          path,
          message: `found ${bound + 1} ${what}; allowed: at most ${bound} (netlab's limit for one lab)`,
        },
      ],
      `${what}: ${bound + 1} refused`,
    );
    assert.deepEqual(located, [`${path} key`], 'found at its key');
  }
  // Counted pods that are no positive number count nothing (the schema says what is wrong with them).
  for (const pods of ['3000', -3000, Number.NaN, Number.POSITIVE_INFINITY, null, [1, 2], { n: 3000 }])
    assert.deepEqual(
      checkBounds({ nodes: { a: { pods }, b: null }, pods: map(2000) }, 'f.yaml', locate),
      [],
      String(pods),
    );
  // Peers counted over ingress from: and egress to: of every rule of every policy, lists or mappings, others 0.
  const mixed = {
    a: { ingress: [{ from: map(100) }, null, { to: map(50) }], egress: [{ to: range(100) }, { from: range(9) }, null] },
    b: null,
    c: { ingress: 'x' },
  };
  assert.deepEqual(checkBounds({ policies: mixed }, 'f.yaml', locate), []);
  const over = { ...mixed, d: { egress: [{ to: range(57) }] } };
  assert.match(
    checkBounds({ policies: over }, 'f.yaml', locate)[0]!.message,
    /^found 257 peers in the rules of all policies;/,
  );
  // Not a list or a mapping: nothing to count.
  assert.deepEqual(
    checkBounds({ nodes: 'many', pods: 5000, services: null, verify: 'all', underlay: 7 }, 'f.yaml', locate),
    [],
  );
});

// What a lab expands to (checkExpansion, after resolving): the policy rules on one node and on all, each
// refused with its words; in process, where a bound raised or a count dropped turns this red
// (test/unit/lab-size holds the per-node bound through the command line).
test('expansion: the policy rules of one node and of all nodes, each over its bound, refused with its words; under both, none', () => {
  const lab = (nodes: number, pods: number, more: string[]) =>
    [
      'nodes:',
      ...range(nodes).map((i) => `  node-${i}: { pods: ${pods}, pod-subnet: 10.200.${4 * i}.0/22 }`),
      'pods: {}',
      'wiring: { cross-node: routes }',
      ...more,
      '',
    ].join('\n');
  const allFromAll = ['policies:', '  all:', '    pod-selector: {}', '    ingress: [{ from: [{ pod-selector: {} }] }]'];
  // 2 nodes × 80 pods: 80 × 160 + 80 = 12880 on each node, over 10000.
  assert.deepEqual(
    problemsOf(lab(2, 80, allFromAll)).map((m) => m.replace(/ \(.*/, '')),
    [
      '7:3 policies.all: node node-0 would hold 12880 policy rules',
      '7:3 policies.all: node node-1 would hold 12880 policy rules',
    ],
  );
  // 6 nodes × 40 pods: 40 × 240 + 40 = 9640 on each (under 10000), 57840 on all six (over 50000).
  assert.deepEqual(problemsOf(lab(6, 40, allFromAll)), [
    "10:1 policies: the nodes would hold 57840 policy rules together; allowed: at most 10000 on one node and 50000 in all (netlab's limit for one lab)",
  ]);
  assert.deepEqual(
    problemsOf(lab(6, 36, allFromAll)),
    [],
    '6 nodes × 36 pods: 36 × 216 + 36 = 7812 each, 46872 in all',
  );
});

// The checks a lab without verify: derives (a ring of pings and TCP connections above 12 pods, and every
// pod to every tcp Service), against their bound of 10000: at it the lab loads, one Service more refuses it.
test('expansion: the checks derived without a verify section, at their bound and over it, refused at verify with their words', () => {
  // 2 nodes × 499 pods and 2 listed: a ring of 1000 pings and 1000 TCP connections, then 1000 per Service.
  const lab = (services: number) =>
    [
      'nodes:',
      '  node-0: { pods: 499, pod-subnet: 10.200.0.0/22 }',
      '  node-1: { pods: 499, pod-subnet: 10.200.4.0/22 }',
      'pods: { a: { node: node-0 }, b: { node: node-1 } }',
      'wiring: { cross-node: routes }',
      'services:',
      ...range(services).map((i) => `  svc-${i}: { cluster-ip: 10.96.0.${i + 2}, port: 80, backends: [a, b] }`),
      '',
    ].join('\n');
  // 1000 pods: 1000 + 1000 + 1000 × 8 = 10000 load; with 9 Services 11000.
  assert.deepEqual(problemsOf(lab(8)), [], '10000 derived checks load');
  assert.deepEqual(problemsOf(lab(9)), [
    "1:1 verify: without a verify: section the lab derives 11000 checks (a ping and a TCP check per pod, and one per pod and Service); allowed: at most 10000 (netlab's limit for one lab); list the checks to run under verify:",
  ]);
  // A verify section, however short, derives nothing.
  assert.deepEqual(problemsOf(`${lab(9)}verify: [{ ping: { from: a, to: b } }]\n`), []);
  // A lab refused for its size is not planned for its challenges' faults (lab/load.ts): a fault it
  // does not have is not reported beside the size.
  assert.deepEqual(problemsOf(`${lab(9)}challenges:\n  - { id: one, title: a fault, fault: no-such:fault }\n`), [
    "1:1 verify: without a verify: section the lab derives 11000 checks (a ping and a TCP check per pod, and one per pod and Service); allowed: at most 10000 (netlab's limit for one lab); list the checks to run under verify:",
  ]);
});

// A negative count of pods (refused by the schema) must not subtract from the listed ones before it.
test('checkBounds: a negative count of pods does not hide listed pods over the bound', () => {
  const listed = Object.fromEntries(range(2001).map((i) => [`p${i}`, {}]));
  const found = checkBounds({ nodes: { a: { pods: -5 }, b: { pods: 0 } }, pods: listed }, 'f.yaml', () => ({
    line: 1,
    col: 1,
  }));
  assert.deepEqual(
    found.map((i) => i.message),
    [
      "found 2001 pods (listed under pods: and counted by nodes.X.pods); allowed: at most 2000 (netlab's limit for one lab)",
    ],
  );
});

// At both policy-rule bounds at once: 5 nodes × 40 selected pods and 49 others (249 pods), one policy
// selecting the 200 and allowing every pod in: 40 × (249 + 1) = 10000 rules on each node, 50000 in all.
test('expansion: exactly 10000 policy rules on each node and 50000 in all load; one pod more is over on each node', () => {
  const lab = (others: number) =>
    [
      'nodes:',
      ...range(5).map((n) => `  node-${n}: { pod-subnet: 10.200.${4 * n}.0/22${n === 0 ? `, pods: ${others}` : ''} }`),
      'pods:',
      ...range(5).flatMap((n) => range(40).map((i) => `  s${n}-${i}: { node: node-${n}, labels: { sel: y } }`)),
      'wiring: { cross-node: routes }',
      'policies:',
      '  all:',
      '    pod-selector: { sel: y }',
      '    ingress: [{ from: [{ pod-selector: {} }] }]',
      '',
    ].join('\n');
  assert.deepEqual(problemsOf(lab(49)), []);
  assert.deepEqual(
    problemsOf(lab(50)).map((m) => m.replace(/ \(.*/, '')),
    range(5).map((n) => `210:3 policies.all: node node-${n} would hold 10040 policy rules`),
  );
});

test("a counted pod's name is a pod name at the bounds' edge (resolve leaves pod names to the schema, which never sees counted ones)", () => {
  const longest = `p${LAB_LIMITS.nodes - 1}-${LAB_LIMITS.pods - 1}`;
  assert.ok(isName(longest, POD_NAME_MAX), `${longest} is longer than ${POD_NAME_MAX} characters or no name`);
});
