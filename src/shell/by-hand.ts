// What each of netlab's shell helpers (shell/prelude.ts) does, as the plain
// commands a reader of the articles types: `plan`, `plan --explain`, `up
// --step` and `challenge reveal` show them under the helper, and a learner can
// paste them into a shell on a VM of their own and get the same namespaces,
// processes and settings. The helpers stay where they earn their place: they
// record PIDs with their start times for down, journal a sysctl's old value,
// and wait for a process to be there. One table, one entry per helper a plan
// may use: a test fails if a bundled lab's plan uses a helper that has none.
import type { Command } from '../model/plan.js';
import { quoteArg, quoteArgv } from '../os/quote.js';

type ByHand = (args: readonly string[]) => string[];

/**
 * The pause process of a pod started by hand: `unshare`'s only child, found by
 * the command line it was started with (below, netlab_pause).
 */
const pausePid = (pod: string) => `PAUSE_PID=$(pgrep -P "$(pgrep -f ${quoteArg(`hostname ${pod};`)})")`;

const HELPERS: Record<string, ByHand> = {
  // Both sysctls of the namespace, written from inside it (/proc/sys/net is the reader's namespace).
  netlab_ipv4_only: ([pod]) => [
    quoteArgv(['ip', 'netns', 'exec', pod!, 'sysctl', '-w', 'net.ipv6.conf.all.disable_ipv6=1']),
    quoteArgv(['ip', 'netns', 'exec', pod!, 'sysctl', '-w', 'net.ipv6.conf.default.disable_ipv6=1']),
  ],
  // The article's `unshare -uipf`, in the pod's network namespace, in the background; hostname = pod name.
  netlab_pause: ([pod, mount]) => [
    `${quoteArgv([
      'ip',
      'netns',
      'exec',
      pod!,
      'unshare',
      '--uts',
      '--ipc',
      '--pid',
      ...(mount ? ['--mount'] : []),
      '--fork',
      '--kill-child',
      'sh',
      '-c',
      `hostname ${pod}; exec sleep infinity`,
    ])} &`,
  ],
  netlab_container: ([pod, , root]) => [
    pausePid(pod!),
    `nsenter -t "$PAUSE_PID" -n -u -i -p ${quoteArgv([...(root ? ['-m', 'chroot', root] : []), 'sleep', 'infinity'])} &`,
  ],
  netlab_pod_mount: ([pod, ...mount]) => [
    pausePid(pod!),
    `nsenter -t "$PAUSE_PID" -m ${quoteArgv(['mount', ...mount])}`,
  ],
  netlab_sysctl: ([key, value]) => [quoteArgv(['sysctl', '-w', `${key}=${value}`])],
  netlab_restore: ([input]) => ["iptables-restore -w --noflush <<'EOF'", ...input!.trimEnd().split('\n'), 'EOF'],
};

/** The helpers that have plain commands: every one a plan's apply commands may use. */
export const HELPERS_BY_HAND: readonly string[] = Object.keys(HELPERS);

/** Whether a command is one of netlab's shell helpers. */
export const isHelper = (command: Command): boolean => /^netlab_/.test(command[0] ?? '');

/**
 * The plain commands a helper runs, one shell line each (undefined for a
 * command that is no helper: it is typed as it is shown).
 */
export function byHand(command: Command): string[] | undefined {
  const name = command[0] ?? '';
  return Object.hasOwn(HELPERS, name) ? HELPERS[name]!(command.slice(1)) : undefined;
}
