// Writes V8's code caches of the two bundles, read by bin/load.cjs; run by scripts/bundle.mjs, in a
// process of its own. The bundles are compiled without a cache and run commands; V8's cache of each
// then holds every function of it that they compiled:
// - `netlab plan labs/vxlan.yaml`, with an empty state directory of its own, so that the lab goes
//   through the parser: the command line's parsing of a command, and in the commands' bundle the
//   lab parser and its schema, and the plan;
// - `netlab up` and `netlab down` of that lab on simulated nodes, in a sandbox (SANDBOX, below):
//   network, mount and PID namespaces of its own (a user's in a user namespace, which an ordinary
//   user may make). The lab's holders are made inside it, and the kernel kills them all when the
//   sandbox's first process ends (PID 1 of a PID namespace), as the build does if it dies first. A
//   simulated lab changes nothing of the host's network, routes, iptables or /run; the kernel loads
//   the modules of its devices and rules (bridge, veth, vxlan, iptables' and xt_comment), as for
//   any lab, and its state is in a temporary directory the build removes. So the cache also holds what `up` and `down` compile: the
//   runner, the node scripts, the simulated nodes, the preflight, the state's writes (4-13 ms of
//   `up` of the bridge lab, BENCHMARKS.md). Where no sandbox can be made (a container that forbids
//   user namespaces, a container without the capability to make namespaces), or the lab cannot be
//   made (a kernel without veth), the build's own process writes the caches from `plan` and
//   `--help`, and the record says why;
// - `netlab --help`: the command line's help.
// What other commands compile beyond that, V8 compiles when they run, as it would without a cache.
// dist/bundle/code-cache.json records what ran, and where.
//
// A cache only makes netlab start sooner: a run that fails says so and leaves no cache, and the
// build goes on (test/unit/command-line checks that the build's caches are used).
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdtempSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const {
  BUNDLE,
  COMMANDS_BUNDLE,
  cacheFileOf,
  cacheOf,
  commandsLoaded,
  compileWithoutCaches,
  loadBundle,
} = require('../bin/load.cjs');

const LAB = join(__dirname, '..', 'labs', 'vxlan.yaml');
/** Set in the sandbox's environment to the directory it works in: this process runs in the sandbox. */
const IN_SANDBOX = 'NETLAB_CODE_CACHE_SANDBOX';
/**
 * The sandbox: network, mount and PID namespaces of its own (/proc its PID namespace's), so that the lab reaches
 * nothing of the host's network and its processes end with the sandbox. A user makes them in a user namespace where
 * they keep their uid, and runs `up` as netlab without sudo does (in a user namespace of its own inside). Root
 * runs it as root does, in no user namespace: one that maps root alone could not read a checkout in a home
 * directory others may not enter (the kernel grants its root nothing over files of uids it does not map), and one
 * that maps every uid needs newuidmap (the uidmap package). setpriv's parent-death signal ends the sandbox, and
 * with it the lab, if the build dies first.
 */
const SANDBOX = [
  'setpriv',
  '--pdeathsig',
  'KILL',
  '--',
  'unshare',
  ...(process.getuid() === 0 ? [] : ['--map-current-user']),
  '--net',
  '--mount',
  '--pid',
  '--fork',
  '--kill-child',
  '--mount-proc',
];
const RECORD = join(__dirname, '..', 'dist', 'bundle', 'code-cache.json');

/**
 * The commands run to fill the caches. --help last: its functions, compiled by it alone, are the command
 * line's cache's whatever V8 flushes before it.
 */
function runsFor(inSandbox) {
  const lab = inSandbox
    ? [
        ['up', LAB],
        ['down', LAB],
      ]
    : [];
  return [['plan', LAB], ...lab, ['--help']];
}

/**
 * netlab's state for these runs, in a directory of their own (removed by the build's process, whatever happens in
 * the sandbox). Root's is named (NETLAB_STATE_DIR); a user's is their default under a home of its own: a directory a
 * user names is refused under one of another user's, and in the sandbox root's own directories (/, /tmp) belong to
 * nobody the user namespace knows.
 */
function stateEnvironment(dir) {
  if (process.getuid() === 0) {
    process.env.NETLAB_STATE_DIR = join(dir, 'state');
    return;
  }
  process.env.HOME = dir;
  delete process.env.NETLAB_STATE_DIR;
  delete process.env.XDG_STATE_HOME;
}

/** Writes the caches in the sandbox, if one can be made here: undefined; else why not (said on stderr too). */
function writeInSandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-code-cache-'));
  try {
    const env = { ...process.env, [IN_SANDBOX]: dir };
    // Under sudo, netlab gives the files it writes back to the user: the state here is the build's own.
    for (const name of ['SUDO_UID', 'SUDO_GID', 'SUDO_USER']) delete env[name];
    const [program, ...args] = SANDBOX;
    const run = spawnSync(program, [...args, process.execPath, __filename], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      // (a build never waits for long: the lab is up and down in about a second)
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    if (run.status === 0) return undefined;
    const why = run.error?.message ?? (run.stderr.trim() || `exit ${run.status ?? run.signal}`);
    process.stderr.write(
      `code-cache: no \`up\` in a sandbox (${why}); the caches are made from \`plan\` and \`--help\`\n`,
    );
    return why;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the caches (and the record of how), in the sandbox or, where none could be made (`noSandbox`: why), here. */
async function writeCodeCaches(inSandbox, noSandbox) {
  // An earlier build's caches would not be these bundles': every start would hash them to find that out. A record
  // and caches half written by a sandbox that was stopped are not this run's either.
  for (const bundle of [BUNDLE, COMMANDS_BUNDLE])
    for (const file of [cacheOf(bundle), `${cacheOf(bundle)}.tmp`]) rmSync(file, { force: true });
  rmSync(RECORD, { force: true });
  const dir = inSandbox ? process.env[IN_SANDBOX] : mkdtempSync(join(tmpdir(), 'netlab-code-cache-'));
  try {
    stateEnvironment(dir);
    delete process.env.NETLAB_PROFILE;
    compileWithoutCaches();
    const { exports: netlab, script } = loadBundle(BUNDLE, { withCache: false });
    const runs = runsFor(inSandbox);
    for (const args of runs) {
      await netlab.main(['node', 'netlab', ...args]);
      if (process.exitCode) throw new Error(`\`netlab ${args.join(' ')}\` exited ${process.exitCode}`);
    }
    const scripts = [
      [BUNDLE, script],
      [COMMANDS_BUNDLE, commandsLoaded().script],
    ];
    for (const [bundle, compiled] of scripts) {
      writeFileSync(`${cacheOf(bundle)}.tmp`, cacheFileOf(bundle, compiled));
      renameSync(`${cacheOf(bundle)}.tmp`, cacheOf(bundle));
    }
    const ran = runs.map((args) => args.map((arg) => (arg === LAB ? 'labs/vxlan.yaml' : arg)).join(' '));
    const record = { ran, sandbox: inSandbox, ...(noSandbox ? { why: noSandbox } : {}) };
    writeFileSync(RECORD, `${JSON.stringify(record, null, 2)}\n`);
  } finally {
    // (the sandbox's directory is the build's process's to remove)
    if (!inSandbox) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env[IN_SANDBOX]) {
  // A failure here (exit 1, said on stderr) leaves the caches to the build's own process, without up and down.
  writeCodeCaches(true).catch((error) => {
    process.stderr.write(`${error?.message}\n`);
    process.exitCode = 1;
  });
} else {
  const noSandbox = writeInSandbox();
  if (noSandbox !== undefined)
    writeCodeCaches(false, noSandbox).catch((error) => {
      process.stderr.write(`code-cache: no code cache written, netlab will start 5-70 ms later: ${error?.message}\n`);
      process.exitCode = 0;
    });
}
