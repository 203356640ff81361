// The command line as a new user meets it: bundled labs by name from any
// directory, one message for a missing lab, --json with its version, netlab on
// the PATH after an npm install, and what `up` says of a lab file moved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LABS, NETLAB, ROOT } from '../paths.js';
import { loadLabFile } from '../../src/lab/load.js';
import { diffModels } from '../../src/lab/diff.js';
import { buildCli, withStepUnit } from '../../src/cli.js';
import { sourceStack } from '../../src/os/source-stack.js';
import { labFileOf } from '../../src/commands/common.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { STATE_VERSION, type LabState } from '../../src/state/store.js';
import type { Command } from 'commander';
import { skipUnlessRoot } from '../root.js';
import { scratch } from '../scratch.js';

async function netlabIn(cwd: string, ...args: string[]) {
  const result = await execa(NETLAB, args, {
    cwd,
    reject: false,
    stdin: 'ignore',
    env: { FORCE_COLOR: '0', NETLAB_STATE_DIR: join(cwd, 'state') },
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

test('a bundled lab by name from another directory: plan, validate, labs, graph and challenge take it', async () => {
  const work = scratch('netlab-cli-');
  try {
    const plan = await netlabIn(work.dir, 'plan', 'vxlan');
    assert.equal(plan.exitCode, 0, plan.stderr);
    assert.match(plan.stdout, /^# lab vxlan: /);
    const validated = await netlabIn(work.dir, 'validate', 'vxlan', 'service', '--json');
    assert.equal(validated.exitCode, 0, validated.stderr);
    const report = JSON.parse(validated.stdout) as { version: number; labs: { ok: boolean; file: string }[] };
    assert.equal(report.version, 1);
    assert.deepEqual(
      report.labs.map((l) => [l.ok, l.file]),
      [
        [true, join(LABS, 'vxlan.yaml')],
        [true, join(LABS, 'service.yaml')],
      ],
    );
    const labs = JSON.parse((await netlabIn(work.dir, 'labs', '--json')).stdout) as { labs: { name: string }[] };
    assert.ok(labs.labs.some((l) => l.name === 'vxlan'));
    // The listing names labs, aligned, whatever the directory: every description starts in one column.
    const listed = (await netlabIn(work.dir, 'labs')).stdout.split('\n').slice(1).filter(Boolean);
    const column = (line: string) => line.search(/\S+ {2,}\S/) + (/^\s*\S+\s+/.exec(line)?.[0].length ?? 0);
    assert.equal(new Set(listed.map(column)).size, 1, listed.join('\n'));
    // A lab file's path works as well as a bundled lab's name.
    assert.equal((await netlabIn(work.dir, 'labs', join(LABS, 'service.yaml'))).exitCode, 0);
    const graph = JSON.parse((await netlabIn(work.dir, 'graph', 'flannel', '--format', 'json')).stdout) as {
      version: number;
      lab: string;
      nodes: unknown[];
    };
    assert.deepEqual([graph.version, graph.lab, graph.nodes.length], [1, 'flannel', 2]);
    const challenges = JSON.parse((await netlabIn(work.dir, 'challenge', 'vxlan', '--json')).stdout) as {
      challenges: { id: string }[];
    };
    assert.ok(challenges.challenges.length >= 3);
    const faults = JSON.parse((await netlabIn(work.dir, 'challenge', 'faults', 'vxlan', '--json')).stdout) as {
      faults: string[];
    };
    assert.ok(faults.faults.includes('vni-changed:node-1:vxlan0'), faults.faults.join(' '));
  } finally {
    work.remove();
  }
});

test('a lab that is neither a file nor bundled: "no such file: X", no line:column, naming the bundled labs, exit 2; validate --json gives it as an issue', async () => {
  const work = scratch('netlab-cli-');
  try {
    for (const command of ['plan', 'up', 'validate', 'graph', 'labs']) {
      const run = await netlabIn(work.dir, command, 'vxlam');
      assert.equal(run.exitCode, 2, `${command}: ${run.stdout}${run.stderr}`);
      assert.match(
        run.stdout + run.stderr,
        /no such file: "vxlam", and no lab of that name is up or bundled \(bundled: .*vxlan/,
      );
      assert.doesNotMatch(run.stdout + run.stderr, /:1:1/);
    }
    const path = await netlabIn(work.dir, 'plan', 'labs/vxlam.yaml');
    assert.equal(path.exitCode, 2);
    assert.equal(path.stderr, `netlab: no such file: "labs/vxlam.yaml"`);
    // validate --json: each lab's problems are issues too (a tool reading them found none for a missing file).
    const json = await netlabIn(work.dir, 'validate', '--json', 'labs/vxlam.yaml');
    assert.equal(json.exitCode, 2);
    const [missing] = (
      JSON.parse(json.stdout) as {
        labs: { ok: boolean; problems: string[]; issues: { file: string; message: string; whole?: boolean }[] }[];
      }
    ).labs;
    assert.deepEqual(
      [missing!.ok, missing!.problems, missing!.issues.map((i) => [i.file, i.message, i.whole])],
      [false, ['no such file: "labs/vxlam.yaml"'], [['labs/vxlam.yaml', 'no such file: "labs/vxlam.yaml"', true]]],
    );
  } finally {
    work.remove();
  }
});

test('a directory named as a lab is said to be one, by every command that reads a lab, exit 2', async () => {
  const work = scratch('netlab-cli-');
  try {
    mkdirSync(join(work.dir, 'labs'));
    for (const args of [
      ['plan', tmpdir()],
      ['validate', 'labs'],
      ['plan', 'labs'],
      ['graph', 'labs'],
      ['challenge', 'labs'],
    ]) {
      const run = await netlabIn(work.dir, ...args);
      assert.equal(run.exitCode, 2, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /^(netlab: )?"[^"]+" is a directory: name a lab file /, args.join(' '));
    }
  } finally {
    work.remove();
  }
});

test('--vagrant takes no directory (--vagrant-dir does): written before the lab file it no longer swallows it', async () => {
  const work = scratch('netlab-cli-');
  try {
    // No Vagrantfile here: what fails is `vagrant ssh-config`, after the lab file was read.
    const run = await netlabIn(work.dir, 'plan', '--vagrant', 'vxlan');
    assert.equal(run.exitCode, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /`vagrant ssh-config` in .* failed/);
    // A directory that is not there is said to be missing before vagrant runs (not "spawn vagrant ENOENT").
    for (const command of [
      ['plan', 'vxlan'],
      ['doctor', 'vxlan'],
      ['down', 'vxlan'],
    ]) {
      const dir = await netlabIn(work.dir, ...command, '--vagrant-dir', join(work.dir, 'vms'));
      assert.equal(dir.exitCode, 2, dir.stdout + dir.stderr);
      assert.equal(
        dir.stderr,
        `netlab: --vagrant-dir "${join(work.dir, 'vms')}": no such directory (the directory of the VMs' Vagrantfile)`,
      );
    }
  } finally {
    work.remove();
  }
});

test('--json is one document on stdout: up refuses it with --step or --explain; every command that ends in an error says it in JSON; down with no lab up has nothing to do', async () => {
  const work = scratch('netlab-cli-');
  try {
    for (const extra of [['--step', '--yes'], ['--explain']]) {
      const up = await netlabIn(work.dir, 'up', 'bridge', '--json', ...extra);
      assert.equal(up.exitCode, 2, up.stdout + up.stderr);
      assert.match(up.stderr, /--json gives one JSON document on stdout; --step and --explain print for a person/);
    }
    // Safe to repeat: nothing up, nothing to do (exit 0), as for a lab named that is not up.
    const down = await netlabIn(work.dir, 'down', '--json');
    assert.equal(down.exitCode, 0, down.stderr);
    const said = JSON.parse(down.stdout) as { version: number; exitCode: number; said: string };
    assert.deepEqual([said.version, said.exitCode, said.said], [1, 0, 'no lab is up; nothing to do']);
    assert.equal((await netlabIn(work.dir, 'down')).stdout, 'no lab is up; nothing to do');
    // An error before the result: the error as the document (and on stderr), one document only (down's own).
    for (const args of [
      ['verify', '--json'],
      ['status', 'nosuch', '--json'],
      ['plan', 'nosuch', '--json'],
      ['show', 'a0', '--json'],
      ['trace', 'a0', 'a1', '--json'],
      ['challenge', 'check', '--json'],
      ['down', 'bridge', '--instance', '../x', '--json'],
    ]) {
      const run = await netlabIn(work.dir, ...args);
      assert.equal(run.exitCode, 2, `${args.join(' ')}: ${run.stderr}`);
      const document = JSON.parse(run.stdout) as { version: number; exitCode: number; error: string };
      assert.deepEqual([document.version, document.exitCode], [1, 2], args.join(' '));
      assert.equal(`netlab: ${document.error}`, run.stderr, args.join(' '));
    }
    // --json after -- is the program's (exec), not netlab's: no document.
    assert.equal((await netlabIn(work.dir, 'exec', 'a0', '--', 'x', '--json')).stdout, '');
  } finally {
    work.remove();
  }
});

test('a bad option value is said before the lab is looked up: no lab need be up to hear of it', async () => {
  const work = scratch('netlab-cli-');
  try {
    for (const [args, message] of [
      [['verify', '--check', 'x'], /^netlab: --check takes check numbers \(1, 2, …\); found "x"/],
      [['verify', 'vxlan', '--timeout', '-1'], /^netlab: --timeout takes seconds, 1-3600; found "-1"/],
      [['verify', '--evidence', 'lots'], /^netlab: --evidence takes summary or full; found "lots"/],
      [['verify', '--connections', '0'], /^netlab: --connections takes a number 1-2000; found "0"/],
      [['challenge', 'check', '--connections', '0'], /^netlab: --connections takes a number 1-2000; found "0"/],
      [['capture', 'node-0', '--count', 'abc'], /^netlab: --count takes 1-10000; found abc/],
      [['trace', 'a0', 'a1', '--port', '99999'], /^netlab: --port takes 1-65535; found 99999/],
      [['trace', 'a0', 'a1', '--size', '20'], /^netlab: --size takes an IP packet size of 68-65535 bytes; found 20/],
    ] as const) {
      const run = await netlabIn(work.dir, ...args);
      assert.equal(run.exitCode, 2, args.join(' '));
      assert.match(run.stderr, message, args.join(' '));
    }
  } finally {
    work.remove();
  }
});

test('graph of a lab not up takes the target flags as plan does: an inventory or SSH config that is not there is refused, exit 2', async () => {
  const work = scratch('netlab-cli-');
  try {
    for (const [flag, message] of [
      ['--inventory', /no such inventory file/],
      ['--ssh-config', /no such SSH config file/],
    ] as const) {
      for (const command of ['plan', 'graph']) {
        const run = await netlabIn(work.dir, command, 'vxlan', flag, join(work.dir, 'none.yaml'));
        assert.equal(run.exitCode, 2, `${command} ${flag}: ${run.stdout}`);
        assert.match(run.stderr, message, `${command} ${flag}`);
      }
    }
  } finally {
    work.remove();
  }
});

test("a lab not up: the command that builds it, from the file or the bundled lab given; an instance's conflict names the lab", async () => {
  const work = scratch('netlab-cli-');
  try {
    const verify = await netlabIn(work.dir, 'verify', 'vxlan@g2');
    assert.match(verify.stderr, /^netlab: lab vxlan@g2 is not up; start it with `netlab up vxlan --instance g2`/);
    const mine = join(work.dir, 'my lab.yaml');
    writeFileSync(mine, readFileSync(join(LABS, 'bridge.yaml'), 'utf8').replace(/^name: bridge$/m, 'name: mine'));
    const byFile = await netlabIn(work.dir, 'verify', mine);
    assert.match(byFile.stderr, /^netlab: lab mine is not up; start it with `netlab up '.*\/my lab\.yaml'`/);
    const none = await netlabIn(work.dir, 'verify');
    assert.match(none.stderr, /^netlab: no lab is up; start one with `netlab up bridge`/);
    const conflict = await netlabIn(work.dir, 'plan', 'vxlan@g2', '--instance', 'g3');
    assert.equal(conflict.exitCode, 2);
    assert.match(conflict.stderr, /^netlab: "vxlan@g2" names instance g2, and --instance names g3: name one/);
  } finally {
    work.remove();
  }
});

test('exec without -- says where the command and its options go', async () => {
  const run = await netlabIn(tmpdir(), 'exec', 'a0', 'ping', '-c1', '10.200.0.3');
  assert.equal(run.exitCode, 2);
  assert.match(
    run.stderr,
    /unknown option '-c1'\n\(see `netlab exec --help`; the command and its options go after --: netlab exec a0 -- ping/,
  );
});

test('a usage error points at the help of the command it is in', async () => {
  for (const [args, help] of [
    [['verify', 'a', 'b'], 'netlab verify --help'],
    [['challenge', 'start'], 'netlab challenge start --help'],
    [['status', '--bogus'], 'netlab status --help'],
    [['bogus'], 'netlab --help'],
  ] as const) {
    const run = await netlabIn(tmpdir(), ...args);
    assert.equal(run.exitCode, 2, args.join(' '));
    assert.match(run.stderr, new RegExp(`^error: .*\\n\\(see \`${help}\`\\)$`), args.join(' '));
  }
});

test('a byte-identical copy of a lab file at another path is the same lab; a changed description is named', () => {
  const work = scratch('netlab-cli-');
  try {
    const copy = join(work.dir, 'my-vxlan.yaml');
    copyFileSync(join(LABS, 'vxlan.yaml'), copy);
    const original = loadLabFile(join(LABS, 'vxlan.yaml')).model;
    const moved = loadLabFile(copy).model;
    assert.notEqual(original.file, moved.file);
    assert.deepEqual(diffModels(original, moved), []);
    assert.deepEqual(diffModels(original, { ...moved, description: 'another' }), ['description changed']);
  } finally {
    work.remove();
  }
});

test('installed with npm (npm install -g), netlab is on the PATH and finds its bundled labs', async () => {
  const work = scratch('netlab-cli-');
  try {
    // A global install into a prefix of its own: what `sudo npm install -g .` does, without touching the system's.
    const install = await execa(
      'npm',
      ['install', '-g', '--prefix', work.dir, '--ignore-scripts', '--no-audit', '--no-fund', ROOT],
      {
        reject: false,
        env: { ...process.env, npm_config_update_notifier: 'false' },
      },
    );
    assert.equal(install.exitCode, 0, String(install.stderr));
    const netlab = join(work.dir, 'bin', 'netlab');
    const version = await execa(netlab, ['--version'], { cwd: work.dir, reject: false });
    assert.equal(String(version.stdout).trim(), '0.1.0');
    const plan = await execa(netlab, ['plan', 'bridge'], { cwd: work.dir, reject: false });
    assert.equal(plan.exitCode, 0, String(plan.stderr));
    assert.match(String(plan.stdout), /^# lab bridge: /);
  } finally {
    work.remove();
  }
});

/**
 * Whether a bundle of the netlab in root (the command line's, or the commands') is compiled with its code cache, in
 * a process started as bin/netlab is (no flags), and how the cache was told to be the bundle's: "true stamp",
 * "true hash" or "false".
 */
function usesCodeCache(root: string, bundle: 'netlab' | 'commands' = 'commands'): string {
  const run = spawnSync(
    process.execPath,
    [
      '-e',
      `const m = require(${JSON.stringify(join(root, 'bin', 'load.cjs'))}); const l = m.loadBundle(m.${bundle === 'netlab' ? 'BUNDLE' : 'COMMANDS_BUNDLE'}); console.log([String(l.usedCache), l.checked].filter(Boolean).join(' '))`,
    ],
    { encoding: 'utf8' },
  );
  return `${run.stdout.trim()}${run.stderr}`;
}

test("the build's code caches hold what `up` and `down` compile: they ran on simulated nodes, in a sandbox of the build's own", (t) => {
  // scripts/code-cache.cjs runs them with network, mount and PID namespaces of their own (a user's in a user
  // namespace); where the kernel or a container refuses them, the caches are made from plan and --help (and netlab
  // starts 4-13 ms later), and the record says why. Netlab without sudo needs user namespaces too; CI runs as root.
  const record = JSON.parse(readFileSync(join(ROOT, 'dist', 'bundle', 'code-cache.json'), 'utf8')) as {
    sandbox: boolean;
    why?: string;
  };
  if (!record.sandbox && !process.env.CI) {
    assert.deepEqual(record, { ran: ['plan labs/vxlan.yaml', '--help'], sandbox: false, why: record.why });
    t.skip(`no sandbox for the build on this machine: ${record.why}`);
    return;
  }
  assert.deepEqual(record, {
    ran: ['plan labs/vxlan.yaml', 'up labs/vxlan.yaml', 'down labs/vxlan.yaml', '--help'],
    sandbox: true,
  });
});

test("the build's V8 code caches are the ones this Node takes, each for its bundle (ASCII) only; a cache it refuses, or none, only costs time; no bundle says how to build it", async () => {
  // V8 takes a cache only from the same V8 and flags: the build's, in a process started as bin/netlab is.
  // A bundle as built is told by its file (inode, size, change time), without hashing its bytes. (So this runs
  // on a build made here: a dist/ copied in from elsewhere is a copy, told by its hash.)
  assert.equal(usesCodeCache(ROOT), 'true stamp', "the commands' bundle");
  assert.equal(usesCodeCache(ROOT, 'netlab'), 'true stamp', "the command line's bundle");
  // An ASCII bundle is decoded into a string of one byte a character (scripts/bundle.mjs).
  for (const bundle of ['netlab.cjs', 'commands.cjs']) {
    const beyondAscii = readFileSync(join(ROOT, 'dist', 'bundle', bundle)).findIndex((byte) => byte > 0x7f);
    assert.equal(beyondAscii, -1, `a byte beyond ASCII in ${bundle}`);
  }

  const work = scratch('netlab-code-cache-');
  try {
    // A copy of the package: its bin, its bundles, its labs.
    const copy = (from: string) => cpSync(join(ROOT, from), join(work.dir, from), { recursive: true });
    ['package.json', 'bin', 'labs', join('dist', 'bundle')].forEach(copy);
    // A copy has a modification time of its own: its bytes are hashed, and they are the cache's.
    assert.equal(usesCodeCache(work.dir), 'true hash', "a copy of the built commands' bundle");
    assert.equal(usesCodeCache(work.dir, 'netlab'), 'true hash', "a copy of the built command line's bundle");
    const netlab = join(work.dir, 'bin', 'netlab');
    const env = { FORCE_COLOR: '0', NETLAB_STATE_DIR: join(work.dir, 'state') };
    const plan = () => execa(netlab, ['plan', 'vxlan'], { cwd: work.dir, reject: false, env });
    const expected = await plan();
    assert.equal(expected.exitCode, 0, String(expected.stderr));
    assert.match(String(expected.stdout), /^# lab vxlan: /);

    // The bundle changed since its cache was made, to a text of the same length (V8 itself would take
    // the cache): the changed code runs, compiled from the source.
    const bundle = join(work.dir, 'dist', 'bundle', 'commands.cjs');
    const built = readFileSync(bundle, 'utf8');
    assert.equal(built.split('# lab ${').length, 2, "the plan's first line, once in the bundle");
    writeFileSync(bundle, built.replace('# lab ${', '# LAB ${'));
    assert.equal(usesCodeCache(work.dir), 'false', 'a bundle changed since its cache');
    const changed = await plan();
    assert.deepEqual([changed.exitCode, changed.stdout], [0, String(expected.stdout).replace('# lab ', '# LAB ')]);
    writeFileSync(bundle, built);

    for (const cache of ['netlab.cjs.cache', 'commands.cjs.cache'].map((c) => join(work.dir, 'dist', 'bundle', c))) {
      const refused = [
        ['bytes that are no cache', Buffer.from('not a code cache')],
        ['a cache cut short (V8 refuses it)', readFileSync(cache).subarray(0, 4096)],
      ] as const;
      for (const [what, bytes] of refused) {
        writeFileSync(cache, bytes);
        assert.equal(usesCodeCache(work.dir, cache.includes('netlab.cjs') ? 'netlab' : 'commands'), 'false', what);
        const run = await plan();
        assert.deepEqual([run.exitCode, run.stdout, run.stderr], [0, expected.stdout, expected.stderr], what);
      }
      rmSync(cache);
    }
    const withoutCache = await plan();
    assert.deepEqual([withoutCache.exitCode, withoutCache.stdout], [0, expected.stdout], 'without the caches');

    // A commands' bundle that does not load (cut short, inside a block, so that it cannot parse whatever the
    // bundle's text: cut between two statements, it would end in a name, a ReferenceError): an internal error,
    // with what failed, exit 70.
    writeFileSync(bundle, built.slice(0, built.indexOf('{', built.length / 2) + 1));
    const cut = await plan();
    assert.equal(cut.exitCode, 70, cut.stderr);
    assert.match(cut.stderr, /^netlab: internal error, please report it with the lines below\n[^]*\nSyntaxError: /);

    // --help, --version and a usage error are the command line's alone: they never load the commands' bundle.
    rmSync(bundle);
    const help = await execa(netlab, ['--help'], { cwd: work.dir, reject: false, env });
    assert.deepEqual([help.exitCode, help.stderr], [0, '']);
    assert.match(help.stdout, /^Usage: netlab /);
    const version = await execa(netlab, ['--version'], { cwd: work.dir, reject: false, env });
    assert.deepEqual([version.exitCode, version.stdout], [0, '0.1.0']);
    const usage = await execa(netlab, ['up'], { cwd: work.dir, reject: false, env });
    assert.equal(usage.exitCode, 2);
    assert.match(usage.stderr, /missing required argument 'lab'/);
    // A command needs it: without it, netlab says what to do, as without any bundle.
    const notBuilt = [2, 'netlab: not built yet; run `npm ci` (or `npm run build`) in the netlab directory'];
    const commandless = await plan();
    assert.deepEqual([commandless.exitCode, commandless.stderr], notBuilt, "without the commands' bundle");
    rmSync(join(work.dir, 'dist', 'bundle'), { recursive: true });
    const unbuilt = await plan();
    assert.deepEqual([unbuilt.exitCode, unbuilt.stderr], notBuilt, 'without any bundle');
  } finally {
    work.remove();
  }
});

test("netlab's Node starts without NODE_EXTRA_CA_CERTS (Node 20 reads those certificates as it starts); the programs netlab runs get it back", async () => {
  const work = scratch('netlab-ca-');
  try {
    // Runs in netlab's Node before bin/netlab's own code (NODE_OPTIONS --require): what the process
    // was started with (/proc/self/environ), and its environment when it exits, which every program
    // netlab starts inherits.
    const probe = join(work.dir, 'probe.cjs');
    writeFileSync(
      probe,
      `const { readFileSync, writeFileSync } = require('node:fs');
const started = readFileSync('/proc/self/environ', 'utf8').split('\\0').filter((v) => /^(NETLAB_)?NODE_EXTRA_CA_CERTS=/.test(v));
process.on('exit', () => writeFileSync(${JSON.stringify(join(work.dir, 'seen.json'))}, JSON.stringify({
  started,
  atExit: [process.env.NODE_EXTRA_CA_CERTS ?? null, process.env.NETLAB_NODE_EXTRA_CA_CERTS ?? null],
})));
`,
    );
    const certificates = '/etc/ssl/certs/ca-certificates.crt';
    const seen = async (extra: Record<string, string>) => {
      rmSync(join(work.dir, 'seen.json'), { force: true });
      const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
      const run = await execa(NETLAB, ['--version'], {
        reject: false,
        env: { ...env, ...extra, NODE_OPTIONS: `--require ${probe}` },
        extendEnv: false,
      });
      assert.equal(run.exitCode, 0, String(run.stderr));
      return JSON.parse(readFileSync(join(work.dir, 'seen.json'), 'utf8')) as unknown;
    };
    assert.deepEqual(await seen({ NODE_EXTRA_CA_CERTS: certificates }), {
      started: [`NETLAB_NODE_EXTRA_CA_CERTS=${certificates}`],
      atExit: [certificates, null],
    });
    assert.deepEqual(await seen({}), { started: [], atExit: [null, null] });
  } finally {
    work.remove();
  }
});

/** Runs netlab with stdout a pipe that is closed after the first chunk (`netlab ... | head -1`). */
function netlabIntoClosedPipe(
  ...args: string[]
): Promise<{ exitCode: number | null; stderr: string; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(NETLAB, args, {
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
    child.stdout.once('data', () => child.stdout.destroy());
    child.on('close', (exitCode, signal) => resolve({ exitCode, stderr, signal }));
  });
}

test('output into a pipe closed early (| head) ends quietly, with the status the command had', async () => {
  for (const args of [
    ['plan', 'scale'],
    ['plan', 'scale', '--explain'],
    ['challenge', 'faults', 'scale', '--json'],
  ]) {
    const run = await netlabIntoClosedPipe(...args);
    assert.equal(run.stderr, '', `${args.join(' ')}: ${run.stderr}`);
    assert.deepEqual([run.exitCode, run.signal], [0, null], args.join(' '));
  }
});

test('output that cannot be written (a full disk: > /dev/full) is one line on stderr and exit 1', async () => {
  for (const args of [['labs'], ['labs', '--json'], ['plan', 'bridge']]) {
    // The file descriptor itself, as a shell's `>` gives it (not a pipe that this process would write on).
    const full = openSync('/dev/full', 'w');
    try {
      const run = spawnSync(NETLAB, args, { cwd: tmpdir(), stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      assert.equal(run.status, 1, args.join(' '));
      assert.equal(run.stderr, 'netlab: cannot write output: ENOSPC: no space left on device, write\n');
    } finally {
      closeSync(full);
    }
  }
});

/** What the action of `netlab PATH...` is given for these arguments: its arguments and options, parsed, nothing run. */
async function parsed(
  path: string[],
  ...args: string[]
): Promise<{ args: unknown[]; options: Record<string, unknown> }> {
  const program = buildCli();
  let command: Command = program;
  for (const name of path) command = command.commands.find((c) => c.name() === name)!;
  let seen: { args: unknown[]; options: Record<string, unknown> } | undefined;
  command.action((...given: unknown[]) => {
    seen = { args: given.slice(0, -2), options: given.at(-2) as Record<string, unknown> };
  });
  await program.parseAsync(['node', 'netlab', ...args]);
  assert.ok(seen, `netlab ${args.join(' ')} did not reach netlab ${path.join(' ')}`);
  return seen;
}

test('challenge: `list LAB` lists (and `challenge LAB` still does); every subcommand takes its own --json', async () => {
  const listed = await netlabIn(tmpdir(), 'challenge', 'list', 'vxlan', '--json');
  assert.equal(listed.exitCode, 0, listed.stderr);
  assert.equal((JSON.parse(listed.stdout) as { lab: string }).lab, 'vxlan');
  assert.equal((await netlabIn(tmpdir(), 'challenge', 'vxlan')).exitCode, 0);
  assert.deepEqual(await parsed(['challenge', 'list'], 'challenge', 'vxlan', '--json'), {
    args: ['vxlan'],
    options: { json: true },
  });
  for (const [name, ...args] of [
    ['list', 'vxlan'],
    ['start', 'vxlan', 'mtu'],
    ['check'],
    ['hint'],
    ['reveal'],
    ['stop'],
    ['faults', 'vxlan'],
  ]) {
    const seen = await parsed(['challenge', name!], 'challenge', name!, ...args, '--json');
    assert.equal(seen.options.json, true, `challenge ${name} --json`);
  }
});

test('verify --check takes one value (a comma list, or repeated): the lab after it stays the lab', async () => {
  assert.deepEqual(await parsed(['verify'], 'verify', '--check', '1', 'vxlan'), {
    args: ['vxlan'],
    options: { check: ['1'] },
  });
  assert.deepEqual(await parsed(['verify'], 'verify', '--check', '1,2', '--check', '4', 'vxlan'), {
    args: ['vxlan'],
    options: { check: ['1', '2', '4'] },
  });
});

test('a lab named is the file it is up from, from any directory: `up` recorded the path as typed, relative to where it ran', async () => {
  const work = scratch('netlab-cli-');
  try {
    // Up from work/course as `netlab up labs/mine.yaml` (recorded by hand: nothing is made, not root).
    const course = join(work.dir, 'course');
    mkdirSync(join(course, 'labs'), { recursive: true });
    const file = join(course, 'labs', 'mine.yaml');
    writeFileSync(file, readFileSync(join(LABS, 'bridge.yaml'), 'utf8').replace(/^name: bridge$/m, 'name: mine'));
    const { model } = loadLabFile(file);
    const state: LabState = {
      version: STATE_VERSION,
      lab: 'mine',
      file,
      status: 'up',
      createdAt: '2026-01-01T00:00:00.000Z',
      target: { kind: 'simulated', nodes: {} },
      facts: simulatedFacts(model),
      model: { ...model, file: 'labs/mine.yaml' },
    };
    mkdirSync(join(work.dir, 'state', 'labs'), { recursive: true });
    writeFileSync(join(work.dir, 'state', 'labs', 'mine.json'), JSON.stringify(state));
    // From work (no labs/mine.yaml there): the lab's own file.
    const plan = await netlabIn(work.dir, 'plan', 'mine', '--json');
    assert.equal(plan.exitCode, 0, plan.stderr);
    assert.equal((JSON.parse(plan.stdout) as { lab: string }).lab, 'mine');
    // Attached to a lab another controller built, the file it names is on the owner's machine: never read here.
    writeFileSync(
      join(work.dir, 'state', 'labs', 'mine.json'),
      JSON.stringify({ ...state, attached: { at: '2026-01-01T00:00:00.000Z' } }),
    );
    const attached = await netlabIn(work.dir, 'plan', 'mine');
    assert.equal(attached.exitCode, 2, attached.stdout);
    assert.match(attached.stderr, /no such file: "mine", and no lab of that name is up or bundled/);
  } finally {
    work.remove();
  }
});

test('status LAB shows that lab alone, takes the target flags, and says a lab that is not up is not (exit 2)', async () => {
  const work = scratch('netlab-cli-');
  try {
    // Two labs recorded as up on simulated nodes that are not running (nothing is made or asked: not root).
    mkdirSync(join(work.dir, 'state', 'labs'), { recursive: true });
    for (const lab of ['vxlan', 'bridge']) {
      const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
      const state: LabState = {
        version: STATE_VERSION,
        lab,
        file: model.file,
        status: 'up',
        createdAt: '2026-01-01T00:00:00.000Z',
        target: { kind: 'simulated', nodes: {} },
        facts: simulatedFacts(model),
        model,
      };
      writeFileSync(join(work.dir, 'state', 'labs', `${lab}.json`), JSON.stringify(state));
    }
    const all = await netlabIn(work.dir, 'status', '--json');
    assert.deepEqual((JSON.parse(all.stdout) as { labs: { lab: string }[] }).labs.map((l) => l.lab).sort(), [
      'bridge',
      'vxlan',
    ]);
    const one = await netlabIn(work.dir, 'status', 'vxlan', '--json');
    assert.deepEqual(
      (JSON.parse(one.stdout) as { labs: { lab: string }[] }).labs.map((l) => l.lab),
      ['vxlan'],
      one.stderr,
    );
    assert.match((await netlabIn(work.dir, 'status', join(LABS, 'bridge.yaml'))).stdout, /^bridge: up since/);
    const missing = await netlabIn(work.dir, 'status', 'flannel');
    assert.equal(missing.exitCode, 2);
    assert.match(missing.stderr, /^netlab: lab flannel is not up \(up: /);
    const other = await netlabIn(work.dir, 'status', 'vxlan', '--ssh-config', join(work.dir, 'ssh_config'));
    assert.equal(other.exitCode, 2);
    assert.match(other.stderr, /lab vxlan is up on simulated nodes on this host, not on the machines of --ssh-config/);
    // The flags alone: the labs up on that target (none here).
    assert.equal(
      (await netlabIn(work.dir, 'status', '--ssh-config', join(work.dir, 'ssh_config'))).stdout,
      'no lab is up',
    );
  } finally {
    work.remove();
  }
});

/** Every command of the command line, with its path (`challenge start`). */
function commandsOf(command: Command, path: string[] = []): { path: string[]; command: Command }[] {
  return [{ path, command }, ...command.commands.flatMap((c) => commandsOf(c, [...path, c.name()]))];
}

test('a run makes only the command it names, the same as in the whole command line; help, `help X` and a misspelt command see them all', async () => {
  const whole = buildCli();
  // 80 columns, as netlab's own help into a pipe (below), also where the tests run in a terminal.
  const helpOf = (command: Command) => {
    let help = '';
    command.configureOutput({ writeOut: (text) => (help += text), getOutHelpWidth: () => 80 });
    command.outputHelp();
    return help;
  };
  for (const command of whole.commands) {
    const alone = buildCli(command.name());
    assert.deepEqual(
      alone.commands.map((c) => c.name()),
      [command.name()],
    );
    for (const [i, { path, command: sub }] of commandsOf(command).entries())
      assert.equal(
        helpOf(commandsOf(alone.commands[0]!)[i]!.command),
        helpOf(sub),
        `netlab ${command.name()} ${path.join(' ')}`,
      );
  }
  assert.deepEqual(buildCli('nonesuch').commands, [], 'a name of no command makes none: the run then makes all');
  const help = await netlabIn(tmpdir(), '--help');
  for (const command of whole.commands) assert.match(help.stdout, new RegExp(`^  ${command.name()}\\b`, 'm'));
  const helpOfUp = await netlabIn(tmpdir(), 'help', 'up');
  assert.equal(helpOfUp.stdout, helpOf(whole.commands.find((c) => c.name() === 'up')!).trimEnd());
  // One level further down: `help challenge start` is start's help, not challenge's.
  const helpOfStart = await netlabIn(tmpdir(), 'help', 'challenge', 'start');
  assert.equal(helpOfStart.exitCode, 0);
  assert.equal(helpOfStart.stdout, (await netlabIn(tmpdir(), 'challenge', 'start', '--help')).stdout);
  assert.match(helpOfStart.stdout, /^Usage: netlab challenge start /);
  assert.equal((await netlabIn(tmpdir(), 'help', 'nonesuch', 'start')).exitCode, 2, 'a command of no name');
  const misspelt = await netlabIn(tmpdir(), 'upp', 'bridge');
  assert.equal(misspelt.exitCode, 2);
  assert.match(misspelt.stderr, /unknown command 'upp'[\s\S]*Did you mean up\?/);
});

test('every example in the --help texts parses, and names a lab and a challenge that exist', async () => {
  const examples = new Set<string>();
  for (const { command } of commandsOf(buildCli())) {
    let help = '';
    command.configureOutput({ writeOut: (text) => (help += text) });
    command.outputHelp();
    // An example: `  [sudo] netlab COMMAND...  what it does` (two spaces at least before what it does).
    for (const [, example] of help.matchAll(/^ {2}(?:sudo )?netlab (.+?) {2,}\S/gm)) examples.add(example!);
  }
  assert.ok(examples.size >= 20, [...examples].join('\n'));
  for (const example of examples) {
    const program = buildCli();
    let seen: { path: string[]; args: unknown[] } | undefined;
    for (const { path, command } of commandsOf(program))
      command.action((...given: unknown[]) => {
        seen = { path, args: given.slice(0, -2) };
      });
    await program.parseAsync(withStepUnit(['node', 'netlab', ...example.split(' ')]));
    assert.ok(seen, example);
    const named = (argument: string) => {
      const command = commandsOf(program).find((c) => c.path.join(' ') === seen!.path.join(' '))!.command;
      const at = command.registeredArguments.findIndex((a) => a.name() === argument);
      return at < 0 ? [] : [seen!.args[at]].flat().filter((v): v is string => typeof v === 'string');
    };
    for (const lab of named('lab')) {
      const file = labFileOf(lab.includes('/') ? join(ROOT, lab) : lab);
      const id = named('id')[0];
      if (id === undefined) continue;
      const challenges = (loadLabFile(file).model.challenges ?? []).map((c) => c.id);
      assert.ok(
        challenges.includes(id),
        `${example}: lab ${lab} has no challenge ${id} (it has ${challenges.join(', ')})`,
      );
    }
  }
});

test('one spelling each: a deadline is --timeout (capture too; --seconds is kept, unshown), a lab is the lab argument', async () => {
  assert.equal((await parsed(['capture'], 'capture', 'node-0', '--timeout', '5')).options.timeout, '5');
  assert.equal((await parsed(['capture'], 'capture', 'node-0', '--seconds', '5')).options.seconds, '5');
  for (const { path, command } of commandsOf(buildCli())) {
    const flags = command.options.filter((o) => !o.hidden).map((o) => o.long);
    assert.ok(!flags.includes('--seconds'), `netlab ${path.join(' ')} offers --seconds`);
    // --lab only where the arguments name a pod or node, not the lab.
    const labArgument = command.registeredArguments.some((a) => a.name() === 'lab');
    assert.ok(!(labArgument && flags.includes('--lab')), `netlab ${path.join(' ')} takes the lab twice`);
  }
});

test('validate warns where a valid lab is surely not meant (exit 0); --strict makes the warnings errors (exit 2); --json gives each as fields', async () => {
  const work = scratch('netlab-cli-');
  try {
    const lab = join(ROOT, 'test', 'golden', 'warnings', 'mtu.yaml');
    const warned = await netlabIn(work.dir, 'validate', lab);
    assert.equal(warned.exitCode, 0, warned.stderr);
    assert.match(warned.stdout, /mtu\.yaml: ok \(lab mtu: .*, 1 warning\(s\)\)/);
    assert.match(warned.stderr, /^\S+mtu\.yaml:6:35: warning: wiring\.mtu: 1500 is larger than the underlay allows/m);
    // plan says them too, on stderr (up does, as it builds: test/e2e/same-node-labs); its stdout is the plan alone.
    const plan = await netlabIn(work.dir, 'plan', lab);
    assert.equal(plan.exitCode, 0, plan.stderr);
    assert.equal(plan.stderr, warned.stderr);
    assert.match(plan.stdout, /^# lab mtu\n/);
    assert.doesNotMatch(plan.stdout, /warning/);
    const strict = await netlabIn(work.dir, 'validate', '--strict', lab);
    assert.equal(strict.exitCode, 2);
    assert.equal(strict.stdout, '');
    assert.match(strict.stderr, /^\S+mtu\.yaml:6:35: wiring\.mtu: 1500 is larger/m);
    assert.doesNotMatch(strict.stderr, /warning:/);
    const json = await netlabIn(
      work.dir,
      'validate',
      '--json',
      lab,
      join(ROOT, 'test', 'golden', 'invalid', 'typos.yaml'),
    );
    assert.equal(json.exitCode, 2);
    const report = JSON.parse(json.stdout) as { labs: { ok: boolean; issues: Record<string, unknown>[] }[] };
    assert.deepEqual(report.labs[0]!.issues, [
      {
        file: lab,
        line: 6,
        column: 35,
        path: 'wiring.mtu',
        message:
          "1500 is larger than the underlay allows: cross-node: vxlan wraps every pod packet in 50 bytes, so over an underlay of 1500 (simulated nodes'; a machine's is read at up) a pod packet may be at most 1450; full-size packets are dropped and bulk transfers hang",
        allowed: 'at most 1450, or no mtu (netlab computes it)',
        severity: 'warning',
      },
    ]);
    assert.equal(report.labs[0]!.ok, true);
    assert.deepEqual(report.labs[1]!.issues[0], {
      file: join(ROOT, 'test', 'golden', 'invalid', 'typos.yaml'),
      line: 3,
      column: 13,
      path: 'nodes.node-0.brige',
      message: 'unknown field "brige" (did you mean "bridge"?)',
      allowed: 'pod-subnet, pods, bridge, underlay',
      severity: 'error',
    });
    const strictJson = await netlabIn(work.dir, 'validate', '--json', '--strict', lab);
    assert.equal(strictJson.exitCode, 2);
    assert.equal(
      (JSON.parse(strictJson.stdout) as { labs: { issues: { severity: string }[] }[] }).labs[0]!.issues[0]!.severity,
      'error',
    );
  } finally {
    work.remove();
  }
});

test('as root, a NETLAB_STATE_DIR others may write is refused by every command, exit 2, before it reads anything there; --help still helps', async (t) => {
  if (skipUnlessRoot(t, 'a state directory of root that others may write')) return;
  const { dir, remove } = scratch('netlab-cli-');
  try {
    mkdirSync(join(dir, 'state'), { mode: 0o777 });
    chmodSync(join(dir, 'state'), 0o777);
    for (const args of [['status'], ['down', 'vxlan'], ['challenge', 'list', 'vxlan']]) {
      const refused = await netlabIn(dir, ...args);
      assert.equal(refused.exitCode, 2, args.join(' '));
      assert.match(
        refused.stderr,
        /^netlab: NETLAB_STATE_DIR=\S+\/state: \S+\/state can be written by others than root \(mode 777\): `chmod go-w \S+\/state`\. Root runs what its state says/,
      );
    }
    assert.equal((await netlabIn(dir, '--help')).exitCode, 0);
    chmodSync(join(dir, 'state'), 0o700);
    assert.equal((await netlabIn(dir, 'status')).exitCode, 0, 'root’s own, mode 700');
  } finally {
    remove();
  }
});

test("an internal error's stack names the sources' lines, through the build's source maps of both bundles; without a map it is left as it is", () => {
  const bundle = join(ROOT, 'dist', 'bundle', 'netlab.cjs');
  const commands = join(ROOT, 'dist', 'bundle', 'commands.cjs');
  /** Where `text` first is in a file: line and column, from 1, as a stack names them. */
  const placeOf = (file: string, text: string) => {
    const lines = readFileSync(file, 'latin1').split('\n');
    const line = lines.findIndex((l) => l.includes(text));
    assert.ok(line >= 0, `${text} in ${file}`);
    return `${line + 1}:${lines[line]!.indexOf(text) + 1}`;
  };
  const stack = [
    'TypeError: something went wrong',
    `    at planCommand (${commands}:${placeOf(commands, 'async function planCommand(')})`,
    `    at buildCli (${bundle}:${placeOf(bundle, 'function buildCli(')})`,
    `    at reportError (${bundle}:${placeOf(bundle, 'async function reportError(')})`,
    // A place inside a line: its column is the source's too.
    `    at reportError (${bundle}:${placeOf(bundle, 'process.stderr.write(`netlab: ${escape')})`,
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
  ];
  const cli = join(ROOT, 'src', 'cli.ts');
  const sources = [
    'TypeError: something went wrong',
    // `export` is the bundle's no more: the place is the declaration's.
    `    at planCommand (src/commands/info.ts:${placeOf(join(ROOT, 'src', 'commands', 'info.ts'), 'export async function planCommand(')})`,
    `    at buildCli (src/cli.ts:${placeOf(cli, 'function buildCli(')})`,
    `    at reportError (src/cli.ts:${placeOf(cli, 'async function reportError(')})`,
    `    at reportError (src/cli.ts:${placeOf(cli, 'process.stderr.write(`netlab: ${escape')})`,
    '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
  ];
  assert.equal(sourceStack(stack.join('\n'), [bundle, commands]), sources.join('\n'));
  // A bundle without a map: its places stay as V8 wrote them; the others' are mapped.
  const unmapped = join(ROOT, 'no-such-bundle.cjs');
  const withUnmapped = [...stack, `    at somewhere (${unmapped}:1:1)`].join('\n');
  assert.equal(
    sourceStack(withUnmapped, [bundle, commands, unmapped]),
    [...sources, `    at somewhere (${unmapped}:1:1)`].join('\n'),
  );
  // The bundles an internal error's report reads by default: the two beside the commands' bundle, which holds
  // source-stack (src/cli.ts's reportError calls it so).
  const byDefault = spawnSync(
    process.execPath,
    [
      '-e',
      `const stack = require('node:fs').readFileSync(0, 'utf8'); process.stdout.write(require(${JSON.stringify(join(ROOT, 'bin', 'load.cjs'))}).loadCommands()['./os/source-stack.js']().sourceStack(stack))`,
    ],
    { input: stack.join('\n'), encoding: 'utf8' },
  );
  assert.equal(byDefault.stdout, sources.join('\n'), byDefault.stderr);
});

test('netlab labs: each bundled lab with the description the parser gives; a description the schema refuses is the parser error it is', async () => {
  const work = scratch('netlab-labs-');
  try {
    const listed = await netlabIn(work.dir, 'labs', '--json');
    assert.equal(listed.exitCode, 0, listed.stderr);
    const { labs } = JSON.parse(listed.stdout) as { labs: { name: string; description?: string; file: string }[] };
    assert.deepEqual(
      Object.fromEntries(labs.map((l) => [l.name, l.description])),
      Object.fromEntries(
        readdirSync(LABS)
          .filter((f) => f.endsWith('.yaml'))
          .map((f) => [f.replace(/\.yaml$/, ''), loadLabFile(join(LABS, f)).model.description]),
      ),
    );

    // A copy of the package with a bundled lab whose description holds a terminal escape: the parser reads it.
    for (const from of ['package.json', 'bin', 'labs', join('dist', 'bundle')])
      cpSync(join(ROOT, from), join(work.dir, from), { recursive: true });
    const veth = readFileSync(join(LABS, 'veth.yaml'), 'utf8');
    const labsWith = async (text: string) => {
      writeFileSync(join(work.dir, 'labs', 'veth.yaml'), text);
      const run = await execa(join(work.dir, 'bin', 'netlab'), ['labs'], {
        reject: false,
        env: { FORCE_COLOR: '0', NETLAB_STATE_DIR: join(work.dir, 'state') },
      });
      return { exitCode: run.exitCode, stdout: String(run.stdout), stderr: String(run.stderr) };
    };
    const escaped = await labsWith(veth.replace(/^description: .*$/m, 'description: "red \\e[31m text"'));
    assert.equal(escaped.exitCode, 2, escaped.stdout);
    assert.match(escaped.stderr, /veth\.yaml:\d+:\d+: description: /);
    // Not YAML at all: the parser's error with its place, not an internal one.
    const broken = await labsWith(`${veth}\npods: [a0\n`);
    assert.equal(broken.exitCode, 2, broken.stderr);
    assert.match(broken.stderr, /veth\.yaml:\d+:\d+: /);
    assert.doesNotMatch(broken.stderr, /internal error/);
  } finally {
    work.remove();
  }
});

test('graph --format svg without Graphviz: exit 1 (a tool missing is no bad input), saying what to install', async () => {
  // A PATH with node alone: no dot on it.
  const work = scratch('netlab-no-dot-');
  try {
    symlinkSync(process.execPath, join(work.dir, 'node'));
    const result = await execa(NETLAB, ['graph', join(LABS, 'bridge.yaml'), '--format', 'svg'], {
      reject: false,
      env: { PATH: work.dir, FORCE_COLOR: '0' },
      extendEnv: false,
    });
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.match(String(result.stderr), /rendering SVG needs Graphviz's dot \(apt-get install graphviz\)/);
  } finally {
    work.remove();
  }
});
