// The README's commands that need a lab up (up, verify, status, exec, trace,
// challenge, down), run as the README shows them on simulated nodes, each lab
// brought up once, and their output compared with the README's through the
// same normaliser as the unit tier's pure commands (test/readme.ts). A scene is
// the README's commands on one lab in an order that keeps the state each one
// shows (the vxlan lab's blocks: up, status and exec; trace; the challenge;
// the MTU; down). Every command of the README that is not pure belongs to a
// scene here or is excluded below with its reason: a new one fails the
// coverage test until it is.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { NETLAB, ROOT } from '../paths.js';
import { codeBlocks, commandBlocks, compareOutput, isPureCommand, readmeText, type ShownCommand } from '../readme.js';
import { asUserArgv, labTestContext, loginEnv, ORDINARY_USERS, snapshotHost, stateDirForTest } from './host.js';

const ctx = labTestContext();
const shown = commandBlocks(codeBlocks(readmeText())).flatMap((b) => b.commands);

/** Commands of the README this file does not run, and why. */
const EXCLUDED: Record<string, string> = {
  'sudo netlab trace a0 a1':
    "its first hop depends on whether node-0's ICMP redirect, which the kernel rate-limits, for trace's own probe reached a0 (then the pod's route shows the cached redirect): test/e2e/workshop and cross-node-labs trace a0 → a1",
  'sudo netlab up labs/vxlan.yaml --step':
    'it waits for Enter on a terminal (without one it refuses, and with --yes it prints no prompt): test/e2e/workshop covers --step',
};

/** The README's command shown as `text` (after `$ `), the first at or after README line `from`. */
function command(text: string, from = 0): ShownCommand {
  const found = shown.find((c) => c.text === text && c.line >= from);
  assert.ok(found, `the README shows no \`$ ${text}\` (after line ${from}): update this scene`);
  return found;
}

/** The ordinary user of the README's "Without sudo" (HOME in a directory of theirs, no NETLAB_STATE_DIR). */
const user = stateDirForTest(ORDINARY_USERS[0]);
after(() => user.remove());

/**
 * Runs netlab with these arguments as root, or as the ordinary user (`asUser`),
 * stdout and stderr as one stream as a terminal shows them.
 */
async function run(args: readonly string[], asUser = false): Promise<{ exitCode: number; output: string }> {
  const [command, argv] = asUser ? asUserArgv(ORDINARY_USERS[0], [NETLAB, ...args]) : [NETLAB, args];
  const result = await execa(command, argv, {
    all: true,
    reject: false,
    cwd: ROOT,
    env: asUser ? loginEnv(user.dir) : { NETLAB_STATE_DIR: ctx.dir, FORCE_COLOR: '0' },
    extendEnv: !asUser,
    stdin: 'ignore',
    timeout: 300_000,
  });
  return { exitCode: result.exitCode ?? -1, output: String(result.all ?? '') };
}

/**
 * Runs the README's commands in order; returns what differs from the README (empty: all as shown).
 * A command the README shows without sudo in a scene `asUser` runs as the ordinary user.
 */
async function scene(commands: ShownCommand[], differences: string[], asUser = false): Promise<void> {
  for (const c of commands) {
    const { output } = await run(c.args, asUser && !c.sudo);
    const difference = compareOutput(c.expected, output);
    if (difference) differences.push(`README.md line ${c.line} (\`${c.text}\`): ${difference}`);
  }
}

/** A command that prepares or cleans up a scene, not shown in the README: it must succeed. */
async function setup(...args: string[]): Promise<void> {
  const { exitCode, output } = await run(args);
  assert.equal(exitCode, 0, `netlab ${args.join(' ')}: ${output}`);
}

// The scenes, looked up when the file loads: a README that no longer shows one of these fails at once.
const VXLAN = {
  up: [
    command('sudo netlab up labs/vxlan.yaml --verify'),
    command('sudo netlab status'),
    command('sudo netlab exec a0 -- ping -c1 10.200.1.2'),
    command('sudo netlab exec node-0 -- bridge fdb show dev vxlan0'),
  ],
  // from `challenge list` to the check after the fix
  challenge: shown.filter(
    (c) =>
      c.line >= command('netlab challenge list vxlan').line &&
      c.line <= command('sudo netlab challenge check', command('sudo netlab challenge reveal').line).line,
  ),
  mtu: [
    command('sudo netlab exec node-1 -- ip link set veth-a1 mtu 1400'),
    command('sudo netlab verify vxlan'),
    command('sudo netlab trace a0 a1 --size 1450 --no-send'),
  ],
  down: [command('sudo netlab down vxlan')],
};
const EGRESS = [
  command('sudo netlab up labs/egress.yaml --verify'),
  command('sudo netlab trace a0 outside'),
  command('sudo netlab exec node-0 -- iptables -t nat -F NL-EGRESS-egress'),
  command('sudo netlab trace a0 outside --no-send'),
];
const ROUTER = [command('sudo netlab up router --verify')];
const POLICY = [
  command('sudo netlab up labs/policy.yaml --verify'),
  command('sudo netlab trace rogue db --port 5432 --no-send'),
];
const ROOM = [
  command('sudo netlab room up examples/net101.yaml'),
  command('sudo netlab room status examples/net101.yaml'),
  command('sudo netlab room start examples/net101.yaml'),
  command('sudo netlab room down examples/net101.yaml'),
];
const userUp = command('netlab up bridge --verify');
const WITHOUT_SUDO = [userUp, command('netlab status', userUp.line), command('netlab down bridge', userUp.line)];
const RUN = [...Object.values(VXLAN).flat(), ...EGRESS, ...ROUTER, ...POLICY, ...ROOM, ...WITHOUT_SUDO];

test('README, the vxlan lab: up --verify, status, exec, a challenge session, a wrong MTU, down', async () => {
  const differences: string[] = [];
  try {
    await scene(VXLAN.up, differences);
    // Right after up: a0 has cached node-0's ICMP redirect (verify's pings made it), so its packets
    // for a1 skip node-0, as in the README's MTU section (its hops and trace show that path).
    await scene(VXLAN.mtu, differences);
    await setup('exec', 'node-1', '--', 'ip', 'link', 'set', 'veth-a1', 'mtu', '1450');
    // challenge start makes the pods forget that redirect: the fault's trace goes through node-0.
    await scene(VXLAN.challenge, differences);
    // The session ends solved: no challenge is left active.
    await scene(VXLAN.down, differences);
  } finally {
    await run(['down', 'vxlan']);
  }
  assert.deepEqual(differences, []);
});

test('README, the egress lab: up --verify, trace to the outside host, the masquerade flushed', async () => {
  const differences: string[] = [];
  try {
    await scene(EGRESS, differences);
  } finally {
    await run(['down', 'egress']);
  }
  assert.deepEqual(differences, []);
});

test('README, the router lab: up --verify fails on purpose and names the router', async () => {
  const differences: string[] = [];
  try {
    await scene(ROUTER, differences);
  } finally {
    await run(['down', 'router']);
  }
  assert.deepEqual(differences, []);
});

test('README, the policy lab: up --verify, trace to the pod a policy isolates', async () => {
  const differences: string[] = [];
  try {
    await scene(POLICY, differences);
  } finally {
    await run(['down', 'policy']);
  }
  assert.deepEqual(differences, []);
});

test('README, running a room: room up, status (every group graded), start, down', async () => {
  const differences: string[] = [];
  try {
    await scene(ROOM, differences);
  } finally {
    await run(['room', 'down', 'examples/net101.yaml']);
  }
  assert.deepEqual(differences, []);
});

test('README, without sudo: an ordinary user brings the bridge lab up, sees it in a user namespace, takes it down', async () => {
  const differences: string[] = [];
  try {
    await scene(WITHOUT_SUDO, differences, true);
  } finally {
    await run(['down', 'bridge'], true);
  }
  assert.deepEqual(differences, []);
});

test('every command of the README that needs a lab up is run above or excluded with a reason', () => {
  const ran = new Set(RUN.map((c) => c.line));
  const left = shown.filter((c) => !isPureCommand(c.args) && !ran.has(c.line) && !(c.text in EXCLUDED));
  assert.deepEqual(
    left.map((c) => `README.md line ${c.line}: ${c.text}`),
    [],
  );
  for (const text of Object.keys(EXCLUDED)) command(text);
});

test('the README scenes left the host as it was', async () => {
  assert.deepEqual(await snapshotHost(), ctx.pristine());
});
