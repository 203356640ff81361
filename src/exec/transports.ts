// The transports of a lab's nodes, one per node, made from what state recorded
// about where the lab runs (simulated nodes here, or machines over SSH).
import type { LabState } from '../state/store.js';
import { simulatedTransport } from './simulated.js';
import { sshTransport } from './ssh.js';
import type { Transport } from './transport.js';

export type Transports = Record<string, Transport>;

export function transportsOf(state: Pick<LabState, 'target'>): Transports {
  const target = state.target;
  if (target.kind === 'ssh')
    return Object.fromEntries(Object.keys(target.hosts).map((node) => [node, sshTransport(target, node)]));
  return Object.fromEntries(
    Object.entries(target.nodes).map(([node, holder]) => [node, simulatedTransport(node, holder)]),
  );
}
