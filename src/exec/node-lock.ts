// One netlab changes a machine at a time. Labs on the same machines share its
// kernel: two ups at once could both pass their preflight and then collide, and
// one's rollback would delete what the other made. So `up` holds a lock on every
// node from its preflight to its last phase (and its rollback), and `down` while
// it runs the journal: an flock(2) on /run/netlab/.lock, held by the command's
// shell on the node, so the kernel releases it when that shell ends for any
// reason (a killed netlab, a lost connection): no lock is ever left stale.
//
// Several nodes are locked all or nothing: each is tried without waiting, and
// if one is busy the ones taken are let go and the whole set is tried again a
// moment later; two netlabs that lock the same nodes in another order never wait
// for each other forever.
import { NODE_STATE_ROOT } from '../node/paths.js';
import { quoteArg } from '../os/quote.js';
import type { ScriptResult, Transport } from './transport.js';
import { RunError } from '../errors.js';

/** Lines for the session's own shell: open fd 9 on the lock file (under root) and try to lock it. */
export function lockLines(holder: string, root = NODE_STATE_ROOT): string {
  const [lock, holderFile] = [quoteArg(`${root}/.lock`), quoteArg(`${root}/.lock-holder`)];
  return [
    // (mkdir only where the directory is missing: a process less for every lock after the first since boot)
    `if { [ -d ${quoteArg(root)} ] || mkdir -p ${quoteArg(root)}; } && command exec 9>>${lock}; then`,
    `  if ! command -v flock >/dev/null 2>&1; then echo "@@netlab no-flock"; command exec 9>&-`,
    // .lock-holder says who holds it, for the message of whoever waits
    `  elif flock -n 9; then printf '%s\n' ${quoteArg(holder.replace(/[\r\n]/g, ' '))} >${holderFile}; echo "@@netlab locked"`,
    `  else echo "@@netlab busy $(cat ${holderFile} 2>/dev/null)"; command exec 9>&-; fi`,
    `else echo "@@netlab lock-failed"; fi`,
  ].join('\n');
}

export const UNLOCK_LINES = 'flock -u 9 2>/dev/null; command exec 9>&-';

/** undefined: locked; otherwise who holds it. Throws what cannot be waited out. */
export function parseLockOutput(node: string, stdout: string, stderr: string): string | undefined {
  if (stdout.includes('@@netlab locked')) return undefined;
  if (stdout.includes('@@netlab no-flock'))
    throw new RunError(
      `${node} has no flock command, which netlab needs to lock the node while it changes it: install util-linux (apt-get install util-linux); nothing was changed`,
    );
  const busy = /@@netlab busy ?(.*)/.exec(stdout);
  if (busy) return busy[1] || 'another netlab';
  throw new RunError(
    `${node}: cannot open the node lock ${NODE_STATE_ROOT}/.lock: ${stderr.trim() || 'no message'}; nothing was changed`,
  );
}

/**
 * Locks every node, all or nothing, retrying for up to `waitMs`; says once
 * (through `waiting`) who holds a busy node. On timeout, nothing is held and the
 * error names the holder. With `skipUnreachable` (down), a node that cannot be
 * reached is left out and returned (`unreachable`), and the others are locked.
 * `then`: a node's script that only reads, sent with its lock (one round for
 * both: up's preflight), at the first try only; what it answered where every
 * node was locked at once. After a wait, the caller asks it on its own.
 */
export async function lockNodes(
  transports: Record<string, Transport>,
  holder: string,
  options: {
    waitMs?: number;
    waiting?: (line: string) => void;
    signal?: AbortSignal;
    skipUnreachable?: boolean;
    then?: (node: string) => string;
  } = {},
): Promise<{ unreachable: Record<string, string>; answered: Record<string, ScriptResult> }> {
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  const unreachable: Record<string, string> = {};
  let told = false;
  for (let first = true; ; first = false) {
    const nodes = Object.entries(transports).filter(([node]) => !(node in unreachable));
    const then = first ? options.then : undefined;
    const results = await Promise.allSettled(
      nodes.map(async ([node, t]) => [node, await t.lock(holder, then?.(node))] as const),
    );
    const failed = results.flatMap((r, i) =>
      r.status === 'rejected' ? [[nodes[i]![0], r.reason as Error] as const] : [],
    );
    const locked = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const busy = locked.flatMap(([node, l]) => (l.busy !== undefined ? [`${node}: ${l.busy}`] : []));
    if (options.skipUnreachable) for (const [node, error] of failed) unreachable[node] = error.message;
    if ((options.skipUnreachable || failed.length === 0) && busy.length === 0) {
      const answered = locked.flatMap(([node, l]) => (l.busy === undefined && l.answered ? [[node, l.answered]] : []));
      return { unreachable, answered: Object.fromEntries(answered) };
    }
    await Promise.all(Object.values(transports).map((t) => t.unlock()));
    if (failed.length && !options.skipUnreachable) throw failed[0]![1];
    if (options.signal?.aborted)
      throw new RunError('interrupted while waiting for another netlab; nothing was changed');
    if (Date.now() > deadline)
      throw new RunError(
        `another netlab is changing these machines; nothing was changed:\n  ${busy.join('\n  ')}\nwait for it to finish (or ask who runs it), then try again`,
      );
    if (!told) options.waiting?.(`waiting for another netlab to finish on ${busy.join('; ')}`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300));
  }
}
