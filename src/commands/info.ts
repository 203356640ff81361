// Commands that only read lab files: validate, plan, schema, labs.
import { join, relative, resolve } from 'node:path';
import { loadLabFile } from '../lab/load.js';
import { readLab, warningsFor } from '../lab/cached.js';
import { freeText, labJsonSchema } from '../lab/schema.js';
import { roomJsonSchema } from '../room/file.js';
import { buildPlan } from '../plan/build.js';
import { planJson, renderPlanText } from '../shell/render.js';
import { simulatedFacts } from '../underlay/simulated.js';
import { formatIssue, inputProblems, issueFields, UsageError, type LabIssue } from '../errors.js';
import { wantsSsh, type TargetOptions } from '../exec/targets.js';
import { instanceOf, labFileOf, withInstance } from './common.js';
import { bundledLabNames, bundledLabsDir } from '../lab/bundled.js';
import { printJson, type JsonOption } from '../json-output.js';
import { uncheckedLabData } from '../lab/read.js';

/**
 * `netlab validate LAB...`: every problem of each lab (exit 2 if any), and the warnings
 * of the valid ones (lab/warnings.ts: exit 0, or errors with --strict). --json gives
 * each as fields (`issues`) beside the lines (`problems`, `warnings`).
 */
export function validateCommand(args: string[], options: JsonOption & { strict?: boolean } = {}): number {
  const results: {
    lab: string;
    file?: string;
    ok: boolean;
    name?: string;
    problems: string[];
    warnings: string[];
    issues: ReturnType<typeof issueFields>[];
  }[] = [];
  for (const arg of args) {
    try {
      const file = labFileOf(arg);
      const { model, warnings } = loadLabFile(file);
      const strict: LabIssue[] = options.strict ? warnings.map(({ severity: _, ...w }) => w) : [];
      const ok = strict.length === 0;
      results.push({
        lab: arg,
        file,
        ok,
        name: model.name,
        problems: strict.map(formatIssue),
        warnings: ok ? warnings.map(formatIssue) : [],
        issues: (ok ? warnings : strict).map(issueFields),
      });
      if (options.json) continue;
      if (!ok) console.error(strict.map(formatIssue).join('\n'));
      else {
        if (warnings.length) console.error(warnings.map(formatIssue).join('\n'));
        console.log(
          `${arg}: ok (lab ${model.name}: ${model.nodes.length} node(s), ${model.pods.length} pod(s), ${model.checks.length} check(s)${warnings.length ? `, ${warnings.length} warning(s)` : ''})`,
        );
      }
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      const { problems, issues } = inputProblems(error, arg);
      results.push({ lab: arg, ok: false, problems, warnings: [], issues });
      if (!options.json) console.error(problems.join('\n'));
    }
  }
  if (options.json) printJson({ labs: results });
  return results.every((r) => r.ok) ? 0 : 2;
}

export async function planCommand(
  file: string,
  options: { json?: boolean; explain?: boolean } & TargetOptions,
): Promise<number> {
  const read = await readLab(labFileOf(file));
  // What validate warns of the lab, on stderr: the plan on stdout stays the plan.
  for (const warning of warningsFor(read, wantsSsh(options))) console.error(warning);
  const loaded = withInstance(read.model, instanceOf(file, options.instance));
  let model = loaded;
  let facts = simulatedFacts(model);
  let label = 'simulated nodes on this host';
  if (wantsSsh(options)) {
    // Real nodes: the plan shows the facts discovered on them (underlay interface and address).
    const { prepareSsh } = await import('../lifecycle/up.js');
    const prepared = await prepareSsh(loaded, options);
    [model, facts, label] = [prepared.model, prepared.facts, 'machines over SSH (facts discovered on them)'];
  }
  const plan = buildPlan(model, facts);
  if (options.json) printJson(planJson(model, plan));
  else process.stdout.write(renderPlanText(model, plan, label, options.explain));
  return 0;
}

/** `netlab schema [--room]`: the JSON Schema of lab files, or of room files. */
export function schemaCommand(options: { room?: boolean } = {}): number {
  console.log(JSON.stringify(options.room ? roomJsonSchema() : labJsonSchema(), null, 2));
  return 0;
}

/**
 * A bundled lab's description. The bundled labs are netlab's own, which its tests validate:
 * the description is read from the YAML alone, where it is text the schema takes (checking
 * them all took 0.6 s, half of it the scale lab's 750 pods). Otherwise the parser reads the
 * file, and reports what is wrong with it.
 */
async function bundledDescription(file: string): Promise<string | undefined> {
  try {
    const { description } = ((await uncheckedLabData(file)) ?? {}) as { description?: unknown };
    if (typeof description === 'string' && freeText.safeParse(description).success) return description;
  } catch {
    // not YAML, or not readable: the parser says which, with its line and column
  }
  return loadLabFile(file).model.description;
}

/** `netlab labs [LAB]`: the bundled labs, or one lab (bundled, or any lab file) with its exercises. */
export async function labsCommand(arg: string | undefined, options: JsonOption = {}): Promise<number> {
  if (arg) {
    const file = labFileOf(arg);
    const { model } = loadLabFile(file);
    const about = {
      name: model.name,
      description: model.description,
      file: resolve(file),
      nodes: model.nodes.map((n) => ({ name: n.name, podSubnet: n.podSubnet })),
      pods: model.pods.map((p) => ({ name: p.name, node: p.node, ...(p.address ? { address: p.address } : {}) })),
      exercises: model.exercises,
      challenges: (model.challenges ?? []).map((c) => c.id),
    };
    if (options.json) {
      printJson(about);
      return 0;
    }
    console.log(`${model.name}: ${model.description}`);
    console.log(`file: ${shownPath(file)}`);
    console.log(`nodes: ${model.nodes.map((n) => `${n.name} (${n.podSubnet})`).join(', ')}`);
    console.log(
      `pods: ${model.pods.map((p) => `${p.name}${p.address ? ` ${p.address}` : ''} on ${p.node}`).join(', ')}`,
    );
    if (model.exercises.length) {
      console.log('exercises:');
      for (const [i, e] of model.exercises.entries()) console.log(`  ${i + 1}. ${e}`);
    }
    if (about.challenges.length)
      console.log(`challenges: ${about.challenges.join(', ')} (\`netlab challenge list ${model.name}\` lists them)`);
    return 0;
  }
  const labs = await Promise.all(
    bundledLabNames().map(async (name) => {
      const file = join(bundledLabsDir(), `${name}.yaml`);
      return { name, description: await bundledDescription(file), file };
    }),
  );
  if (options.json) {
    printJson({ labs });
    return 0;
  }
  // Names, not paths: a bundled lab is named the same from any directory (`netlab up vxlan`).
  const width = Math.max(...labs.map((l) => l.name.length)) + 2;
  console.log(`bundled labs (in ${shownPath(bundledLabsDir())}; \`netlab up NAME\`, \`netlab labs NAME\` for one):`);
  for (const lab of labs) console.log(`  ${lab.name.padEnd(width)}${lab.description}`);
  return 0;
}

/** A path as a user would type it from here: relative when it is below this directory, else absolute. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), resolve(path));
  return rel.startsWith('..') || rel === '' ? resolve(path) : rel;
}
