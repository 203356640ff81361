// An internal error's stack, as the sources name it. netlab runs as one bundle
// (scripts/bundle.mjs) that Node compiles itself from its text (bin/load.cjs),
// and Node maps a stack through a source map only for the files its own loaders
// load: the report of an internal error would name lines of a 2 MB file no one
// edits. The build's source map beside the bundle names the source of each
// place; it is read only here, once an internal error has happened.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

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

/** The stack with the bundle's places as the sources'; as it is where the build left no source map. */
export function sourceStack(stack: string, file = fileURLToPath(import.meta.url)): string {
  try {
    return mapStack(stack, file, new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8'))));
  } catch {
    return stack;
  }
}
