// Names the user chooses, names the kernel gets: lab and instance names of up
// to 32 characters, and the short kernel name derived from them (chains, rule
// comments, the lab's directory on the nodes), unique per instance and stable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { kernelLabName, labId, labIdProblem, labNameProblem } from '../../src/model/grammar.js';
import { kernelNameOf, labIdOf } from '../../src/model/lab.js';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { renderPlanText } from '../../src/shell/render.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { nodeStateDir } from '../../src/node/paths.js';
import { GOLDEN, LABS, ROOT, golden } from '../paths.js';

test('lab and instance names: up to 32 letters, digits, _ . -; a lab id is name@instance and splits back', () => {
  for (const ok of ['vxlan', 'my_lab', 'nodeport-no-port', 'Lab.2', 'a'.repeat(32)])
    assert.equal(labNameProblem(ok), undefined, ok);
  for (const bad of ['', '-x', '.x', 'a/b', 'a@b', 'a b', 'a'.repeat(33), 'ä'])
    assert.match(labNameProblem(bad) ?? '', /at most 32 characters/, bad);
  assert.equal(labId('vxlan', 'g2'), 'vxlan@g2');
  assert.equal(labId('vxlan'), 'vxlan');
  assert.equal(labIdProblem('vxlan@g2'), undefined);
  for (const bad of ['vxlan@', '@g2', 'vxlan@g2@g3', 'vxlan@../x', `vxlan@${'g'.repeat(33)}`])
    assert.ok(labIdProblem(bad), bad);
});

test('kernel names: within what the kernel takes everywhere netlab puts them, unique per instance, stable, unchanged for the bundled labs', () => {
  const ids = [
    'vxlan',
    'nodeport-no-port',
    'my_lab',
    'A'.repeat(32),
    ...Array.from({ length: 200 }, (_, i) => labId('vxlan', `g${i}`)),
    ...Array.from({ length: 200 }, (_, i) => labId('a-lab-name-that-is-32-characters', `group-${i}`)),
  ];
  const names = ids.map(kernelLabName);
  assert.equal(new Set(names).size, ids.length, 'one kernel name per lab and instance');
  for (const name of names) {
    assert.match(name, /^[a-z0-9][a-z0-9-]{0,11}$/);
    // The longest chain netlab makes: a pod's policy chain, NL-PI-<lab>_<pod> (pod names are at most 8).
    assert.ok(`NL-PI-${name}_${'p'.repeat(8)}`.length <= 28);
  }
  assert.equal(kernelLabName('vxlan@g2'), kernelLabName('vxlan@g2'), 'stable');
  assert.equal(kernelLabName('vxlan'), 'vxlan', 'a name that fits is kept');
  assert.match(kernelLabName('nodeport-no-port'), /^nodep-[0-9a-f]{6}$/);
  assert.equal(nodeStateDir('vxlan@g2'), `/run/netlab/${kernelLabName('vxlan@g2')}`);
});

test('the plan of an instance: its kernel name in every chain, comment and path, said at the top (golden)', () => {
  const { model: lab } = loadLabFile(relative(ROOT, join(LABS, 'service.yaml')));
  const model = { ...lab, instance: 'room-group-2' };
  const kernel = kernelNameOf(model);
  assert.notEqual(kernel, 'service');
  const text = renderPlanText(model, buildPlan(model, simulatedFacts(model)), 'simulated nodes on this host');
  assert.match(text, new RegExp(`^# lab ${labIdOf(model)}: .*\\n# kernel name: ${kernel} `));
  assert.doesNotMatch(
    text,
    /NL-[A-Z-]+-service\b|NETLAB-FWD-service\b|netlab lab service\b/,
    'no chain of the lab itself',
  );
  const file = join(GOLDEN, 'plans', 'instance', 'service@room-group-2.txt');
  golden(file, text);
});
