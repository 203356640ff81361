// `netlab doctor --install` over SSH, end to end, on the test machines of
// test/e2e/machines.ts. They share this host's files: a real apt-get there
// would install on this host. So every machine's /usr/bin/apt-get is a fake,
// bind-mounted in the machine's own mount namespace (this host's is not
// touched), which records how it was run (its user, DEBIAN_FRONTEND, its
// arguments) and "installs" socat by unmounting the /dev/null that hides it on
// node-1 (the machines' `hide` option). Before any test each machine is
// checked to run the fake for `apt-get`, by every PATH a login may have; if
// not, nothing runs. No lab goes up: doctor only looks, and --install only
// runs apt-get (the routes lab needs no kernel module, so no modprobe).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { NETLAB } from '../paths.js';
import { quoteArgv } from '../../src/os/quote.js';
import { snapshotHost, stateDirForTest, type HostSnapshot } from './host.js';
import { startMachines, type Machines } from './machines.js';
import { watch } from '../wait.js';

const work = stateDirForTest();
const stateDir = join(work.dir, 'state');
let machines: Machines;
let pristine: HostSnapshot;
const NAMES = ['node-0', 'node-1'];
const SOCAT = '/usr/bin/socat';

/** What the fake apt-get on a machine recorded, a line per run; [] if it never ran. */
function aptRuns(name: string): string[] {
  const log = join(work.dir, `apt-get-${name}.log`);
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
}

/** Makes the fake apt-get on a machine fail each install (100, as apt-get does), or not. */
function failInstalls(name: string, fail: boolean): void {
  const flag = join(work.dir, `apt-get-${name}.fail`);
  if (fail) writeFileSync(flag, '');
  else rmSync(flag, { force: true });
}

/** socat hidden again on node-1, and the fake's record cleared: the state before each install. */
async function socatMissing(): Promise<void> {
  for (const name of NAMES) rmSync(join(work.dir, `apt-get-${name}.log`), { force: true });
  const result = await machines.transport('node-1').run(`mountpoint -q ${SOCAT} || mount --bind /dev/null ${SOCAT}\n`);
  assert.equal(result.exitCode, 0, result.stderr);
}

function sshConfigAs(user: string): string {
  const file = join(work.dir, `ssh_config_${user}`);
  writeFileSync(
    file,
    NAMES.map(
      (name) =>
        `Host ${name}\n  HostName ${machines.addresses[name]}\n  User ${user}\n  IdentityFile ${join(work.dir, 'id_ed25519')}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n`,
    ).join('\n'),
  );
  return file;
}

before(async () => {
  pristine = await snapshotHost();
  mkdirSync(stateDir);
  // The non-root user must be able to read the shared authorized_keys file.
  chmodSync(work.dir, 0o755);
  machines = await startMachines('doctor-e2e', NAMES, work.dir, {
    hide: { 'node-1': [SOCAT] },
    users: { learner: { sudo: true } },
  });
  // No apt-get but /usr/bin's may be found by a login's PATH (/bin is /usr/bin on a merged /usr).
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/sbin', '/bin']) {
    const other = join(dir, 'apt-get');
    assert.ok(
      !existsSync(other) || realpathSync(other) === '/usr/bin/apt-get',
      `${other} would be run instead of the fake: this test would install on this host; it does not run`,
    );
  }
  for (const name of NAMES) {
    const fake = join(work.dir, `fake-apt-get-${name}`);
    writeFileSync(
      fake,
      [
        '#!/bin/sh',
        "# netlab's e2e fake apt-get (test/e2e/doctor-install.test.ts): records how it was run, installs nothing",
        '[ "$1" = --netlab-fake ] && { echo netlab-fake-apt-get; exit 0; }',
        `echo "uid=$(id -u) DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> ${join(work.dir, `apt-get-${name}.log`)}`,
        `[ "$1" = install ] && [ -e ${join(work.dir, `apt-get-${name}.fail`)} ] && { echo "E: Unable to locate package socat" >&2; exit 100; }`,
        // "Installing" socat: what hid it is taken away, on this machine only.
        `if [ "$1" = install ]; then ! mountpoint -q ${SOCAT} || umount ${SOCAT}; fi`,
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(fake, 0o755);
    const mounted = await machines
      .transport(name)
      .run(`mount --bind ${fake} /usr/bin/apt-get && apt-get --netlab-fake && /usr/bin/apt-get --netlab-fake\n`);
    assert.equal(mounted.exitCode, 0, mounted.stderr);
    assert.equal(mounted.stdout, 'netlab-fake-apt-get\nnetlab-fake-apt-get\n', `${name} runs the fake apt-get`);
  }
  // And over SSH, as root and through sudo, as doctor's scripts run.
  for (const user of ['root', 'learner']) {
    const probe = await execa(
      'nsenter',
      [
        '-t',
        String(machines.clientPid),
        '-n',
        '--',
        'ssh',
        '-F',
        sshConfigAs(user),
        'node-1',
        'sudo -n sh -c "command -v apt-get && apt-get --netlab-fake"',
      ],
      { reject: false, stdin: 'ignore', timeout: 60_000 },
    );
    assert.match(String(probe.stdout), /netlab-fake-apt-get/, `${user}'s login runs the fake: ${probe.stderr}`);
  }
  assert.deepEqual([...NAMES.map(aptRuns)], [[], []], 'the probes are not recorded');
});

after(async () => {
  machines?.stop();
  work.remove();
  assert.deepEqual(await snapshotHost(), pristine, 'the machines and their ssh connections are gone');
});

test('doctor --install over SSH without a terminal and without --yes: refused (exit 2) before any machine is reached', async () => {
  await socatMissing();
  const refused = await machines.netlab(stateDir, 'doctor', 'routes', '--install', '--ssh-config', sshConfigAs('root'));
  assert.equal(refused.exitCode, 2, refused.stdout + refused.stderr);
  assert.equal(refused.stdout, '');
  assert.match(
    refused.stderr,
    /doctor --install asks before it installs on the machines of --ssh-config \S+, and there is no terminal to ask on: add --yes/,
  );
  assert.deepEqual(NAMES.map(aptRuns), [[], []]);
});

test('doctor --install over SSH on a terminal: the plan is printed and asked; answered no, nothing is installed (exit 1)', async () => {
  await socatMissing();
  const command = quoteArgv([
    'nsenter',
    '-t',
    String(machines.clientPid),
    '-n',
    '--',
    NETLAB,
    'doctor',
    'routes',
    '--install',
    '--ssh-config',
    sshConfigAs('root'),
  ]);
  // script(1) gives netlab a terminal; the answer is typed once the question is on it.
  const child = execa('script', ['-qec', command, '/dev/null'], {
    reject: false,
    stdin: 'pipe',
    timeout: 180_000,
    env: { NETLAB_STATE_DIR: stateDir, FORCE_COLOR: '0', XDG_RUNTIME_DIR: work.dir },
  });
  const seen = watch(child);
  await seen.until('install on 1 machine? [y/N] ');
  child.stdin!.write('n\n');
  child.stdin!.end();
  const result = await child;
  const output = seen.output.replace(/\r/g, '');
  assert.equal(result.exitCode, 1, output);
  assert.match(
    output,
    /--install runs, as root on each machine \(through sudo -n where the login is not root\):\n {2}node-1: apt-get install -y -q --no-install-recommends socat\n/,
  );
  assert.doesNotMatch(output, / {2}node-0: apt-get/, 'node-0 misses nothing');
  assert.match(output, /nothing was installed/);
  assert.deepEqual(NAMES.map(aptRuns), [[], []]);
});

test('doctor --install --yes over SSH as root: apt-get install runs on the machine that misses socat alone, as root, non-interactive; doctor then finds everything (exit 0)', async () => {
  await socatMissing();
  const config = sshConfigAs('root');
  const installed = await machines.netlab(stateDir, 'doctor', 'routes', '--install', '--yes', '--ssh-config', config);
  assert.equal(installed.exitCode, 0, installed.stdout + installed.stderr);
  assert.match(
    installed.stdout,
    /✗ node-1:\n {2}lab routes needs the command "socat" on node-1: install the package socat/,
  );
  assert.match(installed.stdout, /\n {2}node-1: apt-get install -y -q --no-install-recommends socat\n/);
  assert.match(installed.stdout, /✓ node-1: installed socat/);
  assert.doesNotMatch(installed.stdout, /node-0: (apt-get|installed)/);
  assert.deepEqual(aptRuns('node-1'), [
    'uid=0 DEBIAN_FRONTEND=noninteractive install -y -q --no-install-recommends socat',
  ]);
  assert.deepEqual(aptRuns('node-0'), [], 'node-0 misses nothing: left alone');
  const after = await machines.netlab(stateDir, 'doctor', 'routes', '--ssh-config', config);
  assert.equal(after.exitCode, 0, after.stdout + after.stderr);
  assert.match(after.stdout, /✓ node-1: everything is there/);
});

test('doctor --install --yes over SSH as a user with passwordless sudo: apt-get runs as root through sudo -n', async () => {
  await socatMissing();
  const installed = await machines.netlab(
    stateDir,
    'doctor',
    'routes',
    '--install',
    '--yes',
    '--ssh-config',
    sshConfigAs('learner'),
  );
  assert.equal(installed.exitCode, 0, installed.stdout + installed.stderr);
  assert.deepEqual(aptRuns('node-1'), [
    'uid=0 DEBIAN_FRONTEND=noninteractive install -y -q --no-install-recommends socat',
  ]);
  assert.deepEqual(aptRuns('node-0'), []);
});

test('doctor --install --yes --json over SSH where apt-get fails: tried again after apt-get update, the machine named with its last lines (stderr), exit 1', async () => {
  await socatMissing();
  failInstalls('node-1', true);
  try {
    const failed = await machines.netlab(
      stateDir,
      'doctor',
      'routes',
      '--install',
      '--yes',
      '--json',
      '--ssh-config',
      sshConfigAs('root'),
    );
    assert.equal(failed.exitCode, 1, failed.stdout + failed.stderr);
    const report = JSON.parse(failed.stdout) as { missingPackages: string[] };
    assert.deepEqual(report.missingPackages, ['socat']);
    assert.match(failed.stderr, / {2}node-1: apt-get install -y -q --no-install-recommends socat\n/);
    assert.match(
      failed.stderr,
      /✗ node-1: --install failed \(exit 100\); its last lines:\n(.*\n)* {4}E: Unable to locate package socat/,
    );
    assert.deepEqual(
      aptRuns('node-1').map((line) => line.split(' ').slice(0, 3).join(' ')),
      [
        'uid=0 DEBIAN_FRONTEND=noninteractive install',
        'uid=0 DEBIAN_FRONTEND=noninteractive update',
        'uid=0 DEBIAN_FRONTEND=noninteractive install',
      ],
    );
  } finally {
    failInstalls('node-1', false);
  }
});
