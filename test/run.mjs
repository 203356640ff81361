// Runs the compiled tests with node's test runner: `node test/run.mjs [unit|e2e]`.
// End-to-end tests change kernel state, so they run one file at a time.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const tiers = process.argv[2] ? [process.argv[2]] : ['unit', 'e2e', 'vm'];
const files = tiers.flatMap((tier) => {
  const dir = join('dist', 'test', tier);
  if (!existsSync(dir)) throw new Error(`${dir} is missing: run npm run build first`);
  return readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(dir, f));
});
if ((tiers.includes('e2e') || tiers.includes('vm')) && process.getuid?.() !== 0) {
  console.error('the end-to-end and VM tests need root (they create namespaces): run `sudo npm test`, or `npm run test:unit` for the unit tests only');
  process.exit(1);
}
const env = { ...process.env };
if (tiers.includes('vm')) {
  // The VM image is built once and cached outside the repository.
  const build = spawnSync(process.execPath, ['test/vm/build-image.mjs'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  env.NETLAB_VM_IMAGE = build.stdout.trim();
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
