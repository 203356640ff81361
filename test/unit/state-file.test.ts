// The local state file (src/state/store.ts) is replaced atomically: written to
// a temp file, fsynced, then renamed over the old one, so that a crash leaves
// the old state or the new one, never a part of either. The rename is seen
// from outside through a hard link to the old file, which keeps the old text
// (an in-place write would change it); the order of the system calls (write,
// fsync, rename) is seen with strace, where the machine has it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readState, writeFileAtomic, writeState, type LabState } from '../../src/state/store.js';

/** Runs `body` with NETLAB_STATE_DIR in a new temporary directory (DIR/state), removed after. */
function withStateDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-state-'));
  const saved = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = join(dir, 'state');
  try {
    body(dir);
  } finally {
    if (saved === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the state file is replaced, not rewritten in place: a hard link to the old one keeps the old text; no temp file is left; mode 600 in a 700 directory', () => {
  withStateDir((dir) => {
    const state = (id: string) =>
      ({
        version: 3,
        lab: 'atomic',
        run: { id, host: 'h', stateDir: join(dir, 'state') },
        target: { kind: 'simulated', nodes: {} },
        facts: {},
        model: {},
      }) as unknown as LabState;
    writeState(state('111111111111'));
    const labs = join(dir, 'state', 'labs');
    const file = join(labs, 'atomic.json');
    linkSync(file, join(dir, 'old.json'));
    const old = readFileSync(file, 'utf8');
    writeState(state('222222222222'));
    assert.equal(readFileSync(join(dir, 'old.json'), 'utf8'), old, 'the old file was not written to');
    assert.equal(readState('atomic')?.run?.id, '222222222222');
    assert.deepEqual(readdirSync(labs), ['atomic.json']);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(labs).mode & 0o777, 0o700);
  });
});

test("an older state file's tunnel settings (called vxlan in versions 1 and 2; without a kind before 2026-12-05) are read as the lab's cross-node kind's", () => {
  withStateDir((dir) => {
    const settings = { id: 42, port: 8472, device: 'flannel.1' };
    const older = (version: number, lab: string, model: Record<string, unknown>) =>
      ({
        version,
        lab,
        run: { id: '111111111111', host: 'h', stateDir: join(dir, 'state') },
        target: { kind: 'simulated', nodes: {} },
        facts: {},
        model: { name: lab, crossNode: 'flannel', ...model },
      }) as unknown as LabState;
    writeState(older(2, 'two', { vxlan: settings }));
    writeState(older(3, 'three', { tunnel: settings }));
    for (const lab of ['two', 'three']) {
      const model = readState(lab)!.model as unknown as Record<string, unknown>;
      assert.deepEqual(model.tunnel, { kind: 'flannel', ...settings }, lab);
      assert.ok(!('vxlan' in model), lab);
    }
  });
});

/** Whether strace is here; if not, the test is skipped (outside CI: in CI the setup installs it, `netlab doctor --tests --install`, and a missing strace is a failure). */
function withStrace(t: { skip: (message: string) => void }): boolean {
  if (spawnSync('strace', ['-V']).status === 0) return true;
  assert.ok(!process.env.CI, 'strace is missing: `npm run setup` installs it');
  t.skip('strace is not installed (`npm run setup` installs it)');
  return false;
}

test('writeFileAtomic: the temp file is written, fsynced, then renamed over the file, in that order (strace)', (t) => {
  if (!withStrace(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'netlab-state-'));
  try {
    const file = join(dir, 'state.json');
    const code = `import(${JSON.stringify(new URL('../../src/state/store.js', import.meta.url).href)}).then((m) => m.writeFileAtomic(${JSON.stringify(file)}, 'new text'))`;
    const traced = spawnSync(
      'strace',
      [
        '-f',
        '-e',
        'trace=openat,write,pwrite64,fsync,fdatasync,rename,renameat,renameat2',
        process.execPath,
        '-e',
        code,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(traced.status, 0, traced.stderr);
    const lines = traced.stderr.split('\n');
    const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
    const temp = `${file}.`;
    const open = at(new RegExp(`openat\\(.*"${temp}\\d+\\.tmp".*= (\\d+)$`));
    assert.ok(open >= 0, `the temp file was opened:\n${traced.stderr}`);
    const fd = /= (\d+)$/.exec(lines[open]!)![1];
    const write = at(new RegExp(`(write|pwrite64)\\(${fd}, "new text"`));
    const fsync = at(new RegExp(`(fsync|fdatasync)\\(${fd}\\)`));
    const rename = at(new RegExp(`rename(at2?)?\\(.*"${temp}\\d+\\.tmp".*"${file}"`));
    assert.ok(
      open < write && write < fsync && fsync < rename,
      `open ${open}, write ${write}, fsync ${fsync}, rename ${rename}`,
    );
    // Then the directory, which holds the new name, is fsynced too.
    const openDir = lines.findIndex((line, i) => i > rename && new RegExp(`openat\\(.*"${dir}".*= \\d+$`).test(line));
    assert.ok(openDir > rename, `the directory opened after the rename:\n${traced.stderr}`);
    const dirFd = /= (\d+)$/.exec(lines[openDir]!)![1];
    assert.ok(
      lines.findIndex((line, i) => i > openDir && new RegExp(`fsync\\(${dirFd}\\)`).test(line)) > openDir,
      `the directory fsynced:\n${traced.stderr}`,
    );
    assert.equal(readFileSync(file, 'utf8'), 'new text');
    writeFileAtomic(file, 'newer');
    assert.equal(readFileSync(file, 'utf8'), 'newer');
    // A symbolic link planted at the temp file's name is not written through: what it points to stays.
    const target = join(dir, 'not-netlab.txt');
    writeFileSync(target, 'theirs');
    symlinkSync(target, `${file}.${process.pid}.tmp`);
    writeFileAtomic(file, 'newest');
    assert.deepEqual([readFileSync(file, 'utf8'), readFileSync(target, 'utf8')], ['newest', 'theirs']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writeState waits for the disk (fsync) only for a lab on machines: a simulated lab's namespaces and processes end with this machine's kernel, as its state's last write would (strace)", (t) => {
  if (!withStrace(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'netlab-state-'));
  try {
    const fsyncsOf = (lab: string, target: object) => {
      const state = { version: 3, lab, target, facts: {}, model: {} };
      const code = `import(${JSON.stringify(new URL('../../src/state/store.js', import.meta.url).href)}).then((m) => m.writeState(${JSON.stringify(state)}))`;
      const traced = spawnSync('strace', ['-f', '-e', 'trace=fsync,fdatasync', process.execPath, '-e', code], {
        encoding: 'utf8',
        env: { ...process.env, NETLAB_STATE_DIR: join(dir, 'state') },
      });
      assert.equal(traced.status, 0, traced.stderr);
      assert.ok(existsSync(join(dir, 'state', 'labs', `${lab}.json`)), `${lab}'s state written`);
      return traced.stderr.split('\n').filter((line) => /\b(fsync|fdatasync)\(\d+\)/.test(line)).length;
    };
    assert.equal(fsyncsOf('sim', { kind: 'simulated', nodes: {} }), 0, 'a simulated lab: no fsync');
    assert.equal(fsyncsOf('vms', { kind: 'ssh', nodes: {} }), 2, 'a lab on machines: the file, then its directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writeFileAtomic onlyNew: written where the name is free; where another's file has it, that file is kept whole and nothing is left (a room's first record: two first `room up`s at once keep the first's secret)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-state-'));
  try {
    const file = join(dir, 'room.json');
    assert.equal(writeFileAtomic(file, 'first', { onlyNew: true }), true);
    assert.equal(readFileSync(file, 'utf8'), 'first');
    assert.equal(writeFileAtomic(file, 'second', { onlyNew: true }), false);
    assert.equal(readFileSync(file, 'utf8'), 'first', 'the first is kept');
    assert.deepEqual(readdirSync(dir), ['room.json'], 'no temp file left');
    assert.equal(writeFileAtomic(file, 'third'), true, 'without onlyNew: replaced');
    assert.equal(readFileSync(file, 'utf8'), 'third');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
