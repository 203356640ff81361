// Writes V8's code cache of the bundle (dist/bundle/netlab.cjs.cache, read by bin/load.cjs), run
// by scripts/bundle.mjs. The bundle is compiled without a cache and runs one command that reads a
// lab and plans it (`netlab plan labs/vxlan.yaml`, with an empty state directory of its own, so
// that the lab goes through the parser); V8's cache then holds every function that run compiled:
// the command line, the lab parser and its schema, the plan. What other commands compile beyond
// that, V8 compiles when they run, as it would without a cache.
//
// The cache only makes netlab start sooner: a run that fails says so and leaves no cache, and the
// build goes on (test/unit/command-line checks that the build's cache is used).
'use strict';
const { mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { CODE_CACHE, cacheFileOf, loadBundle } = require('../bin/load.cjs');

async function writeCodeCache() {
  const stateDir = mkdtempSync(join(tmpdir(), 'netlab-code-cache-'));
  try {
    process.env.NETLAB_STATE_DIR = stateDir;
    delete process.env.NETLAB_PROFILE;
    const { exports: netlab, script } = loadBundle({ withCache: false });
    await netlab.main(['node', 'netlab', 'plan', join(__dirname, '..', 'labs', 'vxlan.yaml')]);
    if (process.exitCode) throw new Error(`\`netlab plan labs/vxlan.yaml\` exited ${process.exitCode}`);
    writeFileSync(`${CODE_CACHE}.tmp`, cacheFileOf(script));
    renameSync(`${CODE_CACHE}.tmp`, CODE_CACHE);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

writeCodeCache().catch((error) => {
  process.stderr.write(`code-cache: no code cache written, netlab will start 40-70 ms later: ${error?.message}\n`);
  process.exitCode = 0;
});
