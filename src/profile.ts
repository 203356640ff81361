// Where the time of a command goes, for the benchmark: with NETLAB_PROFILE=FILE,
// netlab appends one JSON line per command to FILE with the milliseconds since
// the process started at each mark (Node's own start-up is the first figure).
// Off by default: one environment lookup per mark.
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const file = process.env.NETLAB_PROFILE;
const marks: [string, number][] = [];

/** Records that `label` ended now. */
export function mark(label: string): void {
  if (!file) return;
  if (marks.length === 0) {
    // Node's own bootstrap, before any of netlab's code ran.
    marks.push(['node start-up', performance.nodeTiming.bootstrapComplete]);
    process.on('exit', () => appendFileSync(file, `${JSON.stringify({ argv: process.argv.slice(2), marks })}\n`));
  }
  marks.push([label, performance.now()]);
}
