// An inventory (src/exec/inventory.ts) read in this process, field by field:
// every value that reaches ssh's command line has a grammar, each refusal is
// exit 2 with the file, the field and what is allowed. test/unit/shared-input
// runs the same refusals through the CLI (a child process, where Stryker's
// coverage does not see them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { readInventory } from '../../src/exec/inventory.js';
import { UsageError } from '../../src/errors.js';
import { sshTarget } from '../../src/exec/targets.js';
import { otherTarget } from '../../src/commands/common.js';
import type { Model } from '../../src/model/lab.js';
import type { LabState } from '../../src/state/store.js';

const HINT = '\n(an inventory is `nodes: { node-0: { host: 192.168.56.10, user: vagrant, identity: ~/.ssh/key } }`)';

/** Reads `text` as an inventory file; the error's message with the file's path as FILE. */
function read(text: string): { data?: unknown; error?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-inventory-'));
  const file = join(dir, 'inventory.yaml');
  try {
    writeFileSync(file, text);
    return { data: readInventory(file) };
  } catch (error) {
    assert.ok(error instanceof UsageError && error.exitCode === 2, String(error));
    return { error: error.message.replaceAll(file, 'FILE') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const node = (fields: string) => `nodes:\n  node-0: { host: 192.168.56.10, ${fields} }\n`;

test('a full inventory is read as written', () => {
  assert.deepEqual(
    read(
      'ssh-options: { StrictHostKeyChecking: accept-new, ProxyJump: "jump@10.0.0.1:2222" }\n' +
        node('port: 2222, user: vagrant, identity: ~/.ssh/id_ed25519, underlay: { dev: eth1, address: 192.168.56.10 }'),
    ).data,
    {
      'ssh-options': { StrictHostKeyChecking: 'accept-new', ProxyJump: 'jump@10.0.0.1:2222' },
      nodes: {
        'node-0': {
          host: '192.168.56.10',
          port: 2222,
          user: 'vagrant',
          identity: '~/.ssh/id_ed25519',
          underlay: { dev: 'eth1', address: '192.168.56.10' },
        },
      },
    },
  );
  // YAML's numbers and booleans, in ssh's words.
  const typed = read(`ssh-options: { ServerAliveInterval: 15, Compression: true, TCPKeepAlive: false }\n${node('')}`);
  assert.deepEqual(
    (typed.data as { 'ssh-options'?: unknown } | undefined)?.['ssh-options'],
    {
      ServerAliveInterval: '15',
      Compression: 'yes',
      TCPKeepAlive: 'no',
    },
    typed.error,
  );
  for (const fields of ['port: 1', 'port: 65535', 'user: ubuntu-1', 'user: _svc', 'underlay: { dev: abcdefghijklmno }'])
    assert.equal(read(node(fields)).error, undefined, fields);
});

test('ssh-options: refused in the file, at the option, with why and the hint', () => {
  assert.equal(
    read(`ssh-options: { ProxyCommand: "nc %h %p" }\n${node('')}`).error,
    `FILE: ssh-options.ProxyCommand: ProxyCommand makes ssh run a program on this machine, which an inventory may not do; put it in your own OpenSSH config and use --ssh-config FILE${HINT}`,
  );
  assert.equal(
    read(`ssh-options: { SendEnv: LANG }\n${node('')}`).error,
    `FILE: ssh-options.SendEnv: "SendEnv" is not an ssh option an inventory may set; allowed: AddressFamily, Compression, ConnectTimeout, ConnectionAttempts, ServerAliveInterval, ServerAliveCountMax, TCPKeepAlive, LogLevel, StrictHostKeyChecking, UserKnownHostsFile, GlobalKnownHostsFile, HostKeyAlgorithms, CheckHostIP, HashKnownHosts, IdentitiesOnly, PreferredAuthentications, PubkeyAcceptedAlgorithms, Ciphers, KexAlgorithms, MACs, ProxyJump (others go in your own OpenSSH config, with --ssh-config FILE)${HINT}`,
  );
  for (const value of ['"accept-new;touch /tmp/x"', '";x"', '"x;"', '"$(id)"', '"a b"', '"-oProxyCommand=x"'])
    assert.match(
      read(`ssh-options: { StrictHostKeyChecking: ${value} }\n${node('')}`).error ?? '',
      /^FILE: ssh-options\.StrictHostKeyChecking: .* is not a value for StrictHostKeyChecking: letters, digits and _ \. \/ = : @ , \+ ~ \[ \] -, not starting with "-"\n/,
      value,
    );
});

test('ssh-options: the files of known hosts only turned off, and no alias or rewrite of their lines (ssh writes a new host key into that file before any login, a line authorized_keys accepts)', () => {
  for (const [option, value] of [
    ['UserKnownHostsFile', '~/.ssh/authorized_keys'],
    ['UserKnownHostsFile', '/etc/sudoers'],
    ['GlobalKnownHostsFile', '/root/.ssh/authorized_keys'],
    ['userknownhostsfile', '/tmp/known'],
  ])
    assert.match(
      read(`ssh-options: { ${option}: "${value}" }\n${node('')}`).error ?? '',
      new RegExp(
        `^FILE: ssh-options\\.${option}: ${option} may only be /dev/null or none in an inventory: ssh writes host keys into that file`,
      ),
      `${option} ${value}`,
    );
  for (const option of ['HostKeyAlias: restrict', 'UpdateHostKeys: "yes"'])
    assert.match(
      read(`ssh-options: { ${option} }\n${node('')}`).error ?? '',
      /is not an ssh option an inventory may set/,
      option,
    );
  for (const value of ['/dev/null', 'none'])
    assert.equal(
      read(`ssh-options: { UserKnownHostsFile: ${value}, GlobalKnownHostsFile: ${value} }\n${node('')}`).error,
      undefined,
      value,
    );
});

test('hosts, ports, users, keys and underlay devices: each with its grammar, anchored at both ends', () => {
  const refused: [string, string][] = [
    [
      'nodes:\n  node-0: { host: "node;reboot" }\n',
      'nodes.node-0.host: a host name or address (not starting with "-")',
    ],
    ['nodes:\n  node-0: { host: ";node" }\n', 'nodes.node-0.host: a host name or address (not starting with "-")'],
    [node('port: 0'), 'nodes.node-0.port: Too small: expected number to be >=1'],
    [node('port: 65536'), 'nodes.node-0.port: Too big: expected number to be <=65535'],
    [node('user: "a;b"'), 'nodes.node-0.user: a user name'],
    [node('user: ";a"'), 'nodes.node-0.user: a user name'],
    [node('user: Root'), 'nodes.node-0.user: a user name'],
    [node('identity: "k;rm -rf ~"'), 'nodes.node-0.identity: a path to a private key'],
    [node('identity: ";k"'), 'nodes.node-0.identity: a path to a private key'],
    [node('identity: "a b"'), 'nodes.node-0.identity: a path to a private key'],
    [
      node('underlay: { dev: abcdefghijklmnop }'),
      'nodes.node-0.underlay.dev: Too big: expected string to have <=15 characters',
    ],
  ];
  for (const [text, message] of refused) assert.equal(read(text).error, `FILE: ${message}${HINT}`, text);
});

test('where a problem is: a key that is not a plain word is quoted; the whole file is (top)', () => {
  assert.equal(
    read('nodes: { "bad name": { host: h } }\n').error,
    `FILE: nodes."bad name": Invalid key in record${HINT}`,
  );
  assert.equal(read('- 1\n').error, `FILE: (top): Invalid input: expected object, received array${HINT}`);
  assert.equal(
    read('nodes:\n  node-0: { host: h }\n  node-1: { host: "x y" }\n  node-2: { host: h, port: 0 }\n').error,
    `FILE: nodes.node-1.host: a host name or address (not starting with "-")\nFILE: nodes.node-2.port: Too small: expected number to be >=1${HINT}`,
  );
});

test('YAML errors name the file and say the first line of what is wrong; an alias bomb is refused', () => {
  assert.equal(
    read('nodes: { node-0: { host: h }\n').error,
    'FILE: Flow map in block collection must be sufficiently indented and end with a } at line 2, column 1:',
  );
  assert.equal(
    read('a: &a [x,x,x,x]\nb: &b [*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b]\nnodes: { node-0: { host: h } }\n').error,
    'FILE: Excessive alias count indicates a resource exhaustion attack',
  );
});

test('a lab up on the machines of one inventory (or one Vagrant directory) refuses the flags of another of its kind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-other-target-'));
  const saved = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = join(dir, 'state');
  try {
    const inventory = join(dir, 'inventory.yaml');
    writeFileSync(inventory, 'nodes:\n  node-0: { host: 127.0.0.1 }\n');
    const model = { name: 'bridge', nodes: [{ name: 'node-0' }] } as unknown as Model;
    const { target } = await sshTarget(model, { inventory });
    assert.equal(target.from, inventory, 'up records the inventory it read');
    const state = { lab: 'bridge', target } as LabState;
    assert.equal(otherTarget(state, { inventory }), undefined);
    assert.equal(otherTarget(state, { inventory: relative(process.cwd(), inventory) }), undefined, 'by another path');
    symlinkSync(inventory, join(dir, 'link.yaml'));
    assert.equal(otherTarget(state, { inventory: join(dir, 'link.yaml') }), undefined, 'through a link');
    assert.equal(
      otherTarget(state, { inventory: join(dir, 'room-b.yaml') }),
      `lab bridge is up on the machines of the inventory "${inventory}", not on the machines of --inventory "${join(dir, 'room-b.yaml')}"; leave the target flags out (the target is recorded when the lab goes up)`,
    );
    assert.match(otherTarget(state, { vagrant: true }) ?? '', /not on the machines of --vagrant;/);
    // A state from before the inventory was recorded: any inventory, as before.
    const { from: _, ...older } = target;
    assert.equal(
      otherTarget({ lab: 'bridge', target: older } as LabState, { inventory: join(dir, 'x.yaml') }),
      undefined,
    );

    // Vagrant VMs: `vagrant ssh-config` kept in the state directory, from the directory recorded.
    const vagrant = {
      kind: 'ssh',
      configFile: join(dir, 'state', 'ssh', 'bridge.config'),
      from: join(dir, 'vms-a'),
      hosts: {},
    } as const;
    const up = { lab: 'bridge', target: vagrant } as LabState;
    assert.equal(otherTarget(up, { vagrantDir: join(dir, 'vms-a') }), undefined);
    assert.match(
      otherTarget(up, { vagrantDir: join(dir, 'vms-b') }) ?? '',
      /^lab bridge is up on Vagrant VMs \(`vagrant ssh-config` in ".*vms-a"\), not on the machines of --vagrant-dir ".*vms-b";/,
    );
  } finally {
    if (saved === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Vagrant directory's SSH config is kept as that directory's: two directories (two groups of a room, a lab moved) never take each other's", async () => {
  const work = mkdtempSync(join(tmpdir(), 'netlab-vagrant-'));
  const saved = { path: process.env.PATH, state: process.env.NETLAB_STATE_DIR };
  try {
    // vagrant, as far as netlab can tell: `vagrant ssh-config` prints the VMs of the directory it runs in.
    mkdirSync(join(work, 'bin'));
    writeFileSync(
      join(work, 'bin', 'vagrant'),
      '#!/bin/sh\nprintf "Host node-0\\n  HostName 127.0.0.1\\n  Port %s\\n" "$(cat port)"\n',
      { mode: 0o755 },
    );
    const dirs = ['a', 'b'].map((name, i) => {
      const dir = join(work, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'port'), `${2200 + i}\n`);
      return dir;
    });
    process.env.PATH = `${join(work, 'bin')}:${saved.path}`;
    process.env.NETLAB_STATE_DIR = join(work, 'state');
    // One lab's name, as `up` logs in before it reads the instance (each group's up of a room: vxlan --instance gN).
    const model = { name: 'vxlan', nodes: [{ name: 'node-0', underlay: {} }] } as unknown as Model;
    const first = (await sshTarget(model, { vagrantDir: dirs[0] })).target;
    const second = (await sshTarget(model, { vagrantDir: dirs[1] })).target;
    const portOf = (target: typeof first) =>
      /Port (\d+)/.exec(readFileSync((target as { configFile: string }).configFile, 'utf8'))?.[1];
    assert.deepEqual([portOf(first), portOf(second)], ['2200', '2201'], "each directory's own VMs");
    assert.equal((await sshTarget(model, { vagrantDir: dirs[0] })).target.configFile, first.configFile);
  } finally {
    process.env.PATH = saved.path;
    if (saved.state === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = saved.state;
    rmSync(work, { recursive: true, force: true });
  }
});

test("an inventory's key given by a relative path is the inventory's file's neighbour, from any directory netlab runs in (a down from elsewhere finds it)", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-identity-'));
  try {
    const inventory = join(dir, 'inventory.yaml');
    writeFileSync(
      inventory,
      'nodes:\n  node-0: { host: 127.0.0.1, identity: keys/id }\n  node-1: { host: 127.0.0.1, identity: /k/id }\n',
    );
    const model = { name: 'vxlan', nodes: [{ name: 'node-0' }, { name: 'node-1' }] } as unknown as Model;
    const { target } = await sshTarget(model, { inventory: relative(process.cwd(), inventory) });
    assert.deepEqual(
      [target.hosts['node-0']!.identity, target.hosts['node-1']!.identity],
      [join(dir, 'keys', 'id'), '/k/id'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
