// Facts a lab needs from a real node, discovered on the node before planning:
// which interface and address reach the other nodes (underlay/facts.ts chooses).
import type { Model } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import type { Transports } from './transports.js';
import { RunError } from '../errors.js';
import { answersOf, askScript } from '../node/query.js';
import type { ScriptResult } from './transport.js';
import { type KernelMemory, nodeMemoryOf, READ_NODE_MEMORY } from './kernel-seen.js';
import { chooseUnderlay, interfacesOf } from '../underlay/facts.js';

/**
 * What up asks each machine: its interfaces, addresses and routes, and what it
 * remembers its kernel was seen to have (exec/kernel-seen.ts), so that the
 * preflight probes only where it must. Questions that only read: the login
 * asks them as its first script (FACTS_SCRIPT), before the lab is checked.
 */
const FACTS_QUESTIONS = [{ addresses: true, routes: true, links: true, outputs: [READ_NODE_MEMORY] }];
export const FACTS_SCRIPT = askScript(FACTS_QUESTIONS);

/** Each node's facts, from FACTS_SCRIPT's answers (`answered`: run by the login) or asked now. */
export async function discoverFacts(
  model: Model,
  transports: Transports,
  answered: Record<string, ScriptResult> = {},
): Promise<{ facts: Record<string, NodeFacts>; kernel: Record<string, KernelMemory> }> {
  const kernel: Record<string, KernelMemory> = {};
  const interfaces = await Promise.all(
    model.nodes.map(async (node) => {
      const result = answered[node.name] ?? (await transports[node.name]!.run(FACTS_SCRIPT));
      const { answers } = answersOf(result, FACTS_QUESTIONS);
      if (!answers[0]!.links?.length) throw new RunError(`${node.name}: cannot read its interfaces (ip -j link show)`);
      kernel[node.name] = nodeMemoryOf(answers[0]!.outputs?.[0]);
      return interfacesOf(node.name, answers[0]!);
    }),
  );
  return { facts: chooseUnderlay(model, interfaces), kernel };
}
