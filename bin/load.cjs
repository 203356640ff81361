// Loads the bundled command line (dist/bundle/netlab.cjs, made by scripts/bundle.mjs) with the
// V8 code cache the build wrote beside it: V8 then neither parses nor compiles again what the
// cache holds (40-70 ms of a command's start, BENCHMARKS.md). V8 itself takes a cache made by the
// same V8, with the same flags, for any source of the same length: so the cache file's first line
// names the bundle it was made for, and it is used only for those bytes. The line holds the
// bundle's SHA-256 (3 ms for its 2 MB) and its file as the build left it: device, inode, size
// and change time (a stat, as the bundle is read). The bundle is hashed only when the stat
// differs. The kernel sets a file's change time at every write, rename or change of its times,
// and no program can set it back, so a stat that matches is the build's file untouched since;
// a copy, or a bundle changed since, is hashed. A cache that is not for this bundle, one V8
// refuses (another Node, other flags), or none, only costs that time: the bundle is compiled from
// its source as usual.
'use strict';
const { closeSync, fstatSync, openSync, readFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'bundle', 'netlab.cjs');
const CODE_CACHE = `${BUNDLE}.cache`;
// A second cache, made by `netlab --help`: the command line's own code alone, half the size. V8 reads a
// whole cache as it compiles, so help and the version start some 4 ms sooner with it (BENCHMARKS.md).
const HELP_CACHE = `${BUNDLE}.help-cache`;
const HELP_WORDS = new Set(['--help', '-h', 'help', '--version', '-V']);

/** The cache for a command line: help's where netlab's own arguments (before `--`) ask only for help or the version. */
function cacheFor(args) {
  const own = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  return own.length === 0 || own.some((arg) => HELP_WORDS.has(arg)) ? HELP_CACHE : CODE_CACHE;
}

// crypto is loaded only to hash (a copy, or a bundle changed since its cache).
const hashOf = (bytes) => require('node:crypto').createHash('sha256').update(bytes).digest('hex');

/** The bundle's bytes, and its file as it was read: device, inode, size, change time (one open file). */
function readBundle() {
  const fd = openSync(BUNDLE, 'r');
  try {
    const stat = fstatSync(fd, { bigint: true });
    return { bytes: readFileSync(fd), stamp: `${stat.dev}:${stat.ino} ${stat.size} ${stat.ctimeNs}` };
  } finally {
    closeSync(fd);
  }
}

/**
 * V8's data in the cache file, if the file was made for these bytes of the bundle, and how that
 * was told: by the stamp, or by the hash.
 */
function cachedDataFor({ bytes, stamp }, cache) {
  let file;
  try {
    file = readFileSync(cache);
  } catch {
    return {}; // built without one: compiled from the source
  }
  const end = file.indexOf(10);
  if (end < 0) return {};
  const [hash, ...made] = file.toString('latin1', 0, end).split(' ');
  const data = file.subarray(end + 1);
  if (made.join(' ') === stamp) return { data, checked: 'stamp' };
  return hash === hashOf(bytes) ? { data, checked: 'hash' } : {};
}

/**
 * Runs the bundle's module body, as require() would: its exports (main), its script (the build
 * asks it for its code cache), whether V8 compiled it with the cache, and how the cache was told
 * to be the bundle's.
 */
function loadBundle({ withCache = true, cache = CODE_CACHE } = {}) {
  const bundle = readBundle();
  const { data: cachedData, checked } = withCache ? cachedDataFor(bundle, cache) : {};
  // The bundle is ASCII (scripts/bundle.mjs): latin1 is the same text, decoded without a check.
  const script = new Script(wrap(bundle.bytes.toString('latin1')), { filename: BUNDLE, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  const usedCache = cachedData !== undefined && !script.cachedDataRejected;
  return { exports: module.exports, script, usedCache, ...(usedCache ? { checked } : {}) };
}

/** The cache file's bytes for V8's data made by this bundle's script (scripts/code-cache.cjs). */
function cacheFileOf(script) {
  const { bytes, stamp } = readBundle();
  return Buffer.concat([Buffer.from(`${hashOf(bytes)} ${stamp}\n`, 'latin1'), script.createCachedData()]);
}

module.exports = { BUNDLE, CODE_CACHE, HELP_CACHE, cacheFileOf, cacheFor, loadBundle };
