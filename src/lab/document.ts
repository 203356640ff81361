// What every netlab input file (a lab file, a room file) is read with: YAML with
// line:column for every value, a zod schema whose issues are told at their
// place with what is allowed. The kinds of file differ only in their schema and
// in a few words (lab/load.ts, room/load.ts).
import {
  LineCounter,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  visit,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import type { z } from 'zod';
import type { $ZodIssue } from 'zod/v4/core';
import { LabInputError, whole, type LabIssue, type PathSegment } from '../errors.js';
import { MAX_LAB_BYTES } from '../model/grammar.js';
import { tooLarge } from './read.js';
import { didYouMean } from '../model/suggest.js';

/** Aliases are fine for sharing a block; an alias bomb expands exponentially. */
const MAX_ALIAS_COUNT = 100;

/** Where a path is in the file: the line and column of its value, or of its key. */
export type Locator = (path: readonly PathSegment[], at?: 'key' | 'value') => { line: number; col: number };

/** A kind of input file, in the words its messages use. */
export interface InputKind {
  /** "lab file", "room file" */
  what: string;
  /** what the whole file is, when it is no mapping: "a mapping with nodes, pods, wiring and verify" */
  mapping: string;
}

/** A problem at a path of the file, located at its value (or its key). */
export type IssueAt = (path: readonly PathSegment[], message: string, where?: 'key' | 'value') => LabIssue;

export function issueAt(file: string, locate: Locator): IssueAt {
  return (path, message, where = 'value') => ({ file, ...locate(path, where), path: path.join('.'), message });
}

export interface YamlInput {
  /** the document's top-level mapping, as plain data */
  data: Record<string, unknown>;
  locate: Locator;
  at: IssueAt;
}

/**
 * An input file's text as YAML: bounded in size, text, free of syntax errors
 * and alias bombs, and a mapping; every value locatable by its path. Whatever
 * is wrong is thrown as a LabInputError at its place.
 */
export function readYamlDocument(text: string, file: string, kind: InputKind): YamlInput {
  if (text.length > MAX_LAB_BYTES) throw new LabInputError([whole(file, tooLarge(kind.what))]);
  if (text.includes('\0'))
    throw new LabInputError([whole(file, `not a text file (it contains NUL bytes); a ${kind.what} is YAML`)]);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const position = (offset: number) => lineCounter.linePos(offset);
  const syntax = doc.errors.map((error): LabIssue => {
    const { line, col } = position(error.pos[0]);
    return { file, line, col, path: '', message: `YAML: ${error.message.split('\n')[0]}` };
  });
  if (syntax.length > 0) throw new LabInputError(syntax);
  // YAML allows a list or a mapping as a key (`? [a, b]`); every key of an input file is a name.
  const complexKeys: LabIssue[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (pair.key !== null && !isScalar(pair.key)) {
        const { line, col } = position((pair.key as YamlNode).range?.[0] ?? 0);
        const found = isSeq(pair.key) ? 'a list' : 'a mapping';
        complexKeys.push({ file, line, col, path: '', message: `YAML: a key must be a name; found ${found}` });
      }
    },
  });
  if (complexKeys.length > 0) throw new LabInputError(complexKeys);

  const locate: Locator = (path, at = 'value') => position(offsetOf(doc, path, at));
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw new LabInputError([whole(file, `YAML: ${(error as Error).message}`)]);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new LabInputError([{ file, ...locate([]), path: '', message: `expected ${kind.mapping}` }]);
  }
  return { data: data as Record<string, unknown>, locate, at: issueAt(file, locate) };
}

/** Source offset of the value (or key) at a path; falls back to the deepest existing parent. */
function offsetOf(doc: Document, path: readonly PathSegment[], at: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  for (const [index, segment] of path.entries()) {
    const last = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) break;
      const keyNode = pair.key as YamlNode;
      const target = last && at === 'key' ? keyNode : ((pair.value as YamlNode | null) ?? keyNode);
      node = target;
      offset = target.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as YamlNode | undefined;
      if (!item) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else break;
  }
  return offset;
}

export function sortIssues(issues: LabIssue[]): LabIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.col - b.col);
}

/**
 * The schema's issues and the other checks' problems together, sorted: a problem
 * at or inside a path the schema already reports (or around it) is left out,
 * since the checks after the schema may stumble on what it refused.
 */
export function mergeIssues(schemaIssues: LabIssue[], problems: LabIssue[]): LabIssue[] {
  if (schemaIssues.length === 0) return sortIssues(problems);
  const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
  const extra = problems.filter((p) => p.path !== '' && !schemaIssues.some((s) => related(s.path, p.path)));
  return sortIssues([...schemaIssues, ...extra]);
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let value = data;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment as string];
  }
  return value;
}

const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
};

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

type ZodDef = Record<string, unknown>;
const defOf = (schema: unknown) => (schema as { _zod: { def: ZodDef } })._zod.def;

/** Field names a schema allows at a path, read from the zod definitions. */
export function allowedKeys(schema: z.ZodType, path: readonly PathSegment[]): string[] {
  let def = defOf(schema);
  const unwrap = () => {
    while (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') def = defOf(def.innerType);
  };
  unwrap();
  for (const segment of path) {
    if (def.type === 'object') {
      const child = (def.shape as Record<string, unknown>)[String(segment)];
      if (!child) return [];
      def = defOf(child);
    } else if (def.type === 'record') def = defOf(def.valueType);
    else if (def.type === 'array') def = defOf(def.element);
    else return [];
    unwrap();
  }
  return def.type === 'object' ? Object.keys(def.shape as object) : [];
}

/** The words of one kind of file for what the schema refuses (all optional: plain words otherwise). */
export interface SchemaWords {
  /** what a mapping's key at this path is ("pod name"), and a note on why this one is not allowed */
  keyName?: (path: readonly PathSegment[], key: string) => { what: string; note?: string };
  /** a message of its own for an issue (the part before "; allowed: ..." too), or undefined for the usual one */
  special?: (issue: $ZodIssue, path: readonly PathSegment[], found: unknown) => string | undefined;
}

/** Every issue of a schema's refusal, each at its place in the file with what is allowed. */
export function describeSchemaIssues(
  schema: z.ZodType,
  error: z.ZodError,
  file: string,
  locate: Locator,
  data: unknown,
  words: SchemaWords = {},
): LabIssue[] {
  return error.issues.flatMap((issue) => describeSchemaIssue(schema, issue as $ZodIssue, file, locate, data, words));
}

function describeSchemaIssue(
  schema: z.ZodType,
  issue: $ZodIssue,
  file: string,
  locate: Locator,
  data: unknown,
  words: SchemaWords,
): LabIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const at = issueAt(file, locate);
  const found = valueAt(data, path);
  const special = words.special?.(issue, path, found);
  if (special !== undefined) return [at(path, special)];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(schema, path);
      return issue.keys.map((key) =>
        at([...path, key], `unknown field "${key}"${didYouMean(key, allowed)}; allowed: ${allowed.join(', ')}`, 'key'),
      );
    }
    case 'invalid_key': {
      const key = String(path[path.length - 1]);
      const { what, note = '' } = words.keyName?.(path, key) ?? { what: 'name' };
      const rules = [...new Set(issue.issues.map((i) => i.message))].join('; ');
      return [at(path, `${what} ${JSON.stringify(key)} is not allowed${note}; allowed: ${rules}`, 'key')];
    }
    case 'invalid_type':
      if (found === undefined)
        return [at(path, `required field is missing (expected ${TYPE_NAMES[issue.expected] ?? issue.expected})`)];
      return [at(path, `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, found ${show(found)}`)];
    case 'invalid_value': {
      const allowed = issue.values.map(String);
      const typo = typeof found === 'string' ? didYouMean(found, allowed) : '';
      return [at(path, `found ${show(found)}${typo}; allowed: ${allowed.join(', ')}`)];
    }
    case 'too_big':
    case 'too_small':
      if (typeof found === 'number')
        return [
          at(
            path,
            `found ${found}; allowed: ${
              issue.code === 'too_big'
                ? `${issue.inclusive === false ? 'less than' : 'at most'} ${issue.maximum}`
                : `${issue.inclusive === false ? 'more than' : 'at least'} ${issue.minimum}`
            }`,
          ),
        ];
      return [at(path, `found ${show(found)}; allowed: ${issue.message}`)];
    default:
      if (typeof found === 'string' && /\n$/.test(found) && !/[\p{Cc}]/u.test(found.replace(/\n+$/, '')))
        return [
          at(
            path,
            `found ${show(found)}, which ends in a line break: a block scalar (">" or "|") keeps its last one; write ">-" (or "|-") to drop it; allowed: ${issue.message}`,
          ),
        ];
      return [at(path, `found ${show(found)}; allowed: ${issue.message}`)];
  }
}
