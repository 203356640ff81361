// One description of each change a lab makes. A step lists effects, typed
// records of what it changes on a node (a namespace, a veth pair, a route, a
// chain); this table derives from each record, in one place, the commands that
// apply it, the commands that undo it, what it declares (for the ownership
// check, the drift check, the faults and trace's hints) and its explanation
// for `plan --explain`. Nothing reads a plan's command back to learn what it
// does: the record says it. Like a containerlab link kind, each kind keeps its
// make, remove and meaning together; like a changeset's planner, the records
// say what is wanted and the commands are the writer's.
import type { Change, Command, Created, Declared, Dnat, Effect, ExplainedRule, StepDraft, Table } from './plan.js';
import { containerByHand, ipv4OnlyByHand, pauseByHand, restoreByHand, sysctlByHand } from './by-hand.js';

type Kind<K extends Effect['kind']> = Extract<Effect, { kind: K }>;

interface KindBase<E extends Effect> {
  undo: (e: E) => Command[];
  declares: (e: E) => Declared;
  /** one explanation per apply command */
  explain: (e: E) => string[];
  /** where its apply commands are netlab's shell helpers: per command, the plain commands a learner types */
  byHand?: (e: E) => ByHand[];
}

/** Under one apply command, the plain commands a learner types for it ([] for a plain command). */
interface ByHand {
  lines: string[];
  /** `plan` shows them in the command's place (a here-document) rather than under it */
  inPlace?: boolean;
}

/** An apply command as `plan` and `up --step` show it: the plain commands under it, and its explanation. */
export interface ShownCommand {
  command: Command;
  byHand: string[];
  inPlace: boolean;
  explain: string;
}

/**
 * What the table knows of a kind: made by one `ip` command (`ip`: its words
 * after `ip [-n NETNS]` and the namespace it runs in, from which the command
 * is derived and which the runner may put in an `ip -batch` of that
 * namespace), by iptables commands on one table (`iptables`: the words of each
 * after `iptables -w [-t nat]`, which the runner may put in one
 * iptables-restore of that table), or by other commands (`apply`).
 */
type EffectKind<E extends Effect> = KindBase<E> &
  (
    | { ip: (e: E) => { netns?: string; args: string[] } }
    | { iptables: (e: E) => IptablesCommands }
    | { apply: (e: E) => Command[] }
  );

/** iptables commands on one table, as their words after `iptables -w [-t nat]`. */
export interface IptablesCommands {
  table: Table;
  commands: string[][];
}

/** An iptables command on a table (`-w`: wait for the xtables lock rather than fail). */
export const iptables = (table: Table, ...args: string[]): Command => [
  'iptables',
  '-w',
  ...(table === 'nat' ? ['-t', 'nat'] : []),
  ...args,
];

/** An `ip` command, in a pod's namespace (`-n`) when there is one. */
export const ipIn = (netns: string | undefined, ...args: string[]): Command => [
  'ip',
  ...(netns ? ['-n', netns] : []),
  ...args,
];

/** An `ip` command's explanation, preceded, in a pod, by what `-n` does. */
function ipExplained(netns: string | undefined, text: string): string {
  return netns
    ? `\`ip -n ${netns} …\` runs the ip command inside pod ${netns}'s network namespace (short for \`ip netns exec ${netns} ip …\`). ${text}`
    : text;
}
const placeName = (netns: string | undefined) => (netns ? `pod ${netns}` : 'the node');

/** A jump's words after its chain: the comment that marks it as netlab's, and its target. */
const jumpRule = (e: { comment: string; to: string }) => ['-m', 'comment', '--comment', e.comment, '-j', e.to];

/** A DNAT rule's words and the record they say, made together so that the two never differ. */
export const dnatRule = (dnat: Dnat): { rule: string[]; dnat: Dnat } => ({
  rule: ['-p', dnat.protocol, '-j', 'DNAT', '--to-destination', `${dnat.address}:${dnat.port}`],
  dnat,
});

/** A rule of one of the lab's chains as declared: its words, and where it DNATs to if it does. */
const ruleCreated = (table: Table, chain: string, { rule, dnat }: ExplainedRule): Created => ({
  kind: 'rule',
  table,
  chain,
  rule,
  ...(dnat ? { dnat } : {}),
});

/**
 * A rule as iptables-save writes it and iptables-restore reads it, `-A CHAIN
 * WORDS`: split on spaces, a word with a space in double quotes (the comment
 * "netlab lab NAME"); no word of netlab's has a double quote (names follow
 * model/grammar.ts).
 */
export const ruleLine = (chain: string, words: readonly string[]) => restoreLine(['-A', chain, ...words]);

/** An iptables command's words as a line of iptables-restore's input (see ruleLine). */
export const restoreLine = (words: readonly string[]) => words.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');

/** A ruleset as iptables-restore's input: its chains declared, each jump and rule after a comment saying why. */
function restoreInput(e: Kind<'ruleset'>): string {
  const lines = e.chains.map((chain) => `:${chain} - [0:0]`);
  for (const jump of e.jumps) lines.push(`# ${jump.explain}`, ruleLine(jump.from, jumpRule(jump)));
  for (const { chain, rule, explain } of e.rules) lines.push(`# ${explain}`, ruleLine(chain, rule));
  return restoreDocument(e.table, lines);
}

/** iptables-restore's input for one table: its lines, committed as one transaction. */
export const restoreDocument = (table: Table, lines: readonly string[]) =>
  [`*${table}`, ...lines, 'COMMIT', ''].join('\n');

const SYSCTLS: Record<string, string> = {
  'net.ipv4.ip_forward':
    'With it, the node routes packets that are not for itself (from a bridge to the underlay, and back) instead of dropping them.',
  'net.bridge.bridge-nf-call-iptables':
    'With it (module br_netfilter), frames switched by a bridge also pass iptables and conntrack, so replies from a pod on the same bridge are un-DNATed too.',
};

const routeSpec = (e: Kind<'route'>) => [
  e.dst,
  ...(e.via ? ['via', e.via] : []),
  ...(e.dev ? ['dev', e.dev] : []),
  ...(e.onlink ? ['onlink'] : []),
];

const mtuWords = (e: Kind<'mtu'>) =>
  [
    `\`mtu ${e.mtu}\`: ${e.link} carries packets of at most ${e.mtu} bytes (not counting the Ethernet header); a larger one is dropped where it would leave by ${e.link}, or fragmented by a router that may.`,
    ...(e.oneSegment
      ? [` \`gso_max_segs 1\`: the kernel hands ${e.link} one TCP segment at a time, with no segmentation offload.`]
      : []),
  ].join('');

const KINDS: { [K in Effect['kind']]: EffectKind<Kind<K>> } = {
  netns: {
    ip: (e) => ({ args: ['netns', 'add', e.name] }),
    undo: (e) => [['ip', 'netns', 'del', e.name]],
    declares: (e) => ({ creates: [{ kind: 'netns', name: e.name }] }),
    explain: (e) => [
      `\`ip netns add ${e.name}\` creates a network namespace and pins it as /run/netns/${e.name}: its own interfaces, addresses, routes and iptables, starting with lo, down (and a fallback device such as tunl0 for each tunnel module the kernel has loaded).`,
    ],
  },
  'ipv4-only': {
    apply: (e) => [['netlab_ipv4_only', e.netns]],
    byHand: (e) => [{ lines: ipv4OnlyByHand(e.netns) }],
    undo: () => [],
    // Nothing declared: no check depends on it, so the drift check and the faults leave it alone.
    declares: () => ({}),
    explain: (e) => [
      `netlab_ipv4_only writes 1 to net.ipv6.conf.all.disable_ipv6 and net.ipv6.conf.default.disable_ipv6 inside pod ${e.netns}'s network namespace (\`nsenter --net=/run/netns/${e.netns}\`): lo loses ::1, and no interface that arrives gets an IPv6 address or sends IPv6.`,
    ],
  },
  pause: {
    apply: (e) => [['netlab_pause', e.netns, ...(e.mount ? ['mount'] : [])]],
    byHand: (e) => [{ lines: pauseByHand(e.netns, e.mount) }],
    undo: (e) => [['netlab_kill_pod', e.netns]],
    declares: (e) => ({ creates: [{ kind: 'pause', pod: e.netns }] }),
    explain: (e) => [
      `netlab_pause starts, in the background, the \`unshare --uts --ipc --pid${e.mount ? ' --mount' : ''} --fork --kill-child\` shown above in pod ${e.netns}'s network namespace: a process that only holds the pod's namespaces, like Kubernetes' pause container, and as the pod's PID 1 its shell waits for every process of the pod whose parent ended first, as that container does, so that none stays a zombie (netlab enters the network namespace with \`nsenter --net=/run/netns/${e.netns}\`, which keeps the node's mount namespace where \`ip netns exec\` makes one of its own, and writes the hostname to /proc/sys/kernel/hostname). Its PID and start time are kept in /run/netlab/LAB/pods/${e.netns}/pause.pid (a PID the kernel reuses is never mistaken for it).`,
    ],
  },
  container: {
    apply: (e) => [['netlab_container', e.netns, e.name, ...(e.root ? [e.root] : [])]],
    byHand: (e) => [{ lines: containerByHand(e.netns, e.root) }],
    undo: (e) => [['netlab_kill_container', e.netns, e.name]],
    declares: () => ({}),
    explain: (e) => [
      `netlab_container starts \`nsenter -t PAUSE_PID -n -u -i -p${e.root ? ` -m chroot ${e.root}` : ''} sleep infinity\`: a process in the pod's namespaces, i.e. a container of pod ${e.netns}.`,
    ],
  },
  veth: {
    ip: (e) => ({
      args: [
        'link',
        'add',
        e.name,
        'type',
        'veth',
        'peer',
        'name',
        e.peer,
        ...('peerNetns' in e ? ['netns', e.peerNetns] : []),
      ],
    }),
    // A pair made with its end in the pod goes with the pod's namespace, as a moved one does: journalled all the
    // same (finding its pod end gone from the node, it deletes nothing), so that down waits for its node end to
    // go, and deletes it if a closing socket keeps the namespace (shell/node-script.ts downScript).
    undo: (e) =>
      !('peerNetns' in e) && e.undo === 'delete'
        ? [['ip', 'link', 'del', e.name]]
        : [['netlab_del_unmoved', e.name, e.peer]],
    declares: (e) => ({
      creates: [
        { kind: 'link', name: e.name },
        { kind: 'link', name: e.peer, ...('peerNetns' in e ? { netns: e.peerNetns } : {}) },
      ],
    }),
    explain: (e) => [
      'peerNetns' in e
        ? `\`ip link add ${e.name} type veth peer name ${e.peer} netns ${e.peerNetns}\` creates a veth pair: two interfaces joined like the ends of a cable, the second one directly inside ${e.peerNetns}.`
        : `\`ip link add ${e.name} type veth peer name ${e.peer}\` creates a veth pair: two interfaces joined like the ends of a cable.`,
    ],
  },
  bridge: {
    ip: (e) => ({ args: ['link', 'add', 'name', e.name, 'address', e.mac, 'type', 'bridge'] }),
    undo: (e) => [['ip', 'link', 'del', e.name]],
    declares: (e) => ({ creates: [{ kind: 'link', name: e.name }] }),
    explain: (e) => [
      `\`ip link add ${e.name} address ${e.mac} type bridge\` creates a virtual switch in the node, with a MAC address of its own: without one, a bridge takes the lowest MAC of its ports and changes it whenever a port comes or goes (a pod added, a tunnel device made again): pods that cached the old one send their frames to a MAC nobody owns until their neighbour entry expires, half a minute or more. An address set by hand stays (the CNI bridge plugin pins its bridge's MAC too).`,
    ],
  },
  device: {
    ip: (e) => ({ args: [e.command, 'add', e.name, ...e.words] }),
    undo: (e) => [['ip', e.command, 'del', e.name]],
    declares: (e) => ({ creates: [{ kind: 'link', name: e.name, ...(e.tunnel ? { tunnel: e.tunnel } : {}) }] }),
    explain: (e) => [e.explain],
  },
  address: {
    ip: (e) => ({ netns: e.netns, args: ['addr', 'add', e.address, 'dev', e.dev] }),
    // Removed with its link (or the pod's namespace).
    undo: () => [],
    declares: (e) => ({
      creates: [{ kind: 'address', address: e.address, dev: e.dev, ...(e.netns ? { netns: e.netns } : {}) }],
    }),
    explain: (e) => {
      const [address, prefix] = e.address.split('/');
      return [
        ipExplained(
          e.netns,
          `\`ip addr add ${e.address} dev ${e.dev}\` gives ${e.dev} the address ${address}${prefix === '32' ? '; /32 adds no route' : `, and with /${prefix} the kernel adds the connected route for its subnet`}.`,
        ),
      ];
    },
  },
  route: {
    ip: (e) => ({ netns: e.netns, args: ['route', 'add', ...routeSpec(e)] }),
    // A pod's routes go with its namespace; the node's are deleted exactly.
    undo: (e) => (e.netns ? [] : [['ip', 'route', 'del', ...routeSpec(e)]]),
    declares: (e) => ({
      creates: [
        {
          kind: 'route',
          dst: e.dst,
          ...(e.via ? { via: e.via } : {}),
          ...(e.dev ? { dev: e.dev } : {}),
          ...(e.netns ? { netns: e.netns } : {}),
        },
      ],
    }),
    explain: (e) => {
      const via = e.via ? ` via the gateway ${e.via}` : '';
      const dev = e.dev ? ` out of ${e.dev}` : '';
      const onlink = e.onlink
        ? '; onlink: the gateway is reachable on that device even though no subnet of it contains the address'
        : '';
      return [
        ipExplained(
          e.netns,
          `\`ip route add ${e.dst}\` adds a route in ${placeName(e.netns)}: packets for ${e.dst} go${via}${dev}${onlink}.`,
        ),
      ];
    },
  },
  up: {
    ip: (e) => ({ netns: e.netns, args: ['link', 'set', e.link, 'up'] }),
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'up', link: e.link, ...(e.netns ? { netns: e.netns } : {}) }] }),
    explain: (e) => [
      ipExplained(
        e.netns,
        `\`ip link set ${e.link} up\` brings ${e.link} up in ${placeName(e.netns)}: a down interface sends and receives nothing.`,
      ),
    ],
  },
  master: {
    ip: (e) => ({ args: ['link', 'set', e.link, 'master', e.bridge] }),
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'master', link: e.link, bridge: e.bridge }] }),
    explain: (e) => [`\`master ${e.bridge}\` plugs ${e.link} into the bridge ${e.bridge} as a port.`],
  },
  move: {
    ip: (e) => ({ args: ['link', 'set', e.link, 'netns', e.netns] }),
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'moved', link: e.link, netns: e.netns }] }),
    explain: (e) => [
      `\`ip link set ${e.link} netns ${e.netns}\` moves ${e.link} into the namespace ${e.netns}: it disappears from the node.`,
    ],
  },
  mtu: {
    ip: (e) => ({
      netns: e.netns,
      args: ['link', 'set', e.link, 'mtu', String(e.mtu), ...(e.oneSegment ? ['gso_max_segs', '1'] : [])],
    }),
    undo: () => [],
    declares: (e) => ({
      sets: [{ kind: 'mtu', link: e.link, ...(e.netns ? { netns: e.netns } : {}), mtu: e.mtu }],
    }),
    explain: (e) => [ipExplained(e.netns, mtuWords(e))],
  },
  hairpin: {
    apply: (e) => [['bridge', 'link', 'set', 'dev', e.port, 'hairpin', e.on ? 'on' : 'off']],
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'hairpin', port: e.port, on: e.on }] }),
    explain: (e) => [
      e.on
        ? `\`bridge link set dev ${e.port} hairpin on\` lets the bridge send a frame back out of the port it came in by; normally a bridge never does that (it would be a loop).`
        : `\`bridge link set dev ${e.port} hairpin off\`: the bridge never sends a frame back out of the port it came in by (it would be a loop).`,
    ],
  },
  neighbour: {
    ip: (e) => ({ args: ['neigh', 'add', e.address, 'lladdr', e.mac, 'dev', e.dev, 'nud', 'permanent'] }),
    undo: () => [],
    declares: (e) => ({ creates: [{ kind: 'neighbour', address: e.address, mac: e.mac, dev: e.dev }] }),
    explain: (e) => [
      `\`ip neigh add ${e.address} lladdr ${e.mac} dev ${e.dev} nud permanent\`: a static ARP entry, so ${e.address}'s MAC is known without asking.`,
    ],
  },
  fdb: {
    apply: (e) => [['bridge', 'fdb', e.replace ? 'replace' : 'append', e.mac, 'dev', e.dev, 'dst', e.dst]],
    undo: () => [],
    declares: (e) => ({ creates: [{ kind: 'fdb', mac: e.mac, dev: e.dev, dst: e.dst }] }),
    explain: (e) => [e.explain],
  },
  sysctl: {
    apply: (e) => [['netlab_sysctl', e.key, e.value]],
    byHand: (e) => [{ lines: sysctlByHand(e.key, e.value) }],
    // netlab_sysctl journals the old value itself.
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'sysctl', key: e.key, value: e.value }] }),
    explain: (e) => [
      `netlab_sysctl records the current ${e.key} for down, then runs \`sysctl -w ${e.key}=${e.value}\` (down puts the old value back only if the sysctl still holds ${e.value} and no other lab on the node set it too). ${SYSCTLS[e.key] ?? ''}`.trim(),
    ],
  },
  chain: {
    iptables: (e) => ({ table: e.table, commands: [['-N', e.name]] }),
    undo: (e) => [iptables(e.table, '-X', e.name)],
    declares: (e) => ({ creates: [{ kind: 'chain', table: e.table, name: e.name }] }),
    explain: (e) => [
      e.table === 'nat'
        ? `\`iptables -t nat -N ${e.name}\` creates an empty chain of the nat table.`
        : `\`iptables -N ${e.name}\` creates an empty chain of the filter table: a list of rules that only runs when another chain jumps to it.`,
    ],
  },
  rules: {
    iptables: (e) => ({ table: e.table, commands: e.rules.map(({ rule }) => ['-A', e.chain, ...rule]) }),
    undo: (e) => [iptables(e.table, '-F', e.chain)],
    declares: (e) => ({
      creates: e.rules.map((r) => ruleCreated(e.table, e.chain, r)),
    }),
    explain: (e) => e.rules.map((r) => r.explain),
  },
  ruleset: {
    apply: (e) => [['netlab_restore', restoreInput(e)]],
    byHand: (e) => [{ lines: restoreByHand(restoreInput(e)), inPlace: true }],
    // -D deletes exactly the jump that was added; a chain is deleted only once empty, and once no rule jumps to it.
    undo: (e) => [
      ...e.jumps.map((jump) => iptables(e.table, '-D', jump.from, ...jumpRule(jump))),
      ...e.chains.map((chain) => iptables(e.table, '-F', chain)),
      ...e.chains.map((chain) => iptables(e.table, '-X', chain)),
    ],
    declares: (e) => ({
      creates: [
        ...e.chains.map((name): Created => ({ kind: 'chain', table: e.table, name })),
        ...e.rules.map((r) => ruleCreated(e.table, r.chain, r)),
      ],
      sets: e.jumps.map((jump): Change => ({
        kind: 'jump',
        table: e.table,
        from: jump.from,
        to: jump.to,
        rule: jumpRule(jump),
        // (a ruleset's jumps are appended: restoreInput)
        first: false,
      })),
    }),
    explain: () => [
      'iptables-restore --noflush reads the whole ruleset above in one go and applies it as one transaction (what kube-proxy does); --noflush keeps every rule that is not in it. ":CHAIN - [0:0]" declares a chain, "-A" appends a rule; each rule is preceded by a comment saying why.',
    ],
  },
  jump: {
    iptables: (e) => ({
      table: e.table,
      commands: [[...(e.first ? ['-I', e.from, '1'] : ['-A', e.from]), ...jumpRule(e)]],
    }),
    // -D deletes exactly the rule that was added: the same words.
    undo: (e) => [iptables(e.table, '-D', e.from, ...jumpRule(e))],
    declares: (e) => ({
      sets: [{ kind: 'jump', table: e.table, from: e.from, to: e.to, rule: jumpRule(e), first: e.first }],
    }),
    explain: (e) => [
      e.explain ??
        (e.first
          ? `\`iptables -I ${e.from} 1 … -j ${e.to}\` inserts a jump at the top of the built-in ${e.from} chain, so netlab's chain is consulted before any rule already there; the comment marks it as netlab's.`
          : `\`iptables${e.table === 'nat' ? ' -t nat' : ''} -A ${e.from} … -j ${e.to}\` appends a jump at the end of the built-in ${e.from} chain, after any rule already there; the comment marks it as netlab's.`),
    ],
  },
  helper: {
    apply: (e) => e.apply.map((c) => c.command),
    undo: (e) => e.undo,
    declares: () => ({}),
    explain: (e) => e.apply.map((c) => c.explain),
    byHand: (e) => e.apply.map((c) => ({ lines: c.byHand ?? [] })),
  },
};

function kindOf<E extends Effect>(e: E): EffectKind<E> {
  return KINDS[e.kind] as unknown as EffectKind<E>;
}

/** The `ip` command of an effect made by one, as words after `ip [-n NETNS]`, and its namespace. */
export function ipCommandOf(e: Effect): { netns?: string; args: string[] } | undefined {
  const kind = kindOf(e);
  return 'ip' in kind ? kind.ip(e) : undefined;
}

/** The iptables commands of an effect made by them, as words after `iptables -w [-t nat]`, and their table. */
export function iptablesCommandsOf(e: Effect): IptablesCommands | undefined {
  const kind = kindOf(e);
  return 'iptables' in kind ? kind.iptables(e) : undefined;
}

/** The commands that apply an effect. */
export function applyOf(e: Effect): Command[] {
  const kind = kindOf(e);
  if ('apply' in kind) return kind.apply(e);
  if ('iptables' in kind) {
    const { table, commands } = kind.iptables(e);
    return commands.map((words) => iptables(table, ...words));
  }
  const ip = kind.ip(e);
  return [ipIn(ip.netns, ...ip.args)];
}

/** The commands that undo an effect (journaled before it runs). */
export function undoOf(e: Effect): Command[] {
  return kindOf(e).undo(e);
}

/** What an effect creates and changes on the node. */
export function declaredOf(e: Effect): { creates: Created[]; sets: Change[] } {
  const declared = kindOf(e).declares(e);
  return { creates: declared.creates ?? [], sets: declared.sets ?? [] };
}

/** Each command of `applyOf(e)` with what `plan` shows with it: the plain commands a learner types, its explanation. */
export function shownOf(e: Effect): ShownCommand[] {
  const plain = kindOf(e).byHand?.(e);
  const explanations = explainOf(e);
  return applyOf(e).map((command, i) => ({
    command,
    byHand: plain?.[i]?.lines ?? [],
    inPlace: plain?.[i]?.inPlace ?? false,
    explain: explanations[i]!,
  }));
}

/** One explanation per command of `applyOf(e)`, for `plan --explain`. */
export function explainOf(e: Effect): string[] {
  return kindOf(e).explain(e);
}

/** The pod namespaces an effect acts in (for `up --step`'s view of what changed there). */
export function namespacesOf(e: Effect): string[] {
  switch (e.kind) {
    case 'netns':
      return [e.name];
    case 'veth':
      return 'peerNetns' in e ? [e.peerNetns] : [];
    case 'ipv4-only':
    case 'pause':
    case 'container':
    case 'move':
      return [e.netns];
    case 'address':
    case 'route':
    case 'up':
    case 'mtu':
    case 'helper':
      return e.netns ? [e.netns] : [];
    case 'bridge':
    case 'device':
    case 'master':
    case 'hairpin':
    case 'neighbour':
    case 'fdb':
    case 'sysctl':
    case 'chain':
    case 'rules':
    case 'ruleset':
    case 'jump':
      return [];
  }
}

/**
 * A step: a summary, the reason a learner reads, and its effects, in order.
 * Its commands, undo and declarations are derived here, once.
 */
export function step(summary: string, why: string, effects: Effect[]): StepDraft {
  const declared = effects.map(declaredOf);
  return {
    summary,
    why,
    effects,
    apply: effects.flatMap(applyOf),
    undo: effects.flatMap(undoOf),
    creates: declared.flatMap((d) => d.creates),
    sets: declared.flatMap((d) => d.sets),
  };
}

/**
 * The comment on every rule a fault adds: a mend or a down deletes only rules
 * that carry it, never a rule of the machine's own that looks the same (a bare
 * \`-j DROP\` in FORWARD). It names the lab, and the run the fault was made in.
 */
export function faultComment(lab: string, run?: string): string {
  return `netlab fault of lab ${lab}${run ? ` run ${run}` : ''}`;
}

/** The value a fault gives a node-wide setting (faults.ts NodeSetting), which a mend puts back from. */
export const FAULT_VALUES = { policy: 'DROP', sysctl: '0' } as const;
