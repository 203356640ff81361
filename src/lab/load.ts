// Reading a lab file: YAML with line:column for every value, then the schema,
// then the semantic checks. Every problem found is reported in one go.
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { $ZodIssue } from 'zod/v4/core';
import { LabInputError, type LabIssue, type PathSegment, shown } from '../errors.js';
import { labSchema, type LabFile } from './schema.js';
import { defaultLabName, MAX_LAB_BYTES } from '../model/grammar.js';
import { checkBounds, checkExpansion } from './bounds.js';
import { readLabText, TOO_LARGE, whole } from './read.js';
import { didYouMean } from './suggest.js';
import type { Model } from '../model/lab.js';
import { resolveLab } from './resolve.js';
import { faultIdsOf } from '../faults/faults.js';
import { labWarnings } from './warnings.js';

/** Aliases are fine for sharing a block; an alias bomb expands exponentially. */
const MAX_ALIAS_COUNT = 100;

export interface LoadedLab {
  file: string;
  lab: LabFile;
  /** name from the file, or derived from the file name */
  name: string;
  model: Model;
  locate: Locator;
  /** what validate warns about (lab/warnings.ts): valid, but surely not meant */
  warnings: LabIssue[];
}

export type Locator = (path: readonly PathSegment[], at?: 'key' | 'value') => { line: number; col: number };

export function loadLabFile(file: string): LoadedLab {
  let text: string;
  try {
    text = readLabText(file);
  } catch (error) {
    if (error instanceof LabInputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory, not a lab file'
          : code === 'EACCES'
            ? 'permission denied'
            : String((error as Error).message);
    throw new LabInputError([whole(file, reason)]);
  }
  return parseLab(text, file);
}

export function parseLab(text: string, file: string): LoadedLab {
  if (text.length > MAX_LAB_BYTES) throw new LabInputError([whole(file, TOO_LARGE)]);
  if (text.includes('\0'))
    throw new LabInputError([whole(file, 'not a text file (it contains NUL bytes); a lab file is YAML')]);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true });
  const position = (offset: number) => lineCounter.linePos(offset);
  const syntax = doc.errors.map((error): LabIssue => {
    const { line, col } = position(error.pos[0]);
    return { file, line, col, path: '', message: `YAML: ${error.message.split('\n')[0]}` };
  });
  if (syntax.length > 0) throw new LabInputError(syntax);

  const locate: Locator = (path, at = 'value') => position(offsetOf(doc, path, at));
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw new LabInputError([whole(file, `YAML: ${(error as Error).message}`)]);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new LabInputError([
      { file, ...locate([]), path: '', message: 'expected a mapping with nodes, pods, wiring and verify' },
    ]);
  }
  // Size first: a small file can ask for a million pods, and everything after this would pay for them.
  const oversized = checkBounds(data as Record<string, unknown>, file, locate);
  if (oversized.length > 0) throw new LabInputError(oversized);
  const parsed = labSchema.safeParse(data);
  const schemaIssues = parsed.success
    ? []
    : parsed.error.issues.flatMap((issue) => describeSchemaIssue(issue, file, locate, data));
  // `nodes:` written as a list (- node-0): said so, and read as the mapping it meant for the
  // other checks, so that every pod's node is not also reported unknown.
  const listed = nodesAsList((data as Record<string, unknown>).nodes);
  const lab = (parsed.success ? parsed.data : listed ? { ...(data as object), nodes: listed } : data) as LabFile;
  const name = typeof lab.name === 'string' ? lab.name : defaultLabName(file);
  const problems: LabIssue[] = [];
  let model: Model | undefined;
  try {
    model = resolveLab(lab, name, file, (path, message, at) => {
      problems.push({ file, ...locate(path, at), path: path.map(String).join('.'), message });
    });
  } catch (error) {
    // Semantic checks of a file that failed the schema may trip over a wrong type;
    // the schema issues already describe that part.
    if (parsed.success) throw error;
  }
  // What the lab expands to, before anything plans it (checking a challenge's fault does).
  const oversize = model ? checkExpansion(model, file, locate) : [];
  problems.push(...oversize);
  // Planned even when the lab has other problems, so that every problem is listed; a model too
  // broken to plan has its problems reported already.
  if (model?.challenges?.length && oversize.length === 0) {
    try {
      problems.push(...checkFaults(model, file, locate));
    } catch {
      if (parsed.success && problems.length === 0) throw new Error('a lab without problems could not be planned');
    }
  }
  if (!parsed.success) {
    // Also report the semantic problems of the parts the schema accepted ("all problems in one run").
    const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
    const extra = problems.filter((p) => p.path !== '' && !schemaIssues.some((s) => related(s.path, p.path)));
    throw new LabInputError(sortIssues([...schemaIssues, ...extra]));
  }
  if (problems.length > 0 || !model) throw new LabInputError(sortIssues(problems));
  const warnings = sortIssues(
    labWarnings(lab, model).map((w) => ({
      file,
      ...locate(w.path),
      path: w.path.join('.'),
      message: w.message,
      severity: 'warning' as const,
    })),
  );
  return { file, lab, name, model, locate, warnings };
}

/** The mapping a list of nodes meant (- node-0, or - node-0: {...}); undefined for anything else. */
function nodesAsList(nodes: unknown): Record<string, unknown> | undefined {
  if (!Array.isArray(nodes)) return undefined;
  const entries = nodes.flatMap((item): [string, unknown][] =>
    typeof item === 'string'
      ? [[item, {}]]
      : item !== null && typeof item === 'object' && !Array.isArray(item)
        ? Object.entries(item as Record<string, unknown>).map(([k, v]) => [k, v ?? {}])
        : [],
  );
  return Object.fromEntries(entries);
}

/** Each challenge's fault is one the lab's plan allows (faults/faults.ts). */
function checkFaults(model: Model, file: string, locate: Locator): LabIssue[] {
  const ids = faultIdsOf(model);
  const known = new Set(ids);
  return (model.challenges ?? []).flatMap((c, index) => {
    if (known.has(c.fault)) return [];
    const kind = c.fault.split(':')[0]!;
    const sameKind = ids.filter((id) => id.startsWith(`${kind}:`));
    const examples = (sameKind.length ? sameKind : ids).slice(0, 3).join(', ');
    const path = ['challenges', index, 'fault'];
    return [
      {
        file,
        ...locate(path),
        path: path.join('.'),
        message: `found ${shown(c.fault)}, which is no fault of this lab${didYouMean(c.fault, ids)}; allowed: one of its ${ids.length} faults, such as ${examples || 'none'} (\`netlab challenge faults ${file}\` lists them)`,
      },
    ];
  });
}

function sortIssues(issues: LabIssue[]): LabIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.col - b.col);
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

/** Field names the schema allows at a path, read from the zod definitions. */
export function allowedKeys(path: readonly PathSegment[]): string[] {
  let def = (labSchema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  const unwrap = () => {
    while (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') {
      def = (def.innerType as { _zod: { def: Record<string, unknown> } })._zod.def;
    }
  };
  unwrap();
  for (const segment of path) {
    if (def.type === 'object') {
      const child = (def.shape as Record<string, { _zod: { def: Record<string, unknown> } }>)[String(segment)];
      if (!child) return [];
      def = child._zod.def;
    } else if (def.type === 'record') def = (def.valueType as { _zod: { def: Record<string, unknown> } })._zod.def;
    else if (def.type === 'array') def = (def.element as { _zod: { def: Record<string, unknown> } })._zod.def;
    else return [];
    unwrap();
  }
  return def.type === 'object' ? Object.keys(def.shape as object) : [];
}

function describeSchemaIssue(issue: $ZodIssue, file: string, locate: Locator, data: unknown): LabIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const at = (p: readonly PathSegment[], message: string, where: 'key' | 'value' = 'value'): LabIssue => ({
    file,
    ...locate(p, where),
    path: p.join('.'),
    message,
  });
  const found = valueAt(data, path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(path);
      return issue.keys.map((key) =>
        at([...path, key], `unknown field "${key}"${didYouMean(key, allowed)}; allowed: ${allowed.join(', ')}`, 'key'),
      );
    }
    case 'invalid_key': {
      const key = String(path[path.length - 1]);
      const isLabel = path.includes('labels') || path.includes('pod-selector');
      const what = isLabel
        ? 'label key'
        : path.length === 2 && path[0] === 'pods'
          ? 'pod name'
          : path.length === 2 && path[0] === 'nodes'
            ? 'node name'
            : 'name';
      const rules = [...new Set(issue.issues.map((i) => i.message))].join('; ');
      const prefix =
        isLabel && key.includes('/')
          ? ` (netlab takes label keys without Kubernetes' prefix: "${key.slice(key.lastIndexOf('/') + 1)}" instead of "${key}")`
          : '';
      return [at(path, `${what} ${JSON.stringify(key)} is not allowed${prefix}; allowed: ${rules}`, 'key')];
    }
    case 'invalid_type':
      if (issue.expected === 'record' && Array.isArray(found) && path.length === 1 && path[0] === 'nodes')
        return [
          at(
            path,
            'written as a list (- node-0); allowed: a mapping of node names, such as "node-0: {}" on a line of its own under nodes:',
          ),
        ];
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
            `found ${found}; allowed: ${issue.code === 'too_big' ? `at most ${issue.maximum}` : `at least ${issue.minimum}`}`,
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
