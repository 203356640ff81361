// The kernel state that makes a lab work, read from the live nodes after the
// checks: each wiring module names its own (the learned VXLAN FDB, flannel's
// static entries, the route a packet takes, the Services' counters). MAC
// addresses are labelled with the pod or bridge they belong to, so
// "8e:f9:… dst 192.168.64.5" reads "pod a1's MAC is behind node-1".
import type { Transports } from '../exec/transports.js';
import type { Model } from '../model/lab.js';
import { askNode, type Questions } from '../node/query.js';
import { wiringOf } from '../wiring/registry.js';
import type { EvidenceCommand } from '../wiring/types.js';

export interface NodeEvidence {
  node: string;
  title: string;
  lines: string[];
}

/** One script per node: the links of the node and its pods (for their MACs), then the evidence commands. */
export async function collectEvidence(model: Model, transports: Transports): Promise<NodeEvidence[]> {
  const parts = wiringOf(model);
  const perNode = await Promise.all(
    model.nodes.map(async (node) => {
      const commands: EvidenceCommand[] = parts.flatMap((p) => p.evidence?.(model, node.name) ?? []);
      if (commands.length === 0) return { node: node.name, commands, sections: [], macs: [] };
      const pods = model.pods.filter((p) => p.node === node.name && p.podIf);
      const asks: Questions[] = [
        { links: true, outputs: commands.map((c) => c.argv) },
        ...pods.map((p) => ({ netns: p.netns, links: true })),
      ];
      const { answers } = await askNode(transports[node.name]!, asks);
      const macs: [string, string][] = [];
      const own = new Set(parts.flatMap((p) => p.names?.(model, node) ?? []));
      for (const link of answers[0]!.links ?? []) {
        if (!link.mac || !own.has(link.ifname)) continue;
        macs.push([
          link.mac,
          link.ifname === node.bridge ? `bridge ${node.bridge} of ${node.name}` : `${link.ifname} of ${node.name}`,
        ]);
      }
      pods.forEach((pod, i) => {
        const mac = answers[i + 1]!.links?.find((l) => l.ifname === pod.podIf)?.mac;
        if (mac) macs.push([mac, `pod ${pod.name}`]);
      });
      return { node: node.name, commands, sections: answers[0]!.outputs ?? [], macs };
    }),
  );
  const owners = new Map(perNode.flatMap((n) => n.macs));
  const label = (line: string) =>
    line.replace(/\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/g, (mac) =>
      owners.has(mac) ? `${mac} (${owners.get(mac)})` : mac,
    );
  return perNode.flatMap(({ node, commands, sections }) =>
    commands.map((c, i) => ({
      node,
      title: c.title,
      lines: (sections[i] ?? '')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(label),
    })),
  );
}
