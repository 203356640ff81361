// End to end, as root, on simulated nodes: one lab many times on one host. Three
// instances of the vxlan lab at once, each with the article's addresses and an
// underlay of its own: each verifies, a challenge in one fails that one only,
// taking one down leaves the others working; names of 32 characters; and the
// host as it was once all are down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { json, type Netlab } from './challenge-case.js';
import { labTestContext, netlab, snapshotHost } from './host.js';
import { kernelLabName } from '../../src/model/grammar.js';

const state = labTestContext();
const run: Netlab = (...args) => netlab(state.dir, ...args);
const groups = ['g1', 'g2', 'g3'];

/** The MAC of pod a1's interface in one instance. */
async function macOfA1(group: string): Promise<string> {
  const link = await run('exec', 'a1', '--instance', group, '--', 'ip', '-o', 'link', 'show', 'veth-a1-c');
  assert.equal(link.exitCode, 0, link.stderr);
  const mac = /link\/ether (\S+)/.exec(link.stdout)?.[1];
  assert.ok(mac, link.stdout);
  return mac;
}

test('three instances of the vxlan lab at once: each verifies with the same addresses, a challenge in g2 fails g2 only, down of g2 leaves g1 and g3 working', async () => {
  try {
    const ups = await Promise.all(groups.map((g) => run('up', 'vxlan', '--instance', g)));
    for (const up of ups) assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(ups[1]!.stdout, /lab vxlan@g2 is up: 2 node\(s\), 2 pod\(s\)/);
    const status = json<{ labs: { lab: string; status: string }[] }>(await run('status', '--json'));
    assert.deepEqual(
      status.labs.map((l) => [l.lab, l.status]).sort(),
      groups.map((g) => [`vxlan@${g}`, 'up']),
    );
    for (const g of groups) {
      const verify = await run('verify', 'vxlan', '--instance', g);
      assert.equal(verify.exitCode, 0, `${g}: ${verify.stdout}${verify.stderr}`);
      // The article's addresses in every instance.
      const address = await run('exec', 'a0', '--instance', g, '--', 'ip', '-4', '-o', 'addr', 'show', 'veth-a0-c');
      assert.match(address.stdout, /inet 10\.200\.0\.2\/24/);
    }
    // No frame of one instance reaches another: node-0's VXLAN FDB in g1 knows g1's a1 only.
    const [a1g1, a1g2] = [await macOfA1('g1'), await macOfA1('g2')];
    assert.notEqual(a1g1, a1g2);
    const fdb = await run('exec', 'node-0', '--instance', 'g1', '--', 'bridge', 'fdb', 'show', 'dev', 'vxlan0');
    assert.match(fdb.stdout, new RegExp(`^${a1g1} `, 'm'));
    assert.doesNotMatch(fdb.stdout, new RegExp(a1g2));
    // vxlan@g2 names the same lab as vxlan --instance g2.
    assert.equal((await run('challenge', 'start', 'vxlan@g2', 'wrong-vni')).exitCode, 0);
    assert.equal((await run('verify', 'vxlan', '--instance', 'g2')).exitCode, 1, 'the challenge breaks g2');
    for (const g of ['g1', 'g3'])
      assert.equal((await run('verify', 'vxlan', '--instance', g)).exitCode, 0, `${g} is not touched`);
    const refused = await run('verify', 'vxlan@g2', '--instance', 'g3');
    assert.equal(refused.exitCode, 2);
    assert.match(refused.stderr, /"vxlan@g2" names instance g2, and --instance names g3/);
    const down = await run('down', 'vxlan', '--instance', 'g2');
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    for (const g of ['g1', 'g3'])
      assert.equal((await run('verify', 'vxlan', '--instance', g)).exitCode, 0, `${g} after g2 went down`);
  } finally {
    for (const g of groups) await run('down', 'vxlan', '--instance', g);
  }
  assert.deepEqual(await snapshotHost(), state.pristine(), 'the host as it was');
});

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
