// What the trace's device hops (devices.ts) and NAT (nat.ts) see of the walk
// (walk.ts implements it): the wiring modules' view, plus the lab and the kernel.
import type { Model } from '../model/lab.js';
import type { End, Packet } from '../model/trace.js';
import type { Place } from '../node/tables.js';
import type { WalkContext } from '../wiring/types.js';
import type { Kernel } from './kernel.js';

export interface Ingress {
  /** the interface the packet came in by */
  ifname: string;
  /** when it came up from a bridge: the bridge port the frame came in by */
  bridgePort?: string;
}

export interface TraceContext extends WalkContext {
  readonly model: Model;
  readonly kernel: Kernel;
  /** "pod a0" or the node's name */
  label(place: Place): string;
  /** the step that brings ifname up in place */
  upHint(place: Place, ifname: string): string | undefined;
  /** the path works now but will not always: said once, as the trace's caveat (the first one wins) */
  warn(reason: string, hint?: string): void;
  /** the last hop's MACs are labelled already: the final labelling leaves it alone */
  keepMacs(): void;
  /** where a NetworkPolicy of the lab drops a forwarded (or, with br_netfilter, bridged) packet; undefined: it passes */
  policyVerdict(place: Place, packet: Packet, inDev: string, outDev: string): Promise<End | undefined>;
  /** bridgePort: it came up from a bridge, by this port */
  packetArrives(place: Place, packet: Packet, ifname: string, bridgePort?: string): Promise<End>;
}
