// Every kind of wiring netlab knows, in the order the schema lists them. A new
// kind is one module in this folder plus one line here; nothing else switches
// on kind names.
import type { Model } from '../model/lab.js';
import { bridge } from './bridge.js';
import { flannel } from './flannel.js';
import { geneve } from './geneve.js';
import { ipip } from './ipip.js';
import { loopback } from './loopback.js';
import { none } from './none.js';
import { routes } from './routes.js';
import { egress } from './egress.js';
import { policies } from './policies.js';
import { services } from './services.js';
import type { CrossNodeWiring, SameNodeWiring, TunnelHops, WiringParts } from './types.js';
import { veth } from './veth.js';
import { vxlan } from './vxlan.js';

export const SAME_NODE: readonly SameNodeWiring[] = [loopback, veth, bridge];
export const CROSS_NODE: readonly CrossNodeWiring[] = [none, routes, ipip, vxlan, flannel, geneve];

export const DEFAULT_SAME_NODE = bridge.kind;
export const DEFAULT_CROSS_NODE = none.kind;

/** Whether the lab joins its nodes at all (cross-node: none does not). */
export function joinsNodes(crossNode: string): boolean {
  return crossNode !== none.kind;
}

export function sameNodeWiring(kind: string): SameNodeWiring {
  const found = SAME_NODE.find((w) => w.kind === kind);
  if (!found) throw new Error(`internal error: no same-node wiring ${kind}`);
  return found;
}

export function crossNodeWiring(kind: string): CrossNodeWiring {
  const found = CROSS_NODE.find((w) => w.kind === kind);
  if (!found) throw new Error(`internal error: no cross-node wiring ${kind}`);
  return found;
}

/** The modules a lab uses: its same-node kind, its cross-node kind, and Services and policies when it has any. */
export function wiringOf(
  model: Pick<Model, 'sameNode' | 'crossNode' | 'services' | 'policies' | 'outside'>,
): WiringParts[] {
  return [
    sameNodeWiring(model.sameNode),
    crossNodeWiring(model.crossNode),
    ...(model.services.length ? [services] : []),
    ...(model.policies?.length ? [policies] : []),
    ...(model.outside ? [egress] : []),
  ];
}

/** The chain the lab adds to FORWARD to accept the cluster's traffic, if one of its modules adds one. */
export function acceptChainOf(model: Model): string | undefined {
  return wiringOf(model)
    .map((part) => part.netfilter?.acceptChain?.(model))
    .find((chain) => chain !== undefined);
}

/** A trace's hops through a device of this `ip -d link` kind, if a wiring module makes such devices. */
export function tunnelHops(linkKind: string | undefined): TunnelHops | undefined {
  return CROSS_NODE.find((w) => w.trace && w.trace.linkKind === linkKind)?.trace;
}

/** Every module, for what all of them may contribute (the explanation of a command). */
export const ALL_WIRING: readonly WiringParts[] = [...SAME_NODE, ...CROSS_NODE, services, policies, egress];
