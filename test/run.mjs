// Runs the compiled tests with node's test runner: `node test/run.mjs [unit|browser|e2e|vm]`.
// The tiers: unit, browser (the room scoreboard's page in headless Chromium: no root,
// one browser for the whole file), e2e and VM. All four: the e2e tier, the longest, from
// the start, and beside it the others (below). Within a tier, files run
// in parallel where they cannot collide: unit files are pure; each end-to-end file makes its own
// simulated nodes and machines (namespaces of their own, found by their own
// state directory) and compares only its own processes (test/e2e/host.ts), so
// they can run at once (below: where the cores allow). The VM tier boots three QEMU VMs
// (TCG: this machine's KVM does not boot them), one VM tier file at a time.
import { readdirSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';

// Measured on this 2-core machine: two e2e files at once took 905 s against 747 s one at a time
// (they are CPU-bound: ssh, node start-up, the kernel's namespace work), so e2e files run
// two at once only where there are four cores or more; on two, only the files over SSH, which
// mostly wait, run beside the others (below).
const tiers = process.argv[2] ? [process.argv[2]] : ['unit', 'browser', 'e2e', 'vm'];
const sideBySide = tiers.includes('e2e') && tiers.includes('vm');
// Beside the e2e tier the unit files run one at a time (and at nice 10, below): the e2e and VM
// tiers are CI's critical path and CPU-bound, and the unit tier has minutes to spare beside them.
const CONCURRENCY = {
  unit: sideBySide ? 1 : availableParallelism(),
  browser: 1,
  e2e: availableParallelism() >= 4 ? 2 : 1,
  vm: 1,
};
const tierFiles = (tier) => {
  const dir = join('dist', 'test', tier);
  if (!existsSync(dir)) throw new Error(`${dir} is missing: run npm run build first`);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => join(dir, f));
};
const named = (names) => (file) => names.includes(basename(file, '.test.js'));
// The e2e files over SSH (sshd in simulated machines) mostly wait: on logins, on sshd, on their
// checks' time-outs. Measured alone on this machine (2026-12-06): shared-machines 82 s of which 22 s
// of CPU, ssh 52 s with 21 s, room-ssh 38 s with 8 s; the fault matrix, 55 s with 42 s. They run
// one at a time beside the other e2e files, which run one at a time.
const overSsh = named(['room-ssh', 'shared-machines', 'ssh']);
// The README's file runs first, the only e2e file at the time (the browser and VM tiers start
// beside it, as the unit tier did before): its scenes are compared line by line, and its vxlan
// scene's hops depend on an ICMP redirect the kernel rate-limits. Tried (2026-12-05): the files over
// SSH after the VM tier's, beside the whole e2e tier: under that load the vxlan scene saw another
// traceroute and a cached ICMP redirect.
const readmeFirst = named(['readme']);
if ((tiers.includes('e2e') || tiers.includes('vm')) && process.getuid?.() !== 0) {
  console.error(
    'the end-to-end and VM tests need root (they create namespaces): run `sudo npm test`, or `npm run test:unit` for the unit tests only',
  );
  process.exit(1);
}
const env = { ...process.env };
const started = Date.now();
const seconds = (since) => ((Date.now() - since) / 1000).toFixed(0);

/** The VM image, built once and cached outside the repository: its directory, or undefined if the build failed. */
function buildVmImage() {
  return new Promise((resolve) => {
    const child = spawn(...niced('vm', [process.execPath, 'test/vm/build-image.mjs']), {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk.toString()));
    child.on('close', (code) => resolve(code === 0 ? out.trim() : undefined));
  });
}

/**
 * A tier's command, at a lower CPU priority (nice 10) when it runs beside the e2e tier: the unit
 * and browser tiers have time to spare beside it. The VM tier does not: at nice 10 its QEMU
 * processes waited on the e2e tier, and it ended last, 120 s after it (2026-12-07, on this
 * machine: all tiers in 690 s, the e2e tier's end at 570 s); at the e2e tier's priority the two
 * end together (all tiers in 599 s: VM at 583 s, e2e at 599 s).
 */
function niced(tier, argv) {
  return sideBySide && !['e2e', 'vm'].includes(tier) ? ['nice', ['-n', '10', ...argv]] : [argv[0], argv.slice(1)];
}

/**
 * Runs a tier's files (all of them, or the part named) and reads its summary for the total. Its
 * output goes through as it comes (live), or is kept and printed when it ends (a part that runs
 * beside another, so that their lines do not interleave).
 */
function runTier(tier, live, { part = tier, files = tierFiles(tier) } = {}) {
  // node --test without files would look for tests in the working directory: the scripts among them
  if (files.length === 0) throw new Error(`no test files for ${part}: were they renamed? (test/run.mjs)`);
  const args = ['--test', `--test-concurrency=${CONCURRENCY[tier] ?? 1}`, '--test-reporter=spec', ...files];
  const tierStarted = Date.now();
  return new Promise((resolve) => {
    const child = spawn(...niced(tier, [process.execPath, ...args]), {
      stdio: ['ignore', 'pipe', live ? 'inherit' : 'pipe'],
      env,
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      if (live) process.stdout.write(chunk);
      out += chunk.toString();
    });
    let err = '';
    child.stderr?.on('data', (chunk) => (err += chunk.toString()));
    child.on('close', (code) => {
      if (!live) {
        process.stdout.write(out);
        process.stderr.write(err);
      }
      const count = (name) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
      const result = { tier, code: code ?? 1, passed: count('pass'), failed: count('fail') };
      // When it ended, too: the lanes' ends say which one is CI's critical path.
      console.log(
        `# tier ${part}: ${result.passed} passed, ${result.failed} failed in ${seconds(tierStarted)} s (${seconds(started)} s after the tiers began)`,
      );
      resolve(result);
    });
  });
}

/**
 * The e2e tier: the README's file alone, then the files over SSH beside the others (above), and
 * after the files over SSH the tiers named (they end long before the others).
 */
async function runE2e(afterOverSsh) {
  const files = tierFiles('e2e');
  const first = await runTier('e2e', true, { part: 'e2e, the README', files: files.filter(readmeFirst) });
  const others = files.filter((f) => !readmeFirst(f));
  const overSshThenMore = async () => {
    const done = [await runTier('e2e', false, { part: 'e2e over SSH', files: others.filter(overSsh) })];
    for (const tier of afterOverSsh) done.push(await runTier(tier, false));
    return done;
  };
  const [main, more] = await Promise.all([
    runTier('e2e', true, { files: others.filter((f) => !overSsh(f)) }),
    overSshThenMore(),
  ]);
  return [first, main, ...more];
}

// The e2e tier runs from the start, and beside it the browser and VM tiers one after another (the
// VM image built first), and the unit tier after the e2e files over SSH: they cannot collide (the
// VM tier's machines are QEMU processes with user-mode networking and a multicast socket on
// 127.0.0.1, its state and SSH sockets in its own directory; the e2e files make namespaces of their
// own), and the VM tier mostly waits on its emulated CPUs. Measured on this 2-core machine: e2e and
// VM 557 s together against 811 s one after the other; with the unit tier before the VM tier, the
// VM tier ended last (612 s, the e2e tier at 497 s). The e2e tier's output is live; the others' is
// printed as each ends.
const afterOverSsh = sideBySide && tiers.includes('unit') ? ['unit'] : [];
const lanes = sideBySide ? [['e2e'], tiers.filter((t) => t !== 'e2e' && !afterOverSsh.includes(t))] : [tiers];
const results = (
  await Promise.all(
    lanes.map(async (lane, i) => {
      const done = [];
      for (const tier of lane) {
        if (tier === 'vm') {
          const image = await buildVmImage();
          if (!image) {
            console.log('# tier vm: the VM image could not be built (above)');
            done.push({ tier, code: 1, passed: 0, failed: 1 });
            break;
          }
          env.NETLAB_VM_IMAGE = image;
        }
        if (tier === 'e2e') done.push(...(await runE2e(afterOverSsh)));
        else done.push(await runTier(tier, i === 0));
      }
      return done;
    }),
  )
).flat();
const passed = results.reduce((sum, r) => sum + r.passed, 0);
const failed = results.reduce((sum, r) => sum + r.failed, 0);
const code = results.find((r) => r.code !== 0)?.code ?? 0;
console.log(`# all tiers in ${seconds(started)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(code);
