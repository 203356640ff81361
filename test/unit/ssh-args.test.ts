// The arguments netlab hands to ssh (src/exec/ssh-args.ts sshArgs), written out in
// full: netlab's own options first (OpenSSH keeps the first value it is given,
// so neither an inventory nor a config file can turn off batch mode or move the
// control socket), then the config file, the inventory's options, the port,
// user and key, and `--` right before the host, so that no host is read as an
// option. Nothing here connects anywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { AS_ROOT, controlDirProblem, explainFailure, runtimeDirProblem, sshArgs } from '../../src/exec/ssh-args.js';
import type { SshTargetState } from '../../src/state/targets.js';
import { RunError, UsageError } from '../../src/errors.js';

// A private XDG_RUNTIME_DIR of this test's own (mkdtemp makes it mode 700), set
// before the first sshArgs: the control directory is checked once per process.
// (short: ssh's socket paths leave the control directory 38 characters, else it is made elsewhere)
const runtime = mkdtempSync(join(tmpdir(), 'nlsa-'));
process.env.XDG_RUNTIME_DIR = runtime;
process.on('exit', () => rmSync(runtime, { recursive: true, force: true }));
const controlDir = join(runtime, `netlab-ssh-${process.getuid!()}`);

const full: SshTargetState = {
  kind: 'ssh',
  configFile: '/home/u/ssh_config',
  hosts: { 'node-0': { host: '192.168.56.10', user: 'vagrant', port: 2222, identity: '/home/u/.ssh/key' } },
  options: { StrictHostKeyChecking: 'accept-new', ProxyJump: 'jump@10.0.0.1' },
};

/** The ControlPath option's value in an argument list. */
const controlPath = (args: string[]) => args.find((a) => a.startsWith('ControlPath='))!;

test("ssh's arguments, in full: netlab's options first, then the config file and the inventory's, `--` before the host", () => {
  const args = sshArgs(full, 'node-0');
  assert.match(controlPath(args), new RegExp(`^ControlPath=${controlDir}/[0-9a-f]{10}-%C$`));
  assert.deepEqual(args, [
    '-o',
    'BatchMode=yes',
    '-o',
    'ControlMaster=auto',
    '-o',
    controlPath(args),
    '-o',
    'ControlPersist=120',
    '-F',
    '/home/u/ssh_config',
    '-o',
    'StrictHostKeyChecking=accept-new',
    '-o',
    'ProxyJump=jump@10.0.0.1',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=3',
    '-o',
    'ServerAliveCountMax=3',
    '-p',
    '2222',
    '-l',
    'vagrant',
    '-i',
    '/home/u/.ssh/key',
    '-o',
    'IdentitiesOnly=yes',
    '--',
    '192.168.56.10',
  ]);
});

test('a host with nothing but its name: no -F, -p, -l or -i, and still `--` before it', () => {
  const args = sshArgs({ kind: 'ssh', hosts: { n: { host: 'node-a.example.org' } } }, 'n');
  assert.deepEqual(args, [
    '-o',
    'BatchMode=yes',
    '-o',
    'ControlMaster=auto',
    '-o',
    controlPath(args),
    '-o',
    'ControlPersist=120',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'ServerAliveInterval=3',
    '-o',
    'ServerAliveCountMax=3',
    '--',
    'node-a.example.org',
  ]);
});

test('one master per node and per way of logging in: another config file, user, port, key or jump host never shares a control socket', () => {
  const path = controlPath(sshArgs(full, 'node-0'));
  assert.equal(controlPath(sshArgs(structuredClone(full), 'node-0')), path, 'the same login, the same socket');
  const host = full.hosts['node-0']!;
  for (const other of [
    { ...full, configFile: '/home/u/other_config' },
    { ...full, configFile: undefined },
    { ...full, hosts: { 'node-0': { ...host, user: 'root' } } },
    { ...full, hosts: { 'node-0': { ...host, port: 22 } } },
    { ...full, hosts: { 'node-0': { ...host, identity: '/home/u/.ssh/other' } } },
    { ...full, hosts: { 'node-0': { ...host, host: '192.168.56.11' } } },
    // Another jump host: the same address, reached elsewhere (two groups' inventories behind two bastions).
    { ...full, options: { ...full.options, ProxyJump: 'g2@bastion' } },
  ])
    assert.notEqual(controlPath(sshArgs(other, 'node-0')), path, JSON.stringify(other));
  const jumped = { ...full, options: { ...full.options, ProxyJump: 'g1@bastion' } };
  assert.notEqual(
    controlPath(sshArgs(jumped, 'node-0')),
    controlPath(sshArgs({ ...full, options: { ...full.options, ProxyJump: 'g2@bastion' } }, 'node-0')),
  );
});

test('a host or user that ssh would read as an option is refused with exit 2; an unknown node is an internal error', () => {
  for (const host of [
    { host: '-oProxyCommand=touch /tmp/x' },
    { host: 'h', user: '-oProxyCommand=touch /tmp/x' },
    { host: '-', user: 'u' },
  ])
    assert.throws(
      () => sshArgs({ kind: 'ssh', hosts: { n: host } }, 'n'),
      (error: unknown) =>
        error instanceof UsageError &&
        error.exitCode === 2 &&
        error.message === 'node n: an SSH host or user may not start with "-"',
      JSON.stringify(host),
    );
  assert.throws(
    () => sshArgs(full, 'node-9'),
    (error: unknown) => error instanceof RunError && error.message === 'no SSH host for node node-9',
  );
  // A "-" inside a host or user is fine.
  assert.equal(sshArgs({ kind: 'ssh', hosts: { n: { host: 'a-b', user: 'u-1' } } }, 'n').at(-1), 'a-b');
});

test('a control directory or XDG_RUNTIME_DIR that is a file, however private, is refused', () => {
  const file = join(runtime, 'a-file');
  writeFileSync(file, '', { mode: 0o600 });
  assert.equal(controlDirProblem(file, process.getuid!()), 'it is not a directory');
  assert.equal(runtimeDirProblem(file, process.getuid!()), 'it is not a directory');
  assert.equal(controlDirProblem(runtime, process.getuid!()), undefined, 'the directory itself is fine');
});

// What a session's failure means: the no-sudo marker AS_ROOT prints, and ssh's own exit 255.
test("a session that failed: no passwordless sudo names the user, ssh's 255 its message; any other result is the script's", () => {
  const result = (exitCode: number, stderr: string) => ({ exitCode, stdout: '', stderr });
  assert.throws(
    () => explainFailure('node-1', result(126, 'x\n@@netlab no-sudo vagrant\n')),
    (e: unknown) =>
      e instanceof RunError &&
      e.message ===
        'node-1: user vagrant is not root and may not run sudo without a password; give it passwordless sudo (as Vagrant does) or log in as root',
  );
  assert.throws(
    () => explainFailure('node-1', result(255, 'ssh: connect to host 10.0.0.9 port 22: Connection refused\n')),
    (e: unknown) =>
      e instanceof RunError &&
      e.message === 'node-1: ssh failed: ssh: connect to host 10.0.0.9 port 22: Connection refused',
  );
  assert.throws(
    () => explainFailure('node-1', result(255, ' \n')),
    (e: unknown) => e instanceof RunError && e.message === 'node-1: ssh failed: no message',
  );
  const failed = result(1, 'RTNETLINK answers: File exists\n');
  assert.equal(explainFailure('node-1', failed), failed, "a script that failed is the script's to report");
});

// The line ssh runs on the machine, in a real shell: root runs the script it is given on stdin;
// a user without passwordless sudo gets the marker and exit 126, and the script never runs.
test(
  'AS_ROOT in a real shell: root runs the script from stdin; a user without sudo gets the marker, exit 126',
  { skip: process.getuid!() !== 0 && 'needs root: runs the line as root and as nobody' },
  () => {
    const asRoot = spawnSync('sh', ['-c', AS_ROOT], { input: 'id -u\necho ran\n', encoding: 'utf8', cwd: '/' });
    assert.equal(asRoot.status, 0, asRoot.stderr);
    assert.equal(asRoot.stdout, '0\nran\n');
    const nobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', AS_ROOT], {
      input: 'echo ran\n',
      encoding: 'utf8',
      cwd: '/',
    });
    assert.equal(nobody.status, 126, nobody.stderr);
    assert.equal(nobody.stdout, '');
    assert.match(nobody.stderr, /^@@netlab no-sudo \S+$/m);
  },
);
