// A lab is bounded by what it expands to, not only by its counts: small files
// that would expand to millions of rules, or start thousands of processes, are
// refused by `netlab validate` with exit 2, the count and the bound. Run
// through the real CLI in a child process that is killed after 60 s: before
// the bounds, the policy bomb validated (and its plan took 47 s and 4.3 GB),
// and with a challenge validate ran out of heap. How fast validate refuses
// them is for the benchmarks; here a generous kill only tells "seconds" from
// "minutes or never".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NETLAB } from '../paths.js';

/** Two nodes of 1000 pods and one policy: every pod accepts from every pod (2000 rules for each of 2000 pods). */
const policyBomb = (challenge: boolean) =>
  [
    'nodes:',
    '  node-0: { pods: 1000, pod-subnet: 10.200.0.0/22 }',
    '  node-1: { pods: 1000, pod-subnet: 10.200.4.0/22 }',
    'pods: {}',
    'wiring: { cross-node: routes }',
    'policies:',
    '  all:',
    '    pod-selector: {}',
    '    ingress: [{ from: [{ pod-selector: {} }] }]',
    ...(challenge ? ['challenges:', '  - { id: c, title: t, fault: "link-down:node-0:br0" }'] : []),
    '',
  ].join('\n');

/** 3000 routers between two networks (116 KB): a simulated up would start a process for each at once. */
const routers = [
  'nodes:',
  '  node-0: { underlay: { network: left } }',
  '  node-1: { underlay: { network: right } }',
  'pods: { a0: { node: node-0 } }',
  'underlay:',
  '  networks: { left: 172.16.0.0/16, right: 172.17.0.0/16 }',
  '  routers:',
  ...Array.from({ length: 3000 }, (_, i) => `    r${i}: { networks: [left, right] }`),
  '',
].join('\n');

const CASES: [string, string, RegExp][] = [
  [
    'bomb',
    policyBomb(false),
    /^bomb\.yaml:7:3: policies\.all: node node-0 would hold 2001000 policy rules \(ingress of policy all: 1000 selected pods there × 2000 rules each.*allowed: at most 10000 on one node and 50000 in all/m,
  ],
  ['bombc', policyBomb(true), /^bombc\.yaml:7:3: policies\.all: node node-1 would hold 2001000 policy rules/m],
  ['routers', routers, /^routers\.yaml:7:3: underlay\.routers: found 3000 routers; allowed: at most 16/m],
];

for (const [name, text, message] of CASES) {
  test(`validate refuses the ${name} lab within seconds: exit 2, the count and the bound`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-size-'));
    try {
      writeFileSync(join(dir, `${name}.yaml`), text);
      const run = await execa(NETLAB, ['validate', `${name}.yaml`], {
        cwd: dir,
        reject: false,
        stdin: 'ignore',
        env: { FORCE_COLOR: '0' },
        // (a bomb's real cost is minutes or all memory; 60 s leaves room to a unit tier at nice 10 beside the e2e tier)
        timeout: 60_000,
      });
      assert.ok(!run.timedOut, `validate ${name}.yaml did not finish within 60 s`);
      assert.equal(run.exitCode, 2, String(run.stderr));
      assert.match(String(run.stderr), message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
