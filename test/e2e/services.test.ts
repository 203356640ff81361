// End to end, as an ordinary user (no sudo: README "Without sudo"; root builds this
// lab in challenges.test.ts), on simulated nodes: the article's three Service cases,
// what each of br_netfilter, hairpin and masquerade is for, NodePort from the
// underlay, egress masquerade in conntrack, and exact removal of the rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { labTestContext, netlab, netlabWithEnv, ORDINARY_USERS, snapshotHost, startNetlab } from './host.js';
import { waitFor, watch } from '../wait.js';
import { transportsOf } from '../../src/exec/transports.js';
import { runDown } from '../../src/exec/runner.js';
import { scriptRunOf, type LabState } from '../../src/state/store.js';
import { resolveRequest, sendFirst } from '../../src/trace/trace.js';

const state = labTestContext(ORDINARY_USERS[0]);

interface Report {
  passed: boolean;
  checks: { name: string; ok: boolean; evidence: string; answers?: Record<string, number> }[];
}

async function verify(lab: string, ...options: string[]): Promise<{ exitCode: number; report: Report }> {
  const run = await netlab(state.dir, 'verify', lab, '--json', ...options);
  return { exitCode: run.exitCode, report: JSON.parse(run.stdout) as Report };
}

/** iptables-save's text table by table: the chains (with their policy, without counters) and the rules, in order. */
function tables(save: string): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  let table: string[] | undefined;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) found[line.slice(1)] = table = [];
    else if (table && (line.startsWith(':') || line.startsWith('-A '))) table.push(line.replace(/ \[\d+:\d+\]$/, ''));
  }
  return found;
}

/**
 * A directory to put first in PATH: its socat is the real one, but a TCP
 * responder's shell (socat's SYSTEM: address, verify's responder) starts
 * DELAY seconds late, as a loaded VM's fork and exec can. Each late start is
 * logged, so a test knows the slow responder really answered.
 */
function slowResponders(delay: number): { path: string; starts: () => number; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-slow-'));
  const log = join(dir, 'starts');
  writeFileSync(log, '');
  chmodSync(log, 0o666); // the lab's ordinary user writes it
  writeFileSync(
    join(dir, 'socat'),
    `#!/bin/sh
n=$#
for a; do
  case $a in SYSTEM:*) a="SYSTEM:echo >>${log}; sleep ${delay}; \${a#SYSTEM:}" ;; esac
  set -- "$@" "$a"
done
shift "$n"
PATH=\${PATH#*:} exec socat "$@"
`,
    { mode: 0o755 },
  );
  chmodSync(dir, 0o755);
  return {
    path: `${dir}:${process.env.PATH}`,
    starts: () => readFileSync(log, 'utf8').length,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

interface Traced {
  outcome: string;
  sent?: string;
  hops: { where: string; kind: string; text: string }[];
  problem?: { node: string; where?: string; reason: string; hint?: string };
}

test('service: the three cases of article 001 §5.4 reach every backend, and trace follows its own probe', async () => {
  try {
    // The lab's checks, and two tcp checks that name their target by address: the Service's
    // ClusterIP and port (its backends answer), and pod b's address (b answers); and the Service from a node
    // itself, whose connection is routed before DNAT (a simulated node has no default route to carry it).
    const file = join(state.dir, 'service.yaml');
    writeFileSync(
      file,
      readFileSync(join(LABS, 'service.yaml'), 'utf8').replace(
        /^exercises:/m,
        '  - tcp: { from: c, to: 10.96.0.2, port: 8080 }\n  - tcp: { from: a0, to: 10.200.1.2, port: 9000 }\n  - service: { from: node-2, to: svc-1 }\nexercises:',
      ),
    );
    const up = await netlab(state.dir, 'up', file);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const { exitCode, report } = await verify('service');
    assert.equal(exitCode, 0, JSON.stringify(report, null, 1));
    // A Ctrl-C during the checks stops them, and the TCP responders they started in the pods are stopped before
    // netlab exits (killed where it stood, it left them running until down).
    const responders = async () =>
      (
        await Promise.all(
          ['node-0', 'node-1'].map(
            async (node) =>
              (
                await netlab(
                  state.dir,
                  'exec',
                  node,
                  '--',
                  'sh',
                  '-c',
                  'ls /run/netlab/*/pods/*/listen-* 2>/dev/null; pgrep -a socat',
                )
              ).stdout,
          ),
        )
      )
        .join('')
        .trim();
    assert.equal(await responders(), '', 'no responder before');
    const child = startNetlab(state.dir, {}, 'verify', 'service');
    const running = watch(child);
    await waitFor('the TCP responders of verify', async () => (await responders()) !== '');
    child.kill('SIGINT');
    const stopped = await child;
    assert.equal(stopped.exitCode, 130, running.output);
    assert.match(running.output, /interrupted: the checks were stopped, and the TCP responders they had started/);
    assert.equal(await responders(), '', 'no responder left');
    const [byClusterIp, byPodAddress] = report.checks.slice(4);
    assert.deepEqual(
      [byClusterIp!.name, byClusterIp!.ok, byPodAddress!.name, byPodAddress!.ok],
      ['tcp c → 10.96.0.2:8080', true, 'tcp a0 → 10.200.1.2:9000', true],
    );
    // A tcp check to a Service's ClusterIP spreads over its backends, as a Service check does.
    assert.match(byClusterIp!.evidence, /^21 connections: a0 \d+, b \d+ \(each within/);
    // --connections sets it too (it set a Service check's only).
    const more = await verify('service', '--check', '5', '--connections', '30');
    assert.match(more.report.checks[0]!.evidence, /^30 connections: a0 \d+, b \d+ \(each within/);
    assert.equal(byPodAddress!.evidence, 'answered by b');
    const cases = report.checks.filter((c) => c.name.startsWith('service'));
    assert.deepEqual(
      cases.map((c) => c.name.split(' ')[1]),
      ['c', 'a1', 'a0', 'node-2'],
    );
    for (const c of cases) {
      assert.ok(c.ok, c.name);
      assert.ok(
        c.answers!.a0! > 0 && c.answers!.b! > 0,
        `${c.name}: every backend answered ${JSON.stringify(c.answers)}`,
      );
      assert.equal(c.answers!['-'], 0, `${c.name}: no connection failed`);
    }

    // A backend that answers late is reached, not failed: socat gives up 0.5 s after the
    // side it reads ends unless told otherwise (-t), and the client's stdin and then the
    // responder's client both end at once, while a loaded VM may take longer than that
    // to start the responder's shell (the VM tier saw 1 or 2 of 20 connections lost).
    const slow = slowResponders(0.8);
    try {
      const verifyLate = async (...options: string[]) =>
        (
          JSON.parse(
            (await netlabWithEnv(state.dir, { PATH: slow.path }, 'verify', 'service', '--json', ...options)).stdout,
          ) as Report
        ).checks[0]!;
      const late = await verifyLate('--check', '1', '--connections', '8');
      // (Whether both backends answered is chance at 8 connections: the spread is checked above.)
      const answers = late.answers!;
      assert.deepEqual(
        [answers['-'], answers.a0! + answers.b!],
        [0, 8],
        `every connection to a late responder was answered: ${JSON.stringify(answers)}`,
      );
      assert.equal(slow.starts(), 8, 'each connection was answered by a responder that started late');
      // A tcp check's single connection too (check 6: a0 to pod b's address).
      assert.equal((await verifyLate('--check', '6')).evidence, 'answered by b');
      assert.equal(slow.starts(), 9, 'the tcp check was answered by a responder that started late');
    } finally {
      slow.remove();
    }

    // Egress: pod c reaching a node address leaves masqueraded to node-2's address.
    assert.equal(
      (await netlab(state.dir, 'exec', 'c', '--', 'ping', '-c', '1', '-W', '2', '192.168.64.4')).exitCode,
      0,
    );
    const conntrack = await netlab(state.dir, 'exec', 'node-2', '--', 'conntrack', '-L', '-p', 'icmp');
    assert.match(conntrack.stdout, /src=10\.200\.2\.2 dst=192\.168\.64\.4 .* src=192\.168\.64\.4 dst=192\.168\.64\.6 /);

    // Two runs of checks at once on one lab (a room's grading while a learner checks): each is
    // answered by responders of its own, and neither leaves one behind (the second used to find
    // the port taken, overwrite the first's record, and the first's responder was never stopped).
    const listeners = async () =>
      (await netlab(state.dir, 'exec', 'a0', '--', 'ss', '-Hltn', 'sport = :8080')).stdout.split('\n').filter(Boolean)
        .length;
    const first = verify('service', '--check', '1', '--connections', '200');
    await waitFor("the first run's responder in a0", async () => (await listeners()) > 0);
    const second = await verify('service', '--check', '2', '--connections', '30');
    const together = [await first, second].map((r) => [r.exitCode, r.report.checks[0]!.answers!['-']]);
    assert.deepEqual(together, [
      [0, 0],
      [0, 0],
    ]);
    assert.equal(await listeners(), 0, 'no responder is left in a0');

    // Hairpin off, br_netfilter off, the hairpin masquerade removed: the fault matrix (fault-matrix.test.ts).

    // Another port of a cluster IP: no DNAT takes it (kube-proxy's rules are for TCP port 8080), and no interface
    // has the address; trace says so at node-2, not where the simulated node's route of the Services range sends it.
    const pinged = await netlab(state.dir, 'trace', 'c', '10.96.0.2', '--port', '9999', '--no-send', '--json');
    assert.equal(pinged.exitCode, 1, pinged.stdout + pinged.stderr);
    const { problem } = JSON.parse(pinged.stdout) as Traced;
    assert.deepEqual(problem, {
      node: 'node-2',
      where: 'node-2',
      reason:
        'no DNAT rule of node-2 takes this packet: 10.96.0.2 is the cluster IP of Service svc-1, which no interface has',
      hint: 'only DNAT of tcp port 8080 makes it reachable (trace to the Service by name)',
    });

    // A node's own connection to the cluster IP is routed before DNAT: without the simulated node's route of the
    // Services range (a machine's default route), it fails at connect(), and trace says so there.
    const unrouted = await netlab(state.dir, 'exec', 'node-2', '--', 'ip', 'route', 'del', '10.96.0.0/12');
    assert.equal(unrouted.exitCode, 0, unrouted.stderr);
    try {
      const fromNode = await netlab(state.dir, 'trace', 'node-2', 'svc-1', '--no-send', '--json');
      assert.equal(fromNode.exitCode, 1, fromNode.stdout + fromNode.stderr);
      assert.match(
        (JSON.parse(fromNode.stdout) as Traced).problem!.reason,
        /^no route to 10\.96\.0\.2 in node-2's routing table \(.*\): a node's own connection is routed before nat OUTPUT's DNAT/,
      );
    } finally {
      await netlab(state.dir, 'exec', 'node-2', '--', 'ip', 'route', 'add', '10.96.0.0/12', 'dev', 'eth1');
    }

    // A connection from c: trace follows the endpoint conntrack gave its own probe, never an older
    // connection's (verify above left many from c, to both endpoints), and ends in the pod that answered.
    await verify('service', '--check', '1', '--connections', '16');
    for (let i = 0; i < 6; i++) {
      const traced = await netlab(state.dir, 'trace', 'c', 'svc-1', '--json');
      assert.equal(traced.exitCode, 0, traced.stdout + traced.stderr);
      const trace = JSON.parse(traced.stdout) as Traced;
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

    // A source port trace draws that is taken in the pod (by a program of the user's here; a connection of an
    // earlier trace in TIME_WAIT that drew the same port is the other way): the probe draws another, and says
    // so. It used to report the bind's failure as the probe's, and walk an older connection's entry. (Ports
    // below the probe's own range, 20000-29999: the traces above may have drawn any of those.)
    const live = JSON.parse(readFileSync(join(state.dir, 'labs', 'service.json'), 'utf8')) as LabState;
    const held = (
      await netlab(
        state.dir,
        'exec',
        'c',
        '--',
        'sh',
        '-c',
        'timeout 60 socat TCP-LISTEN:19998 /dev/null </dev/null >/dev/null 2>&1 & echo $!',
      )
    ).stdout.trim();
    try {
      await waitFor('a listener on port 19998 in pod c', async () =>
        (await netlab(state.dir, 'exec', 'c', '--', 'ss', '-Hltn', 'sport = :19998')).stdout.includes('19998'),
      );
      const request = resolveRequest(live.model, live.facts, 'c', 'svc-1');
      const probe = await sendFirst(
        live.model,
        live.facts,
        transportsOf(live),
        request,
        undefined,
        [19998, 19999][Symbol.iterator](),
      );
      assert.deepEqual([probe!.answered, probe!.sourcePort], [true, 19999], probe!.text);
      assert.match(probe!.text, /from source port 19999 \(19998 was taken in pod c\) first/);
    } finally {
      await netlab(state.dir, 'exec', 'c', '--', 'kill', held);
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
    const withOurs = tables((await netlab(state.dir, 'exec', 'node-0', '--', 'iptables-save')).stdout);
    assert.ok(
      withOurs.filter?.includes('-A FORWARD -m comment --comment "netlab lab service" -j NETLAB-FWD-service'),
      JSON.stringify(withOurs),
    );
    assert.ok(withOurs.nat?.includes(':NL-SERVICES-service -'), JSON.stringify(withOurs));
    // The user's state, read as the file it is: root's netlab refuses a state directory of another user's.
    const outcomes = await runDown('service', transportsOf(live), scriptRunOf(live));
    assert.deepEqual(
      Object.values(outcomes).map((o) => o.found),
      ['undone', 'undone', 'undone'],
    );
    // What node-0 had before up (a fresh node: empty tables, every policy ACCEPT) and the user's chain and rule.
    const afterDown = tables((await netlab(state.dir, 'exec', 'node-0', '--', 'iptables-save')).stdout);
    assert.deepEqual(afterDown.filter, [':INPUT ACCEPT', ':FORWARD ACCEPT', ':OUTPUT ACCEPT']);
    assert.deepEqual(afterDown.nat, [
      ':PREROUTING ACCEPT',
      ':INPUT ACCEPT',
      ':OUTPUT ACCEPT',
      ':POSTROUTING ACCEPT',
      ':USER-CHAIN -',
      '-A PREROUTING -p tcp -m tcp --dport 9999 -j USER-CHAIN',
    ]);
    // Any other table iptables-save shows holds its built-in chains alone, as in a fresh node.
    for (const [table, lines] of Object.entries(afterDown))
      if (table !== 'filter' && table !== 'nat')
        for (const line of lines) assert.match(line, /^:[A-Z]+ ACCEPT$/, `table ${table}`);
  } finally {
    await netlab(state.dir, 'down', 'service');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

test('nodeport: reached from the underlay on every node', async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'nodeport.yaml'), '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    // A NodePort check spreads its connections over the backends: every one must answer.
    assert.match(up.stdout, /✓ pass\s+tcp node-1 → node-0:30080\s+reached: 21 connections: a0 \d+, b \d+ \(each/);
    assert.match(up.stdout, /✓ pass\s+tcp node-0 → node-1:30080\s+reached: 21 connections: a0 \d+, b \d+ \(each/);
    assert.match(up.stdout, /✓ pass\s+service a0 → service web \(10\.96\.0\.2:80\)\s+reached/);
    // The lab's own hint: trace walks a NodePort connection through node-0's nat table to the endpoint DNAT
    // chose, a pod, which is where it was meant to go (the node's address only named the NodePort).
    const traced = await netlab(state.dir, 'trace', 'node-1', 'node-0', '--port', '30080', '--no-send', '--json');
    assert.equal(traced.exitCode, 0, traced.stdout + traced.stderr);
    const walk = JSON.parse(traced.stdout) as Traced;
    assert.equal(walk.outcome, 'delivered', JSON.stringify(walk.problem));
    assert.ok(walk.hops.some((h) => h.kind === 'dnat'));
    assert.match(walk.hops.at(-1)!.where, /^pod (a0|b)$/);
    // Without node-0's masquerade for NodePort connections, those DNAT sends to b on node-1 fail
    // (b answers node-1 directly, which never asked b): a NodePort that works for one backend only
    // fails its check (one connection passed whenever it picked a0).
    const mark = ['NL-NODEPORTS-nodeport', '-p', 'tcp', '--dport', '30080', '-j', 'NL-MARK-MASQ-nodeport'];
    const unmark = await netlab(state.dir, 'exec', 'node-0', '--', 'iptables', '-t', 'nat', '-D', ...mark);
    assert.equal(unmark.exitCode, 0, unmark.stderr);
    const half = JSON.parse((await netlab(state.dir, 'verify', 'nodeport', '--check', '1', '--json')).stdout) as Report;
    assert.equal(half.checks[0]!.ok, false, half.checks[0]!.evidence);
    assert.match(half.checks[0]!.evidence, /^\d+ connections: a0 \d+, b 0; \d+ failed/);
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
