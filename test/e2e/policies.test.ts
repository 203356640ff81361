// End to end, as an ordinary user (no sudo: README "Without sudo"; root builds these
// labs in challenges.test.ts), on simulated nodes: egress to an outside host, and the policy lab's NetworkPolicies as
// iptables. Allowed and denied pairs hold across nodes and on one bridge,
// replies of allowed connections come back (conntrack ESTABLISHED), trace
// names the rule that drops a denied packet, br_netfilter is what enforces
// them between pods on one bridge, and down removes every chain and rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { scratch } from '../scratch.js';
import { dropFirstOfTwo, labTestContext, netlab, ORDINARY_USERS, snapshotHost } from './host.js';

const state = labTestContext(ORDINARY_USERS[0]);
const run = (...args: string[]) => netlab(state.dir, ...args);

interface Report {
  checks: { ok: boolean; reached: boolean; evidence: string; check: { expect: string } }[];
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
    // validate's reading of the policies agrees with the kernel's: with every `expect: fail` taken out of
    // the lab file, it warns that exactly the checks the kernel did not let through cannot pass.
    const expectingPass = scratch();
    try {
      const copy = join(expectingPass.dir, 'policy.yaml');
      writeFileSync(copy, readFileSync(join(LABS, 'policy.yaml'), 'utf8').replace(/, expect: fail/g, ''));
      chmodSync(expectingPass.dir, 0o755); // the test's netlab runs as an ordinary user
      const validate = await run('validate', copy, '--json');
      assert.equal(validate.exitCode, 0, validate.stdout + validate.stderr);
      const issues = (JSON.parse(validate.stdout) as { labs: { issues: { path: string; message: string }[] }[] })
        .labs[0]!.issues;
      assert.deepEqual(
        issues.filter((i) => /NetworkPolicy drops/.test(i.message)).map((i) => Number(i.path.split('.')[1])),
        report.checks.flatMap((c, i) => (c.reached ? [] : [i])),
      );
    } finally {
      expectingPass.remove();
    }

    // The chain of db on node-1, as iptables keeps it, with counters: web's connections were let in.
    const chain = await run('exec', 'node-1', '--', 'iptables', '-S', 'NL-PI-policy_db');
    assert.match(
      chain.stdout,
      /-A NL-PI-policy_db -s 10\.200\.0\.2\/32 -p tcp -m tcp --dport 5432 -j RETURN\n-A NL-PI-policy_db -j DROP/,
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
    assert.match(walked.problem.reason, /a NetworkPolicy drops it on node-0: `-A NL-PE-policy_rogue -j DROP`/);
    assert.match(walked.problem.hint ?? '', /pod rogue is isolated for egress by rogue-stays-home/);
    const sameBridge = await run('trace', 'cache', 'db', '--port', '5432', '--json');
    const bridged = JSON.parse(sameBridge.stdout) as { problem: { node: string; reason: string } };
    assert.match(bridged.problem.reason, /drops it on node-1: `-A NL-PI-policy_db -j DROP`/);
    const allowed = await run('trace', 'web', 'db', '--port', '5432');
    assert.equal(allowed.exitCode, 0, allowed.stdout);
    // An allowed connection to an ingress-isolated pod: its reply is ESTABLISHED, and comes back (db → cache,
    // both isolated for ingress on node-1; the reply to db was walked as a new connection, dropped by db's chain).
    const both = await run('trace', 'db', 'cache', '--port', '6379');
    assert.equal(both.exitCode, 0, both.stdout + both.stderr);
    assert.doesNotMatch(both.stdout, /reply does not come back/);
    // Without node-0's jump to the policies, rogue's egress chain is never consulted: db's ingress on node-1 drops it.
    const jump = ['-m', 'comment', '--comment', 'netlab lab policy', '-j', 'NL-POL-policy'];
    assert.equal((await run('exec', 'node-0', '--', 'iptables', '-D', 'FORWARD', ...jump)).exitCode, 0);
    const past = JSON.parse((await run('trace', 'rogue', 'db', '--port', '5432', '--no-send', '--json')).stdout) as {
      problem: { node: string; reason: string };
    };
    assert.equal(past.problem.node, 'node-1', past.problem.reason);
    assert.match(past.problem.reason, /`-A NL-PI-policy_db -j DROP`/);
    assert.equal((await run('exec', 'node-0', '--', 'iptables', '-I', 'FORWARD', '1', ...jump)).exitCode, 0);

    // Between pods on one bridge, the policies hold only while bridged frames pass iptables.
    const off = await run('exec', 'node-1', '--', 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0');
    assert.equal(off.exitCode, 0, off.stderr);
    const blind = JSON.parse((await run('verify', 'policy', '--json')).stdout) as Report;
    assert.deepEqual(
      blind.checks.map((c, i) => [i + 1, c.ok]).filter(([, ok]) => !ok),
      [[5, false]],
      'only cache → db, the denied pair on one bridge, gets through',
    );
    // A path whose first SYN is lost is open all the same: the kernel resends it after 1 s (as
    // after a lost ARP request on a busy underlay), and a check that must fail waits for that.
    const drop = await run('exec', 'db', '--', ...dropFirstOfTwo('INPUT', '-p', 'tcp', '--syn', '--dport', '5432'));
    assert.equal(drop.exitCode, 0, drop.stderr);
    const late = JSON.parse((await run('verify', 'policy', '--check', '5', '--json')).stdout) as Report;
    assert.deepEqual(
      late.checks.map((c) => [c.reached, c.ok]),
      [[true, false]],
      'cache → db gets through on its second SYN: the check that must fail fails',
    );
    // A check that cannot run (its pod's pause process is gone) is not a path that is closed:
    // rogue's checks that must fail fail, saying why.
    const kill = await run(
      'exec',
      'node-0',
      '--',
      'sh',
      '-c',
      'read -r p t </run/netlab/policy/pods/rogue/pause.pid && kill -KILL $p',
    );
    assert.equal(kill.exitCode, 0, kill.stderr);
    const orphan = JSON.parse((await run('verify', 'policy', '--check', '2,8', '--json')).stdout) as {
      checks: { ok: boolean; evidence: string }[];
    };
    assert.deepEqual(
      orphan.checks.map((c) => [c.ok, c.evidence]),
      [2, 8].map(() => [false, 'the check did not run: pod rogue has no pause process on this node']),
    );
  } finally {
    await run('down', 'policy');
  }
  assert.deepEqual(await snapshotHost(), state.pristine(), 'no chain, rule or namespace is left');
});

test('egress: pods on every node reach the outside host through MASQUERADE; without the rule the reply does not come back', async () => {
  try {
    const up = await run('up', join(LABS, 'egress.yaml'), '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /ping a0 → outside +reached/);
    assert.match(up.stdout, /ping a1 → outside +reached/);
    assert.match(
      up.stdout,
      /node-1: connections conntrack translated.*\n.*src=10\.200\.1\.2 dst=192\.168\.64\.1 .*dst=192\.168\.64\.5/,
    );
    // conntrack shows the source translation: from the pod, the reply to the node.
    const tracked = await run('exec', 'node-1', '--', 'conntrack', '-L', '--src-nat', '-p', 'icmp');
    assert.match(tracked.stdout, /src=10\.200\.1\.2 dst=192\.168\.64\.1 .*src=192\.168\.64\.1 dst=192\.168\.64\.5/);
    const trace = await run('trace', 'a0', 'outside', '--json');
    const walked = JSON.parse(trace.stdout) as { outcome: string; hops: { kind: string; text: string }[] };
    assert.equal(trace.exitCode, 0, trace.stdout);
    assert.match(walked.hops.find((h) => h.kind === 'snat')!.text, /source 10\.200\.0\.2 becomes 192\.168\.64\.4/);

    /** trace a0 → the outside host, from the tables as they are (--no-send) */
    const traceToOutside = async () =>
      JSON.parse((await run('trace', 'a0', 'outside', '--no-send', '--json')).stdout) as {
        outcome: string;
        problem: { node: string; reason: string; hint?: string };
      };
    // An ACCEPT in node-0's nat POSTROUTING before the lab's jump: the kernel's first match, so no masquerade,
    // and trace says so, naming it (before: trace found the MASQUERADE further on and said delivered).
    const accept = ['-s', '10.200.0.0/16', '-j', 'ACCEPT'];
    assert.equal(
      (await run('exec', 'node-0', '--', 'iptables', '-t', 'nat', '-I', 'POSTROUTING', ...accept)).exitCode,
      0,
    );
    try {
      const skipped = JSON.parse((await run('verify', 'egress', '--check', '1', '--json')).stdout) as Report;
      assert.deepEqual(
        skipped.checks.map((c) => c.ok),
        [false],
      );
      const first = await traceToOutside();
      assert.equal(first.outcome, 'broken', JSON.stringify(first));
      assert.match(
        first.problem.reason,
        /the reply never comes back \(`-A POSTROUTING -s 10\.200\.0\.0\/16 -j ACCEPT` in node-0's nat POSTROUTING lets it go before any MASQUERADE\)/,
      );
    } finally {
      await run('exec', 'node-0', '--', 'iptables', '-t', 'nat', '-D', 'POSTROUTING', ...accept);
    }
    // One that may accept (half of them, at random): trace cannot tell, and says which rule and why.
    const maybe = ['-m', 'statistic', '--mode', 'random', '--probability', '0.5', '-j', 'ACCEPT'];
    assert.equal(
      (await run('exec', 'node-0', '--', 'iptables', '-t', 'nat', '-I', 'POSTROUTING', ...maybe)).exitCode,
      0,
    );
    try {
      const unsure = await traceToOutside();
      assert.equal(unsure.outcome, 'unknown', JSON.stringify(unsure));
      assert.match(
        unsure.problem.reason,
        /the reply never comes back; if `-A POSTROUTING -m statistic --mode random --probability 0\.5\d* -j ACCEPT` accepts it first, which trace cannot tell \(it does not judge --mode, --probability\)/,
      );
    } finally {
      await run('exec', 'node-0', '--', 'iptables', '-t', 'nat', '-D', 'POSTROUTING', ...maybe);
    }

    // Without node-0's rule, a0's requests leave with their pod source and nothing answers them.
    assert.equal((await run('exec', 'node-0', '--', 'iptables', '-t', 'nat', '-F', 'NL-EGRESS-egress')).exitCode, 0);
    const broken = JSON.parse((await run('verify', 'egress', '--json')).stdout) as Report;
    assert.deepEqual(
      broken.checks.map((c) => c.ok),
      [false, true, true],
    );
    const stops = await traceToOutside();
    assert.equal(stops.outcome, 'broken');
    assert.match(stops.problem.reason, /with its pod source 10\.200\.0\.2.*the reply never comes back/);
    assert.match(stops.problem.hint ?? '', /MASQUERADE/);
    // The outside host's address added to a0's own loopback: a0 answers its own ping, which is no way out.
    assert.equal((await run('exec', 'a0', '--', 'ip', 'addr', 'add', '192.168.64.1/32', 'dev', 'lo')).exitCode, 0);
    const itself = JSON.parse((await run('verify', 'egress', '--check', '1', '--json')).stdout) as Report;
    assert.deepEqual(
      itself.checks.map((c) => [c.ok, c.evidence]),
      [
        [
          false,
          'answered by a0 itself: 192.168.64.1 is an address of its own (ip route get says local), so the ping never reached the outside host',
        ],
      ],
    );
  } finally {
    await run('down', 'egress');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});
