import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LABS = join(ROOT, 'labs');
export const GOLDEN = join(ROOT, 'test', 'golden');
export const NETLAB = join(ROOT, 'bin', 'netlab');
/** Set UPDATE_GOLDEN=1 to rewrite golden files from the current output (then review the diff). */
export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';
