// The iptables extensions (matches and targets) the lab modules use. Each is a
// kernel module on distribution kernels (xt_statistic, xt_nat, ...), loaded on
// demand; a minimal or custom kernel (WSL2's among them) may lack one, and then
// iptables-restore fails in the middle of `up` with "Extension statistic
// revision 0 not supported". Preflight adds a rule that uses each extension in
// a throwaway network namespace (see exec/preflight.ts), so that a missing one
// is named before anything changes.
import type { NetfilterExtension } from './types.js';

/** The comment that marks a rule of a built-in chain as the lab's own (`-m comment`). */
export const labComment = (lab: string) => `netlab lab ${lab}`;

const extension = (
  name: string,
  module: string,
  table: NetfilterExtension['probe']['table'],
  chain: string,
  rule: string[],
): NetfilterExtension => ({ name, module, probe: { table, chain, rule } });

export const EXTENSIONS = {
  /** a comment on the jumps into the lab's chains, naming the lab */
  comment: extension('comment', 'xt_comment', 'filter', 'OUTPUT', ['-m', 'comment', '--comment', 'netlab']),
  /** kube-proxy's random choice of a Service backend */
  statistic: extension('statistic', 'xt_statistic', 'nat', 'OUTPUT', [
    '-m',
    'statistic',
    '--mode',
    'random',
    '--probability',
    '0.5',
  ]),
  DNAT: extension('DNAT', 'xt_nat', 'nat', 'OUTPUT', ['-j', 'DNAT', '--to-destination', '127.0.0.1']),
  MASQUERADE: extension('MASQUERADE', 'xt_MASQUERADE', 'nat', 'POSTROUTING', ['-j', 'MASQUERADE']),
  /** the mark a hairpin connection gets, and the match on it */
  MARK: extension('MARK', 'xt_mark', 'nat', 'OUTPUT', ['-j', 'MARK', '--set-xmark', '0x4000/0x4000']),
  mark: extension('mark', 'xt_mark', 'nat', 'OUTPUT', ['-m', 'mark', '--mark', '0x4000/0x4000']),
  /** NetworkPolicies let replies through by their connection's state */
  conntrack: extension('conntrack', 'xt_conntrack', 'filter', 'OUTPUT', [
    '-m',
    'conntrack',
    '--ctstate',
    'RELATED,ESTABLISHED',
  ]),
} as const;
