// Faults, as root, on simulated nodes: a failure injected at every step of a
// two-node lab, Ctrl-C and kill -9 at several points of `up`, and two `up`s
// racing. Afterwards the nodes' undo journals must have removed everything
// (checked inside the nodes before they are stopped) and the host must be as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LABS, NETLAB, ROOT } from '../paths.js';
import { labTestContext, netlab, nodeLeftovers, snapshotHost } from './host.js';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/exec/simulated.js';
import { bringUp } from '../../src/lifecycle/up.js';
import { tearDown } from '../../src/lifecycle/down.js';
import { scriptRunOf } from '../../src/state/store.js';
import { transportsOf } from '../../src/exec/transports.js';
import { runDown, StepFailure } from '../../src/exec/runner.js';
import { readState } from '../../src/state/store.js';

const state = labTestContext();

test('a failure injected at every step of the vxlan lab: the undo journal leaves every node clean', async () => {
  const file = relative(ROOT, join(LABS, 'vxlan.yaml'));
  const { model } = loadLabFile(file);
  const facts = simulatedFacts(model);
  const plan = buildPlan(model, facts);
  let runs = 0;
  for (const nodePlan of plan.nodes) {
    for (const target of nodePlan.steps) {
      const injected = structuredClone(plan);
      const victim = injected.nodes.find((n) => n.node === nodePlan.node)!.steps.find((s) => s.id === target.id)!;
      victim.apply = [['sh', '-c', 'echo injected failure >&2; exit 7']];
      try {
        await assert.rejects(bringUp(model, file, injected, facts, { keep: true, silent: true }), (error: unknown) => {
          assert.ok(error instanceof StepFailure, String(error));
          assert.match(error.message, new RegExp(`^step ${target.id} on ${nodePlan.node} failed: `));
          assert.match(error.message, /exit 7: injected failure/);
          return true;
        });
        const kept = readState(model.name)!;
        assert.equal(kept.status, 'failed');
        const transports = transportsOf(kept);
        const outcomes = await runDown(model.name, transports, scriptRunOf(kept));
        assert.deepEqual(
          Object.values(outcomes).filter((o) => o.found === 'unreachable' || o.found === 'other-run'),
          [],
        );
        for (const [node, transport] of Object.entries(transports)) {
          assert.deepEqual(
            await nodeLeftovers(transport),
            [],
            `failure at step ${target.id} on ${nodePlan.node}: leftovers on ${node}`,
          );
        }
      } finally {
        // a failed assertion must not leave the lab behind for the next tests
        const left = readState(model.name);
        if (left) await tearDown(left);
      }
      runs++;
    }
  }
  console.log(`# injected a failure at each of ${runs} steps`);
  assert.ok(runs >= 40);
  assert.deepEqual(await snapshotHost(), state.pristine());
});

/** A lab big enough (3 nodes × 60 pods, moved veths: about 3-4 s to bring up) to be interrupted in the middle. */
function bigLab(): string {
  const file = join(state.dir, 'big.yaml');
  const pods = [0, 1, 2].flatMap((n) => Array.from({ length: 60 }, (_, i) => `  p${n}-${i}: { node: node-${n} }`));
  writeFileSync(
    file,
    [
      'name: big',
      'nodes: { node-0: {}, node-1: {}, node-2: {} }',
      'pods:',
      ...pods,
      'wiring: { cross-node: vxlan }',
      '',
    ].join('\n'),
  );
  return file;
}

function spawnUp(file: string): {
  child: ReturnType<typeof spawn>;
  done: Promise<{ code: number | null; signal: string | null; stderr: string }>;
} {
  const child = spawn(NETLAB, ['up', file], {
    env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('Ctrl-C during up rolls back and exits 130; kill -9 during up is cleaned by down', async () => {
  const file = bigLab();
  let interrupted = 0;
  for (const ms of [400, 900, 1400, 1900]) {
    const { child, done } = spawnUp(file);
    await delay(ms);
    child.kill('SIGINT');
    const result = await done;
    if (result.code === 130) {
      interrupted++;
      assert.match(result.stderr, /interrupted/);
      assert.equal(
        existsSync(join(state.dir, 'labs', 'big.json')),
        false,
        `after SIGINT at ${ms} ms the rollback removed the state`,
      );
      assert.deepEqual(await snapshotHost(), state.pristine(), `after SIGINT at ${ms} ms`);
    } else {
      // Too early (before netlab installed its handler) or too late (already up): down cleans up.
      assert.equal((await netlab(state.dir, 'down', 'big')).exitCode, 0);
    }
    assert.deepEqual(await snapshotHost(), state.pristine());
  }
  console.log(`# ${interrupted} of 4 SIGINTs landed during up`);
  assert.ok(interrupted >= 2, 'SIGINTs arrived while up was working');

  for (const ms of [150, 400, 900, 1400, 1900]) {
    const { child, done } = spawnUp(file);
    await delay(ms);
    child.kill('SIGKILL');
    await done;
    if (existsSync(join(state.dir, 'labs', 'big.json'))) {
      // The record says "creating" and no up is running: status says how to clean up.
      const status = await netlab(state.dir, 'status');
      assert.match(
        status.stdout,
        /big: creating since .*\n[\s\S]*if no `netlab up` is running, `netlab down big` removes what it left/,
        status.stdout,
      );
    }
    const down = await netlab(state.dir, 'down', 'big');
    assert.equal(down.exitCode, 0, down.stderr);
    assert.deepEqual(await snapshotHost(), state.pristine(), `kill -9 at ${ms} ms, then down`);
  }
});

test('two concurrent ups of the same lab: one wins, the other refuses', async () => {
  try {
    const [a, b] = await Promise.all([
      netlab(state.dir, 'up', join(LABS, 'bridge.yaml')),
      netlab(state.dir, 'up', join(LABS, 'bridge.yaml')),
    ]);
    const codes = [a.exitCode, b.exitCode].sort();
    // The loser either found the lock taken or, if it came second, the lab already up and unchanged
    // (then both exit 0, and either of them may be the one that came second).
    if (codes[1] === 2) assert.match((a.exitCode === 2 ? a : b).stderr, /being changed by another netlab/);
    else
      assert.ok(
        [a, b].some((r) => /already up and its file is unchanged/.test(r.stdout)) &&
          [a, b].some((r) => /lab bridge is up/.test(r.stdout)),
        a.stdout + b.stdout,
      );
    assert.equal(codes[0], 0);
    const status = (JSON.parse((await netlab(state.dir, 'status', '--json')).stdout) as { labs: { lab: string }[] })
      .labs;
    assert.deepEqual(
      status.map((s) => s.lab),
      ['bridge'],
    );
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

test('a second Ctrl-C stops the rollback and says to run netlab down, which finishes it', async (t) => {
  // The second Ctrl-C goes as soon as the rollback starts. A rollback of the little the
  // first 1.2 s made can still finish first (then the second signal meets no netlab
  // handler): that try proves nothing, and is made again.
  let result: { code: number | null; stderr: string } | undefined;
  for (let attempt = 1; attempt <= 4; attempt++) {
    const { child, done } = spawnUp(bigLab());
    let second = false;
    child.stderr!.on('data', (chunk: Buffer) => {
      if (second || !chunk.toString().includes('rolling back')) return;
      second = true;
      child.kill('SIGINT');
    });
    await delay(1200);
    child.kill('SIGINT');
    result = await done;
    if (!/rolled back: nothing is left/.test(result.stderr)) break;
    t.diagnostic(`try ${attempt}: the rollback finished before the second Ctrl-C arrived; again`);
    await netlab(state.dir, 'down', 'big');
  }
  assert.equal(result!.code, 130, result!.stderr);
  assert.match(result!.stderr, /rollback stopped: run `netlab down big` to finish cleaning up/);
  assert.equal((await netlab(state.dir, 'down', 'big')).exitCode, 0);
  assert.deepEqual(await snapshotHost(), state.pristine());
});
