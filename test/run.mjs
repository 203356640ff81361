// Runs the compiled tests with node's test runner: `node test/run.mjs [unit|e2e]`.
// End-to-end tests change kernel state, so they run one file at a time.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const tiers = process.argv[2] ? [process.argv[2]] : ['unit', 'e2e'];
const files = tiers.flatMap((tier) => {
  const dir = join('dist', 'test', tier);
  if (!existsSync(dir)) throw new Error(`${dir} is missing: run npm run build first`);
  return readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(dir, f));
});
if (tiers.includes('e2e') && process.getuid?.() !== 0) {
  console.error('the end-to-end tests need root (they create namespaces): run `sudo npm test`, or `npm run test:unit` for the unit tests only');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
