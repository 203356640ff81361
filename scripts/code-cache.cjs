// Writes V8's code caches of the two bundles, read by bin/load.cjs; run by scripts/bundle.mjs, in a
// process of its own. The bundles are compiled without a cache and run two commands; V8's cache of
// each then holds every function of it that they compiled:
// - `netlab plan labs/vxlan.yaml`, with an empty state directory of its own, so that the lab goes
//   through the parser: the command line's parsing of a command, and in the commands' bundle the
//   lab parser and its schema, and the plan. What other commands compile beyond that, V8 compiles
//   when they run, as it would without a cache;
// - `netlab --help`: the command line's help.
//
// A cache only makes netlab start sooner: a run that fails says so and leaves no cache, and the
// build goes on (test/unit/command-line checks that the build's caches are used).
'use strict';
const { mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const {
  BUNDLE,
  COMMANDS_BUNDLE,
  cacheFileOf,
  cacheOf,
  commandsLoaded,
  compileWithoutCaches,
  loadBundle,
} = require('../bin/load.cjs');

// --help last: its functions, compiled by it alone, are the command line's cache's whatever V8 flushes during plan.
const RUNS = [['plan', join(__dirname, '..', 'labs', 'vxlan.yaml')], ['--help']];

async function writeCodeCaches() {
  // An earlier build's caches would not be these bundles': every start would hash them to find that out.
  for (const bundle of [BUNDLE, COMMANDS_BUNDLE]) rmSync(cacheOf(bundle), { force: true });
  const stateDir = mkdtempSync(join(tmpdir(), 'netlab-code-cache-'));
  try {
    process.env.NETLAB_STATE_DIR = stateDir;
    delete process.env.NETLAB_PROFILE;
    compileWithoutCaches();
    const { exports: netlab, script } = loadBundle(BUNDLE, { withCache: false });
    for (const args of RUNS) {
      await netlab.main(['node', 'netlab', ...args]);
      if (process.exitCode) throw new Error(`\`netlab ${args.join(' ')}\` exited ${process.exitCode}`);
    }
    const scripts = [
      [BUNDLE, script],
      [COMMANDS_BUNDLE, commandsLoaded().script],
    ];
    for (const [bundle, compiled] of scripts) {
      writeFileSync(`${cacheOf(bundle)}.tmp`, cacheFileOf(bundle, compiled));
      renameSync(`${cacheOf(bundle)}.tmp`, cacheOf(bundle));
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

writeCodeCaches().catch((error) => {
  process.stderr.write(`code-cache: no code cache written, netlab will start 5-70 ms later: ${error?.message}\n`);
  process.exitCode = 0;
});
