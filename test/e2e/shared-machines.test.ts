// Many netlabs on the same machines (a workshop's shared VMs): two controllers
// (two state directories), two labs at once, slips of the keyboard, a sysctl
// two labs need, a corrupt state file. Every lab that is up stays intact and
// working, and whatever is refused is refused before anything changes. Over
// SSH against sshd in simulated machines, as in test/e2e/ssh.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { LABS, NETLAB } from '../paths.js';
import {
  netlab,
  nodeLeftovers,
  nodeState,
  snapshotHost,
  stateChanges,
  stateDirForTest,
  type HostSnapshot,
  type Run,
} from './host.js';
import { startMachines, type Machines } from './machines.js';
import { faultsLeaveTheMachinesFirewall } from './challenge-case.js';
import { watch } from '../wait.js';

const work = stateDirForTest();
/** Two controllers: two state directories (another user, another terminal with NETLAB_STATE_DIR). */
const controllerA = join(work.dir, 'state-a');
const controllerB = join(work.dir, 'state-b');
let machines: Machines;
let pristine: HostSnapshot;
/** Each machine's nodeState once it runs, before any test. */
const started: Record<string, string[]> = {};

before(async () => {
  pristine = await snapshotHost();
  mkdirSync(controllerA);
  mkdirSync(controllerB);
  chmodSync(work.dir, 0o755);
  machines = await startMachines('shared-e2e', ['node-0', 'node-1'], work.dir);
  for (const name of machines.names) started[name] = await nodeState(machines.transport(name));
});

after(async () => {
  machines?.stop();
  work.remove();
  assert.deepEqual(await snapshotHost(), pristine, 'the machines and their ssh connections are gone');
});

const A = (...args: string[]) => machines.netlab(controllerA, ...args);
const B = (...args: string[]) => machines.netlab(controllerB, ...args);
const vxlan = join(LABS, 'vxlan.yaml');

async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const name of machines.names)
    found.push(
      ...(await nodeLeftovers(machines.transport(name)))
        .filter((l) => !/process \d+ sshd/.test(l))
        .map((l) => `${name}: ${l}`),
      // and the routes, addresses, sysctls, permanent neighbour and static FDB entries as they were before any test
      ...stateChanges(started[name]!, await nodeState(machines.transport(name))).map((l) => `${name}: ${l}`),
    );
  return found;
}

async function journals(): Promise<string> {
  const lines: string[] = [];
  for (const name of machines.names)
    lines.push(
      (
        await machines
          .transport(name)
          .run('for f in /run/netlab/*/undo /run/netlab/*/run; do [ ! -f "$f" ] || echo "$f $(wc -l <"$f")"; done\n')
      ).stdout.trim(),
    );
  return lines.join('\n');
}

test('a slip of the keyboard never reaches a node: down of a directory, an empty name or a path exits 2 and the lab that is up keeps working', async () => {
  let teardown: Run;
  try {
    const up = await A('up', vxlan, '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const before = await journals();
    assert.match(before, /\/run\/netlab\/vxlan\/undo \d+/);
    mkdirSync(join(work.dir, 'labs'));
    for (const arg of [`${join(work.dir, 'labs')}/`, '', '../x', '../../etc']) {
      const down = await A('down', '--ssh-config', machines.sshConfig, '--', arg);
      assert.equal(down.exitCode, 2, `down ${JSON.stringify(arg)}: ${down.stdout}${down.stderr}`);
      assert.match(down.stderr, /is a directory|not a lab name/);
    }
    assert.equal(await journals(), before, "every node's records of the lab are as they were");
    const verify = await A('verify', 'vxlan');
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
  } finally {
    teardown = await A('down', 'vxlan');
  }
  assert.equal(teardown.exitCode, 0, teardown.stdout + teardown.stderr);
  assert.deepEqual(await leftovers(), []);
});

test("a second controller's up of a lab that is up is refused, naming the run and where it came from; the lab stays intact", async () => {
  let teardown: Run;
  try {
    const up = await A('up', vxlan, '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    const before = await journals();
    const second = await B('up', vxlan, '--ssh-config', machines.sshConfig);
    assert.equal(second.exitCode, 1, second.stdout + second.stderr);
    assert.match(
      second.stderr,
      new RegExp(`lab vxlan is already up on node-0, run [0-9a-f]{12} from [^:]+:${controllerA}; take it down there`),
    );
    assert.doesNotMatch(second.stderr, /already has a link/, 'the lab is named, not its objects');
    assert.match(second.stderr, /before changing anything on the nodes/);
    assert.equal(await journals(), before);
    // The other controller has no state of it: down says so and touches nothing.
    const down = await B('down', 'vxlan');
    assert.equal(down.exitCode, 0);
    assert.match(down.stdout, /lab vxlan is not up; nothing to do/);
    const verify = await A('verify', 'vxlan');
    assert.equal(verify.exitCode, 0, `the first controller's lab still works: ${verify.stdout}${verify.stderr}`);
    const status = await A('status');
    assert.match(status.stdout, new RegExp(`vxlan: up since .*run [0-9a-f]{12} from [^:]+:${controllerA}`));
  } finally {
    teardown = await A('down', 'vxlan');
  }
  assert.equal(teardown.exitCode, 0, teardown.stdout + teardown.stderr);
  assert.deepEqual(await leftovers(), []);
});

test('two different labs started at once on the same machines: one is built, the other refuses before changing anything, and neither is damaged', async (t) => {
  for (let round = 1; round <= 2; round++) {
    const [bridge, vx] = await Promise.all([
      A('up', join(LABS, 'bridge.yaml'), '--ssh-config', machines.sshConfig),
      B('up', vxlan, '--ssh-config', machines.sshConfig),
    ]);
    const winners = [bridge, vx].filter((r) => r.exitCode === 0);
    t.diagnostic(`round ${round}: bridge exit ${bridge.exitCode}, vxlan exit ${vx.exitCode}`);
    try {
      assert.equal(
        winners.length,
        1,
        `exactly one lab is built:\n${bridge.stdout}${bridge.stderr}\n${vx.stdout}${vx.stderr}`,
      );
      const loser = bridge.exitCode === 0 ? vx : bridge;
      assert.equal(loser.exitCode, 1, loser.stdout + loser.stderr);
      assert.match(loser.stderr, /nothing was changed|before changing anything/);
      const verify = bridge.exitCode === 0 ? await A('verify', 'bridge') : await B('verify', 'vxlan');
      assert.equal(verify.exitCode, 0, `the winner works: ${verify.stdout}${verify.stderr}`);
    } finally {
      await A('down', 'bridge');
      await B('down', 'vxlan');
    }
    assert.deepEqual(await leftovers(), [], `round ${round}`);
  }
});

test('up waits while another netlab holds a node, saying who holds it, and goes on once it is free', async () => {
  // Another netlab's hold on node-1, as the node lock takes it: flock on /run/netlab/.lock, held
  // until the test lets go (the release file); the script returns once the lock is taken.
  const release = '/run/netlab-test-release';
  const letGo = `touch ${release}; for i in $(seq 100); do pgrep -f "${release}" >/dev/null || break; sleep 0.05; done; rm -f ${release}\n`;
  const hold = await machines
    .transport('node-1')
    .run(
      `mkdir -p /run/netlab && rm -f ${release} && echo "netlab up of lab other, run x from elsewhere" >/run/netlab/.lock-holder && (flock /run/netlab/.lock sh -c 'while [ ! -e ${release} ]; do sleep 0.1; done' </dev/null >/dev/null 2>&1 &)\n` +
        'for i in $(seq 200); do flock -n /run/netlab/.lock true || exit 0; sleep 0.05; done; echo "the lock was never taken" >&2; exit 1\n',
    );
  assert.equal(hold.exitCode, 0, hold.stderr);
  const up = machines.start(controllerA, 'up', vxlan, '--ssh-config', machines.sshConfig);
  const progress = watch(up);
  let down;
  try {
    await progress.until(
      'waiting for another netlab to finish on node-1: netlab up of lab other, run x from elsewhere',
    );
    assert.equal(progress.exited, false, 'up waits while the lock is held');
    await machines.transport('node-1').run(letGo);
    const result = await up;
    assert.equal(result.exitCode, 0, progress.output);
    assert.equal((await A('verify', 'vxlan')).exitCode, 0, 'the lab was built once the lock was free');
  } finally {
    await machines.transport('node-1').run(letGo);
    await up;
    down = await A('down', 'vxlan');
  }
  assert.equal(down.exitCode, 0, down.stdout + down.stderr);
});

test('down acts only on its own run: a state whose run is not the one on the nodes leaves the lab there alone, naming its run', async () => {
  let teardown: Run;
  try {
    const up = await A('up', vxlan, '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    // Controller B believes it made vxlan (an old state file, a copied directory): another run.
    const state = JSON.parse(readFileSync(join(controllerA, 'labs', 'vxlan.json'), 'utf8')) as {
      run: { id: string; stateDir: string };
    };
    state.run = { ...state.run, id: 'feedfacecafe', stateDir: controllerB };
    mkdirSync(join(controllerB, 'labs'), { recursive: true });
    writeFileSync(join(controllerB, 'labs', 'vxlan.json'), JSON.stringify(state));
    const before = await journals();
    const down = await B('down', 'vxlan');
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    assert.match(
      down.stdout,
      new RegExp(
        `node-0: left alone: lab vxlan there is run [0-9a-f]{12} from [^:]+:${controllerA}, not the run this state knows`,
      ),
    );
    assert.equal(await journals(), before);
    assert.equal((await A('verify', 'vxlan')).exitCode, 0, 'the lab is intact');
  } finally {
    teardown = await A('down', 'vxlan');
  }
  assert.equal(teardown.exitCode, 0, teardown.stdout + teardown.stderr);
  assert.deepEqual(await leftovers(), []);
});

test('down on nodes with no record of the lab says so, node by node, and claims to have cleaned nothing', async () => {
  const down = await B('down', 'vxlan', '--ssh-config', machines.sshConfig);
  assert.equal(down.exitCode, 0, down.stdout + down.stderr);
  assert.match(down.stdout, /node-0: nothing recorded for lab vxlan/);
  assert.match(down.stdout, /node-1: nothing recorded for lab vxlan/);
  assert.match(down.stdout, /no node has a record of it; nothing to do/);
  assert.doesNotMatch(down.stdout, /cleaned up|is down/);
});

test("a sysctl two labs need: a challenge's fault that holds it off keeps the other lab from coming up, and the other lab up keeps the fault from being made; taking one down leaves forwarding on for the other, and the last one puts back the value from before; the down's closing of the SSH masters cuts no other netlab's session on them", async () => {
  const second = join(work.dir, 'routes2.yaml');
  writeFileSync(
    second,
    `${[
      'name: routes2',
      'cluster-cidr: 10.201.0.0/16',
      'nodes:',
      '  node-0: { pod-subnet: 10.201.0.0/24, bridge: brx0 }',
      '  node-1: { pod-subnet: 10.201.1.0/24, bridge: brx1 }',
      'pods:',
      '  x0: { node: node-0 }',
      '  x1: { node: node-1 }',
      'wiring: { cross-node: routes }',
    ].join('\n')}\n`,
  );
  const forwarding = async () =>
    (
      await Promise.all(
        machines.names.map(async (n) =>
          (await machines.transport(n).run('sysctl -n net.ipv4.ip_forward\n')).stdout.trim(),
        ),
      )
    ).join(',');
  assert.equal(await forwarding(), '0,0');
  try {
    assert.equal((await A('up', join(LABS, 'routes.yaml'), '--ssh-config', machines.sshConfig)).exitCode, 0);
    // routes' challenge holds forwarding off on node-1: routes2, which turns it on, would mend that fault for
    // routes' learners. Refused before anything changes (before: routes2 came up and the fault was gone).
    assert.equal((await A('challenge', 'start', 'routes', 'no-forwarding')).exitCode, 0);
    assert.equal(await forwarding(), '1,0');
    const held = await B('up', second, '--ssh-config', machines.sshConfig);
    assert.equal(held.exitCode, 1, held.stdout + held.stderr);
    assert.match(
      held.stderr,
      /the challenge in lab routes on node-1 holds net\.ipv4\.ip_forward off \(its fault\), and lab routes2 sets it: that would mend the fault for that lab's learners; nothing was changed/,
    );
    assert.equal(await forwarding(), '1,0', 'the fault is still there');
    assert.equal((await A('challenge', 'stop', 'routes')).exitCode, 0);
    const up2 = await B('up', second, '--ssh-config', machines.sshConfig);
    assert.equal(up2.exitCode, 0, up2.stdout + up2.stderr);
    // A challenge whose fault turns forwarding off on node-1 would turn it off for routes2 too: refused there,
    // before anything changes, naming the other lab (before: routes2 lost forwarding with routes' fault).
    const fault = await A('challenge', 'start', 'routes', 'no-forwarding');
    assert.equal(fault.exitCode, 1, fault.stdout + fault.stderr);
    assert.match(
      fault.stderr,
      /lab routes2 on node-1 needs net\.ipv4\.ip_forward too: this challenge's fault would turn it off for that lab as well; nothing was changed/,
    );
    assert.equal(await forwarding(), '1,1', 'no fault was made');
    assert.equal((await A('challenge', 'check', 'routes')).exitCode, 2, 'no challenge was recorded');
    // Both controllers' commands share one master per machine (the same user, SSH config and host). A down
    // closes its masters as it ends: another netlab's session on them (here B's exec) runs to its end.
    const child = machines.start(controllerB, 'exec', 'x0', '--', 'sh', '-c', 'echo started; sleep 2; echo survived');
    child.catch(() => {});
    const exec = watch(child);
    await exec.until('started');
    const down = await A('down', 'routes');
    assert.equal(down.exitCode, 0);
    assert.equal((await child).exitCode, 0, exec.output);
    assert.match(exec.output, /survived/, "B's session outlived A's down");
    assert.match(down.stdout, /net\.ipv4\.ip_forward is left at 1: lab routes2 on this node needs it too/);
    assert.equal(await forwarding(), '1,1', 'forwarding stays on for routes2');
    const verify = await B('verify', 'routes2');
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
  } finally {
    await A('down', 'routes');
    await B('down', 'routes2');
  }
  assert.equal(await forwarding(), '0,0', 'the last lab put back the value from before the first');
  // A fault's file that a mend which failed left behind, where no lab is up (no run file), with the sysctl at the
  // fault's value: nobody's challenge. It never keeps a lab from coming up (before: it did, for good).
  const ghost = '/run/netlab/ghost';
  await machines
    .transport('node-1')
    .run(`mkdir -p ${ghost} && printf 'a1b2c3d4e5f6\\n0\\n' >${ghost}/fault-sysctl-net.ipv4.ip_forward\n`);
  try {
    const up = await B('up', second, '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
  } finally {
    await B('down', 'routes2');
    await machines.transport('node-1').run(`rm -rf ${ghost}\n`);
  }
  assert.deepEqual(await leftovers(), []);
});

test("a corrupt state file is named, breaks no other lab, and down still works from the nodes' records", async () => {
  const file = join(controllerA, 'labs', 'vxlan.json');
  try {
    const up = await A('up', vxlan, '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    writeFileSync(file, '{"version": 2, "lab": "vx');
    const status = await A('status');
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`vxlan: state file ${file} is unreadable \\(not JSON`));
    const json = (JSON.parse((await A('status', '--json')).stdout) as { labs: { lab: string; status: string }[] }).labs;
    assert.deepEqual(
      json.map((r) => [r.lab, r.status]),
      [['vxlan', 'unreadable']],
    );
    const verify = await A('verify', 'vxlan');
    assert.equal(verify.exitCode, 2);
    assert.match(verify.stderr, /the state of lab vxlan .* is unreadable/);
    const plain = await A('down', 'vxlan');
    assert.equal(plain.exitCode, 2);
    assert.match(plain.stderr, /--ssh-config FILE.* takes it down from the nodes' own records/);
    const named = await A('down', 'vxlan', '--ssh-config', machines.sshConfig);
    assert.equal(named.exitCode, 2, named.stdout + named.stderr);
    const run = /--run ([0-9a-f]{12})/.exec(named.stderr)?.[1];
    assert.ok(run, named.stderr);
    const down = await A('down', 'vxlan', '--ssh-config', machines.sshConfig, '--run', run);
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    assert.match(down.stdout, new RegExp(`node-0: removed what run ${run} from .* made`));
    assert.ok(existsSync(`${file}.unreadable`), 'the unreadable file is kept aside');
  } finally {
    const left = /--run ([0-9a-f]{12})/.exec((await A('down', 'vxlan', '--ssh-config', machines.sshConfig)).stderr);
    if (left) await A('down', 'vxlan', '--ssh-config', machines.sshConfig, '--run', left[1]!);
  }
  assert.deepEqual(await leftovers(), []);
});

test("simulated nodes: a corrupt state file (up and status say what to do), and down still stops the lab's nodes; another state directory's lab of the same name is never stopped", async () => {
  const other = join(work.dir, 'state-c');
  mkdirSync(other);
  try {
    const upA = await netlab(controllerA, 'up', join(LABS, 'bridge.yaml'));
    const upC = await netlab(other, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(upA.exitCode, 0, upA.stderr);
    assert.equal(upC.exitCode, 0, upC.stderr);
    const file = join(controllerA, 'labs', 'bridge.json');
    writeFileSync(file, '');
    const status = await netlab(controllerA, 'status');
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`bridge: state file ${file} is unreadable`));
    // up says what to do about it, as status does.
    const up = await netlab(controllerA, 'up', join(LABS, 'bridge.yaml'));
    assert.equal(up.exitCode, 2, up.stdout + up.stderr);
    assert.match(
      up.stderr,
      /the state of lab bridge \(\S+\) is unreadable: .*; `netlab down bridge` takes the lab down \(add --ssh-config FILE for machines over SSH\), then up builds it/,
    );
    const down = await netlab(controllerA, 'down', 'bridge');
    assert.equal(down.exitCode, 0, down.stdout + down.stderr);
    assert.match(down.stdout, /state file was unreadable; stopped its simulated nodes/);
    const verify = await netlab(other, 'verify', 'bridge');
    assert.equal(
      verify.exitCode,
      0,
      `the other state directory's bridge lab still runs: ${verify.stdout}${verify.stderr}`,
    );
  } finally {
    // A's own, should the test have failed before its down (a lab of another state directory is never stopped).
    await netlab(controllerA, 'down', 'bridge');
    await netlab(other, 'down', 'bridge');
  }
  assert.deepEqual(readdirSync(join(other, 'labs')), []);
});

test('verify --timeout stops the checks at the deadline and says which did not run', async () => {
  let teardown: Run;
  try {
    const up = await A('up', vxlan, '--ssh-config', machines.sshConfig);
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    // Break the path so that every check waits for its own timeout.
    await machines.transport('node-0').run('ip link set vxlan0 down\n');
    const verify = await execa(
      'nsenter',
      ['-t', String(machines.clientPid), '-n', '--', NETLAB, 'verify', 'vxlan', '--timeout', '2'],
      { reject: false, env: { NETLAB_STATE_DIR: controllerA, FORCE_COLOR: '0', XDG_RUNTIME_DIR: work.dir } },
    );
    assert.equal(verify.exitCode, 1, String(verify.stdout) + String(verify.stderr));
    assert.match(String(verify.stdout), /stopped by verify's deadline \(2 s, --timeout\)/);
    assert.match(String(verify.stdout), /checks failed \(\d+ stopped by the deadline: --timeout\)/);
    const bad = await A('verify', 'vxlan', '--timeout', 'soon');
    assert.equal(bad.exitCode, 2);
  } finally {
    teardown = await A('down', 'vxlan');
  }
  assert.equal(teardown.exitCode, 0, teardown.stdout + teardown.stderr);
  assert.deepEqual(await leftovers(), []);
});

test("a controller without the lab's state never removes another controller's live lab: down names the run, and removes it only when asked for that run, its active fault's change to the machine put back; then no fault is made on the machines the lab left", async () => {
  // The vxlan lab with a challenge whose fault changes the machine (FORWARD's policy DROP on node-0).
  const lab = join(work.dir, 'vxlan-policy.yaml');
  writeFileSync(
    lab,
    readFileSync(vxlan, 'utf8').replace(
      /challenges:\n/,
      'challenges:\n  - id: policy-drop\n    title: "FORWARD drops"\n    fault: "forward-drop:node-0:FORWARD"\n    hints: ["look at FORWARD"]\n',
    ),
  );
  const forward = async () => (await machines.transport('node-0').run('iptables -w -S FORWARD\n')).stdout;
  assert.match(await forward(), /^-P FORWARD ACCEPT$/m);
  assert.equal((await A('up', lab, '--ssh-config', machines.sshConfig)).exitCode, 0);
  const { run } = JSON.parse(readFileSync(join(controllerA, 'labs', 'vxlan.json'), 'utf8')) as { run: { id: string } };
  try {
    const before = await journals();
    const refused = await B('down', 'vxlan', '--ssh-config', machines.sshConfig);
    assert.equal(refused.exitCode, 2, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `lab vxlan has no state in this state directory; on the nodes it is run ${run.id} from [^:]+:${controllerA} \\(node-0, node-1\\)\\. Nothing was changed: .*--run ${run.id}`,
      ),
    );
    assert.equal(await journals(), before, 'nothing changed on the nodes');
    assert.equal((await A('verify', 'vxlan')).exitCode, 0, "A's lab still works");
    const wrong = await B('down', 'vxlan', '--ssh-config', machines.sshConfig, '--run', 'feedfacecafe');
    assert.equal(wrong.exitCode, 2, wrong.stdout + wrong.stderr);
    assert.match(
      wrong.stderr,
      new RegExp(
        `no node has run feedfacecafe of lab vxlan; they have run ${run.id} from .*\\(node-0, node-1\\)\\. Nothing was changed`,
      ),
    );
    assert.equal((await A('verify', 'vxlan')).exitCode, 0, 'another run id leaves it alone too');
    const bad = await B('down', 'vxlan', '--ssh-config', machines.sshConfig, '--run', '$(reboot)');
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /--run takes a run id of 12 hexadecimal digits/);
    // A challenge of A's is active (FORWARD's policy DROP on node-0, which no journal undoes) when B, without
    // its record, takes the lab down: the policy the fault replaced is put back all the same.
    assert.equal((await A('challenge', 'start', 'vxlan', 'policy-drop')).exitCode, 0);
    assert.match(await forward(), /^-P FORWARD DROP$/m);
    const named = await B('down', 'vxlan', '--ssh-config', machines.sshConfig, '--run', run.id);
    assert.equal(named.exitCode, 0, named.stdout + named.stderr);
    assert.match(named.stdout, new RegExp(`node-0: removed what run ${run.id} from .* made`));
    assert.match(
      await forward(),
      /^-P FORWARD ACCEPT$/m,
      "the fault's policy put back by a down from the nodes' records",
    );
    // A's stop ends it without making the lab's jump anew on a machine the lab has left (the
    // leftovers below); as a down that stopped halfway, it can always be run again. The machine's own policy
    // has turned DROP since (Docker started): the stop leaves it so, as nothing of the fault is left to put back.
    await machines.transport('node-0').run('iptables -w -P FORWARD DROP\n');
    const stopped = await A('challenge', 'stop', 'vxlan');
    assert.equal(stopped.exitCode, 0, stopped.stdout + stopped.stderr);
    assert.match(await forward(), /^-P FORWARD DROP$/m, "the machine's own DROP, left as it is by a stop");
    await machines.transport('node-0').run('iptables -w -P FORWARD ACCEPT\n');
    // A, whose state still says up (as a challenge start that read it just before a down), makes no
    // fault on machines the lab has left: no vxlan0 of another VNI made for nobody to remove.
    const late = await A('challenge', 'start', 'vxlan', 'wrong-vni');
    assert.equal(late.exitCode, 1, late.stdout + late.stderr);
    assert.match(
      late.stderr,
      new RegExp(
        `lab vxlan is not up on node-1 any more \\(the node has run none, not ${run.id}\\); nothing was changed`,
      ),
    );
  } finally {
    await A('down', 'vxlan');
    await machines.transport('node-0').run('iptables -w -P FORWARD ACCEPT\n');
  }
  assert.deepEqual(await leftovers(), []);
});

test('an undo that fails is not "nothing left": down exits 1 naming it, keeps the state and the failed journal lines, and a second down finishes, without mending the challenge\'s fault again', async () => {
  assert.equal((await A('up', vxlan, '--ssh-config', machines.sshConfig)).exitCode, 0);
  // A fault on node-0 whose mend makes vxlan0 again (the kernel changes no VXLAN port in place): the first down
  // mends it, then removes vxlan0 with the lab; a second mend would make it anew, for nobody.
  assert.equal((await A('challenge', 'start', 'vxlan', 'wrong-port')).exitCode, 0);
  // Something of the machine's own refers to the lab's chain: the kernel refuses to delete a chain in use.
  const node0 = machines.transport('node-0');
  await node0.run('iptables -w -I INPUT -j NETLAB-FWD-vxlan\n');
  let released = false;
  try {
    const down = await A('down', 'vxlan');
    assert.equal(down.exitCode, 1, down.stdout + down.stderr);
    assert.match(down.stdout, /^challenge wrong-port was active: its fault is mended first$/m);
    assert.match(down.stderr, /could not undo everything on node-0; the lab's state is kept/);
    assert.match(
      down.stderr,
      /node-0: could not remove all run [0-9a-f]{12} .* made \(\d+ undo command\(s\)(, \d+ found nothing left to undo)?, 1 failed\)/,
    );
    assert.match(down.stderr, /node-0: failed: iptables -w -X NETLAB-FWD-vxlan: .*(busy|in use|Too many links)/i);
    assert.doesNotMatch(down.stderr, /node-1: could not remove all/);
    assert.ok(existsSync(join(controllerA, 'labs', 'vxlan.json')), 'the state is kept for the next down');
    // Half undone, the lab is up no more: up says to take it down first (it said the lab was up, its file unchanged).
    const upAgain = await A('up', vxlan, '--ssh-config', machines.sshConfig);
    assert.equal(upAgain.exitCode, 2, upAgain.stdout + upAgain.stderr);
    assert.match(upAgain.stderr, /lab vxlan was left failed by an earlier up or down; run `netlab down vxlan` first/);
    const journal = await node0.run('cat /run/netlab/vxlan/undo; cat /run/netlab/vxlan/run\n');
    assert.match(
      journal.stdout,
      /^iptables -w -X NETLAB-FWD-vxlan\n[0-9a-f]{12} /,
      'the failed line stays journalled, with the run',
    );
    await node0.run('iptables -w -D INPUT -j NETLAB-FWD-vxlan\n');
    released = true;
    const again = await A('down', 'vxlan');
    assert.equal(again.exitCode, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /node-0: removed what run [0-9a-f]{12} .* made \(1 undo command\(s\)\)/);
    assert.doesNotMatch(again.stdout, /mended first/, 'mended once, by the first down');
  } finally {
    if (!released) await node0.run('iptables -w -D INPUT -j NETLAB-FWD-vxlan\n');
    await A('down', 'vxlan');
  }
  assert.deepEqual(await leftovers(), [], 'no vxlan0 made again by a second mend');
});

test("a challenge's fault touches only what the lab owns: a mend never deletes the machine's own DROP rule, and puts back the FORWARD policy the fault replaced, also of a fault stopped halfway; up --recreate mends it first", async () => {
  await faultsLeaveTheMachinesFirewall(A, machines.transport('node-0'), work.dir, ['--ssh-config', machines.sshConfig]);
  assert.deepEqual(await leftovers(), []);
});

test("down with an active challenge whose fault's machine does not answer: the other machines are undone, the state is kept, and the next down mends the fault first", async () => {
  // node-1 refuses SSH (every packet to its sshd answered with a reset: the master's connection too) while it has
  // the wrong-vni fault.
  const rule = (op: string) => `iptables -w ${op} INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\n`;
  const [block, unblock] = [rule('-I'), rule('-D')];
  let blocked = false;
  try {
    assert.equal((await A('up', vxlan, '--ssh-config', machines.sshConfig)).exitCode, 0);
    assert.equal((await A('challenge', 'start', 'vxlan', 'wrong-vni')).exitCode, 0);
    await machines.transport('node-1').run(block);
    blocked = true;
    const down = await A('down', 'vxlan');
    assert.equal(down.exitCode, 1, down.stdout + down.stderr);
    assert.match(down.stdout, /the active challenge's fault could not be mended first: .*node-1/);
    assert.match(down.stderr, /node-1: unreachable.*the lab's state is kept|the lab's state is kept[\s\S]*node-1/);
    assert.deepEqual(
      (await nodeLeftovers(machines.transport('node-0'))).filter((l) => !/process \d+ sshd/.test(l)),
      [],
      "node-0's journal is undone",
    );
    await machines.transport('node-1').run(unblock);
    blocked = false;
    const again = await A('down', 'vxlan');
    assert.equal(again.exitCode, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /challenge wrong-vni was active: its fault is mended first/);
  } finally {
    if (blocked) await machines.transport('node-1').run(unblock);
    await A('down', 'vxlan');
  }
  assert.deepEqual(await leftovers(), []);
});

test("a learner attaches to a lab the instructor built: verify, trace, exec, challenge check and the unlocked hints work; down and the challenge's fix stay with the owner; after the owner's down the lab is gone", async () => {
  let attached = false;
  try {
    assert.equal((await A('up', vxlan, '--ssh-config', machines.sshConfig)).exitCode, 0);
    assert.equal((await A('challenge', 'start', 'vxlan', 'wrong-vni')).exitCode, 0);
    const firstHint = JSON.parse((await A('challenge', 'hint', 'vxlan', '--json')).stdout) as { hint: string };
    // A record someone changed on the machines (a pod's name made a command) is not taken: exit 2, nothing attached.
    const nodes = ['node-0', 'node-1'].map((n) => machines.transport(n));
    const dir = '/run/netlab/vxlan';
    for (const node of nodes)
      await node.run(
        `cp ${dir}/lab.json ${dir}/lab.orig && sed 's/"name":"a0"/"name":"a0;id"/' ${dir}/lab.orig >${dir}/lab.json\n`,
      );
    const tampered = await B('attach', 'vxlan', '--ssh-config', machines.sshConfig);
    for (const node of nodes) await node.run(`mv ${dir}/lab.orig ${dir}/lab.json\n`);
    assert.equal(tampered.exitCode, 2, tampered.stdout + tampered.stderr);
    assert.match(
      tampered.stderr,
      /node-0: its record of lab vxlan is not one netlab writes \(model\.pods\.0\.name: letters, digits/,
    );
    assert.equal((await B('status', 'vxlan')).exitCode, 2, 'nothing attached');
    const attach = await B('attach', 'vxlan', '--ssh-config', machines.sshConfig);
    assert.equal(attach.exitCode, 0, attach.stdout + attach.stderr);
    attached = true;
    assert.match(
      attach.stdout,
      new RegExp(`attached to lab vxlan on node-0, node-1: built by run [0-9a-f]{12} from [^:]+:${controllerA}`),
    );
    // The nodes' records give no fault away.
    const record = await machines
      .transport('node-1')
      .run('cat /run/netlab/vxlan/lab.json /run/netlab/vxlan/challenge.json\n');
    assert.match(record.stdout, /"wrong-vni"/);
    assert.doesNotMatch(record.stdout, /vni-changed/);
    // Looking works from the learner's controller, and agrees with the owner's.
    const [ownerCheck, learnerCheck] = [
      JSON.parse((await A('challenge', 'check', 'vxlan', '--json')).stdout) as { solved: boolean; checks: unknown[] },
      JSON.parse((await B('challenge', 'check', 'vxlan', '--json')).stdout) as { solved: boolean; checks: unknown[] },
    ];
    assert.deepEqual([ownerCheck.solved, learnerCheck.solved], [false, false]);
    assert.equal(learnerCheck.checks.length, ownerCheck.checks.length);
    assert.equal((await B('verify', 'vxlan')).exitCode, 1, 'the fault fails the checks from here too');
    const address = await B('exec', 'a0', '--', 'ip', '-4', '-o', 'addr', 'show', 'veth-a0-c');
    assert.match(address.stdout, /inet 10\.200\.0\.2\/24/);
    const trace = await B('trace', 'a0', 'a1');
    assert.match(trace.stdout, /^trace a0 → a1 \(10\.200\.0\.2 → 10\.200\.1\.2, ICMP\) in lab vxlan/m);
    const hints = JSON.parse((await B('challenge', 'hint', 'vxlan', '--json')).stdout) as { hints: string[] };
    assert.deepEqual(hints.hints, [firstHint.hint], 'the hints the owner unlocked, and no more');
    // node-0 stopped (its sshd refusing, the master's connection too): the learner reads the hints from node-1.
    const refuse = (op: string) => `iptables -w ${op} INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\n`;
    await nodes[0]!.run(refuse('-I'));
    try {
      const stopped = await B('challenge', 'hint', 'vxlan', '--json');
      assert.equal(stopped.exitCode, 0, stopped.stdout + stopped.stderr);
      assert.deepEqual((JSON.parse(stopped.stdout) as { hints: string[] }).hints, [firstHint.hint]);
    } finally {
      await nodes[0]!.run(refuse('-D'));
    }
    // Changing the lab as built stays with the owner: refused, naming it.
    for (const refused of [
      ['down', 'vxlan'],
      ['challenge', 'reveal', 'vxlan'],
      ['challenge', 'stop', 'vxlan'],
      ['challenge', 'start', 'vxlan', 'vtep-down'],
      ['up', vxlan, '--ssh-config', machines.sshConfig, '--recreate'],
    ]) {
      const run = await B(...refused);
      assert.equal(run.exitCode, 2, `${refused.join(' ')}: ${run.stdout}${run.stderr}`);
      assert.match(
        run.stderr,
        new RegExp(
          `lab vxlan is attached here, not built here: .* is for its owner, run [0-9a-f]{12} from [^:]+:${controllerA}`,
        ),
      );
    }
    assert.equal((await A('challenge', 'stop', 'vxlan')).exitCode, 0);
    assert.equal((await A('down', 'vxlan')).exitCode, 0);
    const gone = await B('verify', 'vxlan');
    assert.equal(gone.exitCode, 1, gone.stdout + gone.stderr);
    assert.match(
      gone.stderr,
      /lab vxlan is gone from its nodes: node-0 has no record of it; its owner \(run [0-9a-f]{12} from .*\) took it down/,
    );
    assert.doesNotMatch(gone.stderr, /\n\s+at /, 'no stack trace');
    // status shows the lab, and says it is gone, in its row (another lab's rows would follow): exit 1, as drift.
    const status = await B('status');
    assert.equal(status.exitCode, 1, status.stdout + status.stderr);
    assert.match(
      status.stdout,
      /^vxlan: up since [^]*\n {2}lab vxlan is gone from its nodes: node-0 has no record of it/m,
    );
    const json = JSON.parse((await B('status', '--json')).stdout) as { labs: { lab: string; attached?: object }[] };
    assert.match(JSON.stringify(json.labs[0]?.attached), /is gone from its nodes/);
    const detach = await B('detach', 'vxlan');
    assert.equal(detach.exitCode, 0, detach.stderr);
    attached = false;
  } finally {
    await A('down', 'vxlan');
    if (attached) await B('detach', 'vxlan');
  }
  assert.deepEqual(await leftovers(), []);
});

test('one instance of a lab at a time on the same machines: a second is refused before anything changes, naming the one there', async () => {
  try {
    assert.equal((await A('up', vxlan, '--ssh-config', machines.sshConfig, '--instance', 'g1')).exitCode, 0);
    const before = await journals();
    const second = await B('up', vxlan, '--ssh-config', machines.sshConfig, '--instance', 'g2');
    assert.equal(second.exitCode, 1, second.stdout + second.stderr);
    assert.match(
      second.stderr,
      /lab vxlan@g1 is up on node-0 \(run [0-9a-f]{12} from .*\): one instance of lab vxlan at a time on the same machines/,
    );
    assert.match(second.stderr, /nothing was changed/);
    assert.equal(await journals(), before);
    assert.equal((await A('verify', 'vxlan', '--instance', 'g1')).exitCode, 0);
  } finally {
    await A('down', 'vxlan', '--instance', 'g1');
  }
  assert.deepEqual(await leftovers(), []);
});
