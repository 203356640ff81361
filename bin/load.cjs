// Loads the bundled command line (dist/bundle/netlab.cjs, made by scripts/bundle.mjs) with the
// V8 code cache the build wrote beside it: V8 then neither parses nor compiles again what the
// cache holds (40-70 ms of a command's start, BENCHMARKS.md). V8 takes a cache only if the same V8,
// with the same flags, made it for a source of the same length; the build writes the bundle and its
// cache together (scripts/bundle.mjs). A cache V8 refuses (another Node, other flags), or none, only
// costs that time: the bundle is compiled from its source as usual.
'use strict';
const { readFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'bundle', 'netlab.cjs');
const CODE_CACHE = `${BUNDLE}.cache`;

/**
 * Runs the bundle's module body, as require() would: its exports (main), its script (the build
 * asks it for its code cache) and whether V8 compiled it with the cache.
 */
function loadBundle({ withCache = true } = {}) {
  const source = readFileSync(BUNDLE, 'utf8');
  let cachedData;
  if (withCache) {
    try {
      cachedData = readFileSync(CODE_CACHE);
    } catch {
      // built without one: compiled from the source
    }
  }
  const script = new Script(wrap(source), { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return { exports: module.exports, script, usedCache: cachedData !== undefined && !script.cachedDataRejected };
}

module.exports = { BUNDLE, CODE_CACHE, loadBundle };
