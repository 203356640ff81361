// What each of netlab's shell helpers (shell/prelude.ts) does, as the plain
// commands a reader of the articles types: `plan`, `plan --explain` and `up
// --step` show them under the helper, and a learner can paste them into a
// shell on a VM of their own and get the same namespaces, processes and
// settings. The helpers stay where they earn their place: they record PIDs
// with their start times for down, journal a sysctl's old value, and wait for
// a process to be there. The effect that runs a helper carries its plain
// commands (model/effects.ts): nothing reads a helper's command back.
import { quoteArg, quoteArgv } from '../os/quote.js';

/**
 * The pause process of a pod started by hand: the shell `unshare` runs, found by
 * the command line it was started with (below, pauseByHand), which starts with
 * `sh` where unshare's starts with `unshare`; the oldest (-o) of those, as its
 * children have its command line until they run theirs. A pod name's dots are
 * plain dots to pgrep's regular expression.
 */
const pausePid = (pod: string) =>
  `PAUSE_PID=$(pgrep -o -f ${quoteArg(`^sh -c hostname ${pod.replaceAll('.', '\\.')};`)})`;

/** netlab_ipv4_only: both sysctls of the namespace, written from inside it (/proc/sys/net is the reader's namespace). */
export const ipv4OnlyByHand = (pod: string): string[] => [
  quoteArgv(['ip', 'netns', 'exec', pod, 'sysctl', '-w', 'net.ipv6.conf.all.disable_ipv6=1']),
  quoteArgv(['ip', 'netns', 'exec', pod, 'sysctl', '-w', 'net.ipv6.conf.default.disable_ipv6=1']),
];

/**
 * netlab_pause: the article's `unshare -Cunimpf` less the network namespace (the pod's, made first), the cgroup one
 * and, without a rootfs, the mount one: `unshare -uipf`, in the background; hostname = pod name. Its shell, the pod's PID 1, waits for a sleep that never ends (and ignores SIGTERM, as PID 1 does), and so
 * for every process left to it.
 */
export const pauseByHand = (pod: string, mount: boolean): string[] => [
  `${quoteArgv([
    'ip',
    'netns',
    'exec',
    pod,
    'unshare',
    '--uts',
    '--ipc',
    '--pid',
    ...(mount ? ['--mount'] : []),
    '--fork',
    '--kill-child',
    'sh',
    '-c',
    `hostname ${pod}; trap "" TERM; sleep infinity & wait`,
  ])} &`,
];

/** netlab_container: a process in the pod's namespaces (chrooted into its overlay when it has a root filesystem). */
export const containerByHand = (pod: string, root: string | undefined): string[] => [
  pausePid(pod),
  `nsenter -t "$PAUSE_PID" -n -u -i -p ${quoteArgv([...(root ? ['-m', 'chroot', root] : []), 'sleep', 'infinity'])} &`,
];

/** netlab_pod_mount: a mount in the pod's own mount namespace. */
export const podMountByHand = (pod: string, mount: readonly string[]): string[] => [
  pausePid(pod),
  `nsenter -t "$PAUSE_PID" -m ${quoteArgv(['mount', ...mount])}`,
];

/** netlab_sysctl: the setting itself (the helper also journals the old value for down). */
export const sysctlByHand = (key: string, value: string): string[] => [quoteArgv(['sysctl', '-w', `${key}=${value}`])];

/** netlab_restore: iptables-restore's input as the here-document it is. */
export const restoreByHand = (input: string): string[] => [
  "iptables-restore -w --noflush <<'EOF'",
  ...input.trimEnd().split('\n'),
  'EOF',
];
