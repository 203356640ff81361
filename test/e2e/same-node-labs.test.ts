// End to end, as root, on simulated nodes: the same-node labs go up, verify,
// and go down leaving the host exactly as it was.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LABS, NETLAB } from '../paths.js';
import { asUserArgv, loginEnv, netlab, snapshotHost, stateDirForTest, type HostSnapshot, type Run } from './host.js';
import { waitFor } from '../wait.js';

const state = stateDirForTest();
after(() => state.remove());

let pristine: Awaited<ReturnType<typeof snapshotHost>>;
before(async () => {
  pristine = await snapshotHost();
});

for (const lab of ['loopback', 'veth', 'bridge']) {
  test(`${lab}: up --verify passes, the host is untouched while up, and down leaves nothing`, async () => {
    let down: Run;
    try {
      const up = await netlab(state.dir, 'up', join(LABS, `${lab}.yaml`), '--verify');
      assert.equal(up.exitCode, 0, up.stdout + up.stderr);
      assert.match(up.stdout, /all \d+ checks passed/);
      const during = await snapshotHost();
      const { processes: _p, ...hostWhileUp } = during;
      const { processes: _q, ...hostBefore } = pristine;
      assert.deepEqual(
        hostWhileUp,
        hostBefore,
        'a simulated lab must not change the host namespace, its mounts or iptables',
      );
      assert.ok(
        during.processes.some((p) => new RegExp(`netlab-sim:${lab}:[0-9a-f]{8}:node-0`).test(p)),
        'the simulated node holder runs',
      );

      const verify = await netlab(state.dir, 'verify', lab, '--json');
      assert.equal(verify.exitCode, 0, verify.stderr);
      const report = JSON.parse(verify.stdout) as { passed: boolean; checks: { ok: boolean; reached: boolean }[] };
      assert.equal(report.passed, true);
      assert.ok(report.checks.length >= 2 && report.checks.every((c) => c.ok && c.reached));

      const status = await netlab(state.dir, 'status', '--json');
      const { labs } = JSON.parse(status.stdout) as {
        labs: { lab: string; status: string; nodes: { running: boolean }[] }[];
      };
      assert.deepEqual(
        labs.map((l) => [l.lab, l.status, l.nodes.every((n) => n.running)]),
        [[lab, 'up', true]],
      );
    } finally {
      down = await netlab(state.dir, 'down', lab);
    }
    assert.equal(down.exitCode, 0, down.stderr);
    assert.deepEqual(await snapshotHost(), pristine);
    const again = await netlab(state.dir, 'down', lab);
    assert.equal(again.exitCode, 0, 'down twice is fine');
    assert.match(again.stdout, /not up/);
  });
}

test('exec runs inside the pod: its hostname, its interfaces, its routes', async () => {
  try {
    assert.equal((await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'))).exitCode, 0);
    const hostname = await netlab(state.dir, 'exec', 'a1', '--', 'hostname');
    assert.equal(hostname.stdout.trim(), 'a1');
    const addr = await netlab(state.dir, 'exec', 'a0', '--', 'ip', '-br', 'addr', 'show', 'veth-a0-c');
    assert.match(addr.stdout, /10\.200\.0\.2\/24/);
    const route = await netlab(state.dir, 'exec', 'a0', '--', 'ip', 'route');
    assert.match(route.stdout, /default via 10\.200\.0\.1 dev veth-a0-c/);
    const failing = await netlab(state.dir, 'exec', 'a0', '--', 'sh', '-c', 'exit 3');
    assert.equal(failing.exitCode, 3, 'the command exit code is passed through');
    // The command is the pod's, never one of nsenter's options (`-t 1` would enter the node's PID 1).
    const option = await netlab(state.dir, 'exec', 'a0', '--', '-t', '1', 'hostname');
    assert.equal(option.exitCode, 127, option.stdout + option.stderr);
    assert.doesNotMatch(option.stdout, /node-0/);
    const unknown = await netlab(state.dir, 'exec', 'zz', '--', 'true');
    assert.equal(unknown.exitCode, 2);
    assert.match(unknown.stderr, /no pod "zz"/);
    await assertIpv4Only('a0');
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
  // The pod's end made in the pod (veth-peer: in-pod) is IPv4-only as well.
  const inPod = join(state.dir, 'bridge-in-pod.yaml');
  writeFileSync(
    inPod,
    readFileSync(join(LABS, 'bridge.yaml'), 'utf8')
      .replace('name: bridge', 'name: bridge-ip')
      .replace(/^wiring:\n/m, 'wiring:\n  veth-peer: in-pod\n'),
  );
  try {
    assert.equal((await netlab(state.dir, 'up', inPod)).exitCode, 0);
    await assertIpv4Only('a0');
  } finally {
    await netlab(state.dir, 'down', 'bridge-ip');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

/**
 * A pod speaks IPv4 only: no IPv6 address on lo or its veth end, and IPv6 off
 * on that end. With IPv6 on, the duplicate-address probes, router solicitations
 * and listener reports of hundreds of pods, flooded by the bridges and VXLAN,
 * overflowed the kernel's input queue right after `up` of the scale lab and
 * took the first verify's ARP requests with them (1 of 4 checks failed in 2 of
 * 4 runs of `up scale --verify` before, none in 6 after).
 */
async function assertIpv4Only(pod: string): Promise<void> {
  const v6 = await netlab(state.dir, 'exec', pod, '--', 'ip', '-6', '-o', 'addr');
  assert.equal(v6.exitCode, 0, v6.stderr);
  assert.equal(v6.stdout.trim(), '', `no IPv6 address in pod ${pod}`);
  const off = await netlab(state.dir, 'exec', pod, '--', 'cat', `/proc/sys/net/ipv6/conf/veth-${pod}-c/disable_ipv6`);
  assert.equal(off.stdout.trim(), '1');
}

test("a ping answered by the sender itself (another pod's or its gateway's address added to its own loopback) is no pass", async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    // a1's address, 10.200.0.3, and node-0's bridge address, 10.200.0.1, on a0's own lo: a0's kernel answers
    // a0's pings itself, to a1 (named) and to the gateway (by its address, which the plan gives br0).
    for (const address of ['10.200.0.3/32', '10.200.0.1/32']) {
      const added = await netlab(state.dir, 'exec', 'a0', '--', 'ip', 'addr', 'add', address, 'dev', 'lo');
      assert.equal(added.exitCode, 0, added.stderr);
    }
    const verify = await netlab(state.dir, 'verify', 'bridge', '--check', '1', '--check', '3', '--json');
    assert.equal(verify.exitCode, 1, verify.stdout + verify.stderr);
    const checks = (JSON.parse(verify.stdout) as { checks: { ok: boolean; evidence: string }[] }).checks;
    assert.deepEqual(
      checks.map((c) => [c.ok, c.evidence]),
      [
        [
          false,
          'answered by a0 itself: 10.200.0.3 is an address of its own (ip route get says local), so the ping never reached pod a1',
        ],
        [
          false,
          'answered by a0 itself: 10.200.0.1 is an address of its own (ip route get says local), so the ping never reached node-0',
        ],
      ],
    );
    // Without them, a1 and the gateway answer again.
    for (const address of ['10.200.0.3/32', '10.200.0.1/32']) {
      const removed = await netlab(state.dir, 'exec', 'a0', '--', 'ip', 'addr', 'del', address, 'dev', 'lo');
      assert.equal(removed.exitCode, 0, removed.stderr);
    }
    assert.equal((await netlab(state.dir, 'verify', 'bridge', '--check', '1,3')).exitCode, 0, 'a1 answers again');
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

test('a check that must pass but cannot is reported as failed, with exit code 1', async () => {
  const file = join(state.dir, 'unwired.yaml');
  writeFileSync(
    file,
    [
      'name: unwired',
      'nodes: { node-0: {}, node-1: {} }',
      'pods:',
      '  a0: { node: node-0 }',
      '  b: { node: node-1 }   # no cross-node wiring: b is not reachable from a0',
      'verify:',
      '  - ping: { from: a0, to: 10.200.0.1 }',
      '  - ping: { from: a0, to: b }',
      '  - tcp: { from: a0, to: b, port: 8080, expect: fail }',
    ].join('\n'),
  );
  try {
    const up = await netlab(state.dir, 'up', file, '--verify');
    assert.equal(up.exitCode, 1, up.stdout + up.stderr);
    assert.match(up.stdout, /✓ pass\s+ping a0 → 10\.200\.0\.1/);
    assert.match(up.stdout, /✗ FAIL\s+ping a0 → b \(10\.200\.1\.2\)\s+not reached/);
    assert.match(up.stdout, /✓ pass\s+tcp a0 → b:8080 .*not reached \(expected to fail\)/);
    assert.match(up.stdout, /1 of 3 checks failed/);
    // up said so before it built the lab, as validate warns (and built it all the same).
    const warning =
      /^\S+unwired\.yaml:8:11: warning: verify\.1\.ping: a0 is on node-0 and b on node-1, but cross-node: none joins no nodes: this check cannot pass/m;
    assert.match(up.stderr, warning);
    const verify = await netlab(state.dir, 'verify', 'unwired');
    assert.equal(verify.exitCode, 1);
    // The second up reads the lab from the cache of valid labs, and says it as well.
    assert.equal((await netlab(state.dir, 'down', 'unwired')).exitCode, 0);
    const cache = join(state.dir, 'cache');
    assert.ok(
      readdirSync(cache).some(
        (entry) =>
          (JSON.parse(readFileSync(join(cache, entry), 'utf8')) as { model: { file: string } }).model.file === file,
      ),
      'the first up kept the lab in the cache',
    );
    const again = await netlab(state.dir, 'up', file);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stderr, warning);
  } finally {
    await netlab(state.dir, 'down', 'unwired');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

test('bad input: exit 2, every problem listed, nothing started', async () => {
  const up = await netlab(state.dir, 'up', join('test', 'golden', 'invalid', 'typos.yaml'));
  assert.equal(up.exitCode, 2);
  // Every problem of the file, each on its line, as validate's golden file lists them (not only the first).
  const expected = readFileSync(join('test', 'golden', 'invalid', 'typos.errors'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(expected.length, 8);
  for (const problem of expected) assert.ok(up.stderr.includes(problem), `up lists: ${problem}\n${up.stderr}`);
  assert.doesNotMatch(up.stderr, /internal error|at .*\.js/);
  assert.equal(existsSync(join(state.dir, 'labs', 'typos.json')), false);
  assert.deepEqual(await snapshotHost(), pristine);
});

test("a node's underlay address off the simulated segment: exit 2 at up, named, nothing started", async () => {
  // On a Vagrant host-only network the address would be the machines' own to route; simulated nodes share one
  // /24, and a node given another subnet's address there reached no other node.
  const file = join(state.dir, 'off-segment.yaml');
  writeFileSync(
    file,
    readFileSync(join(LABS, 'vxlan.yaml'), 'utf8').replace(
      /^ {2}node-1: \{\}$/m,
      '  node-1: { underlay: { address: 192.168.65.5 } }',
    ),
  );
  assert.match(readFileSync(file, 'utf8'), /192\.168\.65\.5/, 'the lab file gives node-1 its address');
  let up: Run;
  let host: HostSnapshot;
  let status: Run;
  try {
    up = await netlab(state.dir, 'up', file);
    host = await snapshotHost();
    status = await netlab(state.dir, 'status', 'vxlan');
  } finally {
    // (an up that was not refused made a lab: gone, whatever the assertions below say)
    await netlab(state.dir, 'down', 'vxlan');
  }
  assert.equal(up.exitCode, 2, up.stdout + up.stderr);
  assert.match(
    up.stderr,
    /nodes\.node-1\.underlay\.address: found 192\.168\.65\.5; on simulated nodes the underlay is the one segment 192\.168\.64\.0\/24/,
  );
  assert.deepEqual(host, pristine, 'nothing started');
  assert.equal(status.exitCode, 2, 'no lab vxlan recorded');
});

test('a state directory that cannot be written: a clear message, exit 2, nothing started', async () => {
  const { execa } = await import('execa');
  // nobody's home (/nonexistent) has no ~/.local/state: it says where it would write, and what to set.
  const asNobody = await execa(...asUserArgv(65534, [NETLAB, 'up', join(LABS, 'bridge.yaml')]), {
    reject: false,
    env: loginEnv('/nonexistent'),
    extendEnv: false,
  });
  assert.equal(asNobody.exitCode, 2);
  assert.match(
    String(asNobody.stderr),
    /cannot create \/nonexistent\/\.local\/state\/netlab\/locks: .*\(set XDG_STATE_HOME \(or NETLAB_STATE_DIR\) to a writable directory\)/,
  );
  // (root may write anywhere that is writable at all: a path under a file cannot be)
  const readOnly = await netlab('/etc/hostname/netlab', 'up', join(LABS, 'bridge.yaml'));
  assert.equal(readOnly.exitCode, 2);
  assert.match(
    readOnly.stderr,
    /cannot create \/etc\/hostname\/netlab\/locks: .*\(set NETLAB_STATE_DIR to a writable directory\)/,
  );
  assert.doesNotMatch(readOnly.stderr + String(asNobody.stderr), /internal error| {4}at /);
  assert.deepEqual(await snapshotHost(), pristine);
});

test('status reports drift from what netlab made; up says what changed in the file and --recreate rebuilds', async () => {
  const file = join(state.dir, 'drift.yaml');
  writeFileSync(file, 'name: drift\nnodes: { node-0: {} }\npods: { a0: { node: node-0 }, a1: { node: node-0 } }\n');
  try {
    assert.equal((await netlab(state.dir, 'up', file)).exitCode, 0);
    type Status = { labs: { lab: string; drift: { findings: { node: string; what: string }[] } }[] };
    const cleanRun = await netlab(state.dir, 'status', '--json');
    assert.equal(cleanRun.exitCode, 0);
    const clean = JSON.parse(cleanRun.stdout) as Status;
    assert.equal(clean.labs[0]!.drift.findings.length, 0);
    // a0 learns a1's MAC first (trace follows the neighbour entry the kernel has).
    assert.equal((await netlab(state.dir, 'exec', 'a0', '--', 'ping', '-c', '1', '-W', '2', '10.200.0.3')).exitCode, 0);
    // A port taken off its bridge, and a pod's default route through another gateway: still there, but not as made.
    await netlab(state.dir, 'exec', 'node-0', '--', 'ip', 'link', 'set', 'veth-a0', 'nomaster');
    await netlab(state.dir, 'exec', 'a0', '--', 'ip', 'route', 'replace', 'default', 'via', '10.200.0.3');
    const changedRun = await netlab(state.dir, 'status', '--json');
    assert.equal(changedRun.exitCode, 1, changedRun.stdout);
    assert.deepEqual(
      (JSON.parse(changedRun.stdout) as Status).labs[0]!.drift.findings.map((f) => [f.node, f.what]),
      [
        ['node-0', 'veth-a0 is not a port of br0'],
        [
          'node-0',
          'in pod namespace a0: route default goes via 10.200.0.3 dev veth-a0-c, but the lab routes it via 10.200.0.1',
        ],
      ],
    );
    // trace agrees: the frame for the bridge's MAC is another host's on a port of no bridge.
    const off = await netlab(state.dir, 'trace', 'a0', 'a1', '--no-send', '--json');
    assert.match(
      (JSON.parse(off.stdout) as { problem: { reason: string } }).problem.reason,
      /but veth-a0 \(\S+\) is a port of no bridge \(the lab makes it one of br0\): node-0 drops it as another host's/,
    );
    await netlab(state.dir, 'exec', 'node-0', '--', 'ip', 'link', 'set', 'veth-a0', 'master', 'br0');
    await netlab(state.dir, 'exec', 'a0', '--', 'ip', 'route', 'replace', 'default', 'via', '10.200.0.1');
    await netlab(state.dir, 'exec', 'node-0', '--', 'ip', 'link', 'del', 'veth-a1');
    const driftRun = await netlab(state.dir, 'status', '--json');
    assert.equal(driftRun.exitCode, 1, 'status exits 1 on drift');
    const drifted = JSON.parse(driftRun.stdout) as Status;
    // Deleting one end of a veth pair deletes the other, in pod a1, and the pod's routes through it.
    assert.deepEqual(
      drifted.labs[0]!.drift.findings.map((f) => [f.node, f.what]),
      [
        ['node-0', 'link veth-a1 is missing'],
        ['node-0', 'in pod namespace a1: link veth-a1-c is missing'],
        ['node-0', 'in pod namespace a1: route default is missing'],
      ],
    );

    assert.match((await netlab(state.dir, 'up', file)).stdout, /already up and its file is unchanged/);
    // The file is unchanged but the lab is broken (veth-a1 deleted above): --verify still runs the checks, and they decide.
    const again = await netlab(state.dir, 'up', file, '--verify');
    assert.equal(again.exitCode, 1, again.stdout + again.stderr);
    assert.match(again.stdout, /its file is unchanged; nothing to build[\s\S]*checks failed/);
    writeFileSync(
      file,
      'name: drift\nnodes: { node-0: {} }\npods: { a0: { node: node-0 }, a1: { node: node-0, ip: 10.200.0.9 }, a2: { node: node-0 } }\n',
    );
    const changed = await netlab(state.dir, 'up', file);
    assert.equal(changed.exitCode, 2);
    assert.match(
      changed.stderr,
      /already up from a different version of .*drift\.yaml: pod a2 added; pod a1 changed; verify checks changed\. Run `netlab up .* --recreate`/,
    );
    // Moved to machines that do not answer (nothing listens on port 9 of this host's loopback): refused before
    // the lab here is taken down, and it stays up.
    const refused = join(state.dir, 'refused.ssh');
    writeFileSync(refused, 'Host node-0\n  HostName 127.0.0.1\n  Port 9\n');
    const moved = await netlab(state.dir, 'up', file, '--recreate', '--ssh-config', refused);
    assert.equal(moved.exitCode, 1, moved.stdout + moved.stderr);
    assert.match(moved.stderr, /nothing was changed/);
    assert.doesNotMatch(moved.stdout, /taking down/);
    const still = await netlab(state.dir, 'status', '--json');
    assert.deepEqual(
      (JSON.parse(still.stdout) as Status).labs.map((l) => [l.lab, l.drift.findings.length]),
      [['drift', 3]],
      'still up on simulated nodes, as it was',
    );
    const recreated = await netlab(state.dir, 'up', file, '--recreate', '--verify');
    assert.equal(recreated.exitCode, 0, recreated.stdout + recreated.stderr);
    assert.match(
      (await netlab(state.dir, 'exec', 'a1', '--', 'ip', '-br', 'addr', 'show', 'veth-a1-c')).stdout,
      /10\.200\.0\.9\/24/,
    );
    assert.match(
      (await netlab(state.dir, 'down', 'nosuch')).stdout,
      /lab nosuch is not up; nothing to do \(up: drift\)/,
    );
    // With one lab up, down needs no name.
    const down = await netlab(state.dir, 'down');
    assert.equal(down.exitCode, 0, down.stderr);
    assert.match(down.stdout, /lab drift is down/);
  } finally {
    await netlab(state.dir, 'down', 'drift');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

test('a bundled lab by name from any directory, and --json (with its version) from every command that reports', async () => {
  // Run from a directory with no labs/ in it: `veth` can only be the bundled lab.
  const elsewhere = mkdtempSync(join(tmpdir(), 'netlab-cwd-'));
  const run = async (...args: string[]) => {
    const result = await execa(NETLAB, args, {
      cwd: elsewhere,
      reject: false,
      stdin: 'ignore',
      env: { NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
    });
    return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
  };
  const json = <T>(r: { stdout: string; stderr: string }, what: string): T & { version: number } => {
    const parsed = JSON.parse(r.stdout) as T & { version: number };
    assert.equal(parsed.version, 1, `${what}: the output format's version`);
    return parsed;
  };
  try {
    const up = await run('up', 'veth', '--verify', '--json');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const upped = json<{
      lab: string;
      status: string;
      file: string;
      pods: { name: string }[];
      verify: { passed: boolean };
    }>(up, 'up');
    assert.deepEqual([upped.lab, upped.status, upped.file], ['veth', 'up', join(LABS, 'veth.yaml')]);
    assert.equal(upped.verify.passed, true);
    assert.match(up.stderr, /phase/, 'the progress goes to stderr');
    assert.equal(json<{ labs: { lab: string }[] }>(await run('status', '--json'), 'status').labs[0]!.lab, 'veth');
    const routes = json<{ outputs: { output: { dst: string }[] }[] }>(
      await run('show', 'a0', 'routes', '--json'),
      'show',
    );
    assert.ok(
      routes.outputs[0]!.output.some((r) => r.dst === '10.200.0.0/24' || r.dst === '10.200.0.3'),
      up.stdout,
    );
    const graph = json<{ nodes: { boxes: { label: string }[] }[] }>(await run('graph', 'veth', '--json'), 'graph');
    assert.ok(graph.nodes[0]!.boxes.some((b) => /^pod a0\n/.test(b.label)));
    const verify = json<{ passed: boolean }>(await run('verify', 'veth', '--json'), 'verify');
    assert.equal(verify.passed, true);
    // The target was recorded by up: another one is refused, naming what the lab is up on.
    for (const command of [['verify'], ['challenge', 'check'], ['exec', 'a0', '--lab']]) {
      const other = await run(
        ...command,
        'veth',
        '--ssh-config',
        '/nonexistent/config',
        ...(command[0] === 'exec' ? ['--', 'true'] : []),
      );
      assert.equal(other.exitCode, 2, `${command.join(' ')}: ${other.stdout}${other.stderr}`);
      assert.match(other.stderr, /lab veth is up on simulated nodes on this host, not on the machines of --ssh-config/);
    }
    const down = await run('down', 'veth', '--json');
    assert.equal(down.exitCode, 0, down.stderr);
    const downed = json<{ lab: string; nodes: Record<string, { found: string }> }>(down, 'down');
    assert.deepEqual([downed.lab, downed.nodes['node-0']?.found], ['veth', 'undone']);
  } finally {
    await netlab(state.dir, 'down', 'veth');
    rmSync(elsewhere, { recursive: true, force: true });
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

/**
 * What a pod's pause process is, read on a node: the process that is PID 1 of
 * its own PID namespace among those in the pod's network namespace, its child
 * (the sleep it waits for), its parent, its hostname, and the namespaces it has
 * of its own (compared with the reading shell's, which are the node's).
 */
const PAUSE_FACTS = [
  'for p in $(ip netns pids pod); do',
  '  [ "$(awk \'/^NSpid/ {print $NF}\' /proc/$p/status)" = 1 ] || continue',
  "  pp=$(awk '/^PPid/ {print $2}' /proc/$p/status)",
  '  echo "pid1 $(cat /proc/$p/comm)"',
  '  c=$(cat /proc/$p/task/$p/children); echo "child $(cat /proc/${c%% *}/comm 2>/dev/null)"',
  '  echo "parent $(cat /proc/$pp/comm)"',
  '  echo "hostname $(nsenter -t $p -u hostname)"',
  '  [ "$(stat -L -c %i /proc/$p/ns/net)" = "$(stat -L -c %i /run/netns/pod)" ] && echo "net: the pod\'s"',
  '  for n in uts ipc pid; do [ "$(readlink /proc/$p/ns/$n)" != "$(readlink /proc/self/ns/$n)" ] && echo "$n: its own"; done',
  'done',
  'true',
].join('\n');

test("the loopback lab's pause step, typed by hand as plan shows it, makes the same pause process as netlab_pause", async () => {
  // The commands plan shows under `netlab_pause pod` (after `#   = `), and step 1's own command.
  const plan = await netlab(state.dir, 'plan', join(LABS, 'loopback.yaml'));
  assert.equal(plan.exitCode, 0, plan.stderr);
  const lines = plan.stdout.split('\n');
  const at = lines.indexOf('netlab_pause pod');
  assert.ok(at > 0, plan.stdout);
  const byHand: string[] = [];
  for (let i = at + 1; lines[i]?.startsWith('#   = '); i++) byHand.push(lines[i]!.slice('#   = '.length));
  assert.deepEqual(byHand, [
    'ip netns exec pod unshare --uts --ipc --pid --fork --kill-child sh -c \'hostname pod; trap "" TERM; sleep infinity & wait\' &',
  ]);
  assert.ok(lines.includes('ip netns add pod'));

  // The loopback lab's pod on node-0, made by netlab; node-1, fresh, where the same is typed by hand.
  const file = join(state.dir, 'byhand.yaml');
  writeFileSync(
    file,
    [
      'name: byhand',
      'nodes: { node-0: {}, node-1: {} }',
      'pods:',
      '  pod: { node: node-0, containers: [a0, a1] }',
      'wiring:',
      '  same-node: loopback',
      '',
    ].join('\n'),
  );
  const facts = async (node: string) => {
    const read = await netlab(state.dir, 'exec', node, '--', 'sh', '-c', PAUSE_FACTS);
    assert.equal(read.exitCode, 0, read.stderr);
    return read.stdout.trim().split('\n');
  };
  try {
    const up = await netlab(state.dir, 'up', file);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const expected = [
      'pid1 sh',
      'child sleep',
      'parent unshare',
      'hostname pod',
      "net: the pod's",
      'uts: its own',
      'ipc: its own',
      'pid: its own',
    ];
    assert.deepEqual(await facts('node-0'), expected, 'what netlab_pause made');
    assert.deepEqual(await facts('node-1'), [''], 'node-1 has no pod yet');
    // Typed as a shell on a VM would run them; the background process keeps no pipe of netlab exec open.
    const typed = await netlab(
      state.dir,
      'exec',
      'node-1',
      '--',
      'sh',
      '-c',
      `ip netns add pod && { ${byHand.join('\n')}\n} </dev/null >/dev/null 2>&1`,
    );
    assert.equal(typed.exitCode, 0, typed.stderr);
    // unshare forks, and its child sets the hostname, then starts its sleep: wait for it (no event says when).
    const made = await waitFor('the pause process typed by hand on node-1', async () => {
      const now = await facts('node-1');
      return now.includes('child sleep') && now;
    });
    assert.deepEqual(made, expected, 'typed by hand: the same namespaces, hostname and process');
  } finally {
    await netlab(state.dir, 'down', 'byhand');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});
