// Output that fits a screen: long evidence summarized, per-node progress of a
// long phase counted from the node script's markers, and the live display only
// on a terminal that says how wide it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { EVIDENCE_LINES, evidenceLines } from '../../src/lifecycle/verify.js';
import { countSteps } from '../../src/exec/runner.js';
import { PassThrough } from 'node:stream';
import { duration, linesInColour, liveProgress, runProgress } from '../../src/lifecycle/progress.js';
import { run } from '../../src/exec/spawn.js';
import { ShellSession } from '../../src/exec/session.js';
import { MAX_SCRIPT_OUTPUT } from '../../src/exec/transport.js';
import { transportOf } from '../../src/exec/transports.js';
import { RunError } from '../../src/errors.js';

test('evidence of a few lines is printed whole; a long table is counted, with its static entries and a sample', () => {
  const short = { node: 'node-0', title: 'FDB', lines: ['a dst 192.168.64.5 self', 'b master br0'] };
  assert.deepEqual(evidenceLines(short), short.lines);
  const learned = Array.from({ length: 580 }, (_, i) => `02:00:00:00:${String(i % 100).padStart(2, '0')} master br0`);
  const long = {
    node: 'node-0',
    title: 'FDB',
    lines: [
      ...learned,
      '02:00:00:00:00:aa dst 192.168.64.5 self',
      '00:00:00:00:00:00 dst 239.1.1.1 via eth1 self permanent',
    ],
  };
  const summary = evidenceLines(long);
  assert.equal(summary.length, EVIDENCE_LINES + 1);
  assert.ok(summary.includes('00:00:00:00:00:00 dst 239.1.1.1 via eth1 self permanent'), 'the entry the lab made');
  assert.ok(summary.includes('02:00:00:00:00:aa dst 192.168.64.5 self'), 'an entry naming a remote node');
  assert.equal(
    summary.at(-1),
    `… and ${582 - EVIDENCE_LINES} more (582 in all: \`netlab verify --evidence full\`, or --json)`,
  );
  // In the order the kernel listed them.
  assert.ok(summary.indexOf(learned[0]!) < summary.indexOf('02:00:00:00:00:aa dst 192.168.64.5 self'));
  assert.deepEqual(evidenceLines(long, true), long.lines);
});

test("a phase's progress counts each node's finished steps as the output arrives, markers split across chunks", () => {
  const seen: number[] = [];
  const feed = countSteps((done) => seen.push(done));
  feed('@@netlab begin 1\n@@netlab done 1\n@@netlab begin 2\n@@netl');
  feed('ab done 2\n@@netlab done 3');
  assert.deepEqual(seen, [1, 2]);
  feed('\nnoise\n');
  assert.deepEqual(seen, [1, 2, 3]);
});

test('counting steps is linear in the output: 64 MiB on one line, then markers, is counted well within 20 s', async () => {
  // In a worker, so that a quadratic count (the pending line joined again on
  // every chunk: about 45 s here) is stopped by the time-out instead of hanging
  // the test; a linear one needs well under a second of CPU, and the time-out
  // leaves it 20 s: in CI the unit tier runs at nice 10 beside the e2e tier,
  // which can leave it a tenth of a core.
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData).then(({ countSteps }) => {
      let count = 0;
      const feed = countSteps((done) => (count = done));
      const chunk = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 1024; i++) feed(chunk);
      feed('\\n@@netlab done 1\\n@@netl');
      feed('ab done 2\\n');
      parentPort.postMessage(count);
    });
  `;
  const worker = new Worker(code, {
    eval: true,
    workerData: new URL('../../src/exec/runner.js', import.meta.url).href,
  });
  const timer = setTimeout(() => void worker.terminate(), 20_000);
  try {
    const count = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', () => reject(new Error('no count within 20 s: the work grows faster than the output')));
    });
    assert.equal(count, 2);
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
});

test('the live progress display is drawn only on a terminal that reports a width (0 columns drew one character per line)', () => {
  assert.equal(liveProgress({ isTTY: true, columns: 120 }), true);
  assert.equal(liveProgress({ isTTY: true, columns: 0 }), false);
  assert.equal(liveProgress({ isTTY: false }), false);
  assert.equal(liveProgress({}), false);
});

/** What a stream was given, as text. */
function collected(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return { stream, text: () => chunks.join('') };
}

test("without a live display, up's progress is a line as each task starts and ends, its output under it; the first failure ends the run, on the failures' stream, and is thrown", async () => {
  const [out, failures] = [collected(), collected()];
  const ran: string[] = [];
  const failed = new Error('the step failed');
  await assert.rejects(
    runProgress(
      [
        { title: 'start', task: async (_, task) => void ran.push('start', (task.output = 'waiting for node-0')) },
        {
          title: 'phase pods',
          task: async () => {
            ran.push('pods');
            throw failed;
          },
        },
        { title: 'phase network', task: async () => void ran.push('network') },
      ],
      { display: 'lines', stream: out.stream, failures: failures.stream },
    ),
    (error) => error === failed,
  );
  assert.deepEqual(ran, ['start', 'waiting for node-0', 'pods'], 'the task after the failure did not run');
  assert.equal(out.text(), '❯ start\n› waiting for node-0\n✔ start [0.0s]\n❯ phase pods\n');
  assert.equal(failures.text(), '✖ phase pods [FAILED: the step failed]\n');
  // silent: the tasks run, nothing is written
  const quiet = collected();
  let count = 0;
  await runProgress([{ title: 'a', task: async () => void count++ }], {
    display: 'silent',
    stream: quiet.stream,
    failures: quiet.stream,
  });
  assert.deepEqual([count, quiet.text()], [1, '']);
});

test("the progress lines' colours: where no terminal is, only when FORCE_COLOR asks ('0' and 'false' do not, as for Node); at a terminal, as its tty says", () => {
  const pipe = {};
  assert.equal(linesInColour(pipe, {}), false);
  assert.equal(linesInColour(pipe, { FORCE_COLOR: '1' }), true);
  assert.equal(linesInColour(pipe, { FORCE_COLOR: '' }), true);
  assert.equal(linesInColour(pipe, { FORCE_COLOR: '0' }), false, 'listr2 took any FORCE_COLOR as forcing colour');
  assert.equal(linesInColour(pipe, { FORCE_COLOR: 'false' }), false);
  assert.equal(linesInColour({ isTTY: true, hasColors: () => false }, { FORCE_COLOR: '1' }), false);
  assert.equal(linesInColour({ isTTY: true, hasColors: () => true }, {}), true);
});

test("a task's time as listr2's timer wrote it: tenths under a second, then whole seconds, then minutes", () => {
  assert.deepEqual([0, 99, 150, 999, 1000, 12_345, 59_999, 60_000, 65_432].map(duration), [
    '0.0s',
    '0.0s',
    '0.1s',
    '0.9s',
    '1s',
    '12s',
    '59s',
    '1m0s',
    '1m5s',
  ]);
});

test("a node script's output is capped at 64 MiB by default: up to it collected whole, past it stopped and said to be", async () => {
  const MIB = 1024 * 1024;
  assert.equal(MAX_SCRIPT_OUTPUT, 64 * MIB);
  // run() (spawn.ts): the local commands and ssh's, counted in bytes, at the edge.
  const bytes = (n: number) => ['-c', `head -c ${n} /dev/zero | tr '\\0' x`];
  const whole = await run('sh', bytes(64 * MIB));
  assert.equal(whole.exitCode, 0, whole.stderr);
  assert.equal(whole.stdout.length, 64 * MIB);
  assert.equal(whole.stderr, '');
  const over = await run('sh', bytes(64 * MIB + 1));
  assert.notEqual(over.exitCode, 0);
  assert.ok(over.stdout.length <= 64 * MIB, `collected ${over.stdout.length} bytes`);
  assert.equal(over.stderr, "netlab: the node script's output passed 64 MiB; it was stopped\n");
  // A session (session.ts: every node script) with its default limit.
  const session = new ShellSession('sh', ['-s']);
  try {
    const under = await session.run(`head -c ${63 * MIB} /dev/zero | tr '\\0' x\n`);
    assert.equal(under.exitCode, 0, under.stderr);
    assert.equal(under.stdout.length, 63 * MIB);
    const past = await session.run(`head -c ${65 * MIB} /dev/zero | tr '\\0' x\n`);
    assert.notEqual(past.exitCode, 0);
    assert.ok(past.stdout.length <= 64 * MIB, `collected ${past.stdout.length} characters`);
    assert.match(past.stderr, /the node script's output passed 64 MiB; it was stopped\n$/);
  } finally {
    await session.close();
  }
});

test('a program killed by a signal exits 128 + its number, as a shell says it (SIGKILL 137, SIGTERM 143, SIGINT 130)', async () => {
  for (const [signal, code] of [
    ['KILL', 137],
    ['TERM', 143],
    ['INT', 130],
  ] as const)
    assert.equal((await run('sh', ['-c', `kill -${signal} $$`])).exitCode, code, signal);
  assert.equal((await run('sh', ['-c', 'exit 3'])).exitCode, 3);
});

test('a node that state has not recorded (an up killed before every node had started) is said to be not running, not an internal error', () => {
  const state = { lab: 'bridge', target: { kind: 'simulated' as const, nodes: {} } };
  assert.throws(
    () => transportOf(state, 'node-0'),
    (error: unknown) =>
      error instanceof RunError &&
      error.message ===
        'node node-0 of lab bridge is not running (its up did not finish): `netlab down bridge` removes what is left',
  );
});
