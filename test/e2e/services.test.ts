// End to end, as root, on simulated nodes: the article's three Service cases,
// what each of br_netfilter, hairpin and masquerade is for, NodePort from the
// underlay, egress masquerade in conntrack, and exact removal of the rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { labTestContext, netlab, snapshotHost } from './host.js';
import { readState } from '../../src/state/store.js';
import { transportsOf } from '../../src/exec/transports.js';
import { runDown } from '../../src/exec/runner.js';
import { scriptRunOf } from '../../src/state/store.js';

const state = labTestContext();

interface Report {
  passed: boolean;
  checks: { name: string; ok: boolean; answers?: Record<string, number> }[];
}

async function verify(lab: string, ...options: string[]): Promise<{ exitCode: number; report: Report }> {
  const run = await netlab(state.dir, 'verify', lab, '--json', ...options);
  return { exitCode: run.exitCode, report: JSON.parse(run.stdout) as Report };
}

const normalise = (save: string) =>
  save
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');

interface Traced {
  outcome: string;
  sent?: string;
  hops: { where: string; kind: string; text: string }[];
  problem?: { node: string; reason: string; hint?: string };
}

test('service: the three cases of article 001 §5.4 reach every backend; hairpin and br_netfilter are what make cases 2 and 3 work', async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'service.yaml'));
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const { exitCode, report } = await verify('service');
    assert.equal(exitCode, 0, JSON.stringify(report, null, 1));
    const cases = report.checks.filter((c) => c.name.startsWith('service'));
    assert.deepEqual(
      cases.map((c) => c.name.split(' ')[1]),
      ['c', 'a1', 'a0'],
    );
    for (const c of cases) {
      assert.ok(c.ok, c.name);
      assert.ok(
        c.answers!.a0! > 0 && c.answers!.b! > 0,
        `${c.name}: every backend answered ${JSON.stringify(c.answers)}`,
      );
      assert.equal(c.answers!['-'], 0, `${c.name}: no connection failed`);
    }

    // Egress: pod c reaching a node address leaves masqueraded to node-2's address.
    assert.equal(
      (await netlab(state.dir, 'exec', 'c', '--', 'ping', '-c', '1', '-W', '2', '192.168.64.4')).exitCode,
      0,
    );
    const conntrack = await netlab(state.dir, 'exec', 'node-2', '--', 'conntrack', '-L', '-p', 'icmp');
    assert.match(conntrack.stdout, /src=10\.200\.2\.2 dst=192\.168\.64\.4 .* src=192\.168\.64\.4 dst=192\.168\.64\.6 /);

    // Without hairpin mode on a0's port, the connections from a0 that pick a0 fail.
    await netlab(state.dir, 'exec', 'node-0', '--', 'bridge', 'link', 'set', 'dev', 'veth-a0', 'hairpin', 'off');
    // (only the case that matters, with fewer connections: each one that fails waits for its timeout)
    let result = await verify('service', '--check', '3', '--connections', '16');
    assert.equal(result.exitCode, 1);
    // status and verify's diagnosis both name the setting: a bridge-port flag, not only links and routes.
    const hairpinFinding = (text: string) =>
      /node-0: hairpin is off on veth-a0 \(step \d+: hairpin mode on veth-a0\)/.test(text);
    const status = await netlab(state.dir, 'status');
    assert.equal(status.exitCode, 1, status.stdout + status.stderr);
    assert.ok(hairpinFinding(status.stdout), status.stdout);
    const diagnosed = await netlab(state.dir, 'verify', 'service', '--check', '3', '--connections', '4');
    assert.ok(hairpinFinding(diagnosed.stdout), diagnosed.stdout);
    const hairpin = result.report.checks.find((c) => c.name.startsWith('service a0 '))!;
    assert.ok(!hairpin.ok && hairpin.answers!['-']! > 0 && hairpin.answers!.a0 === 0, JSON.stringify(hairpin));
    // trace, with conntrack empty, follows the first endpoint (a0 itself) and stops at the hairpin.
    await netlab(state.dir, 'exec', 'node-0', '--', 'conntrack', '-F');
    let trace = JSON.parse((await netlab(state.dir, 'trace', 'a0', 'svc-1', '--no-send', '--json')).stdout) as Traced;
    assert.equal(trace.outcome, 'broken', JSON.stringify(trace));
    assert.equal(trace.problem!.node, 'node-0');
    assert.match(
      trace.problem!.reason,
      /br0 would send the frame back out of veth-a0, the port it came in by; .* hairpin mode, which is off on veth-a0/,
    );
    await netlab(state.dir, 'exec', 'node-0', '--', 'bridge', 'link', 'set', 'dev', 'veth-a0', 'hairpin', 'on');

    // Without br_netfilter, a1 (same bridge as a0) loses the connections that pick a0.
    await netlab(state.dir, 'exec', 'node-0', '--', 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0');
    result = await verify('service', '--check', '2', '--connections', '16');
    const sameBridge = result.report.checks.find((c) => c.name.startsWith('service a1 '))!;
    assert.ok(!sameBridge.ok && sameBridge.answers!['-']! > 0, JSON.stringify(sameBridge));
    await netlab(state.dir, 'exec', 'node-0', '--', 'conntrack', '-F');
    trace = JSON.parse((await netlab(state.dir, 'trace', 'a1', 'svc-1', '--no-send', '--json')).stdout) as Traced;
    assert.equal(trace.outcome, 'broken', JSON.stringify(trace));
    assert.match(
      trace.problem!.reason,
      /the reply from 10\.200\.0\.2 to 10\.200\.0\.3 stays on the bridge: with net\.bridge\.bridge-nf-call-iptables=0/,
    );
    assert.match(trace.problem!.hint!, /netlab_sysctl net\.bridge\.bridge-nf-call-iptables 1/);
    await netlab(state.dir, 'exec', 'node-0', '--', 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1');

    // A connection from c: trace follows the endpoint conntrack gave its own probe, never an older
    // connection's (verify above left many from c, to both endpoints), and ends in the pod that answered.
    await verify('service', '--check', '1', '--connections', '16');
    for (let i = 0; i < 6; i++) {
      const traced = await netlab(state.dir, 'trace', 'c', 'svc-1', '--json');
      assert.equal(traced.exitCode, 0, traced.stdout + traced.stderr);
      trace = JSON.parse(traced.stdout) as Traced;
      const answeredBy = /answered by (\S+)\)$/.exec(trace.sent!)![1];
      assert.match(
        trace.hops.find((h) => h.kind === 'dnat')!.text,
        /PREROUTING → NL-SERVICES-service → NL-SVC-service-1 picks one of 2 endpoint\(s\).*\(conntrack's entry of the probe's own connection, source port \d+, went there\)/,
      );
      assert.equal(
        trace.hops.at(-1)!.where,
        `pod ${answeredBy}`,
        `trace ${i + 1}: the walk ends where the probe was answered`,
      );
    }

    // A rule and a chain that were not netlab's survive; netlab's are removed exactly.
    await netlab(state.dir, 'exec', 'node-0', '--', 'iptables', '-t', 'nat', '-N', 'USER-CHAIN');
    await netlab(
      state.dir,
      'exec',
      'node-0',
      '--',
      'iptables',
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-p',
      'tcp',
      '--dport',
      '9999',
      '-j',
      'USER-CHAIN',
    );
    const withOurs = normalise((await netlab(state.dir, 'exec', 'node-0', '--', 'iptables-save')).stdout);
    const expected = withOurs
      .split('\n')
      .filter((l) => !/NL-|NETLAB-/.test(l))
      .join('\n');
    assert.notEqual(withOurs, expected);
    const live = readState('service')!;
    const outcomes = await runDown('service', transportsOf(live), scriptRunOf(live));
    assert.deepEqual(
      Object.values(outcomes).map((o) => o.found),
      ['undone', 'undone', 'undone'],
    );
    const afterDown = normalise((await netlab(state.dir, 'exec', 'node-0', '--', 'iptables-save')).stdout);
    assert.equal(afterDown, expected);
    assert.match(afterDown, /-A PREROUTING -p tcp -m tcp --dport 9999 -j USER-CHAIN/);
  } finally {
    await netlab(state.dir, 'down', 'service');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

test('nodeport: reached from the underlay on every node', async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'nodeport.yaml'), '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /✓ pass\s+tcp node-1 → node-0:30080\s+reached: answered by (a0|b)/);
    assert.match(up.stdout, /✓ pass\s+tcp node-0 → node-1:30080\s+reached: answered by (a0|b)/);
    assert.match(up.stdout, /✓ pass\s+service a0 → service web \(10\.96\.0\.2:80\)\s+reached/);
    // The responders run only during verify: afterwards the NodePort has no one to answer.
    const closed = await netlab(
      state.dir,
      'exec',
      'node-1',
      '--',
      'socat',
      '-T',
      '2',
      '-',
      'TCP:192.168.64.4:30080,connect-timeout=2',
    );
    assert.notEqual(closed.exitCode, 0);
  } finally {
    await netlab(state.dir, 'down', 'nodeport');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});
