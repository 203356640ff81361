// End to end, as root, on simulated nodes: the policy lab's NetworkPolicies as
// iptables. Allowed and denied pairs hold across nodes and on one bridge,
// replies of allowed connections come back (conntrack ESTABLISHED), trace
// names the rule that drops a denied packet, br_netfilter is what enforces
// them between pods on one bridge, and down removes every chain and rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { labTestContext, netlab, snapshotHost } from './host.js';

const state = labTestContext();
const run = (...args: string[]) => netlab(state.dir, ...args);

interface Report {
  checks: { ok: boolean; reached: boolean; check: { expect: string } }[];
}

test('policy: default deny and allow rules across nodes and on one bridge, replies included; trace names the dropping rule', async () => {
  try {
    const up = await run('up', join(LABS, 'policy.yaml'));
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    // Every check as the lab expects; what passes and what does not, as reached (expect: fail was not).
    const verify = await run('verify', 'policy', '--json');
    assert.equal(verify.exitCode, 0, verify.stdout);
    const report = JSON.parse(verify.stdout) as Report;
    assert.equal(report.checks.length, 10);
    assert.deepEqual(
      report.checks.map((c) => c.reached),
      [true, false, false, true, false, false, true, false, true, false],
    );

    // The chain of db on node-1, as iptables keeps it, with counters: web's connections were let in.
    const chain = await run('exec', 'node-1', '--', 'iptables', '-S', 'NL-PI-policy-db');
    assert.match(
      chain.stdout,
      /-A NL-PI-policy-db -s 10\.200\.0\.2\/32 -p tcp -m tcp --dport 5432 -j RETURN\n-A NL-PI-policy-db -j DROP/,
    );
    // The reply of web's allowed connection is ESTABLISHED in node-1's conntrack.
    const tracked = await run(
      'exec',
      'node-1',
      '--',
      'conntrack',
      '-L',
      '-p',
      'tcp',
      '--dport',
      '5432',
      '--src',
      '10.200.0.2',
    );
    assert.match(
      tracked.stdout,
      /src=10\.200\.0\.2 dst=10\.200\.1\.2 .*dport=5432 .*src=10\.200\.1\.2 dst=10\.200\.0\.2/,
    );

    // trace: a denied connection stops at the rule that drops it, with the policies behind it.
    const denied = await run('trace', 'rogue', 'db', '--port', '5432', '--no-send', '--json');
    const walked = JSON.parse(denied.stdout) as {
      outcome: string;
      problem: { node: string; reason: string; hint?: string };
    };
    assert.equal(denied.exitCode, 1);
    assert.equal(walked.outcome, 'broken');
    // rogue's own egress chain on node-0 drops it first.
    assert.equal(walked.problem.node, 'node-0');
    assert.match(walked.problem.reason, /a NetworkPolicy drops it on node-0: `-A NL-PE-policy-rogue -j DROP`/);
    assert.match(walked.problem.hint ?? '', /pod rogue is isolated for egress by rogue-stays-home/);
    const sameBridge = await run('trace', 'cache', 'db', '--port', '5432', '--json');
    const bridged = JSON.parse(sameBridge.stdout) as { problem: { node: string; reason: string } };
    assert.match(bridged.problem.reason, /drops it on node-1: `-A NL-PI-policy-db -j DROP`/);
    const allowed = await run('trace', 'web', 'db', '--port', '5432');
    assert.equal(allowed.exitCode, 0, allowed.stdout);

    // Between pods on one bridge, the policies hold only while bridged frames pass iptables.
    const off = await run('exec', 'node-1', '--', 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0');
    assert.equal(off.exitCode, 0, off.stderr);
    const blind = JSON.parse((await run('verify', 'policy', '--json')).stdout) as Report;
    assert.deepEqual(
      blind.checks.map((c, i) => [i + 1, c.ok]).filter(([, ok]) => !ok),
      [[5, false]],
      'only cache → db, the denied pair on one bridge, gets through',
    );
  } finally {
    await run('down', 'policy');
  }
  assert.deepEqual(await snapshotHost(), state.pristine(), 'no chain, rule or namespace is left');
});
