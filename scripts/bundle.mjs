// Bundles the command line with esbuild into one CommonJS file, dist/bundle/netlab.cjs, which
// bin/netlab runs through bin/load.cjs, and writes V8's code caches of it beside it
// (scripts/code-cache.cjs). Its source map points at src/*.ts, for a debugger: Node 20 maps the
// stack of an internal error only for files it loads itself, not for a vm.Script.
//
// Why one CommonJS file and a code cache (measured in BENCHMARKS.md, "start-up"): Node 20 has
// no compile cache for ES modules, and its ES module loader reads, links and compiles each
// chunk anew on every run. A script compiled with V8's code cache is neither parsed nor
// compiled again for what the cache holds; the modules a command does not use are still only
// evaluated when it imports them (esbuild keeps each `await import()` lazy inside the file).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const BUNDLE = 'dist/bundle/netlab.cjs';
rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli.ts'],
  outfile: BUNDLE,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // The sources are ES modules: strict, as ES modules are, and import.meta.url (the labs' directory,
  // the build id beside the bundle) is the bundle's own URL.
  define: { 'import.meta.url': 'bundleUrl' },
  banner: { js: "'use strict';\nconst bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// The bundle in ASCII: Node decodes 2 MB of UTF-8 with one character beyond ASCII into a string
// of two bytes a character, 5 ms of every start, against 1.5 ms for ASCII (BENCHMARKS.md).
// esbuild escapes strings and templates; what it leaves is in comments and regular expressions,
// where a \u escape of each UTF-16 unit means the same character. A raw template's text
// (String.raw) would change: the room's page script writes its characters as \u escapes.
// Where an escape would not mean the character, the build stops: after a backslash (`\\é` would
// become a backslash and text), and the line separators U+2028 and U+2029, which end a `//`
// comment as a character and not as an escape.
const text = readFileSync(BUNDLE, 'utf8');
writeFileSync(
  BUNDLE,
  text.replace(/[\u0080-\uffff]/g, (unit, at) => {
    if (text[at - 1] === '\\' || unit === '\u2028' || unit === '\u2029')
      throw new Error(
        `${BUNDLE}: cannot escape U+${unit.charCodeAt(0).toString(16)} at ${at}: ${text.slice(at - 40, at + 1)}`,
      );
    return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }),
);

// The build's id: a hash of the bundle. The cache of valid labs (src/lab/cached.ts) keeps a model
// only for the build that made it, so that a netlab whose checks changed reads every lab anew.
writeFileSync('dist/bundle/build-id', `${createHash('sha256').update(readFileSync(BUNDLE)).digest('hex')}\n`);

for (const cache of ['lab', 'help'])
  execFileSync(process.execPath, ['scripts/code-cache.cjs', cache], { stdio: ['ignore', 'ignore', 'inherit'] });
