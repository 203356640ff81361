// Room files (room/file.ts, room/load.ts): bad rooms → exact error messages (golden
// files, as for lab files), a valid room → its resolved Room, `netlab schema --room`,
// and the room's validate. UPDATE_GOLDEN=1 rewrites the golden files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';

import { join, relative } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { execa } from 'execa';
import { loadRoomAndLab, parseRoom } from '../../src/room/load.js';
import { loadLabFile } from '../../src/lab/load.js';
import { MAX_GROUPS, roomJsonSchema } from '../../src/room/file.js';
import { ensureRoomRecord } from '../../src/room/state.js';
import { schemaCommand } from '../../src/commands/info.js';
import { validateRoomCommand } from '../../src/commands/room-validate.js';
import { LabInputError, formatIssue, type LabIssue } from '../../src/errors.js';
import { GOLDEN, LABS, NETLAB, ROOT, golden } from '../paths.js';
import { scratch } from '../scratch.js';

const ROOMS = join(GOLDEN, 'rooms');
const NET101 = join(ROOT, 'test', 'fixtures', 'rooms', 'net101.yaml');

/** The problems a room file's text has (a LabInputError's issues), as printed. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof LabInputError, `expected a LabInputError, got ${String(error)}`);
    assert.equal(error.exitCode, 2);
    return error.issues.map(formatIssue);
  }
  assert.fail('the room was accepted');
}

/** What a command printed on stdout (console.log and process.stdout.write) and stderr, and its exit code. */
function captured(command: () => number): { code: number; stdout: string; stderr: string } {
  const [log, error, write] = [console.log, console.error, process.stdout.write.bind(process.stdout)];
  let stdout = '';
  let stderr = '';
  console.log = (...args: unknown[]) => (stdout += `${args.join(' ')}\n`);
  console.error = (...args: unknown[]) => (stderr += `${args.join(' ')}\n`);
  process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
  try {
    return { code: command(), stdout, stderr };
  } finally {
    [console.log, console.error, process.stdout.write] = [log, error, write];
  }
}

for (const file of readdirSync(ROOMS)
  .filter((f) => f.endsWith('.yaml'))
  .sort()) {
  test(`invalid room ${file}: every problem, with file:line:col, field and what is allowed`, () => {
    const path = join(ROOMS, file);
    const problems = problemsOf(() => loadRoomAndLab(relative(ROOT, path)).room);
    golden(path.replace(/\.yaml$/, '.errors'), `${problems.join('\n')}\n`);
  });
}

test('the workshop example loads: the bundled lab found, relative paths from the room file, hints default to []', () => {
  const expected = {
    name: 'net101',
    file: NET101,
    labFile: join(LABS, 'vxlan.yaml'),
    labName: 'vxlan',
    groups: [
      { name: 'g1', target: { kind: 'simulated' } },
      { name: 'g2', target: { kind: 'simulated' } },
      { name: 'g3', target: { kind: 'ssh-config', file: join(ROOT, 'test', 'fixtures', 'rooms', 'groups', 'g3.ssh') } },
    ],
    schedule: [{ challenge: 'wrong-vni', minutes: 20, hints: [5, 10] }],
  };
  assert.deepEqual(loadRoomAndLab(NET101).room, expected);
  // The same from a relative name: the paths are the room file's, not the working directory's.
  assert.deepEqual(loadRoomAndLab(relative(process.cwd(), NET101)).room, expected);
  assert.deepEqual(parseRoom(readFileSync(NET101, 'utf8'), NET101), expected);
  // A room command reads its lab once: the model the room's checks read, as the lab file gives it.
  const { room, model } = loadRoomAndLab(NET101);
  assert.deepEqual({ room, model }, { room: expected, model: loadLabFile(expected.labFile).model });
});

test('a room with every target, a lab file beside it, a secret; a schedule entry without hints has none', () => {
  const work = scratch('netlab-room-');
  try {
    mkdirSync(join(work.dir, 'machines', 'g3'), { recursive: true });
    writeFileSync(join(work.dir, 'machines', 'g2.ssh'), 'Host node-0\n');
    writeFileSync(join(work.dir, 'machines', 'g3', 'Vagrantfile'), '');
    writeFileSync(join(work.dir, 'g4.inventory'), 'nodes: {}\n');
    writeFileSync(
      join(work.dir, 'my-lab.yaml'),
      readFileSync(join(LABS, 'vxlan.yaml'), 'utf8').replace(/^name: vxlan$/m, 'name: mine'),
    );
    const file = join(work.dir, 'room.yaml');
    writeFileSync(
      file,
      [
        'room: every.target_1',
        'lab: my-lab.yaml',
        'secret: "0123456789abcdef-!"',
        'groups:',
        '  g1: { simulated: true }',
        '  g2: { ssh-config: machines/g2.ssh }',
        '  g3: { vagrant-dir: machines/g3 }',
        '  g4: { inventory: g4.inventory }',
        `  g5: { ssh-config: ${join(work.dir, 'machines', 'g2.ssh')} }`,
        'schedule:',
        '  - { challenge: mtu, minutes: 12.5 }',
        '  - { challenge: wrong-vni, minutes: 20, hints: [0.5, 3, 19.5] }',
        '',
      ].join('\n'),
    );
    assert.deepEqual(loadRoomAndLab(file).room, {
      name: 'every.target_1',
      file,
      labFile: join(work.dir, 'my-lab.yaml'),
      labName: 'mine',
      secret: '0123456789abcdef-!',
      groups: [
        { name: 'g1', target: { kind: 'simulated' } },
        { name: 'g2', target: { kind: 'ssh-config', file: join(work.dir, 'machines', 'g2.ssh') } },
        { name: 'g3', target: { kind: 'vagrant-dir', dir: join(work.dir, 'machines', 'g3') } },
        { name: 'g4', target: { kind: 'inventory', file: join(work.dir, 'g4.inventory') } },
        { name: 'g5', target: { kind: 'ssh-config', file: join(work.dir, 'machines', 'g2.ssh') } },
      ],
      schedule: [
        { challenge: 'mtu', minutes: 12.5, hints: [] },
        { challenge: 'wrong-vni', minutes: 20, hints: [0.5, 3, 19.5] },
      ],
    });
    // From a relative room file, the lab's model names its file as the room does: absolute.
    const { model } = loadRoomAndLab(relative(process.cwd(), file));
    assert.deepEqual([model.name, model.file], ['mine', join(work.dir, 'my-lab.yaml')]);
  } finally {
    work.remove();
  }
});

test("a room whose lab file has problems reports them as they are, naming the lab file, after the room's own", () => {
  const work = scratch('netlab-room-');
  try {
    writeFileSync(join(work.dir, 'broken.yaml'), 'nodes: { node-0: {} }\npods:\n  a0: { node: node-9 }\n');
    const room = join(work.dir, 'room.yaml');
    writeFileSync(room, 'room: r\nlab: broken.yaml\ngroups:\n  g1: {}\n');
    let issues: LabIssue[] = [];
    try {
      loadRoomAndLab(room);
    } catch (error) {
      assert.ok(error instanceof LabInputError);
      issues = error.issues;
    }
    assert.deepEqual(
      issues.map((i) => [i.file, i.line, i.path]),
      [
        [room, 4, 'groups.g1'],
        [join(work.dir, 'broken.yaml'), 3, 'pods.a0.node'],
      ],
    );
    assert.match(issues[1]!.message, /unknown node "node-9".*; allowed: node-0/);
  } finally {
    work.remove();
  }
});

test('a room name is a directory name: no "/", and neither "." nor ".." (no name starts with a dot)', () => {
  for (const name of ['..', '.', 'a/b', '.hidden', '-r', 'x'.repeat(33)]) {
    const problems = problemsOf(() =>
      parseRoom(`room: ${JSON.stringify(name)}\nlab: vxlan\ngroups: { g1: { simulated: true } }\n`, 'r.yaml'),
    );
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^r\.yaml:1:7: room: found .*; allowed: /);
  }
});

test('the counts are checked first: more groups than MAX_GROUPS, or schedule entries than a lab has challenges', () => {
  const groups = Array.from({ length: MAX_GROUPS + 1 }, (_, i) => `  g${i}: { bogus: 1 }`).join('\n');
  assert.deepEqual(
    problemsOf(() => parseRoom(`room: r\nlab: nothere\ngroups:\n${groups}\n`, 'r.yaml')),
    [
      `r.yaml:4:3: groups: found ${MAX_GROUPS + 1} groups; allowed: at most ${MAX_GROUPS} (netlab's limit for one room)`,
    ],
  );
  const ok = Array.from({ length: MAX_GROUPS }, (_, i) => `  g${i}: { simulated: true }`).join('\n');
  assert.equal(parseRoom(`room: r\nlab: vxlan\ngroups:\n${ok}\n`, 'r.yaml').groups.length, MAX_GROUPS);
  const entries = Array.from({ length: 33 }, () => '  - { challenge: mtu, minutes: 5 }').join('\n');
  assert.deepEqual(
    problemsOf(() =>
      parseRoom(`room: r\nlab: vxlan\ngroups: { g1: { simulated: true } }\nschedule:\n${entries}\n`, 'r.yaml'),
    ),
    [
      'r.yaml:5:3: schedule: found 33 entries; allowed: at most 32 (a lab has at most 32 challenges, and each is scheduled once)',
    ],
  );
});

test('a room file that is no file, a directory, or no text is said so, as a lab file is', () => {
  const work = scratch('netlab-room-');
  try {
    const missing = join(work.dir, 'nothere.yaml');
    assert.deepEqual(
      problemsOf(() => loadRoomAndLab(missing).room),
      [`${missing}: no such file`],
    );
    assert.deepEqual(
      problemsOf(() => loadRoomAndLab(work.dir).room),
      [`${work.dir}: is a directory, not a room file`],
    );
    assert.deepEqual(
      problemsOf(() => parseRoom('room: r\0\n', 'r.yaml')),
      ['r.yaml: not a text file (it contains NUL bytes); a room file is YAML'],
    );
    assert.deepEqual(
      problemsOf(() => parseRoom('x'.repeat(1024 * 1024 + 1), 'r.yaml')),
      ['r.yaml: file is larger than 1048576 bytes; a room file is a few kilobytes of YAML'],
    );
  } finally {
    work.remove();
  }
});

test('netlab schema --room: the JSON Schema of room files, which the example passes and a typo does not', async () => {
  const printed = captured(() => schemaCommand({ room: true }));
  assert.equal(printed.code, 0);
  const schema = JSON.parse(printed.stdout) as { title: string; properties: Record<string, unknown> };
  assert.deepEqual(schema, roomJsonSchema());
  assert.equal(schema.title, 'netlab room file');
  assert.deepEqual(Object.keys(schema.properties), ['room', 'lab', 'secret', 'groups', 'schedule']);
  // The lab file's is the default, unchanged.
  assert.equal((JSON.parse(captured(() => schemaCommand()).stdout) as { title: string }).title, 'netlab lab file');
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  assert.ok(validate(parse(readFileSync(NET101, 'utf8'))), JSON.stringify(validate.errors));
  const base = 'room: r\nlab: vxlan\n';
  for (const [what, text] of [
    ['a typo', `${base}groups: { g1: { simulatd: true } }\n`],
    ['two targets', `${base}groups: { g1: { simulated: true, inventory: x } }\n`],
    ['no target', `${base}groups: { g1: {} }\n`],
    ['no groups', `${base}groups: {}\n`],
    ['a group name with a slash', `${base}groups: { g/1: { simulated: true } }\n`],
    ['0 minutes', `${base}groups: { g1: { simulated: true } }\nschedule: [{ challenge: mtu, minutes: 0 }]\n`],
    ['a short secret', `${base}secret: short\ngroups: { g1: { simulated: true } }\n`],
  ] as [string, string][])
    assert.equal(validate(parse(text)), false, what);
  // and from the command line
  const run = await execa(NETLAB, ['schema', '--room'], { reject: false });
  assert.equal(run.exitCode, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), schema);
});

test("validateRoomCommand: ok (exit 0; its lab's warnings said), every problem (exit 2), and --json with a version and each issue as fields", () => {
  const ok = captured(() => validateRoomCommand(NET101));
  assert.deepEqual(ok, {
    code: 0,
    stdout: `${NET101}: ok (room net101: lab vxlan, 3 group(s), 1 challenge(s) scheduled)\n`,
    stderr: '',
  });
  const bad = join(ROOMS, 'schedule.yaml');
  const refused = captured(() => validateRoomCommand(bad));
  assert.equal(refused.code, 2);
  assert.equal(refused.stdout, '');
  assert.equal(
    refused.stderr,
    readFileSync(join(ROOMS, 'schedule.errors'), 'utf8').replaceAll('test/golden', join(ROOT, 'test', 'golden')),
  );
  const json = captured(() => validateRoomCommand(bad, { json: true }));
  assert.equal(json.code, 2);
  assert.equal(json.stderr, '');
  const report = JSON.parse(json.stdout) as {
    version: number;
    ok: boolean;
    issues: Record<string, unknown>[];
    problems: string[];
  };
  assert.equal(report.version, 1);
  assert.equal(report.ok, false);
  assert.equal(report.problems.length, report.issues.length);
  assert.deepEqual(report.issues[0], {
    file: bad,
    line: 8,
    column: 18,
    path: 'schedule.0.challenge',
    message: 'found "wrong-vn", which is no challenge of lab vxlan (did you mean "wrong-vni"?)',
    allowed: 'one of its 4 challenges: wrong-vni, vtep-down, wrong-port, mtu',
    severity: 'error',
  });
  const good = JSON.parse(captured(() => validateRoomCommand(NET101, { json: true })).stdout) as Record<
    string,
    unknown
  >;
  assert.deepEqual(good, {
    version: 1,
    room: NET101,
    file: NET101,
    ok: true,
    name: 'net101',
    lab: 'vxlan',
    labFile: join(LABS, 'vxlan.yaml'),
    groups: ['g1', 'g2', 'g3'],
    schedule: ['wrong-vni'],
    problems: [],
    warnings: [],
    issues: [],
  });
  // A room whose lab validate warns of: still ok, with the lab's warnings said as validate says them.
  const work = scratch('netlab-room-');
  try {
    const lab = join(GOLDEN, 'warnings', 'mtu.yaml');
    const room = join(work.dir, 'r.yaml');
    writeFileSync(room, `room: r1\nlab: ${lab}\ngroups:\n  g1: { simulated: true }\nschedule: []\n`);
    const warning = loadLabFile(lab).warnings.map(formatIssue);
    assert.equal(warning.length, 1);
    assert.deepEqual(
      captured(() => validateRoomCommand(room)),
      {
        code: 0,
        stdout: `${room}: ok (room r1: lab mtu, 1 group(s), 0 challenge(s) scheduled, 1 warning(s) of its lab)\n`,
        stderr: `${warning[0]}\n`,
      },
    );
    const warned = JSON.parse(captured(() => validateRoomCommand(room, { json: true })).stdout) as {
      ok: boolean;
      warnings: string[];
      issues: { path: string; severity: string }[];
    };
    assert.deepEqual(
      [warned.ok, warned.warnings, warned.issues.map((i) => [i.path, i.severity])],
      [true, warning, [['wiring.mtu', 'warning']]],
    );
  } finally {
    work.remove();
  }
});

test('a room command refused (a bad --parallel or --timeout, a group the room does not have, another file with the same room name) writes no state, exit 2', async () => {
  const work = scratch('netlab-room-refused-');
  const netlab = (...args: string[]) =>
    execa(NETLAB, args, { reject: false, env: { NETLAB_STATE_DIR: join(work.dir, 'state') } });
  try {
    mkdirSync(join(work.dir, 'state'), { mode: 0o700 });
    mkdirSync(join(work.dir, 'other'));
    const file = join(work.dir, 'r1.yaml');
    const groups = (names: string[]) =>
      `room: r1\nlab: vxlan\ngroups:\n${names.map((g) => `  ${g}: { simulated: true }\n`).join('')}`;
    writeFileSync(file, groups(['g1']));
    const up = await netlab('room', 'up', file, '--parallel', '0');
    assert.equal(up.exitCode, 2, up.stderr);
    assert.match(up.stderr, /--parallel takes a number of groups at once, 1-64; found "0"/);
    assert.deepEqual(readdirSync(join(work.dir, 'state')), [], 'no room record');
    // A fraction too: the checks take whole seconds, and every group's grading would fail, said unreachable.
    for (const command of ['status', 'watch', 'serve'])
      for (const seconds of ['0', '10.5']) {
        const late = await netlab('room', command, file, '--timeout', seconds);
        assert.equal(late.exitCode, 2, late.stderr);
        assert.match(
          late.stderr,
          new RegExp(
            `--timeout takes the seconds one group's grading may take before it counts as unreachable, a whole number 1-3600; found "${seconds.replace('.', '\\.')}"`,
          ),
          `${command} --timeout ${seconds}`,
        );
      }
    assert.deepEqual(readdirSync(join(work.dir, 'state')), [], 'no room record');
    // A record, then a group added to the file: a refused command does not give it an index.
    process.env.NETLAB_STATE_DIR = join(work.dir, 'state');
    try {
      ensureRoomRecord(loadRoomAndLab(file).room);
    } finally {
      delete process.env.NETLAB_STATE_DIR;
    }
    const record = join(work.dir, 'state', 'rooms', 'r1', 'room.json');
    const before = readFileSync(record, 'utf8');
    writeFileSync(file, groups(['g1', 'g2']));
    const hint = await netlab('room', 'hint', file, '--group', 'nope');
    assert.equal(hint.exitCode, 2, hint.stderr);
    assert.match(hint.stderr, /room r1 has no group "nope"; it has g1, g2/);
    assert.equal(readFileSync(record, 'utf8'), before, 'the record as it was');
    // Another file naming the same room would take the first one's labs down, and mix its log in.
    const copy = join(work.dir, 'other', 'r1.yaml');
    writeFileSync(copy, groups(['x1']));
    for (const command of ['down', 'status', 'results']) {
      const other = await netlab('room', command, copy, ...(command === 'results' ? ['--json'] : []));
      assert.equal(other.exitCode, 2, other.stderr);
      assert.match(
        other.stderr,
        new RegExp(
          `room r1 is ${file.replaceAll('.', '\\.')}'s, and ${copy.replaceAll('.', '\\.')} names the same room`,
        ),
        command,
      );
    }
    assert.equal(readFileSync(record, 'utf8'), before);
    assert.deepEqual(
      readdirSync(join(work.dir, 'state', 'rooms', 'r1')).sort(),
      ['labs', 'room.json'],
      'no log written',
    );
    // The same file by another path (a symbolic link to its directory) is the same room.
    symlinkSync(work.dir, join(work.dir, 'other', 'link'));
    const same = await netlab('room', 'results', join(work.dir, 'other', 'link', 'r1.yaml'), '--json');
    assert.equal(same.exitCode, 0, same.stderr);
  } finally {
    work.remove();
  }
});
