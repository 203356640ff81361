// What differs between the lab that is up and the lab file now: said in the
// learner's terms (pods, nodes, wiring, services, checks), so that they can
// decide between `up --recreate` and leaving it.
import type { Model } from '../model/lab.js';
import { crossNodeWiring } from '../wiring/registry.js';

function byName<T extends { name: string }>(items: readonly T[]): Map<string, string> {
  return new Map(items.map((item) => [item.name, JSON.stringify(item)]));
}

function compare(kind: string, before: Map<string, string>, after: Map<string, string>): string[] {
  const changes: string[] = [];
  for (const name of after.keys()) if (!before.has(name)) changes.push(`${kind} ${name} added`);
  for (const name of before.keys()) if (!after.has(name)) changes.push(`${kind} ${name} removed`);
  for (const [name, value] of after)
    if (before.has(name) && before.get(name) !== value) changes.push(`${kind} ${name} changed`);
  return changes;
}

export function diffModels(before: Model, after: Model): string[] {
  const changes = [
    ...compare('node', byName(before.nodes), byName(after.nodes)),
    ...compare('pod', byName(before.pods), byName(after.pods)),
    ...compare('service', byName(before.services), byName(after.services)),
  ];
  if (before.sameNode !== after.sameNode) changes.push(`same-node wiring ${before.sameNode} → ${after.sameNode}`);
  if (before.crossNode !== after.crossNode) changes.push(`cross-node wiring ${before.crossNode} → ${after.crossNode}`);
  if (JSON.stringify(before.tunnel) !== JSON.stringify(after.tunnel))
    changes.push(`${crossNodeWiring(after.crossNode).settings?.key ?? 'tunnel'} settings changed`);
  if (before.clusterCidr !== after.clusterCidr)
    changes.push(`cluster CIDR ${before.clusterCidr} → ${after.clusterCidr}`);
  if (JSON.stringify(before.checks) !== JSON.stringify(after.checks)) changes.push('verify checks changed');
  if (changes.length === 0) {
    // Where the file is does not matter: a byte-identical copy elsewhere is the same lab.
    const { file: _before, ...rest } = before;
    const { file: _after, ...now } = after;
    for (const key of new Set([...Object.keys(rest), ...Object.keys(now)]) as Set<keyof typeof rest>)
      if (JSON.stringify(rest[key]) !== JSON.stringify(now[key])) changes.push(`${key} changed`);
  }
  return changes;
}
