// Challenges as a learner works them, for the simulated nodes
// (challenges.test.ts) and the VM tier alike.
import assert from 'node:assert/strict';
import { quoteArgv } from '../../src/os/quote.js';
import type { Run } from './host.js';

export type Netlab = (...args: string[]) => Promise<Run>;

export function json<T>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.exitCode}): ${run.stdout}${run.stderr}`);
  }
}

export interface Checked {
  solved: boolean;
  rebuilt: boolean;
  hints?: number;
  revealed?: boolean;
  checks?: { ok: boolean }[];
}
interface Revealed {
  node: string;
  fault: string;
  mend: string[][];
}

/** The fix as a learner types it from `reveal`: the mend commands on the node, in one exec. */
export async function applyRevealed(run: Netlab, lab: string): Promise<Revealed> {
  const revealed = json<Revealed>(await run('challenge', 'reveal', lab, '--json'));
  const fix = await run('exec', revealed.node, '--', 'sh', '-c', revealed.mend.map((c) => quoteArgv(c)).join(' && '));
  assert.equal(fix.exitCode, 0, `${revealed.fault}: ${fix.stderr}`);
  return revealed;
}

/** Every challenge of a lab that is up, one after another: start, check fails, the revealed fix, check passes. */
export async function everyChallenge(run: Netlab, lab: string): Promise<string[]> {
  const rows: string[] = [];
  const listed = json<{ challenges: { id: string }[] }>(await run('challenge', lab, '--json')).challenges;
  assert.ok(listed.length >= 3, `${lab} has ${listed.length} challenges`);
  for (const { id } of listed) {
    assert.equal((await run('challenge', 'start', lab, id)).exitCode, 0, `${lab} ${id}`);
    // A Service check with fewer connections: each that fails waits for its timeout.
    const broken = await run('challenge', 'check', lab, '--json', '--connections', '16');
    assert.equal(json<Checked>(broken).solved, false, `${lab} ${id}: the fault fails the goal`);
    const { fault } = await applyRevealed(run, lab);
    const fixed = await run('challenge', 'check', lab, '--json', '--connections', '16');
    assert.equal(json<Checked>(fixed).solved, true, `${lab} ${id}: the fix passes the goal: ${fixed.stdout}`);
    rows.push(`${lab.padEnd(9)} ${id.padEnd(16)} ${fault}`);
  }
  return rows;
}
