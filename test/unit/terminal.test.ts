// A program run in the user's terminal (netlab exec, capture): its script and
// its transport options are made together (terminalScript), and the program
// gets back the Ctrl-C and Ctrl-\ that the script's shell holds for it. Run in
// a real sh: what the program sees in /proc/self/status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { terminalScript } from '../../src/shell/prelude.js';

/** The signals a process ignores, from its SigIgn mask: INT is 2, QUIT 3. */
const ignored = (status: string) => {
  const mask = BigInt(`0x${/^SigIgn:\s*([0-9a-f]+)$/m.exec(status)![1]}`);
  return (['INT', 'QUIT'] as const).filter((name) => (mask >> BigInt(name === 'INT' ? 1 : 2)) & 1n);
};

test('a program in the terminal: the script holds Ctrl-C and Ctrl-\\ in its shell and gives them back to the program, with terminal: true', () => {
  const [script, options] = terminalScript(['sh', '-c', 'grep ^SigIgn /proc/self/status; echo "$0"', 'sh'], {
    before: 'grep ^SigIgn /proc/self/status',
  });
  assert.deepEqual(options, { terminal: true });
  const run = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const [shell, program] = run.stdout.split('\n');
  assert.deepEqual(ignored(shell!), ['INT', 'QUIT'], "the script's shell ignores them (its lines before the program)");
  assert.deepEqual(ignored(program!), [], 'the program has them back');
});

test("a program in a pod: the lab's prelude first (netlab_in is its), then the held signals, the lines before, and netlab_in", () => {
  const [script, options] = terminalScript(['ip', 'addr'], {
    lab: 'vxlan',
    pod: { name: 'a0', container: undefined },
    before: 'command -v ip >/dev/null',
  });
  assert.deepEqual(options, { terminal: true });
  const order = ['netlab_in() {', "trap '' INT QUIT", 'command -v ip >/dev/null', 'netlab_in a0 - ip addr'].map(
    (line) => script.indexOf(line),
  );
  assert.ok(
    order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)),
    `in this order: ${order.join(', ')}`,
  );
});
