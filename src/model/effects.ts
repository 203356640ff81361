// One description of each change a lab makes. A step lists effects, typed
// records of what it changes on a node (a namespace, a veth pair, a route, a
// chain); this table derives from each record, in one place, the commands that
// apply it, the commands that undo it, what it declares (for the ownership
// check, the drift check, the faults and trace's hints) and its explanation
// for `plan --explain`. Nothing reads a command back to learn what it does: the
// record says it. Like a containerlab link kind, each kind keeps its make,
// remove and meaning together; like a changeset's planner, the records are pure
// intent and the commands are the writer's.
import type { Change, Command, Created, Declared, Effect, StepDraft, Table } from './plan.js';

type Kind<K extends Effect['kind']> = Extract<Effect, { kind: K }>;

/**
 * What the table knows of a kind. `ip`: for a kind made by one `ip` command,
 * its words after `ip [-n NETNS]` and the namespace (`-n`) it runs in; the
 * apply command is derived from them, and the runner may put it in an `ip
 * -batch` of its namespace. `apply`: any other kind's commands.
 */
interface EffectKind<E extends Effect> {
  ip?: (e: E) => { netns?: string; args: string[] };
  apply?: (e: E) => Command[];
  undo: (e: E) => Command[];
  declares: (e: E) => Declared;
  /** one explanation per apply command */
  explain: (e: E) => string[];
}

const iptables = (table: Table, ...args: string[]): Command => [
  'iptables',
  '-w',
  ...(table === 'nat' ? ['-t', 'nat'] : []),
  ...args,
];

/** Where an `ip` command runs, in the words of its explanation. */
function inPod(netns: string | undefined, text: string): string {
  return netns
    ? `\`ip -n ${netns} …\` runs the ip command inside pod ${netns}'s network namespace (short for \`ip netns exec ${netns} ip …\`). ${text}`
    : text;
}
const where = (netns: string | undefined) => (netns ? `pod ${netns}` : 'the node');

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
      `\`ip netns add ${e.name}\` creates a network namespace and pins it as /run/netns/${e.name}: its own interfaces, addresses, routes and iptables, starting with a lone, down lo.`,
    ],
  },
  'ipv4-only': {
    apply: (e) => [['netlab_ipv4_only', e.netns]],
    undo: () => [],
    // Nothing declared: no check depends on it, so the drift check and the faults leave it alone.
    declares: () => ({}),
    explain: (e) => [
      `netlab_ipv4_only writes 1 to net.ipv6.conf.all.disable_ipv6 and net.ipv6.conf.default.disable_ipv6 inside pod ${e.netns}'s network namespace (\`nsenter --net=/run/netns/${e.netns}\`): lo loses ::1, and no interface that arrives gets an IPv6 address or sends IPv6.`,
    ],
  },
  pause: {
    apply: (e) => [['netlab_pause', e.netns, ...(e.mount ? ['mount'] : [])]],
    undo: (e) => [['netlab_kill_pod', e.netns]],
    declares: (e) => ({ creates: [{ kind: 'pause', pod: e.netns }] }),
    explain: (e) => [
      `netlab_pause starts, in the background, the \`unshare --uts --ipc --pid${e.mount ? ' --mount' : ''} --fork --kill-child\` shown above in pod ${e.netns}'s network namespace: a process that only holds the pod's namespaces, like Kubernetes' pause container (netlab enters the network namespace with \`nsenter --net=/run/netns/${e.netns}\`, which keeps the node's mount namespace where \`ip netns exec\` makes one of its own, and writes the hostname to /proc/sys/kernel/hostname). Its PID and start time are kept in /run/netlab/LAB/pods/${e.netns}/pause.pid (a PID the kernel reuses is never mistaken for it).`,
    ],
  },
  container: {
    apply: (e) => [['netlab_container', e.netns, e.name, ...(e.root ? [e.root] : [])]],
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
        ...(e.peerNetns ? ['netns', e.peerNetns] : []),
      ],
    }),
    undo: (e) =>
      e.undo === 'delete'
        ? [['ip', 'link', 'del', e.name]]
        : e.undo === 'unless-moved'
          ? [['netlab_del_unmoved', e.name, e.peer]]
          : [],
    declares: (e) => ({
      creates: [
        { kind: 'link', name: e.name },
        { kind: 'link', name: e.peer, ...(e.peerNetns ? { netns: e.peerNetns } : {}) },
      ],
    }),
    explain: (e) => {
      const inNetns = e.peerNetns ? ` netns ${e.peerNetns}` : '';
      return [
        `\`ip link add ${e.name} type veth peer name ${e.peer}${inNetns}\` creates a veth pair: two interfaces joined like the ends of a cable${e.peerNetns ? `, the second one directly inside ${e.peerNetns}` : ''}.`,
      ];
    },
  },
  bridge: {
    ip: (e) => ({ args: ['link', 'add', 'name', e.name, 'type', 'bridge'] }),
    undo: (e) => [['ip', 'link', 'del', e.name]],
    declares: (e) => ({ creates: [{ kind: 'link', name: e.name }] }),
    explain: (e) => [`\`ip link add ${e.name} type bridge\` creates a virtual switch in the node.`],
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
        inPod(
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
        inPod(
          e.netns,
          `\`ip route add ${e.dst}\` adds a route in ${where(e.netns)}: packets for ${e.dst} go${via}${dev}${onlink}.`,
        ),
      ];
    },
  },
  up: {
    ip: (e) => ({ netns: e.netns, args: ['link', 'set', e.link, 'up'] }),
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'up', link: e.link, ...(e.netns ? { netns: e.netns } : {}) }] }),
    explain: (e) => [
      inPod(
        e.netns,
        `\`ip link set ${e.link} up\` brings ${e.link} up in ${where(e.netns)}: a down interface sends and receives nothing.`,
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
    explain: (e) => [inPod(e.netns, mtuWords(e))],
  },
  hairpin: {
    apply: (e) => [['bridge', 'link', 'set', 'dev', e.port, 'hairpin', e.on ? 'on' : 'off']],
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'hairpin', port: e.port, on: e.on }] }),
    explain: (e) => [
      `\`bridge link set dev ${e.port} hairpin ${e.on ? 'on' : 'off'}\` lets the bridge send a frame back out of the port it came in by; normally a bridge never does that (it would be a loop).`,
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
    // netlab_sysctl journals the old value itself.
    undo: () => [],
    declares: (e) => ({ sets: [{ kind: 'sysctl', key: e.key, value: e.value }] }),
    explain: (e) => [
      `netlab_sysctl records the current ${e.key} for down, then runs \`sysctl -w ${e.key}=${e.value}\` (down puts the old value back only if the sysctl still holds ${e.value} and no other lab on the node set it too). ${SYSCTLS[e.key] ?? ''}`.trim(),
    ],
  },
  chain: {
    apply: (e) => [iptables(e.table, '-N', e.name)],
    undo: (e) => [iptables(e.table, '-X', e.name)],
    declares: (e) => ({ creates: [{ kind: 'chain', table: e.table, name: e.name }] }),
    explain: (e) => [
      e.table === 'nat'
        ? `\`iptables -t nat -N ${e.name}\` creates an empty chain of the nat table.`
        : `\`iptables -N ${e.name}\` creates an empty chain of the filter table: a list of rules that only runs when another chain jumps to it.`,
    ],
  },
  rules: {
    apply: (e) => e.rules.map(({ rule }) => iptables(e.table, '-A', e.chain, ...rule)),
    undo: (e) => [iptables(e.table, '-F', e.chain)],
    declares: (e) => ({
      creates: e.rules.map(({ rule }): Created => ({ kind: 'rule', table: e.table, chain: e.chain, rule })),
    }),
    explain: (e) => e.rules.map((r) => r.explain),
  },
  jump: {
    apply: (e) => [iptables(e.table, ...(e.first ? ['-I', e.from, '1'] : ['-A', e.from]), ...e.rule)],
    undo: (e) => [iptables(e.table, '-D', e.from, ...e.rule)],
    declares: (e) => ({ sets: [{ kind: 'jump', table: e.table, from: e.from, to: e.to, rule: e.rule }] }),
    explain: (e) => [
      e.explain ??
        `\`iptables -I ${e.from} 1 … -j ${e.to}\` inserts a jump at the top of the built-in ${e.from} chain, so netlab's chain is consulted before any rule already there; the comment marks it as netlab's.`,
    ],
  },
  helper: {
    apply: (e) => e.apply,
    undo: (e) => e.undo,
    declares: (e) => e.declared ?? {},
    explain: (e) => e.explain,
  },
};

function kindOf<E extends Effect>(e: E): EffectKind<E> {
  return KINDS[e.kind] as unknown as EffectKind<E>;
}

/** The `ip` command of an effect made by one, as words after `ip [-n NETNS]`, and its namespace. */
export function ipCommandOf(e: Effect): { netns?: string; args: string[] } | undefined {
  return kindOf(e).ip?.(e);
}

/** The commands that apply an effect. */
export function applyOf(e: Effect): Command[] {
  const ip = ipCommandOf(e);
  if (ip) return [['ip', ...(ip.netns ? ['-n', ip.netns] : []), ...ip.args]];
  return kindOf(e).apply!(e);
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
      return e.peerNetns ? [e.peerNetns] : [];
    default:
      return 'netns' in e && e.netns ? [e.netns] : [];
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
