// One row of the fault matrix, for the simulated nodes (fault-matrix.test.ts)
// and the VM tier alike: the fault is made by hand on a lab whose check passes;
// `trace --no-send` does not say delivered and stops where the case says,
// `status` exits 1 naming it, `verify` fails the check and its diagnosis names
// it; mending it by hand makes all three green again.
import assert from 'node:assert/strict';
import type { Fault } from '../../src/faults/faults.js';
import { quoteArgv } from '../../src/os/quote.js';
import type { Run } from './host.js';

export interface FaultCase {
  lab: string;
  fault: string;
  /** the check that must fail (1-based), and the trace that must not be delivered */
  check: number;
  trace: string[];
  /** what status and the diagnosis say */
  finding: RegExp;
  /** where trace stops, and why */
  stops: { node: string; reason: RegExp };
}

/** netlab with the test's state directory (and, on the VMs, its SSH config) */
export type Netlab = (...args: string[]) => Promise<Run>;

export const MATRIX_HEADER = `${'lab'.padEnd(8)} ${'fault'.padEnd(54)} status verify trace  mended`;

/**
 * One check of the lab, a Service check with fewer connections: each that fails waits for its
 * timeout. Broken, 4 are enough: the check fails if one fails, and also if the broken endpoint
 * never answers; healthy, 24 make a spread over both endpoints that passes the check's test but
 * for a chance of 2 × 2⁻²⁴ (at 16, 3e-5 a check: about one run of the tests in 3000 failed by it).
 */
function verifyCheck(netlab: Netlab, lab: string, check: number, broken = false) {
  return netlab(
    'verify',
    lab,
    '--check',
    String(check),
    '--connections',
    broken ? '4' : '24',
    ...(broken ? ['--json'] : []),
  );
}

/** The fault's commands on its node, in one `netlab exec` (a shell running them in order, stopping at the first that fails). */
async function onNode(netlab: Netlab, node: string, commands: readonly (readonly string[])[]): Promise<void> {
  const script = commands.map((c) => quoteArgv(c)).join(' && ');
  const run = await netlab('exec', node, '--', 'sh', '-c', script);
  assert.equal(run.exitCode, 0, `${script}: ${run.stderr}`);
}

/**
 * Runs one case on a lab that is up; `checked`: the case's check passed just before (it
 * teaches the nodes their neighbours), so it is not run again first. The matrix row.
 */
export async function faultRow(netlab: Netlab, c: FaultCase, fault: Fault, checked = false): Promise<string> {
  const lab = c.lab;
  if (!checked) {
    const before = await verifyCheck(netlab, lab, c.check);
    assert.equal(before.exitCode, 0, before.stdout);
  }
  await onNode(netlab, fault.node, fault.apply);
  const row: string[] = [];
  try {
    // First, from the tables as they are: a probe that gets no answer (and verify's) would
    // make ARP forget a neighbour, and the walk would stop there instead of at the fault.
    const trace = await netlab('trace', ...c.trace, '--no-send', '--json');
    const walked = JSON.parse(trace.stdout) as { outcome: string; problem?: { node: string; reason: string } };
    assert.equal(trace.exitCode, 1, trace.stdout);
    assert.notEqual(walked.outcome, 'delivered', `${c.fault}: ${trace.stdout}`);
    assert.equal(walked.problem!.node, c.stops.node, walked.problem!.reason);
    assert.match(walked.problem!.reason, c.stops.reason);

    const status = await netlab('status');
    assert.equal(status.exitCode, 1, `status exits 1 on ${c.fault}: ${status.stdout}`);
    assert.match(status.stdout, c.finding);
    row.push('exit 1');

    // verify --json, as a tool reads it: the check fails, and the findings name the fault as status does.
    const verify = await verifyCheck(netlab, lab, c.check, true);
    assert.equal(verify.exitCode, 1, `verify fails on ${c.fault}: ${verify.stdout}`);
    const verified = JSON.parse(verify.stdout) as {
      checks: { ok: boolean }[];
      findings: { node: string; step: number; what: string; summary: string }[];
    };
    assert.ok(verified.checks.length === 1 && !verified.checks[0]!.ok, `the check itself fails on ${c.fault}`);
    const findings = verified.findings.map((f) => `${f.node}: ${f.what} (step ${f.step}: ${f.summary})`);
    assert.ok(
      findings.some((f) => c.finding.test(f)),
      `${c.fault}: ${findings.join('\n')}`,
    );
    row.push('fails', walked.outcome);
  } finally {
    await onNode(netlab, fault.node, fault.mend);
  }
  assert.equal((await netlab('status')).exitCode, 0, `status is green once ${c.fault} is mended`);
  const again = await verifyCheck(netlab, lab, c.check);
  assert.equal(again.exitCode, 0, again.stdout);
  const traced = await netlab('trace', ...c.trace, '--json');
  assert.equal(traced.exitCode, 0, traced.stdout);
  row.push('green');
  return `${lab.padEnd(8)} ${c.fault.padEnd(54)} ${row.map((r) => r.padEnd(6)).join(' ')}`;
}
