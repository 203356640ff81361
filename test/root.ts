// Tests that need root (a chown, a network namespace of their own): the unit tier
// runs as root in CI (the README's test command), where a skip is a failure.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/** Skips the test without root, saying what it needs it for (true: skipped); in CI, fails instead. */
export function skipUnlessRoot(t: TestContext, why: string): boolean {
  if (process.getuid?.() === 0) return false;
  assert.ok(!process.env.CI, 'the unit tier runs as root in CI');
  t.skip(`needs root (${why})`);
  return true;
}
