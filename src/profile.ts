// Where the time of a command goes, for the benchmark: with NETLAB_PROFILE=FILE,
// netlab appends one JSON line per command to FILE with the milliseconds since
// the process started at each mark (Node's own start-up is the first figure).
// Off by default: one environment lookup per mark.
// Node's global performance loads perf_hooks when it is first read: in a profiled run only (0.7-1 ms
// of every command's start, where perf_hooks was imported).
import { appendFileSync } from 'node:fs';
import type { Performance } from 'node:perf_hooks';

const file = process.env.NETLAB_PROFILE;
const marks: [string, number][] = [];
/** The global performance, which is perf_hooks' own (its type, from @types/node, is the web's, without nodeTiming). */
const nodePerformance = () => performance as unknown as Performance;

/** Records that `label` ended now. */
export function mark(label: string): void {
  if (!file) return;
  if (marks.length === 0) {
    // Node's own bootstrap, before any of netlab's code ran.
    marks.push(['node start-up', nodePerformance().nodeTiming.bootstrapComplete]);
    process.on('exit', () => appendFileSync(file, `${JSON.stringify({ argv: process.argv.slice(2), marks })}\n`));
  }
  marks.push([label, nodePerformance().now()]);
}
