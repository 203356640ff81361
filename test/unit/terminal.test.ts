// A program run in the user's terminal (netlab exec, capture): its script and
// its transport options are made together (terminalScript), and the program
// gets back the Ctrl-C and Ctrl-\ that the script's shell holds for it. Run in
// a real sh: what the program sees in /proc/self/status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { HOLD_TERMINAL_SIGNALS, scriptPrelude, terminalScript } from '../../src/shell/prelude.js';

/** The signals a process ignores, from its SigIgn mask: INT is 2, QUIT 3. */
const ignored = (status: string) => {
  const mask = BigInt(`0x${/^SigIgn:\s*([0-9a-f]+)$/m.exec(status)![1]}`);
  return (['INT', 'QUIT'] as const).filter((name) => (mask >> BigInt(name === 'INT' ? 1 : 2)) & 1n);
};

// env gives a program its signals back with --default-signal (coreutils 8.31); with an older one the signals stay
// as they were (HOLD_TERMINAL_SIGNALS). CI's Debian has it: there a skip would hide the test, so it fails instead.
const oldCoreutils =
  spawnSync('env', ['--default-signal=INT', 'true']).status === 0
    ? false
    : 'coreutils older than 8.31: env has no --default-signal, and netlab leaves the signals as they were';
if (oldCoreutils && process.env.CI === 'true') test('env --default-signal', () => assert.fail(oldCoreutils));

test(
  'a program in the terminal: the script holds Ctrl-C and Ctrl-\\ in its shell and gives them back to the program, with terminal: true',
  { skip: oldCoreutils },
  () => {
    const [script, options] = terminalScript(['sh', '-c', 'grep ^SigIgn /proc/self/status; echo "$0"', 'sh'], {
      before: 'grep ^SigIgn /proc/self/status',
    });
    assert.deepEqual(options, { terminal: true });
    const run = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const [shell, program] = run.stdout.split('\n');
    assert.deepEqual(
      ignored(shell!),
      ['INT', 'QUIT'],
      "the script's shell ignores them (its lines before the program)",
    );
    assert.deepEqual(ignored(program!), [], 'the program has them back');
  },
);

test("a program in a pod: the lab's prelude first (netlab_in is its), then the held signals, the lines before, and netlab_in", () => {
  const [script, options] = terminalScript(['ip', 'addr'], {
    lab: 'vxlan',
    pod: { name: 'a0', container: undefined },
    before: 'command -v ip >/dev/null',
  });
  assert.deepEqual(options, { terminal: true });
  // As exec and capture sent it before terminalScript made it: byte for byte.
  assert.equal(
    script,
    `${scriptPrelude('vxlan')}\n${HOLD_TERMINAL_SIGNALS}\ncommand -v ip >/dev/null\nnetlab_in a0 - ip addr`,
  );
});
