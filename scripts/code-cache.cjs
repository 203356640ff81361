// Writes V8's code caches of the bundle, read by bin/load.cjs; run by scripts/bundle.mjs, once for
// each cache, each in a process of its own (V8 would hand a second compile of the same source in one
// process what the first compiled). The bundle is compiled without a cache and runs one command;
// V8's cache then holds every function that run compiled:
// - `lab` (dist/bundle/netlab.cjs.cache): `netlab plan labs/vxlan.yaml`, with an empty state
//   directory of its own, so that the lab goes through the parser: the command line, the lab parser
//   and its schema, the plan. What other commands compile beyond that, V8 compiles when they run,
//   as it would without a cache.
// - `help` (dist/bundle/netlab.cjs.help-cache): `netlab --help`, the command line alone.
//
// A cache only makes netlab start sooner: a run that fails says so and leaves no cache, and the
// build goes on (test/unit/command-line checks that the build's caches are used).
'use strict';
const { mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { CODE_CACHE, HELP_CACHE, cacheFileOf, loadBundle } = require('../bin/load.cjs');

const CACHES = {
  lab: { file: CODE_CACHE, args: ['plan', join(__dirname, '..', 'labs', 'vxlan.yaml')] },
  help: { file: HELP_CACHE, args: ['--help'] },
};

async function writeCodeCache({ file, args }) {
  // An earlier build's cache would not be this bundle's: every start would hash the bundle to find that out.
  rmSync(file, { force: true });
  const stateDir = mkdtempSync(join(tmpdir(), 'netlab-code-cache-'));
  try {
    process.env.NETLAB_STATE_DIR = stateDir;
    delete process.env.NETLAB_PROFILE;
    const { exports: netlab, script } = loadBundle({ withCache: false });
    await netlab.main(['node', 'netlab', ...args]);
    if (process.exitCode) throw new Error(`\`netlab ${args.join(' ')}\` exited ${process.exitCode}`);
    writeFileSync(`${file}.tmp`, cacheFileOf(script));
    renameSync(`${file}.tmp`, file);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const which = process.argv[2];
const cache = CACHES[which];
(cache ? writeCodeCache(cache) : Promise.reject(new Error(`which cache: ${Object.keys(CACHES).join(' or ')}`))).catch(
  (error) => {
    process.stderr.write(
      `code-cache: no ${which} code cache written, netlab will start 5-70 ms later: ${error?.message}\n`,
    );
    process.exitCode = 0;
  },
);
