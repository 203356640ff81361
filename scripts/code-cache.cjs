// Writes V8's code cache of the bundle (dist/bundle/netlab.cjs.cache, read by bin/load.cjs), run
// by scripts/bundle.mjs. The bundle is compiled without a cache and runs one command that reads a
// lab and plans it (`netlab plan vxlan`, with an empty state directory of its own, so that the lab
// goes through the parser); V8's cache then holds every function that run compiled: the command
// line, the lab parser and its schema, the plan. What other commands compile beyond that, V8
// compiles when they run, as it would without a cache.
'use strict';
const { mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { CODE_CACHE, loadBundle } = require('../bin/load.cjs');

const stateDir = mkdtempSync(join(tmpdir(), 'netlab-code-cache-'));
process.env.NETLAB_STATE_DIR = stateDir;
const { exports: netlab, script } = loadBundle({ withCache: false });
netlab.main(['node', 'netlab', 'plan', 'vxlan']).then(
  () => {
    rmSync(stateDir, { recursive: true, force: true });
    if (process.exitCode) throw new Error(`code-cache: \`netlab plan vxlan\` exited ${process.exitCode}`);
    writeFileSync(`${CODE_CACHE}.tmp`, script.createCachedData());
    renameSync(`${CODE_CACHE}.tmp`, CODE_CACHE);
  },
  (error) => {
    rmSync(stateDir, { recursive: true, force: true });
    throw error;
  },
);
