// Every bundled lab as root and as an ordinary user, side by side: `sudo npm
// run check:without-sudo` (about five minutes; not in CI, whose e2e tier runs
// the bridge, vxlan, service, policy and egress labs and a challenge without
// sudo: rootless.test.ts, services.test.ts, policies.test.ts). For each lab,
// as each: up --verify; the lab's first challenge started, checked (it must
// fail), fixed as `reveal` says, checked until solved (60 s at most, as
// challenges.test.ts allows the kernel to settle); down. The two rows must
// agree, and the host must be as it was. Prints a table; exits 1 on a
// difference. TESTING.md has the last run's table.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execa } from 'execa';
import { LABS, NETLAB } from '../paths.js';
import { bundledLabNames } from '../../src/lab/bundled.js';
import { applyRevealed, json, type Checked, type Netlab } from './challenge-case.js';
import { asUserArgv, loginEnv, ORDINARY_USERS, snapshotHost, stateDirForTest, type Run } from './host.js';
import { waitFor } from '../wait.js';

const user = ORDINARY_USERS[0];
const rootState = stateDirForTest();
const userHome = stateDirForTest(user);

const asRoot: Netlab = async (...args) => {
  const r = await execa(NETLAB, args, {
    reject: false,
    env: { NETLAB_STATE_DIR: rootState.dir, FORCE_COLOR: '0' },
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
};
const asUser: Netlab = async (...args) => {
  const r = await execa(...asUserArgv(user, [NETLAB, ...args]), {
    reject: false,
    env: loginEnv(userHome.dir),
    extendEnv: false,
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
};

/** One lab's outcome as one netlab user: each step's result, in words that must match between root and the user. */
async function outcome(run: Netlab, lab: string): Promise<string> {
  const said: string[] = [];
  try {
    const up: Run = await run('up', join(LABS, `${lab}.yaml`), '--verify');
    const kernel = /needs kernel (.+?) support/.exec(up.stderr)?.[1];
    said.push(
      up.exitCode === 0
        ? 'up, verified'
        : kernel
          ? `refused: no ${kernel} in this kernel`
          : `up --verify ${up.exitCode}`,
    );
    if (up.exitCode !== 0 && kernel) return said.join('; '); // nothing was made: nothing to take down
    const listed = json<{ challenges: { id: string }[] }>(await run('challenge', lab, '--json')).challenges;
    const id = listed[0]?.id;
    if (!id) said.push('no challenge');
    else await challenge(run, lab, id, said);
  } finally {
    const down = await run('down', lab);
    said.push(down.exitCode === 0 ? 'down' : `down ${down.exitCode}`);
  }
  return said.join('; ');
}

/** The challenge as a learner works it: start, a failing check, the revealed fix, checks until solved. */
async function challenge(run: Netlab, lab: string, id: string, said: string[]): Promise<void> {
  assert.equal((await run('challenge', 'start', lab, id)).exitCode, 0, `${lab} ${id}: start`);
  const broken = json<Checked>(await run('challenge', 'check', lab, '--json', '--connections', '16'));
  said.push(`${id}: ${broken.solved ? 'solved before the fix (!)' : 'broken'}`);
  await applyRevealed(run, lab);
  let solved = false;
  await waitFor(
    `${lab} ${id}: solved`,
    async () => (solved = json<Checked>(await run('challenge', 'check', lab, '--json', '--connections', '16')).solved),
    { timeoutMs: 60_000, intervalMs: 1_000 },
  ).catch(() => {});
  said.push(solved ? 'fixed, solved' : 'fixed, not solved in 60 s');
}

const pristine = await snapshotHost();
const rows: string[] = [];
let differ = false;
try {
  for (const lab of bundledLabNames()) {
    const root = await outcome(asRoot, lab);
    const ordinary = await outcome(asUser, lab);
    differ ||= root !== ordinary;
    rows.push(`| ${lab} | ${root} | ${root === ordinary ? 'the same' : `**${ordinary}**`} |`);
    process.stderr.write(`${lab}: ${root === ordinary ? root : `root: ${root} / user: ${ordinary}`}\n`);
  }
} finally {
  rootState.remove();
  userHome.remove();
}
const host = JSON.stringify(await snapshotHost()) === JSON.stringify(pristine);
console.log(['| lab | as root | as an ordinary user |', '|---|---|---|', ...rows].join('\n'));
console.log(host ? 'the host is as it was' : 'THE HOST CHANGED');
process.exit(differ || !host ? 1 : 0);
