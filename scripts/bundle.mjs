// Bundles the command line with esbuild into dist/bundle, which bin/netlab runs:
// one file for what every command loads, and one chunk per command module that
// the command line imports only when that command runs (code splitting keeps
// `netlab --help` from loading the lab parser). Source maps point at src/*.ts.
// Measured in BENCHMARKS.md ("start-up"): Node resolves and reads one file
// instead of about 150 modules from dist/ and node_modules/.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist/bundle', { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
  // commander is CommonJS: inside an ES module bundle its require('node:events') needs a real require.
  banner: {
    js: "import { createRequire as netlabRequire } from 'node:module'; const require = netlabRequire(import.meta.url);",
  },
});

// The build's id: a hash of every chunk. The cache of valid labs (src/lab/cached.ts) keeps a model
// only for the build that made it, so that a netlab whose checks changed reads every lab anew.
const buildId = createHash('sha256');
for (const file of Object.keys(metafile.outputs)
  .filter((f) => f.endsWith('.js'))
  .sort())
  buildId.update(file).update(readFileSync(file));
writeFileSync('dist/bundle/build-id', `${buildId.digest('hex')}\n`);
