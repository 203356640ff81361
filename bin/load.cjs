// Loads the bundled command line (dist/bundle/netlab.cjs, made by scripts/bundle.mjs) with the
// V8 code cache the build wrote beside it: V8 then neither parses nor compiles again what the
// cache holds (40-70 ms of a command's start, BENCHMARKS.md). V8 itself takes a cache made by the
// same V8, with the same flags, for any source of the same length: so the cache file starts with
// the SHA-256 of the bundle it was made for (2 ms for its 2 MB), and is used only for those bytes.
// A cache that is not for this bundle, one V8 refuses (another Node, other flags), or none, only
// costs that time: the bundle is compiled from its source as usual.
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'bundle', 'netlab.cjs');
const CODE_CACHE = `${BUNDLE}.cache`;
/** The cache file: the bundle's SHA-256 in hex, a newline, then V8's data. */
const HEADER = 64 + 1;

const hashOf = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** V8's data in the cache file, if the file was made for these bytes of the bundle. */
function cachedDataFor(bundle) {
  let file;
  try {
    file = readFileSync(CODE_CACHE);
  } catch {
    return undefined; // built without one: compiled from the source
  }
  return file.length > HEADER && file.toString('latin1', 0, HEADER) === `${hashOf(bundle)}\n`
    ? file.subarray(HEADER)
    : undefined;
}

/**
 * Runs the bundle's module body, as require() would: its exports (main), its script (the build
 * asks it for its code cache) and whether V8 compiled it with the cache.
 */
function loadBundle({ withCache = true } = {}) {
  const bundle = readFileSync(BUNDLE);
  const cachedData = withCache ? cachedDataFor(bundle) : undefined;
  const script = new Script(wrap(bundle.toString('utf8')), { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return { exports: module.exports, script, usedCache: cachedData !== undefined && !script.cachedDataRejected };
}

/** The cache file's bytes for V8's data made by this bundle's script (scripts/code-cache.cjs). */
function cacheFileOf(script) {
  return Buffer.concat([Buffer.from(`${hashOf(readFileSync(BUNDLE))}\n`, 'latin1'), script.createCachedData()]);
}

module.exports = { BUNDLE, CODE_CACHE, cacheFileOf, loadBundle };
