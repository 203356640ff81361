// The transports of a lab's nodes, one per node, made from what state recorded
// about where the lab runs (simulated nodes here, or machines over SSH).
import type { LabState } from '../state/store.js';
import { simulatedTransport } from './simulated.js';
import { sshTransport } from './ssh.js';
import type { Transport } from './transport.js';
import { RunError, UsageError } from '../errors.js';

export type Transports = Record<string, Transport>;

export function transportsOf(state: Pick<LabState, 'target'>): Transports {
  const target = state.target;
  if (target.kind === 'ssh')
    return Object.fromEntries(Object.keys(target.hosts).map((node) => [node, sshTransport(target, node)]));
  return Object.fromEntries(
    Object.entries(target.nodes).map(([node, holder]) => [node, simulatedTransport(node, holder)]),
  );
}

/**
 * The transport of one node of the lab. A simulated node that state has not
 * recorded (an `up` killed before every node had started) is said to be so,
 * with what removes what is left.
 */
export function transportOf(state: Pick<LabState, 'target' | 'lab'>, node: string): Transport {
  const transport = transportsOf(state)[node];
  if (!transport)
    throw new RunError(
      `node ${node} of lab ${state.lab} is not running (its up did not finish): \`netlab down ${state.lab}\` removes what is left`,
    );
  return transport;
}

/**
 * The routers of a routed underlay, where netlab made them (simulated nodes):
 * trace walks through them and `exec` enters them. On machines over SSH the
 * routers are the network's own, which netlab neither changes nor reads.
 */
export function routerTransportsOf(state: Pick<LabState, 'target'>): Transports {
  const target = state.target;
  if (target.kind === 'ssh') return {};
  return Object.fromEntries(
    Object.entries(target.routers ?? {}).map(([router, holder]) => [router, simulatedTransport(router, holder)]),
  );
}

/** The transport of the lab's router of this name; undefined when it has none of that name; refused over SSH. */
export function routerTransport(state: Pick<LabState, 'target' | 'model'>, name: string): Transport | undefined {
  if (!state.model.underlay?.routers.some((r) => r.name === name)) return undefined;
  const transport = routerTransportsOf(state)[name];
  if (!transport)
    throw new UsageError(
      `${name} is a router of the machines' own network: netlab neither changes nor enters it over SSH (ssh to it yourself)`,
    );
  return transport;
}

/** What trace reads: the nodes, and the routers netlab made (a packet may stop at one). */
export function traceTransportsOf(state: Pick<LabState, 'target'>): Transports {
  return { ...transportsOf(state), ...routerTransportsOf(state) };
}
