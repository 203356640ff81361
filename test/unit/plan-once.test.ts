// One plan per command (issue: verify built it once for its checks, again for
// its diagnosis and once per traced failure): the commands build a lab's plan
// and pass it along; what verifies, diagnoses and traces takes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildPlan, planOnce } from '../../src/plan/build.js';
import { loadLabFile } from '../../src/lab/load.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { LABS, ROOT } from '../paths.js';

test('planOnce builds the plan the first time it is asked for, then gives the same one', () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const facts = simulatedFacts(model);
  const plan = planOnce(model, facts);
  const first = plan();
  assert.equal(plan(), first, 'the same object: not built again');
  assert.deepEqual(first, buildPlan(model, facts));
});

test('only the commands (and what a command does once: a challenge’s fault, a fault list) build a plan', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
    );
  const building = files(join(ROOT, 'src'))
    .filter((f) => /\bbuildPlan\(/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(ROOT, f))
    .filter((f) => !f.startsWith('src/commands/'))
    .sort();
  assert.deepEqual(building, [
    'src/faults/faults.ts', // the fault ids a lab file may name (stand-in facts), and the lab with a wrong VNI or port
    'src/lifecycle/challenge.ts', // a challenge's fault, when the caller has no plan
    'src/plan/build.ts',
    'src/room/challenge.ts', // one plan for the fault mended and the fault made
  ]);
});

// A node without facts (its underlay address and interface) is netlab's own mistake, said as one.
test('buildPlan: a node without facts is an internal error naming the node', () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const facts = simulatedFacts(model);
  delete facts['node-1'];
  assert.throws(() => buildPlan(model, facts), { message: 'internal error: no facts for node node-1' });
});
