// `netlab up --step`: what a phase changed on a node, as the learner would see
// it with ip, bridge and iptables: lines that appeared (+) or went away (-).
// The node is asked through node/query.ts, once before and once after.
import { type Answers, askNode, type Runs } from '../node/query.js';
import { escapeControls } from '../errors.js';

export type NodeSnapshot = Map<string, string[]>;

const SYSCTLS = ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'];
const BUILT_IN_CHAINS = /^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) /;
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
      [...(a.iptables?.filter ?? []), ...(a.iptables?.nat ?? [])]
        .filter((l) => l.startsWith('-A') || (l.startsWith(':') && !BUILT_IN_CHAINS.test(l)))
        .map((l) => l.replace(/ \[\d+:\d+\]/, '')),
    ],
  ]);
}

export async function snapshotNode(node: Runs): Promise<NodeSnapshot> {
  const { answers } = await askNode(node, [
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
  ]);
  return snapshotOf(answers[0]!);
}

export function describeChanges(before: NodeSnapshot, after: NodeSnapshot): string[] {
  const lines: string[] = [];
  for (const [section, now] of after) {
    const then = new Set(before.get(section) ?? []);
    const nowSet = new Set(now);
    for (const line of now) if (!then.has(line)) lines.push(`+ ${section} ${line}`);
    for (const line of then) if (!nowSet.has(line)) lines.push(`- ${section} ${line}`);
  }
  // In the node's words (its tables): escaped.
  return lines.map((line) => escapeControls(line, true));
}
