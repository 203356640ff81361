// The SSH transport end to end, as root: every lab goes up, verifies and goes
// down over SSH against sshd running inside simulated machines, with netlab
// itself running on a client machine of the same underlay. Nothing is left on
// the machines afterwards; unreachable machines, wrong keys and missing tools
// fail before anything changes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { LABS, NETLAB } from '../paths.js';
import { spawn, spawnSync } from 'node:child_process';
import { quoteArgv } from '../../src/os/quote.js';
import { loadLabFile } from '../../src/lab/load.js';
import { requirements } from '../../src/exec/preflight.js';
import {
  assertUnprobedIpipFailed,
  nodeLeftovers,
  nodeState,
  smallScaleLab,
  snapshotHost,
  stateChanges,
  stateDirForTest,
  type HostSnapshot,
  type Run,
} from './host.js';
import { startMachines, type Machines } from './machines.js';
import { waitFor, watch, within } from '../wait.js';

/** Where Debian's iptables keeps its statistic match (hidden on the spare machine). */
const STATISTIC_EXTENSION = '/usr/lib/x86_64-linux-gnu/xtables/libxt_statistic.so';
/** Where a machine remembers what its kernel was seen to have (exec/kernel-seen.ts). */
const NODE_MEMORY = '/run/netlab/.kernel-seen';
/** This kernel's boot: the machines share it. */
const BOOT = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const work = stateDirForTest();
const stateDir = join(work.dir, 'state');
let machines: Machines;
let pristine: HostSnapshot;
/** Each machine's nodeState once it runs, before any test. */
const started: Record<string, string[]> = {};

before(async () => {
  pristine = await snapshotHost();
  mkdirSync(stateDir);
  // Non-root users must be able to read the shared authorized_keys file.
  chmodSync(work.dir, 0o755);
  machines = await startMachines('ssh-e2e', ['node-0', 'node-1', 'node-2', 'spare'], work.dir, {
    // socat, and the iptables extension a Service's random choice uses, are missing on the spare machine
    hide: { spare: ['/usr/bin/socat', STATISTIC_EXTENSION] },
    users: { labuser: { sudo: true }, nosudo: { sudo: false } },
    logLogins: true,
  });
  for (const name of machines.names) started[name] = await nodeState(machines.transport(name));
});

after(async () => {
  machines?.stop();
  work.remove();
  assert.deepEqual(await snapshotHost(), pristine, 'the machines and their ssh connections are gone');
});

/**
 * Leftovers on a machine, ignoring its own sshd and its own links: lo and eth1
 * on every machine. The user's bridge (below) is not among them: the tests that
 * make it remove it before they look, so that a br0 or user-br a lab left
 * behind is found on every machine.
 */
async function leftovers(name: string): Promise<string[]> {
  const objects = (await nodeLeftovers(machines.transport(name), ['lo', 'eth1'])).filter(
    (l) => !/process \d+ sshd/.test(l),
  );
  // and the routes, addresses, sysctls, permanent neighbour and static FDB entries as they were before any test
  return [...objects, ...stateChanges(started[name]!, await nodeState(machines.transport(name)))];
}

/**
 * Objects of the machine's own user, which no lab may touch: a bridge with an
 * address (br0 on node-2, where no lab makes one; user-br elsewhere), a nat rule
 * and a filter rule.
 */
const userBridge = (name: string) => (name === 'node-2' ? 'br0' : 'user-br');
const USER_OBJECTS = (name: string) =>
  `ip link add ${userBridge(name)} type bridge && ip addr add 10.99.0.1/24 dev ${userBridge(name)} && iptables -t nat -A PREROUTING -p tcp --dport 9999 -j RETURN && iptables -A FORWARD -p tcp --dport 9 -j DROP\n`;
const USER_SNAPSHOT = (name: string) =>
  `ip -br addr show ${userBridge(name)}; iptables-save | grep -v "^#" | grep -vE "NL-|NETLAB" | sed "s/\\[[0-9]*:[0-9]*\\]//"\n`;

/**
 * Over SSH, one lab of each kind of wiring that runs on this kernel (and the
 * Services): the node scripts are the same on every target, so what SSH adds
 * (sessions, sudo, the user's own objects, facts read from the machines) is
 * proven by these; loopback, veth and vxlan-3 run on simulated nodes (and
 * vxlan-3 on the VM tier). ipip and geneve need modules this machine lacks: the
 * VM tier runs them.
 */
const labs = ['bridge', 'routes', 'vxlan', 'flannel', 'service', 'nodeport', 'scale'];
/** The scale lab runs here with 40 pods per node instead of 250 (it took 140-160 s of CI here). */
const SCALE_PODS = 40;
const labFile = (lab: string) => (lab === 'scale' ? smallScaleLab(work.dir, SCALE_PODS) : join(LABS, `${lab}.yaml`));
for (const lab of labs) {
  test(`over ssh: ${lab}${lab === 'scale' ? ` (${SCALE_PODS} pods per node)` : ''} goes up, verifies and goes down, leaving nothing on the machines and the user's objects as they were`, async (t) => {
    const file = labFile(lab);
    const before: Record<string, string> = {};
    try {
      for (const name of machines.names) {
        const made = await machines.transport(name).run(USER_OBJECTS(name));
        assert.equal(made.exitCode, 0, `the user's objects on ${name}: ${made.stderr}`);
        before[name] = (await machines.transport(name).run(USER_SNAPSHOT(name))).stdout;
      }
      let down;
      try {
        const up = await machines.netlab(stateDir, 'up', file, '--ssh-config', machines.sshConfig, '--verify');
        assert.equal(up.exitCode, 0, up.stdout + up.stderr);
        assert.match(up.stdout, /all \d+ checks passed/);
        const verify = await machines.netlab(stateDir, 'verify', lab);
        assert.equal(
          verify.exitCode,
          0,
          `later commands need only the lab name: the target is remembered\n${verify.stdout}${verify.stderr}`,
        );
        if (lab === 'routes') {
          // Left unsolved, a challenge that puts a DROP rule first in FORWARD, which the lab's journal
          // does not know: down mends it first, so the machines' rules are as before (compared below).
          const started = await machines.netlab(stateDir, 'challenge', 'start', lab, 'drop-first');
          assert.equal(started.exitCode, 0, started.stderr);
        }
      } finally {
        down = await machines.netlab(stateDir, 'down', lab);
      }
      assert.equal(down.exitCode, 0, down.stderr);
      if (lab === 'routes') assert.match(down.stdout, /challenge drop-first was active: its fault is mended first/);
      for (const name of machines.names)
        assert.equal(
          (await machines.transport(name).run(USER_SNAPSHOT(name))).stdout,
          before[name],
          `${lab}: the user's bridge, address and rules on ${name}`,
        );
    } finally {
      // The user's objects go before the leftovers are looked for, and even when the test failed (later tests make them again).
      for (const name of machines.names)
        await machines
          .transport(name)
          .run(`ip link del ${userBridge(name)}; iptables -t nat -F PREROUTING; iptables -F FORWARD\n`);
    }
    for (const name of machines.names) assert.deepEqual(await leftovers(name), [], `${lab}: leftovers on ${name}`);
    t.diagnostic(`${lab}: clean on ${machines.names.join(', ')}`);
  });
}

/** Per machine: SSH connections (logins) and sessions (scripts or shells on a connection) from sshd's log. */
function sshdCounts(): Record<string, { logins: number; sessions: number }> {
  return Object.fromEntries(
    machines.names.map((name) => {
      const log = existsSync(join(work.dir, `sshd-${name}.log`))
        ? readFileSync(join(work.dir, `sshd-${name}.log`), 'utf8')
        : '';
      return [
        name,
        {
          logins: log.match(/Accepted publickey/g)?.length ?? 0,
          sessions: log.match(/Starting session:/g)?.length ?? 0,
        },
      ];
    }),
  );
}

test('over ssh: each command opens at most one connection and exactly one session per node, whatever the number of scripts it runs', async () => {
  // Close the masters of earlier tests, so that up logs in afresh.
  await execa('pkill', ['-f', `${work.dir}/netlab-ssh`], { reject: false });
  const labNodes = ['node-0', 'node-1'];
  const measured = async (...args: string[]) => {
    const before = sshdCounts();
    const result = await machines.netlab(stateDir, ...args);
    const after = sshdCounts();
    const counts = Object.fromEntries(
      machines.names.map((n) => [
        n,
        { logins: after[n]!.logins - before[n]!.logins, sessions: after[n]!.sessions - before[n]!.sessions },
      ]),
    );
    return { result, counts };
  };
  const counted = async (...args: string[]) => {
    const { result, counts } = await measured(...args);
    assert.equal(result.exitCode, 0, result.stdout + result.stderr);
    return counts;
  };
  let down: Awaited<ReturnType<typeof measured>>;
  try {
    // up runs six scripts per node (reachability, facts, preflight, three phases)
    const up = await counted('up', join(LABS, 'vxlan.yaml'), '--ssh-config', machines.sshConfig);
    for (const node of labNodes) assert.deepEqual(up[node], { logins: 1, sessions: 1 }, `up on ${node}`);
    assert.deepEqual(up['node-2'], { logins: 0, sessions: 0 }, 'a machine the lab does not use is never reached');
    // Each machine remembers what its kernel was seen to have, in its own /run (exec/kernel-seen.ts); the
    // controller remembers nothing of theirs.
    assert.equal(existsSync(join(stateDir, 'kernel-seen')), false, "this machine's memory is not theirs");
    for (const node of labNodes)
      assert.match(
        (await machines.transport(node).run(`cat ${NODE_MEMORY}\n`)).stdout,
        new RegExp(`^netlab kernel seen 1\n${BOOT}\n(.*\n)*feature vxlan\n`),
        node,
      );
    // verify runs three (responders, checks, stop the responders) and evidence; the master of up is reused
    const verify = await counted('verify', 'vxlan');
    for (const node of labNodes) assert.deepEqual(verify[node], { logins: 0, sessions: 1 }, `verify on ${node}`);
  } finally {
    down = await measured('down', 'vxlan');
  }
  assert.equal(down.result.exitCode, 0, down.result.stdout + down.result.stderr);
  for (const node of labNodes) assert.deepEqual(down.counts[node], { logins: 0, sessions: 1 }, `down on ${node}`);
});

// A feature a machine remembers that is gone after all (a module unloaded by hand where modules can
// no longer be loaded) is planted on the machines: this kernel lacks IP-in-IP, so the step that
// needs it fails in the kernel's words, up rolls back and the machines forget.
test('over ssh: ipip remembered as seen on the machines: up skips its probe; without IP-in-IP after all, the step fails, named, up rolls back, the machines forget, and the next up names what is missing', async (t) => {
  const needs = requirements(loadLabFile(join(LABS, 'ipip.yaml')).model);
  const names = [
    ...needs.features.map((f) => `feature ${f.name}`),
    ...needs.extensions.map((x) => `extension ${x.name}`),
  ];
  const nodes = ['node-0', 'node-1'];
  const memory = `${['netlab kernel seen 1', BOOT, ...names].join('\n')}\n`;
  for (const node of nodes)
    await machines.transport(node).run(`mkdir -p /run/netlab && printf %s ${quoteArgv([memory])} >${NODE_MEMORY}\n`);
  const ssh = ['--ssh-config', machines.sshConfig];
  try {
    const up = await machines.netlab(stateDir, 'up', join(LABS, 'ipip.yaml'), ...ssh);
    const probe = await execa('sh', ['-c', 'unshare --net ip link add p type ipip'], { reject: false });
    if (probe.exitCode === 0) {
      t.diagnostic('this kernel has IP-in-IP: up goes up as it would have');
      assert.equal(up.exitCode, 0, up.stdout + up.stderr);
      return;
    }
    assertUnprobedIpipFailed(
      up,
      /the kernels of node-0, node-1 were not probed \(up saw them have what the lab needs since they booted\): the next `netlab up` probes them, and names anything they lack\n/,
    );
    for (const node of nodes)
      assert.equal((await machines.transport(node).run(`cat ${NODE_MEMORY}\n`)).stdout, '', `${node} forgot`);
    // The next up probes the kernels, and names what they lack before changing anything.
    const again = await machines.netlab(stateDir, 'up', join(LABS, 'ipip.yaml'), ...ssh);
    assert.equal(again.exitCode, 1, again.stdout + again.stderr);
    assert.match(again.stderr, /nothing was changed; on the nodes:\n.*lab ipip needs kernel IP-in-IP support/);
    for (const node of nodes)
      assert.equal(
        (await machines.transport(node).run(`cat ${NODE_MEMORY}\n`)).stdout,
        '',
        `${node}: what is missing is never remembered`,
      );
  } finally {
    await machines.netlab(stateDir, 'down', 'ipip');
    for (const node of nodes) await machines.transport(node).run(`rm -f ${NODE_MEMORY}\n`);
  }
  for (const node of nodes) assert.deepEqual(await leftovers(node), [], node);
});

for (const [signal, what] of [
  ['SIGINT', 'Ctrl-C'],
  ['SIGHUP', 'a dropped SSH session or closed terminal (SIGHUP)'],
] as const)
  test(`over ssh: ${what} during up stops every node's script, rolls back over fresh sessions and exits 130`, async () => {
    // The scale lab takes seconds per phase over SSH: the SIGINT lands while scripts run on all three nodes.
    const up = machines.start(stateDir, 'up', join(LABS, 'scale.yaml'), '--ssh-config', machines.sshConfig);
    const progress = watch(up);
    let result;
    let recorded: { status: string } | undefined;
    try {
      // Once the pods phase runs (its line printed as it starts): scripts are running on every node.
      await progress.until(/phase pods: node-0 \(\d+ steps\)/);
      // The local record was written before anything started on the machines (no simulated node wrote it).
      recorded = JSON.parse(readFileSync(join(stateDir, 'labs', 'scale.json'), 'utf8')) as { status: string };
      up.kill(signal);
      result = await up;
    } finally {
      up.kill('SIGKILL');
      await up;
      await machines.netlab(stateDir, 'down', 'scale');
    }
    assert.equal(recorded?.status, 'creating', 'the lab was recorded as being created while its pods phase ran');
    assert.equal(result.exitCode, 130, `${signal}: ${String(result.stdout)}${String(result.stderr)}`);
    assert.match(String(result.stderr), /rolled back: nothing is left on the nodes/);
    for (const name of machines.names) assert.deepEqual(await leftovers(name), [], `leftovers on ${name}`);
  });

for (const user of ['root', 'labuser'] as const)
  test(`over ssh as ${user === 'root' ? 'root' : 'a user with sudo'}, in a terminal: Ctrl-C during exec is the pod's program's to handle (ssh -t sends it to the machine), and netlab ends with its exit code; with its output in a file, netlab stops what it started on the machine (exec's program, capture's tcpdump)`, async () => {
    const sshConfig =
      user === 'root' ? machines.sshConfig : sshConfigFor({ 'node-0': machines.addresses['node-0']! }, user);
    const up = await machines.netlab(stateDir, 'up', join(LABS, 'bridge.yaml'), '--ssh-config', sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    // script(1) gives netlab a terminal of its own: ssh -t, the terminal raw, and the Ctrl-C typed into it
    // a byte that the machine's terminal turns into SIGINT for the programs there.
    const program = 'trap "echo caught; exit 3" INT; echo ready; while :; do sleep 0.1; done';
    // nsenter's arguments that run a shell command line in a terminal of its own, in the machines' client namespace.
    const inTerminal = (line: string) => [
      '-t',
      String(machines.clientPid),
      '-n',
      '--',
      'script',
      '-qec',
      line,
      '/dev/null',
    ];
    const env = { NETLAB_STATE_DIR: stateDir, FORCE_COLOR: '0', XDG_RUNTIME_DIR: machines.dir, PATH: process.env.PATH };
    const exec = spawn('nsenter', inTerminal(quoteArgv([NETLAB, 'exec', 'a0', '--', 'sh', '-c', program])), {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => exec.on('close', resolve));
    const output = watch(exec);
    try {
      await output.until('ready', { timeoutMs: 20_000 });
      exec.stdin.write('\x03');
      await output.until('caught', { timeoutMs: 10_000 });
      assert.equal(await exited, 3, output.output);
      const left = await machines.transport('node-0').run("pgrep -f 'echo caught' || true\n");
      assert.equal(left.stdout.trim(), '', "the pod's program is gone from node-0");
      // In a terminal, its output into a file: no terminal on the machine, whose \r\n would be in the file.
      const file = join(stateDir, `exec-${user}.out`);
      const redirected = spawnSync(
        'nsenter',
        inTerminal(`${quoteArgv([NETLAB, 'exec', 'a0', '--', 'printf', 'a\\nb\\n'])} >${file}`),
        { env, timeout: 30_000 },
      );
      assert.equal(redirected.status, 0, String(redirected.stdout) + String(redirected.stderr));
      assert.equal(readFileSync(file, 'utf8'), 'a\nb\n');
      // Without a terminal on the machine, Ctrl-C reaches the local ssh alone: netlab stops what it started on
      // the machine before it ends (a pod's program, a capture's tcpdump), which ran on until its timeout.
      await ctrlCWithoutTerminalOnMachine(
        inTerminal,
        env,
        `${quoteArgv([NETLAB, 'exec', 'a0', '--', 'sh', '-c', 'echo ready >&2; exec sleep 300'])} >${file}`,
        'ready',
        '^sleep 300$',
      );
      const pcap = join(stateDir, `capture-${user}.pcap`);
      const capture = await ctrlCWithoutTerminalOnMachine(
        inTerminal,
        env,
        quoteArgv([NETLAB, 'capture', 'a0', '--count', '1000', '--timeout', '60', '--write', pcap]),
        'listening on',
        '^tcpdump -U -w -',
      );
      assert.match(capture, /capture stopped by Ctrl-C/);
    } finally {
      exec.kill('SIGKILL');
      await exited;
      const down = await machines.netlab(stateDir, 'down', 'bridge');
      assert.equal(down.exitCode, 0, down.stderr);
    }
  });

test('over ssh: the plan shows the facts discovered on the machines', async () => {
  const plan = await machines.netlab(stateDir, 'plan', join(LABS, 'vxlan.yaml'), '--ssh-config', machines.sshConfig);
  assert.equal(plan.exitCode, 0, plan.stderr);
  assert.match(plan.stdout, /## node node-0: underlay 192\.168\.64\.4 on eth1/);
  assert.match(
    plan.stdout,
    /ip link add vxlan0 type vxlan id 100 group 239\.1\.1\.1 local 192\.168\.64\.5 dstport 4789 dev eth1/,
  );
});

// The login asks the facts as soon as up starts; `--recreate` takes the older version of the lab down
// after that, and its bridge and addresses must not be taken for the machine's own. On a machine whose
// one interface carries the default route, the bridge lab's br0 (which carries none) would be preferred.
test('over ssh: up --recreate plans from the facts as they are once the older version is down, not as the login read them', async () => {
  const node0 = machines.transport('node-0');
  assert.equal((await node0.run('ip route add default dev eth1\n')).exitCode, 0);
  const ssh = ['--ssh-config', machines.sshConfig];
  /** node-0's facts, as up recorded them in its state */
  const underlayOf = () =>
    (JSON.parse(readFileSync(join(stateDir, 'labs', 'bridge.json'), 'utf8')) as { facts: Record<string, unknown> })
      .facts['node-0'];
  try {
    const up = await machines.netlab(stateDir, 'up', join(LABS, 'bridge.yaml'), ...ssh);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const before = underlayOf();
    assert.match(JSON.stringify(before), /"eth1"/);
    const again = await machines.netlab(stateDir, 'up', join(LABS, 'bridge.yaml'), ...ssh, '--recreate');
    assert.equal(again.exitCode, 0, again.stdout + again.stderr);
    assert.deepEqual(underlayOf(), before, 'the same underlay: eth1, not the br0 of the version taken down');
  } finally {
    await machines.netlab(stateDir, 'down', 'bridge');
    await node0.run('ip route del default dev eth1\n');
  }
  for (const name of machines.names) assert.deepEqual(await leftovers(name), [], name);
});

test('over ssh: a lab naming an interface a machine lacks is refused, listing its interfaces', async () => {
  const file = join(work.dir, 'wrong-dev.yaml');
  writeFileSync(
    file,
    'name: wrongdev\nnodes:\n  node-0: { underlay: { dev: enp0s8 } }\n  node-1: {}\npods: { a0: { node: node-0 }, a1: { node: node-1 } }\nwiring: { cross-node: routes }\n',
  );
  const up = await machines.netlab(stateDir, 'up', file, '--ssh-config', machines.sshConfig);
  assert.equal(up.exitCode, 1, up.stdout + up.stderr);
  assert.match(up.stderr, /node-0 has no interface enp0s8 \(nodes\.node-0\.underlay\.dev\); its interfaces: lo, eth1/);
  for (const name of machines.names) assert.deepEqual(await leftovers(name), []);
});

test('over ssh: a refused connection, a wrong key and a missing tool fail before anything changes', async () => {
  const config = (extra: string) => {
    const file = join(work.dir, `ssh_config_${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, `${extra}\n`);
    return file;
  };
  const base = (name: string, address: string, key: string, port = 22) =>
    `Host ${name}\n  HostName ${address}\n  Port ${port}\n  User root\n  IdentityFile ${key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n`;
  const key = join(work.dir, 'id_ed25519');
  const lab = join(LABS, 'routes.yaml');

  const refused = config(
    base('node-0', machines.addresses['node-0']!, key) + base('node-1', machines.addresses['node-1']!, key, 2222),
  );
  let up = await machines.netlab(stateDir, 'up', lab, '--ssh-config', refused);
  assert.equal(up.exitCode, 1);
  assert.match(up.stderr, /cannot reach every node over SSH; nothing was changed:\n {2}node-1: .*Connection refused/);

  const strangerKey = join(work.dir, 'stranger');
  const { execa } = await import('execa');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKey]);
  const wrongKey = config(
    base('node-0', machines.addresses['node-0']!, strangerKey) + base('node-1', machines.addresses['node-1']!, key),
  );
  up = await machines.netlab(stateDir, 'up', lab, '--ssh-config', wrongKey);
  assert.equal(up.exitCode, 1);
  assert.match(up.stderr, /node-0: .*Permission denied \(publickey\)/);

  // socat and the statistic extension are missing on the spare machine: the preflight reports each with what brings it,
  // instead of iptables-restore failing in the last phase; doctor says the same of the machines.
  const crippled = config(
    base('node-0', machines.addresses['node-0']!, key) +
      base('node-1', machines.addresses.spare!, key) +
      base('node-2', machines.addresses['node-2']!, key),
  );
  up = await machines.netlab(stateDir, 'up', join(LABS, 'service.yaml'), '--ssh-config', crippled);
  assert.equal(up.exitCode, 1, up.stdout + up.stderr);
  assert.match(up.stderr, /nothing was changed; on the nodes:/);
  assert.match(up.stderr, /lab service needs the command "socat" on node-1: install the package socat/);
  assert.match(
    up.stderr,
    /lab service needs the iptables extension statistic \(kernel module xt_statistic\) on node-1; iptables answered "[^"]*Couldn't load match `statistic'/,
  );
  const doctor = await machines.netlab(stateDir, 'doctor', 'routes', 'service', '--ssh-config', crippled, '--json');
  assert.equal(doctor.exitCode, 1, doctor.stdout + doctor.stderr);
  const found = JSON.parse(doctor.stdout) as {
    nodes: { node: string; missing: { kind: string; name?: string; command?: string; labs: string[] }[] }[];
    missingPackages: string[];
  };
  assert.deepEqual(found.missingPackages, ['socat']);
  assert.deepEqual(
    found.nodes.map((n) => [n.node, n.missing.map((m) => `${m.kind} ${m.command ?? m.name} for ${m.labs.join(',')}`)]),
    [
      ['node-0', []],
      ['node-1', ['tool socat for routes,service', 'extension statistic for service']],
      ['node-2', []],
    ],
  );
  const said = await machines.netlab(stateDir, 'doctor', 'service', '--ssh-config', crippled);
  assert.match(
    said.stdout,
    /✗ node-1:\n {2}lab service needs the command "socat" on node-1: install the package socat/,
  );

  for (const name of machines.names) assert.deepEqual(await leftovers(name), [], `leftovers on ${name}`);
  const status = await machines.netlab(stateDir, 'status', '--json');
  assert.deepEqual(JSON.parse(status.stdout), { version: 1, labs: [] }, 'no lab is recorded');
});

/**
 * Runs a netlab command line in a terminal of its own (`inTerminal`) whose output goes to a file (no terminal on
 * the machine), types Ctrl-C once `ready` is in the terminal, and checks that netlab ends with 130 having left no
 * `left` process on node-0 (pgrep -f: a pattern anchored to the program's own command line, which the shells that
 * start it do not match): not afterwards, as it ends. Returns what netlab wrote to the terminal.
 */
async function ctrlCWithoutTerminalOnMachine(
  inTerminal: (line: string) => string[],
  env: NodeJS.ProcessEnv,
  line: string,
  ready: string,
  left: string,
): Promise<string> {
  const running = () => machines.transport('node-0').run(`pgrep -f ${quoteArgv([left])} || true\n`);
  // exec: netlab is the terminal's session leader's program itself, not a shell's child that the Ctrl-C stops
  // first (the terminal's hangup would then reach netlab before it has stopped what runs on the machine).
  const child = spawn('nsenter', inTerminal(`exec ${line}`), { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const output = watch(child);
  try {
    await output.until(ready, { timeoutMs: 20_000 });
    assert.notEqual((await running()).stdout.trim(), '', `${left} runs on node-0`);
    child.stdin.write('\x03');
    assert.equal(await within(exited, 15_000, 'netlab ends after Ctrl-C'), 130, output.output);
    assert.equal((await running()).stdout.trim(), '', `${left} is gone from node-0 as netlab ends`);
    return output.output;
  } finally {
    child.kill('SIGKILL');
    await exited;
    await machines.transport('node-0').run(`pkill -f ${quoteArgv([left])} || true\n`);
  }
}

function sshConfigFor(hosts: Record<string, string>, user: string): string {
  const key = join(work.dir, 'id_ed25519');
  const file = join(work.dir, `ssh_config_${user}`);
  writeFileSync(
    file,
    Object.entries(hosts)
      .map(
        ([name, address]) =>
          `Host ${name}\n  HostName ${address}\n  User ${user}\n  IdentityFile ${key}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n`,
      )
      .join('\n'),
  );
  return file;
}

test('over ssh: a lab file with an error is refused with exit 2 while the early login to a node that does not answer is under way, and that login is stopped', async () => {
  // node-0's "connection" is a proxy that never answers: a login there would wait for ssh's ConnectTimeout. (Its
  // sleep's argument is this test's own: the unit tier, run beside this one, starts a `sleep 60` of its own.)
  const file = join(work.dir, 'ssh_config_silent');
  const host = (name: string, how: string) =>
    `Host ${name}\n  ${how}\n  User root\n  IdentityFile ${join(work.dir, 'id_ed25519')}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n`;
  writeFileSync(
    file,
    host('node-0', 'ProxyCommand sleep 61.5') + host('node-1', `HostName ${machines.addresses['node-1']}`),
  );
  const lab = join(work.dir, 'broken.yaml');
  writeFileSync(lab, readFileSync(join(LABS, 'routes.yaml'), 'utf8').replace('same-node: bridge', 'same-node: hub'));
  const up = await machines.netlab(stateDir, 'up', lab, '--ssh-config', file);
  assert.equal(up.exitCode, 2, up.stdout + up.stderr);
  assert.match(up.stderr, /broken\.yaml:\d+:\d+: wiring\.same-node/);
  assert.doesNotMatch(up.stderr, /node-0|ssh failed|timed out/, 'the refusal says nothing of the login it stopped');
  // ssh ends its ProxyCommand as it exits (SIGHUP): the proxy may outlive netlab by a moment, never by long.
  await waitFor(
    'the proxy of the stopped login to end',
    async () => String((await execa('pgrep', ['-f', '^sleep 61\\.5$'], { reject: false })).stdout).trim() === '',
    { timeoutMs: 5_000 },
  );
  for (const name of machines.names) assert.deepEqual(await leftovers(name), [], `leftovers on ${name}`);
});

test('over ssh as a non-root user: through sudo -n when allowed, a plain refusal when not', async () => {
  const hosts = { 'node-0': machines.addresses['node-0']!, 'node-1': machines.addresses['node-1']! };
  let teardown: Run;
  try {
    const up = await machines.netlab(
      stateDir,
      'up',
      join(LABS, 'routes.yaml'),
      '--ssh-config',
      sshConfigFor(hosts, 'labuser'),
      '--verify',
    );
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
  } finally {
    teardown = await machines.netlab(stateDir, 'down', 'routes');
  }
  assert.equal(teardown.exitCode, 0, teardown.stdout + teardown.stderr);
  for (const name of machines.names) assert.deepEqual(await leftovers(name), []);
  const refused = await machines.netlab(
    stateDir,
    'up',
    join(LABS, 'routes.yaml'),
    '--ssh-config',
    sshConfigFor(hosts, 'nosudo'),
  );
  assert.equal(refused.exitCode, 1);
  assert.match(refused.stderr, /node-0: user nosudo is not root and may not run sudo without a password/);
  assert.match(refused.stderr, /nothing was changed/);
});

test('over ssh with an inventory, on machines with a FORWARD DROP policy and rules of their own: all of it is left as it was', async () => {
  const own = [
    'iptables -P FORWARD DROP',
    'iptables -A FORWARD -p tcp --dport 9 -j DROP',
    'iptables -t nat -N USER-CHAIN',
    'iptables -t nat -A PREROUTING -p tcp --dport 9999 -j USER-CHAIN',
  ].join(' && ');
  const snapshot =
    'iptables-save | grep -v "^#" | sed "s/\\[[0-9]*:[0-9]*\\]//"; sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables';
  const before: Record<string, string> = {};
  for (const name of ['node-0', 'node-1']) {
    assert.equal((await machines.transport(name).run(`${own}\n`)).exitCode, 0);
    before[name] = (await machines.transport(name).run(`${snapshot}\n`)).stdout;
  }
  const inventory = join(work.dir, 'inventory.yaml');
  writeFileSync(
    inventory,
    `${[
      'ssh-options: { StrictHostKeyChecking: "no", UserKnownHostsFile: /dev/null, LogLevel: ERROR }',
      'nodes:',
      ...['node-0', 'node-1'].map(
        (n) =>
          `  ${n}: { host: ${machines.addresses[n]}, user: root, identity: ${join(work.dir, 'id_ed25519')}, underlay: { dev: eth1 } }`,
      ),
    ].join('\n')}\n`,
  );
  const after: Record<string, string> = {};
  let teardown: Run;
  try {
    try {
      const up = await machines.netlab(
        stateDir,
        'up',
        join(LABS, 'nodeport.yaml'),
        '--inventory',
        inventory,
        '--verify',
      );
      assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    } finally {
      teardown = await machines.netlab(stateDir, 'down', 'nodeport');
    }
    for (const name of ['node-0', 'node-1']) after[name] = (await machines.transport(name).run(`${snapshot}\n`)).stdout;
  } finally {
    // The machines' own rules and policy go, whatever happened: later tests start from clean machines.
    for (const name of ['node-0', 'node-1'])
      await machines
        .transport(name)
        .run(
          'iptables -P FORWARD ACCEPT; iptables -F FORWARD; iptables -t nat -F PREROUTING; iptables -t nat -X USER-CHAIN\n',
        );
  }
  assert.equal(teardown.exitCode, 0, teardown.stdout + teardown.stderr);
  for (const name of ['node-0', 'node-1'])
    assert.equal(after[name], before[name], `${name}: iptables and sysctls exactly as before`);
});

test("over ssh: objects that are not the lab's are never touched: a user's br0, another lab's pods", async () => {
  const file = join(LABS, 'bridge.yaml');
  await machines.transport('node-0').run('ip link add br0 type bridge && ip link set br0 up\n');
  try {
    const up = await machines.netlab(stateDir, 'up', file, '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 1, up.stdout + up.stderr);
    assert.match(
      up.stderr,
      /nothing was changed; on the nodes:\n {2}node-0 already has a link named br0, which step \d+ of lab bridge would create: netlab never changes what it did not create/,
    );
    const br0 = await machines.transport('node-0').run('ip -br link show br0\n');
    assert.match(br0.stdout, /^br0 .*<[A-Z,]*\bUP\b/, "the user's br0 is still there, up");
  } finally {
    await machines.transport('node-0').run('ip link del br0\n');
  }
  // Two labs whose pods share names on one node: the second refuses, the first is untouched.
  try {
    assert.equal((await machines.netlab(stateDir, 'up', file, '--ssh-config', machines.sshConfig)).exitCode, 0);
    const second = await machines.netlab(stateDir, 'up', join(LABS, 'veth.yaml'), '--ssh-config', machines.sshConfig);
    assert.equal(second.exitCode, 1);
    assert.match(
      second.stderr,
      /node-0 already has a network namespace named a0, which step 1 of lab veth would create/,
    );
    assert.equal((await machines.netlab(stateDir, 'verify', 'bridge')).exitCode, 0, 'the first lab still works');
  } finally {
    await machines.netlab(stateDir, 'down', 'bridge');
  }
  for (const name of machines.names) assert.deepEqual(await leftovers(name), []);
});

test("over ssh: a network of the machine's own inside the lab's cluster CIDR (a container bridge's) is refused before anything changes, and left as it was", async () => {
  // A blackhole route stands in for a Docker bridge's network: a route of the machine's, not the lab's.
  await machines.transport('node-1').run('ip route add blackhole 10.200.77.0/24\n');
  try {
    const up = await machines.netlab(stateDir, 'up', join(LABS, 'vxlan.yaml'), '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 1, up.stdout + up.stderr);
    assert.match(
      up.stderr,
      /nothing was changed; on the nodes:\n {2}node-1 has a route to 10\.200\.77\.0\/24, not this lab's, inside the lab's cluster CIDR 10\.200\.0\.0\/16: the lab's rules for that range would match its traffic too/,
    );
    const route = await machines.transport('node-1').run('ip route show 10.200.77.0/24\n');
    assert.match(route.stdout, /^blackhole 10\.200\.77\.0\/24/, "the machine's route is still there");
  } finally {
    await machines.transport('node-1').run('ip route del blackhole 10.200.77.0/24\n');
  }
  for (const name of machines.names) assert.deepEqual(await leftovers(name), []);
});

test("over ssh: down works from the nodes' own records when the local state is lost", async () => {
  let down: Run | undefined;
  let run: { id: string } | undefined;
  try {
    const up = await machines.netlab(stateDir, 'up', join(LABS, 'vxlan.yaml'), '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stderr);
    ({ run } = JSON.parse(readFileSync(join(stateDir, 'labs', 'vxlan.json'), 'utf8')) as { run: { id: string } });
    rmSync(join(stateDir, 'labs', 'vxlan.json'));
    // The nodes name the run they have; it is removed once named by its id.
    const refused = await machines.netlab(stateDir, 'down', 'vxlan', '--ssh-config', machines.sshConfig);
    assert.equal(refused.exitCode, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, new RegExp(`on the nodes it is run ${run.id} .*--run ${run.id}`));
    down = await machines.netlab(stateDir, 'down', 'vxlan', '--ssh-config', machines.sshConfig, '--run', run.id);
  } finally {
    // Should the test fail before its own down ran: the lab goes, from the nodes' records.
    if (!down && run)
      await machines.netlab(stateDir, 'down', 'vxlan', '--ssh-config', machines.sshConfig, '--run', run.id);
  }
  assert.equal(down.exitCode, 0, down.stderr);
  assert.match(down.stdout, /from the nodes' own records/);
  for (const name of machines.names) assert.deepEqual(await leftovers(name), []);
});

test('over ssh: after a reboot of the nodes (objects and records gone), down has nothing to do and says so without error', async () => {
  // What a reboot does: processes, namespaces, links, routes, rules and the tmpfs /run are gone.
  const reboot =
    'for p in $(ip netns list | cut -d" " -f1); do kill -9 $(ip netns pids $p) 2>/dev/null; ip netns del $p; done; ip link del br0 2>/dev/null; ip link del br1 2>/dev/null; iptables -F; iptables -X; sysctl -qw net.ipv4.ip_forward=0; ip route flush proto boot; rm -rf /run/netlab\n';
  try {
    const up = await machines.netlab(stateDir, 'up', join(LABS, 'routes.yaml'), '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stderr);
  } finally {
    // The "reboot" runs even when up failed: it removes whatever up made.
    for (const name of ['node-0', 'node-1']) await machines.transport(name).run(reboot);
  }
  const down = await machines.netlab(stateDir, 'down', 'routes');
  assert.equal(down.exitCode, 0, down.stderr);
  assert.equal(down.stderr, '');
  for (const name of machines.names) assert.deepEqual(await leftovers(name), []);
});
