#!/usr/bin/env node
// No back-and-forth imports: neither between files nor between folders of src/,
// no command module importing another, and no trace file naming a wiring kind the registry lists.
// A folder cycle (exec → state → exec) is a cycle between two layers even when
// no single file imports its own importer; both are errors.
// Run by `npm run lint`; `node scripts/check-imports.mjs` alone prints the same.
import madge from 'madge';

const graph = await madge('src', { fileExtensions: ['ts'], tsConfig: 'tsconfig.json' });
const problems = graph.circular().map((cycle) => `file cycle: ${[...cycle, cycle[0]].join(' → ')}`);

// Commands share a life cycle (lifecycle/) and helpers (commands/common.ts), never each other.
for (const [file, imports] of Object.entries(graph.obj())) {
  if (!file.startsWith('commands/')) continue;
  for (const imported of imports) {
    if (imported.startsWith('commands/') && imported !== 'commands/common.ts')
      problems.push(`command imports command: ${file} → ${imported}`);
  }
}

// A trace asks the registry for what each kind of wiring does (its hops, its netfilter hooks):
// no file of trace/ names a module the registry lists.
const kinds = new Set(
  (graph.obj()['wiring/registry.ts'] ?? []).filter((f) => f.startsWith('wiring/') && f !== 'wiring/types.ts'),
);
for (const [file, imports] of Object.entries(graph.obj())) {
  if (!file.startsWith('trace/')) continue;
  for (const imported of imports)
    if (kinds.has(imported))
      problems.push(`trace names a wiring module: ${file} → ${imported} (ask wiring/registry.ts)`);
}

// Files at the top of src/ (cli.ts, errors.ts) are each a unit of their own.
const unitOf = (file) => (file.includes('/') ? `${file.split('/')[0]}/` : file);
const edges = new Map();
for (const [file, imports] of Object.entries(graph.obj())) {
  for (const imported of imports) {
    const [from, to] = [unitOf(file), unitOf(imported)];
    if (from === to) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    if (!edges.get(from).has(to)) edges.get(from).set(to, `${file} → ${imported}`);
  }
}
for (const [from, targets] of edges) {
  for (const [to, example] of targets) {
    const back = edges.get(to)?.get(from);
    if (back && from < to) problems.push(`folder cycle: ${from} ⇄ ${to} (${example}; ${back})`);
  }
}
// Longer folder cycles (a → b → c → a): depth-first search over the folder graph.
const state = new Map();
const walk = (unit, path) => {
  state.set(unit, 'open');
  for (const next of edges.get(unit)?.keys() ?? []) {
    if (state.get(next) === 'open' && path.length - path.indexOf(next) > 2)
      problems.push(`folder cycle: ${[...path.slice(path.indexOf(next)), next].join(' → ')}`);
    else if (!state.has(next)) walk(next, [...path, next]);
  }
  state.set(unit, 'done');
};
for (const unit of edges.keys()) if (!state.has(unit)) walk(unit, [unit]);

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`no import cycles: ${Object.keys(graph.obj()).length} files, ${edges.size} folders and top-level files`);
