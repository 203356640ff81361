// Helpers for end-to-end tests: run the real CLI, and snapshot everything on
// the host a lab could leave behind (namespaces, links, mounts, iptables, processes).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LABS, NETLAB } from '../paths.js';

export interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Test files run in parallel (test/run.mjs), each in a process of its own: every
 * process a file starts (netlab, simulated nodes, their scripts) inherits this
 * variable, so the file's snapshot of the host counts its own processes only.
 */
const SCOPE = 'NETLAB_TEST_SCOPE';

/**
 * Ordinary users for the labs built without root (README: "Without sudo"):
 * nobody, and a uid that /etc/passwd does not know (netlab names it "user
 * 64998"). Neither has a home; each test gives them a directory of their own.
 */
export const ORDINARY_USERS = [65534, 64998] as const;

/** The user each state directory belongs to, when not root: netlab() runs as that user. */
const owners = new Map<string, number>();

export function stateDirForTest(user?: number): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-test-'));
  process.env[SCOPE] ??= dir;
  if (user !== undefined) {
    chownSync(dir, user, user);
    owners.set(dir, user);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A command as an ordinary user runs it (setpriv: that uid and gid, no groups, as a login gives them; no sudo). */
export function asUserArgv(user: number, argv: readonly string[]): [string, string[]] {
  return ['setpriv', [`--reuid=${user}`, `--regid=${user}`, '--clear-groups', ...argv]];
}

/**
 * The environment of a user's login, for netlab run as that user: this
 * process's (PATH, the test's scope) with HOME in their directory, and
 * neither NETLAB_STATE_DIR nor XDG_STATE_HOME: their state goes to
 * ~/.local/state/netlab.
 */
export function loginEnv(home: string): Record<string, string> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !['NETLAB_STATE_DIR', 'XDG_STATE_HOME'].includes(e[0]),
    ),
  );
  return { ...env, HOME: home, FORCE_COLOR: '0' };
}

/**
 * Runs the real CLI with this state directory: as root, or as the ordinary
 * user the directory belongs to, with HOME in that directory.
 */
export async function netlab(stateDir: string, ...args: string[]): Promise<Run> {
  return netlabWithEnv(stateDir, {}, ...args);
}

/** netlab() with more in its environment (this process's is kept, as a login's would be). */
export async function netlabWithEnv(stateDir: string, env: Record<string, string>, ...args: string[]): Promise<Run> {
  const result = await startNetlab(stateDir, env, ...args);
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** netlabWithEnv() started, not awaited: for a test that signals it or reads it as it goes (never rejects). */
export function startNetlab(stateDir: string, env: Record<string, string>, ...args: string[]) {
  const user = owners.get(stateDir);
  const [command, argv] = user === undefined ? [NETLAB, args] : asUserArgv(user, [NETLAB, ...args]);
  return execa(command, argv, {
    reject: false,
    env: { ...env, NETLAB_STATE_DIR: stateDir, FORCE_COLOR: '0', ...(user === undefined ? {} : { HOME: stateDir }) },
    stdin: 'ignore',
    timeout: 120_000,
  });
}

async function text(cmd: string, args: string[]): Promise<string> {
  const result = await execa(cmd, args, { reject: false });
  return String(result.stdout);
}

/** Live processes of this test file that a lab could leave (zombies are already dead and are skipped). */
function labProcesses(): string[] {
  const found: string[] = [];
  const mine = `${SCOPE}=${process.env[SCOPE]}`;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(mine)) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (/netlab-sim:|^unshare |^nsenter |^socat |sleep infinity/.test(cmdline)) found.push(`${pid} ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found.sort();
}

/**
 * The usual frame of an end-to-end test file: a private state directory for
 * netlab (also in NETLAB_STATE_DIR, for code called in-process), removed at the
 * end, and the host as it was before the first test, to compare with.
 */
export function labTestContext(user?: number): { dir: string; pristine: () => HostSnapshot } {
  const state = stateDirForTest(user);
  let pristine: HostSnapshot | undefined;
  before(async () => {
    process.env.NETLAB_STATE_DIR = state.dir;
    pristine = await snapshotHost();
  });
  after(() => state.remove());
  return {
    dir: state.dir,
    pristine: () => {
      if (!pristine) throw new Error('the host snapshot is taken in before()');
      return pristine;
    },
  };
}

export interface HostSnapshot {
  netns: string;
  links: string;
  addresses: string;
  routes: string;
  /** the sysctls labs set (SYSCTLS): key=value, or key=- where the key does not exist */
  sysctls: string;
  /** the permanent neighbour entries: what a lab adds (traffic adds and ages the others) */
  neighbours: string;
  /** the bridges' static and permanent FDB entries (learned ones come and go with traffic) */
  fdb: string;
  mounts: string;
  iptables: string;
  processes: string[];
}

/** The sysctls labs set (the bridge ones exist only with br_netfilter loaded, which netlab never loads). */
export const SYSCTLS = [
  'net.ipv4.ip_forward',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
  'net.bridge.bridge-nf-call-arptables',
];

function sysctlValues(): string {
  return SYSCTLS.map((key) => {
    try {
      return `${key}=${readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8').trim()}`;
    } catch {
      return `${key}=-`;
    }
  }).join('\n');
}

/**
 * A device's own multicast addresses (33:33:… for IPv6, 01:00:5e:… for IPv4) are
 * listed by `bridge fdb` as permanent entries: the kernel adds and removes them as
 * the host joins and leaves groups (an IPv6 address's solicited-node group), no lab.
 */
const MULTICAST_FDB_SH = '^(33:33|01:00:5e):';
const MULTICAST_FDB = new RegExp(MULTICAST_FDB_SH);

/** FDB lines that a lab or the kernel made (static, permanent), not learned from traffic; sorted. */
const fixedFdb = (text: string) =>
  text
    .split('\n')
    .filter((l) => /\b(permanent|static)\b/.test(l) && !MULTICAST_FDB.test(l))
    .sort()
    .join('\n');

/**
 * Devices the kernel makes in every network namespace, the host's among them, when a
 * tunnel module loads (ipip's tunl0 when a probe or a lab first makes an ipip device on a
 * kernel that autoloads it): no lab's, and no lab can remove them.
 */
export const MODULE_FALLBACK_DEVICES = [
  'tunl0',
  'gre0',
  'gretap0',
  'erspan0',
  'ip_vti0',
  'sit0',
  'ip6tnl0',
  'ip6gre0',
  'ip6_vti0',
];
const isFallbackDevice = (name: string | undefined) => MODULE_FALLBACK_DEVICES.includes(name?.split('@')[0] ?? '');

export async function snapshotHost(): Promise<HostSnapshot> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ').slice(3, 5).join(' '))
    .sort()
    .join('\n');
  return {
    netns: await text('ip', ['netns', 'list']),
    links: await text('ip', ['-o', 'link', 'show']).then((t) =>
      t
        .split('\n')
        .map((l) => l.split(':')[1]?.trim())
        .filter((name) => !isFallbackDevice(name))
        .join(' '),
    ),
    addresses: await text('ip', ['-br', 'addr']).then((t) =>
      t
        .split('\n')
        .filter((l) => !isFallbackDevice(l.split(/\s/)[0]))
        .join('\n'),
    ),
    routes: await text('ip', ['route', 'show', 'table', 'all']),
    sysctls: sysctlValues(),
    neighbours: await text('ip', ['neigh', 'show', 'nud', 'permanent']),
    fdb: await text('bridge', ['fdb', 'show']).then(fixedFdb),
    mounts,
    // counters change with unrelated traffic; rules and chains must not
    iptables: await text('iptables-save', []).then((t) =>
      t
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
        .join('\n'),
    ),
    processes: labProcesses(),
  };
}

/**
 * What a lab left inside a simulated node after its undo journal ran: pod
 * namespaces, links other than lo and eth1 (and a tunnel module's fallback devices), netlab's iptables chains, files in
 * /run/netlab, and live processes other than the node's own init.
 */
export async function nodeLeftovers(
  transport: { run(script: string): Promise<{ stdout: string }> },
  ownLinks = ['lo', 'eth1'],
): Promise<string[]> {
  const script = [
    'ip netns list | sed "s/^/netns /"',
    `ip -o link show | awk -F": " '{print $2}' | sed "s/@.*//" | grep -vxE "${[...ownLinks, ...MODULE_FALLBACK_DEVICES].join('|')}" | sed "s/^/link /"`,
    'iptables-save | grep -E "NL-|NETLAB" | sed "s/^/iptables /"',
    // The node lock (.lock, .lock-holder) stays: removing a lock file that others may be waiting on would let two holders in.
    // So does what a machine remembers of its kernel until it reboots (.kernel-seen, exec/kernel-seen.ts).
    'ls -A /run/netlab 2>/dev/null | grep -vxE "\\.lock|\\.lock-holder|\\.kernel-seen" | sed "s/^/file /"',
    // processes: skip PID 1 (the node), zombies, and this script's own shell and tools
    'for p in /proc/[0-9]*; do pid=${p#/proc/}; [ "$pid" = 1 ] && continue; [ "$pid" = $$ ] && continue; s=$(cut -d" " -f3 $p/stat 2>/dev/null); [ "$s" = Z ] && continue; c=$(tr "\\0" " " <$p/cmdline 2>/dev/null); case "$c" in ""|*"/proc/"*|"sh -s"*|cut*|tr*) continue;; esac; echo "process $pid $c"; done',
  ].join('\n');
  const { stdout } = await transport.run(`${script}\n`);
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

/**
 * What a lab could change on a node or machine beyond nodeLeftovers' objects, as
 * lines to compare before and after (stateChanges): its IPv4 routes (every table)
 * and addresses, the sysctls labs set, its permanent neighbour entries and its
 * static and permanent FDB entries. Neighbour entries learned from traffic (and
 * their states, REACHABLE or STALE) and learned FDB entries are left out: they
 * come and go by themselves.
 */
export async function nodeState(transport: { run(script: string): Promise<{ stdout: string }> }): Promise<string[]> {
  const script = [
    'ip -4 route show table all | sed "s/^/route /"',
    `ip -4 -o addr show | awk '{print "address " $2 " " $4}'`,
    ...SYSCTLS.map((key) => `echo "sysctl ${key}=$(cat /proc/sys/${key.replaceAll('.', '/')} 2>/dev/null || echo -)"`),
    'ip neigh show nud permanent | sed "s/^/neighbour /"',
    `bridge fdb show | grep -wE "permanent|static" | grep -vE '${MULTICAST_FDB_SH}' | sed "s/^/fdb /"`,
  ].join('\n');
  const { stdout } = await transport.run(`${script}\n`);
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .sort();
}

/** What differs between two nodeState answers: `+ line` is new, `- line` is gone. */
export function stateChanges(before: readonly string[], after: readonly string[]): string[] {
  const was = new Set(before);
  const is = new Set(after);
  return [
    ...after.filter((l) => !was.has(l)).map((l) => `+ ${l}`),
    ...before.filter((l) => !is.has(l)).map((l) => `- ${l}`),
  ];
}

/**
 * The scale lab with fewer pods per node, written into dir: the same code
 * paths (counted pods, veths made in the pod, one ip -batch per namespace) in
 * a fraction of the time; its full size is measured by the benchmark.
 */
export function smallScaleLab(dir: string, pods: number): string {
  const file = join(dir, 'scale.yaml');
  writeFileSync(
    file,
    readFileSync(join(LABS, 'scale.yaml'), 'utf8')
      .replace(/pods: 250/g, `pods: ${pods}`)
      .replace(/p(\d)-249/g, `p$1-${pods - 1}`)
      .replace(/p2-123/g, `p2-${pods - 3}`),
  );
  return file;
}

/**
 * The iptables command that drops the first of every two packets a chain sees
 * that match (statistic nth: the first is packet 0): a packet lost once, as a
 * busy network or a router's rate limit loses one.
 */
export function dropFirstOfTwo(chain: string, ...match: string[]): string[] {
  return [
    'iptables',
    '-A',
    chain,
    ...match,
    '-m',
    'statistic',
    '--mode',
    'nth',
    '--every',
    '2',
    '--packet',
    '0',
    '-j',
    'DROP',
  ];
}

/**
 * An up of the ipip lab on a kernel without IP-in-IP that was remembered as
 * having it (exec/kernel-seen.ts): no preflight verdict, the tunnel's step
 * fails in the kernel's words and is rolled back, and up says `notProbed` of
 * the kernels it did not probe.
 */
export function assertUnprobedIpipFailed(up: Run, notProbed: RegExp): void {
  assert.equal(up.exitCode, 1, up.stdout + up.stderr);
  assert.doesNotMatch(up.stderr, /nothing was changed/, 'no preflight verdict: the kernel was not probed');
  assert.match(
    up.stderr,
    /step \d+ on node-\d failed: create the IP-in-IP tunnel ipip0\n {2}\$ ip tunnel add ipip0 mode ipip/,
  );
  assert.match(up.stderr, /rolled back: nothing is left on the nodes/);
  assert.match(up.stderr, notProbed);
}
