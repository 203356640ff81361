// `netlab up --step`: what a phase changed on a node, as the learner would see
// it with ip, bridge and iptables: lines that appeared (+) or went away (-).
import type { Transport } from '../exec/transport.js';

const SNAPSHOT = `echo "@@section netns"; ip netns list | cut -d' ' -f1
echo "@@section link"; ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}'
echo "@@section address"; ip -o -4 addr show | awk '{print $4, "on", $2}'
echo "@@section route"; ip route show
echo "@@section fdb"; bridge fdb show 2>/dev/null | grep -v -e '^33:33:' -e '^01:00:5e:'
echo "@@section neighbour"; ip neigh show nud permanent
echo "@@section sysctl"; sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables 2>/dev/null
echo "@@section iptables"; iptables-save 2>/dev/null | grep -e '^-A' -e '^:[A-Z]' | grep -v -e '^:INPUT' -e '^:OUTPUT' -e '^:FORWARD' -e '^:PREROUTING' -e '^:POSTROUTING' | sed 's/ \\[[0-9]*:[0-9]*\\]//'
`;

export type NodeSnapshot = Map<string, string[]>;

export async function snapshotNode(transport: Transport): Promise<NodeSnapshot> {
  const result = await transport.run(SNAPSHOT);
  const sections: NodeSnapshot = new Map();
  let current = '';
  for (const line of result.stdout.split('\n')) {
    const marker = /^@@section (\S+)$/.exec(line);
    if (marker) {
      current = marker[1]!;
      sections.set(current, []);
    } else if (line.trim() && current) sections.get(current)!.push(line.trim());
  }
  return sections;
}

export function describeChanges(before: NodeSnapshot, after: NodeSnapshot): string[] {
  const lines: string[] = [];
  for (const [section, now] of after) {
    const then = new Set(before.get(section) ?? []);
    const nowSet = new Set(now);
    for (const line of now) if (!then.has(line)) lines.push(`+ ${section} ${line}`);
    for (const line of then) if (!nowSet.has(line)) lines.push(`- ${section} ${line}`);
  }
  return lines;
}
