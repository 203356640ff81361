import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LABS = join(ROOT, 'labs');
export const GOLDEN = join(ROOT, 'test', 'golden');
export const NETLAB = join(ROOT, 'bin', 'netlab');
/**
 * Whether golden files are rewritten from the current output (UPDATE_GOLDEN=1, then
 * review the diff). Refused in CI (CI set), where it would make every golden test
 * compare the output with itself; any other value than 1 is refused too, rather
 * than taken for "no".
 */
export function updateGoldenMode(env: NodeJS.ProcessEnv): boolean {
  const value = env.UPDATE_GOLDEN;
  if (value === undefined || value === '') return false;
  if (env.CI !== undefined && env.CI !== '' && env.CI !== 'false')
    throw new Error(
      `UPDATE_GOLDEN=${value} is refused in CI (CI=${env.CI}): golden files are rewritten on a developer's machine and the diff reviewed`,
    );
  if (value !== '1') throw new Error(`UPDATE_GOLDEN takes 1; found ${JSON.stringify(value)}`);
  return true;
}
export const UPDATE_GOLDEN = updateGoldenMode(process.env);

/**
 * The output against its golden file. With UPDATE_GOLDEN=1 the file is rewritten,
 * but the comparison is still with what it held before: a test whose golden file
 * changed fails (and says it was rewritten), so a run that updates is never green
 * by accident; the next run, without UPDATE_GOLDEN, compares with the new file.
 */
export function golden(file: string, actual: string): void {
  const expected = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (UPDATE_GOLDEN && actual !== expected) {
    writeFileSync(file, actual);
    assert.fail(
      `UPDATE_GOLDEN: ${expected === undefined ? 'created' : 'rewrote'} ${relative(ROOT, file)} from this output: review \`git diff\`, then run the tests again without UPDATE_GOLDEN`,
    );
  }
  assert.ok(expected !== undefined, `${relative(ROOT, file)} is missing (UPDATE_GOLDEN=1 to create it)`);
  assert.equal(actual, expected, `output differs from ${relative(ROOT, file)} (UPDATE_GOLDEN=1 to accept)`);
}
