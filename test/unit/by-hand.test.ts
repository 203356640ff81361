// netlab's shell helpers, as the plain commands a learner types: every helper
// a plan or a fault uses has them (a helper added without them fails here),
// and they are plain commands, with no netlab word a shell on a VM would not know.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadLabFile, parseLab } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { faultsOf } from '../../src/faults/faults.js';
import { simulatedFacts } from '../../src/exec/simulated.js';
import { byHand, isHelper } from '../../src/shell/by-hand.js';
import { renderPlanText } from '../../src/shell/render.js';
import type { Command } from '../../src/model/plan.js';
import type { Model } from '../../src/model/lab.js';
import { LABS } from '../paths.js';

/** Every command a learner is shown of a lab: its plan's apply commands and its faults' (made and mended). */
function shownCommands(model: Model): { where: string; command: Command }[] {
  const plan = buildPlan(model, simulatedFacts(model));
  return [
    ...plan.nodes.flatMap((n) =>
      n.steps.flatMap((s) => s.apply.map((command) => ({ where: `${n.node} step ${s.id}`, command }))),
    ),
    ...faultsOf(model, simulatedFacts(model), { plan }).flatMap((f) =>
      [...f.apply, ...f.mend].map((command) => ({ where: `fault ${f.id}`, command })),
    ),
  ];
}

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

test('every netlab helper that a bundled lab (or a pod with a rootfs) uses has its plain commands, and they are plain', () => {
  const helpers = new Set<string>();
  for (const { file, model } of [...bundled, { file: 'rootfs.yaml', model: withRootfs }]) {
    for (const { where, command } of shownCommands(model)) {
      if (!isHelper(command)) continue;
      helpers.add(command[0]!);
      const lines = byHand(command);
      assert.ok(lines?.length, `${file}, ${where}: ${command[0]} has no plain commands in src/shell/by-hand.ts`);
      for (const line of lines)
        assert.doesNotMatch(line, /netlab_/, `${file}, ${where}: ${command[0]} is shown as ${line}`);
    }
  }
  // What the bundled labs use today: a helper that goes out of use leaves this list, one that comes is checked above.
  for (const helper of ['netlab_ipv4_only', 'netlab_pause', 'netlab_container', 'netlab_sysctl', 'netlab_restore'])
    assert.ok(helpers.has(helper), `no lab uses ${helper} any more`);
  assert.ok(helpers.has('netlab_pod_mount'));
});

test("the pause process and IPv6 off, by hand, as the article's reader types them", () => {
  assert.deepEqual(byHand(['netlab_pause', 'a0']), [
    "ip netns exec a0 unshare --uts --ipc --pid --fork --kill-child sh -c 'hostname a0; exec sleep infinity' &",
  ]);
  assert.deepEqual(byHand(['netlab_pause', 'a0', 'mount']), [
    "ip netns exec a0 unshare --uts --ipc --pid --mount --fork --kill-child sh -c 'hostname a0; exec sleep infinity' &",
  ]);
  assert.deepEqual(byHand(['netlab_ipv4_only', 'a0']), [
    'ip netns exec a0 sysctl -w net.ipv6.conf.all.disable_ipv6=1',
    'ip netns exec a0 sysctl -w net.ipv6.conf.default.disable_ipv6=1',
  ]);
  assert.deepEqual(byHand(['netlab_container', 'pod', 'a0']), [
    `PAUSE_PID=$(pgrep -P "$(pgrep -f 'hostname pod;')")`,
    'nsenter -t "$PAUSE_PID" -n -u -i -p sleep infinity &',
  ]);
  assert.deepEqual(byHand(['netlab_sysctl', 'net.ipv4.ip_forward', '1']), ['sysctl -w net.ipv4.ip_forward=1']);
  assert.equal(byHand(['ip', 'link', 'set', 'lo', 'up']), undefined, 'a plain command is shown as it is');
  assert.equal(byHand(['netlab_toString']), undefined);
  assert.equal(byHand(['toString']), undefined);
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
