#!/usr/bin/env node
// The build StrykerJS runs once in its sandbox (.stryker-tmp/sandbox-*), over the
// instrumented sources: the project's own build (tsc, then the bundle that
// bin/netlab runs, so that tests which spawn the command line run the mutants too).
// Stryker runs a build command without a shell and before it links node_modules
// into the sandbox, so this links it first (symlinkNodeModules is off).
import { execFileSync } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

if (!existsSync('node_modules')) {
  let dir = dirname(process.cwd());
  while (!existsSync(join(dir, 'node_modules'))) {
    if (dirname(dir) === dir) throw new Error('mutation-build: no node_modules above the sandbox');
    dir = dirname(dir);
  }
  symlinkSync(resolve(dir, 'node_modules'), 'node_modules', 'dir');
}
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
execFileSync(process.execPath, ['scripts/bundle.mjs'], { stdio: 'inherit' });
