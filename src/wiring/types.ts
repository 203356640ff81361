// What a kind of wiring is: one module per kind (src/wiring/*.ts) owns all of
// it — its lab-file settings, their validation and defaults, its plan steps,
// what it needs on a node, the evidence verify prints, how graph draws it, what
// its own devices and rules do (in the effects its steps make), and its hops
// in a trace. The registry
// (registry.ts) lists the modules; the rest of netlab asks the registry.
import type { Check, Model, ModelNode, ModelPod, TunnelSettings } from '../model/lab.js';
import type { Change, Created, NodeFacts, StepDraft } from '../model/plan.js';
import type { End, Packet } from '../model/trace.js';
import type { Link, Place, SavedRule } from '../node/tables.js';
import type { UnderlayWalk } from '../underlay/trace.js';

export type FactsOf = (node: string) => NodeFacts;

/** A kernel feature, probed before anything changes (see exec/preflight.ts). */
export interface Feature {
  name: string;
  /** what the learner sees: "kernel IP-in-IP support" */
  label: string;
  module: string;
  /** `ip link add` arguments after the device name */
  probe: string[];
  /** where to find it when this kernel lacks it */
  hint?: string;
}

/** An iptables match or target a kind's rules use, probed before anything changes (see wiring/netfilter.ts). */
export interface NetfilterExtension {
  /** iptables' name of it: "statistic", "DNAT" */
  name: string;
  /** the kernel module that provides it */
  module: string;
  /** a rule that uses it (added in a throwaway network namespace): its table, chain and arguments */
  probe: { table: 'filter' | 'nat'; chain: string; rule: string[] };
}

/** A command verify runs on a node to show the state a kind relies on. */
export interface EvidenceCommand {
  title: string;
  argv: string[];
}

/** The fields a kind's lab-file settings may have, by type (lab/schema.ts turns them into the schema). */
export type SettingType = 'vni' | 'port' | 'ipv4' | 'ifname';

export interface SettingsSpec {
  /** the key under `wiring:` (several kinds may share one: vxlan and flannel) */
  key: string;
  fields: Record<string, SettingType>;
  describe: string;
}

/** Reports a problem with one field of the kind's settings. */
export type SettingsReport = (field: string, message: string) => void;

/** A sysctl that exists only with a kernel module loaded (br_netfilter's), checked by preflight. */
export interface NeededSysctl {
  key: string;
  module: string;
  /** "has Services, which need": the message reads "lab LAB has Services, which need br_netfilter on NODE" */
  why: string;
}

/** What every module may contribute. */
export interface WiringParts {
  sysctls?: NeededSysctl[];
  /** commands it runs on the nodes (exec/preflight.ts says which package has each) */
  tools?: string[];
  features?: Feature[];
  /** the iptables matches and targets its rules use */
  extensions?: NetfilterExtension[];
  /** commands verify runs on a node to show the state the kind relies on */
  evidence?: (model: Model, node: string) => EvidenceCommand[];
  /** the names of what it makes on a node (devices, chains), which `show` highlights */
  names?: (model: Model, node: ModelNode) => string[];
  /** what its iptables rules do in a trace */
  netfilter?: NetfilterHooks;
}

/** How graph draws a cross-node kind's device. */
export interface GraphDevice {
  label: string;
  /** a port of the node's bridge (VXLAN with multicast), rather than a device the node routes into */
  bridgePort: boolean;
}

/** The interface a packet came in by. */
export interface Ingress {
  /** the interface the packet came in by */
  ifname: string;
  /** when it came up from a bridge: the bridge port the frame came in by */
  bridgePort?: string;
}

/** The part of the trace walk a kind's hops use (implemented by trace/walk.ts): what crossing the underlay needs, and more. */
export interface WalkContext extends UnderlayWalk {
  /** "the lab … with `command` (step N: …)": the step that created or set what matches */
  hint(place: Place, matches: (declared: Created | Change) => boolean, what: string): string | undefined;
  /** the path works now but will not always: said once, as the trace's caveat (the first one wins) */
  warn(reason: string, hint?: string): void;
  /** what the plan declares in the place that matches (the first), if anything */
  planned(place: Place, matches: (declared: Created | Change) => boolean): Created | Change | undefined;
  /** the outer packet of a tunnel crosses the underlay to the node with address `remote`, whose device `receiver` picks takes it */
  tunnel(
    place: Place,
    remote: string,
    outer: string,
    receiver: (links: Link[]) => Link | undefined,
    what: string,
    arrive: (next: Place, link: Link) => Promise<End>,
  ): Promise<End>;
  /** a frame arrives on a link: a bridge port hands it to the bridge, any other link to the IP layer */
  frameArrives(place: Place, link: Link, mac: string | undefined, packet: Packet): Promise<End>;
}

/** A kind's tunnel devices in a trace. */
export interface TunnelHops {
  /** `ip -d link`'s kind of the devices this module makes */
  linkKind: string;
  /** ip: a packet routed into the device goes straight in (IP-in-IP); ethernet: it needs the next hop's MAC first */
  carries: 'ip' | 'ethernet';
  /** the packet leaves by `device` (to the route's next hop, or as a frame to `mac`): wrapped, over the underlay, unwrapped */
  send(
    walk: WalkContext,
    place: Place,
    device: Link,
    to: { nextHop?: string; mac?: string },
    packet: Packet,
  ): Promise<End>;
}

/** A packet a node's FORWARD chain drops, as a module's hook sees it: the rule that drops it, first match deciding. */
export interface Forwarded {
  place: Place;
  packet: Packet;
  inDev: string;
  outDev: string;
  /** the rule that drops it, in FORWARD or in a chain FORWARD jumps to */
  rule: SavedRule;
}

/** A kind's iptables in a trace: what its chains do to a packet, read from the node's live rules (on nodes only: a pod's namespace has none of the lab's rules). */
export interface NetfilterHooks {
  /** the chain it adds to FORWARD to accept the lab's traffic (the cluster CIDR's) */
  acceptChain?(model: Model): string;
  /** nat before routing: PREROUTING for a packet that came in, OUTPUT for one made there; the packet rewritten, or the end; undefined when its rules do not apply */
  beforeRouting?(walk: WalkContext, place: Place, packet: Packet, ingress?: Ingress): Promise<Packet | End | undefined>;
  /** filter FORWARD (also a bridged packet's, with br_netfilter) drops the packet by a rule: the module's words for it, where the rule is in one of its chains; undefined: not its rule */
  forwardDrop?(walk: WalkContext, dropped: Forwarded): End | undefined;
}

/** The headers a tunnel wraps each pod packet in, which must fit the underlay's MTU with it. */
export interface Encapsulation {
  bytes: number;
  /** the headers, counted: "outer IPv4 20 + UDP 8 + VXLAN 8 + the inner Ethernet header 14" */
  headers: string;
}

/** How pod subnets of different nodes are joined: none, routes, ipip, vxlan, flannel, geneve. */
export interface CrossNodeWiring extends WiringParts {
  kind: string;
  /** one line for the lab-file schema: what this kind is */
  describe: string;
  /** an overlay's headers: the pods' MTU is the underlay's less these (wiring/mtu.ts) */
  encapsulation?: Encapsulation;
  settings?: SettingsSpec;
  /** validates the kind's settings (already of the right types) and applies its defaults */
  resolve?(spec: Record<string, unknown>, report: SettingsReport, underlay: { routed: boolean }): TunnelSettings;
  steps(model: Model, node: ModelNode, factsOf: FactsOf): StepDraft[];
  graph?(model: Model): GraphDevice;
  /** its evidence changes with traffic (a learned FDB): verify shows it before the checks too */
  learns?: boolean;
  /** packets cross the underlay unencapsulated: graph draws the bridge routed to the underlay NIC */
  routesOverUnderlay?: boolean;
  /** tcpdump options and default filter for a capture on the node's underlay interface */
  /** how tcpdump decodes the kind's packets on the underlay, and what to tell Wireshark when it does not by itself */
  captureUnderlay?(model: Model): { options: string[]; filter: string; wireshark?: string };
  trace?: TunnelHops;
}

/** How pods on one node are joined: loopback only, a veth pair, or a bridge. */
export interface SameNodeWiring extends WiringParts {
  kind: string;
  describe: string;
  /** a pod's interface names; absent: pods have only lo, and no address */
  podInterfaces?(pod: string): { podIf: string; hostIf?: string };
  /** why a pod of this kind may not be given an address (pods without interfaces) */
  noAddress?: string;
  /** what is wrong with the lab's nodes and pods for this kind (reported at wiring.same-node) */
  problems?(nodes: ModelNode[], pods: ModelPod[]): string[];
  /** every node routes its pod subnet through a bridge: the cross-node kinds build on that */
  routesPodSubnet: boolean;
  /** the checks verify runs when the lab file has none; absent: every pod pings every pod it should reach */
  deriveChecks?(pods: ModelPod[]): Check[];
  /** how graph draws a node's pods: joined by a bridge, as a pair of veth ends, or on their own */
  graph: 'bridge' | 'pair' | 'alone';
  /** the steps of a node's network phase */
  steps(model: Model, node: ModelNode): StepDraft[];
}

/** Services, programmed on every node as kube-proxy does. */
export interface ServicesWiring extends WiringParts {
  steps(model: Model, node: ModelNode): StepDraft[];
}
