// End to end, as root, on simulated nodes: pods on different nodes reach each
// other by static routes, VXLAN (2 and 3 nodes) and flannel-style VXLAN; the
// state that makes it work is what the articles show; down restores everything.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import {
  assertUnprobedIpipFailed,
  dropFirstOfTwo,
  labTestContext,
  netlab,
  ORDINARY_USERS,
  snapshotHost,
  stateDirForTest,
} from './host.js';
import { readState } from '../../src/state/store.js';
import { transportsOf } from '../../src/exec/transports.js';
import { runDown } from '../../src/exec/runner.js';
import { scriptRunOf } from '../../src/state/store.js';
import { loadLabFile } from '../../src/lab/load.js';
import {
  type Missing,
  missingOf,
  type Requirements,
  requirementChecks,
  requirements,
} from '../../src/exec/preflight.js';

const state = labTestContext();

interface VerifyReport {
  passed: boolean;
  checks: { ok: boolean; evidence: string; check: { kind: string } }[];
  evidence: { node: string; title: string; lines: string[] }[];
}

async function upAndVerify(lab: string): Promise<VerifyReport> {
  const up = await netlab(state.dir, 'up', join(LABS, `${lab}.yaml`));
  assert.equal(up.exitCode, 0, up.stdout + up.stderr);
  const verify = await netlab(state.dir, 'verify', lab, '--json');
  assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
  const report = JSON.parse(verify.stdout) as VerifyReport;
  assert.ok(report.passed && report.checks.length >= 4);
  return report;
}

async function macOf(pod: string, ifname: string): Promise<string> {
  const link = await netlab(state.dir, 'exec', pod, '--', 'ip', '-br', 'link', 'show', ifname);
  return link.stdout.trim().split(/\s+/)[2]!;
}

test('routes: each node routes the other pod subnet via the other node address; traceroute and trace agree on the routers', async () => {
  try {
    const report = await upAndVerify('routes');
    const node0 = report.evidence.find((e) => e.node === 'node-0')!;
    assert.match(node0.lines.join('\n'), /10\.200\.1\.2 via 192\.168\.64\.5 dev eth1/);
    // The real traceroute (check 5): node-0 answers from the pods' gateway, node-1 from its underlay address.
    const traceroute = report.checks.find((c) => c.check.kind === 'traceroute')!;
    // (A hop silent once, a probe lost or rate-limited, is traced again a second later: said, and passed.)
    assert.match(
      traceroute.evidence,
      /^hops: 10\.200\.0\.1 \(node-0\) → 192\.168\.64\.5 \(node-1\) → 10\.200\.1\.2( \(traced twice: a hop was silent the first time\))?$/,
      'traceroute from a pod on node-0 to a pod on node-1 shows both nodes as routers',
    );
    // trace's walk puts the same two routers where the TTL runs out.
    const trace = await netlab(state.dir, 'trace', 'a0', 'a1', '--no-send');
    assert.match(
      trace.stdout,
      /traceroute's view: TTL 1 expires at node-0 \(hop \d+\), TTL 2 expires at node-1 \(hop \d+\), TTL 3 reaches pod a1\n/,
    );
    // A router rate-limits its "time exceeded" (net.ipv4.icmp_ratelimit: a burst of 6, then one a
    // second): right after a check that used them up, node-0 stays silent once. Here it drops its next
    // one, as the limit would: the check traces again a second later and passes, and says so.
    const drop = await netlab(
      state.dir,
      'exec',
      'node-0',
      '--',
      ...dropFirstOfTwo('OUTPUT', '-p', 'icmp', '--icmp-type', 'time-exceeded'),
    );
    assert.equal(drop.exitCode, 0, drop.stderr);
    const again = JSON.parse(
      (await netlab(state.dir, 'verify', 'routes', '--check', '5', '--json')).stdout,
    ) as VerifyReport;
    assert.deepEqual(
      [again.passed, again.checks.map((c) => c.evidence)],
      [
        true,
        [
          'hops: 10.200.0.1 (node-0) → 192.168.64.5 (node-1) → 10.200.1.2 (traced twice: a hop was silent the first time)',
        ],
      ],
    );
  } finally {
    await netlab(state.dir, 'down', 'routes');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

test('vxlan: the remote pod MAC is learned in the FDB with the remote node underlay address', async () => {
  try {
    const report = await upAndVerify('vxlan');
    const a1 = await macOf('a1', 'veth-a1-c');
    assert.match(a1, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const fdb = await netlab(state.dir, 'exec', 'node-0', '--', 'bridge', 'fdb', 'show', 'dev', 'vxlan0');
    assert.ok(
      fdb.stdout.split('\n').some((l) => l.startsWith(`${a1} dst 192.168.64.5 self`)),
      fdb.stdout,
    );
    assert.ok(
      fdb.stdout.includes('00:00:00:00:00:00 dst 239.1.1.1 via eth1 self permanent'),
      'the multicast flood entry',
    );
    const evidence = report.evidence.find((e) => e.node === 'node-0')!.lines.join('\n');
    assert.ok(evidence.includes(`${a1} (pod a1) dst 192.168.64.5`), evidence);
    const routes = await netlab(state.dir, 'exec', 'node-0', '--', 'ip', 'route', 'show', '10.200.0.0/16');
    assert.match(routes.stdout, /10\.200\.0\.0\/16 dev br0/, 'one route for the whole cluster');
    // What VXLAN leaves of the underlay's 1500, on both ends of a pod's veth.
    assert.deepEqual([await mtuOf('a1', 'veth-a1-c'), await mtuOf('node-1', 'veth-a1')], [1450, 1450]);

    // br1 keeps its MAC (a1's gateway's) when a port with a lower MAC comes and when vxlan0 is
    // made again (the wrong-VNI challenge's fix): a1 reaches a0 at once, not when its neighbour
    // entry for the old MAC expires. A bridge left to the kernel takes its lowest port's MAC.
    const n1 = (...command: string[]) => netlab(state.dir, 'exec', 'node-1', '--', ...command);
    assert.equal(await macOf('node-1', 'br1'), '0a:58:0a:c8:01:01');
    const lower = 'ip link add tq0 address 00:00:00:00:00:01 type veth peer name tq1 && ip link set tq0 master br1';
    const remade =
      'ip link del vxlan0 && ip link add vxlan0 type vxlan id 100 group 239.1.1.1 local 192.168.64.5 dstport 4789 dev eth1 && ip link set vxlan0 master br1 && ip link set vxlan0 up';
    assert.equal((await n1('sh', '-c', `${lower} && ${remade}`)).exitCode, 0);
    try {
      assert.equal(await macOf('node-1', 'br1'), '0a:58:0a:c8:01:01', 'br1 kept its MAC');
      const ping = await netlab(state.dir, 'exec', 'a1', '--', 'ping', '-c1', '-W2', '10.200.0.2');
      assert.equal(ping.exitCode, 0, `a1 reaches a0 right after vxlan0 is made again: ${ping.stdout}`);
    } finally {
      await n1('ip', 'link', 'del', 'tq0');
    }
  } finally {
    await netlab(state.dir, 'down', 'vxlan');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

test('vxlan with three nodes: every pod reaches every other', async () => {
  try {
    await upAndVerify('vxlan-3');
    const a2 = await macOf('a2', 'veth-a2-c');
    const fdb = await netlab(state.dir, 'exec', 'node-1', '--', 'bridge', 'fdb', 'show', 'dev', 'vxlan0');
    assert.ok(fdb.stdout.includes(`${a2} dst 192.168.64.6 self`), fdb.stdout);
    assert.equal(await mtuOf('a2', 'veth-a2-c'), 1450);
  } finally {
    await netlab(state.dir, 'down', 'vxlan-3');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

test('flannel: static neighbour and FDB entries, nothing learned', async () => {
  try {
    const report = await upAndVerify('flannel');
    const lines = report.evidence
      .filter((e) => e.node === 'node-0')
      .flatMap((e) => e.lines)
      .join('\n');
    assert.match(lines, /10\.200\.1\.0 lladdr 0a:58:0a:c8:01:00 \(flannel\.1 of node-1\) PERMANENT/);
    assert.match(lines, /0a:58:0a:c8:01:00 \(flannel\.1 of node-1\) dst 192\.168\.64\.5 self permanent/);
    const fdb = await netlab(state.dir, 'exec', 'node-0', '--', 'bridge', 'fdb', 'show', 'dev', 'flannel.1');
    assert.equal(fdb.stdout.trim().split('\n').length, 1, `nolearning: only the static entry\n${fdb.stdout}`);
    // The control plane's entries are what the plan made: status notices one removed (and exits 1).
    assert.equal(
      (
        await netlab(
          state.dir,
          'exec',
          'node-0',
          '--',
          'bridge',
          'fdb',
          'del',
          '0a:58:0a:c8:01:00',
          'dev',
          'flannel.1',
          'dst',
          '192.168.64.5',
        )
      ).exitCode,
      0,
    );
    const status = await netlab(state.dir, 'status');
    assert.equal(status.exitCode, 1, status.stdout);
    assert.match(
      status.stdout,
      /node-0: the FDB entry 0a:58:0a:c8:01:00 → 192\.168\.64\.5 on flannel\.1 is missing or changed \(step \d+/,
    );
  } finally {
    await netlab(state.dir, 'down', 'flannel');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

test('forwarding survives a FORWARD policy of DROP through the lab chain; down restores ip_forward', async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'routes.yaml'));
    assert.equal(up.exitCode, 0, up.stderr);
    for (const node of ['node-0', 'node-1']) {
      assert.equal((await netlab(state.dir, 'exec', node, '--', 'iptables', '-P', 'FORWARD', 'DROP')).exitCode, 0);
    }
    assert.equal(
      (await netlab(state.dir, 'verify', 'routes')).exitCode,
      0,
      'the NETLAB-FWD chain accepts the cluster CIDR',
    );
    // Without the jump to netlab's chain, the DROP policy wins: the chain is what made it work.
    await netlab(
      state.dir,
      'exec',
      'node-1',
      '--',
      'iptables',
      '-D',
      'FORWARD',
      '-m',
      'comment',
      '--comment',
      'netlab lab routes',
      '-j',
      'NETLAB-FWD-routes',
    );
    const broken = await netlab(state.dir, 'verify', 'routes');
    assert.equal(broken.exitCode, 1);

    // The undo journal restores the sysctl it changed (a fresh namespace has forwarding off).
    const live = readState('routes')!;
    assert.equal(
      (await netlab(state.dir, 'exec', 'node-0', '--', 'sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(),
      '1',
    );
    const outcomes = await runDown('routes', transportsOf(live), scriptRunOf(live));
    assert.deepEqual(
      Object.values(outcomes).map((o) => o.found),
      ['undone', 'undone'],
      "both nodes ran this run's journal",
    );
    assert.equal(
      (await netlab(state.dir, 'exec', 'node-0', '--', 'sysctl', '-n', 'net.ipv4.ip_forward')).stdout.trim(),
      '0',
    );
    const rules = await netlab(state.dir, 'exec', 'node-0', '--', 'iptables', '-S');
    assert.doesNotMatch(rules.stdout, /NETLAB/, 'the chain and its jump are gone');
    assert.match(rules.stdout, /-P FORWARD DROP/, 'a policy netlab did not set is left alone');
  } finally {
    await netlab(state.dir, 'down', 'routes');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

/**
 * The kernel features a lab needs that this host's kernel lacks (the simulated nodes share
 * it), probed as up's preflight probes them: `ip link add … type ipip` (or geneve) in a
 * throwaway network namespace.
 */
async function missingFeatures(
  lab: string,
): Promise<{ needs: Requirements; missing: Extract<Missing, { name: string }>[] }> {
  const needs = requirements(loadLabFile(join(LABS, `${lab}.yaml`)).model);
  assert.ok(needs.features.length > 0, `lab ${lab} needs a kernel feature`);
  const script = requirementChecks({ tools: [], features: needs.features, extensions: [], sysctls: [] }).join('\n');
  const probe = await execa('sh', ['-c', script], { reject: false });
  const lines = String(probe.stdout).split('\n');
  assert.ok(lines.includes('@@netlab probed'), `the probe ran: ${String(probe.stdout)}${String(probe.stderr)}`);
  return { needs, missing: missingOf(lines).flatMap((m) => (m.kind === 'feature' ? [m] : [])) };
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// Whether the kernel has IP-in-IP and GENEVE depends on the machine (a stock distribution kernel
// has both; this machine's neither: README "Requirements"): the test follows the kernel it runs on. The
// GENEVE lab is brought up by an ordinary user (README: "Without sudo"): a module the kernel lacks
// is then the administrator's to load.
const user = stateDirForTest(ORDINARY_USERS[0]);
after(() => user.remove());
for (const [lab, feature, as] of [
  ['ipip', 'IP-in-IP', 'root'],
  ['geneve', 'GENEVE', 'an ordinary user'],
] as const) {
  test(`${lab} follows this kernel: with ${feature} it goes up and verifies; without, up is refused naming the feature, and changes nothing (as ${as})`, async (t) => {
    const dir = as === 'root' ? state.dir : user.dir;
    const { needs, missing } = await missingFeatures(lab);
    t.diagnostic(
      missing.length === 0
        ? `this kernel has ${feature}`
        : `this kernel lacks ${missing.map((m) => m.name).join(', ')}`,
    );
    try {
      const up = await netlab(dir, 'up', join(LABS, `${lab}.yaml`));
      if (missing.length === 0) {
        assert.equal(up.exitCode, 0, up.stdout + up.stderr);
        const verify = await netlab(dir, 'verify', lab);
        assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
        assert.match(verify.stdout, /all \d+ checks passed/);
      } else {
        assert.equal(up.exitCode, 1, up.stdout + up.stderr);
        for (const m of missing) {
          const f = needs.features.find((known) => known.name === m.name)!;
          assert.match(
            up.stderr,
            new RegExp(`lab ${lab} needs ${escaped(f.label)} \\(module ${escaped(f.module)}\\) on node-0`),
          );
          assert.match(
            up.stderr,
            new RegExp(
              as === 'root'
                ? `Load it with \`modprobe ${escaped(f.module)}\`, or use a kernel that has it \\(a VM with a distribution kernel`
                : `Without root \\(a user namespace\\), netlab cannot load a module the kernel did not load by itself: ask an administrator to load it \\(\`sudo modprobe ${escaped(f.module)}\`;.*\\), or run netlab with sudo, or use a kernel that has it \\(a VM`,
            ),
          );
        }
        assert.match(up.stderr, new RegExp(`kernel ${feature} support`));
        assert.match(up.stderr, /nothing was changed/);
        const status = await netlab(dir, 'status', '--json');
        assert.deepEqual(JSON.parse(status.stdout), { version: 1, labs: [] }, 'no lab is recorded');
      }
    } finally {
      await netlab(dir, 'down', lab);
    }
    assert.deepEqual(await snapshotHost(), state.pristine());
  });
}

// Simulated nodes share this kernel: up remembers, until it reboots, what it saw the kernel have
// (exec/kernel-seen.ts), and does not probe it again. A feature remembered that is gone after all
// (a module unloaded by hand where modules can no longer be loaded) is planted here: on a kernel
// without IP-in-IP, the step that needs it fails in the kernel's words and up rolls back.
test('ipip remembered as seen on this kernel: up skips its probe; without IP-in-IP after all, the step that needs it fails, named, up rolls back and forgets, and the next up names what is missing', async (t) => {
  const { needs, missing } = await missingFeatures('ipip');
  const seen = join(state.dir, 'kernel-seen');
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  // An up remembers what it saw (the vxlan lab's VXLAN among it), for this boot.
  rmSync(seen, { force: true });
  assert.equal((await netlab(state.dir, 'up', join(LABS, 'vxlan.yaml'))).exitCode, 0);
  assert.equal((await netlab(state.dir, 'down', 'vxlan')).exitCode, 0);
  assert.match(readFileSync(seen, 'utf8'), new RegExp(`^netlab kernel seen 1\\n${boot}\\n(.*\\n)*feature vxlan\\n`));
  const names = [
    ...needs.features.map((f) => `feature ${f.name}`),
    ...needs.extensions.map((x) => `extension ${x.name}`),
  ];
  writeFileSync(seen, `${['netlab kernel seen 1', boot, ...names].join('\n')}\n`);
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'ipip.yaml'));
    if (missing.length === 0) {
      t.diagnostic('this kernel has IP-in-IP: up goes up as it would have');
      assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    } else {
      t.diagnostic('this kernel lacks IP-in-IP: the step fails');
      assertUnprobedIpipFailed(up, /this kernel was not probed \(up saw it have what the lab needs since it booted\)/);
      // Forgotten: the next up probes the kernel, and names what it lacks before changing anything.
      assert.equal(existsSync(seen), false, 'what was seen is forgotten');
      const again = await netlab(state.dir, 'up', join(LABS, 'ipip.yaml'));
      assert.equal(again.exitCode, 1, again.stdout + again.stderr);
      assert.match(again.stderr, /nothing was changed; on the nodes:\n.*lab ipip needs kernel IP-in-IP support/);
      const status = await netlab(state.dir, 'status', '--json');
      assert.deepEqual(JSON.parse(status.stdout), { version: 1, labs: [] }, 'no lab is recorded');
    }
  } finally {
    await netlab(state.dir, 'down', 'ipip');
    rmSync(seen, { force: true });
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

// A failing check's diagnosis (verify --json, and status) is asserted for every row of the fault matrix.

test('vxlan verify shows the FDB before and after the checks when they changed it, once when not; vxlan0 own MAC is named', async () => {
  try {
    assert.equal((await netlab(state.dir, 'up', join(LABS, 'vxlan.yaml'))).exitCode, 0);
    const verify = await netlab(state.dir, 'verify', 'vxlan');
    assert.equal(verify.exitCode, 0);
    // After the checks, vxlan0 knows a1 is behind node-1. (The pods' own IPv6 link-local traffic,
    // flooded to the group when their links came up, may have taught it before the checks already.)
    const [before, after] = verify.stdout.split('after the checks:');
    assert.match(after ?? before!, /\(pod a1\) dst 192\.168\.64\.5 self/);
    assert.match(after ?? before!, /\(vxlan0 of node-0\) master br0 permanent/);
    if (after !== undefined) assert.match(before!, /before the checks:\nnode-0: VXLAN FDB of vxlan0/);
    // Learned already: a verify that leaves the FDB as it was shows it once. (A device's own IPv6 traffic, such
    // as vxlan0's multicast listener reports, may still teach the other node its MAC during one of them: a
    // verify after that one leaves the FDB as it was.)
    let again = await netlab(state.dir, 'verify', 'vxlan');
    for (let tries = 1; tries < 3 && /before the checks:/.test(again.stdout); tries++)
      again = await netlab(state.dir, 'verify', 'vxlan');
    assert.equal(again.exitCode, 0);
    assert.doesNotMatch(again.stdout, /before the checks:/);
    assert.match(again.stdout, /node-0: VXLAN FDB of vxlan0/);
  } finally {
    await netlab(state.dir, 'down', 'vxlan');
  }
});

/** The MTU of a link in a pod or on a node, as the kernel has it. */
async function mtuOf(where: string, ifname: string): Promise<number> {
  const link = await netlab(state.dir, 'exec', where, '--', 'ip', '-o', 'link', 'show', ifname);
  return Number(/ mtu (\d+) /.exec(link.stdout)?.[1]);
}

test('MTU: an overlay gives the bridge and pods 1450; a bulk transfer passes, and fails with the pods left at 1500', async () => {
  const dir = state.dir;
  try {
    await upAndVerify('flannel');
    assert.deepEqual(
      [await mtuOf('a0', 'veth-a0-c'), await mtuOf('node-0', 'veth-a0'), await mtuOf('node-0', 'br0')],
      [1450, 1450, 1450],
      'flannel: what VXLAN leaves of the underlay 1500',
    );
    assert.equal((await netlab(dir, 'down', 'flannel')).exitCode, 0);

    // The vxlan lab with wiring.mtu: 1500, as if the overlay cost nothing: pings pass, bulk transfers stall.
    const file = join(dir, 'vxlan-1500.yaml');
    const text = readFileSync(join(LABS, 'vxlan.yaml'), 'utf8').replace('name: vxlan', 'name: mtu1500');
    writeFileSync(file, text.replace(/^wiring:\n/m, 'wiring:\n  mtu: 1500\n'));
    const up = await netlab(dir, 'up', file, '--verify');
    assert.equal(up.exitCode, 1, up.stdout + up.stderr);
    assert.equal(await mtuOf('a0', 'veth-a0-c'), 1500);
    for (const line of [
      /1 ✓ pass {2}ping a0 → a1/,
      /2 ✓ pass {2}ping a1 → a0/,
      /3 ✗ FAIL {2}tcp a0 → a1:8080 .*, 1000000 bytes/,
    ])
      assert.match(up.stdout, line);
    assert.match(up.stdout, /4 ✗ FAIL {2}tcp a1 → a0:8080 .*answered by a0, but took nothing of 1000000 bytes/);
    // trace --size says where a full-size packet is dropped: at vxlan0, the bridge port with the overlay's MTU.
    const trace = await netlab(dir, 'trace', 'a0', 'a1', '--size', '1500', '--json');
    const walked = JSON.parse(trace.stdout) as { outcome: string; problem: { node: string; reason: string } };
    assert.equal(trace.exitCode, 1);
    assert.equal(walked.outcome, 'broken');
    assert.equal(walked.problem.node, 'node-0');
    assert.match(walked.problem.reason, /a 1500-byte packet does not fit vxlan0's MTU of 1450: a bridge drops/);
    const small = await netlab(dir, 'trace', 'a0', 'a1', '--size', '1400', '--no-send');
    assert.equal(small.exitCode, 0, small.stdout);
    assert.match(small.stdout, /to port vxlan0 \(MTU 1450\)/);
  } finally {
    await netlab(dir, 'down', 'flannel');
    await netlab(dir, 'down', 'mtu1500');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});

interface TraceReport {
  outcome: string;
  problem?: { node: string; reason: string };
  hops: { node: string; kind: string; text: string }[];
}

test('across a router: plain routes stop at the router (verify and trace name it), with pod routes traceroute shows it, VXLAN crosses it by unicast; down leaves nothing, routers included', async () => {
  const dir = state.dir;
  try {
    const up = await netlab(dir, 'up', join(LABS, 'router.yaml'), '--verify');
    assert.equal(up.exitCode, 1, up.stdout + up.stderr);
    assert.match(up.stdout, /1 ✓ pass {2}ping node-0 → node-1/, 'the nodes reach each other through router-0');
    assert.match(up.stdout, /2 ✗ FAIL {2}ping a0 → a1/);
    assert.match(
      up.stdout,
      /trace of check 2 \(a0 → 10\.200\.1\.2.*✗ broken at router-0: no route to 10\.200\.1\.2 in router router-0's routing table/,
    );
    const trace = JSON.parse((await netlab(dir, 'trace', 'a0', 'a1', '--json')).stdout) as TraceReport;
    assert.equal(trace.outcome, 'broken');
    assert.equal(trace.problem?.node, 'router-0');
    assert.match(trace.hops.at(-1)!.text, /^over the underlay to router router-0 \(192\.168\.60\.254\) as plain IP/);
    // The router's own table, entered like a node: the two networks, no pod subnet.
    const routes = await netlab(dir, 'exec', 'router-0', '--', 'ip', 'route');
    assert.deepEqual(
      routes.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
      ['192.168.60.0/24', '192.168.61.0/24'],
    );
    const shown = await netlab(dir, 'show', 'router-0', 'routes');
    assert.match(shown.stdout, /^192\.168\.61\.0\/24 dev eth2 /m, shown.stdout + shown.stderr);
    // A router that died is a broken lab: status says which, and exits 1.
    const target = readState('router')!.target;
    assert.equal(target.kind, 'simulated');
    process.kill(target.kind === 'simulated' ? target.routers!['router-0']!.init.pid : 0, 'SIGKILL');
    const status = await netlab(dir, 'status');
    assert.equal(status.exitCode, 1, status.stdout + status.stderr);
    assert.match(status.stdout, /unreachable: router-0: the simulated router is not running/);
  } finally {
    await netlab(dir, 'down', 'router');
  }

  // The network learns the pod subnets (pod-routes): the real traceroute shows router-0 between the nodes, as trace does.
  const file = join(dir, 'router-pr.yaml');
  writeFileSync(
    file,
    readFileSync(join(LABS, 'router.yaml'), 'utf8')
      .replace('name: router', 'name: router-pr')
      .replace('router-0: { networks: [left, right] }', 'router-0: { networks: [left, right], pod-routes: true }')
      .replace(/^exercises:/m, '  - traceroute: { from: a0, to: a1, via: [node-0, router-0, node-1] }\nexercises:'),
  );
  try {
    const up = await netlab(dir, 'up', file, '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(
      up.stdout,
      /hops: 10\.200\.0\.1 \(node-0\) → 192\.168\.60\.254 \(router-0\) → 192\.168\.61\.4 \(node-1\) → 10\.200\.1\.2/,
    );
    const trace = await netlab(dir, 'trace', 'a0', 'a1', '--no-send');
    assert.match(
      trace.stdout,
      /traceroute's view: TTL 1 expires at node-0 \(hop \d+\), TTL 2 expires at router-0 \(hop \d+\), TTL 3 expires at node-1 \(hop \d+\), TTL 4 reaches pod a1\n/,
    );
  } finally {
    await netlab(dir, 'down', 'router-pr');
  }

  // A chain of four routers: a pod's packet crosses six routers, and the traceroute check follows it to the end
  // (it stopped at hop 6 and failed, though the path worked).
  const chain = join(dir, 'router-chain.yaml');
  const networks = ['60', '61', '62', '63', '65'].map((n, i) => `    n${i}: 192.168.${n}.0/24`);
  const routers = [0, 1, 2, 3].map((i) => `    r${i}: { networks: [n${i}, n${i + 1}], pod-routes: true }`);
  writeFileSync(
    chain,
    [
      'name: router-chain',
      'underlay:',
      '  networks:',
      ...networks,
      '  routers:',
      ...routers,
      'nodes:',
      '  node-0: { underlay: { network: n0 } }',
      '  node-1: { underlay: { network: n4 } }',
      'pods: { a0: { node: node-0 }, a1: { node: node-1 } }',
      'wiring: { same-node: bridge, cross-node: routes }',
      'verify:',
      '  - traceroute: { from: a0, to: a1, via: [node-0, r0, r1, r2, r3, node-1] }',
      '',
    ].join('\n'),
  );
  try {
    const up = await netlab(dir, 'up', chain, '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(
      up.stdout,
      /\(r3\) → 192\.168\.65\.4 \(node-1\) → 10\.200\.1\.2( \(traced twice: a hop was silent the first time\))?\n/,
    );
  } finally {
    await netlab(dir, 'down', 'router-chain');
  }

  // VXLAN: the same router carries the pods' frames in UDP between node addresses; no router hop for traceroute.
  try {
    const up = await netlab(dir, 'up', join(LABS, 'router-vxlan.yaml'), '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /traceroute a0 → a1 .*reached: hops: (10\.200\.0\.1 \(node-0\) → )?10\.200\.1\.2\n/);
    const fdb = await netlab(dir, 'exec', 'node-0', '--', 'bridge', 'fdb', 'show', 'dev', 'vxlan0');
    assert.ok(fdb.stdout.includes('00:00:00:00:00:00 dst 192.168.61.4 self permanent'), fdb.stdout);
    assert.ok(!fdb.stdout.includes('239.'), 'no multicast group');
    const trace = JSON.parse((await netlab(dir, 'trace', 'a0', 'a1', '--json')).stdout) as TraceReport;
    assert.equal(trace.outcome, 'delivered');
    assert.match(
      trace.hops.find((h) => h.node === 'router-0')!.text,
      /^router router-0 forwards the outer packet \(UDP 4789\) to 192\.168\.61\.4 dev eth2/,
    );
  } finally {
    await netlab(dir, 'down', 'router-vxlan');
  }
  assert.deepEqual(await snapshotHost(), state.pristine());
});
