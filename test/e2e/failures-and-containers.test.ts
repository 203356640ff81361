// A failing step rolls back; --keep keeps it for debugging; down works without
// local state; containers with a rootfs get their own overlay (article 001, 2.1).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { netlab, netlabWithEnv, snapshotHost, stateDirForTest, type HostSnapshot, type Run } from './host.js';
import { destroySimulatedNodes } from '../../src/exec/simulated.js';
import { isRunning, processRef } from '../../src/os/processes.js';
import type { Holder } from '../../src/state/targets.js';
import { waitFor } from '../wait.js';

const state = stateDirForTest();
let pristine: HostSnapshot;
before(async () => {
  pristine = await snapshotHost();
});
after(() => state.remove());

function containerLab(name: string, rootfs: string): string {
  const file = join(state.dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}\nnodes: { node-0: {} }\npods:\n  pod: { node: node-0, containers: [a0, a1], rootfs: ${rootfs} }\nwiring: { same-node: loopback }\n`,
  );
  return file;
}

test('a step that fails rolls back everything and names the node, step, command and error', async () => {
  const notADirectory = join(state.dir, 'not-a-dir');
  writeFileSync(notADirectory, 'x');
  const up = await netlab(state.dir, 'up', containerLab('broken', notADirectory));
  let host;
  try {
    assert.equal(up.exitCode, 1, up.stdout + up.stderr);
    assert.match(up.stderr, /step 5 on node-0 failed: make container a0's overlay filesystem/);
    assert.match(up.stderr, /\$ netlab_pod_mount pod -t overlay overlay -o lowerdir=.*not-a-dir/);
    assert.match(up.stderr, /rolled back/);
    assert.equal(existsSync(join(state.dir, 'labs', 'broken.json')), false, 'no state is left');
    host = await snapshotHost();
  } finally {
    // Should the rollback have left anything (or up have succeeded), it goes, for the tests after this one.
    await netlab(state.dir, 'down', 'broken');
  }
  assert.deepEqual(host, pristine, 'the rollback left nothing');
});

test('--keep keeps a failed lab for debugging; up refuses until down removes it', async () => {
  const notADirectory = join(state.dir, 'not-a-dir');
  writeFileSync(notADirectory, 'x');
  const file = containerLab('kept', notADirectory);
  let teardown: Run;
  try {
    const up = await netlab(state.dir, 'up', file, '--keep');
    assert.equal(up.exitCode, 1);
    assert.match(up.stderr, /kept what was created/);
    const status = (
      JSON.parse((await netlab(state.dir, 'status', '--json')).stdout) as { labs: { lab: string; status: string }[] }
    ).labs;
    assert.deepEqual(
      status.map((s) => [s.lab, s.status]),
      [['kept', 'failed']],
    );
    const pods = await netlab(state.dir, 'exec', 'pod', '--', 'hostname');
    assert.equal(pods.stdout.trim(), 'pod', 'the pod created before the failure is still there to inspect');
    const again = await netlab(state.dir, 'up', file);
    assert.equal(again.exitCode, 2);
    assert.match(again.stderr, /left failed by an earlier up or down; run `netlab down kept` first/);
  } finally {
    teardown = await netlab(state.dir, 'down', 'kept');
  }
  assert.equal(teardown.exitCode, 0, teardown.stdout + teardown.stderr);
  assert.deepEqual(await snapshotHost(), pristine);
});

test('down finds and removes simulated nodes even when the local state is lost', async () => {
  let down: Run | undefined;
  let afterDown: HostSnapshot | undefined;
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(up.exitCode, 0, up.stderr);
    rmSync(join(state.dir, 'labs', 'bridge.json'));
    assert.notDeepEqual((await snapshotHost()).processes, pristine.processes);
    down = await netlab(state.dir, 'down', 'bridge');
    afterDown = await snapshotHost();
  } finally {
    // A down that did not find them (the bug this test is for) must not leave the nodes to the tests after
    // this one: they are stopped here by the marker their holders carry, as down finds them.
    stopHoldersOf('bridge');
  }
  assert.equal(down.exitCode, 0, down.stdout + down.stderr);
  assert.deepEqual(afterDown, pristine, 'down stopped every node of the lab');
});

test('a lab whose simulated nodes are gone (the machine restarted) is built again by up, not said to be up; target flags naming machines are refused by down and up', async () => {
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(up.exitCode, 0, up.stderr);
    // Another target's flags: the lab there is not this one.
    const config = join(state.dir, 'machines.ssh');
    writeFileSync(config, 'Host node-0\n  HostName 127.0.0.1\n  Port 9\n');
    const down = await netlab(state.dir, 'down', 'bridge', '--ssh-config', config);
    assert.equal(down.exitCode, 2, down.stdout + down.stderr);
    assert.match(down.stderr, /lab bridge is up on simulated nodes on this host, not on the machines of --ssh-config/);
    const upThere = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'), '--ssh-config', config);
    assert.equal(upThere.exitCode, 2, upThere.stdout + upThere.stderr);
    assert.match(
      upThere.stderr,
      /lab bridge is up on simulated nodes on this host, not on the machines of --ssh-config/,
    );
    // As after a restart: the holders gone (and everything the lab made with them), the state still says up.
    stopHoldersOf('bridge');
    const again = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(again.exitCode, 0, again.stdout + again.stderr);
    assert.match(
      again.stdout,
      /^lab bridge was up, but its simulated nodes are not running \(node-0, the underlay; this machine restarted\?\): taking down what is left, and building it again$/m,
    );
    const verify = await netlab(state.dir, 'verify', 'bridge');
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    // The underlay's holder alone killed (its namespace gone, and with it node-0's eth1): built again too, where up
    // said it was up and its file unchanged.
    const recorded = JSON.parse(readFileSync(join(state.dir, 'labs', 'bridge.json'), 'utf8')) as {
      target: { underlay: { init: { pid: number } } };
    };
    process.kill(recorded.target.underlay.init.pid, 'SIGKILL');
    // status says so, as up finds it (the bridge lab's steps name no underlay link: no drift would show it).
    const status = await waitFor('status to see the underlay gone', async () => {
      const seen = await netlab(state.dir, 'status', 'bridge');
      return seen.exitCode === 1 && seen;
    });
    assert.match(status.stdout, /^ {4}unreachable: the underlay: the simulated network is not running$/m);
    const rebuilt = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(rebuilt.exitCode, 0, rebuilt.stdout + rebuilt.stderr);
    assert.match(rebuilt.stdout, /^lab bridge was up, but its simulated nodes are not running \(the underlay; /m);
    assert.equal((await netlab(state.dir, 'verify', 'bridge')).exitCode, 0);
  } finally {
    await netlab(state.dir, 'down', 'bridge');
    stopHoldersOf('bridge');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

test("after a reboot, a state's holders are the boot before's: a process of this boot with one's PID and start time is neither entered nor stopped by down", async () => {
  let decoy: ChildProcess | undefined;
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(up.exitCode, 0, up.stderr);
    // As a reboot: the holders gone with the boot, the state on disk still names them.
    stopHoldersOf('bridge');
    // This boot's process with a recorded holder's PID and start time (a boot runs the same programs in the same
    // order): one in namespaces of its own, so that the code before this test's fix, which entered it, changed
    // nothing of this machine's.
    decoy = spawn('unshare', ['--net', '--mount', '--uts', '--ipc', 'sleep', '600'], { stdio: 'ignore' });
    const pid = decoy.pid!;
    await waitFor(
      'the decoy (unshare, then sleep)',
      () => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep',
    );
    const itself = processRef(pid)!;
    const file = join(state.dir, 'labs', 'bridge.json');
    const recorded = JSON.parse(readFileSync(file, 'utf8')) as {
      target: { underlay: Holder; nodes: Record<string, Holder> };
    };
    const lastBoot = { ...itself, boot: '00000000-0000-4000-8000-000000000000' };
    for (const holder of [recorded.target.underlay, ...Object.values(recorded.target.nodes)]) {
      holder.init = lastBoot;
      holder.unshare = lastBoot;
    }
    writeFileSync(file, JSON.stringify(recorded));
    const down = await netlab(state.dir, 'down', 'bridge');
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    assert.equal(isRunning(itself), true, "down stopped this boot's process");
    assert.doesNotMatch(down.stdout, /node-0:/, "down ran node-0's undo in this boot's process's namespaces");
    assert.equal(existsSync(file), false, 'the lab is down');
  } finally {
    decoy?.kill('SIGKILL');
    await netlab(state.dir, 'down', 'bridge');
    stopHoldersOf('bridge');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

test('a lab whose simulated nodes run on another machine that shares the state directory (a home on NFS): down, up and exec refuse and change nothing; status names that machine', async () => {
  const file = join(state.dir, 'labs', 'bridge.json');
  let original: string | undefined;
  try {
    const up = await netlab(state.dir, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(up.exitCode, 0, up.stderr);
    original = readFileSync(file, 'utf8');
    const recorded = JSON.parse(original) as { target: { machine?: { id: string; name: string } } };
    assert.match(recorded.target.machine?.id ?? '', /^[0-9a-f]{32}$/, "up records this machine's id");
    // As the state directory reads on another machine: this one's holders are that machine's processes.
    recorded.target.machine = { id: '0'.repeat(32), name: 'elsewhere' };
    writeFileSync(file, JSON.stringify(recorded));
    const running = await snapshotHost();
    const refusal =
      /netlab (down|up|exec): this lab's simulated nodes run on elsewhere, another machine that shares this state directory: run netlab there/;
    for (const args of [
      ['down', 'bridge'],
      ['up', join(LABS, 'bridge.yaml')],
      ['exec', 'a0', '--', 'true'],
    ]) {
      const refused = await netlab(state.dir, ...args);
      assert.equal(refused.exitCode, 2, `${args[0]}: ${refused.stdout}${refused.stderr}`);
      assert.match(refused.stderr, refusal, args[0]);
    }
    assert.deepEqual(await snapshotHost(), running, "nothing changed: the lab's nodes still run");
    assert.ok(existsSync(file), 'the state is kept');
    const status = await netlab(state.dir, 'status', 'bridge');
    assert.match(status.stdout, /^bridge: up since \S+ \(simulated nodes on elsewhere, from /m, status.stdout);
    assert.match(status.stdout, /^ {2}node-0 \S+ on elsewhere: a0 /m, 'not probed from here, and not over SSH');
    assert.match(
      status.stdout,
      /^ {2}\(live state not compared: its simulated nodes run on elsewhere, another machine that shares this state directory: run netlab status there\)$/m,
    );
  } finally {
    if (original !== undefined) writeFileSync(file, original);
    await netlab(state.dir, 'down', 'bridge');
    stopHoldersOf('bridge');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

test('a node may be named lo: the underlay names its cables to the nodes nd+N, not after them (lo is its loopback)', async () => {
  const file = join(state.dir, 'lonode.yaml');
  writeFileSync(
    file,
    'nodes: { lo: {}, node-1: {} }\npods: { a0: { node: lo }, a1: { node: node-1 } }\nwiring: { cross-node: routes }\n',
  );
  try {
    const up = await netlab(state.dir, 'up', file, '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
  } finally {
    await netlab(state.dir, 'down', 'lonode');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});

/** Stops the holders of a lab of this test's state directory (netlab's own finder, with its NETLAB_STATE_DIR). */
function stopHoldersOf(lab: string): void {
  const before = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = state.dir;
  try {
    destroySimulatedNodes(lab);
  } finally {
    if (before === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = before;
  }
}

test("containers with a rootfs run chrooted in their own overlay over the shared lower layer; a rootfs another user could change is refused, the sudo user's own is not", async () => {
  // A minimal rootfs: busybox and a few applets (the article uses the Alpine minirootfs).
  const rootfs = join(state.dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  mkdirSync(join(rootfs, 'tmp'));
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const applet of ['sh', 'sleep', 'ls', 'cat', 'hostname']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  // Its programs run as root: a rootfs owned by another user (here nobody) is their way to root, and refused
  // before anything changes; the same rootfs is the user's own when that user ran netlab with sudo (SUDO_UID).
  chownSync(rootfs, 65534, 65534);
  const refused = await netlabWithEnv(state.dir, { SUDO_UID: '' }, 'up', containerLab('rootfs', rootfs));
  // (exit 1, as every problem the preflight finds on a node)
  assert.equal(refused.exitCode, 1, refused.stdout + refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(
      `pod pod's rootfs ${rootfs} on node-0 could be changed by someone other than root \\(${rootfs} is owned by user 65534\\), and its programs run as root there`,
    ),
  );
  assert.deepEqual(await snapshotHost(), pristine, 'nothing changed');
  // What is in it runs as root too: a program of another user's in a root-owned rootfs is refused the same way.
  chownSync(rootfs, 0, 0);
  chownSync(join(rootfs, 'bin', 'busybox'), 65534, 65534);
  const inside = await netlabWithEnv(state.dir, { SUDO_UID: '' }, 'up', containerLab('rootfs', rootfs));
  assert.equal(inside.exitCode, 1, inside.stdout + inside.stderr);
  assert.match(
    inside.stderr,
    new RegExp(`\\(${rootfs}/bin/busybox, in it, is another user's or writable by others\\)`),
  );
  assert.deepEqual(await snapshotHost(), pristine, 'nothing changed');
  chownSync(join(rootfs, 'bin', 'busybox'), 0, 0);
  chownSync(rootfs, 65534, 65534);
  try {
    const up = await netlabWithEnv(state.dir, { SUDO_UID: '65534' }, 'up', containerLab('rootfs', rootfs), '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const write = await netlab(
      state.dir,
      'exec',
      'pod/a0',
      '--',
      '/bin/sh',
      '-c',
      'echo from-a0 > /tmp/note && cat /tmp/note && ls /',
    );
    assert.equal(write.exitCode, 0, write.stderr);
    assert.match(write.stdout, /^from-a0\nbin\ntmp$/, 'a0 sees only the rootfs');
    const other = await netlab(state.dir, 'exec', 'pod/a1', '--', '/bin/ls', '/tmp');
    assert.equal(other.stdout.trim(), '', "a0's write is in a0's upper layer only");
    assert.equal(existsSync(join(rootfs, 'tmp', 'note')), false, 'the lower layer is never written');
    const host = await netlab(state.dir, 'exec', 'pod/a1', '--', 'hostname');
    assert.equal(host.stdout.trim(), 'pod', "containers share the pod's UTS namespace");
  } finally {
    await netlab(state.dir, 'down', 'rootfs');
  }
  assert.deepEqual(await snapshotHost(), pristine);
});
