#!/usr/bin/env node
// `npm run soak` (as root): is `verify` of a freshly built lab ever wrong? Loops
// up → verify → down of the VXLAN labs, on simulated nodes and (with --vm) on the
// real-kernel VMs, optionally under CPU load, and prints every failure in full
// with the tally. A tool for a person; nothing here is a test.
//
//   node bench/verify-loop.mjs [--runs N] [--labs vxlan,vxlan-3] [--load] [--vm]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NETLAB = join(ROOT, 'bin', 'netlab');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    labs: { type: 'string', default: 'vxlan,vxlan-3' },
    load: { type: 'boolean', default: false },
    vm: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const labs = values.labs.split(',');
const work = mkdtempSync(join(tmpdir(), 'netlab-soak-'));
const stateDir = join(work, 'state');
mkdirSync(stateDir);
const env = { ...process.env, NETLAB_STATE_DIR: stateDir, FORCE_COLOR: '0', XDG_RUNTIME_DIR: work };

// CPU load: one busy loop per core, for as long as the soak runs.
const burners = values.load
  ? Array.from({ length: 2 }, () => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }))
  : [];
let vms;
const stop = () => {
  for (const b of burners) b.kill('SIGKILL');
  vms?.stop();
};
process.on('exit', stop);
process.on('SIGINT', () => process.exit(130));

let target = [];
if (values.vm) {
  const image = spawnSync(process.execPath, [join(ROOT, 'test/vm/build-image.mjs')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).stdout.trim();
  const { bootVMs } = await import(join(ROOT, 'dist/test/vm/vms.js'));
  vms = await bootVMs(['node-0', 'node-1', 'node-2'], image, work);
  target = ['--ssh-config', vms.sshConfig];
}

const netlab = (...args) => spawnSync(NETLAB, args, { env, encoding: 'utf8', timeout: 300_000 });
const tally = Object.fromEntries(labs.map((l) => [l, { runs: 0, upFailed: 0, verifyFailed: 0, reverifyFailed: 0 }]));
const started = Date.now();
try {
  for (let i = 1; i <= runs; i++) {
    for (const lab of labs) {
      const t = tally[lab];
      t.runs += 1;
      const up = netlab('up', join(ROOT, 'labs', `${lab}.yaml`), '--verify', ...target);
      if (up.status !== 0) {
        const verifyFailed = /checks failed/.test(up.stdout);
        if (verifyFailed) t.verifyFailed += 1;
        else t.upFailed += 1;
        console.log(`--- ${lab} run ${i}: up --verify exit ${up.status}\n${up.stdout}${up.stderr}`);
        // Right after a failure: does it pass a moment later (a race) or stay broken?
        const again = netlab('verify', lab);
        console.log(`--- ${lab} run ${i}: verify again: exit ${again.status}\n${again.stdout}`);
      } else {
        const again = netlab('verify', lab);
        if (again.status !== 0) {
          t.reverifyFailed += 1;
          console.log(`--- ${lab} run ${i}: second verify exit ${again.status}\n${again.stdout}${again.stderr}`);
        }
      }
      const down = netlab('down', lab);
      if (down.status !== 0) throw new Error(`down ${lab}: ${down.stdout}${down.stderr}`);
    }
    process.stderr.write(`soak: ${i}/${runs} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  }
} finally {
  stop();
  rmSync(work, { recursive: true, force: true });
}
console.log(
  `soak: ${runs} runs of ${labs.join(', ')} on ${values.vm ? 'the QEMU VMs over SSH' : 'simulated nodes'}${values.load ? ', under CPU load' : ''}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
for (const [lab, t] of Object.entries(tally))
  console.log(
    `  ${lab}: ${t.runs} up --verify, ${t.upFailed} up failed, ${t.verifyFailed} verify failed, ${t.reverifyFailed} second verify failed`,
  );
