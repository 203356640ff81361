// Writes V8's code caches of the two bundles, read by bin/load.cjs; run by scripts/bundle.mjs, in a
// process of its own. The bundles are compiled without a cache and run commands; V8's cache of each
// then holds every function of it that they compiled:
// - `netlab plan labs/vxlan.yaml`, with an empty state directory of its own, so that the lab goes
//   through the parser: the command line's parsing of a command, and in the commands' bundle the
//   lab parser and its schema, and the plan;
// - `netlab up` and `netlab down` of that lab on simulated nodes, in a sandbox: a user namespace of
//   its own (which an ordinary user may make: it has capabilities only over the namespaces it owns),
//   with its own network, mount and PID namespaces.
//   The lab's holders are made inside it and the kernel kills them all when the sandbox's first
//   process ends (PID 1 of a PID namespace); a simulated lab changes nothing of the host but its
//   state directory (a temporary one) and its processes. So the cache also holds what `up` and
//   `down` compile: the runner, the node scripts, the simulated nodes, the preflight, the state's
//   writes (4-13 ms of `up` of the bridge lab, BENCHMARKS.md). Where no user namespace can be made
//   (a container that forbids it), or the lab cannot be made (a kernel without veth), the build's
//   own process writes the caches from `plan` and `--help` alone;
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
/** Set in the sandbox's environment: this process runs in it. */
const IN_SANDBOX = 'NETLAB_CODE_CACHE_SANDBOX';
/**
 * The sandbox: a user namespace where the builder keeps their uid (root stays root and runs `up` as root does; a user
 * runs it as netlab without sudo, in a user namespace of its own inside), with network, mount and PID namespaces of
 * its own (/proc its PID namespace's).
 */
const SANDBOX = [
  process.getuid() === 0 ? '--map-root-user' : '--map-current-user',
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

/** Writes the caches in the sandbox, if one can be made here; false where none could (it says why on stderr). */
function inSandbox() {
  const env = { ...process.env, [IN_SANDBOX]: '1' };
  // Under sudo, netlab gives the files it writes back to the user: their uid is not mapped in the sandbox.
  for (const name of ['SUDO_UID', 'SUDO_GID', 'SUDO_USER']) delete env[name];
  const run = spawnSync('unshare', [...SANDBOX, process.execPath, __filename], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    // (a build never waits for long: the lab is up and down in about a second)
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  if (run.status === 0) return true;
  const why = run.error?.message ?? (run.stderr.trim() || `exit ${run.status ?? run.signal}`);
  process.stderr.write(`code-cache: no \`up\` in a sandbox (${why}); the caches hold \`plan\` and \`--help\` alone\n`);
  return false;
}

async function writeCodeCaches(inSandbox) {
  // An earlier build's caches would not be these bundles': every start would hash them to find that out.
  for (const bundle of [BUNDLE, COMMANDS_BUNDLE]) rmSync(cacheOf(bundle), { force: true });
  const stateDir = mkdtempSync(join(tmpdir(), 'netlab-code-cache-'));
  try {
    process.env.NETLAB_STATE_DIR = stateDir;
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
    writeFileSync(RECORD, `${JSON.stringify({ ran, sandbox: inSandbox }, null, 2)}\n`);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

if (process.env[IN_SANDBOX]) {
  // A failure here (exit 1, said on stderr) leaves the caches to the build's own process, without up and down.
  writeCodeCaches(true).catch((error) => {
    process.stderr.write(`${error?.message}\n`);
    process.exitCode = 1;
  });
} else if (!inSandbox()) {
  writeCodeCaches(false).catch((error) => {
    process.stderr.write(`code-cache: no code cache written, netlab will start 5-70 ms later: ${error?.message}\n`);
    process.exitCode = 0;
  });
}
