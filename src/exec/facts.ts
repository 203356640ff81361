// Facts a lab needs from a real node, discovered on the node before planning:
// which interface and address reach the other nodes (underlay/facts.ts chooses).
import type { Model } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import type { Transports } from './transports.js';
import { RunError } from '../errors.js';
import { askNode } from '../node/query.js';
import { chooseUnderlay, interfacesOf } from '../underlay/facts.js';

export async function discoverFacts(model: Model, transports: Transports): Promise<Record<string, NodeFacts>> {
  const interfaces = await Promise.all(
    model.nodes.map(async (node) => {
      const { answers } = await askNode(transports[node.name]!, [{ addresses: true, routes: true, links: true }]);
      if (!answers[0]!.links?.length) throw new RunError(`${node.name}: cannot read its interfaces (ip -j link show)`);
      return interfacesOf(node.name, answers[0]!);
    }),
  );
  return chooseUnderlay(model, interfaces);
}
