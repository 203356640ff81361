// The model of a lab file netlab has read before: an instructor brings the same
// lab up and down many times a day, and reading it (the yaml and zod modules,
// the schema built from the wiring registry, the checks) is most of what a small
// lab's `up` does before its nodes start (BENCHMARKS.md, "Where the small labs'
// time goes"). A lab that passed every check is kept, by `up`, in the state directory,
// under the hash of its bytes, its name as given and this build of netlab: a
// change to any of them reads it anew, so a cached model is always what the
// parser would give. A file with problems is never kept: its problems are
// reported by the parser, every time.
//
// The state directory is the user's own (root's: only root may write there,
// refuseUnsafeStateDir), as it is for the state files whose models `down` and
// `verify` run: a model read from it is trusted as theirs are.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Model } from '../model/lab.js';
import { readInputFile } from './read.js';
import { formatIssue, type LabIssue } from '../errors.js';
import { judgedStateDirPath, makeStateSubdir } from '../state/store.js';

/** How many labs the cache keeps; past it, the ones used longest ago are removed. */
export const CACHED_LABS = 32;

/** What marks a cache file as one, and its format (2: with the lab's warnings). */
const FORMAT = 'netlab lab cache 2';

export interface LabCache {
  dir: string;
  /** this netlab's build: a cached model is used only by the build that made it */
  build: string;
}

/**
 * The cache of the netlab that runs: the bundle's build id (written by
 * scripts/bundle.mjs beside the bundle). Without one (netlab run from dist/src,
 * as the unit tests import it) there is no cache: every read parses.
 */
export function labCache(): LabCache | undefined {
  try {
    const build = readFileSync(new URL('./build-id', import.meta.url), 'utf8').trim();
    return build ? { dir: join(judgedStateDirPath(), 'cache'), build } : undefined;
  } catch {
    return undefined;
  }
}

/** A valid lab file as read: its model, and what validate warns of it (lab/warnings.ts). */
export interface ReadLab {
  model: Model;
  warnings: LabIssue[];
}

/**
 * The warnings that hold where the lab runs, as validate prints them: on machines over SSH, those of
 * simulated nodes' facts (their underlay's MTU and addresses) are left out.
 */
export function warningsFor(read: Pick<ReadLab, 'warnings'>, overSsh: boolean): string[] {
  return read.warnings.filter((w) => !(overSsh && w.simulated)).map(formatIssue);
}

/**
 * A valid lab file, with its warnings; the file's problems as a LabInputError
 * (exit 2) from the parser. Every command reads the cache; only `up` (`keep`)
 * writes it: a `plan`, a `doctor` or a learner's look at a lab leaves no file
 * behind.
 */
export async function readLab(file: string, options: { keep?: boolean } = {}, cache = labCache()): Promise<ReadLab> {
  const text = readInputFile(file, 'lab file');
  const entry = cache && entryOf(cache, file, text);
  const cached = entry && readEntry(entry);
  if (cached) {
    touch(entry);
    return cached;
  }
  const { parseLab } = await import('./load.js');
  const { model, warnings } = parseLab(text, file);
  const read = { model, warnings };
  if (entry && options.keep) writeEntry(cache.dir, entry, read);
  return read;
}

/** The model of a valid lab file (readLab, its warnings left to validate), as the commands that do not build it read it. */
export async function loadLabModel(file: string): Promise<Model> {
  return (await readLab(file)).model;
}

/**
 * The model of a lab file from the cache alone, or undefined: what `up` reads to start its SSH
 * logins (lifecycle/connect-early.ts) before it has the time to check the file.
 */
export function cachedLabModel(file: string, cache = labCache()): Model | undefined {
  return cache && readEntry(entryOf(cache, file, readInputFile(file, 'lab file')))?.model;
}

function entryOf(cache: LabCache, file: string, text: string): string {
  const key = createHash('sha256')
    .update(JSON.stringify([cache.build, file, text]))
    .digest('hex');
  return join(cache.dir, `${key}.json`);
}

/** The cached lab; undefined when there is none, or it is not one (a cache file cut short by a crash). */
function readEntry(entry: string): ReadLab | undefined {
  try {
    const parsed = JSON.parse(readFileSync(entry, 'utf8')) as { format?: unknown; model?: unknown; warnings?: unknown };
    return parsed.format === FORMAT &&
      typeof parsed.model === 'object' &&
      parsed.model !== null &&
      Array.isArray(parsed.warnings) &&
      parsed.warnings.every((w) => typeof (w as Partial<LabIssue> | null)?.message === 'string')
      ? { model: parsed.model as Model, warnings: parsed.warnings as LabIssue[] }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps the lab, best effort: a cache that cannot be written (a read-only
 * state directory) costs only the next read its time. Written to a temporary
 * file and renamed, so that a reader sees a whole entry or none.
 */
function writeEntry(dir: string, entry: string, read: ReadLab): void {
  const temp = `${entry}.${process.pid}.tmp`;
  try {
    makeStateSubdir(dir);
    writeFileSync(temp, JSON.stringify({ format: FORMAT, ...read }), { mode: 0o600 });
    renameSync(temp, entry);
    evictOldest(dir);
  } catch {
    try {
      rmSync(temp, { force: true });
    } catch {
      // no directory to remove it from (a state directory under a file: ENOTDIR)
    }
  }
}

/** A hit dates its entry anew: the cache keeps the labs used last. */
function touch(entry: string): void {
  const now = new Date();
  try {
    utimesSync(entry, now, now);
  } catch {
    // removed meanwhile by another netlab's eviction: read all the same
  }
}

/**
 * Past CACHED_LABS entries, the oldest go (a temporary file a crash left among them); only the cache's own
 * names (a key's `.json`, or its `.tmp`), whatever else the directory holds.
 */
function evictOldest(dir: string): void {
  const files = readdirSync(dir).filter((name) => /^[0-9a-f]{64}\.json(\.\d+\.tmp)?$/.test(name));
  if (files.length <= CACHED_LABS) return;
  const byAge = files
    .map((name) => ({ name, used: statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => a.used - b.used);
  for (const { name } of byAge.slice(0, files.length - CACHED_LABS)) rmSync(join(dir, name), { force: true });
}
