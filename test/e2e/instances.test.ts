// End to end, as root, on simulated nodes: one lab many times on one host.
// (Several instances of the vxlan lab at once, each with the article's
// addresses and no frame of one in another, are a room's groups in
// room.test.ts.) Names of 32 characters; and the host as it was once all are down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import type { Netlab } from './challenge-case.js';
import { labTestContext, netlab, snapshotHost } from './host.js';
import { kernelLabName } from '../../src/model/grammar.js';

const state = labTestContext();
const run: Netlab = (...args) => netlab(state.dir, ...args);

test('a lab name and an instance name of 32 characters work end to end, with a short kernel name of their own', async () => {
  const name = `Bridge_Lab.${'x'.repeat(21)}`;
  const instance = `Group_${'y'.repeat(26)}`;
  assert.deepEqual([name.length, instance.length], [32, 32]);
  const file = join(state.dir, 'long.yaml');
  writeFileSync(file, readFileSync(join(LABS, 'bridge.yaml'), 'utf8').replace(/^name: .*$/m, `name: ${name}`));
  const kernel = kernelLabName(`${name}@${instance}`);
  try {
    const plan = await run('plan', file, '--instance', instance);
    assert.equal(plan.exitCode, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`^# kernel name: ${kernel} `, 'm'));
    assert.match(plan.stdout, new RegExp(`NETLAB-FWD-${kernel}\\b`));
    const up = await run('up', file, '--instance', instance, '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const chains = await run('exec', 'node-0', '--instance', instance, '--', 'iptables', '-S', 'FORWARD');
    assert.match(chains.stdout, new RegExp(`--comment "netlab lab ${kernel}" -j NETLAB-FWD-${kernel}`));
    const status = await run('status', `${name}@${instance}`);
    assert.equal(status.exitCode, 0, status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(`^${name.replace('.', '\\.')}@${instance}: up since`, 'm'));
  } finally {
    await run('down', name, '--instance', instance);
  }
  assert.deepEqual(await snapshotHost(), state.pristine(), 'the host as it was');
});
