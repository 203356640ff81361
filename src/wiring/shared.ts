// What several cross-node kinds share: forwarding, the route of a pod subnet,
// and the evidence of a routed kind.
import type { Model, TunnelSettings } from '../model/lab.js';
import type { Effect, StepDraft } from '../model/plan.js';
import { step } from '../model/effects.js';
import type { EvidenceCommand } from './types.js';
import { ipOf } from '../net/ipv4.js';

/**
 * A node that joins pod subnets routes packets that are not its own: every cross-node kind turns forwarding on.
 * `example`: the packet the node routes, as the kind's path has it (default: from the bridge to the underlay).
 */
export function forwardingStep(example = 'such as a pod packet passing from the bridge to the underlay'): StepDraft {
  return step(
    'turn on IPv4 forwarding',
    `Without net.ipv4.ip_forward=1 the node drops packets that are not addressed to itself, ${example}. down puts the previous value back, unless something else has changed it since or another lab on the node needs it.`,
    [{ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }],
  );
}

/**
 * The route of another node's pod subnet via `via`: on the underlay, or out of
 * a tunnel device `onlink` (the gateway is in no subnet of the device).
 */
export function podRoute(dst: string, via: string, onlink?: { dev: string }): Effect {
  return { kind: 'route', dst, via, ...(onlink ? { dev: onlink.dev, onlink: true } : {}) };
}

/** The route a packet to a pod on another node takes (the evidence of a routed kind: routes, ipip, geneve). */
export function remotePodRoute(model: Model, node: string): EvidenceCommand[] {
  const remotePod = model.pods.find((p) => p.node !== node && p.address);
  return remotePod
    ? [{ title: `route to pod ${remotePod.name}`, argv: ['ip', 'route', 'get', ipOf(remotePod.address!)] }]
    : [];
}

/** A tunnel kind's settings: what the lab file gives, the kind's defaults for the rest (in the order state files keep). */
export function tunnelSettings<T extends TunnelSettings>(
  kind: T['kind'],
  spec: Record<string, unknown>,
  defaults: { id: number; port: number; device: string },
  group?: string,
): T {
  return {
    kind,
    id: (spec.id as number | undefined) ?? defaults.id,
    ...(group ? { group } : {}),
    port: (spec.port as number | undefined) ?? defaults.port,
    device: defaults.device,
    ...(typeof spec.dev === 'string' ? { dev: spec.dev } : {}),
  } as T;
}

/**
 * The lab's settings of a tunnel kind, as that kind's type. Only the kind's
 * own wiring module asks, for a lab of its kind, whose resolution always made
 * them: their absence is netlab's bug, not the lab file's.
 */
export function tunnelOf<T extends TunnelSettings>(model: Model, kind: T['kind']): T {
  const tunnel = model.tunnel;
  if (tunnel?.kind !== kind) throw new Error(`internal: lab ${model.name} has no ${kind} settings`);
  return tunnel as T;
}
