// `netlab up --step` and `challenge reveal`: what a phase, a step or a fault
// changed on a node and inside its pods, as the learner would see it with ip,
// bridge, iptables and sysctl: lines that appeared (+) or went away (-), and a
// link or a sysctl that changed (lo DOWN → UP). The node is asked through
// node/query.ts, once before and once after, in one script that reads the
// node's own tables and those of the pods asked for (the pods a step names:
// stepping through the scale lab's 750 pods reads one or two per step).
import { type Answers, askNode, type Questions, type Runs } from '../node/query.js';
import { escapeControls } from '../errors.js';
import type { Step } from '../model/plan.js';
import { namespacesOf } from '../model/effects.js';

/** Sections by scope: the node's own ("link"), or a pod's ("a0/link"). */
export type NodeSnapshot = Map<string, string[]>;

/** A pod's sysctls that its steps set: IPv6 off (netlab_ipv4_only). */
const POD_SYSCTLS = ['net.ipv6.conf.all.disable_ipv6', 'net.ipv6.conf.default.disable_ipv6'];

const SYSCTLS = ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'];
const BUILT_IN_CHAINS = /^(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING)$/;
/** IPv6 and IPv4 multicast MACs: the kernel's own entries on every port. */
const MULTICAST_MAC = /^(33:33:|01:00:5e:)/;

/** The answers, one line per object, in the words of ip, bridge and iptables. */
export function snapshotOf(a: Partial<Answers>): NodeSnapshot {
  return new Map([
    ['netns', a.namespaces ?? []],
    // Administratively up or down, and the bridge it is a port of: a link set up reads "- br0 DOWN, + br0 UP".
    ['link', (a.links ?? []).map((l) => `${l.ifname} ${l.up ? 'UP' : 'DOWN'}${l.master ? ` master ${l.master}` : ''}`)],
    ['address', (a.addresses ?? []).map((x) => `${x.address}/${x.prefix} on ${x.ifname}`)],
    [
      'route',
      (a.routes ?? []).map((r) =>
        [
          r.type && r.type !== 'unicast' ? r.type : '',
          r.dst,
          r.gateway ? `via ${r.gateway}` : '',
          r.dev ? `dev ${r.dev}` : '',
        ]
          .filter(Boolean)
          .join(' '),
      ),
    ],
    [
      'fdb',
      (a.fdb ?? [])
        .filter((f) => !MULTICAST_MAC.test(f.mac))
        .map((f) =>
          [f.mac, `dev ${f.ifname}`, f.dst ? `dst ${f.dst}` : '', f.master ? `master ${f.master}` : '']
            .filter(Boolean)
            .join(' '),
        ),
    ],
    [
      'neighbour',
      (a.neighbours ?? [])
        .filter((n) => n.state.includes('PERMANENT'))
        .map((n) => `${n.dst} dev ${n.dev} lladdr ${n.mac}`),
    ],
    [
      'sysctl',
      Object.entries(a.sysctls ?? {})
        .filter(([, v]) => v !== '-')
        .map(([k, v]) => `${k} = ${v}`),
    ],
    [
      'iptables',
      [a.iptables?.filter, a.iptables?.nat].flatMap((table) =>
        table
          ? [
              ...[...table.chains]
                .filter(([name]) => !BUILT_IN_CHAINS.test(name))
                .map(([name, policy]) => `:${name} ${policy}`),
              ...table.rules.map((r) => r.text),
            ]
          : [],
      ),
    ],
  ]);
}

/** A pod's tables, in the same words as the node's: its links, addresses, routes, static neighbours, IPv6 sysctls and processes. */
export function podSnapshotOf(a: Partial<Answers>): NodeSnapshot {
  const sections = snapshotOf(a);
  return new Map([
    ...[...sections].filter(([section]) => ['link', 'address', 'route', 'neighbour', 'sysctl'].includes(section)),
    ['process', (a.processes ?? []).map((p) => `${p.slice(p.indexOf(' ') + 1)} (pid ${p.slice(0, p.indexOf(' '))})`)],
  ]);
}

/**
 * The node's tables and those of the given pods (network namespace names), in
 * one script: a pod not there yet (or any more) has empty tables. A pod's
 * processes only with `processes` (a step of up starts a pod's pause; a fault
 * starts nothing, and the processes that come and go meanwhile, a room's
 * checks, are not its doing).
 */
export async function snapshotNode(
  node: Runs,
  pods: readonly string[] = [],
  { processes = true }: { processes?: boolean } = {},
): Promise<NodeSnapshot> {
  const asks: Questions[] = [
    {
      namespaces: true,
      links: true,
      addresses: true,
      routes: true,
      fdb: true,
      neighbours: true,
      sysctls: SYSCTLS,
      iptables: true,
    },
    ...pods.map((netns) => ({
      netns,
      links: true,
      addresses: true,
      routes: true,
      neighbours: true,
      sysctls: POD_SYSCTLS,
      processes,
    })),
  ];
  const { answers } = await askNode(node, asks);
  const snapshot = snapshotOf(answers[0]!);
  pods.forEach((pod, i) => {
    for (const [section, lines] of podSnapshotOf(answers[i + 1]!)) snapshot.set(`${pod}/${section}`, lines);
  });
  return snapshot;
}

/** The pods (of `pods`, network namespace names) whose namespaces the steps' effects act in. */
export function podsActedIn(steps: readonly Step[], pods: readonly string[]): string[] {
  const named = new Set(steps.flatMap((s) => s.effects.flatMap(namespacesOf)));
  return pods.filter((pod) => named.has(pod));
}

/** What identifies a line of a section across a change (a link by name, a sysctl by key), and the rest of it. */
const KEYED: Record<string, RegExp> = { link: /^(\S+) (.*)$/, sysctl: /^(\S+) = (.*)$/ };

/**
 * The lines that appeared (+) and went away (-), the node's first, then each
 * pod's (`a0: + route default via 10.200.0.1 dev veth-a0-c`); a link or a
 * sysctl that is there before and after, changed, is one line: `a0: link lo DOWN → UP`.
 */
export function describeChanges(before: NodeSnapshot, after: NodeSnapshot): string[] {
  const lines: string[] = [];
  for (const [scoped, now] of after) {
    const slash = scoped.indexOf('/');
    const [scope, section] = slash < 0 ? ['', scoped] : [`${scoped.slice(0, slash)}: `, scoped.slice(slash + 1)];
    const then = before.get(scoped) ?? [];
    const added = now.filter((line) => !then.includes(line));
    const removed = then.filter((line) => !now.includes(line));
    const key = KEYED[section];
    const parts = (line: string) => (key ? key.exec(line) : null);
    const changed = new Map<string, string>();
    for (const line of added) {
      const next = parts(line);
      const previous = next && removed.find((r) => parts(r)?.[1] === next[1]);
      if (next && previous) {
        changed.set(previous, line);
        lines.push(`${scope}${section} ${next[1]} ${parts(previous)![2]} → ${next[2]}`);
      } else lines.push(`${scope}+ ${section} ${line}`);
    }
    for (const line of removed) if (!changed.has(line)) lines.push(`${scope}- ${section} ${line}`);
  }
  // In the node's words (its tables): escaped.
  return lines.map((line) => escapeControls(line, true));
}
