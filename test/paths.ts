import { dirname, join } from 'node:path';
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
