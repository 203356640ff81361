// The grammar of names (src/model/grammar.ts), function by function. Most of
// it is also reached through the lab schema, which checks names first; these
// tests hold the functions themselves, which are the last check before a name
// becomes a path on a node (nodeStateDir) or an interface name, so that a
// name that skipped the schema (another code path, a later change) still
// cannot get through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultLabName, isName, labNameProblem } from '../../src/model/grammar.js';
import { checkedLabName, nodeStateDir } from '../../src/node/paths.js';
import { parseLab } from '../../src/lab/load.js';
import { LabInputError } from '../../src/errors.js';

const RULE = "a lab name is letters, digits, '_', '.' and '-', not starting with '-' or '.', at most 32 characters";

test('lab names: letters, digits, "_", "." and "-", not starting with "-" or ".", at most 32 characters', () => {
  for (const name of ['vxlan-3', 'a', '0', 'abcdefghijkl', 'a-', '3-node', 'my_lab', 'Vxlan', 'a.b', 'a'.repeat(32)])
    assert.equal(labNameProblem(name), undefined, name);
  for (const name of ['', 'a'.repeat(33), '-x', '.x', 'x$(id)', '..', '.', 'a/b', 'a b', 'é', 'a@b'])
    assert.equal(labNameProblem(name), RULE, JSON.stringify(name));
});

test('no path on a node is built from a name that is not a lab name', () => {
  assert.equal(nodeStateDir('vxlan-3'), '/run/netlab/vxlan-3');
  assert.equal(checkedLabName('abcdefghijkl'), 'abcdefghijkl');
  for (const name of ['', '..', '../etc', 'a/b', 'a'.repeat(33), '-rf'])
    assert.throws(
      () => nodeStateDir(name),
      new Error(`internal error: unchecked lab name ${JSON.stringify(name)} (${RULE})`),
      JSON.stringify(name),
    );
});

test('a lab file without name: is named after its file: the last part of the path, less .yaml or .yml, in lower case', () => {
  assert.equal(defaultLabName('labs/vxlan-3.yaml'), 'vxlan-3');
  assert.equal(defaultLabName('/tmp/a/b/Edge.YML'), 'edge');
  assert.equal(defaultLabName('a.yml'), 'a');
  assert.equal(defaultLabName('routes'), 'routes');
  assert.equal(defaultLabName('ab.yaml.bak'), 'ab.yaml.bak', 'only a final .yaml is taken off');
  assert.equal(defaultLabName('dir.yaml/lab'), 'lab');
  const lab = 'nodes: { node-0: {} }\npods: { a0: { node: node-0 } }\n';
  assert.equal(parseLab(lab, '/some/dir/My-Lab.yaml').name, 'my-lab');
  assert.throws(
    () => parseLab(lab, '/some/dir/my lab.yaml'),
    (error: unknown) =>
      error instanceof LabInputError &&
      error.issues.some(
        (i) =>
          i.message ===
          `lab name "my lab" (taken from the file name; set "name:" to choose another) must be letters, digits, '_', '.' and '-', not starting with '-' or '.', at most 32 characters`,
      ),
  );
});

test('isName: the name grammar and a length bound, both', () => {
  assert.equal(isName('veth-a0-c', 15), true);
  assert.equal(isName('a'.repeat(15), 15), true);
  assert.equal(isName('a'.repeat(16), 15), false, 'one over the bound');
  assert.equal(isName('abcdefgh', 8), true);
  assert.equal(isName('abcdefghi', 8), false);
  for (const bad of ['-rf', '.hidden', 'a b', 'a;b', '$(id)', '', 'а0'])
    assert.equal(isName(bad, 15), false, JSON.stringify(bad));
  assert.equal(isName('A_0.b-c', 15), true);
});
