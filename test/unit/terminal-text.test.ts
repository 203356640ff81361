// What a node or a pod said reaches the terminal escaped: a pod (any process
// in it, or a TCP check's peer) or a node's tables may hold ESC]0;…BEL (set the
// window title) or ESC[2J (clear the screen). verify's results, evidence,
// diagnosis and traces, show's tables and trace's hops print it as \u001b...
import { test } from 'node:test';
import assert from 'node:assert/strict';
import chalk from 'chalk';
import { join } from 'node:path';
import { LABS } from '../paths.js';
import { loadLabFile } from '../../src/lab/load.js';
import { escapeControls } from '../../src/errors.js';
import { printEvidence, printResults } from '../../src/lifecycle/verify.js';
import { describeFindings } from '../../src/verify/diagnose.js';
import { renderTrace, type TraceRequest } from '../../src/trace/trace.js';
import { renderTables } from '../../src/commands/workshop.js';
import { describeDown } from '../../src/exec/runner.js';
import type { Trace } from '../../src/model/trace.js';

const HOSTILE = 'ok\x1b]0;pwned\x07\x1b[2J\r\x9b31m\u202ereversed';
/** Nothing that a terminal acts on: no C0 or C1 control but a line break, no text-direction override. */
// eslint-disable-next-line no-control-regex -- control characters are what is looked for
const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/;

/** What a function printed with console.log, colourless (chalk's own escapes aside). */
function printed(t: { mock: { method: typeof test.mock.method } }, print: () => void): string {
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => lines.push(line));
  print();
  return lines.join('\n');
}

test.before(() => {
  chalk.level = 0;
});

test('the one escaping function: every control character and direction override is shown, a line break kept unless in one line', () => {
  assert.equal(escapeControls(HOSTILE), 'ok\\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u009b31m\\u202ereversed');
  assert.equal(escapeControls('a\n\tb'), 'a\n\tb');
  assert.equal(escapeControls('a\nb', true), 'a\\nb');
});

test('verify: the result line, the evidence and the diagnosis print no raw control character', (t) => {
  const check = loadLabFile(join(LABS, 'vxlan.yaml')).model.checks[0]!;
  const results = printed(t, () =>
    printResults('vxlan', [{ check, reached: false, ok: false, evidence: `answered by ${HOSTILE}\nfake ✓ pass` }]),
  );
  assert.match(results, /answered by ok\\u001b\]0;pwned\\u0007\\u001b\[2J/);
  assert.doesNotMatch(results, RAW);
  assert.doesNotMatch(results, /\nfake/, 'a line break inside the result line is shown, not made');
  const evidence = printed(t, () =>
    printEvidence([{ node: 'node-0', title: 'FDB', lines: [HOSTILE, 'b master br0'] }]),
  );
  assert.match(evidence, /ok\\u001b/);
  assert.doesNotMatch(evidence, RAW);
  const diagnosis = describeFindings([{ node: 'node-0', step: 3, what: `link ${HOSTILE} is down`, summary: 's' }]);
  assert.doesNotMatch(diagnosis.join('\n'), RAW);
});

test('trace and show: hops, table entries, the problem and a node table print no raw control character', () => {
  const trace: Trace = {
    hops: [{ node: 'node-0', where: 'pod a0', kind: 'route', text: `via ${HOSTILE}`, entry: `default dev ${HOSTILE}` }],
    outcome: 'broken',
    problem: { node: 'node-0', where: 'pod a0', reason: `no route: ${HOSTILE}`, hint: HOSTILE },
  };
  const request = {
    from: { node: 'node-0' },
    fromLabel: 'a0',
    toLabel: 'a1',
    packet: { src: '10.0.0.1', dst: '10.0.0.2', protocol: 'icmp' },
  } as unknown as TraceRequest;
  const lines = renderTrace(request, trace, 'vxlan');
  assert.ok(lines.some((l) => l.includes('via ok\\u001b]0;pwned\\u0007')));
  assert.doesNotMatch(lines.join('\n'), RAW);
  const table = renderTables([['ip', 'link']], [`1: lo: <LOOPBACK>\n2: ${HOSTILE}: <UP>\n`], ['veth-a0']);
  assert.ok(table.some((l) => l.startsWith('2: ok\\u001b]0;pwned')));
  assert.doesNotMatch(table.join('\n'), RAW);
});

test("down: what a node's journal said it kept or could not undo prints no raw control character", () => {
  const lines = describeDown('vxlan', {
    'node-0': { found: 'unreachable', reason: HOSTILE },
  });
  assert.doesNotMatch(lines.join('\n'), RAW);
});
