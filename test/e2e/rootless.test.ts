// End to end, without sudo: ordinary users build simulated labs, each in a
// user namespace of their own (README: "Without sudo"). The Service and
// policy labs run this way in services.test.ts and policies.test.ts; here: the
// user's own state directory, a challenge, two users with labs of the same
// name at once, what neither can reach, and a kernel that refuses user
// namespaces. The host is compared with its state before the first test.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { NETLAB } from '../paths.js';
import { quoteArgv } from '../../src/os/quote.js';
import { holderMarker } from '../../src/exec/simulated.js';
import { applyRevealed, json, type Checked } from './challenge-case.js';
import {
  asUserArgv,
  loginEnv,
  ORDINARY_USERS,
  snapshotHost,
  stateDirForTest,
  type HostSnapshot,
  type Run,
} from './host.js';
import { waitFor, within } from '../wait.js';

const [alice, bob] = ORDINARY_USERS;
const homes: Record<number, { dir: string; remove: () => void }> = {
  [alice]: stateDirForTest(alice),
  [bob]: stateDirForTest(bob),
};
after(() => Object.values(homes).forEach((home) => home.remove()));

/** netlab as an ordinary user, as a login gives it: that uid, no groups, HOME, and no NETLAB_STATE_DIR. */
async function as(user: number, ...args: string[]): Promise<Run> {
  const result = await execa(...asUserArgv(user, [NETLAB, ...args]), {
    reject: false,
    env: loginEnv(homes[user]!.dir),
    extendEnv: false,
    stdin: 'ignore',
    timeout: 120_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** A user's lab state, as netlab wrote it in their own directory. */
function stateOf(user: number, lab: string): { target: { nodes: Record<string, { init: { pid: number } }> } } {
  return JSON.parse(readFileSync(join(homes[user]!.dir, `.local/state/netlab/labs/${lab}.json`), 'utf8'));
}

/** Alice, by hand (nsenter, no netlab), enters the user namespace of the process PID, then what the arguments say. */
async function asAliceEnter(pid: number, ...args: string[]): Promise<Run> {
  const result = await execa(
    ...asUserArgv(alice, ['nsenter', '-t', String(pid), '-U', '--preserve-credentials', ...args]),
    { reject: false },
  );
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The host but the processes (a lab that is up has its holders, as the user's). */
const withoutProcesses = ({ processes: _, ...rest }: HostSnapshot) => rest;

let pristine: HostSnapshot;
before(async () => {
  pristine = await snapshotHost();
});

/**
 * `netlab capture` as Alice while a0 pings a1 once: started, awaited until tcpdump reads the node's
 * stream, then the ping; its result. The capture is stopped if anything fails on the way.
 */
async function captureAPing(...options: string[]): Promise<Run> {
  const capture = execa(
    ...asUserArgv(alice, [NETLAB, 'capture', 'a0', '--count', '2', '--filter', 'icmp', ...options]),
    {
      reject: false,
      env: loginEnv(homes[alice]!.dir),
      extendEnv: false,
      timeout: 60_000,
    },
  );
  try {
    let said = '';
    capture.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
    await waitFor('the capture is reading', () => said.includes('reading from file -'));
    const ping = await as(alice, 'exec', 'a0', '--', 'ping', '-c', '1', '-W', '2', '10.200.0.3');
    assert.equal(ping.exitCode, 0, ping.stderr);
    const done = await capture;
    return { exitCode: done.exitCode ?? -1, stdout: String(done.stdout), stderr: String(done.stderr) };
  } finally {
    capture.kill('SIGKILL');
  }
}

/**
 * The live processes of a process group on this host (a lab's nodes are namespaces of this host), NAME's only if
 * given. A zombie is none: it has ended, and only waits for its parent (a node's and a pod's PID 1 wait for
 * every process left to them).
 */
async function groupProcesses(group: number, name?: string): Promise<string> {
  const found = await execa('ps', ['-o', 'pid=,stat=,comm=', '-g', String(group)], { reject: false });
  return String(found.stdout)
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, stat, comm]) => pid && !stat!.startsWith('Z') && (name === undefined || comm === name))
    .map(([pid, , comm]) => `${pid} ${comm}`)
    .join(', ');
}

/**
 * A capture as Alice (a session and process group of its own, as a terminal's job), stopped by
 * SIGNAL while tcpdump reads the node's stream: sent to the whole group (a terminal's Ctrl-C) or to
 * netlab alone (kill). Its exit code, and what is left of its group within 5 s (the node's perl
 * writer and the host's tcpdump reader are in it), or 'none'.
 */
async function captureStopped(signal: 'SIGINT' | 'SIGTERM', to: 'group' | 'netlab') {
  const [command, args] = asUserArgv(alice, [NETLAB, 'capture', 'a0', '--count', '1000', '--timeout', '60']);
  const capture = spawn(command, args, {
    env: loginEnv(homes[alice]!.dir),
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  // setpriv execs netlab: the group's leader is netlab itself, and the group's id its PID
  const exited = new Promise<number | null>((resolve) => capture.on('exit', resolve));
  let said = '';
  capture.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const left = () => groupProcesses(capture.pid!);
  try {
    await waitFor('the capture is reading', () => {
      if (capture.exitCode !== null) throw new Error(`the capture ended (exit ${capture.exitCode}): ${said}`);
      return said.includes('reading from file -');
    });
    assert.notEqual(await groupProcesses(capture.pid!, 'perl'), '', "the node's pcap writer runs");
    process.kill(to === 'group' ? -capture.pid! : capture.pid!, signal);
    // At once, not at the capture's timeout (60 s), when everything would have ended by itself.
    const code = await within(exited, 10_000, `netlab ends after ${signal}`);
    const remaining = await waitFor(
      'nothing of the capture left',
      async () => ((await left()) === '' ? 'none' : false),
      {
        timeoutMs: 5_000,
      },
    ).catch(async () => left());
    return { code, remaining, said };
  } finally {
    try {
      process.kill(-capture.pid!, 'SIGKILL');
    } catch {
      // the group is gone
    }
    await exited;
  }
}

/**
 * `netlab capture a0 lo --write -` as Alice for 1 s while a0 sends itself 60 kB pings, into a reader
 * that reads nothing for its first 1.5 s (a pager, a slow disk): when the timeout stops the node's
 * stream, a record is half written into the full pipe. The pcap that arrives; netlab's exit code.
 */
async function captureWhileTheReaderLags(pcap: string): Promise<{ exitCode: string | undefined; pcap: Run }> {
  const pings = as(alice, 'exec', 'a0', '--', 'ping', '-q', '-i', '0.01', '-c', '120', '-s', '60000', '127.0.0.1');
  const capture = quoteArgv([NETLAB, 'capture', 'a0', 'lo', '--count', '10000', '--timeout', '1', '--write', '-']);
  const lagging = await execa(
    ...asUserArgv(alice, [
      'sh',
      '-c',
      `{ ${capture}; echo "netlab exit $?" >&2; } | { sleep 1.5; cat > ${quoteArgv([pcap])}; }`,
    ]),
    { reject: false, env: loginEnv(homes[alice]!.dir), extendEnv: false, timeout: 60_000 },
  );
  assert.equal((await pings).exitCode, 0, 'the pings were answered');
  const read = await execa('tcpdump', ['-n', '-r', pcap], { reject: false });
  return {
    exitCode: /netlab exit (\d+)/.exec(String(lagging.stderr))?.[1],
    pcap: { exitCode: read.exitCode ?? -1, stdout: String(read.stdout), stderr: String(read.stderr) },
  };
}

test('without sudo: the state in ~/.local/state/netlab, up --verify, status compares the live state, capture, a challenge fixed by hand and graded, down; the host untouched', async () => {
  let down: Run | undefined;
  try {
    const up = await as(alice, 'up', 'bridge', '--verify');
    assert.equal(up.exitCode, 0, up.stdout + up.stderr);
    assert.match(up.stdout, /all 4 checks passed/);
    assert.ok(
      existsSync(join(homes[alice]!.dir, '.local/state/netlab/labs/bridge.json')),
      'the state is the user’s own',
    );
    assert.deepEqual(withoutProcesses(await snapshotHost()), withoutProcesses(pristine), 'nothing on the host');

    // The live state is compared (the user may enter the lab's nodes).
    const status = await as(alice, 'status', 'bridge', '--json');
    assert.equal(status.exitCode, 0, status.stderr);
    const [row] = json<{ labs: { drift: unknown; userNamespace?: boolean }[] }>(status).labs;
    assert.deepEqual([row!.drift, row!.userNamespace], [{ findings: [], unreachable: [] }, true]);

    // capture: tcpdump reads the node's packets on the host, as the user; the pcap file is theirs.
    const captured = await captureAPing();
    assert.equal(captured.exitCode, 0, captured.stderr);
    assert.match(captured.stdout, /10\.200\.0\.2 > 10\.200\.0\.3: ICMP echo request/);
    assert.match(captured.stdout, /10\.200\.0\.3 > 10\.200\.0\.2: ICMP echo reply/);
    const pcap = join(homes[alice]!.dir, 'a0.pcap');
    const written = await captureAPing('--write', pcap);
    assert.equal(written.exitCode, 0, written.stderr);
    assert.match(written.stderr, /pcap written to /);
    assert.equal(statSync(pcap).uid, alice, 'the pcap file is the user’s');
    const read = await execa('tcpdump', ['-n', '-r', pcap], { reject: false });
    assert.deepEqual(
      String(read.stdout)
        .split('\n')
        .map((l) => l.replace(/^\S+ /, '').replace(/, id \d+, seq \d+/, '')),
      [
        'IP 10.200.0.2 > 10.200.0.3: ICMP echo request, length 64',
        'IP 10.200.0.3 > 10.200.0.2: ICMP echo reply, length 64',
      ],
    );
    // Stopped by its timeout while its reader lags, the stream ends after a whole record: the file
    // reads to its end (a record cut short is a "truncated dump file" to tcpdump, which then fails).
    const lagged = await captureWhileTheReaderLags(join(homes[alice]!.dir, 'lo.pcap'));
    assert.deepEqual([lagged.exitCode, lagged.pcap.exitCode], ['0', 0], lagged.pcap.stderr);
    assert.match(
      lagged.pcap.stdout,
      /ICMP echo request, id \d+, seq \d+, length 60008\n/,
      'a 60 kB ping is in the file',
    );
    // Stopped by a terminal's Ctrl-C (the whole group) or by kill (netlab alone), nothing of it runs on:
    // neither the node's writer nor the host's reader. kill is 143, as a shell says it.
    const interrupted = await captureStopped('SIGINT', 'group');
    assert.equal(interrupted.remaining, 'none', `left after Ctrl-C: ${interrupted.remaining}\n${interrupted.said}`);
    // Ctrl-C stops the capture as with root: netlab waits for tcpdump to end, and ends with its exit code (0).
    assert.equal(interrupted.code, 0, interrupted.said);
    const killed = await captureStopped('SIGTERM', 'netlab');
    assert.deepEqual([killed.code, killed.remaining], [143, 'none'], killed.said);

    assert.equal((await as(alice, 'challenge', 'start', 'bridge', 'veth-moved')).exitCode, 0);
    const broken = await as(alice, 'challenge', 'check', 'bridge', '--json');
    assert.equal(json<Checked>(broken).solved, false, broken.stdout);
    const hint = await as(alice, 'challenge', 'hint', 'bridge');
    assert.equal(hint.exitCode, 0, hint.stderr);
    await applyRevealed((...args) => as(alice, ...args), 'bridge');
    let last = '';
    await waitFor(
      'the fix passes the goal',
      async () => {
        const fixed = await as(alice, 'challenge', 'check', 'bridge', '--json');
        last = fixed.stdout;
        return json<Checked>(fixed).solved;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    ).catch((error: Error) => assert.fail(`${error.message}: ${last}`));

    // A link the user takes down by hand is drift, as for root.
    assert.equal((await as(alice, 'exec', 'node-0', '--', 'ip', 'link', 'set', 'veth-a1', 'down')).exitCode, 0);
    const drifted = await as(alice, 'status', 'bridge');
    assert.equal(drifted.exitCode, 1, drifted.stdout);
    assert.match(drifted.stdout, /drift from what netlab made:\n.*veth-a1/);
  } finally {
    down = await as(alice, 'down', 'bridge');
  }
  assert.equal(down.exitCode, 0, down.stdout + down.stderr);
  assert.deepEqual(await snapshotHost(), pristine, 'the host as it was, processes included');
});

test("room commands without sudo, on a room not built in the user's state: said where root's rooms are, nothing written", async () => {
  const home = homes[alice]!.dir;
  writeFileSync(join(home, 'g1.ssh'), 'Host node-0 node-1\n  HostName 127.0.0.1\n  Port 9\n');
  const file = join(home, 'r1.yaml');
  writeFileSync(file, 'room: r1\nlab: vxlan\ngroups:\n  g1: { ssh-config: g1.ssh }\n');
  for (const command of ['status', 'results', 'down']) {
    const said = await as(alice, 'room', command, file, ...(command === 'results' ? ['--json'] : []));
    assert.equal(said.exitCode, 2, `${command}: ${said.stdout}${said.stderr}`);
    assert.match(
      said.stderr,
      /room r1 has no state here yet: `netlab room up \S+r1\.yaml` builds its groups' labs\. Rooms you bring up without sudo are in \S+\/\.local\/state\/netlab; a room brought up with sudo is root's, in \/var\/lib\/netlab: `sudo netlab …` acts on it/,
      command,
    );
  }
  assert.equal(existsSync(join(home, '.local/state/netlab/rooms/r1')), false, 'no room record made');
});

test("two users' labs of the same name at once: each verifies, neither reaches the other's nor the host's network, one's down leaves the other's", async () => {
  try {
    for (const user of [alice, bob]) {
      const up = await as(user, 'up', 'vxlan', '--verify');
      assert.equal(up.exitCode, 0, `user ${user}: ${up.stdout}${up.stderr}`);
    }
    assert.deepEqual(withoutProcesses(await snapshotHost()), withoutProcesses(pristine), 'nothing on the host');

    // show and graph read the live names in Alice's nodes.
    const show = await as(alice, 'show', 'node-0');
    assert.equal(show.exitCode, 0, show.stderr);
    assert.match(show.stdout, /^vxlan0 +UNKNOWN|^vxlan0 /m);
    const graph = await as(alice, 'graph', 'vxlan');
    assert.match(graph.stdout, /veth-a0@if\d+ ⇄ veth-a0-c@if\d+ pod a0/);

    // The lab's root is root of the lab's namespaces only: in its own node it makes a link; the host's
    // network namespace (Alice's own on the host, opened before nsenter enters the lab's user namespace)
    // refuses it.
    const own = await as(alice, 'exec', 'node-0', '--', 'ip', 'link', 'add', 'netlab-escape', 'type', 'veth');
    assert.equal(own.exitCode, 0, `a link in alice's own node: ${own.stderr}`);
    const alices = stateOf(alice, 'vxlan').target.nodes['node-0']!.init.pid;
    const host = await asAliceEnter(
      alices,
      '--net=/proc/self/ns/net',
      'ip',
      'link',
      'add',
      'netlab-escape',
      'type',
      'veth',
    );
    assert.notEqual(host.exitCode, 0, 'the host network namespace is not the user’s');
    assert.match(host.stderr, /Operation not permitted/);

    // Bob's node, by its PID, is not Alice's to enter.
    const bobs = stateOf(bob, 'vxlan').target.nodes['node-0']!.init.pid;
    const enter = await asAliceEnter(bobs, '-n', 'ip', 'link');
    assert.notEqual(enter.exitCode, 0, 'alice entered bob’s node');
    // (the kernel does not even let her open its namespaces: they are another user's process's)
    assert.match(enter.stderr, /cannot open \/proc\/\d+\/ns\/user: Permission denied/);

    // Alice's down removes Alice's lab; Bob's, of the same name, still verifies.
    assert.equal((await as(alice, 'down', 'vxlan')).exitCode, 0);
    const verify = await as(bob, 'verify', 'vxlan');
    assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /all \d+ checks passed/);
  } finally {
    for (const user of [alice, bob]) await as(user, 'down', 'vxlan');
  }
  assert.deepEqual(await snapshotHost(), pristine, 'the host as it was, processes included');
});

/**
 * netlab as Alice where the kernel refuses her user namespaces: user.max_user_namespaces
 * is 0 in a user namespace made for this run only (root writes its maps: root and Alice,
 * as they are outside), so the host's own setting is never changed.
 */
async function asAliceWithoutUserNamespaces(...args: string[]): Promise<Run> {
  const inner = [
    'echo 0 >/proc/sys/user/max_user_namespaces',
    `exec ${quoteArgv(asUserArgv(alice, [NETLAB, ...args]).flat())}`,
  ].join(' && ');
  // The first sh waits for its maps, then execs the second: run as uid 0 in there, it has the namespace's
  // capabilities (the first lost them at its own exec, before it had a uid in there).
  const child = spawn('unshare', ['--user', 'sh', '-c', 'read -r _ && exec "$@"', 'sh', 'sh', '-c', inner], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: loginEnv(homes[alice]!.dir),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    // unshare has made the namespace once its process is in another one: the maps go in before sh reads its line.
    await waitFor('the test’s user namespace', async () => {
      const [own, ours] = await Promise.all([
        execa('readlink', [`/proc/${child.pid}/ns/user`], { reject: false }),
        execa('readlink', ['/proc/self/ns/user']),
      ]);
      return own.stdout !== '' && own.stdout !== ours.stdout;
    });
    const map = `0 0 1\n${alice} ${alice} 1\n`;
    writeFileSync(`/proc/${child.pid}/uid_map`, map);
    writeFileSync(`/proc/${child.pid}/gid_map`, map);
    child.stdin.end('\n');
    return { exitCode: (await exited) ?? -1, stdout, stderr };
  } finally {
    child.kill('SIGKILL'); // a sh still waiting for its line, if the maps could not be written
  }
}

test("an up killed before its first node started (kill -9): the user's own down removes what it left", async () => {
  // An unshare first in PATH that holds the lab's first holder (its command line names the lab's marker)
  // until the test has killed up there, and passes every other call through.
  const home = homes[alice]!.dir;
  const bin = join(home, 'bin');
  mkdirSync(bin, { mode: 0o755 });
  const held = join(home, 'held');
  writeFileSync(
    join(bin, 'unshare'),
    `#!/bin/sh\ncase "$*" in *netlab-sim:*) : >${quoteArgv([held])}; while :; do sleep 0.1; done ;; esac\nexec /usr/bin/unshare "$@"\n`,
    { mode: 0o755 },
  );
  const env = { ...loginEnv(home), PATH: `${bin}:${process.env.PATH}` };
  const up = execa(...asUserArgv(alice, [NETLAB, 'up', 'bridge']), { reject: false, env, extendEnv: false });
  let down: Run | undefined;
  try {
    await waitFor('the first holder starting', () => existsSync(held));
    up.kill('SIGKILL');
    await up;
    assert.ok(existsSync(join(home, '.local/state/netlab/labs/bridge.json')), 'up recorded the lab first');
    down = await as(alice, 'down', 'bridge');
  } finally {
    up.kill('SIGKILL');
    await up;
    // What the old code left (down refused): the held holder, by its marker (alice's: the marker names her
    // state directory, exec/simulated.ts holderMarker; another test file's bridge lab may be up meanwhile), and the state.
    if (down?.exitCode !== 0) {
      const marker = holderMarker('bridge', '', join(home, '.local', 'state', 'netlab'));
      await execa('pkill', ['-KILL', '-f', marker], { reject: false });
      rmSync(join(home, '.local/state/netlab/labs/bridge.json'), { force: true });
    }
    rmSync(bin, { recursive: true, force: true });
    rmSync(held, { force: true });
  }
  assert.equal(down.exitCode, 0, down.stdout + down.stderr);
  assert.equal(existsSync(join(home, '.local/state/netlab/labs/bridge.json')), false, 'the state removed');
  assert.deepEqual(await snapshotHost(), pristine, 'no holder left');
});

test('a kernel that refuses user namespaces: up names the setting and its fix, exits 2, starts nothing; doctor says so', async () => {
  const refusal =
    /simulated nodes without root need unprivileged user namespaces, and this kernel refuses them: user\.max_user_namespaces is 0 \(an administrator turns it on: sudo sysctl -w user\.max_user_namespaces=15000\)\..* Or run netlab as root \(sudo\)/;
  const up = await asAliceWithoutUserNamespaces('up', 'bridge');
  // What up left is looked at before anything cleans up (a down would hide it), and cleaned up after.
  const stateWritten = existsSync(join(homes[alice]!.dir, '.local/state/netlab/labs/bridge.json'));
  const host = await snapshotHost();
  if (stateWritten || JSON.stringify(host) !== JSON.stringify(pristine)) await as(alice, 'down', 'bridge');
  assert.equal(up.exitCode, 2, up.stdout + up.stderr);
  assert.match(up.stderr, new RegExp(`netlab up: ${refusal.source}`));
  assert.doesNotMatch(up.stderr, /internal error| {4}at /);
  assert.equal(stateWritten, false, 'no state written');
  assert.deepEqual(host, pristine, 'nothing started');

  const doctor = await asAliceWithoutUserNamespaces('doctor', 'bridge');
  assert.equal(doctor.exitCode, 1, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, new RegExp(`^✗ user namespaces: ${refusal.source}`, 'm'));
  assert.match(doctor.stdout, /were not probed: that needs root \(sudo netlab doctor\), or user namespaces/);
});

test('doctor without sudo: user namespaces work here, and the kernel is probed in one', async () => {
  const doctor = await as(alice, 'doctor', 'bridge', '--json');
  assert.equal(doctor.exitCode, 0, doctor.stdout + doctor.stderr);
  const report = json<{ probedKernel: boolean; userNamespaces: unknown }>(doctor);
  assert.deepEqual([report.probedKernel, report.userNamespaces], [true, { usable: true }]);
  const text = await as(alice, 'doctor', 'bridge');
  assert.match(text.stdout, /^✓ user namespaces: simulated labs run without sudo/m);
});
