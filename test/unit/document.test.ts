// How every input file is read and its problems told (src/lab/document.ts),
// in process, with a small schema of this test's own: where a path is in the
// file (a value, a key, an item of a list, a parent when the path goes
// further than the file), how a found value is shown, what is allowed at a
// path, and how the schema's issues and the other checks' problems merge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  allowedKeys,
  describeSchemaIssues,
  mergeIssues,
  readYamlDocument,
  sortIssues,
  type SchemaWords,
} from '../../src/lab/document.js';
import { LabInputError, type LabIssue } from '../../src/errors.js';

const KIND = { what: 'test file', mapping: 'a mapping of test things' };

/** Every problem of a text read as YAML, as "line:col path: message". */
function refusal(text: string): string[] {
  try {
    readYamlDocument(text, 'f.yaml', KIND);
  } catch (error) {
    if (error instanceof LabInputError) return error.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

test('YAML read: a mapping or nothing; not a list, a scalar or null, each said at the top; aliases, but not a bomb', () => {
  for (const text of ['- a\n- b\n', 'just words\n', 'null\n', '~\n', '42\n', '', '# only a comment\n'])
    assert.deepEqual(refusal(text), ['1:1 : expected a mapping of test things'], text);
  // Said where the document's content starts, past a comment or a document marker.
  assert.deepEqual(refusal('# a list\n- a\n'), ['2:1 : expected a mapping of test things']);
  assert.deepEqual(refusal('---\n42\n'), ['2:1 : expected a mapping of test things']);
  assert.deepEqual(refusal('a: &x { b: 1 }\nc: *x\n'), []);
  // Strict YAML: an implicit key longer than YAML allows (1024 characters) is an error, not read as a key.
  assert.deepEqual(refusal(`${'k'.repeat(1100)}: 1\n`), [
    '1:1 : YAML: The : indicator must be at most 1024 chars after the start of an implicit block mapping key',
  ]);
  const bomb = [
    'a: &a [x, x]',
    ...Array.from(
      { length: 12 },
      (_, i) =>
        `${'b'.repeat(i + 1)}: &${'b'.repeat(i + 1)} [*${i ? 'b'.repeat(i) : 'a'}, *${i ? 'b'.repeat(i) : 'a'}]`,
    ),
  ];
  const bombed = refusal(`${bomb.join('\n')}\n`);
  assert.equal(bombed.length, 1);
  assert.match(bombed[0]!, /^1:1 : YAML: .*alias/i);
});

test('where a path is: its value, or its key; an item of a list; the deepest parent when the file has less', () => {
  const { locate } = readYamlDocument(
    ['top:', '  list:', '    - first', '    - { name: second }', '  empty:', 'other: 1', ''].join('\n'),
    'f.yaml',
    KIND,
  );
  const at = (path: (string | number)[], where?: 'key' | 'value') => {
    const { line, col } = locate(path, where);
    return `${line}:${col}`;
  };
  assert.equal(at([]), '1:1');
  assert.equal(at(['top']), '2:3', 'a mapping value starts at its first key');
  assert.equal(at(['top'], 'key'), '1:1');
  assert.equal(at(['top', 'list', 0]), '3:7');
  assert.equal(at(['top', 'list', 1, 'name']), '4:15');
  assert.equal(at(['top', 'list', 1, 'name'], 'key'), '4:9');
  assert.equal(at(['top', 'list', 1], 'key'), '4:7', 'a list item has no key: its value');
  assert.equal(at(['top', 'list', 5]), '3:5', 'an item past the end: the list');
  assert.equal(at(['top', 'list', 'x']), '3:5', 'a name in a list: the list');
  assert.equal(at(['top', 'empty']), '5:9', 'a key without a value: where its value would be');
  assert.equal(at(['top', 'nothing', 'deeper']), '2:3', 'a key the file lacks: its parent');
  assert.equal(at(['other', 'deeper']), '6:8', 'under a scalar: the scalar');
  assert.equal(at(['other', 0]), '6:8', 'an item of a scalar: the scalar');
  assert.equal(at([1]), '1:1', 'a number at the top of a mapping: the file');
});

const schema = z.strictObject({
  name: z.string().regex(/^[a-z]+$/, 'lower-case letters'),
  flag: z.boolean().optional(),
  count: z.number().int().min(1).max(10).optional(),
  below: z.number().lt(5).optional(),
  above: z.number().gt(5).optional(),
  kind: z.enum(['alpha', 'beta']).optional(),
  things: z.array(z.strictObject({ id: z.string() })).optional(),
  named: z
    .record(
      z
        .string()
        .regex(/^[a-z]+$/, 'lower-case letters')
        .max(3, 'at most 3 letters'),
      z.strictObject({ v: z.number() }),
    )
    .optional(),
  inner: z.strictObject({ deep: z.strictObject({ x: z.number() }).nullable() }).default({ deep: null }),
  text: z.string().max(5).optional(),
});

/** What the test schema says of a text, each problem as "line:col path: message". */
function told(text: string, words?: SchemaWords): string[] {
  const { data, locate } = readYamlDocument(text, 'f.yaml', KIND);
  const result = schema.safeParse(data);
  if (result.success) return [];
  return describeSchemaIssues(schema, result.error, 'f.yaml', locate, data, words).map(
    (i) => `${i.line}:${i.col} ${i.path}: ${i.message}`,
  );
}

test('schema issues in words: what was found (nothing, null, a list, a mapping, a long string cut), what is allowed', () => {
  assert.deepEqual(told('name: abc\n'), []);
  assert.deepEqual(told('flag: true\n'), ['1:1 name: required field is missing (expected a string)']);
  assert.deepEqual(told('name: null\n'), ['1:7 name: expected a string, found null']);
  assert.deepEqual(told('name: [a]\n'), ['1:7 name: expected a string, found a list']);
  assert.deepEqual(told('name: { a: 1 }\n'), ['1:7 name: expected a string, found a mapping']);
  assert.deepEqual(told('name: abc\nflag: yes please\n'), ['2:7 flag: expected true or false, found "yes please"']);
  assert.deepEqual(told('name: abc\nflag: 3\n'), ['2:7 flag: expected true or false, found number 3']);
  assert.deepEqual(told('name: abc\nthings: 3\n'), ['2:9 things: expected a list, found number 3']);
  assert.deepEqual(told('name: abc\ninner: 3\n'), ['2:8 inner: expected a mapping, found number 3']);
  assert.deepEqual(told('name: abc\nnamed: 3\n'), ['2:8 named: expected a mapping, found number 3']);
  const long = 'X'.repeat(61);
  assert.deepEqual(told(`name: ${long}\n`), [`1:7 name: found "${'X'.repeat(57)}..."; allowed: lower-case letters`]);
  const sixty = 'X'.repeat(60);
  assert.deepEqual(told(`name: ${sixty}\n`), [`1:7 name: found "${sixty}"; allowed: lower-case letters`]);
});

test('schema issues in words: bounds (at most, at least, less than, more than), a typo of an allowed value, unknown fields with their neighbours', () => {
  assert.deepEqual(told('name: a\ncount: 11\n'), ['2:8 count: found 11; allowed: at most 10']);
  assert.deepEqual(told('name: a\ncount: 0\n'), ['2:8 count: found 0; allowed: at least 1']);
  assert.deepEqual(told('name: a\nbelow: 5\n'), ['2:8 below: found 5; allowed: less than 5']);
  assert.deepEqual(told('name: a\nabove: 5\n'), ['2:8 above: found 5; allowed: more than 5']);
  assert.match(told('name: a\ntext: abcdefg\n')[0]!, /^2:7 text: found "abcdefg"; allowed: /);
  assert.deepEqual(told('name: a\nkind: alpah\n'), [
    '2:7 kind: found "alpah" (did you mean "alpha"?); allowed: alpha, beta',
  ]);
  assert.deepEqual(told('name: a\nkind: 7\n'), ['2:7 kind: found number 7; allowed: alpha, beta']);
  assert.deepEqual(told('name: a\nflga: true\n'), [
    '2:1 flga: unknown field "flga" (did you mean "flag"?); allowed: name, flag, count, below, above, kind, things, named, inner, text',
  ]);
  assert.deepEqual(told('name: a\nthings: [{ id: x, idd: y }]\n'), [
    '2:19 things.0.idd: unknown field "idd" (did you mean "id"?); allowed: id',
  ]);
  assert.deepEqual(told('name: a\ninner: { deep: { x: 1, y: 2 } }\n'), [
    '2:24 inner.deep.y: unknown field "y"; allowed: x',
  ]);
  assert.deepEqual(told('name: a\nnamed: { ok: { v: 1, w: 2 } }\n'), [
    '2:22 named.ok.w: unknown field "w"; allowed: v',
  ]);
});

test("schema issues in words: a mapping's key refused, in the file's words or plain; a message of the file's own; a block scalar's last line break", () => {
  assert.deepEqual(told('name: a\nnamed: { Bad: { v: 1 } }\n'), [
    '2:10 named.Bad: name "Bad" is not allowed; allowed: lower-case letters',
  ]);
  assert.deepEqual(told('name: a\nnamed: { BADKEY: { v: 1 } }\n'), [
    '2:10 named.BADKEY: name "BADKEY" is not allowed; allowed: lower-case letters; at most 3 letters',
  ]);
  const words: SchemaWords = {
    keyName: () => ({ what: 'thing name', note: ' (a note)' }),
    special: (issue, path, found) =>
      path[0] === 'count' ? `special for ${JSON.stringify(found)} (${issue.code})` : undefined,
  };
  assert.deepEqual(told('name: a\nnamed: { Bad: { v: 1 } }\ncount: 99\n', words).sort(), [
    '2:10 named.Bad: thing name "Bad" is not allowed (a note); allowed: lower-case letters',
    '3:8 count: special for 99 (too_big)',
  ]);
  // A folded scalar keeps its last line break: said, with the fix; a string with other control characters is not.
  assert.deepEqual(told('name: >\n  abc\n'), [
    '1:7 name: found "abc\\n", which ends in a line break: a block scalar (">" or "|") keeps its last one; write ">-" (or "|-") to drop it; allowed: lower-case letters',
  ]);
  // A kept block scalar ("|+") may end in several: said the same.
  assert.deepEqual(told('name: |+\n  abc\n\n'), [
    '1:7 name: found "abc\\n\\n", which ends in a line break: a block scalar (">" or "|") keeps its last one; write ">-" (or "|-") to drop it; allowed: lower-case letters',
  ]);
  assert.deepEqual(told('name: "a\\tb\\n"\n'), ['1:7 name: found "a\\tb\\n"; allowed: lower-case letters']);
  assert.deepEqual(told('name: "ab\\nc"\n'), ['1:7 name: found "ab\\nc"; allowed: lower-case letters']);
});

test('allowed keys at a path, through optional, default, nullable, lists and records; none past a scalar or an unknown key', () => {
  assert.deepEqual(allowedKeys(schema, []), Object.keys(schema.shape));
  assert.deepEqual(allowedKeys(schema, ['things', 0]), ['id']);
  assert.deepEqual(allowedKeys(schema, ['named', 'anything']), ['v']);
  assert.deepEqual(allowedKeys(schema, ['inner']), ['deep']);
  assert.deepEqual(allowedKeys(schema, ['inner', 'deep']), ['x']);
  assert.deepEqual(allowedKeys(schema, ['name']), []);
  assert.deepEqual(allowedKeys(schema, ['name', 'x']), []);
  assert.deepEqual(allowedKeys(schema, ['missing']), []);
});

test("the schema's issues and the other checks' problems: sorted by place; a problem at, inside or around a refused path left out", () => {
  const issue = (path: string, line: number, col = 1): LabIssue => ({ file: 'f', line, col, path, message: path });
  assert.deepEqual(
    sortIssues([issue('b', 2, 5), issue('a', 2, 1), issue('c', 1, 9)]).map((i) => i.path),
    ['c', 'a', 'b'],
  );
  const schemaIssues = [issue('pods.a0.node', 5)];
  const problems = [
    issue('pods.a0.node', 5), // the same path
    issue('pods.a0.node.x', 6), // inside it
    issue('pods.a0', 4), // around it
    issue('pods.a1', 7), // another
    issue('pods.a0.nodes', 8), // a sibling whose name begins the same
    issue('', 1), // the whole file
  ];
  assert.deepEqual(
    mergeIssues(schemaIssues, problems).map((i) => i.path),
    ['pods.a0.node', 'pods.a1', 'pods.a0.nodes'],
  );
  // Without schema issues, every problem, sorted (the whole file's too).
  assert.deepEqual(
    mergeIssues([], problems).map((i) => `${i.line} ${i.path}`),
    ['1 ', '4 pods.a0', '5 pods.a0.node', '6 pods.a0.node.x', '7 pods.a1', '8 pods.a0.nodes'],
  );
});

test('schema issues in words: a required choice left out is "found nothing"; a rule of a list whose last item ends in a line break is about the list; a complex key is refused as no name', () => {
  const strict = z.strictObject({
    name: z.string(),
    mode: z.enum(['x', 'y']),
    tags: z
      .array(z.string())
      .refine((tags) => tags.length < 2, 'at most one tag')
      .optional(),
  });
  const say = (text: string) => {
    const { data, locate } = readYamlDocument(text, 'f.yaml', KIND);
    const result = strict.safeParse(data);
    assert.ok(!result.success, text);
    return describeSchemaIssues(strict, result.error, 'f.yaml', locate, data).map(
      (i) => `${i.line}:${i.col} ${i.path}: ${i.message}`,
    );
  };
  assert.deepEqual(say('name: a\n'), ['1:1 mode: found nothing; allowed: x, y']);
  assert.deepEqual(say('name: a\nmode: x\ntags: ["b", "a\\n"]\n'), [
    '3:7 tags: found a list; allowed: at most one tag',
  ]);
  // YAML's complex keys (a list or a mapping as a key) are no names: refused where they are, nested too.
  assert.deepEqual(refusal('? [a, b]\n: 1\nname: a\n'), ['1:3 : YAML: a key must be a name; found a list']);
  assert.deepEqual(refusal('name: a\nnamed:\n  ? { x: 1 }\n  : 2\n'), [
    '3:5 : YAML: a key must be a name; found a mapping',
  ]);
  assert.deepEqual(refusal('name: a\n? \n: 1\n'), [], 'an empty key is a scalar (null), told by the schema');
});
