// What a shared machine needs from netlab's input handling before anything
// reaches a node: lab names checked wherever they enter, inventories that cannot
// make ssh run programs, a private SSH control directory, bounded lab files, and
// control characters never echoed raw. Run through the real CLI; nothing here
// connects anywhere or needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';

import { join } from 'node:path';
import { LABS, NETLAB } from '../paths.js';
import { controlDir, controlDirProblem, runtimeDirProblem } from '../../src/exec/ssh-args.js';
import { sshOptionProblem } from '../../src/exec/inventory.js';
import { scratch } from '../scratch.js';

async function cli(env: Record<string, string>, ...args: string[]) {
  const result = await execa(NETLAB, args, {
    reject: false,
    env: { FORCE_COLOR: '0', ...env },
    stdin: 'ignore',
    timeout: 60_000,
  });
  return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}

test('a lab name is checked wherever it enters: down, verify, exec and graph refuse "", ".", "..", a directory, paths and long names with exit 2, writing nothing', async () => {
  const work = scratch('netlab-input-');
  try {
    const state = join(work.dir, 'state');
    mkdirSync(join(work.dir, 'labs'));
    const env = { NETLAB_STATE_DIR: state };
    const bad = [
      '',
      '.',
      '..',
      `${join(work.dir, 'labs')}/`,
      join(work.dir, 'labs'),
      '../x',
      '../../etc',
      'a/b',
      'a@b@c',
      'x'.repeat(33),
      '-rf',
    ];
    // Every bad name through down (the command that deletes); a few through each other command that takes one.
    const commands = (name: string) => [
      ['down', '--', name],
      ...(['', '..', '../x'].includes(name)
        ? [
            ['verify', '--', name],
            ['graph', '--', name],
            ['exec', 'a0', `--lab=${name}`, '--', 'true'],
            ['show', 'a0', `--lab=${name}`],
          ]
        : []),
    ];
    for (const name of bad) {
      for (const args of commands(name)) {
        const run = await cli(env, ...args);
        assert.equal(run.exitCode, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
        // graph also takes a lab file or a bundled lab: for it, a bad name is no file either.
        const refused =
          args[0] === 'graph' ? /not a lab name|is a directory|no such file/ : /not a lab name|is a directory/;
        assert.match(run.stderr, refused, `${JSON.stringify(args)}: ${run.stderr}`);
      }
    }
    assert.equal(existsSync(state), false, 'no state, lock or anything else was written');
    // A directory that happens to have a lab's name (run next to a vxlan/) still names the lab.
    mkdirSync(join(work.dir, 'vxlan'));
    const named = await execa(NETLAB, ['verify', 'vxlan'], { cwd: work.dir, reject: false, env: env });
    assert.equal(named.exitCode, 2);
    assert.match(String(named.stderr), /lab vxlan is not up/);
  } finally {
    work.remove();
  }
});

test('inventory ssh-options: only connection, timeout and host-key options; options that run a program, and hosts or values starting with "-", exit 2 before any connection', async () => {
  for (const name of [
    'ProxyCommand',
    'proxycommand',
    'LocalCommand',
    'PermitLocalCommand',
    'KnownHostsCommand',
    'PKCS11Provider',
    'SecurityKeyProvider',
  ]) {
    assert.match(sshOptionProblem(name, 'x') ?? '', /makes ssh run a program on this machine/, name);
  }
  for (const name of [
    'ControlPath',
    'BatchMode',
    'ControlMaster',
    'RemoteForward',
    'SendEnv',
    'RemoteCommand',
    'Include',
  ])
    assert.match(sshOptionProblem(name, 'x') ?? '', /not an ssh option an inventory may set/, name);
  assert.equal(sshOptionProblem('StrictHostKeyChecking', 'accept-new'), undefined);
  assert.equal(
    sshOptionProblem('proxyjump', 'jump@10.0.0.1:2222'),
    undefined,
    'names are case-insensitive, as OpenSSH reads them',
  );
  assert.match(sshOptionProblem('ProxyJump', '-oProxyCommand=x') ?? '', /not starting with "-"/);

  const work = scratch('netlab-input-');
  try {
    // If ssh ever ran this "proxy", the marker file would appear.
    const marker = join(work.dir, 'ran');
    const proxy = join(work.dir, 'proxy.sh');
    writeFileSync(proxy, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const cases: [string, RegExp][] = [
      [
        `ssh-options: { ProxyCommand: ${proxy} }\nnodes:\n  node-0: { host: 127.0.0.1 }\n  node-1: { host: 127.0.0.1 }\n`,
        /ProxyCommand makes ssh run a program .*--ssh-config/,
      ],
      [
        `ssh-options: { KnownHostsCommand: ${proxy} }\nnodes:\n  node-0: { host: 127.0.0.1 }\n  node-1: { host: 127.0.0.1 }\n`,
        /KnownHostsCommand makes ssh run a program/,
      ],
      [
        `nodes:\n  node-0: { host: "-oProxyCommand=${proxy}" }\n  node-1: { host: 127.0.0.1 }\n`,
        /nodes\.node-0\.host: a host name or address \(not starting with "-"\)/,
      ],
    ];
    for (const [inventory, message] of cases) {
      const file = join(work.dir, 'inventory.yaml');
      writeFileSync(file, inventory);
      for (const command of ['plan', 'up']) {
        const run = await cli(
          { NETLAB_STATE_DIR: join(work.dir, 'state'), XDG_RUNTIME_DIR: work.dir },
          command,
          join(LABS, 'vxlan.yaml'),
          '--inventory',
          file,
        );
        assert.equal(run.exitCode, 2, `${command}: ${run.stdout}${run.stderr}`);
        assert.match(run.stderr, message);
      }
    }
    assert.equal(existsSync(marker), false, 'ssh never ran the program');
    assert.equal(
      existsSync(join(work.dir, `netlab-ssh-${process.getuid!()}`)),
      false,
      'no SSH connection was even prepared',
    );
  } finally {
    work.remove();
  }
});

test('the SSH control directory must be private: a symlink, a directory others can enter or one of another user is refused with exit 2', async (t) => {
  // (short: ssh's socket paths leave the control directory 38 characters, else it is made elsewhere)
  const work = scratch('nli-');
  try {
    const uid = process.getuid!();
    const config = join(work.dir, 'ssh_config');
    writeFileSync(config, 'Host node-0\n  HostName 127.0.0.1\nHost node-1\n  HostName 127.0.0.1\n');
    const runtime = (name: string) => {
      const dir = join(work.dir, name);
      mkdirSync(dir);
      return dir;
    };
    const cases: [string, (control: string) => void, RegExp][] = [
      ['symlink', (control) => symlinkSync(runtime('elsewhere'), control), /it is a symbolic link/],
      [
        'open',
        (control) => {
          mkdirSync(control);
          chmodSync(control, 0o755);
        },
        /others may use it \(mode 755/,
      ],
    ];
    if (uid === 0)
      cases.push([
        'foreign',
        (control) => {
          mkdirSync(control, { mode: 0o700 });
          chownSync(control, 65534, 65534);
        },
        /it belongs to user 65534/,
      ]);
    else t.diagnostic('not root: the foreign-owner case needs chown and runs in CI (as root)');
    for (const [label, make, message] of cases) {
      const xdg = runtime(`x-${label}`);
      const control = join(xdg, `netlab-ssh-${uid}`);
      make(control);
      assert.match(controlDirProblem(control, uid) ?? '', message, label);
      const run = await cli(
        { NETLAB_STATE_DIR: join(work.dir, 'state'), XDG_RUNTIME_DIR: xdg },
        'plan',
        join(LABS, 'vxlan.yaml'),
        '--ssh-config',
        config,
      );
      assert.equal(run.exitCode, 2, `${label}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /refusing the SSH control directory/);
      assert.match(run.stderr, message);
    }
    const fresh = runtime('x-fresh');
    mkdirSync(join(fresh, `netlab-ssh-${uid}`), { mode: 0o700 });
    assert.equal(
      controlDirProblem(join(fresh, `netlab-ssh-${uid}`), uid),
      undefined,
      'a private directory of our own is fine',
    );
  } finally {
    work.remove();
  }
});

test('the SSH control directory is made only in an XDG_RUNTIME_DIR of our own that no one else may write to: a world-writable one is refused with exit 2', () => {
  // (short: ssh's socket paths leave the control directory 38 characters, else it is made elsewhere)
  const work = scratch('nli-');
  const saved = process.env.XDG_RUNTIME_DIR;
  try {
    const uid = process.getuid!();
    const open = join(work.dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    process.env.XDG_RUNTIME_DIR = open;
    assert.throws(
      () => controlDir(),
      (error: Error & { exitCode?: number }) =>
        error.exitCode === 2 &&
        /refusing XDG_RUNTIME_DIR .*open as the place of the SSH control directory: others may write to it \(mode 777\)/.test(
          error.message,
        ),
    );
    assert.equal(existsSync(join(open, `netlab-ssh-${uid}`)), false, 'nothing was made in it');

    const own = join(work.dir, 'own');
    mkdirSync(own, { mode: 0o700 });
    symlinkSync(own, join(work.dir, 'link'));
    assert.match(runtimeDirProblem(join(work.dir, 'link'), uid) ?? '', /it is a symbolic link/);
    assert.match(runtimeDirProblem('relative/dir', uid) ?? '', /not an absolute path/);
    assert.match(runtimeDirProblem(join(work.dir, 'missing'), uid) ?? '', /cannot be examined \(ENOENT\)/);
    chmodSync(own, 0o755);
    assert.equal(runtimeDirProblem(own, uid), undefined, 'others may enter it, not write to it');
    process.env.XDG_RUNTIME_DIR = own;
    assert.equal(controlDir(), join(own, `netlab-ssh-${uid}`));
  } finally {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = saved;
    work.remove();
  }
});

test('bounds: an oversized lab is refused at once, before it is planned; /dev/zero and a FIFO are not lab files', async (t) => {
  const work = scratch('netlab-input-');
  try {
    const nodes = Array.from({ length: 1000 }, (_, i) => `  n${i}: { pods: 1000 }`).join('\n');
    const huge = join(work.dir, 'huge.yaml');
    writeFileSync(huge, `name: huge\nnodes:\n${nodes}\npods: {}\n`);
    const started = Date.now();
    const run = await cli({}, 'validate', huge);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(run.exitCode, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /huge\.yaml:2:1: nodes: found 1000 nodes; allowed: at most 32/);
    assert.match(run.stderr, /pods: found 1000000 pods .*; allowed: at most 2000/);
    t.diagnostic(
      `a ${Math.round(nodes.length / 1024)} KB lab asking for 1000 nodes × 1000 pods refused in ${seconds.toFixed(2)} s (the whole command)`,
    );

    const fifo = join(work.dir, 'fifo.yaml');
    await execa('mkfifo', [fifo]);
    for (const file of ['/dev/zero', fifo]) {
      const special = await cli({}, 'validate', file);
      assert.equal(special.exitCode, 2, `${file}: ${special.stdout}${special.stderr}`);
      assert.match(special.stderr, /not a regular file/);
    }
  } finally {
    work.remove();
  }
});

test('control characters: refused in free text, and escaped when input is echoed in a message', async () => {
  const run = await cli({}, 'validate', 'test/golden/invalid/text.yaml');
  assert.equal(run.exitCode, 2);
  assert.ok(!run.stderr.includes('\x1b'), 'no raw escape character reaches the terminal');
  assert.match(run.stderr, /description: found .*; allowed: text without control characters/);
  assert.match(run.stderr, /exercises\.0: found .*; allowed: text without control characters/);
  assert.match(run.stderr, /unknown field "bad\\u001b\[31mkey"/);
  assert.equal(run.stderr.split('\n').filter((l) => l.startsWith('node-0: everything')).length, 0, 'no line is faked');
});

test('usage errors exit 2 from every subcommand (an unknown option, a missing argument), as they do from netlab itself', async () => {
  const commands = [
    'validate',
    'plan',
    'up',
    'verify',
    'down',
    'status',
    'exec',
    'graph',
    'show',
    'capture',
    'trace',
    'labs',
    'schema',
  ];
  for (const command of commands) {
    const run = await cli({}, command, '--bogus');
    assert.equal(run.exitCode, 2, `netlab ${command} --bogus: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /unknown option '--bogus'/);
  }
  const command = await cli({}, 'exec', 'a0', 'ping', '-c1', '10.200.0.3');
  assert.equal(command.exitCode, 2, command.stderr);
  assert.match(command.stderr, /the command and its options go after --: netlab exec a0 -- ping -c1/);
  const missing = await cli({}, 'validate');
  assert.equal(missing.exitCode, 2, missing.stderr);
  assert.match(missing.stderr, /missing required argument/);
});

test("an SSH config (or a Vagrantfile) someone else could change is refused with exit 2: ssh runs its ProxyCommand as netlab's user, root under sudo", async () => {
  const work = scratch('netlab-input-');
  try {
    const config = 'Host node-0\n  HostName 127.0.0.1\nHost node-1\n  HostName 127.0.0.1\n';
    const plan = (file: string) =>
      cli({ NETLAB_STATE_DIR: join(work.dir, 'state') }, 'plan', join(LABS, 'vxlan.yaml'), '--ssh-config', file);
    // In a directory every user may write (a room's shared folder): another could replace it.
    const open = join(work.dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    writeFileSync(join(open, 'g1.ssh'), config);
    const refused = await plan(join(open, 'g1.ssh'));
    assert.equal(refused.exitCode, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /refusing .*g1\.ssh: .*open can be written by others than \S+ \(mode 777\)/);
    // So do the commands that log in to every host of a config before a lab is known: attach, doctor, and down
    // without the lab's state (they logged in with it, and ssh ran its ProxyCommand).
    for (const args of [['attach', 'vxlan'], ['doctor'], ['down', 'vxlan']]) {
      const first = await cli(
        { NETLAB_STATE_DIR: join(work.dir, 'state') },
        ...args,
        '--ssh-config',
        join(open, 'g1.ssh'),
      );
      assert.equal(first.exitCode, 2, `${args[0]}: ${first.stdout}${first.stderr}`);
      assert.match(first.stderr, /refusing .*g1\.ssh: .*open can be written by others/, args[0]);
    }
    // Writable by others itself.
    const own = join(work.dir, 'own.ssh');
    writeFileSync(own, config, { mode: 0o666 });
    chmodSync(own, 0o666);
    const writable = await plan(own);
    assert.equal(writable.exitCode, 2, writable.stdout + writable.stderr);
    assert.match(writable.stderr, /own\.ssh can be written by others than \S+ \(mode 666\): `chmod go-w /);
    // Its own, in a directory of its own: read (the machines do not answer here: not exit 2 for the file).
    chmodSync(own, 0o600);
    assert.doesNotMatch((await plan(own)).stderr, /refusing/);
    // A symbolic link to it, in the open directory: whoever may write there could point it elsewhere later (the
    // state keeps the name given, and ssh follows it each time).
    symlinkSync(own, join(open, 'link.ssh'));
    const linked = await plan(join(open, 'link.ssh'));
    assert.equal(linked.exitCode, 2, linked.stdout + linked.stderr);
    assert.match(linked.stderr, /refusing .*link\.ssh: .*open can be written by others than \S+ \(mode 777\)/);
    // A link of another user's, in a directory of netlab's user (root can make one for the test).
    if (process.getuid?.() === 0) {
      const theirs = join(work.dir, 'theirs.ssh');
      symlinkSync(own, theirs);
      lchownSync(theirs, 65534, 65534);
      const foreign = await plan(theirs);
      assert.equal(foreign.exitCode, 2, foreign.stdout + foreign.stderr);
      assert.match(
        foreign.stderr,
        /refusing .*theirs\.ssh: .*theirs\.ssh is a symbolic link of \S+'s, who could point it/,
      );
    }
    // A Vagrantfile, which `vagrant ssh-config` runs.
    writeFileSync(join(open, 'Vagrantfile'), '# VMs\n');
    const vagrant = await cli(
      { NETLAB_STATE_DIR: join(work.dir, 'state') },
      'plan',
      join(LABS, 'vxlan.yaml'),
      '--vagrant-dir',
      open,
    );
    assert.equal(vagrant.exitCode, 2, vagrant.stdout + vagrant.stderr);
    assert.match(vagrant.stderr, /refusing .*Vagrantfile: /);
  } finally {
    work.remove();
  }
});
