// Challenges in the lab files: every bundled lab has them, each names a fault
// its plan allows (lab/load.ts refuses others), and --random --seed is
// reproducible and spreads over the list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pickChallenge } from '../../src/commands/challenge.js';
import { faultIdsOf } from '../../src/faults/faults.js';
import { loadLabFile } from '../../src/lab/load.js';
import { LABS } from '../paths.js';

/** Labs that show a failure: their checks fail on purpose, so no fault of theirs can be graded by the checks passing again. */
const SHOWS_A_FAILURE: Record<string, string> = {
  'router.yaml': 'its pod checks fail on purpose (a router without pod routes); its exercises are the fixes',
};

test('every bundled lab has at least three challenges, each a fault of its plan', () => {
  for (const file of readdirSync(LABS).filter((f) => f.endsWith('.yaml'))) {
    const { model } = loadLabFile(join(LABS, file));
    const challenges = model.challenges ?? [];
    if (SHOWS_A_FAILURE[file]) {
      assert.equal(challenges.length, 0, `${file}: ${SHOWS_A_FAILURE[file]}`);
      continue;
    }
    assert.ok(challenges.length >= 3, `${file}: ${challenges.length} challenges`);
    const faults = new Set(faultIdsOf(model));
    for (const c of challenges) {
      assert.ok(faults.has(c.fault), `${file} ${c.id}: ${c.fault}`);
      assert.ok(c.hints.length >= 1, `${file} ${c.id} has a hint`);
      assert.ok(c.goal.length >= 1 && c.goal.every((n) => n >= 1 && n <= model.checks.length), `${file} ${c.id} goal`);
    }
  }
});

test('--random --seed: the same seed picks the same challenge; seeds spread over all of them', () => {
  const ids = ['a', 'b', 'c'];
  for (const seed of [0, 1, 7, 123456789, 2 ** 32 - 1])
    assert.equal(pickChallenge(ids, seed), pickChallenge(ids, seed));
  const picked = new Set(Array.from({ length: 50 }, (_, seed) => pickChallenge(ids, seed)));
  assert.deepEqual([...picked].sort(), ids);
});
