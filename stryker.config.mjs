// StrykerJS configuration for `npm run mutation` (scripts/mutation.mjs runs it
// one module at a time with --mutate; see TESTING.md for why this setup).
// Stryker instruments the TypeScript sources in a sandbox (all mutants in one
// build, switched on at run time by __STRYKER_ACTIVE_MUTANT__), builds the
// sandbox once with the project's own build, and runs the compiled unit test
// files with its TAP runner: `node -r <stryker hook> dist/test/unit/X.test.js`,
// which prints TAP because stdout is a pipe. Each test file is one "test" for
// Stryker: a mutant runs only the files whose process reached it.
// scripts/mutation.mjs names each module's reports through NETLAB_MUTATION_NAME.
import { readdirSync } from 'node:fs';

const name = process.env.NETLAB_MUTATION_NAME ?? 'mutation';

export default {
  packageManager: 'npm',
  testRunner: 'tap',
  tap: {
    // learner.test runs the CLI as the user nobody, who cannot enter Stryker's private sandbox;
    // it tests the state directory's access, no module that is mutated here.
    testFiles: readdirSync('test/unit')
      .filter((f) => f.endsWith('.test.ts') && f !== 'learner.test.ts')
      .map((f) => `dist/test/unit/${f.replace(/\.ts$/, '.js')}`),
    forceBail: true,
  },
  checkers: [],
  buildCommand: 'node scripts/mutation-build.mjs',
  symlinkNodeModules: false,
  coverageAnalysis: 'perTest',
  // The machine is shared (CI, the e2e tier): one test process at a time.
  concurrency: 1,
  // Test files take 0.2 s to 20 s; a shared, niced machine makes their times vary.
  timeoutMS: 20000,
  timeoutFactor: 2.5,
  // The sandbox gets the sources and the tests; dist is built in it.
  ignorePatterns: ['dist', 'reports', 'bench', '.vagrant', '.ci', '*.md', '!README.md'],
  // README.md stays: the unit tier reads it (its examples and shown output are tested).
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  reporters: ['json', 'html', 'clear-text'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  thresholds: { high: 85, low: 70, break: null },
};
