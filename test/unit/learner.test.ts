// A learner's challenge commands without root. A lab brought up with sudo is
// root's: its state and its challenge's record are in root's state directory
// (mode 700, files 600). `challenge hint`, `reveal`, `check` and `stop` run by
// another user say whose the directory is and the exact command to run, and
// write nothing; so they do where that user may read the state but not write
// the challenge's record. The other user is nobody (setpriv, as root: the
// tests are skipped otherwise); the lab is a state file written here, on
// simulated nodes that are not running (hint and reveal reach no node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { LABS, NETLAB, ROOT } from '../paths.js';
import { loadLabFile } from '../../src/lab/load.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import { STATE_VERSION, type LabState } from '../../src/state/store.js';
import type { ChallengeRecord } from '../../src/state/challenges.js';
import { acquireLock } from '../../src/state/lock.js';
import { asOwner, notUpHere, rootsLabsNote } from '../../src/commands/challenge.js';
import { sudoUsersLabsNote } from '../../src/commands/common.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const skip = !asRoot
  ? 'needs root, to run netlab as user nobody (setpriv)'
  : !existsSync('/usr/bin/setpriv')
    ? 'setpriv (util-linux) is missing'
    : false;
// CI runs as root with util-linux: there a skip would hide these tests, so it fails instead.
if (skip && process.env.CI === 'true') test('the learner tests can run', () => assert.fail(`skipped in CI: ${skip}`));

const HINT_1 = '`netlab trace a0 a1` walks the path: where does the packet stop?';

/** A scratch directory others may enter, with a lab up in `state` (root's, mode 700 as netlab makes it) and its challenge. */
function labUpWithChallenge(): { dir: string; state: string; record: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-learner-'));
  chmodSync(dir, 0o755);
  const state = join(dir, 'state');
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const run = 'abcdefabcdef';
  const lab: LabState = {
    version: STATE_VERSION,
    lab: 'vxlan',
    file: model.file,
    status: 'up',
    createdAt: '2026-01-01T00:00:00.000Z',
    run: { id: run, host: 'controller', stateDir: state },
    target: { kind: 'simulated', nodes: {} },
    facts: simulatedFacts(model),
    model,
  };
  const record: ChallengeRecord = {
    lab: 'vxlan',
    id: 'wrong-vni',
    run,
    started: '2026-01-01T00:00:00.000Z',
    hints: 0,
    revealed: false,
  };
  mkdirSync(join(state, 'labs'), { recursive: true, mode: 0o700 });
  mkdirSync(join(state, 'challenges'), { mode: 0o700 });
  chmodSync(state, 0o700);
  writeFileSync(join(state, 'labs', 'vxlan.json'), JSON.stringify(lab), { mode: 0o600 });
  writeFileSync(join(state, 'challenges', 'vxlan.json'), JSON.stringify(record), { mode: 0o600 });
  return {
    dir,
    state,
    record: join(state, 'challenges', 'vxlan.json'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** netlab as root, or as user nobody, with this state directory. */
async function netlab(user: 'root' | 'nobody', state: string, ...args: string[]) {
  const [command, argv] =
    user === 'root'
      ? [NETLAB, args]
      : ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', NETLAB, ...args]];
  const result = await execa(command, argv, {
    cwd: '/',
    reject: false,
    stdin: 'ignore',
    env: { NETLAB_STATE_DIR: state, FORCE_COLOR: '0' },
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Every file under a directory, with its content: what a command must leave as it was. */
function contents(dir: string): Record<string, string> {
  const all: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    all[name] = statSync(path).isDirectory()
      ? `dir ${(statSync(path).mode & 0o777).toString(8)}`
      : readFileSync(path, 'utf8');
  }
  return all;
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test(
  "a lab up in root's state (mode 700): challenge hint, reveal, check and stop run by another user say whose it is and the exact sudo command, and change nothing",
  { skip },
  async () => {
    const lab = labUpWithChallenge();
    try {
      const before = contents(lab.state);
      for (const [args, command] of [
        [['challenge', 'hint', 'vxlan'], 'netlab challenge hint vxlan'],
        [['challenge', 'hint'], 'netlab challenge hint'],
        [['challenge', 'reveal', 'vxlan'], 'netlab challenge reveal vxlan'],
        [['challenge', 'reveal', 'vxlan', '--json'], 'netlab challenge reveal vxlan'],
        [['challenge', 'check'], 'netlab challenge check'],
        [['challenge', 'stop', 'vxlan'], 'netlab challenge stop vxlan'],
      ] as const) {
        const refused = await netlab('nobody', lab.state, ...args);
        assert.equal(refused.exitCode, 2, `${args.join(' ')}: ${refused.stdout}${refused.stderr}`);
        // With --json, the error is the document too.
        assert.equal(
          refused.stdout,
          (args as readonly string[]).includes('--json')
            ? JSON.stringify(
                { version: 1, exitCode: 2, error: refused.stderr.replace(/^netlab: /, '').trimEnd() },
                null,
                2,
              )
            : '',
        );
        assert.match(
          refused.stderr,
          new RegExp(
            `^netlab: user nobody may not read the labs' state: ${escaped(lab.state)} \\(owner root, mode 700\\) is root's, as is a lab brought up with sudo and its challenge; run \`sudo NETLAB_STATE_DIR=${escaped(lab.state)} ${escaped(command)}\``,
          ),
        );
      }
      assert.deepEqual(contents(lab.state), before, 'nothing was written');
      // The user who started it (root, with sudo) is given the hint, counted.
      const hint = await netlab('root', lab.state, 'challenge', 'hint');
      assert.equal(hint.exitCode, 0, hint.stderr);
      assert.equal(hint.stdout, `hint 1 of 3: ${HINT_1}`);
      assert.equal((JSON.parse(readFileSync(lab.record, 'utf8')) as ChallengeRecord).hints, 1);
      assert.equal((statSync(join(lab.state, 'challenges')).mode & 0o777).toString(8), '700', "still root's alone");
    } finally {
      lab.remove();
    }
  },
);

test(
  "a state directory another user may read but not write: every challenge command is refused the same way, naming the records' directory and the command; nothing is written",
  { skip },
  async () => {
    const lab = labUpWithChallenge();
    try {
      // Made readable by hand (netlab makes it 700); the files as netlab writes them (600): the lab's is named.
      for (const dir of [lab.state, join(lab.state, 'labs'), join(lab.state, 'challenges')]) chmodSync(dir, 0o755);
      const file = join(lab.state, 'labs', 'vxlan.json');
      for (const args of [['vxlan'], []]) {
        const unread = await netlab('nobody', lab.state, 'challenge', 'hint', ...args);
        assert.equal(unread.exitCode, 2, unread.stderr);
        assert.match(
          unread.stderr,
          new RegExp(
            `^netlab: user nobody may not read the labs' state in ${escaped(lab.state)}: ${escaped(file)} \\(owner root, mode 600\\) is root's, as is a lab brought up with sudo and its challenge; run \`sudo NETLAB_STATE_DIR=${escaped(lab.state)} netlab challenge hint${args.length ? ' vxlan' : ''}\``,
          ),
        );
      }
      // The files made readable too: the records' directory is the one named.
      for (const f of [file, lab.record]) chmodSync(f, 0o644);
      const before = contents(lab.state);
      const records = join(lab.state, 'challenges');
      for (const [sub, why] of [
        ['hint', 'the hints given are counted there'],
        ['reveal', '`challenge check` says "revealed"'],
        ['check', 'a solved challenge ends there'],
        ['stop', 'the challenge ends there'],
      ] as const) {
        const refused = await netlab('nobody', lab.state, 'challenge', sub, 'vxlan');
        assert.equal(refused.exitCode, 2, `${sub}: ${refused.stdout}${refused.stderr}`);
        assert.equal(refused.stdout, '', 'no hint, no fault shown');
        assert.match(
          refused.stderr,
          new RegExp(
            `^netlab: \`netlab challenge ${sub}\` writes the challenge's record in ${escaped(records)} \\(${escaped(why)}\\), and user nobody may not write there: ${escaped(records)} \\(owner root, mode 755\\) is root's, as is a lab brought up with sudo and its challenge; run \`sudo NETLAB_STATE_DIR=${escaped(lab.state)} netlab challenge ${sub} vxlan\``,
          ),
        );
      }
      assert.deepEqual(contents(lab.state), before, 'nothing was written');
      // No records' directory yet: the state directory it would be made in is the one named.
      rmSync(records, { recursive: true });
      const fresh = await netlab('nobody', lab.state, 'challenge', 'check');
      assert.equal(fresh.exitCode, 2);
      assert.match(
        fresh.stderr,
        new RegExp(`may not write there: ${escaped(lab.state)} \\(owner root, mode 755\\) is root's`),
      );
      assert.ok(!existsSync(records), 'not made');
    } finally {
      lab.remove();
    }
  },
);

test(
  'a user whose own state directory (NETLAB_STATE_DIR) lacks the lab is told that sudo does not pass it on, and where a lab brought up with sudo is',
  { skip },
  async () => {
    const lab = labUpWithChallenge();
    try {
      const own = join(lab.dir, 'own');
      mkdirSync(own);
      chmodSync(own, 0o700);
      chownSync(own, NOBODY, NOBODY);
      const result = await netlab('nobody', own, 'challenge', 'hint', 'vxlan');
      assert.equal(result.exitCode, 2);
      const note = `This netlab's state is NETLAB_STATE_DIR=${own}; sudo does not pass NETLAB_STATE_DIR on, so a lab brought up with sudo is in /var/lib/netlab`;
      // What the note says of /var/lib/netlab depends on this host's: root's (mode 700, as netlab makes it), or none.
      const roots = existsSync('/var/lib/netlab/labs') ? statSync('/var/lib/netlab') : undefined;
      if (roots && roots.uid === 0 && (roots.mode & 0o005) === 0)
        assert.match(
          result.stderr,
          new RegExp(
            `^netlab: lab vxlan is not up\\. ${escaped(note)}, which user nobody may not read \\(owner root, mode ${(roots.mode & 0o777).toString(8)}\\): if it was, run \`sudo netlab challenge hint vxlan\`; otherwise, start it with \`netlab up vxlan\``,
          ),
        );
      else assert.match(result.stderr, /^netlab: lab vxlan is not up; start it with `netlab up vxlan`/);
      assert.deepEqual(readdirSync(own), [], 'nothing written in the own directory either');
    } finally {
      lab.remove();
    }
  },
);

test(
  'root under sudo is told of the labs the user who ran sudo brought up without it, in their own state directory',
  { skip: asRoot ? false : 'needs root, to give files to another user (chown)' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-sudo-user-'));
    try {
      const passwd = join(dir, 'passwd');
      writeFileSync(
        passwd,
        `root:x:0:0:root:/root:/bin/sh\nalice:x:4242:4242::${dir}/alice:/bin/sh\nbob:x:4243:4243::relative:/bin/sh\n`,
      );
      const labs = join(dir, 'alice', '.local', 'state', 'netlab', 'labs');
      mkdirSync(labs, { recursive: true });
      for (const file of ['bridge.json', 'vxlan@g1.json', 'not a lab.json', 'notes.txt'])
        writeFileSync(join(labs, file), '{}');
      // alice's own, as her netlab made them (root only reads them).
      for (const path of [
        'alice',
        'alice/.local',
        'alice/.local/state',
        'alice/.local/state/netlab',
        'alice/.local/state/netlab/labs',
      ])
        chownSync(join(dir, path), 4242, 4242);
      const roots = { NETLAB_STATE_DIR: join(dir, 'root') };
      const note = sudoUsersLabsNote({ ...roots, SUDO_UID: '4242' }, passwd);
      assert.match(
        note,
        /^\. Labs alice brings up without sudo are theirs, in \S+\/alice\/\.local\/state\/netlab, which has /,
      );
      assert.deepEqual(
        note
          .match(/which has (.*):/)![1]!
          .split(', ')
          .sort(),
        ['bridge', 'vxlan@g1'],
      );
      assert.match(note, /: for those, run the same netlab command without sudo$/);
      // Nothing to say: not under sudo, sudo from root, a user unknown, a home that is no absolute path, no labs.
      for (const env of [
        roots,
        { ...roots, SUDO_UID: '0' },
        { ...roots, SUDO_UID: '9999' },
        { ...roots, SUDO_UID: 'x' },
        { ...roots, SUDO_UID: '4243' },
      ])
        assert.equal(sudoUsersLabsNote(env, passwd), '', JSON.stringify(env));
      // A directory on the way that is not hers, or a link of hers to elsewhere: root does not list it.
      chownSync(join(dir, 'alice', '.local', 'state'), 0, 0);
      assert.equal(sudoUsersLabsNote({ ...roots, SUDO_UID: '4242' }, passwd), '');
      chownSync(join(dir, 'alice', '.local', 'state'), 4242, 4242);
      renameSync(join(dir, 'alice', '.local', 'state', 'netlab'), join(dir, 'elsewhere'));
      symlinkSync(join(dir, 'elsewhere'), join(dir, 'alice', '.local', 'state', 'netlab'));
      lchownSync(join(dir, 'alice', '.local', 'state', 'netlab'), 4242, 4242);
      assert.equal(sudoUsersLabsNote({ ...roots, SUDO_UID: '4242' }, passwd), '');
      rmSync(join(dir, 'alice', '.local', 'state', 'netlab'));
      renameSync(join(dir, 'elsewhere'), join(dir, 'alice', '.local', 'state', 'netlab'));
      assert.match(sudoUsersLabsNote({ ...roots, SUDO_UID: '4242' }, passwd), /which has /, 'hers again');
      rmSync(labs, { recursive: true });
      assert.equal(sudoUsersLabsNote({ ...roots, SUDO_UID: '4242' }, passwd), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("the note on root's state directory, and the command as its owner runs it", () => {
  const denied = { path: '/var/lib/netlab', owner: 0, mode: 0o40700 };
  assert.equal(
    rootsLabsNote('/home/alice/netlab', { denied, labs: [] }, 'alice', 'run `sudo netlab challenge hint vxlan`'),
    ". This netlab's state is NETLAB_STATE_DIR=/home/alice/netlab; sudo does not pass NETLAB_STATE_DIR on, so a lab brought up with sudo is in /var/lib/netlab, which user alice may not read (owner root, mode 700): if it was, run `sudo netlab challenge hint vxlan`",
  );
  assert.equal(
    rootsLabsNote('/home/alice/netlab', { labs: ['vxlan', 'bridge'] }, 'alice', 'run `sudo netlab challenge hint`'),
    ". This netlab's state is NETLAB_STATE_DIR=/home/alice/netlab; sudo does not pass NETLAB_STATE_DIR on, so a lab brought up with sudo is in /var/lib/netlab, which has vxlan, bridge: for those, run `sudo netlab challenge hint`",
  );
  assert.equal(rootsLabsNote('/home/alice/netlab', { labs: [] }, 'alice', 'x'), '', 'no labs there: nothing to say');
  // The README shows what user alice meets with her own default state directory, where root's labs are in
  // /var/lib/netlab (mode 700): what is not up, then this note (commands/challenge.ts labWithChallenge).
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith("netlab: no lab is up. This netlab's state is"));
  const own = '/home/alice/.local/state/netlab';
  const note = rootsLabsNote(own, { denied, labs: [] }, 'alice', 'run `sudo netlab challenge hint`', false);
  const what = { what: 'no lab is up', remedy: 'start one with `netlab up bridge`' };
  assert.deepEqual(readme, [`netlab: ${notUpHere(what, note)}`]);
  assert.equal(notUpHere(what, ''), 'no lab is up; start one with `netlab up bridge`', 'nothing of root: as elsewhere');
  // sudo resets the environment: a state directory other than the default is given on the command line.
  assert.equal(asOwner('hint', 'vxlan', {}, 0, '/var/lib/netlab'), 'run `sudo netlab challenge hint vxlan`');
  assert.equal(
    asOwner('reveal', undefined, { instance: 'g2' }, 0, '/srv/netlab state'),
    "run `sudo 'NETLAB_STATE_DIR=/srv/netlab state' netlab challenge reveal --instance g2`",
  );
  assert.equal(
    asOwner('hint', 'labs/vxlan.yaml', {}, 0, '/var/lib/netlab'),
    'run `sudo netlab challenge hint labs/vxlan.yaml`',
  );
  // Another user's directory: run it as that user (uid 65534 is nobody on Debian).
  assert.equal(
    asOwner('hint', 'vxlan', {}, NOBODY, '/srv/shared'),
    'run `NETLAB_STATE_DIR=/srv/shared netlab challenge hint vxlan` as nobody, who owns it',
  );
});

test(
  "a lab root brought up, in a state directory a user may read: the user's verify, exec and down are refused naming root and sudo; status shows it without comparing",
  { skip },
  async () => {
    const lab = labUpWithChallenge();
    try {
      // A shared state directory (NETLAB_STATE_DIR, opened up by its owner): root's lab is readable, its nodes are root's.
      chmodSync(lab.state, 0o755);
      chmodSync(join(lab.state, 'labs'), 0o755);
      chmodSync(join(lab.state, 'labs', 'vxlan.json'), 0o644);
      for (const args of [
        ['verify', 'vxlan'],
        ['exec', 'a0', '--', 'true'],
        ['down', 'vxlan'],
      ]) {
        const refused = await netlab('nobody', lab.state, ...args);
        assert.equal(refused.exitCode, 2, `${args[0]}: ${refused.stdout}${refused.stderr}`);
        assert.match(
          refused.stderr,
          new RegExp(
            `^netlab: netlab ${args[0]}: this lab was brought up by root, and only root may enter its nodes: run it with sudo \\(sudo netlab ${args[0]} \\.\\.\\.\\)`,
          ),
        );
      }
      const status = await netlab('nobody', lab.state, 'status', 'vxlan');
      assert.match(status.stdout, /^vxlan: up since .*\(simulated nodes, from /m);
      assert.match(
        status.stdout,
        /\(live state not compared: only root may enter the nodes of a lab root brought up; sudo netlab status\)/,
      );
      // Its nodes do not run (no holder was ever started here): said, and status exits 1, as it would for root.
      assert.equal(status.exitCode, 1, status.stdout + status.stderr);
      assert.match(status.stdout, /^ {2}node-0 \S+ NOT RUNNING: /m);
      assert.ok(existsSync(join(lab.state, 'labs', 'vxlan.json')), 'nothing removed');
      // In the user's own state directory root's lab is not there: the user is told where it is.
      const own = await netlab('nobody', join(lab.dir, 'nobody'), 'verify', 'vxlan');
      assert.equal(own.exitCode, 2);
      assert.match(
        own.stderr,
        /lab vxlan is not up.*\. Labs you bring up without sudo are in .*\/nobody; a lab brought up with sudo is root's, in \/var\/lib\/netlab: `sudo netlab …` acts on it/,
      );
      // down too: "nothing to do" says where root's lab is, instead of leaving the user to think it gone.
      mkdirSync(join(lab.dir, 'nobody'), { mode: 0o700 });
      chownSync(join(lab.dir, 'nobody'), NOBODY, NOBODY);
      const down = await netlab('nobody', join(lab.dir, 'nobody'), 'down', 'vxlan');
      assert.equal(down.exitCode, 0, down.stdout + down.stderr);
      assert.match(
        down.stdout,
        /lab vxlan is not up; nothing to do\. Labs you bring up without sudo are in .*\/nobody; a lab brought up with sudo is root's/,
      );
    } finally {
      lab.remove();
    }
  },
);

test(
  'access: what user nobody may not read or write, as the directory that stops it (unreadable, unwritable)',
  { skip },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netlab-access-'));
    try {
      chmodSync(dir, 0o755);
      mkdirSync(join(dir, 'closed', 'inner'), { recursive: true });
      chmodSync(join(dir, 'closed'), 0o700);
      mkdirSync(join(dir, 'open', 'inner'), { recursive: true });
      mkdirSync(join(dir, 'mine'));
      chmodSync(join(dir, 'mine'), 0o700);
      execaSync('chown', [String(NOBODY), join(dir, 'mine')]);
      const module = join(ROOT, 'dist', 'src', 'state', 'access.js');
      const script = `
      const { unreadable, unwritable } = await import(${JSON.stringify(module)});
      const d = ${JSON.stringify(dir)};
      const show = (x) => x && [x.path.slice(d.length), x.owner, (x.mode & 0o777).toString(8)];
      console.log(JSON.stringify({
        closed: show(unreadable([d + '/closed', d + '/closed/inner'])),
        closedInner: show(unreadable([d + '/closed/inner'])),
        open: show(unreadable([d + '/open', d + '/open/inner'])),
        missing: show(unreadable([d + '/none', d + '/none/labs'])),
        writeOpen: show(unwritable(d + '/open/inner')),
        writeMissing: show(unwritable(d + '/open/new/deeper')),
        writeMine: show(unwritable(d + '/mine/new')),
        writeClosed: show(unwritable(d + '/closed/inner')),
      }));`;
      const result = await execa(
        'setpriv',
        [
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          '--clear-groups',
          process.execPath,
          '--input-type=module',
          '-e',
          script,
        ],
        { cwd: '/', reject: false },
      );
      assert.equal(result.exitCode, 0, String(result.stderr));
      assert.deepEqual(JSON.parse(String(result.stdout)), {
        closed: ['/closed', 0, '700'],
        closedInner: ['/closed', 0, '700'],
        writeOpen: ['/open/inner', 0, '755'],
        writeMissing: ['/open', 0, '755'],
        writeClosed: ['/closed', 0, '700'],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

function execaSync(command: string, args: string[]): void {
  const { status, stderr } = spawnSync(command, args, { encoding: 'utf8' });
  assert.equal(status, 0, stderr);
}

test(
  'as a user, a NETLAB_STATE_DIR (or an XDG_STATE_HOME) another user could fill with SSH options to run is refused by every command, exit 2',
  { skip },
  async () => {
    const top = mkdtempSync(join(tmpdir(), 'netlab-statedir-'));
    try {
      chmodSync(top, 0o755);
      const dir = join(top, 'state');
      mkdirSync(dir, { mode: 0o777 });
      chownSync(dir, NOBODY, NOBODY);
      chmodSync(dir, 0o777);
      const status = await netlab('nobody', dir, 'status');
      assert.equal(status.exitCode, 2, status.stdout + status.stderr);
      assert.match(
        status.stderr,
        /NETLAB_STATE_DIR=\S+\/state: \S+\/state can be written by others than nobody \(mode 777\): `chmod go-w \S+`\. netlab runs what its state says .* so only you may write there \(or unset NETLAB_STATE_DIR: yours is \S+\)$/m,
      );
      // The same directory chosen by XDG_STATE_HOME (its netlab directory, made by another user first, as in /tmp).
      mkdirSync(join(dir, 'netlab'), { mode: 0o777 });
      chmodSync(join(dir, 'netlab'), 0o777);
      const xdg = await execa(
        'setpriv',
        [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', NETLAB, 'status'],
        {
          cwd: '/',
          reject: false,
          stdin: 'ignore',
          env: { XDG_STATE_HOME: dir, HOME: '/nonexistent', FORCE_COLOR: '0' },
        },
      );
      assert.equal(xdg.exitCode, 2, String(xdg.stdout) + String(xdg.stderr));
      assert.match(
        String(xdg.stderr),
        /XDG_STATE_HOME=\S+\/state: \S+ can be written by others than nobody \(mode 777\): .* so only you may write there \(or unset XDG_STATE_HOME: yours is \/nonexistent\/\.local\/state\/netlab\)$/m,
      );
    } finally {
      rmSync(top, { recursive: true, force: true });
    }
  },
);

test('detach takes the lab lock, as up and down do: while another netlab changes the lab it is refused, and the record stays', async () => {
  const lab = labUpWithChallenge();
  try {
    const file = join(lab.state, 'labs', 'vxlan.json');
    const attached = {
      ...(JSON.parse(readFileSync(file, 'utf8')) as LabState),
      attached: { at: '2026-01-01T00:00:00.000Z' },
    };
    writeFileSync(file, JSON.stringify(attached), { mode: 0o600 });
    const before = process.env.NETLAB_STATE_DIR;
    process.env.NETLAB_STATE_DIR = lab.state;
    let release: () => void;
    try {
      release = acquireLock('vxlan', 'netlab up labs/vxlan.yaml');
    } finally {
      if (before === undefined) delete process.env.NETLAB_STATE_DIR;
      else process.env.NETLAB_STATE_DIR = before;
    }
    try {
      const refused = await netlab('root', lab.state, 'detach', 'vxlan');
      assert.equal(refused.exitCode, 2, refused.stdout + refused.stderr);
      assert.match(
        refused.stderr,
        /lab vxlan is being changed by another netlab \(`netlab up labs\/vxlan\.yaml`, PID \d+/,
      );
      assert.ok(existsSync(file), 'the record stays');
    } finally {
      release();
    }
    const detached = await netlab('root', lab.state, 'detach', 'vxlan');
    assert.equal(detached.exitCode, 0, detached.stdout + detached.stderr);
    assert.equal(existsSync(file), false);
  } finally {
    lab.remove();
  }
});
