// Bundles the command line with esbuild into dist/bundle, which bin/netlab runs:
// one file for what every command loads, and one chunk per command module that
// the command line imports only when that command runs (code splitting keeps
// `netlab --help` from loading the lab parser). Source maps point at src/*.ts.
// Measured in BENCHMARKS.md ("start-up"): Node resolves and reads one file
// instead of about 150 modules from dist/ and node_modules/.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // commander is CommonJS: inside an ES module bundle its require('node:events') needs a real require.
  banner: {
    js: "import { createRequire as netlabRequire } from 'node:module'; const require = netlabRequire(import.meta.url);",
  },
});
