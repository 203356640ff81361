// Facts a lab needs from a real node, discovered on the node before planning:
// which interface and address reach the other nodes (underlay/facts.ts chooses).
import type { Model } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import type { Transports } from './transports.js';
import { RunError } from '../errors.js';
import { askNode } from '../node/query.js';
import { type KernelMemory, nodeMemoryOf, READ_NODE_MEMORY } from './kernel-seen.js';
import { chooseUnderlay, interfacesOf } from '../underlay/facts.js';

/**
 * Each node's facts, and in the same round what it remembers its kernel was
 * seen to have (exec/kernel-seen.ts): up's preflight probes only where it must.
 */
export async function discoverFacts(
  model: Model,
  transports: Transports,
): Promise<{ facts: Record<string, NodeFacts>; kernel: Record<string, KernelMemory> }> {
  const kernel: Record<string, KernelMemory> = {};
  const interfaces = await Promise.all(
    model.nodes.map(async (node) => {
      const { answers } = await askNode(transports[node.name]!, [
        { addresses: true, routes: true, links: true, outputs: [READ_NODE_MEMORY] },
      ]);
      if (!answers[0]!.links?.length) throw new RunError(`${node.name}: cannot read its interfaces (ip -j link show)`);
      kernel[node.name] = nodeMemoryOf(answers[0]!.outputs?.[0]);
      return interfacesOf(node.name, answers[0]!);
    }),
  );
  return { facts: chooseUnderlay(model, interfaces), kernel };
}
