// Loads netlab's two bundles (made by scripts/bundle.mjs) with the V8 code cache the build wrote
// beside each: the command line (dist/bundle/netlab.cjs: src/cli.ts and commander), which bin/netlab
// runs, and the commands (dist/bundle/commands.cjs: every module the command line imports when a
// command runs, and the modules they import), loaded by the command line the first time a command
// needs one of its modules. `netlab --help`, `--version` and a usage error so load only the command
// line's 150 kB, not the commands' 2 MB (`--help` 48.5 → 37.0 ms, BENCHMARKS.md).
//
// With a cache, V8 neither parses nor compiles again what the cache holds (40-70 ms of a command's
// start). V8 itself takes a cache made by the same V8, with the same flags, for any source of the
// same length: so a cache file's first line names the bundle it was made for, and it is used only
// for those bytes. The line holds the bundle's SHA-256 (3 ms for 2 MB) and its file as the build
// left it: device, inode, size and change time (a stat, as the bundle is read). The bundle is
// hashed only when the stat differs. The kernel sets a file's change time at every write, rename
// or change of its times, and no program can set it back, so a stat that matches is the build's
// file untouched since; a copy, or a bundle changed since, is hashed. A cache that is not for its
// bundle, one V8 refuses (another Node, other flags), or none, only costs that time: the bundle is
// compiled from its source as usual.
'use strict';
const { closeSync, fstatSync, openSync, readFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

const BUNDLE = join(__dirname, '..', 'dist', 'bundle', 'netlab.cjs');
const COMMANDS_BUNDLE = join(__dirname, '..', 'dist', 'bundle', 'commands.cjs');
/** A bundle's code cache: beside it, named after it. */
const cacheOf = (bundle) => `${bundle}.cache`;

// crypto is loaded only to hash (a copy, or a bundle changed since its cache).
const hashOf = (bytes) => require('node:crypto').createHash('sha256').update(bytes).digest('hex');

/** A bundle's bytes, and its file as it was read: device, inode, size, change time (one open file); none: not built (exit 2). */
function readBundle(bundle) {
  let fd;
  try {
    fd = openSync(bundle, 'r');
  } catch (error) {
    if (error?.code === 'ENOENT') notBuilt();
    throw error;
  }
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
 * Runs a bundle's module body, as require() would: its exports, its script (the build asks it for
 * its code cache), whether V8 compiled it with the cache, and how the cache was told to be the
 * bundle's.
 */
function loadBundle(bundle = BUNDLE, { withCache = true } = {}) {
  const read = readBundle(bundle);
  const { data: cachedData, checked } = withCache ? cachedDataFor(read, cacheOf(bundle)) : {};
  // The bundles are ASCII (scripts/bundle.mjs): latin1 is the same text, decoded without a check.
  const script = new Script(wrap(read.bytes.toString('latin1')), { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  const usedCache = cachedData !== undefined && !script.cachedDataRejected;
  return { exports: module.exports, script, usedCache, ...(usedCache ? { checked } : {}) };
}

/** What a netlab whose bundle is missing says (exit 2). */
function notBuilt() {
  process.stderr.write('netlab: not built yet; run `npm ci` (or `npm run build`) in the netlab directory\n');
  process.exit(2);
}

/** The commands' bundle, once loaded: its exports and script (scripts/code-cache.cjs reads the script). */
let commands;
/** false while the build makes the caches: the bundles are compiled from their source. */
let withCaches = true;

/**
 * The commands' bundle's exports, loaded the first time a command needs them: for each module
 * the command line imports, by the path it imports it by, a function that gives its exports.
 */
function loadCommands() {
  commands ??= loadBundle(COMMANDS_BUNDLE, { withCache: withCaches });
  return commands.exports;
}

/** The cache file's bytes for V8's data made by a bundle's script (scripts/code-cache.cjs). */
function cacheFileOf(bundle, script) {
  const { bytes, stamp } = readBundle(bundle);
  return Buffer.concat([Buffer.from(`${hashOf(bytes)} ${stamp}\n`, 'latin1'), script.createCachedData()]);
}

module.exports = {
  BUNDLE,
  COMMANDS_BUNDLE,
  cacheFileOf,
  cacheOf,
  commandsLoaded: () => commands,
  compileWithoutCaches: () => (withCaches = false),
  loadBundle,
  loadCommands,
};
