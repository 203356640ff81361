// `netlab verify`: run the lab's checks and show each with its evidence.
import chalk from 'chalk';
import { describeCheck, runChecks, type CheckResult } from '../verify/run.js';
import type { LabState } from '../state/store.js';
import { findUpLab, requireRoot, transportsOf } from './common.js';
import { collectEvidence, type NodeEvidence } from '../verify/evidence.js';

export async function verifyLab(state: LabState): Promise<CheckResult[]> {
  return runChecks(state.model, state.facts, transportsOf(state));
}

export function printEvidence(evidence: NodeEvidence[]): void {
  for (const item of evidence) {
    console.log(`${item.node}: ${item.title}`);
    for (const line of item.lines) console.log(`    ${line}`);
  }
}

export function printResults(lab: string, results: CheckResult[]): void {
  const width = Math.max(...results.map((r) => describeCheck(r.check).length), 10);
  console.log(`verify ${lab}: ${results.length} check(s)`);
  for (const r of results) {
    const mark = r.ok ? chalk.green('✓ pass') : chalk.red('✗ FAIL');
    const expectation = r.check.expect === 'fail' ? ' (expected to fail)' : '';
    console.log(`  ${mark}  ${describeCheck(r.check).padEnd(width)}  ${r.reached ? 'reached' : 'not reached'}${expectation}: ${r.evidence}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(failed === 0 ? chalk.green(`all ${results.length} checks passed`) : chalk.red(`${failed} of ${results.length} checks failed`));
}

export async function verifyCommand(arg: string | undefined, options: { json?: boolean }): Promise<number> {
  const state = findUpLab(arg);
  requireRoot('verify');
  const results = await verifyLab(state);
  const evidence = await collectEvidence(state.model, transportsOf(state));
  if (options.json) {
    console.log(JSON.stringify({ lab: state.lab, passed: results.every((r) => r.ok), checks: results.map((r) => ({ name: describeCheck(r.check), ...r })), evidence }, null, 2));
  } else {
    printResults(state.lab, results);
    printEvidence(evidence);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}
