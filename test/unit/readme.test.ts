// The README is tested: every lab file it shows validates, every pure command
// it shows (plan, validate, graph, labs, challenge list/faults, --help) prints
// what it shows, and it cites the articles by title, not by a folder outside
// the repository. The commands that need a lab up are compared by
// test/e2e/readme.test.ts, with the same normaliser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLab } from '../../src/lab/load.js';
import { formatIssue, type LabIssue } from '../../src/errors.js';
import { readInventory } from '../../src/exec/inventory.js';
import { LABS, NETLAB, ROOT } from '../paths.js';
import {
  codeBlocks,
  commandBlocks,
  compareOutput,
  inventoryBlocks,
  isPureCommand,
  labFileBlocks,
  normalise,
  readmeText,
  shellWords,
} from '../readme.js';

const blocks = codeBlocks(readmeText());

test('normalise: times, interface indexes, MACs, run ids, dates, PIDs, controllers and checkout paths become placeholders', () => {
  assert.equal(
    normalise(
      'vxlan: up since 2026-11-23T22:29:46.345Z (simulated nodes, from /work/main/labs/vxlan.yaml, run 6e843340055d from vm:/var/lib/netlab)',
    ),
    'vxlan: up since <date> (simulated nodes, from <checkout>/labs/vxlan.yaml, run <run> from <controller>)',
  );
  assert.equal(
    normalise('   1 ✓ pass  ping a0 → a1 (10.200.1.2)   reached: reply time=0.190 ms  '),
    '   1 ✓ pass  ping a0 → a1 (10.200.1.2)   reached: reply time=<t> ms',
  );
  assert.equal(
    normalise('2 packets transmitted, 0 received, 100% packet loss, time 201ms'),
    normalise('2 packets transmitted, 0 received, 100% packet loss, time 4ms'),
  );
  assert.equal(normalise('✔ phase pods: node-0 (3 steps) [0.1s]'), '✔ phase pods: node-0 (3 steps) [<t>s]');
  assert.equal(
    normalise('✓ solved: challenge wrong-vni in 0.2 min (1 hint)'),
    '✓ solved: challenge wrong-vni in <t> min (1 hint)',
  );
  assert.equal(normalise('├─ veth-a0@if4 ⇄ veth-a0-c@if15 pod a0'), '├─ veth-a0@if<n> ⇄ veth-a0-c@if<n> pod a0');
  assert.equal(
    normalise('7: vxlan0: <BROADCAST,MULTICAST,UP> mtu 1450'),
    '<n>: vxlan0: <BROADCAST,MULTICAST,UP> mtu 1450',
  );
  assert.equal(
    normalise('    92:04:e3:f1:9f:4a dst 192.168.64.5 self\n    00:00:00:00:00:00 dst 239.1.1.1'),
    '    <mac> dst 192.168.64.5 self\n    00:00:00:00:00:00 dst 239.1.1.1',
  );
  assert.equal(normalise('holder pid 4242, PID=17'), 'holder pid <pid>, PID=<pid>');
  assert.equal(normalise('g1  ✓ solved 22:23:57 · graded 09:01:30'), 'g1  ✓ solved <clock> · graded <clock>');
  assert.equal(
    normalise('    icmp     1 29 src=10.200.1.2 dst=192.168.64.1 type=8 code=0 id=2 mark=0'),
    '    icmp     1 <s> src=10.200.1.2 dst=192.168.64.1 type=8 code=0 id=<n> mark=0',
  );
  // what is not marked variable stays: addresses, step numbers, counts
  const fixed = '# [21] route 10.200.0.0/16 to br0: 13 steps, 192.168.64.4, VNI 100';
  assert.equal(normalise(fixed), fixed);
});

test('compareOutput: "..." and "…" stand for lines left out, a line ending in " ..." for the rest of it; nothing else is skipped', () => {
  const output = 'one\ntwo\nthree\nfour long line\nfive\n';
  assert.equal(compareOutput(['one', 'two', 'three', 'four long line', 'five'], output), undefined);
  assert.equal(compareOutput(['one', '...', 'five'], output), undefined);
  assert.equal(compareOutput(['...', 'three', '…'], output), undefined);
  assert.equal(compareOutput(['...', 'five'], output), undefined);
  assert.equal(compareOutput(['one', '    ...', 'four long ...', 'five'], output), undefined);
  assert.equal(compareOutput(['one', '...', 'four ...', 'five'], output), undefined);
  // a line changed, a line missing, output that goes on, an empty README block against output
  assert.match(compareOutput(['one', 'TWO', '...'], output)!, /"TWO" is not in the output/);
  assert.match(compareOutput(['one', 'three', '...'], output)!, /"three" is not in the output/);
  assert.match(compareOutput(['one', 'two'], output)!, /goes on after the README's last line/);
  assert.match(compareOutput([], output)!, /goes on/);
  assert.equal(compareOutput([], ''), undefined);
  assert.match(compareOutput(['one'], '')!, /"one" is not in the output/);
  // variable parts on both sides
  assert.equal(
    compareOutput(['reply time=0.190 ms from 0e:66:48:09:7b:00'], 'reply time=12.5 ms from aa:bb:cc:dd:ee:ff\n'),
    undefined,
  );
  assert.match(compareOutput(['step [21]'], 'step [22]\n')!, /not in the output/);
});

test('shellWords splits a README command as sh would', () => {
  assert.deepEqual(shellWords('graph vxlan              # text; --format mermaid'), ['graph', 'vxlan']);
  assert.deepEqual(shellWords(`exec node-1 -- sh -c 'ip link del vxlan0 && ip link set x up'`), [
    'exec',
    'node-1',
    '--',
    'sh',
    '-c',
    'ip link del vxlan0 && ip link set x up',
  ]);
  assert.deepEqual(shellWords('a "b c" d\\ e'), ['a', 'b c', 'd e']);
});

test('every lab file the README shows validates, without a warning (a reader copies it and runs it)', () => {
  const labs = labFileBlocks(blocks);
  assert.ok(labs.length >= 1, 'the README shows lab files (```yaml blocks with nodes:)');
  for (const block of labs) {
    let warnings: LabIssue[];
    try {
      ({ warnings } = parseLab(block.lines.join('\n'), 'example.yaml'));
    } catch (error) {
      assert.fail(`the lab file at README.md line ${block.line} does not validate:\n${(error as Error).message}`);
    }
    assert.deepEqual(warnings.map(formatIssue), [], `the lab file at README.md line ${block.line}`);
  }
});

test("the README's inventory example is read by the inventory reader", () => {
  const inventories = inventoryBlocks(blocks);
  assert.equal(inventories.length, 1);
  const dir = mkdtempSync(join(tmpdir(), 'netlab-readme-'));
  try {
    const file = join(dir, 'inventory.yaml');
    writeFileSync(file, inventories[0]!.lines.join('\n'));
    const inventory = readInventory(file);
    assert.deepEqual(Object.keys(inventory.nodes), ['node-0', 'node-1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const shown = commandBlocks(blocks).flatMap((b) => b.commands);

test('the README shows commands of both tiers, and the pure ones are recognised', () => {
  assert.ok(shown.filter((c) => isPureCommand(c.args)).length >= 5);
  assert.ok(shown.filter((c) => !isPureCommand(c.args)).length >= 10);
  assert.equal(isPureCommand(['plan', 'labs/vxlan.yaml']), true);
  assert.equal(isPureCommand(['plan', 'vxlan', '--vagrant']), false);
  assert.equal(isPureCommand(['challenge', 'list', 'vxlan']), true);
  assert.equal(isPureCommand(['challenge', 'hint']), false);
  assert.equal(isPureCommand(['up', '--help']), true);
  assert.equal(isPureCommand(['status']), false);
});

// The pure commands, each run from the repository's root as the README shows it, with a
// state directory of its own and empty, so that no lab up on this machine changes what they print.
const stateDir = mkdtempSync(join(tmpdir(), 'netlab-readme-state-'));
process.on('exit', () => rmSync(stateDir, { recursive: true, force: true }));
for (const command of shown.filter((c) => isPureCommand(c.args))) {
  test(`README line ${command.line}: \`${command.text}\` prints what the README shows`, () => {
    const run = spawnSync('sh', ['-c', 'exec "$@" 2>&1', 'sh', NETLAB, ...command.args], {
      cwd: ROOT,
      env: { ...process.env, NETLAB_STATE_DIR: stateDir, FORCE_COLOR: '0', NO_COLOR: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const difference = compareOutput(command.expected, run.stdout);
    assert.equal(difference, undefined, `README.md line ${command.line} (\`${command.text}\`): ${difference}`);
  });
}

test('the README and the labs cite the articles by title, never a folder outside the repository', () => {
  const files = ['README.md', ...readdirSync(LABS).map((f) => join('labs', f))];
  const outside = files.flatMap((file) =>
    readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .flatMap((line, i) => (/\.\.\/shared|shared\/seeds/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
  );
  assert.deepEqual(outside, []);
});

test('.vagrant/ is not in git and is ignored', () => {
  const tracked = spawnSync('git', ['ls-files', '.vagrant'], { cwd: ROOT, encoding: 'utf8' });
  if (tracked.status !== 0) return; // not a git checkout (a package): nothing to check
  assert.equal(tracked.stdout, '');
  assert.match(readFileSync(join(ROOT, '.gitignore'), 'utf8'), /^\.vagrant\/$/m);
});
