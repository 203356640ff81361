// Reading a lab file: YAML with line:column for every value, then the schema,
// then the semantic checks. Every problem found is reported in one go.
import type { $ZodIssue } from 'zod/v4/core';
import { LabInputError, type LabIssue, type PathSegment, shown } from '../errors.js';
import { labSchema, type LabFile } from './schema.js';
import { defaultLabName } from '../model/grammar.js';
import { checkBounds, checkExpansion } from './bounds.js';
import { readInputFile } from './read.js';
import { didYouMean } from '../model/suggest.js';
import type { Model, ModelChallenge } from '../model/lab.js';
import { resolveLab } from './resolve.js';
import { faultCatalogOf } from '../faults/faults.js';
import { labWarnings } from './warnings.js';
import {
  describeSchemaIssues,
  mergeIssues,
  readYamlDocument,
  sortIssues,
  type InputKind,
  type Locator,
  type SchemaWords,
} from './document.js';

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

const LAB_FILE: InputKind = { what: 'lab file', mapping: 'a mapping with nodes, pods, wiring and verify' };

export function loadLabFile(file: string): LoadedLab {
  return parseLab(readInputFile(file, LAB_FILE.what), file);
}

export function parseLab(text: string, file: string): LoadedLab {
  const { data, locate, at: issue } = readYamlDocument(text, file, LAB_FILE);
  // Size first: a small file can ask for a million pods, and everything after this would pay for them.
  const oversized = checkBounds(data, file, locate);
  if (oversized.length > 0) throw new LabInputError(oversized);
  const parsed = labSchema.safeParse(data);
  // `nodes:` written as a list (- node-0): said so, and read as the mapping it meant for the
  // other checks, so that every pod's node is not also reported unknown.
  const listed = nodesAsList(data.nodes);
  const lab = (parsed.success ? parsed.data : listed ? { ...data, nodes: listed } : data) as LabFile;
  const name = typeof lab.name === 'string' ? lab.name : defaultLabName(file);
  const problems: LabIssue[] = [];
  let model: Model | undefined;
  try {
    model = resolveLab(lab, name, file, (path, message, at) => {
      problems.push(issue(path, message, at));
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
      problems.push(...checkFaults(model, model.challenges, file, locate));
    } catch {
      if (parsed.success && problems.length === 0) throw new Error('a lab without problems could not be planned');
    }
  }
  // Also the semantic problems of the parts the schema accepted ("all problems in one run").
  if (!parsed.success)
    throw new LabInputError(
      mergeIssues(describeSchemaIssues(labSchema, parsed.error, file, locate, data, LAB_WORDS), problems),
    );
  if (problems.length > 0 || !model) throw new LabInputError(sortIssues(problems));
  const warnings = sortIssues(
    labWarnings(lab, model).map((w) => ({
      file,
      ...locate(w.path),
      path: w.path.join('.'),
      message: w.message,
      severity: 'warning' as const,
      ...(w.simulated ? { simulated: w.simulated } : {}),
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

/**
 * Each challenge's fault is one the lab's plan allows (faults/faults.ts).
 * Planning every fault costs a lab of many pods a tenth of a second: called
 * only when a challenge names one.
 */
function checkFaults(model: Model, challenges: ModelChallenge[], file: string, locate: Locator): LabIssue[] {
  const { ids, notOffered } = faultCatalogOf(model);
  const known = new Set(ids);
  return challenges.flatMap((c, index) => {
    if (known.has(c.fault)) return [];
    const kind = c.fault.split(':')[0]!;
    const sameKind = ids.filter((id) => id.startsWith(`${kind}:`));
    const examples = (sameKind.length ? sameKind : ids).slice(0, 3).join(', ');
    const path = ['challenges', index, 'fault'];
    const allowed = ids.length
      ? `allowed: one of its ${ids.length} faults, such as ${examples} (\`netlab challenge faults ${file}\` lists them)`
      : 'the lab has none: its plan makes nothing a fault could break';
    return [
      {
        file,
        ...locate(path),
        path: path.join('.'),
        message: `found ${shown(c.fault)}, which is no fault of this lab${whyNot(c.fault, ids, notOffered)}; ${allowed}`,
      },
    ];
  });
}

/** Why a fault a lab file names is none: one the lab has but does not offer, and why; else the closest of the lab's. */
function whyNot(fault: string, ids: readonly string[], notOffered: ReadonlyMap<string, string>): string {
  const why = notOffered.get(fault);
  return why ? `: ${why}` : didYouMean(fault, ids);
}

/** What the keys of the lab file's mappings of names are (`pods: { a0: ... }`: a pod name). */
const NAMED: Record<string, string> = {
  nodes: 'node name',
  pods: 'pod name',
  services: 'Service name',
  policies: 'policy name',
};

/** The lab file's words for what its schema refuses: which name a key is, and `nodes:` written as a list. */
const LAB_WORDS: SchemaWords = {
  keyName: (path, key) => {
    const isLabel = path.includes('labels') || path.includes('pod-selector');
    const what = isLabel ? 'label key' : ((path.length === 2 ? NAMED[String(path[0])] : undefined) ?? 'name');
    const note =
      isLabel && key.includes('/')
        ? ` (netlab takes label keys without Kubernetes' prefix: "${key.slice(key.lastIndexOf('/') + 1)}" instead of "${key}")`
        : '';
    return { what, note };
  },
  special: (issue: $ZodIssue, path: readonly PathSegment[], found: unknown) =>
    issue.code === 'invalid_type' &&
    issue.expected === 'record' &&
    Array.isArray(found) &&
    path.length === 1 &&
    path[0] === 'nodes'
      ? 'written as a list (- node-0); allowed: a mapping of node names, such as "node-0: {}" on a line of its own under nodes:'
      : undefined,
};
