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
import { NODE_STATE_ROOT } from '../plan/paths.js';
import { quoteArg } from '../shell/quote.js';
import type { Transport } from './transport.js';
import { RunError } from '../errors.js';

const LOCK_FILE = `${NODE_STATE_ROOT}/.lock`;
/** who holds the lock, written by the holder once it has it: for the message of whoever waits */
const HOLDER_FILE = `${NODE_STATE_ROOT}/.lock-holder`;

/** Lines for the session's own shell: open fd 9 on the lock file and try to lock it. */
export function lockLines(holder: string): string {
  return [
    `mkdir -p ${NODE_STATE_ROOT} && command exec 9>>${LOCK_FILE} || { echo "@@netlab lock-failed"; false; }`,
    `if ! command -v flock >/dev/null 2>&1; then echo "@@netlab no-flock"; command exec 9>&-`,
    `elif flock -n 9; then printf '%s\\n' ${quoteArg(holder.replace(/[\r\n]/g, ' '))} >${HOLDER_FILE}; echo "@@netlab locked"`,
    `else echo "@@netlab busy $(cat ${HOLDER_FILE} 2>/dev/null)"; command exec 9>&-; fi`,
  ].join('\n');
}

export const UNLOCK_LINES = 'flock -u 9 2>/dev/null; command exec 9>&-';

/** undefined: locked; otherwise who holds it. Throws what cannot be waited out. */
export function parseLockOutput(node: string, stdout: string, stderr: string): string | undefined {
  if (stdout.includes('@@netlab locked')) return undefined;
  const busy = /@@netlab busy ?(.*)/.exec(stdout);
  if (busy) return busy[1] || 'another netlab';
  if (stdout.includes('@@netlab no-flock')) throw new RunError(`${node} has no flock command, which netlab needs to lock the node while it changes it: install util-linux (apt-get install util-linux); nothing was changed`);
  throw new RunError(`${node}: cannot lock ${LOCK_FILE}: ${stderr.trim() || 'no message'}; nothing was changed`);
}

/**
 * Locks every node, all or nothing, retrying for up to `waitMs`; says once
 * (through `waiting`) who holds a busy node. On timeout, nothing is held and the
 * error names the holder.
 */
export async function lockNodes(transports: Record<string, Transport>, holder: string, options: { waitMs?: number; waiting?: (line: string) => void } = {}): Promise<void> {
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  let told = false;
  for (;;) {
    const results = await Promise.allSettled(Object.entries(transports).map(async ([node, t]) => [node, await t.lock(holder)] as const));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const busy = results.flatMap((r) => (r.status === 'fulfilled' && r.value[1] !== undefined ? [`${r.value[0]}: ${r.value[1]}`] : []));
    if (!failed && busy.length === 0) return;
    await Promise.all(Object.values(transports).map((t) => t.unlock()));
    if (failed) throw failed.reason;
    if (Date.now() > deadline) throw new RunError(`another netlab is changing these machines; nothing was changed:\n  ${busy.join('\n  ')}\nwait for it to finish (or ask who runs it), then try again`);
    if (!told) options.waiting?.(`waiting for another netlab to finish on ${busy.join('; ')}`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300));
  }
}
