// The kernel state that makes a cross-node lab work, read from the live nodes
// after the checks: the learned VXLAN FDB, flannel's static entries, or the
// route a packet takes. MAC addresses are labelled with the pod or bridge they
// belong to, so "8e:f9:… dst 192.168.64.5" reads "pod a1's MAC is behind node-1".
import type { Model } from '../lab/model.js';
import type { Transports } from '../exec/transports.js';
import { quoteArgv } from '../shell/quote.js';
import { serviceChains } from '../plan/steps/services.js';
import { runSections } from '../exec/sections.js';

export interface NodeEvidence {
  node: string;
  title: string;
  lines: string[];
}

function evidenceCommands(model: Model, node: string): { title: string; argv: string[] }[] {
  const chains = serviceChains(model.name);
  const services = model.services.flatMap((s) => [
    {
      title: `packets sent to each endpoint of ${s.name} (iptables counters of ${chains.service(s)})`,
      argv: ['iptables', '-w', '-t', 'nat', '-L', chains.service(s), '-v', '-n', '-x'],
    },
    {
      title: `a conntrack entry for ${s.name}: original tuple, then the translated reply tuple`,
      argv: ['sh', '-c', `conntrack -L -p ${s.protocol} --orig-dst ${s.clusterIp} 2>/dev/null | head -n 1`],
    },
  ]);
  return [...crossNodeEvidence(model, node), ...services];
}

function crossNodeEvidence(model: Model, node: string): { title: string; argv: string[] }[] {
  const remotePod = model.pods.find((p) => p.node !== node && p.address);
  switch (model.crossNode) {
    case 'vxlan':
      return [
        {
          title: `VXLAN FDB of ${model.vxlan!.device} (learned: MAC → remote node)`,
          argv: ['bridge', 'fdb', 'show', 'dev', model.vxlan!.device],
        },
      ];
    case 'flannel':
      return [
        {
          title: `static neighbour entries on ${model.vxlan!.device}`,
          argv: ['ip', 'neigh', 'show', 'dev', model.vxlan!.device],
        },
        {
          title: `static FDB entries on ${model.vxlan!.device}`,
          argv: ['bridge', 'fdb', 'show', 'dev', model.vxlan!.device],
        },
      ];
    case 'routes':
    case 'ipip':
      return remotePod
        ? [{ title: `route to pod ${remotePod.name}`, argv: ['ip', 'route', 'get', remotePod.address!.split('/')[0]!] }]
        : [];
    default:
      return [];
  }
}

/** One script per node: the MACs of its pods and bridge, then the evidence commands. */
export async function collectEvidence(model: Model, transports: Transports): Promise<NodeEvidence[]> {
  if (model.crossNode === 'none' && model.services.length === 0) return [];
  const perNode = await Promise.all(
    model.nodes.map(async (node) => {
      const commands = evidenceCommands(model, node.name);
      const macLines = [
        `echo "@@netlab mac bridge:${node.bridge}@${node.name} $(ip -br link show ${node.bridge} | awk '{print $3}')"`,
        ...model.pods
          .filter((p) => p.node === node.name && p.podIf)
          .map(
            (p) => `echo "@@netlab mac pod:${p.name} $(ip -n ${p.netns} -br link show ${p.podIf} | awk '{print $3}')"`,
          ),
      ];
      const { head, sections } = await runSections(
        transports[node.name]!,
        commands.map((c) => quoteArgv(c.argv)),
        macLines,
      );
      return { node: node.name, commands, head, sections };
    }),
  );
  const macs = new Map<string, string>();
  for (const { head } of perNode) {
    for (const line of head.split('\n')) {
      const m = /^@@netlab mac (\S+) (\S+)$/.exec(line);
      if (m) macs.set(m[2]!, m[1]!.replace(/^pod:/, 'pod ').replace(/^bridge:(.*)@(.*)$/, 'bridge $1 of $2'));
    }
  }
  const label = (line: string) =>
    line.replace(/\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/g, (mac) => (macs.has(mac) ? `${mac} (${macs.get(mac)})` : mac));
  return perNode.flatMap(({ node, commands, sections }) => {
    return commands.map((c, i) => ({
      node,
      title: c.title,
      lines: (sections[i] ?? '')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(label),
    }));
  });
}
