// The records netlab keeps on a node and on the controller, exercised for real:
// the prelude's shell functions in a real sh (the kernel's sysctls of a network
// namespace of the test's own, as root; a stub for a sysctl of the whole machine,
// net.bridge.*: no setting of the machine is touched), and the lab lock raced by
// real processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { scriptPrelude } from '../../src/shell/prelude.js';
import { applyScript, downScript, parseDownOutput } from '../../src/shell/node-script.js';
import { step } from '../../src/model/effects.js';
import { refusedWithoutState } from '../../src/commands/down.js';
import { acquireLock } from '../../src/state/lock.js';
import { isAlive, killProcess, processRef, waitForExit } from '../../src/os/processes.js';
import { waitFor } from '../wait.js';
import { scratch } from '../scratch.js';

// A network namespace of the test's own needs root; CI runs as root, where nothing is skipped.
const needsRoot = process.getuid?.() === 0 ? false : 'needs root: a network namespace of its own (unshare --net)';
if (needsRoot && process.env.CI === 'true')
  test('the sysctl tests can run', () => assert.fail(`skipped in CI: ${needsRoot}`));

/** Runs the prelude then `body` in sh, with the node's /run/netlab moved to `root`. */
function sh(
  root: string,
  lab: string,
  body: string,
  env: Record<string, string> = {},
  /** the command that runs sh (nsenter into a namespace), if any */
  within: readonly string[] = [],
): { status: number; stdout: string; stderr: string } {
  const script = `${scriptPrelude(lab)}\nNETLAB_ROOT=${root}\nNETLAB_DIR=${root}/${lab}\nmkdir -p "$NETLAB_DIR/pods"\n${body}\n`;
  const [command, ...args] = [...within, 'sh', '-s'];
  const result = spawnSync(command!, args, { input: script, encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * A network namespace of the test's own, held by a `cat` that ends when this process does (its
 * stdin is this process's pipe): its sysctls are the kernel's, and only its. Each script it runs
 * first makes sure it is not in this process's own namespace (a holder gone, its PID reused).
 */
async function scratchNetns(): Promise<{ within: string[]; guard: string; stop(): void }> {
  const holder = spawn('unshare', ['--net', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let said = '';
  holder.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const stop = () => {
    holder.stdin.end();
    holder.kill('SIGKILL');
  };
  const own = readlinkSync('/proc/self/ns/net');
  try {
    // unshare has made the namespace once it runs cat: until then its namespace is this process's
    await waitFor(`a namespace holder (unshare --net)${said ? `: ${said}` : ''}`, () => {
      if (holder.exitCode !== null) throw new Error(`unshare --net ended: ${said || `exit ${holder.exitCode}`}`);
      return readFileSync(`/proc/${holder.pid}/comm`, 'utf8').trim() === 'cat';
    });
  } catch (error) {
    stop();
    throw error;
  }
  return {
    within: ['nsenter', `--net=/proc/${holder.pid}/ns/net`],
    guard: `[ "$(readlink /proc/self/ns/net)" != ${JSON.stringify(own)} ] || { echo "in the test's own network namespace" >&2; exit 99; }`,
    stop,
  };
}

/** Runs a test's body with a scratch directory and a network namespace of its own; both go, even when it fails. */
async function inScratchNetns(
  body: (dir: string, netns: { within: string[]; guard: string }) => Promise<void> | void,
): Promise<void> {
  const work = scratch('netlab-records-');
  let netns: Awaited<ReturnType<typeof scratchNetns>> | undefined;
  try {
    netns = await scratchNetns();
    await body(work.dir, netns);
  } finally {
    netns?.stop();
    work.remove();
  }
}

/** sysctl, as far as the prelude can tell: values kept in files under DIR/values, first on the PATH of `env`. */
function fakeSysctl(dir: string): { values: string; env: Record<string, string> } {
  const bin = join(dir, 'bin');
  const values = join(dir, 'values');
  mkdirSync(bin);
  mkdirSync(values);
  writeFileSync(
    join(bin, 'sysctl'),
    `#!/bin/sh\nif [ "$1" = -n ]; then cat "${values}/$2"; else kv=$2; echo "\${kv#*=}" >"${values}/\${kv%%=*}"; fi\n`,
    { mode: 0o755 },
  );
  return { values, env: { PATH: `${bin}:${process.env.PATH}` } };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

test('pid files hold the start time: a PID that now names another process is neither killed nor entered', async () => {
  const work = scratch('netlab-records-');
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const pid = sleeper.pid!;
    // A record of "the same PID" from another process's life: same number, another start time.
    writeFileSync(join(work.dir, 'reused.pid'), `${pid} 1\n`);
    const reused = sh(
      work.dir,
      'lab',
      `netlab_pid_read ${work.dir}/reused.pid && echo read; netlab_kill_recorded ${work.dir}/reused.pid; echo done`,
    );
    assert.equal(reused.stdout, 'done\n', reused.stderr);
    assert.ok(alive(pid), 'the process that now has that PID is alive');
    assert.equal(existsSync(join(work.dir, 'reused.pid')), false, 'the stale record is gone');

    const own = sh(
      work.dir,
      'lab',
      `netlab_pid_write ${work.dir}/own.pid ${pid}; netlab_pid_read ${work.dir}/own.pid; netlab_kill_recorded ${work.dir}/own.pid`,
    );
    assert.equal(own.stdout.trim(), String(pid), own.stderr);
    // killed: it ends as soon as the signal is delivered (the test's own child, reaped by node)
    await waitFor('the recorded process itself to be killed', () => !alive(pid), { timeoutMs: 10_000 });
  } finally {
    sleeper.kill('SIGKILL');
    work.remove();
  }
});

test('a recorded process that has died is not read back while it waits to be reaped (a zombie)', async () => {
  const work = scratch('netlab-records-');
  // perl forks a child that exits at once, and never waits for it: the child stays a zombie.
  // (A shell would not do: dash may reap a finished job before it execs its next command.)
  const parent = spawn('perl', ['-e', '$| = 1; my $pid = fork(); exit 0 if $pid == 0; print "$pid\\n"; sleep 30'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    const zombie = Number(
      await new Promise<string>((resolve) => parent.stdout.once('data', (d) => resolve(String(d)))),
    );
    await waitFor('the child to die', () =>
      readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]!.startsWith('Z'),
    );
    const result = sh(
      work.dir,
      'lab',
      `netlab_pid_write ${work.dir}/z.pid ${zombie}; netlab_pid_read ${work.dir}/z.pid; echo "read: $?"`,
    );
    assert.equal(result.stdout, 'read: 1\n', result.stderr);
  } finally {
    parent.kill('SIGKILL');
    work.remove();
  }
});

/**
 * What netlab_pause_pid names for a pod whose pause.pid records `unshare`, a shell standing in for unshare as a
 * prelude starts it (its only child is the pause): that process's name, and its first child's where it has one.
 */
function pauseNamed(unshare: string): { stdout: string; stderr: string } {
  const work = scratch('netlab-records-');
  const child = spawn('sh', ['-c', `${unshare} & wait`], { stdio: 'ignore', detached: true });
  try {
    return sh(
      work.dir,
      'lab',
      [
        'mkdir -p "$NETLAB_DIR/pods/p"',
        `netlab_pid_write "$NETLAB_DIR/pods/p/pause.pid" ${child.pid}`,
        'pause=$(netlab_pause_pid p) && cat "/proc/$pause/comm"',
        'c=$(cat /proc/$pause/task/$pause/children) && [ -n "$c" ] && cat "/proc/${c%% *}/comm"; true',
      ].join('\n'),
    );
  } finally {
    process.kill(-child.pid!, 'SIGKILL');
    work.remove();
  }
}

test("netlab_pause_pid names the pause only once it has started its sleep: before that, unshare's child may not have made the pod's mounts private or set its hostname", () => {
  // Its child slowed down: a shell whose first child, for 0.3 s, is another program (as hostname may be), then
  // the pause's sleep, which it waits for.
  const result = pauseNamed(`sh -c 'timeout 0.3 tail -f /dev/null; sleep 30 & wait'`);
  assert.equal(result.stdout, 'sh\nsleep\n', result.stderr);
});

test("netlab_pause_pid names the pause of a lab an older netlab made: unshare's child itself, once it runs sleep", () => {
  // As an older prelude started it: its child set the hostname, then became sleep (no shell waiting).
  const result = pauseNamed(`sh -c 'exec sleep 30'`);
  assert.equal(result.stdout, 'sleep\n', result.stderr);
});

test("each pod has a directory of its own: netlab_kill_pod a leaves pod a.b's files (the old pods/a.* files would have matched)", () => {
  const work = scratch('netlab-records-');
  try {
    const result = sh(
      work.dir,
      'lab',
      [
        'mkdir -p "$NETLAB_DIR/pods/a" "$NETLAB_DIR/pods/a.b"',
        'netlab_pid_write "$NETLAB_DIR/pods/a/c-b.c.pid" $$',
        'netlab_pid_write "$NETLAB_DIR/pods/a.b/c-c.pid" $$',
        'netlab_kill_pod a',
        'ls "$NETLAB_DIR/pods"; ls "$NETLAB_DIR/pods/a.b"',
      ].join('\n'),
    );
    assert.equal(result.stdout, 'a.b\nc-c.pid\n', result.stderr);
  } finally {
    work.remove();
  }
});

test("the claim makes the lab's directory and the directories of the pods its script starts, in one mkdir; a later script's claim makes none", () => {
  const work = scratch('netlab-records-');
  try {
    const run = (body: string) => {
      const result = sh(work.dir, 'lab', `rm -rf "$NETLAB_DIR"\n${body}`);
      assert.equal(result.status, 0, result.stderr);
      return result;
    };
    run('NETLAB_RUN=r1; netlab_claim a0 a1');
    assert.ok(existsSync(join(work.dir, 'lab/pods/a0')) && existsSync(join(work.dir, 'lab/pods/a1')));
    assert.equal(readFileSync(join(work.dir, 'lab/run'), 'utf8'), 'r1 \n');
    // Claimed already (this run): no directory is made, and netlab_pause's own check makes its pod's.
    run('NETLAB_RUN=r1; netlab_claim && netlab_claim a2 && [ ! -e "$NETLAB_DIR/pods/a2" ]');
  } finally {
    work.remove();
  }
});

test(
  'a shared sysctl: down puts it back only if it still holds what the lab set, and the last lab that needs it puts back the value from before the first',
  { skip: needsRoot },
  () =>
    inScratchNetns(async (root, { within, guard }) => {
      const run = (body: string, lab = 'lab') => sh(root, lab, `${guard}\n${body}`, {}, within);
      // net.ipv4.ip_forward is a network namespace's own: the prelude reads and sets it in the test's.
      const value = () => run('cat /proc/sys/net/ipv4/ip_forward').stdout.trim();
      const set = (v: string) => assert.equal(run(`sysctl -qw net.ipv4.ip_forward=${v}`).status, 0);
      const up = (lab: string) => {
        const result = run('netlab_sysctl net.ipv4.ip_forward 1', lab);
        assert.equal(result.status, 0, result.stderr);
      };
      const down = (lab: string) =>
        run('tac "$NETLAB_DIR/undo" | while IFS= read -r line; do eval "$line"; done; rm -f "$NETLAB_DIR/undo"', lab);

      // Setting ip_forward sets conf.all.accept_redirects to its opposite (the kernel's inet_forward_change()):
      // a host that accepted no ICMP redirect before the lab accepts none after it either.
      const redirects = () => run('cat /proc/sys/net/ipv4/conf/all/accept_redirects').stdout.trim();
      const refuseRedirects = () => assert.equal(run('sysctl -qw net.ipv4.conf.all.accept_redirects=0').status, 0);

      set('0');
      refuseRedirects();
      up('a');
      assert.equal(value(), '1');
      assert.equal(down('a').stdout, '');
      assert.equal(value(), '0', 'unchanged since: the old value is put back');
      assert.equal(redirects(), '0', 'and with it the redirects the host refused');

      set('0');
      up('a');
      set('7'); // someone else set it since
      assert.match(
        down('a').stdout,
        /@@netlab kept sysctl net\.ipv4\.ip_forward is 7: the lab set it to 1 and something changed it since/,
      );
      assert.equal(value(), '7', 'what someone else set is left as it is');

      set('0');
      refuseRedirects();
      up('a');
      up('b'); // b finds 1 (a set it)
      assert.match(down('a').stdout, /lab b on this node needs it too, and will put back 0 when it goes/);
      assert.equal(value(), '1', 'b still has forwarding');
      assert.equal(down('b').stdout, '');
      assert.equal(value(), '0', 'the last lab to go puts back the value from before the first');
      assert.equal(redirects(), '0', "and the redirects from before the first (a's, handed over)");

      // The other order: the lab that came last goes first.
      set('0');
      up('a');
      up('b');
      assert.match(down('b').stdout, /is left at 1: lab a on this node needs it too\n/);
      assert.equal(value(), '1', 'a still has forwarding');
      assert.equal(down('a').stdout, '');
      assert.equal(value(), '0', 'a, the first, puts back the value from before it');

      // A sysctl journalled without a second value to put back (every one but ip_forward: bridge-nf-call-iptables
      // in a lab with Services or policies; here one of the namespace's own): under the prelude's `set -u`, its
      // restore reads no missing argument, and the journal's lines before it are undone too.
      const key = 'net.ipv4.icmp_echo_ignore_all';
      const other = () => run(`sysctl -n ${key}`).stdout.trim();
      assert.equal(run(`sysctl -qw ${key}=0`).status, 0);
      const upOther = (lab: string) => {
        const result = run(`netlab_record "echo undone: before the sysctl"\nnetlab_sysctl ${key} 1`, lab);
        assert.equal(result.status, 0, result.stderr);
      };
      upOther('c');
      let undone = down('c');
      assert.match(undone.stdout, /^undone: before the sysctl$/m, undone.stderr);
      assert.equal(other(), '0');
      upOther('c');
      upOther('d');
      undone = down('c');
      assert.match(undone.stdout, /lab d on this node needs it too, and will put back 0 when it goes/, undone.stderr);
      assert.equal(other(), '1');
      undone = down('d');
      assert.match(undone.stdout, /^undone: before the sysctl$/m, undone.stderr);
      assert.equal(other(), '0', "d puts back the value from before c (c's, handed over)");
    }),
);

test('a stale lab lock taken over by several processes at once: exactly one wins, every time', async () => {
  const work = scratch('netlab-records-');
  try {
    const rounds = 40;
    const racers = 4;
    const locks = join(work.dir, 'locks');
    mkdirSync(locks);
    // A lock of a process that is gone: its PID's start time no longer matches.
    const stale = JSON.stringify({
      process: { pid: 1, startTime: 'gone' },
      host: hostname(),
      command: 'netlab up (killed)',
      since: new Date(0).toISOString(),
    });
    for (let r = 0; r < rounds; r++) writeFileSync(join(locks, `race-${r}.lock`), stale);
    const lockModule = new URL('../../src/state/lock.js', import.meta.url).href;
    const start = Date.now() + 2000;
    // Each racer tries every round at the same instant as the others, and never lets go of what it wins.
    const racer = `
      const { acquireLock } = await import(${JSON.stringify(lockModule)});
      for (let r = 0; r < ${rounds}; r++) {
        const at = ${start} + r * 60;
        while (Date.now() < at) {}
        try { acquireLock('race-' + r, 'test'); console.log(r, 'won'); } catch { console.log(r, 'lost'); }
      }
      console.log('done');
      // Alive until every racer is done: a winner that exited would leave a stale lock that a late racer (one
      // that started after its rounds' instants, on a loaded machine) could rightly take over.
      process.stdin.resume();`;
    const children = Array.from({ length: racers }, () =>
      spawn(process.execPath, ['--input-type=module', '-e', racer], {
        env: { ...process.env, NETLAB_STATE_DIR: work.dir },
        stdio: ['pipe', 'pipe', 'inherit'],
      }),
    );
    const outputs = await Promise.all(
      children.map((child) => {
        let out = '';
        return new Promise<string>((resolve) => {
          child.stdout.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes('done\n')) resolve(out);
          });
          child.on('close', () => resolve(out));
        });
      }),
    );
    for (const child of children) child.stdin.end();
    await Promise.all(
      children.map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise((resolve) => child.on('close', resolve)),
      ),
    );
    const winners = new Map<number, number>();
    for (const line of outputs.join('').split('\n').filter(Boolean)) {
      const [round, result] = line.split(' ');
      if (round === 'done') continue;
      if (result === 'won') winners.set(Number(round), (winners.get(Number(round)) ?? 0) + 1);
    }
    const wrong = Array.from({ length: rounds }, (_, r) => r).filter((r) => winners.get(r) !== 1);
    assert.deepEqual(
      wrong.map((r) => `round ${r}: ${winners.get(r) ?? 0} winners`),
      [],
      `${racers} processes raced over ${rounds} stale locks`,
    );
  } finally {
    work.remove();
  }
});

test('down tells an undo whose object is gone from one that failed: the failed lines stay journalled with the run, and the next down runs only them', () => {
  const work = scratch('netlab-records-');
  try {
    const dir = join(work.dir, 'lab1');
    mkdirSync(dir);
    writeFileSync(join(dir, 'run'), 'a1b2c3d4e5f6 host:/state\n');
    const said = (message: string) => `sh -c 'echo "${message}" >&2; exit 1'`;
    // The journal as up writes it: run backwards by down, so the last line runs first.
    const journal = [
      'true',
      said('iptables v1.8.9 (nf_tables): CHAIN_USER_DEL failed (Device or resource busy): chain NETLAB-FWD-lab1'),
      said('Cannot find device "veth-a0"'),
      said('RTNETLINK answers: No such process'),
      // ip tunnel del of a tunnel that is not there (ENODEV): its step failed, or the kernel lacks the kind
      said('delete tunnel "ipip0" failed: No such device'),
      'true',
    ];
    writeFileSync(join(dir, 'undo'), `${journal.join('\n')}\n`);
    const down = () => {
      const script = downScript('lab1', { id: 'a1b2c3d4e5f6', from: 'host:/state' }).replaceAll(
        '/run/netlab',
        work.dir,
      );
      const result = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      return parseDownOutput(result.stdout);
    };
    const first = down();
    assert.equal(first.undone, 2);
    assert.deepEqual(first.skipped, [
      said('delete tunnel "ipip0" failed: No such device'),
      said('RTNETLINK answers: No such process'),
      said('Cannot find device "veth-a0"'),
    ]);
    assert.deepEqual(first.failed, [
      {
        line: journal[1],
        said: 'iptables v1.8.9 (nf_tables): CHAIN_USER_DEL failed (Device or resource busy): chain NETLAB-FWD-lab1',
      },
    ]);
    assert.equal(readFileSync(join(dir, 'undo'), 'utf8'), `${journal[1]}\n`, 'only the failed line stays');
    assert.ok(existsSync(join(dir, 'run')), 'and the run with it');
    writeFileSync(join(dir, 'undo'), 'true\n');
    const second = down();
    assert.deepEqual([second.undone, second.failed], [1, []]);
    assert.ok(!existsSync(dir), 'all undone: the lab is forgotten on the node');
  } finally {
    work.remove();
  }
});

test(
  "down undoes a table's consecutive iptables lines in one iptables-restore; a batch that fails is undone a line at a time, each told done, gone or failed",
  { skip: needsRoot },
  () =>
    inScratchNetns(async (root, { within, guard }) => {
      // iptables and iptables-restore themselves, each start written down.
      const bin = join(root, 'bin');
      const calls = join(root, 'calls');
      mkdirSync(bin);
      for (const tool of ['iptables', 'iptables-restore']) {
        const real = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
        assert.ok(real, `${tool} is installed`);
        writeFileSync(join(bin, tool), `#!/bin/sh\necho ${tool} >>${calls}\nexec ${real} "$@"\n`, { mode: 0o755 });
      }
      const inNetns = (script: string) => {
        const result = spawnSync(within[0]!, [...within.slice(1), 'sh', '-s'], {
          input: `${guard}\n${script}`,
          encoding: 'utf8',
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        });
        assert.equal(result.status, 0, result.stderr);
        return result.stdout;
      };
      const rulesOf = () =>
        inNetns('iptables-save')
          .split('\n')
          .filter((l) => /lab1|OTHER/.test(l));
      // What up made: a chain with a jump to it in the filter table, and one in the nat table.
      const make = [
        'iptables -w -N NETLAB-FWD-lab1',
        'iptables -w -A NETLAB-FWD-lab1 -s 10.200.0.0/16 -j ACCEPT',
        "iptables -w -I FORWARD 1 -m comment --comment 'netlab lab lab1' -j NETLAB-FWD-lab1",
        'iptables -w -t nat -N NL-SVC-lab1',
        'iptables -w -t nat -A NL-SVC-lab1 -j RETURN',
        "iptables -w -t nat -I PREROUTING 1 -m comment --comment 'netlab lab lab1' -j NL-SVC-lab1",
      ];
      // Its journal as up writes it (down runs it backwards): a line of another kind between the tables.
      const journal = [
        'iptables -w -X NETLAB-FWD-lab1',
        'iptables -w -F NETLAB-FWD-lab1',
        "iptables -w -D FORWARD -m comment --comment 'netlab lab lab1' -j NETLAB-FWD-lab1",
        'true',
        'iptables -w -t nat -X NL-SVC-lab1',
        'iptables -w -t nat -F NL-SVC-lab1',
        "iptables -w -t nat -D PREROUTING -m comment --comment 'netlab lab lab1' -j NL-SVC-lab1",
      ];
      const dir = join(root, 'lab1');
      const down = (lines: readonly string[]) => {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'run'), 'a1b2c3d4e5f6 host:/state\n');
        writeFileSync(join(dir, 'undo'), `${lines.join('\n')}\n`);
        writeFileSync(calls, '');
        const script = downScript('lab1', { id: 'a1b2c3d4e5f6', from: 'host:/state' }).replaceAll('/run/netlab', root);
        const outcome = parseDownOutput(inNetns(script));
        return { ...outcome, calls: readFileSync(calls, 'utf8').trim().split('\n') };
      };

      inNetns(make.join('\n'));
      assert.equal(rulesOf().length, 6, 'made: two chains, a rule in each, two jumps');
      const batched = down(journal);
      assert.deepEqual(batched.calls, ['iptables-restore', 'iptables-restore'], 'one process a table');
      assert.deepEqual([batched.undone, batched.skipped, batched.failed], [7, [], []]);
      assert.deepEqual(rulesOf(), [], 'every chain and jump of the lab is gone');
      assert.ok(!existsSync(dir), 'all undone: the lab is forgotten on the node');

      // A rule already gone and a chain another rule still jumps to: the filter table's batch fails, and
      // nothing of it was applied; its lines run one at a time.
      inNetns([...make, 'iptables -w -N OTHER', 'iptables -w -A INPUT -j OTHER'].join('\n'));
      const gone = 'iptables -w -D FORWARD -s 10.9.9.9/32 -j ACCEPT';
      const busy = 'iptables -w -X OTHER';
      const oneByOne = down([busy, gone, ...journal]);
      assert.deepEqual(
        oneByOne.calls,
        ['iptables-restore', 'iptables-restore', ...Array.from({ length: 5 }, () => 'iptables')],
        "nat's batch, filter's batch (it fails), then filter's five lines",
      );
      assert.deepEqual(oneByOne.skipped, [gone]);
      assert.deepEqual(
        oneByOne.failed.map((f) => f.line),
        [busy],
      );
      assert.equal(oneByOne.undone, 7);
      assert.deepEqual(
        rulesOf(),
        [':OTHER - [0:0]', '-A INPUT -j OTHER'],
        "the lab's chains and jumps are gone; the chain in use stays",
      );
      assert.equal(readFileSync(join(dir, 'undo'), 'utf8'), `${busy}\n`, 'only the failed line stays journalled');
      inNetns('iptables -w -D INPUT -j OTHER');
      assert.deepEqual([down([busy]).failed, rulesOf()], [[], []], 'the next down undoes it');
    }),
);

test(
  "down of a run mends what that run's challenge left on the machine: its DROP rule goes, FORWARD's policy goes back; another run's rule and the machine's own stay",
  { skip: needsRoot },
  () =>
    inScratchNetns((root, { within, guard }) => {
      const inNetns = (script: string) => {
        const result = spawnSync(within[0]!, [...within.slice(1), 'sh', '-s'], {
          input: `${guard}\n${script}`,
          encoding: 'utf8',
        });
        assert.equal(result.status, 0, result.stderr);
        return result.stdout;
      };
      const forward = () => inNetns('iptables -w -S FORWARD').trim().split('\n');
      // The fault of run a1 (its comment, faultComment), rules that are not its own, and the policy it set.
      inNetns(
        [
          "iptables -w -I FORWARD 1 -m comment --comment 'netlab fault of lab lab1 run a1' -j DROP",
          "iptables -w -A FORWARD -m comment --comment 'netlab fault of lab lab1 run a1b' -j DROP",
          "iptables -w -A FORWARD -m comment --comment 'netlab fault of lab lab2 run a1' -j DROP",
          'iptables -w -A FORWARD -s 10.9.9.9/32 -j DROP',
          'iptables -w -P FORWARD DROP',
        ].join('\n'),
      );
      const dir = join(root, 'lab1');
      mkdirSync(dir);
      writeFileSync(join(dir, 'run'), 'a1 host:/state\n');
      writeFileSync(join(dir, 'challenge.json'), '{}\n');
      writeFileSync(join(dir, 'fault-policy-FORWARD'), 'a1\nACCEPT\n');
      const outcome = parseDownOutput(
        inNetns(downScript('lab1', { id: 'a1', from: '' }).replaceAll('/run/netlab', root)),
      );
      assert.deepEqual([outcome.found, outcome.kept], ['undone', []]);
      assert.deepEqual(forward(), [
        '-P FORWARD ACCEPT',
        '-A FORWARD -m comment --comment "netlab fault of lab lab1 run a1b" -j DROP',
        '-A FORWARD -m comment --comment "netlab fault of lab lab2 run a1" -j DROP',
        '-A FORWARD -s 10.9.9.9/32 -j DROP',
      ]);
      assert.ok(!existsSync(dir), 'nothing of the run is left on the node');
    }),
);

test("down without a run (the local state is lost) only names the run the node has; the named run's journal is undone, another's never", () => {
  const work = scratch('netlab-records-');
  try {
    const dir = join(work.dir, 'lab1');
    mkdirSync(dir);
    writeFileSync(join(dir, 'run'), 'a1b2c3d4e5f6 host:/state\n');
    writeFileSync(join(dir, 'undo'), `touch ${join(work.dir, 'undone')}\n`);
    const down = (run?: string) =>
      parseDownOutput(
        spawnSync('sh', ['-s'], {
          input: downScript('lab1', run ? { id: run, from: '' } : undefined).replaceAll('/run/netlab', work.dir),
          encoding: 'utf8',
        }).stdout,
      );
    assert.deepEqual([down().found, down().run], ['other-run', 'a1b2c3d4e5f6 host:/state']);
    assert.equal(down('feedfacecafe').found, 'other-run');
    assert.ok(!existsSync(join(work.dir, 'undone')), 'nothing undone');
    assert.equal(down('a1b2c3d4e5f6').found, 'undone');
    assert.ok(existsSync(join(work.dir, 'undone')));
  } finally {
    work.remove();
  }
});

test("a fault's node-wide setting: saved when the fault is made, put back only while it still holds the fault's value", () => {
  const work = scratch('netlab-records-');
  try {
    const { values, env } = fakeSysctl(work.dir);
    const key = 'net.bridge.bridge-nf-call-iptables';
    const set = (v: string) => writeFileSync(join(values, key), `${v}\n`);
    const value = () => readFileSync(join(values, key), 'utf8').trim();
    const make = () => sh(work.dir, 'lab1', `netlab_setting_save sysctl ${key} && sysctl -qw ${key}=0`, env);
    const mend = () => sh(work.dir, 'lab1', `netlab_setting_restore sysctl ${key} 0`, env);

    set('2'); // a value the machine had of its own (not the mend's 1)
    assert.equal(make().status, 0);
    assert.equal(value(), '0');
    assert.equal(mend().stdout, '');
    assert.equal(value(), '2', 'the value the fault replaced, not the one the mend shows');

    set('2');
    make();
    set('5'); // changed since the fault by someone else
    assert.match(mend().stdout, /@@netlab kept sysctl net\.bridge\.bridge-nf-call-iptables is 5, not the fault's 0/);
    assert.equal(value(), '5');

    // The machine's own value is the fault's (as Docker's FORWARD policy DROP): put back, it stays so, and a
    // second mend (a down run again after an undo failed) finds nothing saved: nothing to put back.
    set('0');
    make();
    assert.equal(mend().stdout, '');
    assert.equal(value(), '0');
    assert.equal(mend().status, 0);
    assert.equal(value(), '0', 'the second mend takes no default for the value from before');

    // A setting that cannot be read (iptables' status is lost in a pipe): the mend fails, and its save stays.
    const iptables = join(work.dir, 'bin', 'iptables');
    writeFileSync(iptables, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const policy = (body: string) => sh(work.dir, 'lab1', body, env);
    writeFileSync(join(work.dir, 'lab1', 'fault-policy-FORWARD'), '\nACCEPT\n');
    assert.equal(policy('netlab_setting_restore policy FORWARD DROP').status, 1);
    assert.ok(existsSync(join(work.dir, 'lab1', 'fault-policy-FORWARD')), 'the value from before is kept');
  } finally {
    work.remove();
  }
});

test("a setting a fault saved belongs to the fault's run: another run's mend or down never puts it back", () => {
  const work = scratch('netlab-records-');
  try {
    const { values, env } = fakeSysctl(work.dir);
    // The ruleset the down script's leftovers mend reads: none (the machine's own is not read).
    writeFileSync(join(work.dir, 'bin', 'iptables-save'), '#!/bin/sh\n', { mode: 0o755 });
    const key = 'net.bridge.bridge-nf-call-iptables';
    const set = (v: string) => writeFileSync(join(values, key), `${v}\n`);
    const value = () => readFileSync(join(values, key), 'utf8').trim();
    const inRun = (run: string, body: string) => sh(work.dir, 'lab1', `NETLAB_RUN=${run}\n${body}`, env);
    const saved = join(work.dir, 'lab1', `fault-sysctl-${key}`);

    // Run a1's fault saved 1, and its restore failed: the file stays (down said "kept").
    set('1');
    assert.equal(inRun('a1', `netlab_setting_save sysctl ${key} && sysctl -qw ${key}=0`).status, 0);
    assert.ok(existsSync(saved));
    // Later, run b2 holds the lab, and the machine's owner set 0 of their own.
    writeFileSync(join(work.dir, 'lab1', 'run'), 'b2 host:/state\n');
    assert.equal(inRun('b2', `netlab_setting_saved sysctl ${key}`).status, 1, "a1's file is not b2's save");
    // b2's own mend of a fault that saved nothing puts nothing back: not a1's value.
    assert.equal(inRun('b2', `netlab_setting_restore sysctl ${key} 0`).status, 0);
    assert.equal(value(), '0');

    // b2's down from the nodes' records leaves the setting as it is, says why, and forgets the file.
    set('1');
    inRun('a1', `netlab_setting_save sysctl ${key}`);
    set('0');
    const downOfB2 = () => {
      const down = spawnSync('sh', ['-s'], {
        input: downScript('lab1', { id: 'b2', from: '' }).replaceAll('/run/netlab', work.dir),
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
      const outcome = parseDownOutput(down.stdout);
      assert.equal(outcome.found, 'undone', down.stderr);
      return outcome.kept;
    };
    assert.deepEqual(downOfB2(), [
      `sysctl ${key} is left at 0: a challenge's fault of run a1 saved 1 to put back, and could not; that run is over`,
    ]);
    assert.equal(value(), '0', "a1's saved 1 is not put back by b2's down");
    assert.ok(!existsSync(saved));

    // An older netlab's file holds the value alone: saved before the run began on the node, not b2's either;
    // saved since, b2's (a netlab upgraded during a challenge).
    const olderNetlabs = (savedSince: boolean) => {
      mkdirSync(join(work.dir, 'lab1'), { recursive: true });
      writeFileSync(saved, '1\n');
      writeFileSync(join(work.dir, 'lab1', 'run'), 'b2 host:/state\n');
      const hourAgo = new Date(Date.now() - 3600_000);
      utimesSync(join(work.dir, 'lab1', savedSince ? 'run' : `fault-sysctl-${key}`), hourAgo, hourAgo);
    };
    olderNetlabs(false);
    assert.deepEqual(downOfB2(), [
      `sysctl ${key} is left at 0: a challenge's fault of an older netlab saved 1 to put back, and could not; that run is over`,
    ]);
    assert.equal(value(), '0');
    olderNetlabs(true);
    assert.deepEqual(downOfB2(), []);
    assert.equal(value(), '1', "b2's fault's save, put back");
    // Where the node has no run recorded, an older netlab's file is no run's, in bash too (the sh of other
    // distributions), whose -nt finds a file newer than one that is missing.
    const bash = spawnSync('bash', ['-s'], {
      input: `${scriptPrelude('lab1')}\nNETLAB_ROOT=${work.dir}\nNETLAB_DIR=${work.dir}/lab1\nNETLAB_RUN=b2\nmkdir -p "$NETLAB_DIR"\nrm -f "$NETLAB_DIR/run"\necho 1 >"$NETLAB_DIR/fault-sysctl-${key}"\nnetlab_setting_saved sysctl ${key}\n`,
      encoding: 'utf8',
    });
    assert.equal(bash.status, 1, `bash took it for this run's: ${bash.stderr}`);
  } finally {
    work.remove();
  }
});

test('a killed process is waited for until it has exited (a zombie waiting for its parent counts as exited)', () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const ref = processRef(child.pid!)!;
  killProcess(ref);
  waitForExit([ref], 5000);
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  // Node has not reaped it yet (no event loop turn since): the kernel ended it, and it is a zombie now.
  assert.equal(stat.slice(stat.lastIndexOf(')') + 2)[0], 'Z');
});

test("a down without the lab's state names the nodes' run in a command to copy only where it is a run id netlab writes: a learner (root on a node) may write anything in its run file", () => {
  const work = scratch('netlab-records-');
  try {
    const dir = join(work.dir, 'lab1');
    mkdirSync(dir);
    const downHere = () => {
      const script = downScript('lab1').replaceAll('/run/netlab', work.dir);
      const result = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      const outcome = parseDownOutput(result.stdout);
      assert.equal(outcome.found, 'other-run', 'the journal of a run not named is never run');
      return refusedWithoutState('lab1', '--inventory i.yaml', [[outcome.run!, ['node-0']]]);
    };
    writeFileSync(join(dir, 'run'), 'a1b2c3d4e5f6 host:/state\n');
    assert.match(downHere(), /name it: `netlab down lab1 --inventory i\.yaml --run a1b2c3d4e5f6`$/);
    writeFileSync(join(dir, 'run'), '$(touch${IFS}/tmp/pwned) host:/state\n');
    const hostile = downHere();
    assert.doesNotMatch(hostile, /--run/);
    assert.match(hostile, /the first is no run id netlab writes/);
  } finally {
    work.remove();
  }
});

test("a lock file that is JSON but no lock's record (not netlab's, or cut short) is stale: taken over, not a crash that keeps the lab locked", () => {
  const work = scratch('netlab-records-');
  const before = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = work.dir;
  try {
    mkdirSync(join(work.dir, 'locks'), { recursive: true });
    const lock = join(work.dir, 'locks', 'lab1.lock');
    for (const text of [
      JSON.stringify({ host: hostname() }),
      JSON.stringify({ process: { pid: 'x' }, host: hostname(), command: 'c', since: 's' }),
      JSON.stringify({ process: null, host: hostname(), command: 'c', since: 's' }),
      'null',
      '[]',
    ]) {
      writeFileSync(lock, text);
      const release = acquireLock('lab1', 'netlab up');
      assert.match(readFileSync(lock, 'utf8'), /"command":"netlab up"/, text);
      release();
    }
  } finally {
    if (before === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = before;
    work.remove();
  }
});

test("a record of a process from another boot (a state directory on disk outlives a reboot) is not a live process, even where this boot's process has its PID and start time: a lock of it is stale", () => {
  const work = scratch('netlab-records-');
  const before = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = work.dir;
  try {
    const here = processRef(process.pid)!;
    assert.match(here.boot ?? '', /^[0-9a-f-]{36}$/, "a record names this machine's boot");
    assert.equal(isAlive(here), true);
    // As this boot's process with the same PID and start time as a process of the boot before.
    const lastBoot = { ...here, boot: '00000000-0000-4000-8000-000000000000' };
    assert.equal(isAlive(lastBoot), false, 'another boot: not this process');
    assert.equal(
      isAlive({ pid: here.pid, startTime: here.startTime }),
      true,
      'a record written before netlab kept the boot: told by the start time alone',
    );
    mkdirSync(join(work.dir, 'locks'), { recursive: true });
    const lock = join(work.dir, 'locks', 'lab1.lock');
    writeFileSync(lock, JSON.stringify({ process: lastBoot, host: hostname(), command: 'netlab down', since: 's' }));
    const release = acquireLock('lab1', 'netlab up');
    assert.match(readFileSync(lock, 'utf8'), /"command":"netlab up"/, "the boot before's lock is taken over");
    release();
  } finally {
    if (before === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = before;
    work.remove();
  }
});

test('a journal line that cannot be written (a full /run) stops its step before the step changes anything: nothing is made that down would not undo', () => {
  const work = scratch('netlab-records-');
  try {
    const made = join(work.dir, 'made');
    const drafted = step('make a file', 'a test', [
      {
        kind: 'helper',
        apply: [{ command: ['touch', made], explain: 'touch makes the file' }],
        undo: [['rm', '-f', made]],
      },
    ]);
    const inScratch = (script: string) =>
      script
        .replace(/^NETLAB_ROOT=.*$/m, `NETLAB_ROOT=${work.dir}`)
        .replace(/^NETLAB_DIR=.*$/m, `NETLAB_DIR=${join(work.dir, 'lab')}`);
    const script = inScratch(
      applyScript('lab', [{ ...drafted, id: 1, node: 'node-0', phase: 'network' }], { id: 'run', from: 'h:/s' }),
    );
    // A journal that cannot be appended to, as on a full file system.
    mkdirSync(join(work.dir, 'lab', 'undo'), { recursive: true });
    const result = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
    assert.match(result.stdout, /^@@netlab fail 1 [1-9]\d*$/m, result.stdout + result.stderr);
    assert.equal(existsSync(made), false, "the step's command did not run");
    // netlab_sysctl journals the value it replaces itself: unjournalled, it sets nothing.
    const { values, env } = fakeSysctl(work.dir);
    writeFileSync(join(values, 'net.ipv4.ip_forward'), '0\n');
    writeFileSync(join(values, 'net.ipv4.conf.all.accept_redirects'), '1\n');
    const sysctl = spawnSync('sh', ['-s'], {
      input: inScratch(`${scriptPrelude('lab')}\nnetlab_sysctl net.ipv4.ip_forward 1; echo "rc=$?"\n`),
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    assert.match(sysctl.stdout, /^rc=[1-9]/m, sysctl.stdout + sysctl.stderr);
    assert.equal(readFileSync(join(values, 'net.ipv4.ip_forward'), 'utf8').trim(), '0', 'ip_forward left as it was');
  } finally {
    work.remove();
  }
});
