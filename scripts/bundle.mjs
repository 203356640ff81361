// Bundles netlab with esbuild into two CommonJS files, which bin/netlab runs through bin/load.cjs,
// and writes V8's code caches of them beside them (scripts/code-cache.cjs): the command line,
// dist/bundle/netlab.cjs (src/cli.ts and commander), and the commands, dist/bundle/commands.cjs
// (every module src/cli.ts imports when a command runs, and theirs), which the command line loads
// the first time a command needs one. So `netlab --help`, `--version` and a usage error load
// 150 kB, not 2 MB. Their source maps point at src/*.ts, for a debugger and for an internal
// error's report (src/os/source-stack.ts): Node 20 maps the stack of an internal error only for
// files it loads itself, not for a vm.Script.
//
// Why CommonJS files and a code cache (measured in BENCHMARKS.md, "start-up"): Node 20 has
// no compile cache for ES modules, and its ES module loader reads, links and compiles each
// chunk anew on every run. A script compiled with V8's code cache is neither parsed nor
// compiled again for what the cache holds; the modules a command does not use are still only
// evaluated when it imports them (esbuild keeps each `await import()` and `require()` of a
// module lazy inside the file).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { giveBackToSudoUser } from './give-back.mjs';

const CLI = 'dist/bundle/netlab.cjs';
const COMMANDS = 'dist/bundle/commands.cjs';
const CLI_SOURCE = resolve('src/cli.ts');

// commander requires child_process as it loads, for subcommands that are programs of their own, which
// netlab has none of. Node loads child_process with net and stream: 1.5-2.5 ms of every start, --help's
// included, where no process is spawned. commander gets it on first use instead.
const commanderWithoutChildProcess = {
  name: 'commander-without-child-process',
  setup(build) {
    build.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
        ? { path: 'child_process', namespace: 'on-first-use' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'on-first-use' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_, name) => require('node:child_process')[name] });",
      loader: 'js',
    }));
  },
};

/** What src/cli.ts imports when a command runs ('./commands/up.js', …): the commands' bundle's modules. */
const imported = new Set();

// In the command line's bundle, each `await import('./x.js')` of src/cli.ts is the module of that path
// in the commands' bundle (bin/load.cjs loads it once). A module src/cli.ts imported as it loads would
// be in both bundles, as two modules (two classes of each error, two of each state): the build stops.
const commandsFromTheirBundle = {
  name: 'commands-from-their-bundle',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      // The loader, as the command line's bundle finds it when it runs (dist/bundle/ → bin/).
      if (args.namespace === 'commands-bundle') return { path: args.path, external: true };
      if (args.importer !== CLI_SOURCE) return undefined;
      if (args.kind !== 'dynamic-import')
        return { errors: [{ text: `src/cli.ts imports ${args.path} as it loads: import it when a command runs` }] };
      imported.add(args.path);
      return { path: args.path, namespace: 'commands-bundle' };
    });
    build.onLoad({ filter: /.*/, namespace: 'commands-bundle' }, (args) => ({
      contents: `module.exports = require('../../bin/load.cjs').loadCommands()[${JSON.stringify(args.path)}]();`,
      loader: 'js',
    }));
  },
};

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // The sources are ES modules: strict, as ES modules are, and import.meta.url (the labs' directory,
  // the build id beside the bundle) is the bundle's own URL.
  define: { 'import.meta.url': 'bundleUrl' },
  // A bundle runs as a vm.Script (bin/load.cjs), which has no loader for import(): an import() of a
  // module outside the bundles (node:readline) is a require() in a promise, as esbuild writes it.
  supported: { 'dynamic-import': false },
  banner: { js: "'use strict';\nconst bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
};

rmSync('dist/bundle', { recursive: true, force: true });
const cli = await build({
  ...common,
  metafile: true,
  entryPoints: [CLI_SOURCE],
  outfile: CLI,
  plugins: [commanderWithoutChildProcess, commandsFromTheirBundle],
});
// src/cli.ts imports every command's module when the command runs: none seen, and the split is lost (every module
// bundled into the command line's bundle, the commands' empty).
if (imported.size === 0) throw new Error(`no import() of a module of netlab's seen in ${CLI_SOURCE}`);
// The commands' bundle exports, for each path src/cli.ts imports, a function that gives that module's
// exports (esbuild's require() of an ES module evaluates it then, once).
const commands = await build({
  ...common,
  metafile: true,
  stdin: {
    contents: `module.exports = {\n${[...imported]
      .sort()
      .map((path) => `  ${JSON.stringify(path)}: () => require(${JSON.stringify(path)}),`)
      .join('\n')}\n};\n`,
    resolveDir: 'src',
    sourcefile: 'commands-entry.js',
    loader: 'js',
  },
  outfile: COMMANDS,
});
// One module, one bundle: a module in both (commander, imported by a command too) would be two, and an
// error of one would not be an instance of the other's class where the command line tells errors apart.
const inBoth = Object.keys(cli.metafile.inputs).filter((input) => input in commands.metafile.inputs);
if (inBoth.length) throw new Error(`in both bundles: ${inBoth.join(', ')}`);

// The bundles in ASCII: Node decodes 2 MB of UTF-8 with one character beyond ASCII into a string
// of two bytes a character, 5 ms of every start, against 1.5 ms for ASCII (BENCHMARKS.md).
// esbuild escapes strings and templates; what it leaves is in comments and regular expressions,
// where a \u escape of each UTF-16 unit means the same character. A raw template's text
// (String.raw) would change: the room's page script writes its characters as \u escapes.
// Where an escape would not mean the character, the build stops: after a backslash (`\\é` would
// become a backslash and text), and the line separators U+2028 and U+2029, which end a `//`
// comment as a character and not as an escape.
for (const bundle of [CLI, COMMANDS]) {
  const text = readFileSync(bundle, 'utf8');
  writeFileSync(
    bundle,
    text.replace(/[\u0080-\uffff]/g, (unit, at) => {
      if (text[at - 1] === '\\' || unit === '\u2028' || unit === '\u2029')
        throw new Error(
          `${bundle}: cannot escape U+${unit.charCodeAt(0).toString(16)} at ${at}: ${text.slice(at - 40, at + 1)}`,
        );
      return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }),
  );
}

// The build's id: a hash of the bundles. The cache of valid labs (src/lab/cached.ts) keeps a model
// only for the build that made it, so that a netlab whose checks changed reads every lab anew.
const id = createHash('sha256');
for (const bundle of [CLI, COMMANDS]) id.update(readFileSync(bundle));
writeFileSync('dist/bundle/build-id', `${id.digest('hex')}\n`);

execFileSync(process.execPath, ['scripts/code-cache.cjs'], { stdio: ['ignore', 'ignore', 'inherit'] });

// Under sudo, the build's output goes back to the user whose checkout it is (scripts/give-back.mjs).
giveBackToSudoUser(['dist']);
