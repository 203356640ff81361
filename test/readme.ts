// The README, read as a test reads it: its code blocks, the lab files among
// them, and the commands shown with their output. A command's output is
// compared with the README's after both went through `normalise`, which puts
// placeholders where output varies from run to run (times, interface indexes,
// MACs, run ids, dates, PIDs, the controller and the checkout's path); a
// README line of `...` (or `…`) stands for any number of lines, and a line
// ending in ` ...` for the rest of that line. Nothing else is ignored, so an
// output that changes fails the test until the README says the same.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export const README = join(ROOT, 'README.md');

export interface CodeBlock {
  /** the fence's info string: yaml, sh, or '' */
  lang: string;
  /** line number (1-based) of the block's first line of content */
  line: number;
  lines: string[];
}

/** Every fenced block of a Markdown text, its indentation (a block inside a list item) removed. */
export function codeBlocks(text: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const open = /^( *)```(\w*)\s*$/.exec(all[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const lines: string[] = [];
    let j = i + 1;
    for (; j < all.length && !/^ *```\s*$/.test(all[j]!); j++) lines.push(all[j]!.slice(indent));
    blocks.push({ lang: open[2]!, line: i + 2, lines });
    i = j;
  }
  return blocks;
}

/** An inventory shown in the README (`--inventory FILE`): its nodes have a `host:`. */
export function inventoryBlocks(blocks: CodeBlock[]): CodeBlock[] {
  return blocks.filter((b) => b.lang === 'yaml' && b.lines.some((l) => /^\s+[\w.-]+: \{.*\bhost: /.test(l)));
}

/** A lab file shown in the README: a yaml block with `nodes:` at its top level that is not an inventory. */
export function labFileBlocks(blocks: CodeBlock[]): CodeBlock[] {
  const inventories = new Set(inventoryBlocks(blocks));
  return blocks.filter((b) => b.lang === 'yaml' && !inventories.has(b) && b.lines.some((l) => /^nodes:/.test(l)));
}

export interface ShownCommand {
  /** the line as the README shows it, after `$ ` */
  text: string;
  /** README line number of the command */
  line: number;
  /** netlab's arguments (without `sudo netlab`) */
  args: string[];
  sudo: boolean;
  /** the output the README shows, one entry per line */
  expected: string[];
}

/** The commands of a block that shows `$ netlab …` or `$ sudo netlab …` lines, each with the output below it. */
export function commandsOf(block: CodeBlock): ShownCommand[] {
  const commands: ShownCommand[] = [];
  for (const [index, line] of block.lines.entries()) {
    const command = /^\$ (sudo )?netlab(?: (.*))?$/.exec(line);
    if (command) {
      commands.push({
        text: line.slice(2),
        line: block.line + index,
        args: shellWords(command[2] ?? ''),
        sudo: command[1] !== undefined,
        expected: [],
      });
    } else if (commands.length > 0) commands.at(-1)!.expected.push(line);
  }
  return commands;
}

/** The blocks that show netlab commands, in README order. */
export function commandBlocks(blocks: CodeBlock[]): { block: CodeBlock; commands: ShownCommand[] }[] {
  return blocks
    .map((block) => ({ block, commands: commandsOf(block) }))
    .filter((b) => b.commands.length > 0 && b.block.lines[0]?.startsWith('$ '));
}

/** Words of a command line as sh splits them: '…' and "…" quoting, backslashes, `#` comments. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) break;
    else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unclosed ' in ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      word ??= '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        word += line[j];
      }
      if (j >= line.length) throw new Error(`unclosed " in ${line}`);
      i = j;
    } else if (c === '\\' && i + 1 < line.length) word = (word ?? '') + line[++i];
    else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Commands that read files only: run by the unit tier. Everything else needs a lab that is up (e2e tier). */
export function isPureCommand(args: readonly string[]): boolean {
  if (args.includes('--help') || args.includes('-h')) return true;
  const [command, sub] = args;
  if (command === 'plan') return !args.some((a) => ['--ssh-config', '--inventory', '--vagrant'].includes(a));
  if (command === 'challenge') return sub === 'list' || sub === 'faults';
  return ['validate', 'labs', 'graph', 'schema'].includes(command ?? '');
}

const MAC = /\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/g;

/**
 * Output with what varies between runs replaced by placeholders, line by line; the
 * same function is applied to the README's text and to the command's output.
 */
export function normalise(text: string): string {
  return (
    text
      // colours, which a person's terminal shows and the README does not
      .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '')
      .split('\n')
      // listr's line for a task that starts: a terminal redraws it as the task's ✔ line
      .filter((line) => !line.startsWith('❯ '))
      .map((line) =>
        line
          // dates and times of day: 2026-11-23T22:29:46.345Z
          .replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\b/g, '<date>')
          // durations: time=0.190 ms, time 201ms, [0.0s], in 0.2 min, 12.3 s
          .replace(/\btime[= ]\d+(?:\.\d+)? ?ms\b/g, 'time=<t> ms')
          .replace(/\[\d+(?:\.\d+)?s\]/g, '[<t>s]')
          .replace(/\b\d+(?:\.\d+)? (min|ms|s)\b/g, '<t> $1')
          // MACs (the all-zero one is no variable: it is VXLAN's default destination)
          .replace(MAC, (mac) => (mac === '00:00:00:00:00:00' ? mac : '<mac>'))
          // times of day: a room's board says when it graded (22:24:03)
          .replace(/(?<![:\w])\d\d:\d\d:\d\d(?![:\w])/g, '<clock>')
          // interface indexes: veth-a0@if4, and `ip link`'s "7: vxlan0:"
          .replace(/@if\d+\b/g, '@if<n>')
          .replace(/^(\s*)\d+: ([\w.@<>-]+): </, '$1<n>: $2: <')
          // run ids and the controller that made a run: run 6e843340055d from vm:/var/lib/netlab
          .replace(/\brun [0-9a-f]{12}\b/g, 'run <run>')
          .replace(/ from [\w.-]+:\/[^\s,)]*/g, ' from <controller>')
          // PIDs
          .replace(/\b(pid|PID)([ =])\d+\b/g, '$1$2<pid>')
          // a lab file by its absolute path: the checkout lives anywhere
          .replace(/(^|[\s(])\/[^\s,)]*\/(labs\/[\w.-]+\.yaml)/g, '$1<checkout>/$2')
          // conntrack's seconds left and ICMP ids
          .replace(/^(\s*(?:icmp|tcp|udp)\s+\d+\s+)\d+/, '$1<s>')
          .replace(/\bid=\d+\b/g, 'id=<n>')
          .replace(/\s+$/, ''),
      )
      .join('\n')
  );
}

/** A README line that stands for lines left out. */
const isOmission = (line: string) => /^\s*(\.\.\.|…)\s*$/.test(line);
/** A README line whose end is left out: `… ...` or `… …` */
const omittedEnd = /\s(\.\.\.|…)$/;

/**
 * Whether the output matches what the README shows (both normalised): line by
 * line, where an omission line matches any number of lines and a line with an
 * omitted end matches a line that starts with the rest. Returns undefined on a
 * match, else what differs: the README's first line that no alignment reaches,
 * with the output around where it was looked for.
 */
export function compareOutput(shown: readonly string[], output: string): string | undefined {
  const expected = normalise(shown.join('\n')).split('\n');
  const actual = normalise(output.replace(/\n$/, '')).split('\n');
  if (output === '') actual.length = 0;
  if (shown.length === 0) expected.length = 0;
  const lineMatches = (e: string, a: string) =>
    omittedEnd.test(e) && !isOmission(e) ? a.startsWith(e.replace(omittedEnd, '')) : e === a;
  // reach[i][j]: expected[0..i) matches actual[0..j)
  const reach: boolean[][] = Array.from({ length: expected.length + 1 }, () =>
    new Array<boolean>(actual.length + 1).fill(false),
  );
  reach[0]![0] = true;
  let furthest = { i: 0, j: 0 };
  for (let i = 0; i <= expected.length; i++) {
    for (let j = 0; j <= actual.length; j++) {
      if (!reach[i]![j]) continue;
      if (i > furthest.i) furthest = { i, j };
      if (i === expected.length) continue;
      const e = expected[i]!;
      if (isOmission(e)) {
        for (let k = j; k <= actual.length; k++) reach[i + 1]![k] = true;
      } else if (j < actual.length && lineMatches(e, actual[j]!)) reach[i + 1]![j + 1] = true;
    }
  }
  if (reach[expected.length]![actual.length]) return undefined;
  const context = actual
    .slice(Math.max(0, furthest.j - 2), furthest.j + 6)
    .map((l) => `    ${l}`)
    .join('\n');
  if (furthest.i === expected.length)
    return `the output goes on after the README's last line (end the README's block with "..." if that is meant):\n${context}`;
  return `the README's line ${JSON.stringify(expected[furthest.i])} is not in the output where expected; the output there:\n${context || '    (nothing)'}`;
}

export function readmeText(): string {
  return readFileSync(README, 'utf8');
}
