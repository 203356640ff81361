// What the runner sends each node for a phase, and how it reads the answers:
// pure logic, so a stub transport answers with the markers a node script
// prints (the scripts themselves run on real nodes in the e2e tier).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan, stepsOfPhase } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import {
  AFTER_MARKER as AFTER,
  applyPhases,
  nodeScripts,
  type OnProgress,
  phasesInOneRound,
  phasesOf,
  StepFailure,
} from '../../src/exec/runner.js';
import { applyScript } from '../../src/shell/node-script.js';
import type { Transport } from '../../src/exec/transport.js';
import { RunError } from '../../src/errors.js';
import { LABS } from '../paths.js';

const RUN = { id: 'abc123', from: 'test:/state' };

/**
 * A node that says each step of `plan`'s phase on it is done, then (unless `lost`) that what follows the steps
 * began, and exits with `exitCode`; it keeps the scripts.
 */
function stubNode(node: string, exitCode = 0, lost = false) {
  const scripts: string[] = [];
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const steps = stepsOfPhase(
    buildPlan(model, simulatedFacts(model)).nodes.find((n) => n.node === node)!.steps,
    'cross-node',
  );
  const transport: Transport = {
    node,
    async run(script) {
      scripts.push(script);
      const done = script.includes('netlab_claim')
        ? steps.map((s) => `@@netlab begin ${s.id}\n@@netlab done ${s.id}\n`)
        : [];
      const then = !lost && script.includes(`echo "${AFTER}"`) ? `${AFTER}\n` : '';
      return { stdout: done.join('') + then, stderr: exitCode ? 'mv: cannot move' : '', exitCode };
    },
    async interactive() {
      return 0;
    },
    async lock() {
      return {};
    },
    async unlock() {},
  };
  return { transport, scripts };
}

test("a phase's `after` script runs at the end of each node's script (alone where the node has no step in the phase), and its failure is named as its own", async () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const plan = buildPlan(model, simulatedFacts(model));
  const node0 = stubNode('node-0');
  const node1 = stubNode('node-1');
  // node-1 has no step in this phase, as a node may have none in a lab's last.
  const oneNode = { ...plan, nodes: plan.nodes.map((n) => (n.node === 'node-1' ? { ...n, steps: [] } : n)) };
  const after = () => ({ script: 'echo recorded\n', what: 'recording the lab on the node' });
  await applyPhases(oneNode, ['cross-node'], { 'node-0': node0.transport, 'node-1': node1.transport }, RUN, {
    scripts: nodeScripts(oneNode, ['cross-node'], RUN, after),
  });
  assert.equal(node0.scripts.length, 1, "one script: the steps' and the record's");
  assert.ok(stepsOfPhase(plan.nodes[0]!.steps, 'cross-node').length > 0);
  assert.match(node0.scripts[0]!, /^netlab_claim \|\| exit 1$/m);
  const script = node0.scripts[0]!;
  const then = `echo "${AFTER}"\necho recorded\n`;
  assert.equal(script.indexOf(then), script.length - then.length, 'after every step');
  assert.deepEqual(node1.scripts, [then], 'a node without steps in the phase runs the record alone');

  // Without `after`, a node without steps is sent nothing.
  const quiet = stubNode('node-1');
  await applyPhases(
    oneNode,
    ['cross-node'],
    { 'node-0': stubNode('node-0').transport, 'node-1': quiet.transport },
    RUN,
  );
  assert.deepEqual(quiet.scripts, []);

  // Every step done, then a failure: the record's, said as such, not a step's.
  const failing = stubNode('node-0', 1);
  await assert.rejects(
    applyPhases(plan, ['cross-node'], { 'node-0': failing.transport, 'node-1': stubNode('node-1').transport }, RUN, {
      scripts: nodeScripts(plan, ['cross-node'], RUN, after),
    }),
    (error: unknown) =>
      error instanceof RunError &&
      !(error instanceof StepFailure) &&
      error.message === 'node-0: recording the lab on the node failed (exit 1): mv: cannot move',
  );
  // A node script that ends after its steps but before what follows them began (a connection lost) is not its failure.
  await assert.rejects(
    applyPhases(
      plan,
      ['cross-node'],
      { 'node-0': stubNode('node-0', 255, true).transport, 'node-1': stubNode('node-1').transport },
      RUN,
      { scripts: nodeScripts(plan, ['cross-node'], RUN, after) },
    ),
    (error: unknown) => error instanceof StepFailure && /the node script ended with exit 255/.test(error.message),
  );
  // The same exit without `after` is the node script's.
  await assert.rejects(
    applyPhases(
      plan,
      ['cross-node'],
      { 'node-0': stubNode('node-0', 1).transport, 'node-1': stubNode('node-1').transport },
      RUN,
    ),
    (error: unknown) => error instanceof StepFailure && /the node script ended with exit 1/.test(error.message),
  );
});

test("the claim of a phase script names the pods its steps start (their directories come with the lab's); others name none", () => {
  const { model } = loadLabFile(join(LABS, 'service.yaml'));
  const plan = buildPlan(model, simulatedFacts(model));
  const node0 = plan.nodes.find((n) => n.node === 'node-0')!;
  const claim = (phase: 'pods' | 'network') =>
    /^netlab_claim(?!\(\)).*$/m.exec(applyScript(plan.lab, stepsOfPhase(node0.steps, phase), RUN))?.[0];
  const pods = model.pods.filter((p) => p.node === 'node-0').map((p) => p.netns);
  assert.ok(pods.length >= 2, 'a node with several pods');
  assert.equal(claim('pods'), `netlab_claim ${pods.join(' ')} || exit 1`);
  assert.equal(claim('network'), 'netlab_claim || exit 1');
});

test('a plain up sends each node one script with its steps of every phase, in order, the steps followed by `after`', async () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const plan = buildPlan(model, simulatedFacts(model));
  const phases = phasesOf(plan);
  assert.deepEqual(phases, ['pods', 'network', 'cross-node']);
  const scripts: Record<string, string[]> = {};
  const progress: [string, number[]][] = [];
  const nodeSaying = (node: string): Transport => ({
    node,
    async run(script, options) {
      (scripts[node] ??= []).push(script);
      // every step's markers, as the script prints them (applyScript's own lines)
      const stdout = plan.nodes
        .find((n) => n.node === node)!
        .steps.map((s) => `@@netlab begin ${s.id}\n@@netlab done ${s.id}\n`)
        .join('');
      options?.onStdout?.(stdout);
      return { stdout: `${stdout}${AFTER}\n`, stderr: '', exitCode: 0 };
    },
    async interactive() {
      return 0;
    },
    async lock() {
      return {};
    },
    async unlock() {},
  });
  const transports = Object.fromEntries(plan.nodes.map((n) => [n.node, nodeSaying(n.node)]));
  const after = () => ({ script: 'echo recorded\n', what: 'recording the lab on the node' });
  await applyPhases(plan, phases, transports, RUN, {
    scripts: nodeScripts(plan, phases, RUN, after),
    onProgress: (n, ids) => progress.push([n, [...ids]]),
  });
  for (const node of plan.nodes) {
    assert.equal(scripts[node.node]!.length, 1, `${node.node}: one script`);
    const script = scripts[node.node]!;
    assert.equal(script[0], `${applyScript(plan.lab, node.steps, RUN)}echo "${AFTER}"\necho recorded\n`);
    assert.deepEqual(
      progress.filter(([n]) => n === node.node).map(([, ids]) => ids),
      [node.steps.map((s) => s.id)],
    );
  }
});

test("phases in one round: each phase is done once every node has done its steps of it; a failure is the first unfinished phase's", async () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const plan = buildPlan(model, simulatedFacts(model));
  const ids = (node: string, phase: 'pods' | 'network' | 'cross-node') =>
    stepsOfPhase(plan.nodes.find((n) => n.node === node)!.steps, phase).map((s) => s.id);
  let report: OnProgress = () => {};
  let finish: (error?: unknown) => void = () => {};
  let started = 0;
  const round = phasesInOneRound(plan, (onProgress) => {
    started++;
    report = onProgress;
    return new Promise<void>((resolve, reject) => (finish = (error) => (error ? reject(error) : resolve())));
  });
  const settled: string[] = [];
  const watch = (phase: 'pods' | 'network' | 'cross-node') =>
    round.phaseDone(phase).then(
      () => settled.push(`${phase} done`),
      (error: Error) => settled.push(`${phase} failed: ${error.message}`),
    );
  round.start();
  const pods = watch('pods');
  const network = watch('network');
  assert.equal(started, 1, 'applied once, from start or the first phase asked for');
  report('node-0', ids('node-0', 'pods'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(settled, [], 'pods is done on node-0 only');
  report('node-1', ids('node-1', 'pods'));
  await pods;
  assert.deepEqual(settled, ['pods done']);
  assert.equal(round.done('node-1', 'pods'), 4);
  assert.equal(round.total('node-1', 'network'), ids('node-1', 'network').length);
  // node-0 has done its network steps; node-1 fails in its network phase
  report('node-0', ids('node-0', 'network'));
  report('node-1', ids('node-1', 'network').slice(0, 2));
  finish(new Error('step 7 on node-1 failed'));
  await network;
  assert.deepEqual(settled, ['pods done', 'network failed: step 7 on node-1 failed']);
  // a phase asked for after the failure fails alike; one done before it still is
  await watch('cross-node');
  await watch('pods');
  assert.deepEqual(settled.slice(2), ['cross-node failed: step 7 on node-1 failed', 'pods done']);
  assert.equal(started, 1);
});

test("phases in one round: the last phase's steps done is not the nodes' scripts ended: start's promise waits for what follows the steps", async () => {
  const { model } = loadLabFile(join(LABS, 'bridge.yaml'));
  const plan = buildPlan(model, simulatedFacts(model));
  let finish = () => {};
  let report: OnProgress = () => {};
  const round = phasesInOneRound(plan, (onProgress) => {
    report = onProgress;
    return new Promise<void>((resolve) => (finish = resolve));
  });
  let ended = false;
  void round.start().then(() => (ended = true));
  for (const node of plan.nodes)
    report(
      node.node,
      node.steps.map((s) => s.id),
    );
  for (const phase of phasesOf(plan)) await round.phaseDone(phase);
  await new Promise((r) => setImmediate(r));
  assert.equal(ended, false, "every phase's steps are done, the record after them is still being written");
  finish();
  await round.start();
  assert.equal(ended, true);
});

test("a node whose step fails lets the other nodes' scripts end (one stopped would hold its node's lock a moment more); the failure reported is a step's, of the earliest phase", async () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const plan = buildPlan(model, simulatedFacts(model));
  const phases = phasesOf(plan);
  const firstOf = (node: string, phase: 'pods' | 'cross-node') =>
    stepsOfPhase(plan.nodes.find((n) => n.node === node)!.steps, phase)[0]!.id;
  /** a node whose script fails at `step`, or (no step) does every step a moment later, unless it is stopped */
  const nodeThat = (node: string, step?: number, seen?: { stopped: boolean; ended: boolean }): Transport => ({
    node,
    run: (_script, options) =>
      step !== undefined
        ? Promise.resolve({
            stdout: `@@netlab begin ${step}\n@@netlab fail ${step} 2\n`,
            stderr: 'RTNETLINK answers: File exists',
            exitCode: 1,
          })
        : new Promise((resolve) => {
            options?.signal?.addEventListener('abort', () => (seen!.stopped = true));
            setTimeout(() => {
              seen!.ended = true;
              const steps = plan.nodes.find((n) => n.node === node)!.steps;
              resolve({ stdout: steps.map((s) => `@@netlab done ${s.id}\n`).join(''), stderr: '', exitCode: 0 });
            }, 50);
          }),
    async interactive() {
      return 0;
    },
    async lock() {
      return {};
    },
    async unlock() {},
  });
  const seen = { stopped: false, ended: false };
  await assert.rejects(
    applyPhases(
      plan,
      phases,
      { 'node-0': nodeThat('node-0', firstOf('node-0', 'cross-node')), 'node-1': nodeThat('node-1', undefined, seen) },
      RUN,
      { signal: new AbortController().signal },
    ),
    (error: unknown) => error instanceof StepFailure && error.node === 'node-0' && /File exists/.test(error.message),
  );
  assert.deepEqual(
    seen,
    { stopped: false, ended: true },
    "node-1's script ended as it does, before the failure was reported",
  );
  // node-0 fails in its cross-node phase, node-1 in its pods phase: node-1's is reported
  await assert.rejects(
    applyPhases(
      plan,
      phases,
      {
        'node-0': nodeThat('node-0', firstOf('node-0', 'cross-node')),
        'node-1': nodeThat('node-1', firstOf('node-1', 'pods')),
      },
      RUN,
    ),
    (error: unknown) => error instanceof StepFailure && error.node === 'node-1' && error.step?.phase === 'pods',
  );
});
