#!/usr/bin/env node
// `npm run mutation [-- MODULE...]`: mutation testing of the pure modules with
// StrykerJS (stryker.config.mjs), one module at a time, at the lowest CPU
// priority (nice 19) and one test process at a time: the machine is shared.
// Writes reports/mutation/NAME.html and NAME.json per module and
// reports/mutation/summary.md (the table TESTING.md keeps), and prints it.
// A module is a path under src/ (src/os/quote.ts) or its short name (quote).
// `--concurrency N` runs N test processes at once (default 1: the machine is shared).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

// The pure, security-relevant modules (issue 33), the most sensitive first.
export const MODULES = [
  'src/os/quote.ts',
  'src/model/grammar.ts',
  'src/net/ipv4.ts',
  'src/lab/read.ts',
  'src/lab/load.ts',
  'src/lab/document.ts',
  'src/lab/bounds.ts',
  'src/exec/inventory.ts',
  'src/exec/ssh-args.ts',
  'src/lab/schema.ts',
  // what an attached controller takes from a machine's records
  'src/lifecycle/attach-record.ts',
  // the lab's semantic checks and defaults
  'src/lab/resolve.ts',
  'src/lab/resolve-pods.ts',
  'src/lab/resolve-checks.ts',
  'src/model/lab.ts',
  'src/underlay/routing.ts',
  'src/underlay/resolve.ts',
  'src/plan/build.ts',
  'src/faults/faults.ts',
  'src/verify/diagnose.ts',
  // a room's grading: what is solved, and where a fault lands
  'src/room/score.ts',
  'src/room/landing.ts',
  'src/room/overlay.ts',
];

const args = process.argv.slice(2);
const at = args.indexOf('--concurrency');
const concurrency = at >= 0 ? args.splice(at, 2)[1] : '1';
if (!/^[1-9]$/.test(concurrency ?? '')) {
  console.error(`mutation: --concurrency takes a number from 1 to 9; found ${concurrency}`);
  process.exit(2);
}
const wanted = args;
const modules = wanted.length
  ? wanted.map((m) => (existsSync(m) ? m : MODULES.find((x) => basename(x, '.ts') === m)) ?? m)
  : MODULES;
for (const m of modules) {
  if (!existsSync(m)) {
    console.error(`mutation: no module ${m} (one of: ${MODULES.map((x) => basename(x, '.ts')).join(', ')})`);
    process.exit(2);
  }
}

mkdirSync('reports/mutation', { recursive: true });
const summaryFile = 'reports/mutation/summary.json';
const summary = existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : {};
// The fuzz test of test/unit/hostile-input runs 3000 random labs from a clock seed;
// here it runs a fixed seed and fewer runs, so that a mutant's result is reproducible.
const env = {
  ...process.env,
  NETLAB_FUZZ_SEED: process.env.NETLAB_FUZZ_SEED ?? '424242',
  NETLAB_FUZZ_RUNS: process.env.NETLAB_FUZZ_RUNS ?? '300',
};

let failed = false;
for (const module of modules) {
  const name = module
    .replace(/^src\//, '')
    .replace(/\.ts$/, '')
    .replaceAll('/', '-');
  const started = Date.now();
  console.log(`# mutation: ${module}`);
  const run = spawnSync(
    'nice',
    [
      '-n',
      '19',
      process.execPath,
      'node_modules/@stryker-mutator/core/bin/stryker.js',
      'run',
      '--mutate',
      module,
      '--concurrency',
      concurrency,
    ],
    { stdio: 'inherit', env: { ...env, NETLAB_MUTATION_NAME: name } },
  );
  const seconds = Math.round((Date.now() - started) / 1000);
  if (run.status !== 0) {
    console.error(`# mutation: ${module}: stryker exited ${run.status ?? run.signal}`);
    failed = true;
    continue;
  }
  const report = JSON.parse(readFileSync(`reports/mutation/${name}.json`, 'utf8'));
  const counts = { Killed: 0, Survived: 0, Timeout: 0, NoCoverage: 0, CompileError: 0, RuntimeError: 0, Ignored: 0 };
  for (const file of Object.values(report.files))
    for (const mutant of file.mutants) counts[mutant.status] = (counts[mutant.status] ?? 0) + 1;
  summary[module] = { date: new Date().toISOString().slice(0, 10), seconds, ...counts };
  writeFileSync(summaryFile, `${JSON.stringify(summary, null, 2)}\n`);
}

// Killed % is of the mutants that ran or could have (killed, timeout, survived, no coverage);
// a timeout counts as detected, as in Stryker's own score.
const rows = Object.entries(summary).map(([module, s]) => {
  const valid = s.Killed + s.Timeout + s.Survived + s.NoCoverage;
  const pct = (n) => (valid ? `${((100 * n) / valid).toFixed(1)}%` : '-');
  return `| ${module} | ${s.date} | ${s.Killed} | ${s.Survived} | ${s.Timeout} | ${s.NoCoverage} | ${pct(s.Killed)} | ${pct(s.Killed + s.Timeout)} | ${s.seconds} s |`;
});
const table = [
  '| module | date | killed | survived | timeout | no coverage | killed % | score | time |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows,
].join('\n');
writeFileSync('reports/mutation/summary.md', `${table}\n`);
console.log(`\n${table}`);
process.exit(failed ? 1 : 0);
