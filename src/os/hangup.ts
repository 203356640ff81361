// A terminal that closes, or an SSH session that drops (common on workshop
// Wi-Fi), sends SIGHUP to netlab, whose default action kills it wherever it
// is. `up` handles it as Ctrl-C (it rolls back: lifecycle/up.ts); the commands
// that change nodes and must not stop halfway (down, challenge start and stop)
// finish what they do. Either way, what netlab writes after it goes nowhere.
// Challenge start and stop (and a room's start) finish despite ^C too: a fault
// made is recorded, or a mend is, before netlab stops.

import { EXIT_INTERRUPTED } from '../errors.js';

let gone = false;

/**
 * The terminal is gone: a write to it fails (EIO, EPIPE) with an 'error' event
 * that would end netlab. What it says from here on is lost, and that is all.
 */
export function outputMayBeGone(): void {
  if (gone) return;
  gone = true;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}

/** Until the returned function is called, a hangup does not stop netlab: it finishes, writing to nowhere. */
export function finishDespiteHangup(): () => void {
  const onHangup = () => outputMayBeGone();
  process.on('SIGHUP', onHangup);
  return () => {
    process.off('SIGHUP', onHangup);
  };
}

/**
 * Until the returned function is called, ^C (SIGINT) and SIGTERM call `onSignal` instead of ending netlab,
 * and a hangup calls `onHangup` (by default the same), what netlab writes going nowhere from then on.
 */
export function onInterrupts(onSignal: () => void, onHangup: () => void = onSignal): () => void {
  const interrupt = pairsAsOne(onSignal);
  const hangup = pairsAsOne(() => {
    outputMayBeGone();
    onHangup();
  });
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  process.on('SIGHUP', hangup);
  return () => {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    process.off('SIGHUP', hangup);
  };
}

/**
 * The variable a room's netlab sets for the netlab it runs for a group (room/groups.ts runNetlab): a SIGTERM
 * may reach that netlab twice at once, from whatever stops the room's whole group of processes (a service
 * manager, `kill -TERM -PGID`, `pkill netlab`) and passed on by the room's netlab, which got it too.
 */
export const SIGNALS_PASSED_ON = 'NETLAB_SIGNALS_PASSED_ON';

/** How close together two signals of a room's child netlab are one (a person's second Ctrl-C comes later). */
const SAME_SIGNAL_MS = 500;

/** The handler, where signals may come twice at once (SIGNALS_PASSED_ON), called once for a pair of them. */
function pairsAsOne<T extends unknown[]>(handler: (...args: T) => void): (...args: T) => void {
  if (process.env[SIGNALS_PASSED_ON] !== '1') return handler;
  let last = -Infinity;
  return (...args: T) => {
    const now = Date.now();
    if (now - last < SAME_SIGNAL_MS) return;
    last = now;
    handler(...args);
  };
}

/**
 * Until `done()`, neither a hangup nor ^C (SIGINT) nor SIGTERM stops netlab:
 * it finishes `what` (a fault made and then recorded, which must not stop
 * between the two) and says so once; `interrupted()` tells whether one came.
 */
export function finishDespiteSignals(what: string): { done: () => void; interrupted: () => boolean } {
  let interrupted = false;
  // A second Ctrl-C stops it all the same (a node that hangs, a lock another netlab holds for a minute).
  const onSignal = () => {
    if (interrupted) {
      process.stderr.write(
        `netlab: stopped in the middle of ${what}: what it changed may be unrecorded (\`netlab status\` says what drifted)\n`,
      );
      process.exit(EXIT_INTERRUPTED);
    }
    process.stderr.write(
      `netlab: finishing ${what} first: it cannot stop halfway (Ctrl-C again stops it all the same)\n`,
    );
    interrupted = true;
  };
  // A hangup only leaves the output nowhere: the work finishes.
  return { done: onInterrupts(onSignal, () => {}), interrupted: () => interrupted };
}
