// The board in a terminal: one line per group, so that 30 groups fit a
// screen; a group's state in a word and a colour, the failing checks by number.
import chalk from 'chalk';
import { escapeControls } from '../errors.js';
import type { Board, BoardGroup, GroupState } from './board.js';

/** A time of day as the room's clock shows it (this machine's time zone). */
function clock(iso: string | null): string {
  return iso ? new Date(iso).toTimeString().slice(0, 8) : '';
}

const COLOUR: Record<GroupState, (text: string) => string> = {
  solved: chalk.green,
  unsolved: chalk.yellow,
  'not-started': chalk.red,
  unreachable: chalk.red,
  down: chalk.red,
  rebuilt: chalk.magenta,
  idle: (s: string) => s,
};

function row(group: BoardGroup, hintsOf: number): string[] {
  const { state, challenge: c } = group;
  const what =
    state === 'solved'
      ? `✓ solved ${clock(c!['solved-at'])}${c!.revealed ? ' (revealed)' : ''}`
      : state === 'unsolved'
        ? '✗ working'
        : state === 'not-started'
          ? '✗ start failed (room reset)'
          : state === 'idle'
            ? group.condition === 'unknown'
              ? 'not graded yet'
              : 'up, no challenge'
            : `${state} since ${clock(group.since)}`;
  const hints = c ? `${c.hints}/${hintsOf}${c['hints-read'] !== null ? ` (${c['hints-read']} read)` : ''}` : '';
  const failing = group.failing.map((f) => f.number).join(',') || (group.condition === 'up' ? 'none' : '');
  return [
    escapeControls(group.name, true),
    COLOUR[state](what),
    c ? `${c.minutes.toFixed(1)} min` : '',
    hints,
    c ? String(c.resets) : '',
    c ? String(c.attempts) : '',
    failing,
  ];
}

// eslint-disable-next-line no-control-regex
const COLOUR_CODE = /\x1b\[[0-9;]*m/g;

/** The width a text takes on the screen (colour codes take none). */
function visibleLength(text: string): number {
  return text.replace(COLOUR_CODE, '').length;
}

/** Pads to width by the visible length. */
function pad(text: string, width: number): string {
  const visible = visibleLength(text);
  return text + ' '.repeat(Math.max(0, width - visible));
}

/** The board as text lines, no wider than `columns`. */
export function renderBoard(board: Board, columns: number): string {
  const current = board.current;
  const elapsed = current ? (Date.parse(board.at) - Date.parse(current.started)) / 60_000 : 0;
  const head = current
    ? `room ${board.room} · ${elapsed.toFixed(1)} min${current.minutes !== null ? ` of ${current.minutes}` : ''} · ${current.challenge}: ${escapeControls(current.title, true)}`
    : `room ${board.room} · lab ${board.lab} · no challenge running (\`netlab room start\`)`;
  const solved = board.groups.filter((g) => g.challenge?.solved).length;
  const rows = [
    ['GROUP', 'STATE', 'TIME', 'HINTS', 'RESETS', 'TRIES', 'FAILING'],
    ...board.groups.map((g) => row(g, current?.hints ?? 0)),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => visibleLength(r[i]!))));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => pad(cell, widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const foot = `${solved} of ${board.groups.length} solved · graded ${clock(board.at)} · FAILING: check numbers of \`netlab verify\``;
  // A line too wide loses its colours and its end (a cut colour code would colour the rest of the screen).
  const fit = (line: string) =>
    visibleLength(line) > columns ? line.replace(COLOUR_CODE, '').slice(0, Math.max(40, columns)) : line;
  return `${[head, '', ...lines, '', foot].map(fit).join('\n')}\n`;
}

/**
 * One drawing of `room watch` over the last: home, each line after "erase the
 * line from here" (a shorter line would leave the end of the last drawing's:
 * FAILING 3,4 over 1,2,3,4,5 read 3,4,3,4,5; erased before, not after, a line
 * as wide as the screen keeps its last character), then "erase below". No
 * screen clear between drawings: no flicker on a projector.
 */
export function redrawn(text: string): string {
  return `\x1b[H\x1b[K${text.replace(/\n(?!$)/g, '\n\x1b[K')}\x1b[J`;
}
