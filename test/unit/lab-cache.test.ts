// The cache of valid labs (src/lab/cached.ts): a lab file read before, unchanged,
// by the same build, gives the model the parser gave; anything else is parsed
// anew, and a file with problems is never kept. The cache's entries are tampered
// with here to show which reads use them: a read that returns the tampered model
// came from the cache, one that returns the file's came from the parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CACHED_LABS,
  cachedLabModel,
  labCache,
  readLab,
  warningsFor,
  type LabCache,
  type ReadLab,
} from '../../src/lab/cached.js';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import type { Model } from '../../src/model/lab.js';
import { bundledLabNames, bundledLabsDir } from '../../src/lab/bundled.js';
import { formatIssue, LabInputError } from '../../src/errors.js';
import { scratch } from '../scratch.js';
import { NETLAB, ROOT } from '../paths.js';

const LAB = 'nodes: { node-0: {} }\npods: { a0: { node: node-0 } }\n';
/** As `up` reads a lab: it keeps the model of a valid one. */
const KEEP = { keep: true };

/** A scratch directory with the valid lab file one.yaml and a cache in it, removed after `body`. */
async function withOneLab(body: (lab: { dir: string; file: string; cache: LabCache }) => Promise<void>): Promise<void> {
  const work = scratch('netlab-cache-');
  try {
    const file = join(work.dir, 'one.yaml');
    writeFileSync(file, LAB);
    await body({ dir: work.dir, file, cache: { dir: join(work.dir, 'cache'), build: 'build-1' } });
  } finally {
    work.remove();
  }
}

/** The cache's one entry file, rewritten by `change`: what only the cache can return. */
function rewrite(
  cache: LabCache,
  change: (entry: { format?: unknown; model: { description?: string } | null }) => void,
): void {
  const [entry, ...more] = readdirSync(cache.dir);
  assert.equal(more.length, 0, 'one entry');
  const path = join(cache.dir, entry!);
  const parsed = JSON.parse(readFileSync(path, 'utf8'));
  change(parsed);
  writeFileSync(path, JSON.stringify(parsed));
}

/** The entry with `description` changed. */
const tamper = (cache: LabCache, description: string) =>
  rewrite(cache, (entry) => {
    entry.model!.description = description;
  });

/** A lab with what no bundled lab has: a container with a root filesystem. */
const ROOTFS = `nodes: { node-0: {} }
pods:
  a0: { node: node-0, containers: [web, db], rootfs: /srv/rootfs }
  a1: { node: node-0 }
wiring: { same-node: bridge }
`;

test('every bundled lab, and one with a rootfs: the model read back from JSON is the one the parser made, and plans the same', () => {
  // What the cache stores is JSON: a model with a Map, a Set, an undefined field or a
  // function in it would come back different, and this fails (deepStrictEqual tells
  // a missing field from an undefined one). The plan too: shared objects, if any, are copies after JSON.
  const models = [
    ...bundledLabNames().map((name) => loadLabFile(join(bundledLabsDir(), `${name}.yaml`)).model),
    parseLab(ROOTFS, 'rootfs.yaml').model,
  ];
  for (const model of models) {
    const cached = JSON.parse(JSON.stringify(model)) as Model;
    assert.deepStrictEqual(cached, model, model.name);
    assert.deepStrictEqual(
      buildPlan(cached, simulatedFacts(cached)),
      buildPlan(model, simulatedFacts(model)),
      model.name,
    );
  }
});

test('a lab read twice: the second read is the cache; a change to the file, or another build, is parsed anew', () =>
  withOneLab(async ({ dir, file, cache: { build } }) => {
    // The state directory need not be there yet: made, as the cache, for this user alone.
    const cache = { dir: join(dir, 'state', 'cache'), build };
    // A command other than up reads the cache, and writes nothing.
    assert.deepStrictEqual((await readLab(file, {}, cache)).model, loadLabFile(file).model);
    assert.deepEqual(readdirSync(dir), ['one.yaml']);
    const first = (await readLab(file, KEEP, cache)).model;
    assert.deepStrictEqual(first, loadLabFile(file).model);
    assert.equal(statSync(cache.dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(cache.dir, readdirSync(cache.dir)[0]!)).mode & 0o777, 0o600);
    tamper(cache, 'from the cache');
    assert.equal((await readLab(file, KEEP, cache)).model.description, 'from the cache');
    // The same lab under another name as given is another entry (the model records its file).
    assert.equal((await readLab(`${dir}/./one.yaml`, KEEP, cache)).model.description, '');
    // Another build: parsed by that build's checks.
    assert.equal((await readLab(file, KEEP, { ...cache, build: 'build-2' })).model.description, '');
    // One byte more in the file: parsed anew.
    writeFileSync(file, `${LAB}# a comment\n`);
    assert.equal((await readLab(file, KEEP, cache)).model.description, '');
  }));

test("the cache alone (up's early SSH login): the model of a lab kept before; none for one never kept, changed, or of another build", () =>
  withOneLab(async ({ file, cache }) => {
    assert.equal(cachedLabModel(file, cache), undefined, 'never read');
    await readLab(file, {}, cache);
    assert.equal(cachedLabModel(file, cache), undefined, 'read, not kept');
    await readLab(file, KEEP, cache);
    tamper(cache, 'from the cache');
    assert.equal(cachedLabModel(file, cache)?.description, 'from the cache');
    assert.deepEqual(
      cachedLabModel(file, cache)?.nodes.map((n) => n.name),
      ['node-0'],
    );
    assert.equal(cachedLabModel(file, { ...cache, build: 'build-2' }), undefined, 'another build');
    assert.equal(cachedLabModel(file, undefined), undefined, 'no cache');
    writeFileSync(file, `${LAB}# a comment\n`);
    assert.equal(cachedLabModel(file, cache), undefined, 'changed');
  }));

test('an entry that is not one (another format, no model) is not read: the lab is parsed', () =>
  withOneLab(async ({ file, cache }) => {
    await readLab(file, KEEP, cache);
    rewrite(cache, (entry) => {
      entry.format = 'netlab lab cache 0';
      entry.model!.description = 'from the cache';
    });
    assert.equal((await readLab(file, KEEP, cache)).model.description, '');
    rewrite(cache, (entry) => {
      entry.model = null;
    });
    assert.deepStrictEqual((await readLab(file, KEEP, cache)).model, loadLabFile(file).model);
  }));

test("a lab's warnings are kept with its model: up and plan say them from the cache as from the parser, over SSH without those of simulated nodes' facts; an entry of the format before (no warnings) is not read", () =>
  withOneLab(async ({ file, cache }) => {
    // Two warnings: a check between nodes nothing joins (wherever the lab runs), and one to an address no part
    // of the lab routes to (on simulated nodes: a machine's underlay, read at up, may hold it).
    writeFileSync(
      file,
      'nodes: { node-0: {}, node-1: {} }\npods: { a0: { node: node-0 }, a1: { node: node-1 } }\nverify:\n  - ping: { from: a0, to: a1 }\n  - ping: { from: a0, to: 192.0.2.1 }\n',
    );
    const parsed = loadLabFile(file).warnings.map(formatIssue);
    assert.equal(parsed.length, 2);
    assert.match(parsed[0]!, /warning: verify\.0\.ping: a0 is on node-0 and a1 on node-1, but cross-node: none/);
    assert.match(parsed[1]!, /warning: verify\.1\.ping\.to: 192\.0\.2\.1 is no address of the lab/);
    const said = (read: ReadLab) => [warningsFor(read, false), warningsFor(read, true)];
    const expected = [parsed, [parsed[0]]];
    assert.deepEqual(said(await readLab(file, KEEP, cache)), expected);
    rewrite(cache, (entry) => {
      entry.model!.description = 'from the cache';
    });
    const cached = await readLab(file, KEEP, cache);
    assert.deepEqual([cached.model.description, ...said(cached)], ['from the cache', ...expected]);
    // Format 1 had no warnings: such an entry would say none.
    rewrite(cache, (entry) => {
      entry.format = 'netlab lab cache 1';
      delete (entry as { warnings?: unknown }).warnings;
    });
    const anew = await readLab(file, KEEP, cache);
    assert.deepEqual([anew.model.description, ...said(anew)], ['', ...expected]);
  }));

test('without a cache (netlab run from dist/src), a lab is parsed and nothing is written; a directory is no lab file', () =>
  withOneLab(async ({ dir, file }) => {
    assert.deepStrictEqual((await readLab(file, KEEP, undefined)).model, loadLabFile(file).model);
    assert.deepEqual(readdirSync(dir), ['one.yaml']);
    await assert.rejects(
      readLab(dir, KEEP, undefined),
      (e) => e instanceof LabInputError && /is a directory, not a lab file/.test(e.message),
    );
  }));

test('a file with problems is refused by the parser every time and never cached', async () => {
  const work = scratch('netlab-cache-');
  try {
    const file = join(work.dir, 'bad.yaml');
    writeFileSync(file, 'nodes: { node-0: {} }\npods: { a0: { node: node-9 } }\n');
    const cache = { dir: join(work.dir, 'cache'), build: 'build-1' };
    for (let i = 0; i < 2; i++)
      await assert.rejects(
        readLab(file, KEEP, cache),
        (e) => e instanceof LabInputError && e.exitCode === 2 && /node-9/.test(e.message),
      );
    assert.deepEqual(readdirSync(work.dir), ['bad.yaml']);
  } finally {
    work.remove();
  }
});

test('an entry cut short (a crash while writing) is not read; the lab is parsed and the entry written whole', () =>
  withOneLab(async ({ file, cache }) => {
    await readLab(file, KEEP, cache);
    const entry = join(cache.dir, readdirSync(cache.dir)[0]!);
    const whole = readFileSync(entry, 'utf8');
    writeFileSync(entry, whole.slice(0, whole.length - 1));
    assert.deepStrictEqual((await readLab(file, KEEP, cache)).model, loadLabFile(file).model);
    assert.equal(readFileSync(entry, 'utf8'), whole);
  }));

test(`the cache keeps the ${CACHED_LABS} labs used last`, async () => {
  const work = scratch('netlab-cache-');
  try {
    const cache = { dir: join(work.dir, 'cache'), build: 'build-1' };
    // A file that is not the cache's, older than every entry: never evicted (the cache removes only its own).
    mkdirSync(cache.dir);
    writeFileSync(join(cache.dir, 'precious'), 'x');
    utimesSync(join(cache.dir, 'precious'), 0, 0);
    const files = Array.from({ length: CACHED_LABS + 2 }, (_, i) => join(work.dir, `lab-${i}.yaml`));
    for (const [i, file] of files.entries()) {
      writeFileSync(file, LAB);
      await readLab(file, KEEP, cache);
      // Dated a second apart, in order: the file system's clock may not tell two writes of one second apart.
      for (const name of readdirSync(cache.dir).filter((n) => n !== 'precious'))
        if (JSON.parse(readFileSync(join(cache.dir, name), 'utf8')).model.file === file)
          utimesSync(join(cache.dir, name), i, i);
    }
    const kept = () =>
      readdirSync(cache.dir)
        .filter((name) => name !== 'precious')
        .map((name) => JSON.parse(readFileSync(join(cache.dir, name), 'utf8')).model.file as string)
        .sort();
    assert.deepEqual(kept(), files.slice(2).sort());
    // A lab read again is used last: the next one written evicts the one used longest ago instead.
    await readLab(files[2]!, KEEP, cache);
    const next = join(work.dir, 'lab-next.yaml');
    writeFileSync(next, LAB);
    await readLab(next, KEEP, cache);
    assert.deepEqual(kept(), [...files.slice(4), files[2]!, next].sort());
    assert.equal(readFileSync(join(cache.dir, 'precious'), 'utf8'), 'x');
  } finally {
    work.remove();
  }
});

test('a cache that cannot be written (its directory under a file) costs the next read its time, nothing else', () =>
  withOneLab(async ({ file, cache }) => {
    // ENOTDIR at every step: reading the entry, making the directory, removing the temporary file.
    const underAFile = { ...cache, dir: join(file, 'cache') };
    assert.deepStrictEqual((await readLab(file, KEEP, underAFile)).model, loadLabFile(file).model);
    assert.deepStrictEqual((await readLab(file, KEEP, underAFile)).model, loadLabFile(file).model);
  }));

test('netlab run from dist/src (no bundle, no build id) has no cache', () => {
  assert.equal(labCache(), undefined);
});

test("the command line (the bundle) reads a lab up kept in its state directory's cache, and plan writes none", () =>
  withOneLab(async ({ dir, file }) => {
    const plan = () => {
      const run = spawnSync(NETLAB, ['plan', file], {
        env: { ...process.env, NETLAB_STATE_DIR: join(dir, 'state'), FORCE_COLOR: '0' },
        encoding: 'utf8',
      });
      assert.equal(run.status, 0, run.stderr);
      return run.stdout;
    };
    assert.match(plan(), /10\.200\.0\.\d+/);
    assert.deepEqual(readdirSync(dir), ['one.yaml'], 'plan leaves no file');
    // Kept as up keeps it, for the bundle's build.
    const cache = {
      dir: join(dir, 'state', 'cache'),
      build: readFileSync(join(ROOT, 'dist', 'bundle', 'build-id'), 'utf8').trim(),
    };
    await readLab(file, KEEP, cache);
    const [entry] = readdirSync(cache.dir);
    const path = join(cache.dir, entry!);
    writeFileSync(path, readFileSync(path, 'utf8').replaceAll('10.200.0.', '10.99.0.'));
    assert.match(plan(), /10\.99\.0\.\d+/, 'planned from the cached model');
    writeFileSync(file, `${LAB}# changed\n`);
    assert.doesNotMatch(plan(), /10\.99\./, 'a changed file is read anew');
  }));
