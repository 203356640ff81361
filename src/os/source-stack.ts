// An internal error's stack, as the sources name it. netlab runs as two bundles
// (scripts/bundle.mjs) that Node compiles itself from their text (bin/load.cjs),
// and Node maps a stack through a source map only for the files its own loaders
// load: the report of an internal error would name lines of bundles no one
// edits. The build's source map beside each bundle names the source of each
// place; it is read only here, once an internal error has happened.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The bundles, beside this module's own (the commands' bundle): the command line's, and the commands'. */
const BUNDLES = ['netlab.cjs', 'commands.cjs'].map((name) => fileURLToPath(new URL(name, import.meta.url)));

/**
 * `stack` with each place in `file` (file:line:column, as V8 writes a stack) replaced
 * by the source's, relative to the package (src/cli.ts:24:8), as `map` (the file's
 * source map) gives it. A place the map has no source for stays as it is.
 */
export function mapStack(stack: string, file: string, map: SourceMap): string {
  const at = new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+)`, 'g');
  return stack.replace(at, (place, line: string, column: string) => {
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1) as {
      originalSource?: string;
      originalLine?: number;
      originalColumn?: number;
    };
    if (!entry.originalSource) return place;
    const source = entry.originalSource.replace(/^(\.\.\/)+/, '');
    return `${source}:${entry.originalLine! + 1}:${entry.originalColumn! + 1}`;
  });
}

/** The stack with the bundles' places as the sources'; a bundle's as they are where the build left no source map. */
export function sourceStack(stack: string, bundles: readonly string[] = BUNDLES): string {
  return bundles.reduce((mapped, file) => {
    try {
      return mapStack(mapped, file, new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))));
    } catch {
      return mapped;
    }
  }, stack);
}
