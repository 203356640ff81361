// The bounds of one lab (README "Bounded"; LAB_LIMITS in src/model/grammar.ts,
// checked in src/lab/bounds.ts and src/lab/schema.ts), each at its edge: a
// valid lab with exactly the bound loads, one more is refused with exit 2, the
// count and the bound, at the field. The numbers are written out here, so
// that a bound raised or lowered in the code turns this test red.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLab } from '../../src/lab/load.js';
import { LabInputError } from '../../src/errors.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

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
