// The real-kernel VM tier, as root: three QEMU VMs with Debian's cloud kernel,
// reached over SSH exactly like Vagrant VMs. The labs that need what only a
// distribution kernel has here (IP-in-IP and GENEVE among them) go up, verify,
// trace and go down, and leave nothing behind on the VMs.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { LABS, NETLAB } from '../paths.js';
import {
  nodeLeftovers,
  nodeState,
  snapshotHost,
  stateChanges,
  stateDirForTest,
  type HostSnapshot,
  type Run,
} from '../e2e/host.js';
import { bootVMs, type VMs } from './vms.js';
import { faultRow, type FaultCase, MATRIX_HEADER } from '../e2e/fault-case.js';
import { everyChallenge, faultsLeaveTheMachinesFirewall } from '../e2e/challenge-case.js';
import { faultsOf } from '../../src/faults/faults.js';
import { readState } from '../../src/state/store.js';
import { endSessions, sshTransport } from '../../src/exec/ssh.js';
import { writeRoom } from '../e2e/room-case.js';
import { quoteArgv } from '../../src/os/quote.js';
import { waitFor } from '../wait.js';
import type { Board } from '../../src/room/board.js';

const work = stateDirForTest();
// This process reaches the VMs too (leftovers below): its SSH master sockets go with the test's files.
process.env.XDG_RUNTIME_DIR = work.dir;
const stateDir = join(work.dir, 'state');
// This process reads the labs' state too (the fault matrix's row plans with the VMs' facts).
process.env.NETLAB_STATE_DIR = stateDir;
let vms: VMs;
let pristine: HostSnapshot;

before(async () => {
  const image = process.env.NETLAB_VM_IMAGE;
  assert.ok(image, 'NETLAB_VM_IMAGE is not set: run the VM tier with `npm run test:vm`, which builds the image first');
  pristine = await snapshotHost();
  mkdirSync(stateDir);
  const started = Date.now();
  vms = await bootVMs(['node-0', 'node-1', 'node-2'], image, work.dir);
  console.log(`# 3 VMs booted and answering SSH in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const name of vms.names) {
    const transport = sshTransport({ kind: 'ssh', configFile: vms.sshConfig, hosts: { [name]: { host: name } } }, name);
    booted[name] = new Set((await nodeLeftovers(transport)).filter((l) => l.startsWith('process ')));
    bootState[name] = await nodeState(transport);
  }
});

after(async () => {
  endSessions();
  vms?.stop();
  work.remove();
  assert.deepEqual(await snapshotHost(), pristine, 'no VM, ssh connection or host change is left');
});

async function netlab(...args: string[]): Promise<Run> {
  return netlabFrom(stateDir, ...args);
}

/** netlab with a state directory of its own: another controller (a learner's) of the same VMs. */
async function netlabFrom(dir: string, ...args: string[]): Promise<Run> {
  const result = await execa(NETLAB, args, {
    reject: false,
    stdin: 'ignore',
    timeout: 300_000,
    env: { NETLAB_STATE_DIR: dir, FORCE_COLOR: '0', XDG_RUNTIME_DIR: work.dir },
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** What each VM had before any lab ran (its own processes, PID and command line), taken once it answers SSH. */
const booted: Record<string, Set<string>> = {};
/** Each VM's nodeState at boot. */
const bootState: Record<string, string[]> = {};

/**
 * What a lab left on a VM: what nodeLeftovers finds that was not there before
 * any lab ran (below, in before()), less the sshd sessions of the connections
 * made to look. A pause or container process (`sleep infinity`) a lab leaves is
 * found: only the processes the VM had at boot are not counted.
 */
async function leftovers(name: string): Promise<string[]> {
  const transport = sshTransport({ kind: 'ssh', configFile: vms.sshConfig, hosts: { [name]: { host: name } } }, name);
  // eth0 (NAT) and tunl0 (made by the ipip module when it loads) belong to the VM.
  const found = await nodeLeftovers(transport, ['lo', 'eth0', 'eth1', 'tunl0']);
  const before = booted[name];
  assert.ok(before, `the processes of ${name} at boot are taken in before()`);
  return [
    ...found.filter((l) => !before.has(l) && !/^process \d+ sshd/.test(l)),
    // and the routes, addresses, sysctls, permanent neighbour and static FDB entries as they were at boot
    ...stateChanges(bootState[name]!, await nodeState(transport)),
  ];
}

/**
 * The labs whose kernel side this host cannot prove: IP-in-IP and GENEVE (modules
 * this kernel lacks), Services and NetworkPolicies (iptables-nft, br_netfilter and conntrack as
 * Debian's modules), and VXLAN multicast between three real kernels. Every
 * other lab runs on simulated nodes and over SSH in the e2e tier; each VM lab
 * costs 20-50 s of CI here.
 */
const labs = ['ipip', 'geneve', 'service', 'vxlan-3', 'policy'];
/** A row of the fault matrix on the VMs, on the lab that is up (its check passed just before), printed. */
async function matrixRow(t: TestContext, c: FaultCase): Promise<void> {
  const state = readState(c.lab)!;
  const fault = faultsOf(state.model, state.facts).find((f) => f.id === c.fault)!;
  const row = await faultRow(netlab, c, fault, true);
  t.diagnostic(MATRIX_HEADER);
  t.diagnostic(row);
}

/** The pods' MTU each overlay lab gives over the VMs' 1500-byte underlay (wiring/mtu.ts). */
const OVERLAY_MTU: Record<string, number> = { ipip: 1480, geneve: 1450, 'vxlan-3': 1450 };
for (const lab of labs) assert.ok(existsSync(join(LABS, `${lab}.yaml`)), `labs/${lab}.yaml`);

for (const lab of labs) {
  test(`real kernels: ${lab} goes up, verifies and goes down, leaving nothing on the VMs`, async (t) => {
    const started = Date.now();
    try {
      // A Service check spreads its connections over the backends, each a socat started under TCG:
      // 20 reach both backends but for a chance of 2 × 2⁻²⁰ (the lab's 60 cost 40 s more here).
      const fewer = lab === 'service' ? ['--connections', '20'] : undefined;
      const up = await netlab(
        'up',
        join(LABS, `${lab}.yaml`),
        '--ssh-config',
        vms.sshConfig,
        ...(fewer ? [] : ['--verify']),
      );
      assert.equal(up.exitCode, 0, up.stdout + up.stderr);
      const checked = fewer ? await netlab('verify', lab, ...fewer) : up;
      assert.equal(checked.exitCode, 0, checked.stdout + checked.stderr);
      assert.match(checked.stdout, /all \d+ checks passed/);
      if (!['loopback', 'nodeport', 'policy'].includes(lab)) {
        // trace on real kernels over SSH: a0 reaches a1 and the reply comes back
        const trace = await netlab('trace', 'a0', 'a1', '--json');
        assert.equal(trace.exitCode, 0, trace.stdout + trace.stderr);
        const hops = (JSON.parse(trace.stdout) as { hops: { kind: string; text: string }[] }).hops;
        if (lab === 'ipip')
          assert.match(hops.find((h) => h.kind === 'ipip')!.text, /outer 192\.168\.56\.10 → 192\.168\.56\.11/);
        if (lab === 'geneve')
          assert.match(
            hops.find((h) => h.kind === 'geneve')!.text,
            /^gnv1 \(VNI 100\) wraps the frame: outer 192\.168\.56\.10 → 192\.168\.56\.11, UDP port 6081/,
          );
        if (lab === 'vxlan-3')
          assert.match(
            hops.find((h) => h.kind === 'vxlan')!.text,
            /outer 192\.168\.56\.10 → 192\.168\.56\.11, UDP port 4789/,
          );
      }
      if (lab === 'ipip') {
        // The underlay is Vagrant-like (192.168.56.x), discovered on the VMs, not the simulated default.
        assert.match(up.stdout, /10\.200\.1\.2 via 192\.168\.56\.11 dev ipip0/);
        // The row of the fault matrix that needs IP-in-IP: node-1's ipip0 deleted, made again by the plan's steps.
        await matrixRow(t, {
          lab,
          fault: 'link-deleted:node-1:ipip0',
          check: 1,
          trace: ['a0', 'a1'],
          finding: /node-1: link ipip0 is missing \(step \d+: create the IP-in-IP tunnel ipip0/,
          // The module's fallback device takes what no tunnel of the lab does, and it is down.
          stops: { node: 'node-1', reason: /tunl0 on node-1 is down: the outer packet is dropped/ },
        });
      }
      if (OVERLAY_MTU[lab]) {
        // What the overlay's headers leave of the VMs' 1500-byte underlay; the derived bulk checks passed with it.
        const link = await netlab('exec', 'a0', '--', 'ip', '-o', 'link', 'show', 'veth-a0-c');
        assert.match(link.stdout, new RegExp(` mtu ${OVERLAY_MTU[lab]} `), link.stdout);
        assert.match(up.stdout, /tcp a1 → a0:8080 .*, 1000000 bytes +reached/);
      }
      if (lab === 'vxlan-3') {
        // A wrong MTU on a real kernel: node-1's end of a1's veth 50 bytes short. a1's full-size
        // segments are dropped as they enter it (the other way, GRO on the VMs' NICs may merge
        // them into one large packet that passes: the check is the one a1 sends from).
        await matrixRow(t, {
          lab,
          fault: 'mtu-wrong:node-1:veth-a1',
          check: 9,
          trace: ['a1', 'a0', '--size', '1450'],
          finding: /node-1: veth-a1's MTU is 1400, but the lab sets 1450 \(step \d+: give pod a1's veth the MTU 1450\)/,
          stops: { node: 'node-1', reason: /a 1450-byte packet does not fit veth-a1's MTU of 1400: a veth drops/ },
        });
      }
      if (lab === 'ipip' || lab === 'geneve') {
        // Their challenges need the modules this host's kernel lacks: here, as on simulated nodes (challenges.test.ts).
        for (const row of await everyChallenge(netlab, lab)) t.diagnostic(row);
      }
    } finally {
      const down = await netlab('down', lab);
      assert.equal(down.exitCode, 0, down.stderr);
    }
    for (const name of vms.names) assert.deepEqual(await leftovers(name), [], `${lab}: leftovers on ${name}`);
    t.diagnostic(`${lab}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
}

test("real kernels: a challenge's fault on a VM with a firewall of its own (a DROP rule in FORWARD, policy DROP) leaves both as they were", async () => {
  // A session of its own for each look: netlab's down ends the master connection an older session would go through.
  const target = { kind: 'ssh' as const, configFile: vms.sshConfig, hosts: { 'node-0': { host: 'node-0' } } };
  const node0 = {
    run: (script: string) => {
      endSessions();
      return sshTransport(target, 'node-0').run(script);
    },
  };
  // (a challenge solved another way than its mend is the e2e tier's: no kernel feature in it)
  await faultsLeaveTheMachinesFirewall(netlab, node0, work.dir, ['--ssh-config', vms.sshConfig], {
    solvedAnotherWay: false,
  });
  for (const name of vms.names) assert.deepEqual(await leftovers(name), []);
});

test("real kernels: a learner's controller attaches to the lab an instructor built on the VMs: checks and hints from the nodes' records, down refused, gone after the owner's down", async () => {
  const learner = join(work.dir, 'learner-state');
  mkdirSync(learner);
  const as = (...args: string[]) => netlabFrom(learner, ...args);
  let attached = false;
  try {
    const up = await netlab('up', join(LABS, 'routes.yaml'), '--ssh-config', vms.sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.equal((await netlab('challenge', 'start', 'routes', 'lost-route')).exitCode, 0);
    const attach = await as('attach', 'routes', '--ssh-config', vms.sshConfig);
    assert.equal(attach.exitCode, 0, attach.stdout + attach.stderr);
    attached = true;
    const check = JSON.parse((await as('challenge', 'check', 'routes', '--json')).stdout) as { solved: boolean };
    assert.equal(check.solved, false);
    const hints = JSON.parse((await as('challenge', 'hint', 'routes', '--json')).stdout) as { hints: string[] };
    assert.deepEqual(hints.hints, [], 'no hint unlocked yet');
    const down = await as('down', 'routes');
    assert.equal(down.exitCode, 2);
    assert.match(
      down.stderr,
      /lab routes is attached here, not built here: `netlab down` is for its owner, run [0-9a-f]{12}/,
    );
    assert.equal((await netlab('challenge', 'stop', 'routes')).exitCode, 0);
    assert.equal((await netlab('down', 'routes')).exitCode, 0);
    const gone = await as('status', 'routes');
    assert.equal(gone.exitCode, 1, gone.stdout + gone.stderr);
    assert.match(gone.stderr, /lab routes is gone from its nodes/);
    assert.equal((await as('detach', 'routes')).exitCode, 0);
    attached = false;
  } finally {
    await netlab('down', 'routes');
    if (attached) await as('detach', 'routes');
  }
  for (const name of vms.names) assert.deepEqual(await leftovers(name), []);
});

test("real kernels: a room's group on the VMs: built with the room's own VNI, broken, graded by the room until the revealed fix solves it, taken down", async () => {
  const room = writeRoom(work.dir, { vms: `{ ssh-config: ${vms.sshConfig} }` });
  try {
    const up = await netlab('room', 'up', room);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /netlab attach vxlan@vms --ssh-config /);
    const vxlan0 = await netlab('exec', 'node-0', '--instance', 'vms', '--', 'ip', '-d', 'link', 'show', 'vxlan0');
    const planned = /type vxlan id (\d+) group (\S+)/.exec((await netlab('plan', 'vxlan@vms')).stdout);
    assert.ok(planned && planned[1] !== '100', "the group's plan has a VNI of its own");
    assert.match(
      vxlan0.stdout,
      new RegExp(`vxlan id ${planned[1]} group ${planned[2]!.replace(/\./g, '\\.')} `),
      "the room's own VNI and group",
    );
    assert.equal((await netlab('room', 'start', room)).exitCode, 0);
    const board = async () => JSON.parse((await netlab('room', 'status', room, '--json')).stdout) as Board;
    assert.deepEqual(
      (await board()).groups[0]!.failing.map((f) => f.number),
      [1, 2],
    );
    const revealed = JSON.parse((await netlab('challenge', 'reveal', 'vxlan@vms', '--json')).stdout) as {
      node: string;
      mend: string[][];
    };
    const fix = await netlab(
      'exec',
      revealed.node,
      '--instance',
      'vms',
      '--',
      'sh',
      '-c',
      revealed.mend.map((c) => quoteArgv(c)).join(' && '),
    );
    assert.equal(fix.exitCode, 0, fix.stderr);
    const solved = await waitFor(
      'the room grades the fix solved',
      async () => {
        const b = await board();
        return b.groups[0]!.challenge?.solved && b;
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
    assert.ok(solved.groups[0]!.challenge!['solved-at']);
  } finally {
    const down = await netlab('room', 'down', room);
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
  }
  for (const name of vms.names) assert.deepEqual(await leftovers(name), []);
});

test('real kernels: egress to a host outside the cluster (the third VM, which knows no pod address) through MASQUERADE', async () => {
  // The lab names the outside host, as a lab for machines over SSH does; node-2 is not in it.
  const file = join(work.dir, 'egress-vm.yaml');
  writeFileSync(
    file,
    readFileSync(join(LABS, 'egress.yaml'), 'utf8').replace('outside: {}', 'outside: { address: 192.168.56.12 }'),
  );
  try {
    const up = await netlab('up', file, '--ssh-config', vms.sshConfig, '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /ping a1 → outside +reached/);
    const trace = await netlab('trace', 'a1', 'outside', '--json');
    const hops = (JSON.parse(trace.stdout) as { hops: { kind: string; text: string }[] }).hops;
    assert.match(hops.find((h) => h.kind === 'snat')!.text, /source 10\.200\.1\.2 becomes 192\.168\.56\.11/);
    // Without node-1's masquerade the reply has no way back to a pod address.
    const flush = await netlab('exec', 'node-1', '--', 'iptables', '-w', '-t', 'nat', '-F', 'NL-EGRESS-egress');
    assert.equal(flush.exitCode, 0, flush.stderr);
    const verify = JSON.parse((await netlab('verify', 'egress', '--json')).stdout) as { checks: { ok: boolean }[] };
    assert.deepEqual(
      verify.checks.map((c) => c.ok),
      [true, false, true],
    );
  } finally {
    const down = await netlab('down', 'egress');
    assert.equal(down.exitCode, 0, down.stderr);
  }
  for (const name of vms.names) assert.deepEqual(await leftovers(name), [], `egress: leftovers on ${name}`);
});

/** A shell script run as root on a VM. */
async function onVM(name: string, script: string): Promise<void> {
  const result = await execa('ssh', ['-F', vms.sshConfig, '-o', 'BatchMode=yes', name, script], {
    reject: false,
    stdin: 'ignore',
  });
  assert.equal(result.exitCode, 0, `${name}: ${script}: ${String(result.stderr)}`);
}

test('real kernels: across a router (the third VM) that knows no pod subnet, plain routes stop at it, IP-in-IP and VXLAN cross it; traceroute sees the nodes only', async () => {
  // The routed underlay of labs/router-ipip.yaml, as a workshop's network gives it: node-0 on
  // 192.168.60.0/24, node-1 on 192.168.61.0/24, each with a route to the other network via node-2,
  // a router with an address on both (one NIC on the shared segment: no ICMP redirects from it).
  const setup: Record<string, string> = {
    'node-0':
      'ip addr flush dev eth1 && ip addr add 192.168.60.10/24 dev eth1 && ip route add 192.168.61.0/24 via 192.168.60.254',
    'node-1':
      'ip addr flush dev eth1 && ip addr add 192.168.61.11/24 dev eth1 && ip route add 192.168.60.0/24 via 192.168.61.254',
    'node-2':
      'ip addr flush dev eth1 && ip addr add 192.168.60.254/24 dev eth1 && ip addr add 192.168.61.254/24 dev eth1 && sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.eth1.send_redirects=0 net.ipv4.ip_forward=1',
  };
  const restore = (name: string) =>
    `ip addr flush dev eth1 && ip addr add ${vms.addresses[name]}/24 dev eth1 && sysctl -qw net.ipv4.conf.all.send_redirects=1 net.ipv4.conf.eth1.send_redirects=1 net.ipv4.ip_forward=0`;
  try {
    for (const [name, script] of Object.entries(setup)) await onVM(name, script);
    // Plain routes first: the nodes reach each other, the pods do not, and verify names the router.
    const routes = await netlab('up', join(LABS, 'router.yaml'), '--ssh-config', vms.sshConfig, '--verify');
    assert.equal(routes.exitCode, 1, routes.stdout + routes.stderr);
    assert.match(routes.stdout, /1 ✓ pass {2}ping node-0 → node-1/);
    assert.match(
      routes.stdout,
      /trace of check 2 .*: → leaves the lab at router-0: the packet goes on to router router-0 \(192\.168\.60\.254\)/,
    );
    const down = await netlab('down', 'router');
    assert.equal(down.exitCode, 0, down.stderr);
    const up = await netlab('up', join(LABS, 'router-ipip.yaml'), '--ssh-config', vms.sshConfig, '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /all 4 checks passed/);
    // node-0 and node-1 route the pods' packets; node-2 routes only the outer ones, invisible to traceroute.
    assert.match(
      up.stdout,
      /hops: 10\.200\.0\.1 \(node-0\) → [\d.]+ \(node-1\) → 10\.200\.1\.2( \(traced twice: a hop was silent the first time\))?\n/,
    );
    const trace = await netlab('trace', 'a0', 'a1', '--json');
    assert.equal(trace.exitCode, 0, trace.stdout + trace.stderr);
    const hops = (JSON.parse(trace.stdout) as { hops: { kind: string; text: string }[] }).hops;
    assert.match(hops.find((h) => h.kind === 'ipip')!.text, /outer 192\.168\.60\.10 → 192\.168\.61\.11/);
    assert.ok(
      hops.some((h) => /^router router-0 \(192\.168\.60\.254\) forwards the outer packet/.test(h.text)),
      JSON.stringify(hops),
    );
    assert.equal((await netlab('down', 'router-ipip')).exitCode, 0);
    // VXLAN across the same router: no multicast crosses it, the flood list does (unicast to node-1).
    const vxlan = await netlab('up', join(LABS, 'router-vxlan.yaml'), '--ssh-config', vms.sshConfig, '--verify');
    assert.equal(vxlan.exitCode, 0, vxlan.stdout + vxlan.stderr);
    assert.match(vxlan.stdout, /all 4 checks passed/);
    assert.match(vxlan.stdout, /00:00:00:00:00:00 dst 192\.168\.61\.11 self permanent/);
  } finally {
    for (const lab of ['router', 'router-ipip', 'router-vxlan']) await netlab('down', lab);
    for (const name of Object.keys(setup)) await onVM(name, restore(name));
  }
  for (const name of vms.names) assert.deepEqual(await leftovers(name), [], `router labs: leftovers on ${name}`);
});
