// `netlab doctor --install` on the machines of a target: each machine's plan
// (the packages it misses, the modules to load), the one apt-get command for
// this host and the machines, the script a machine runs (against a fake
// apt-get and modprobe: never the real ones), the question asked first, and
// the refusal without a terminal and without --yes. The machines themselves
// are test/e2e/doctor-install.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { NETLAB } from '../paths.js';
import { quoteArgv } from '../../src/os/quote.js';
import { skipUnlessRoot } from '../root.js';
import {
  aptInstallArgs,
  askYesNo,
  disableCommands,
  runEach,
  forbidServiceStarts,
  installOnMachines,
  installPlans,
  installRefusal,
  installScript,
  planCommands,
  printReport,
  reportLines,
  servicesHeldBy,
  type InstallPlan,
  type NodeReport,
} from '../../src/commands/doctor.js';
import type { Requirements } from '../../src/exec/preflight.js';
import type { Transport } from '../../src/exec/transport.js';

const NEEDS: Requirements = {
  tools: [],
  features: [],
  extensions: [],
  sysctls: [{ key: 'net.bridge.bridge-nf-call-iptables', module: 'br_netfilter', why: 'has Services, which need' }],
};

const tool = (command: string, pkg: string): NodeReport['missing'][number] => ({
  what: { kind: 'tool', command, package: pkg },
  labs: ['vxlan'],
  message: '',
});

test('each machine that misses something gets its own plan: its packages once each, sorted, and its modules; a kernel feature is no package; the others none', () => {
  const reports: NodeReport[] = [
    { node: 'node-0', missing: [], hostTools: [] },
    {
      node: 'node-1',
      missing: [
        tool('socat', 'socat'),
        tool('ip', 'iproute2'),
        tool('bridge', 'iproute2'),
        { what: { kind: 'sysctl', key: 'net.bridge.bridge-nf-call-iptables' }, labs: ['service'], message: '' },
      ],
      hostTools: [],
    },
    {
      node: 'node-2',
      missing: [{ what: { kind: 'feature', name: 'ipip', said: '' }, labs: ['ipip'], message: '' }],
      hostTools: [],
    },
    { node: 'node-3', missing: [tool('traceroute', 'traceroute')], hostTools: [] },
  ];
  assert.deepEqual(installPlans(reports, NEEDS), [
    { node: 'node-1', packages: ['iproute2', 'socat'], modules: ['br_netfilter'] },
    { node: 'node-3', packages: ['traceroute'], modules: [] },
  ]);
});

test('the apt-get command is one, on this host and on the machines, and is printed as it runs', () => {
  assert.deepEqual(aptInstallArgs(['socat', 'iproute2']), [
    'install',
    '-y',
    '-q',
    '--no-install-recommends',
    'socat',
    'iproute2',
  ]);
  assert.deepEqual(planCommands({ node: 'node-1', packages: ['iproute2', 'socat'], modules: ['br_netfilter'] }), [
    'apt-get install -y -q --no-install-recommends iproute2 socat',
    'modprobe br_netfilter',
  ]);
  assert.deepEqual(planCommands({ node: 'node-1', packages: [], modules: ['br_netfilter'] }), [
    'modprobe br_netfilter',
  ]);
  const script = installScript({ node: 'node-1', packages: ['socat'], modules: [] });
  assert.ok(script.includes('apt-get install -y -q --no-install-recommends socat'), script);
  assert.ok(!script.includes('modprobe'), script);
});

/**
 * Runs a plan's script with PATH holding only a directory of fakes: the real
 * apt-get is in /usr/bin, which the script never gets (it adds /usr/sbin and
 * /sbin only), so no test here can install anything.
 */
async function runScript(plan: InstallPlan, fakes: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-install-'));
  try {
    const log = join(dir, 'log');
    for (const [name, body] of Object.entries(fakes)) {
      writeFileSync(
        join(dir, name),
        `#!/bin/sh\necho "${name} $* (DEBIAN_FRONTEND=$DEBIAN_FRONTEND)" >> ${log}\n${body}\n`,
      );
      chmodSync(join(dir, name), 0o755);
    }
    const result = await execa('/bin/sh', ['-s'], {
      input: installScript(plan),
      reject: false,
      env: { PATH: dir, DIR: dir },
      extendEnv: false,
    });
    return {
      exitCode: result.exitCode,
      stderr: String(result.stderr),
      log: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a machine runs apt-get install non-interactively, then the modules; a failed install is tried again after apt-get update; a failure stops it', async () => {
  const plan = { node: 'node-1', packages: ['iproute2', 'socat'], modules: ['br_netfilter'] };
  const ok = await runScript(plan, { 'apt-get': 'exit 0', modprobe: 'exit 0' });
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.deepEqual(ok.log, [
    'apt-get install -y -q --no-install-recommends iproute2 socat (DEBIAN_FRONTEND=noninteractive)',
    'modprobe br_netfilter (DEBIAN_FRONTEND=noninteractive)',
  ]);
  // Lists out of date (a fresh VM): install fails until apt-get update ran.
  const stale = await runScript(plan, {
    'apt-get': 'case "$1" in update) : > "$DIR/updated";; install) [ -e "$DIR/updated" ] || exit 100;; esac',
    modprobe: 'exit 0',
  });
  assert.equal(stale.exitCode, 0, stale.stderr);
  assert.deepEqual(
    stale.log.map((l) => l.split(' ').slice(0, 2).join(' ')),
    ['apt-get install', 'apt-get update', 'apt-get install', 'modprobe br_netfilter'],
  );
  const broken = await runScript(plan, { 'apt-get': 'exit 100', modprobe: 'exit 0' });
  assert.equal(broken.exitCode, 100);
  assert.deepEqual(
    broken.log.map((l) => l.split(' ').slice(0, 2).join(' ')),
    ['apt-get install', 'apt-get update'],
    'update failed: no second install, no module',
  );
  const noApt = await runScript(plan, { modprobe: 'exit 0' });
  assert.equal(noApt.exitCode, 127);
  assert.match(noApt.stderr, /no apt-get on this machine: install these packages with its package manager/);
  assert.deepEqual(noApt.log, []);
  const noModule = await runScript(plan, { 'apt-get': 'exit 0', modprobe: 'exit 1' });
  assert.equal(noModule.exitCode, 1);
});

test('the question: yes only for y or yes; an empty answer, another, or the end of input is no', async () => {
  for (const [typed, expected] of [
    ['y\n', true],
    ['YES\n', true],
    [' yes \n', true],
    ['\n', false],
    ['n\n', false],
    ['yep\n', false],
    ['', false],
  ] as const) {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (chunk: Buffer) => (shown += chunk.toString()));
    const answer = askYesNo('install on 2 machines? [y/N] ', input, output);
    if (typed) input.write(typed);
    input.end();
    assert.equal(await answer, expected, JSON.stringify(typed));
    assert.match(shown, /^install on 2 machines\? \[y\/N\] /);
  }
});

test('--install on the machines of a target without a terminal and without --yes is refused before anything is reached (exit 2); --yes goes with --install', async () => {
  assert.match(
    installRefusal({ install: true, sshConfig: 'groups/g3.ssh' }, false)!,
    /^doctor --install asks before it installs on the machines of --ssh-config groups\/g3\.ssh, and there is no terminal to ask on: add --yes/,
  );
  assert.match(installRefusal({ install: true, vagrant: true }, false)!, /machines of --vagrant,/);
  assert.match(installRefusal({ install: true, inventory: 'inv.yaml' }, false)!, /machines of --inventory inv\.yaml,/);
  assert.equal(installRefusal({ install: true, sshConfig: 'x', yes: true }, false), undefined);
  assert.equal(installRefusal({ install: true, sshConfig: 'x' }, true), undefined, 'a terminal: it asks');
  assert.equal(installRefusal({ install: true }, false), undefined, 'this host: sudo is the consent');
  assert.equal(installRefusal({ yes: true }, true), '--yes goes with --install');
  // Refused before the report: an install on this host without root (modprobe and apt-get would fail after it),
  // and the test tiers' check of machines over SSH (what they need is this host's).
  assert.equal(
    installRefusal({ install: true }, true, false),
    '--install installs on this host, which needs root: sudo netlab doctor --install',
  );
  assert.equal(installRefusal({ install: true, sshConfig: 'x' }, true, false), undefined, 'root is needed there');
  assert.equal(
    installRefusal({ tests: true, vagrant: true }, true),
    '--tests checks this host for the test tiers: it takes no --vagrant',
  );

  // The command line: no SSH config is read (this one does not exist), nothing is reached.
  const missing = join(tmpdir(), 'netlab-no-such-ssh-config');
  const result = await execa(NETLAB, ['doctor', 'vxlan', '--install', '--ssh-config', missing], {
    reject: false,
    stdin: 'ignore',
    env: { FORCE_COLOR: '0' },
  });
  assert.equal(result.exitCode, 2);
  assert.equal(result.stdout, '');
  assert.match(
    String(result.stderr),
    new RegExp(
      `^netlab: doctor --install asks before it installs on the machines of --ssh-config ${missing}, and there is no terminal to ask on: add --yes to install without asking \\(the apt-get command for each machine is printed first\\)`,
    ),
  );
});

/** A machine that answers each script with this result (or fails to be reached), and keeps the scripts. */
function fakeMachine(node: string, answer: { exitCode: number; stdout: string; stderr: string } | Error) {
  const scripts: string[] = [];
  const transport: Transport = {
    node,
    run: (script) => {
      scripts.push(script);
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    interactive: () => Promise.resolve(0),
    lock: () => Promise.resolve({}),
    unlock: () => Promise.resolve(),
  };
  return { transport, scripts };
}

test("--install --yes on the machines: each plan printed first, run on its machine alone, each outcome a line with a failed one's last lines", async () => {
  const plans = [
    { node: 'node-1', packages: ['socat'], modules: [] },
    { node: 'node-2', packages: ['iproute2', 'socat'], modules: ['br_netfilter'] },
    { node: 'node-3', packages: ['traceroute'], modules: [] },
    { node: 'node-4', packages: [], modules: ['br_netfilter'] },
  ];
  const machines = {
    'node-0': fakeMachine('node-0', { exitCode: 0, stdout: '', stderr: '' }),
    'node-1': fakeMachine('node-1', { exitCode: 0, stdout: 'Setting up socat\n', stderr: '' }),
    'node-2': fakeMachine('node-2', {
      exitCode: 100,
      stdout: 'Reading package lists...\n',
      stderr: 'E: Unable to locate package socat\n',
    }),
    'node-3': fakeMachine('node-3', new Error('node-3: ssh failed: Connection reset')),
    'node-4': fakeMachine('node-4', { exitCode: 0, stdout: '', stderr: '' }),
  };
  const lines: string[] = [];
  const log = console.log;
  // Colours, if chalk found a terminal, are not what is compared.
  console.log = (line: string) =>
    lines.push(line.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), ''));
  let ok: boolean;
  try {
    ok = await installOnMachines(
      plans,
      Object.entries(machines).map(([node, m]) => ({ node, transport: m.transport })),
      { install: true, yes: true, sshConfig: 'ssh_config' },
    );
  } finally {
    console.log = log;
  }
  assert.equal(ok, false);
  assert.deepEqual(lines, [
    '--install runs, as root on each machine (through sudo -n where the login is not root):',
    '  node-1: apt-get install -y -q --no-install-recommends socat',
    '  node-2: apt-get install -y -q --no-install-recommends iproute2 socat',
    '  node-2: modprobe br_netfilter',
    '  node-3: apt-get install -y -q --no-install-recommends traceroute',
    '  node-4: modprobe br_netfilter',
    '✓ node-1: installed socat',
    '✗ node-2: --install failed (exit 100); its last lines:',
    '    Reading package lists...',
    '    E: Unable to locate package socat',
    '✗ node-3: --install failed; its last lines:',
    '    node-3: ssh failed: Connection reset',
    '✓ node-4: loaded br_netfilter',
  ]);
  assert.deepEqual(machines['node-0'].scripts, [], 'a machine that misses nothing is left alone');
  assert.deepEqual(machines['node-1'].scripts, [installScript(plans[0]!)]);
  assert.deepEqual(machines['node-2'].scripts, [installScript(plans[1]!)]);
});

test("doctor prints what a machine said escaped: its kernel's words cannot drive the terminal", () => {
  const lines = reportLines({
    node: 'node-0',
    unprobed: 'the kernel said \x1b]0;owned\x07 and more',
    missing: [
      {
        what: { kind: 'feature', name: 'vxlan', said: '\x1b[2J' },
        labs: ['vxlan'],
        message: 'lab vxlan needs VXLAN; the kernel answered "\x1b[2J"',
      },
    ],
    hostTools: [],
  });
  assert.equal(lines.length, 3);
  assert.ok(!lines.slice(1).join('\n').includes('\x1b'), JSON.stringify(lines));
  assert.match(lines[1]!, /the kernel said \\u001b\]0;owned\\u0007 and more/);
  assert.match(lines[2]!, /answered "\\u001b\[2J"/);
});

test("installing the tests' sshd starts no SSH server: policy-rc.d forbids service starts meanwhile (unless the machine has a policy of its own), and the units are named to disable", async () => {
  assert.deepEqual(servicesHeldBy(['tcpdump', 'openssh-server', 'strace']), ['ssh.service', 'ssh.socket']);
  assert.deepEqual(servicesHeldBy(['tcpdump', 'openssh-client']), []);
  // Said before it runs: the install line names what installs on its own.
  const said: string[] = [];
  const log = console.log;
  console.log = (line: string) => said.push(line);
  try {
    printReport([], [], ['openssh-server', 'strace'], [], { install: true, tests: true }, []);
  } finally {
    console.log = log;
  }
  assert.equal(
    said.at(-1),
    'installing: apt-get install -y -q --no-install-recommends openssh-server strace; openssh-server on its own, without starting or enabling ssh.service or ssh.socket',
  );
  const dir = mkdtempSync(join(tmpdir(), 'netlab-policy-'));
  try {
    // No policy of the machine's: netlab's forbids every start (exit 101, Debian's "action forbidden") until lifted.
    const policy = join(dir, 'policy-rc.d');
    const ours = forbidServiceStarts(policy);
    assert.equal(ours.machines, false);
    const asked = await execa(policy, ['ssh.service', 'start'], { reject: false });
    assert.equal(asked.exitCode, 101);
    ours.lift();
    assert.ok(!existsSync(policy), 'lifted: removed');
    ours.lift();
    // One a doctor left (killed before it lifted it) is netlab's: used, then removed.
    const killed = forbidServiceStarts(join(dir, 'killed'));
    writeFileSync(policy, readFileSync(join(dir, 'killed')), { mode: 0o755 });
    killed.lift();
    const again = forbidServiceStarts(policy);
    assert.equal(again.machines, false, 'a policy netlab wrote and left is netlab');
    again.lift();
    assert.ok(!existsSync(policy));
    // Where netlab cannot write one, it decides nothing (and says nothing started only where systemd can stop it).
    assert.equal(forbidServiceStarts(join(dir, 'no-such-dir', 'policy-rc.d')).machines, true);
    // The machine's own policy (a container's) decides: left as it is, and not removed after.
    writeFileSync(policy, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const machines = forbidServiceStarts(policy);
    assert.equal(machines.machines, true);
    machines.lift();
    assert.equal(readFileSync(policy, 'utf8'), '#!/bin/sh\nexit 0\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the tests' sshd, once installed, is left disabled by Debian's own deb-systemd-helper (for real, in a mount namespace of its own)", async (t) => {
  if (skipUnlessRoot(t, 'a mount namespace with its own /etc/systemd/system')) return;
  // The unit file comes with openssh-server, which the setup installs (doctor --tests --install).
  assert.ok(existsSync('/lib/systemd/system/ssh.service'), 'openssh-server is installed (npm run setup)');
  // As the package's postinst enables it; then netlab's commands, with their environment;
  // then what is left: the links, and whether an upgrade would enable it again.
  const netlab = disableCommands(['openssh-server'], false)
    .map(({ argv, env }) => `env ${quoteArgv([...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv])}`)
    .join('\n');
  const script = [
    'set -e',
    'mount -t tmpfs netlab-test /etc/systemd/system',
    'mount -t tmpfs netlab-test /var/lib/systemd',
    'DPKG_MAINTSCRIPT_PACKAGE=openssh-server deb-systemd-helper enable ssh.service',
    "echo \"enabled: $(find /etc/systemd/system -name 'ssh*' | sort | tr '\\n' ' ')\"",
    netlab,
    "echo \"after: $(find /etc/systemd/system -name 'ssh*' | sort | tr '\\n' ' ')\"",
    'DPKG_MAINTSCRIPT_PACKAGE=openssh-server deb-systemd-helper --quiet was-enabled ssh.service && echo "upgrade: enabled" || echo "upgrade: disabled"',
  ].join('\n');
  const result = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { reject: false });
  assert.equal(result.exitCode, 0, result.stderr);
  assert.match(result.stdout, /^enabled: .*multi-user\.target\.wants\/ssh\.service/m, "the postinst's links were made");
  assert.match(result.stdout, /^after: $/m, 'no link left');
  assert.match(result.stdout, /^upgrade: disabled$/m);
});

test('after the install, every command that holds the services back runs, also after one fails (the stop after a failed disable)', async () => {
  const ran: string[] = [];
  const commands = disableCommands(['openssh-server'], true);
  assert.deepEqual(
    commands.map((c) => c.argv[0]),
    ['deb-systemd-helper', 'systemctl'],
  );
  const ok = await runEach(commands, async ({ argv }) => {
    ran.push(argv.join(' '));
    return argv[0] === 'deb-systemd-helper' ? 1 : 0;
  });
  assert.equal(ok, false);
  assert.deepEqual(ran, ['deb-systemd-helper disable ssh.service ssh.socket', 'systemctl stop ssh.service ssh.socket']);
  assert.equal(await runEach(commands, async () => 0), true);
});

test("a missing workshop tool (capture's tcpdump) is named with its package, but fails no lab's doctor: only the tests' (in a mount namespace where /dev/null hides it)", async (t) => {
  if (skipUnlessRoot(t, 'a mount namespace of its own')) return;
  const state = mkdtempSync(join(tmpdir(), 'netlab-doctor-'));
  try {
    const doctor = (...args: string[]) =>
      execa(
        'unshare',
        [
          '-m',
          'sh',
          '-c',
          'mount --bind /dev/null "$(command -v tcpdump)" && exec "$@"',
          'sh',
          NETLAB,
          'doctor',
          ...args,
        ],
        { reject: false, env: { FORCE_COLOR: '0', NETLAB_STATE_DIR: state } },
      );
    const lab = await doctor('bridge');
    assert.equal(lab.exitCode, 0, lab.stdout + lab.stderr);
    assert.deepEqual(lab.stdout.split('\n').slice(1, 3), [
      '✓ this host: everything the labs need is there, but:',
      '  netlab capture needs the command "tcpdump" on this host: install the package tcpdump',
    ]);
    assert.match(
      lab.stdout,
      /to install what is missing: sudo netlab doctor --install bridge \(runs apt-get install .* tcpdump\)/,
    );
    const json = JSON.parse((await doctor('bridge', '--json')).stdout) as Record<string, unknown>;
    assert.deepEqual([json.missingPackages, json.neededPackages], [['tcpdump'], []]);
    const tests = await doctor('bridge', '--tests');
    assert.equal(tests.exitCode, 1, 'the tests need it');
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test("`sudo npm test` leaves the build the user's: what it wrote goes back to the user who ran sudo, where the checkout is theirs, also inside a dist/ of theirs; a link is given, not followed", async (t) => {
  if (skipUnlessRoot(t, 'chown')) return;
  const script = new URL('../../../scripts/give-back.mjs', import.meta.url).href;
  const { giveBackToSudoUser } = (await import(script)) as {
    giveBackToSudoUser: (paths: string[], options: { env: NodeJS.ProcessEnv; root: string }) => unknown;
  };
  const checkout = mkdtempSync(join(tmpdir(), 'netlab-checkout-'));
  try {
    mkdirSync(join(checkout, 'dist', 'bundle'), { recursive: true });
    writeFileSync(join(checkout, 'dist', 'bundle', 'netlab.cjs'), '');
    symlinkSync('/etc/hostname', join(checkout, 'dist', 'link'));
    // A file of root's with another name (a hard link from elsewhere), and one of another user's: left as they are.
    writeFileSync(join(checkout, 'linked'), '');
    linkSync(join(checkout, 'linked'), join(checkout, 'dist', 'linked'));
    writeFileSync(join(checkout, 'dist', 'theirs'), '');
    chownSync(join(checkout, 'dist', 'theirs'), 1000, 1000);
    const env = { SUDO_UID: '65534', SUDO_GID: '65534' };
    const owners = () =>
      ['dist', 'dist/bundle', 'dist/bundle/netlab.cjs', 'dist/link'].map((p) => lstatSync(join(checkout, p)).uid);
    assert.equal(giveBackToSudoUser(['dist'], { env, root: checkout }), undefined, "root's checkout: left root's");
    assert.deepEqual(owners(), [0, 0, 0, 0]);
    chownSync(checkout, 65534, 65534);
    assert.deepEqual(giveBackToSudoUser(['dist'], { env, root: checkout }), { uid: 65534, gid: 65534 });
    assert.deepEqual(owners(), [65534, 65534, 65534, 65534]);
    assert.deepEqual(
      ['dist/linked', 'dist/theirs'].map((p) => lstatSync(join(checkout, p)).uid),
      [0, 1000],
    );
    assert.equal(lstatSync('/etc/hostname').uid, 0, 'the link was not followed');
    // `npm ci` first (dist/ the user's), then `sudo npm test`: the build remade dist/bundle as root's.
    rmSync(join(checkout, 'dist', 'bundle'), { recursive: true });
    mkdirSync(join(checkout, 'dist', 'bundle'));
    writeFileSync(join(checkout, 'dist', 'bundle', 'netlab.cjs'), '');
    giveBackToSudoUser(['dist'], { env, root: checkout });
    assert.deepEqual(owners(), [65534, 65534, 65534, 65534], "root's files in the user's dist/ too");
    assert.equal(giveBackToSudoUser(['dist'], { env: {}, root: checkout }), undefined, 'not under sudo');
  } finally {
    rmSync(checkout, { recursive: true, force: true });
  }
});
