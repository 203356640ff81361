// Without sudo (README: "Without sudo"), the pure parts: where a user's state
// goes, how a command enters a lab's user namespace, what a kernel that refuses
// user namespaces is told, and who loads a module a lab lacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listStates, STATE_VERSION, stateDir, writeState, type LabState } from '../../src/state/store.js';
import { enterHolder, mayEnterNodes, userNamespaceRefusal } from '../../src/exec/userns.js';
import { describeMissing, loadModule, requirements } from '../../src/exec/preflight.js';
import { loadLabFile } from '../../src/lab/load.js';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { isPrivateGroupOf, othersCanWrite } from '../../src/state/access.js';
import { acquireLock } from '../../src/state/lock.js';
import { UsageError } from '../../src/errors.js';
import { skipUnlessRoot } from '../root.js';

test("a user's state directory: NETLAB_STATE_DIR, else $XDG_STATE_HOME/netlab (absolute only), else ~/.local/state/netlab; root's is /var/lib/netlab", () => {
  assert.equal(stateDir({ NETLAB_STATE_DIR: '/srv/n', XDG_STATE_HOME: '/x', HOME: '/h' }, 1000), '/srv/n');
  assert.equal(stateDir({ NETLAB_STATE_DIR: '/srv/n' }, 0), '/srv/n');
  assert.equal(stateDir({ XDG_STATE_HOME: '/x', HOME: '/h' }, 0), '/var/lib/netlab', "root's, whatever its XDG says");
  assert.equal(stateDir({ XDG_STATE_HOME: '/x/state', HOME: '/h' }, 1000), '/x/state/netlab');
  // The XDG base directory rule: a relative path is invalid and ignored.
  assert.equal(stateDir({ XDG_STATE_HOME: 'state', HOME: '/home/ann' }, 1000), '/home/ann/.local/state/netlab');
  assert.equal(stateDir({ XDG_STATE_HOME: '', HOME: '/home/ann' }, 1000), '/home/ann/.local/state/netlab');
  assert.equal(stateDir({ NETLAB_STATE_DIR: '', HOME: '/home/ann' }, 1000), '/home/ann/.local/state/netlab');
  // A relative NETLAB_STATE_DIR is made absolute (a room compares the paths its labs record under it).
  assert.equal(stateDir({ NETLAB_STATE_DIR: 'netlab-state' }, 0), join(process.cwd(), 'netlab-state'));
});

test('a kernel that refuses user namespaces: each setting that is off, with its value and the fix; else what unshare said', () => {
  const settings =
    (values: Record<string, string>) =>
    (key: string): string | undefined =>
      values[key];
  const debian = userNamespaceRefusal(
    'unshare: unshare failed: Operation not permitted',
    settings({
      'kernel.unprivileged_userns_clone': '0',
      'user.max_user_namespaces': '15000',
    }),
  );
  assert.match(
    debian,
    /^simulated nodes without root need unprivileged user namespaces, and this kernel refuses them: kernel\.unprivileged_userns_clone is 0 \(an administrator turns it on: sudo sysctl -w kernel\.unprivileged_userns_clone=1\)\. To keep the setting after a reboot, put it in \/etc\/sysctl\.d\/\. Or run netlab as root \(sudo\)$/,
  );
  const ubuntu = userNamespaceRefusal('', settings({ 'kernel.apparmor_restrict_unprivileged_userns': '1' }));
  assert.match(
    ubuntu,
    /kernel\.apparmor_restrict_unprivileged_userns is 1 \(an administrator turns it on: sudo sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0 \(or an AppArmor profile/,
  );
  const both = userNamespaceRefusal(
    '',
    settings({ 'kernel.unprivileged_userns_clone': '0', 'user.max_user_namespaces': '0' }),
  );
  assert.match(
    both,
    /unprivileged_userns_clone is 0 .*; user\.max_user_namespaces is 0 \(an administrator turns it on: sudo sysctl -w user\.max_user_namespaces=15000\)/,
  );
  // Settings that are on (or that this kernel lacks) are not blamed: unshare's own words are given.
  const other = userNamespaceRefusal(
    'unshare: write failed /proc/self/uid_map: Operation not permitted',
    settings({
      'kernel.unprivileged_userns_clone': '1',
      'kernel.apparmor_restrict_unprivileged_userns': '0',
      'user.max_user_namespaces': '100',
    }),
  );
  assert.match(
    other,
    /refuses them: unshare --user --map-root-user said: unshare: write failed \/proc\/self\/uid_map: Operation not permitted\./,
  );
  assert.doesNotMatch(other, /sysctl -w/);
});

test('a module a lab lacks: root loads it; in a user namespace an administrator does (sudo modprobe), or netlab runs with sudo', () => {
  assert.equal(loadModule('vxlan', false), 'load it with `modprobe vxlan`');
  assert.match(
    loadModule('vxlan', true),
    /without root \(a user namespace\), netlab cannot load a module the kernel did not load by itself: ask an administrator to load it \(`sudo modprobe vxlan`; in \/etc\/modules-load\.d\/ to keep it after a reboot\), or run netlab with sudo$/,
  );
  const needs = requirements(loadLabFile(join(LABS, 'ipip.yaml')).model);
  const missing = { kind: 'feature' as const, name: 'ipip', said: 'Error: Unknown device type' };
  assert.match(
    describeMissing(missing, needs, 'lab ipip', 'node-0'),
    /"Error: Unknown device type"\. Load it with `modprobe ipip`, or use a kernel/,
  );
  const rootless = describeMissing(missing, needs, 'lab ipip', 'node-0', false, true);
  assert.match(
    rootless,
    /"Error: Unknown device type"\. Without root \(a user namespace\), netlab cannot load a module the kernel did not load by itself: ask an administrator to load it \(`sudo modprobe ipip`;/,
  );
  assert.doesNotMatch(rootless, /Load it with `modprobe/);
});

test("a command enters a lab's user namespace first when its holders have one; root becomes its root, a user keeps their uid", () => {
  const init = { pid: 4242, startTime: '1' };
  const holder = { unshare: { pid: 4241, startTime: '1' }, init };
  assert.deepEqual(enterHolder(holder), ['-t', '4242'], "root's lab: no user namespace to enter");
  // nsenter's setgroups() is refused in a namespace a user mapped: a user keeps their credentials (root in there).
  assert.deepEqual(enterHolder({ ...holder, userns: true }), [
    '-t',
    '4242',
    '-U',
    ...(process.getuid?.() === 0 ? [] : ['--preserve-credentials']),
  ]);
  assert.equal(mayEnterNodes({ kind: 'simulated', nodes: {}, underlay: { ...holder, userns: true } }), true);
  assert.equal(mayEnterNodes({ kind: 'simulated', nodes: {}, underlay: holder }), process.getuid?.() === 0);
});

test("root's state directory: refused when another user could write it, or a directory above it, or a link on the way", (t) => {
  if (skipUnlessRoot(t, 'chown')) return;
  const top = mkdtempSync(join(tmpdir(), 'netlab-statedir-'));
  try {
    const dir = join(top, 'state');
    mkdirSync(dir, { mode: 0o700 });
    assert.equal(othersCanWrite(dir), undefined, "root's, mode 700, in root's 700 in sticky /tmp");
    assert.equal(othersCanWrite(join(dir, 'labs', 'more')), undefined, "made later in root's own");
    chmodSync(dir, 0o777);
    assert.match(
      othersCanWrite(dir) ?? '',
      /state can be written by others than root \(mode 777\): `chmod go-w \S+\/state`$/,
    );
    chmodSync(dir, 0o1777);
    assert.match(othersCanWrite(dir) ?? '', /mode 1777/, 'sticky is no help for the directory itself');
    chmodSync(dir, 0o700);
    chownSync(dir, 1000, 1000);
    assert.match(othersCanWrite(dir) ?? '', /state is .*'s: root's state goes in a directory of root's/);
    chownSync(dir, 0, 0);
    chmodSync(top, 0o775);
    assert.match(othersCanWrite(dir) ?? '', new RegExp(`^${top} can be written by others than root \\(mode 775\\)`));
    chmodSync(top, 0o700);
    // Not there yet in /tmp: root's to make (one a user made first is theirs: refused above).
    assert.equal(othersCanWrite(join(tmpdir(), 'netlab-not-there-yet')), undefined);
    // A user's symbolic link to root's own directory: they could point it elsewhere.
    const link = join(top, 'link');
    symlinkSync(dir, link);
    assert.equal(othersCanWrite(link), undefined, "root's link");
    lchownSync(link, 1000, 1000);
    assert.match(othersCanWrite(link) ?? '', /link is a symbolic link of .*'s, who could point it elsewhere$/);
    // Root's link in a directory of a user's: they could replace the link.
    const theirs = join(top, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 1000, 1000);
    symlinkSync(dir, join(theirs, 'state'));
    assert.match(othersCanWrite(join(theirs, 'state')) ?? '', /theirs is .*'s/);
    // A link that leads nowhere (an unmounted disk): said, not thrown.
    symlinkSync(join(top, 'gone'), join(top, 'dangling'));
    assert.match(othersCanWrite(join(top, 'dangling', 'state')) ?? '', /dangling leads nowhere \(ENOENT\)$/);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

test("a user's NETLAB_STATE_DIR: theirs (or root's) and written by them alone", (t) => {
  if (skipUnlessRoot(t, 'chown')) return;
  const nobody = 65534;
  const top = mkdtempSync(join(tmpdir(), 'netlab-statedir-'));
  try {
    chmodSync(top, 0o755);
    const dir = join(top, 'state');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, nobody, nobody);
    assert.equal(othersCanWrite(dir, nobody), undefined, "nobody's, mode 700, in root's 755");
    chmodSync(dir, 0o777);
    assert.match(othersCanWrite(dir, nobody) ?? '', /state can be written by others than nobody \(mode 777\)/);
    chmodSync(dir, 0o700);
    chownSync(dir, 1000, 1000);
    assert.match(
      othersCanWrite(dir, nobody) ?? '',
      /state is .*'s: nobody's state goes in a directory of nobody's \(or root's\), under none of another user's$/,
    );
    // The command line refuses it too: test/unit/learner (netlab run as nobody).
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});

/** Runs `body` in a new directory anyone may make directories in, as /tmp (sticky), NETLAB_STATE_DIR put back after. */
function inSharedTmp(body: (top: string) => void): void {
  const top = mkdtempSync(join(tmpdir(), 'netlab-statedir-'));
  const saved = process.env.NETLAB_STATE_DIR;
  try {
    chmodSync(top, 0o1777);
    body(top);
  } finally {
    if (saved === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = saved;
    rmSync(top, { recursive: true, force: true });
  }
}

test('a NETLAB_STATE_DIR another user makes after the command line checked it (not there then) is refused before the lock is written', (t) => {
  if (skipUnlessRoot(t, 'chown')) return;
  inSharedTmp((top) => {
    const dir = join(top, 'state');
    process.env.NETLAB_STATE_DIR = dir;
    assert.equal(othersCanWrite(dir), undefined, 'not there yet: root would make it');
    // Another user makes it first, and would plant links in it.
    mkdirSync(dir, { mode: 0o777 });
    chownSync(dir, 1000, 1000);
    assert.throws(
      () => acquireLock('vxlan', 'netlab up'),
      (error: unknown) =>
        error instanceof UsageError && /state is .*'s: root's state goes in a directory of root's/.test(error.message),
    );
    assert.equal(existsSync(join(dir, 'locks', 'vxlan.lock')), false, 'no lock written there');
  });
});

test('a NETLAB_STATE_DIR not there when the command line checked it is made a directory at a time by the first write, which refuses one another user made, or linked, meanwhile', (t) => {
  if (skipUnlessRoot(t, 'chown')) return;
  inSharedTmp((top) => {
    const elsewhere = join(top, 'elsewhere');
    mkdirSync(elsewhere, { mode: 0o777 });
    chownSync(elsewhere, 1000, 1000);
    const state = (lab: string) =>
      ({
        version: STATE_VERSION,
        lab,
        status: 'up',
        createdAt: '',
        file: '',
        target: {},
        facts: {},
        model: {},
      }) as unknown as LabState;

    // Not there: made by root, 0700, a directory at a time; the state written in it.
    process.env.NETLAB_STATE_DIR = join(top, 'new', 'state');
    writeState(state('bridge'));
    for (const dir of [join(top, 'new'), join(top, 'new', 'state')]) {
      const made = lstatSync(dir);
      assert.ok(made.isDirectory() && made.uid === 0 && (made.mode & 0o777) === 0o700, dir);
    }
    assert.ok(existsSync(join(top, 'new', 'state', 'labs', 'bridge.json')));

    // Another user's link on the way, planted after the command line's check: the state is not written through it.
    symlinkSync(elsewhere, join(top, 'planted'));
    lchownSync(join(top, 'planted'), 1000, 1000);
    process.env.NETLAB_STATE_DIR = join(top, 'planted', 'state');
    assert.throws(
      () => writeState(state('bridge')),
      (error: unknown) =>
        error instanceof UsageError &&
        /planted is a symbolic link of .*'s, who could point it elsewhere/.test(error.message),
    );
    assert.deepEqual(readdirSync(elsewhere), [], 'nothing made where the link points');

    // Another user's directory where the state directory goes: nothing written there either.
    const theirs = join(top, 'theirs');
    mkdirSync(theirs, { mode: 0o777 });
    chownSync(theirs, 1000, 1000);
    process.env.NETLAB_STATE_DIR = theirs;
    assert.throws(() => writeState(state('bridge')), UsageError);
    assert.deepEqual(readdirSync(theirs), []);

    // Nor is a state read there: another user's directory, made since, with a lab's state planted in it.
    const planted = join(top, 'planted-state');
    mkdirSync(join(planted, 'labs'), { recursive: true, mode: 0o777 });
    writeFileSync(join(planted, 'labs', 'bridge.json'), JSON.stringify(state('bridge')));
    chownSync(planted, 1000, 1000);
    process.env.NETLAB_STATE_DIR = planted;
    assert.throws(
      () => listStates(),
      (error: unknown) => error instanceof UsageError && /planted-state is .*'s/.test(error.message),
    );
  });
});

test("a user's private group (umask 002): its write bit lets no one else in; a shared group's does", (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-groups-'));
  try {
    const files = { group: join(dir, 'group'), passwd: join(dir, 'passwd') };
    writeFileSync(files.group, 'alice:x:1000:\nstaff:x:50:bob\nusers:x:100:\n');
    writeFileSync(
      files.passwd,
      'alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\ncarol:x:1002:100::/home/carol:/bin/sh\n',
    );
    assert.equal(isPrivateGroupOf(1000, 1000, files), true, "alice's own group");
    assert.equal(isPrivateGroupOf(1000, 1001, files), false, "not bob's");
    assert.equal(isPrivateGroupOf(50, 1001, files), false, 'a group with members');
    assert.equal(isPrivateGroupOf(100, 1001, files), false, 'the primary group of two users');
    assert.equal(isPrivateGroupOf(7, 1000, files), false, 'no such group');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (skipUnlessRoot(t, 'chown')) return;
  // nobody's primary group (nogroup) is _apt's too on Debian: shared, so its write bit is refused.
  const top = mkdtempSync(join(tmpdir(), 'netlab-statedir-'));
  try {
    chmodSync(top, 0o755);
    const state = join(top, 'state');
    mkdirSync(state, { mode: 0o770 });
    chownSync(state, 65534, 65534);
    chmodSync(state, 0o770);
    assert.equal(isPrivateGroupOf(65534, 65534), false);
    assert.match(othersCanWrite(state, 65534) ?? '', /can be written by others than nobody \(mode 770\)/);
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
