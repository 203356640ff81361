// The workshop tools on a live VXLAN lab: graph (valid DOT with every pod and
// link, live interface names), capture (the encapsulated ping on the underlay),
// show (tables with netlab's objects).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { LABS, NETLAB } from '../paths.js';
import { quoteArgv } from '../../src/os/quote.js';
import { netlab, snapshotHost, stateDirForTest, type HostSnapshot } from './host.js';
import { waitFor, watch, within } from '../wait.js';

const state = stateDirForTest();
let pristine: HostSnapshot;
before(async () => {
  pristine = await snapshotHost();
  const up = await netlab(state.dir, 'up', join(LABS, 'vxlan.yaml'));
  assert.equal(up.exitCode, 0, up.stderr);
  // up keeps the valid lab's model in the state directory's cache (src/lab/cached.ts): the next up reads it there.
  assert.equal(readdirSync(join(state.dir, 'cache')).length, 1);
});
after(async () => {
  await netlab(state.dir, 'down', 'vxlan');
  state.remove();
  assert.deepEqual(await snapshotHost(), pristine);
});

test('graph --format dot is valid DOT (rendered by dot) with every pod, link and live interface name', async () => {
  const dot = await netlab(state.dir, 'graph', 'vxlan', '--format', 'dot');
  assert.equal(dot.exitCode, 0, dot.stderr);
  const rendered = await execa('dot', ['-Tsvg'], { input: dot.stdout, reject: false });
  assert.equal(rendered.exitCode, 0, String(rendered.stderr));
  assert.match(String(rendered.stdout), /<svg/);
  for (const name of ['pod a0', 'pod a1', 'br0', 'br1', 'vxlan0', '192.168.64.4', '192.168.64.5', 'underlay'])
    assert.ok(dot.stdout.includes(name), name);
  // both ends of each veth pair, with the kernel's peer index as `ip link` shows it
  assert.match(dot.stdout, /veth-a0-c@if\d+ ⇄ veth-a0@if\d+/);
  assert.match(dot.stdout, /veth-a1-c@if\d+ ⇄ veth-a1@if\d+/);
  const text = await netlab(state.dir, 'graph', join(LABS, 'vxlan-3.yaml'));
  assert.match(text.stdout, /└─ node-2 {2}eth1 192\.168\.64\.6/);
  const mermaid = await netlab(state.dir, 'graph', 'vxlan', '--format', 'mermaid');
  assert.match(mermaid.stdout, /^graph TB\n/);
});

test('capture on the underlay shows the VXLAN packet (UDP 4789, VNI 100) around the ping between the pods', async () => {
  const capture = spawn(
    NETLAB,
    ['capture', 'node-0', '--count', '4', '--timeout', '15', '--filter', 'udp port 4789 and not dst host 239.1.1.1'],
    { env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => capture.on('close', resolve));
  const output = watch(capture);
  await output.until('listening on', { timeoutMs: 10_000 });
  await netlab(state.dir, 'exec', 'a0', '--', 'ping', '-c', '3', '-i', '0.2', '10.200.1.2');
  const code = await exited;
  const out = output.output;
  assert.equal(code, 0, out);
  assert.match(
    out,
    /192\.168\.64\.\d\.\d+ > 192\.168\.64\.\d\.4789: VXLAN, flags \[I\] \(0x08\), vni 100\n.*10\.200\.0\.2 > 10\.200\.1\.2: ICMP echo request/,
  );
});

// A terminal's Ctrl-C goes to netlab's whole process group, tcpdump's timeout included; `kill` or a service
// manager's SIGTERM to netlab alone reaches no process on the node, which netlab stops itself.
for (const [signal, to] of [
  ['SIGINT', 'group'],
  ['SIGTERM', 'netlab'],
] as const)
  test(`${signal} to ${to === 'group' ? "netlab's whole process group (Ctrl-C in a terminal)" : 'netlab alone (kill)'} stops a capture and its tcpdump on the node`, async () => {
    // Its own process group (detached), which the test signals as a terminal would.
    const capture = spawn(NETLAB, ['capture', 'node-0', '--count', '1000', '--timeout', '60'], {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    // netlab's own exit ('close' would wait for every process holding its output: a tcpdump left running too).
    const exited = new Promise<number | null>((resolve) => capture.on('exit', resolve));
    const output = watch(capture);
    const tcpdumps = async () =>
      (await netlab(state.dir, 'exec', 'node-0', '--', 'sh', '-c', 'pgrep -x tcpdump || true')).stdout.trim();
    let left: string;
    try {
      await output.until('listening on', { timeoutMs: 10_000 });
      assert.notEqual(await tcpdumps(), '', 'tcpdump runs on node-0');
      process.kill(to === 'group' ? -capture.pid! : capture.pid!, signal);
      // At once, not at the capture's timeout (60 s), when tcpdump would have ended by itself.
      const code = await within(exited, 10_000, `netlab ends after ${signal}`);
      // Told apart from a capture that ended: 128 + the signal's number, as a shell says it.
      if (signal === 'SIGTERM') assert.equal(code, 143, output.output);
      left = await waitFor('no tcpdump left on node-0', async () => ((await tcpdumps()) === '' ? 'none' : false), {
        timeoutMs: 5_000,
      }).catch(async () => tcpdumps());
    } finally {
      try {
        process.kill(-capture.pid!, 'SIGKILL');
      } catch {
        // the group is gone
      }
      await exited;
      await netlab(state.dir, 'exec', 'node-0', '--', 'sh', '-c', 'pkill -x tcpdump || true');
    }
    assert.equal(left, 'none', `tcpdump still running on node-0 after ${signal}: ${left}`);
  });

// A process whose parent ends first is given to PID 1 of its PID namespace, which must wait for it when it
// ends, as an init does: a simulated node's PID 1 did not, nor did a pod's pause (a bare sleep), and each such
// process stayed a zombie until down (the node's `timeout` of a capture stopped by Ctrl-C, or anything a
// learner started with `&` and left, on the node or in a pod).
for (const [where, what] of [
  ['node-0', "a simulated node's PID 1"],
  ['a0', "a pod's pause, its PID 1,"],
] as const)
  test(`${what} reaps the processes left to it: no zombie stays on the node`, async () => {
    const orphans = [
      // A subshell starts a short sleep and ends first: the sleep is left to PID 1, and ends 0.2 s later. It says
      // its PID as /proc numbers it (the node's: a pod has no /proc of its own, and $! would be the pod's number).
      `p=$( (sh -c 'read -r pid _ </proc/self/stat; echo "$pid"; exec sleep 0.2 >/dev/null 2>&1' &) )`,
      // Until it has ended (a zombie, or reaped and gone), however slow the machine; then until PID 1 has reaped
      // it (gone from /proc), for up to 5 s: a zombie that stays that long is one PID 1 did not wait for.
      'i=0; while [ -e /proc/$p ] && [ "$(cut -d" " -f3 /proc/$p/stat 2>/dev/null)" != Z ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done',
      'i=0; while [ -e /proc/$p ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done',
      // Every zombie of the node's PID namespace, by PID, parent and name (the node mounted its own /proc).
      'for s in /proc/[0-9]*/stat; do read -r pid comm state ppid _ <"$s" 2>/dev/null && [ "$state" = Z ] && echo "$pid $ppid $comm"; done; true',
    ].join('; ');
    const run = await netlab(state.dir, 'exec', where, '--', 'sh', '-c', orphans);
    assert.equal(run.exitCode, 0, run.stderr);
    assert.equal(run.stdout.trim(), '', `zombies on node-0 (pid, parent, name), left in ${where}: ${run.stdout}`);
  });

// A pod's PID 1 ignores SIGTERM (the kernel's rule for a namespace's init without a handler), and so does the sleep
// its pause waits for: a learner's `pkill sleep` on the node stops the containers (sleep infinity too), not the pod.
test("a pod's pause outlives a SIGTERM to the sleep it waits for", async () => {
  const script = [
    // The pause's sleep: in pod a0's network namespace, PID 2 of the pod's own PID namespace (its shell is 1).
    'for p in $(ip netns pids a0); do [ "$(awk \'/^NSpid/ {print $NF}\' /proc/$p/status)" = 2 ] && s=$p; done',
    'kill -TERM "$s"; sleep 0.3',
    '[ -d "/proc/$s" ] && echo "the sleep lives"',
  ].join('\n');
  const run = await netlab(state.dir, 'exec', 'node-0', '--', 'sh', '-c', script);
  assert.equal(run.stdout.trim(), 'the sleep lives', run.stderr);
  const pod = await netlab(state.dir, 'exec', 'a0', '--', 'hostname');
  assert.equal(pod.stdout.trim(), 'a0', pod.stderr);
});

// A terminal's Ctrl-C reaches the pod's program and netlab alike: netlab waits for the program, which decides.
// Dying at once left a program that catches it (a shell, a REPL) running on its own, stopped by its next read.
for (const [program, handles, code] of [
  ['trap "echo caught; exit 3" INT; echo ready; while :; do sleep 0.1; done', 'catches it', 3],
  ['echo ready; exec sleep 30', 'dies of it', 130],
] as const)
  test(`Ctrl-C (SIGINT to netlab's whole process group) during exec, to a program that ${handles}: netlab ends with the program, with exit ${code} as a shell says it`, async () => {
    const exec = spawn(NETLAB, ['exec', 'a0', '--', 'sh', '-c', program], {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const exited = new Promise<number | null>((resolve) => exec.on('exit', resolve));
    const output = watch(exec);
    try {
      await output.until('ready', { timeoutMs: 10_000 });
      process.kill(-exec.pid!, 'SIGINT');
      assert.equal(await exited, code, output.output);
      if (code === 3) await output.until('caught', { timeoutMs: 5_000 });
    } finally {
      try {
        process.kill(-exec.pid!, 'SIGKILL');
      } catch {
        // the group is gone
      }
      await exited;
    }
  });

test('capture --write: a pcap file for Wireshark, owned by the user who ran sudo, with the outer and the inner headers', async () => {
  const file = join(state.dir, 'vxlan.pcap');
  // As run by `sudo` for the user nobody: the file is theirs, not root's.
  const capture = spawn(
    NETLAB,
    [
      'capture',
      'node-0',
      '--count',
      '4',
      '--timeout',
      '15',
      '--filter',
      'udp port 4789 and not dst host 239.1.1.1',
      '--write',
      file,
    ],
    {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0', SUDO_UID: '65534', SUDO_GID: '65534' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => capture.on('close', resolve));
  const output = watch(capture);
  await output.until('listening on', { timeoutMs: 10_000 });
  await netlab(state.dir, 'exec', 'a0', '--', 'ping', '-c', '3', '-i', '0.2', '10.200.1.2');
  const code = await exited;
  const said = output.output;
  assert.equal(code, 0, said);
  assert.match(said, /pcap written to .*vxlan\.pcap: read it with `tcpdump -n -e -r /);
  const { uid, gid } = statSync(file);
  assert.deepEqual([uid, gid], [65534, 65534]);
  // Read back by tcpdump, as Wireshark would: the outer UDP 4789 between the nodes, then the pods' ICMP inside.
  const read = await execa('tcpdump', ['-n', '-r', file], { reject: false });
  assert.equal(read.exitCode, 0, String(read.stderr));
  assert.match(
    String(read.stdout),
    /192\.168\.64\.\d\.\d+ > 192\.168\.64\.\d\.4789: VXLAN, flags \[I\] \(0x08\), vni 100\n.*10\.200\.0\.2 > 10\.200\.1\.2: ICMP echo request/,
  );
  // A symbolic link is never written through (netlab runs as root).
  const link = join(state.dir, 'link.pcap');
  symlinkSync('/etc/netlab-must-not-exist', link);
  const refused = await netlab(state.dir, 'capture', 'node-0', '--count', '1', '--timeout', '1', '--write', link);
  assert.equal(refused.exitCode, 2);
  assert.match(refused.stderr, /cannot write the pcap file .*link\.pcap/);
  assert.equal(existsSync('/etc/netlab-must-not-exist'), false);
  // A filter word that would be one of tcpdump's options (-w writes anywhere as root), or an interface that
  // would be one of perl's: refused, exit 2, nothing written.
  const planted = join(state.dir, 'planted.pcap');
  for (const args of [
    ['node-0', '--filter', `icmp -w ${planted}`],
    ['node-0', '--filter', `-w ${planted}`],
    ['node-0', '--', '-v'],
  ]) {
    const run = await netlab(state.dir, 'capture', '--count', '1', '--timeout', '1', ...args);
    assert.equal(run.exitCode, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /--filter takes a tcpdump expression .*no word starting with -|not an interface name: -v/);
  }
  assert.equal(existsSync(planted), false);
});

interface TraceJson {
  outcome: string;
  sent?: string;
  hops: { node: string; where: string; kind: string; text: string; entry?: string }[];
  problem?: { node: string; where: string; reason: string; hint?: string };
  reply?: { outcome: string };
}

test("trace a0 → a1: the veth, the bridge, vxlan0 with node-1's underlay address as outer destination, and the reply", async () => {
  const run = await netlab(state.dir, 'trace', 'a0', 'a1', '--json');
  assert.equal(run.exitCode, 0, run.stdout + run.stderr);
  const trace = JSON.parse(run.stdout) as TraceJson;
  assert.equal(trace.outcome, 'delivered');
  assert.equal(trace.reply?.outcome, 'delivered');
  assert.match(trace.sent ?? '', /a ping \(two echo requests\) to 10\.200\.1\.2 first.*: answered \(reply time=/);
  const hop = (kind: string, where: string) => trace.hops.find((h) => h.kind === kind && h.where === where);
  assert.match(hop('veth', 'pod a0')!.text, /out by veth-a0-c, the veth pair's other end is veth-a0 in node-0/);
  assert.match(hop('bridge', 'node-0')!.entry!, /dev vxlan0 master br0/);
  assert.match(
    hop('vxlan', 'node-0')!.text,
    /vxlan0 \(VNI 100\) wraps the frame: outer 192\.168\.64\.4 → 192\.168\.64\.5, UDP port 4789/,
  );
  assert.match(hop('underlay', 'node-0')!.text, /to 192\.168\.64\.5 dev eth1: node-1's underlay address/);
  assert.match(hop('bridge', 'node-1')!.text, /br1's FDB sends .* \(pod a1's veth-a1-c\) to port veth-a1/);
  assert.equal(trace.hops.at(-1)!.where, 'pod a1');
  const text = await netlab(state.dir, 'trace', 'a0', 'a1', '--no-send');
  assert.match(text.stdout, /✓ delivered, and the reply comes back \(pod a1 → node-1 → node-0 → pod a0\)/);
  // a1 drops pings with a rule of its own in INPUT: the walk reads a pod's own INPUT chain, and stops there.
  const rule = (op: string, chain: string) =>
    netlab(state.dir, 'exec', 'a1', '--', 'iptables', op, chain, '-p', 'icmp', '-j', 'DROP');
  assert.equal((await rule('-A', 'INPUT')).exitCode, 0);
  try {
    const dropped = await netlab(state.dir, 'trace', 'a0', 'a1');
    assert.equal(dropped.exitCode, 1, dropped.stdout + dropped.stderr);
    assert.match(
      dropped.stdout,
      /^✗ broken at pod a1 on node-1: pod a1's own INPUT chain drops it: -A INPUT -p icmp -j DROP$/m,
    );
  } finally {
    await rule('-D', 'INPUT');
  }
  // In its OUTPUT chain, which the walk does not read (its replies dropped): the probe and the walk disagree, and
  // trace says so.
  assert.equal((await rule('-A', 'OUTPUT')).exitCode, 0);
  try {
    const dropped = await netlab(state.dir, 'trace', 'a0', 'a1');
    assert.equal(dropped.exitCode, 1, dropped.stdout + dropped.stderr);
    assert.match(dropped.stdout, /: no answer/);
    assert.match(
      dropped.stdout,
      /✗ but the probe got no answer: the tables say this path works, yet nothing came back/,
    );
  } finally {
    await rule('-D', 'OUTPUT');
  }
  for (const [args, message] of [
    [['nosuch', 'a1'], /FROM is a pod, pod\/container or node of lab vxlan; found "nosuch"/],
    [['a0', 'nosuch'], /TO is a pod, node, Service or IPv4 address of lab vxlan; found "nosuch"/],
    [['a0', 'a1', '--port', '70000'], /--port takes 1-65535; found 70000/],
  ] as const) {
    const bad = await netlab(state.dir, 'trace', ...args);
    assert.equal(bad.exitCode, 2, bad.stderr);
    assert.match(bad.stderr, message);
  }
});

test('with the cluster route deleted on node-0, trace and the failed verify both name node-0 and the missing route', async () => {
  const route = ['10.200.0.0/16', 'dev', 'br0'];
  assert.equal((await netlab(state.dir, 'exec', 'node-0', '--', 'ip', 'route', 'del', ...route)).exitCode, 0);
  // The pods may still reach each other through the redirects cached by the earlier pings, or
  // not: either way verify fails (exit 1) and names the missing route. (That verify fails on
  // drift while every check passes is the next test's, with a drift no check depends on.)
  const cached = await netlab(state.dir, 'verify', 'vxlan');
  assert.equal(cached.exitCode, 1, cached.stdout + cached.stderr);
  assert.match(cached.stdout, /node-0: route 10\.200\.0\.0\/16 is missing \(step \d+/);
  // Through a cached redirect, trace is delivered but says which route is gone behind it.
  const throughCache = JSON.parse((await netlab(state.dir, 'trace', 'a0', 'a1', '--json')).stdout) as TraceJson & {
    hops: { text: string }[];
    caveat?: { reason: string; hint?: string };
  };
  if (/cached ICMP redirect/.test(throughCache.hops[0]!.text)) {
    assert.match(throughCache.caveat!.reason, /its gateway node-0 has no route to 10\.200\.1\.2/);
    assert.match(throughCache.caveat!.hint!, /`ip route add 10\.200\.0\.0\/16 dev br0`/);
  } else assert.equal(throughCache.outcome, 'broken', 'without a cached redirect the path is broken at node-0');
  // Earlier pings made node-0 and node-1 send ICMP redirects (in and out by the same bridge):
  // the pods would now skip the gateways. Forget them, as after a few minutes.
  for (const pod of ['a0', 'a1']) await netlab(state.dir, 'exec', pod, '--', 'ip', 'route', 'flush', 'cache');
  try {
    const run = await netlab(state.dir, 'trace', 'a0', 'a1', '--json');
    assert.equal(run.exitCode, 1, run.stderr);
    const trace = JSON.parse(run.stdout) as TraceJson;
    assert.equal(trace.outcome, 'broken');
    assert.equal(trace.problem!.node, 'node-0');
    assert.match(trace.problem!.reason, /no route to 10\.200\.1\.2 in node-0's routing table/);
    assert.match(
      trace.problem!.hint!,
      /`ip route add 10\.200\.0\.0\/16 dev br0` \(step \d+: route the whole cluster CIDR/,
    );
    // a1 → a0 arrives, but its reply has no way back from node-0
    const back = JSON.parse((await netlab(state.dir, 'trace', 'a1', 'a0', '--json')).stdout) as TraceJson & {
      reply: TraceJson;
    };
    assert.equal(back.outcome, 'delivered');
    assert.equal(back.reply.outcome, 'broken');
    assert.equal(back.reply.problem!.node, 'node-0');

    const verify = await netlab(state.dir, 'verify', 'vxlan', '--check', '1');
    assert.equal(verify.exitCode, 1);
    assert.match(verify.stdout, /node-0: route 10\.200\.0\.0\/16 is missing \(step \d+/);
    assert.match(verify.stdout, /trace of check 1 \(a0 → 10\.200\.1\.2.*✗ broken at node-0: no route to 10\.200\.1\.2/);
  } finally {
    await netlab(state.dir, 'exec', 'node-0', '--', 'ip', 'route', 'add', ...route);
  }
});

test('verify exits 1 on drift while every check passes: a rule the lab did not make in its own chain on node-0', async () => {
  // An ACCEPT for addresses no pod has: no check depends on it, so every check passes,
  // but the lab's chain is no longer what the plan made.
  const rule = ['NETLAB-FWD-vxlan', '-s', '10.99.0.0/16', '-j', 'ACCEPT'];
  assert.equal((await netlab(state.dir, 'exec', 'node-0', '--', 'iptables', '-w', '-A', ...rule)).exitCode, 0);
  try {
    const verify = await netlab(state.dir, 'verify', 'vxlan');
    assert.match(verify.stdout, /all 5 checks passed/, verify.stdout + verify.stderr);
    assert.match(
      verify.stdout,
      /the checks pass now, but what the plan made has changed \(so verify fails\): they may pass only through what the kernel still remembers, and fail when it forgets/,
    );
    assert.match(
      verify.stdout,
      /node-0: the iptables chain NETLAB-FWD-vxlan has a rule the lab did not make: `-A NETLAB-FWD-vxlan -s 10\.99\.0\.0\/16 -j ACCEPT` \(step \d+/,
    );
    assert.equal(verify.exitCode, 1, verify.stdout + verify.stderr);
    // As a tool reads it: the checks passed, and verify's verdict (its exit code's) is not ok.
    const json = await netlab(state.dir, 'verify', 'vxlan', '--json');
    assert.equal(json.exitCode, 1);
    const read = JSON.parse(json.stdout) as { passed: boolean; ok: boolean; findings: unknown[] };
    assert.deepEqual([read.passed, read.ok, read.findings.length], [true, false, 1], json.stdout);
  } finally {
    await netlab(state.dir, 'exec', 'node-0', '--', 'iptables', '-w', '-D', ...rule);
  }
  const again = await netlab(state.dir, 'verify', 'vxlan');
  assert.equal(again.exitCode, 0, again.stdout + again.stderr);
});

test("show: a node's routes with the lab's one cluster route, a pod's links", async () => {
  const routes = await netlab(state.dir, 'show', 'node-0', 'routes');
  assert.equal(routes.exitCode, 0, routes.stderr);
  assert.match(routes.stdout, /10\.200\.0\.0\/16 dev br0/);
  const links = await netlab(state.dir, 'show', 'a1', 'links');
  assert.match(links.stdout, /veth-a1-c@if\d+ +UP/);
  const bad = await netlab(state.dir, 'show', 'a1', 'fdb');
  assert.equal(bad.exitCode, 2);
  assert.match(bad.stderr, /the fdb table is a node's; try `netlab show node-1 fdb`/);
});

test('up --step --yes shows each phase and what it changed on the node; --step without a terminal or --yes is refused', async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'), '--step', '--yes');
    assert.equal(up.exitCode, 0, up.stderr);
    assert.match(up.stdout, /### node-0 · phase network\n# \[\d+\] create the bridge br0: /);
    assert.match(up.stdout, /phase network changed:\n {2}node-0: \n( {4}[+-] .*\n)* {4}\+ link br0 UP\n/);
    assert.match(up.stdout, /\+ address 10\.200\.0\.1\/24 on br0/);
    assert.match(up.stdout, /phase pods changed:\n {2}node-0: \n( {4}.*\n)* {4}\+ netns a0\n/);
    // Inside the pods too, named by pod.
    assert.match(up.stdout, /phase pods changed:\n[\s\S]*\n {4}a0: \+ process unshare \(pid \d+\)\n/);
    assert.match(
      up.stdout,
      /phase network changed:\n[\s\S]*\n {4}a0: \+ route default via 10\.200\.0\.1 dev veth-a0-c\n/,
    );
    // A helper's step shows its plain commands under it.
    assert.match(
      up.stdout,
      /\nnetlab_pause a0\n# {3}= ip netns exec a0 unshare --uts --ipc --pid --fork --kill-child /,
    );
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
  const refused = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'), '--step');
  assert.equal(refused.exitCode, 2);
  assert.match(refused.stderr, /--step waits for Enter before each phase: run it in a terminal, or add --yes/);
  const unknown = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'), '--step=everything', '--yes');
  assert.equal(unknown.exitCode, 2);
  assert.match(unknown.stderr, /--step takes phase or command; found "everything"/);
});

test("up at a terminal that says its width draws listr2's live display; with --json sent to a file, its progress is lines on the terminal and the file the JSON document alone", async () => {
  const json = join(state.dir, 'up.json');
  /** up at a terminal of 100 columns (script(1) gives one of 0 columns: stty gives it a width, as a person's has) */
  const atTerminal = (redirect: string) =>
    execa(
      'script',
      [
        '-qec',
        `stty cols 100 rows 30; ${quoteArgv([NETLAB, 'up', join(LABS, 'bridge.yaml')])}${redirect}`,
        '/dev/null',
      ],
      { env: { ...process.env, NETLAB_STATE_DIR: state.dir }, reject: false },
    );
  try {
    const up = await atTerminal('');
    assert.equal(up.exitCode, 0, up.stdout);
    // listr2 hides the cursor and redraws its lines in place (cursor up): the live display.
    assert.ok(up.stdout.includes('\x1b[?25l') && up.stdout.includes('\x1b[1A'), `live display:\n${up.stdout}`);
    assert.match(up.stdout, /✔.* phase network: node-0 \(20 steps\)/);
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
  try {
    const up = await atTerminal(` --json > ${quoteArgv([json])}`);
    assert.equal(up.exitCode, 0, up.stdout);
    assert.ok(!up.stdout.includes('\x1b[1A'), `lines, not redrawn:\n${up.stdout}`);
    assert.match(up.stdout, /❯.* phase network: node-0 \(20 steps\)\r?\n.*✔.* phase network: node-0 \(20 steps\)/);
    const document = JSON.parse(readFileSync(json, 'utf8')) as { lab: string; status: string };
    assert.deepEqual([document.lab, document.status], ['bridge', 'up']);
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
});

test('up --step at a terminal waits for Enter before each phase; Ctrl-C at the prompt rolls back; q at a command stops there', async () => {
  /** up --step (or `unit`) in a terminal (script(1) gives it one); `answer` is typed at each prompt, by its count from 1. */
  const stepAtTerminal = async (answer: (prompt: number) => string, unit = 'phase') => {
    const command = quoteArgv([NETLAB, 'up', join(LABS, 'bridge.yaml'), `--step=${unit}`]);
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, NETLAB_STATE_DIR: state.dir, FORCE_COLOR: '0' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const watched = watch(child);
    const code = new Promise<number | null>((resolve) => child.once('close', resolve));
    const prompts = () => watched.output.split('press Enter to ').length - 1;
    // Each prompt is answered once it is shown: typed ahead, the answer would go to the prompt before.
    let answered = 0;
    for (;;) {
      await waitFor('the next prompt, or the end', () => watched.exited || prompts() > answered, { timeoutMs: 60_000 });
      if (watched.exited) break;
      child.stdin.write(answer(++answered));
    }
    return { code: await code, answered, out: watched.output };
  };
  try {
    const up = await stepAtTerminal(() => '\r');
    assert.equal(up.code, 0, up.out);
    assert.equal(up.answered, 2, 'a prompt before each phase: pods, network');
    assert.match(
      up.out,
      /press Enter to apply phase pods [\s\S]*press Enter to apply phase network [\s\S]*lab bridge is up/,
    );
    assert.equal((await netlab(state.dir, 'verify', 'bridge')).exitCode, 0);
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
  // Ctrl-C, which the terminal gives readline as a key, at the second prompt: up rolls back what the first phase made.
  try {
    const stopped = await stepAtTerminal((prompt) => (prompt === 1 ? '\r' : '\x03'));
    assert.equal(stopped.code, 130, stopped.out);
    assert.match(stopped.out, /interrupted: stopping and rolling back/);
    assert.match(stopped.out, /rolled back: nothing is left on the nodes/);
    const status = await netlab(state.dir, 'status', 'bridge');
    assert.match(status.stdout + status.stderr, /not up/);
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
  // One command at a time: Enter runs the first (pod a0's namespace), q at the second stops there, leaving what was made.
  try {
    const stepped = await stepAtTerminal((prompt) => (prompt === 1 ? '\r' : 'q\r'), 'command');
    assert.equal(stepped.code, 0, stepped.out);
    assert.equal(stepped.answered, 2);
    assert.match(
      stepped.out,
      /press Enter to run it, q to stop here leaving what is there [\s\S]*changed on node-0:\r?\n {4}\+ netns a0\r?\n/,
    );
    assert.match(stepped.out, /stopped here; what the steps made so far stays: `netlab down bridge` removes it/);
    const status = await netlab(state.dir, 'status', 'bridge');
    assert.match(status.stdout, /creating/, status.stdout + status.stderr);
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
});

test("up --step=command --yes: one step at a time, with the article's states in between (the veth in the node before it moves, br0 DOWN until brought up)", async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'), '--step=command', '--yes');
    assert.equal(up.exitCode, 0, up.stderr);
    const after = (summary: string) => {
      const at = up.stdout.indexOf(`: ${summary}\n`);
      assert.ok(at >= 0, `no step "${summary}" in ${up.stdout}`);
      return up.stdout.slice(at, up.stdout.indexOf('\nnode-', at + 1));
    };
    assert.match(
      after('create the bridge br0'),
      /\$ ip link add name br0 address 0a:58:0a:c8:00:01 type bridge\n {2}changed on node-0:\n {4}\+ link br0 DOWN\n/,
    );
    assert.match(after('bring up br0'), /\n {4}link br0 DOWN → UP\n/);
    const pair = after('create the veth pair veth-a0 <-> veth-a0-c for pod a0');
    assert.match(pair, /\+ link veth-a0 DOWN\n/);
    assert.match(pair, /\+ link veth-a0-c DOWN\n/, 'both ends are in the node before one moves');
    assert.match(after('move veth-a0-c into pod a0'), /- link veth-a0-c DOWN\n/);
    assert.match(after('move veth-a0-c into pod a0'), /\n {4}a0: \+ link veth-a0-c DOWN\n/, 'it arrives in the pod');
    // Inside the pod, named by pod: what `ip -n a0 …` in the article shows after each step.
    assert.match(after('bring up loopback in pod a0'), /\n {4}a0: link lo DOWN → UP\n/);
    assert.match(after('bring up veth-a0-c in pod a0'), /\n {4}a0: link veth-a0-c DOWN → UP\n/);
    assert.match(
      after("route pod a0's other traffic via 10.200.0.1"),
      /\n {2}changed on node-0:\n {4}a0: \+ route default via 10\.200\.0\.1 dev veth-a0-c\n/,
    );
    const pause = after("start pod a0's pause process");
    assert.match(
      pause,
      /\n {2}\$ netlab_pause a0\n {4}= ip netns exec a0 unshare --uts --ipc --pid --fork --kill-child sh -c 'hostname a0; trap "" TERM; sleep infinity & wait' &\n/,
    );
    // (Its shell and sleep come a moment later: the step ends once unshare runs.)
    assert.match(pause, /\n {4}a0: \+ process unshare \(pid \d+\)\n/);
    const ipv6 = after('turn IPv6 off in pod a0');
    assert.match(ipv6, /\n {4}= ip netns exec a0 sysctl -w net\.ipv6\.conf\.all\.disable_ipv6=1\n/);
    // A kernel without IPv6 (ipv6.disable=1) has no such sysctl to change.
    if (existsSync('/proc/sys/net/ipv6'))
      assert.match(ipv6, /\n {4}a0: sysctl net\.ipv6\.conf\.all\.disable_ipv6 0 → 1\n/);
    assert.doesNotMatch(up.stdout, /nothing visible in the node itself/);
    assert.match(after('attach veth-a0 to br0'), /link veth-a0 DOWN → DOWN master br0/);
    const verify = await netlab(state.dir, 'verify', 'bridge');
    assert.equal(verify.exitCode, 0, 'stepping builds the same lab');
  } finally {
    await netlab(state.dir, 'down', 'bridge');
  }
});

test('plan --explain explains the commands part by part', async () => {
  const plan = await netlab(state.dir, 'plan', join(LABS, 'vxlan.yaml'), '--explain');
  assert.equal(plan.exitCode, 0);
  assert.match(
    plan.stdout,
    /ip link add vxlan0 type vxlan id 100 group 239\.1\.1\.1 local 192\.168\.64\.4 dstport 4789 dev eth1\n# {3}↳ `ip link add vxlan0 type vxlan` creates a VXLAN tunnel endpoint: VNI 100 .*group 239\.1\.1\.1 \(unknown destinations are flooded/,
  );
  assert.match(plan.stdout, /# {3}↳ `master br0` plugs veth-a0 into the bridge br0 as a port\./);
});
