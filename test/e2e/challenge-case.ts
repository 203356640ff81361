// Challenges as a learner works them, for the simulated nodes
// (challenges.test.ts) and the VM tier alike.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quoteArgv } from '../../src/os/quote.js';
import { LABS } from '../paths.js';
import { waitFor } from '../wait.js';
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
    // A fix should pass at the first check: the routes lab's traceroute right after a failing check,
    // whose first hop's ICMP time-exceeded the kernel rate-limits, traces again when a hop is silent
    // (netlab_traceroute). A wrong VNI mended used to take 30-60 s: the bridge took the new vxlan0's
    // MAC and the pods sent to the old one (the bridge's MAC is now set). The wait is a margin.
    let last = '';
    await waitFor(
      `${lab} ${id}: the fix passes the goal (last check: ${last})`,
      async () => {
        const fixed = await run('challenge', 'check', lab, '--json', '--connections', '16');
        last = fixed.stdout;
        return json<Checked>(fixed).solved;
      },
      { timeoutMs: 20_000, intervalMs: 1_000 },
    ).catch((error: Error) => assert.fail(`${error.message}: ${last}`));
    rows.push(`${lab.padEnd(9)} ${id.padEnd(16)} ${fault}`);
  }
  return rows;
}

/**
 * A machine with a firewall of its own (a DROP rule at the end of FORWARD, and
 * FORWARD's policy DROP, as Docker leaves it): the routes lab's faults that
 * add a DROP rule or set the policy are made and mended, by netlab and by a
 * learner who mended first, and the machine's own rule and policy are as they
 * were after each, and after down; a challenge a learner solved another way
 * than its mend has its fault's policy put back. node-0 of the lab is `node`.
 */
export async function faultsLeaveTheMachinesFirewall(
  run: Netlab,
  node: { run(script: string): Promise<{ stdout: string }> },
  dir: string,
  target: string[] = [],
  /** the case of a challenge solved another way than its mend (no kernel feature in it: the VM tier leaves it out) */
  { solvedAnotherWay = true } = {},
): Promise<void> {
  const lab = join(dir, 'routes-faults.yaml');
  writeFileSync(
    lab,
    readFileSync(join(LABS, 'routes.yaml'), 'utf8').replace(
      /challenges:\n/,
      'challenges:\n  - id: policy-drop\n    title: "FORWARD drops"\n    fault: "forward-drop:node-0:FORWARD"\n    hints: ["look at FORWARD"]\n',
    ),
  );
  await node.run('iptables -w -A FORWARD -j DROP && iptables -w -P FORWARD DROP\n');
  const forward = async () => (await node.run('iptables -w -S FORWARD\n')).stdout;
  try {
    const up = await run('up', lab, ...target);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.equal((await run('challenge', 'start', 'routes', 'drop-first')).exitCode, 0);
    // The pods' traffic alone: what else the machine forwards is not the fault's to drop.
    assert.match(
      await forward(),
      /^-A FORWARD -s 10\.200\.0\.0\/16 -m comment --comment "netlab fault of lab routes run [0-9a-f]{12}" -j DROP\n-A FORWARD -d 10\.200\.0\.0\/16 -m comment --comment "netlab fault of lab routes run [0-9a-f]{12}" -j DROP$/m,
    );
    // The learner removes one of the fault's rules by hand; stopping the challenge deletes the other, and nothing of
    // the machine's.
    await node.run('iptables -w -D FORWARD 1\n');
    const stop = await run('challenge', 'stop', 'routes');
    assert.equal(stop.exitCode, 0, stop.stdout + stop.stderr);
    assert.doesNotMatch(await forward(), /netlab fault/);
    assert.match(await forward(), /^-A FORWARD -j DROP$/m, "the machine's own DROP rule is still there");
    assert.equal((await run('challenge', 'start', 'routes', 'policy-drop')).exitCode, 0);
    // The mend reveal shows gives FORWARD the policy it had, DROP: the fault's own mend (ACCEPT), typed by a
    // learner, would open the machine.
    const revealed = await run('challenge', 'reveal', 'routes');
    const mend = revealed.stdout.split(/^ {2}this mends it.*$/m)[1] ?? '';
    assert.match(mend, /^ {4}iptables (.* )?-P FORWARD DROP$/m, revealed.stdout);
    assert.doesNotMatch(mend, /-P FORWARD ACCEPT/);
    // The learner puts the lab's jump back by hand: the mend does not put in a second one (which down would leave).
    await node.run("iptables -w -I FORWARD 1 -m comment --comment 'netlab lab routes' -j NETLAB-FWD-routes\n");
    const stopped = await run('challenge', 'stop', 'routes');
    assert.equal(stopped.exitCode, 0, stopped.stdout + stopped.stderr);
    assert.match(await forward(), /^-P FORWARD DROP$/m, 'the policy the fault replaced is back: DROP, not ACCEPT');
    assert.equal((await forward()).match(/-j NETLAB-FWD-routes$/gm)?.length, 1, "one jump to the lab's chain");
    // A fault stopped halfway is mended at once, since no record is left to mend it later: with the lab's jump
    // removed by hand, forward-drop's first command (the policy DROP) is made and its second fails.
    await node.run(
      "iptables -w -P FORWARD ACCEPT && iptables -w -D FORWARD -m comment --comment 'netlab lab routes' -j NETLAB-FWD-routes\n",
    );
    const half = await run('challenge', 'start', 'routes', 'policy-drop');
    assert.equal(half.exitCode, 1, half.stdout + half.stderr);
    assert.match(half.stderr, /the fault stopped halfway: its mend was run/);
    assert.match(await forward(), /^-P FORWARD ACCEPT$/m, "the machine's policy is not left at the fault's DROP");
    assert.match(await forward(), /-j NETLAB-FWD-routes$/m, "the mend put the lab's jump back");
    if (solvedAnotherWay) await solvedByTheJump(run, forward, node);
    await node.run('iptables -w -P FORWARD DROP\n');
    // A challenge still active when the lab is built again (`up --recreate`, as `room reset` does): its
    // fault is mended before the old lab goes; no DROP rule of the old run outlives it.
    assert.equal((await run('challenge', 'start', 'routes', 'drop-first')).exitCode, 0);
    const recreated = await run('up', lab, ...target, '--recreate');
    assert.equal(recreated.exitCode, 0, recreated.stdout + recreated.stderr);
    assert.match(recreated.stdout, /challenge drop-first was active: its fault is mended first/);
    assert.doesNotMatch(await forward(), /netlab fault/);
    const down = await run('down', 'routes');
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    assert.equal(await forward(), '-P FORWARD DROP\n-A FORWARD -j DROP\n', 'the machine as it was');
  } finally {
    await run('down', 'routes');
    await node.run('iptables -w -D FORWARD -j DROP; iptables -w -P FORWARD ACCEPT\n');
  }
}

/**
 * A challenge solved another way than its mend, on a machine whose policy is ACCEPT: the learner puts only the
 * lab's jump back (the lab's traffic passes under the fault's DROP), and `challenge check` says solved. The policy
 * the fault replaced goes back then, as down would have put it back first: no record is left for down to do it.
 */
async function solvedByTheJump(
  run: Netlab,
  forward: () => Promise<string>,
  node: { run(script: string): Promise<{ stdout: string }> },
): Promise<void> {
  assert.equal((await run('challenge', 'start', 'routes', 'policy-drop')).exitCode, 0);
  assert.match(await forward(), /^-P FORWARD DROP$/m);
  await node.run("iptables -w -I FORWARD 1 -m comment --comment 'netlab lab routes' -j NETLAB-FWD-routes\n");
  let checked = '';
  await waitFor(
    'policy-drop solved by the jump alone',
    async () => {
      const check = await run('challenge', 'check', 'routes', '--json');
      checked = check.stdout + check.stderr;
      return json<Checked>(check).solved;
    },
    { timeoutMs: 20_000, intervalMs: 1_000 },
  ).catch((error: Error) => assert.fail(`${error.message}: ${checked}`));
  assert.match(await forward(), /^-P FORWARD ACCEPT$/m, 'the policy the fault replaced is back once solved');
  assert.equal((await forward()).match(/-j NETLAB-FWD-routes$/gm)?.length, 1, "one jump to the lab's chain");
}
