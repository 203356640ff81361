// netlab's shell helpers, as the plain commands a learner types: every helper
// a plan uses has them (a helper added without them fails here), they are
// plain commands, with no netlab word a shell on a VM would not know, and no
// fault uses a helper at all (reveal shows its commands to be typed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { faultsOf } from '../../src/faults/faults.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { containerByHand, ipv4OnlyByHand, pauseByHand, sysctlByHand } from '../../src/model/by-hand.js';
import { applyOf, shownOf } from '../../src/model/effects.js';
import { renderPlanText } from '../../src/shell/render.js';
import type { Command } from '../../src/model/plan.js';
import { LABS } from '../paths.js';

const bundled = readdirSync(LABS)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => ({ file: f, model: loadLabFile(join(LABS, f)).model }));

/** A pod with a root filesystem: its pause has a mount namespace, its containers an overlay (no bundled lab has one). */
const withRootfs = parseLab(
  [
    'name: rootfs',
    'nodes: { node-0: {} }',
    'pods:',
    '  a0: { node: node-0, rootfs: /srv/alpine.tar.gz, containers: [c0, c1] }',
    '',
  ].join('\n'),
  'rootfs.yaml',
).model;

/** Whether a command is one of netlab's shell helpers (the oracle reads its first word). */
const isHelper = (command: Command) => /^netlab_/.test(command[0] ?? '');

test('every netlab helper that a bundled lab (or a pod with a rootfs) uses has its plain commands, and they are plain', () => {
  const helpers = new Set<string>();
  for (const { file, model } of [...bundled, { file: 'rootfs.yaml', model: withRootfs }]) {
    const plan = buildPlan(model, simulatedFacts(model));
    for (const node of plan.nodes)
      for (const s of node.steps)
        for (const effect of s.effects) {
          const shown = shownOf(effect);
          assert.deepEqual(
            shown.map((c) => c.command),
            applyOf(effect),
            `${file}, ${node.node} step ${s.id}: every command shown`,
          );
          shown.forEach(({ command, byHand: lines }) => {
            if (!isHelper(command)) {
              assert.deepEqual(lines, [], `${file}, ${node.node} step ${s.id}: ${command[0]} is shown as it is`);
              return;
            }
            helpers.add(command[0]!);
            assert.ok(lines.length, `${file}, ${node.node} step ${s.id}: ${command[0]} has no plain commands`);
            for (const line of lines)
              assert.doesNotMatch(
                line,
                /netlab_/,
                `${file}, ${node.node} step ${s.id}: ${command[0]} is shown as ${line}`,
              );
          });
        }
  }
  // What the bundled labs use today: a helper that goes out of use leaves this list, one that comes is checked above.
  for (const helper of ['netlab_ipv4_only', 'netlab_pause', 'netlab_container', 'netlab_sysctl', 'netlab_restore'])
    assert.ok(helpers.has(helper), `no lab uses ${helper} any more`);
  assert.ok(helpers.has('netlab_pod_mount'));
});

test('a fault is made and mended by plain commands only, as `challenge reveal` shows them to be typed', () => {
  for (const { file, model } of [...bundled, { file: 'rootfs.yaml', model: withRootfs }])
    for (const f of faultsOf(model, simulatedFacts(model)))
      for (const command of [...f.apply, ...f.mend])
        assert.ok(!isHelper(command), `${file}: fault ${f.id} runs ${command[0]}, which a learner cannot type`);
});

test("the pause process and IPv6 off, by hand, as the article's reader types them", () => {
  assert.deepEqual(pauseByHand('a0', false), [
    'ip netns exec a0 unshare --uts --ipc --pid --fork --kill-child sh -c \'hostname a0; trap "" TERM; sleep infinity & wait\' &',
  ]);
  assert.deepEqual(pauseByHand('a0', true), [
    'ip netns exec a0 unshare --uts --ipc --pid --mount --fork --kill-child sh -c \'hostname a0; trap "" TERM; sleep infinity & wait\' &',
  ]);
  assert.deepEqual(ipv4OnlyByHand('a0'), [
    'ip netns exec a0 sysctl -w net.ipv6.conf.all.disable_ipv6=1',
    'ip netns exec a0 sysctl -w net.ipv6.conf.default.disable_ipv6=1',
  ]);
  assert.deepEqual(containerByHand('pod', undefined), [
    `PAUSE_PID=$(pgrep -o -f '^sh -c hostname pod;')`,
    'nsenter -t "$PAUSE_PID" -n -u -i -p sleep infinity &',
  ]);
  assert.deepEqual(sysctlByHand('net.ipv4.ip_forward', '1'), ['sysctl -w net.ipv4.ip_forward=1']);
});

test('plan shows, under every helper line, its plain commands (and iptables-restore as its here-document)', () => {
  for (const { file, model } of bundled) {
    const lines = renderPlanText(model, buildPlan(model, simulatedFacts(model)), 'simulated nodes').split('\n');
    lines.forEach((line, i) => {
      if (!/^netlab_/.test(line)) return;
      assert.match(lines[i + 1] ?? '', /^# {3}= \S/, `${file}: nothing shown under ${line}`);
    });
    assert.ok(!lines.includes('netlab_restore'), file);
  }
});
