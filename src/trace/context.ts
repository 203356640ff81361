// What the trace's device hops (devices.ts) see of the walk (walk.ts implements
// it): the wiring modules' view, and more of the walk's own.
import type { End, Packet } from '../model/trace.js';
import type { Place } from '../node/tables.js';
import type { WalkContext } from '../wiring/types.js';

export type { Ingress } from '../wiring/types.js';

export interface TraceContext extends WalkContext {
  /** "pod a0" or the node's name */
  label(place: Place): string;
  /** the step that brings ifname up in place */
  upHint(place: Place, ifname: string): string | undefined;
  /** the last hop's MACs are labelled already: the final labelling leaves it alone */
  keepMacs(): void;
  /** where FORWARD (the lab's policies, a DROP before its jump, a DROP policy) drops a forwarded (or, with br_netfilter, bridged) packet; undefined: it passes */
  forwardVerdict(place: Place, packet: Packet, inDev: string, outDev: string): Promise<End | undefined>;
  /** bridgePort: it came up from a bridge, by this port */
  packetArrives(place: Place, packet: Packet, ifname: string, bridgePort?: string): Promise<End>;
}
