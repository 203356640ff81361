// The resolved lab: every name and address decided, defaults applied. Pure data,
// JSON-serialisable, recorded in state so that verify/down work after the lab
// file changed or was deleted.
import { kernelLabName, labId } from './grammar.js';

/** A same-node kind of the wiring registry (src/wiring/registry.ts): loopback, veth, bridge. */
export type SameNodeKind = string;
/** A cross-node kind of the wiring registry: none, routes, ipip, vxlan, flannel, geneve. */
export type CrossNodeKind = string;

export interface ModelNode {
  name: string;
  index: number;
  /** e.g. 10.200.0.0/24 */
  podSubnet: string;
  /** bridge address with prefix, e.g. 10.200.0.1/24 */
  gateway: string;
  bridge: string;
  /** underlay overrides from the lab file; the rest comes from the target's facts */
  underlay: { address?: string; dev?: string; network?: string };
}

/** One network of a routed underlay: a subnet (an L2 segment) some nodes and routers are on. */
export interface ModelNetwork {
  name: string;
  /** e.g. 192.168.57.0/24 */
  cidr: string;
}

/** A router of the underlay: forwards between its networks, knows the underlay only (unless podRoutes). */
export interface ModelRouter {
  name: string;
  /** its networks, in the lab file's order: on a simulated router, network i is on eth(i+1) */
  networks: string[];
  /** its address on each of its networks (without prefix): the network's last host, less one per router before it there */
  addresses: Record<string, string>;
  /** it also routes each node's pod subnet to that node (as if the cluster told the network, like BGP peering) */
  podRoutes: boolean;
}

/** A routed underlay: the nodes on several networks joined by routers (lab file `underlay:`). */
export interface ModelUnderlay {
  networks: ModelNetwork[];
  routers: ModelRouter[];
}

export interface ModelContainer {
  name: string;
}

export interface ModelPod {
  name: string;
  node: string;
  /** the pod's network namespace name (`ip netns`) */
  netns: string;
  /** address with prefix, e.g. 10.200.0.2/24; absent for loopback-only pods */
  address?: string;
  /** interface inside the pod, e.g. veth-a0-c (bridge) or veth-a0 (veth pair) */
  podIf?: string;
  /** node-side end of the pod's veth pair (bridge wiring) */
  hostIf?: string;
  containers: ModelContainer[];
  rootfs?: string;
  /** Kubernetes-style labels, which NetworkPolicies select pods by */
  labels?: Record<string, string>;
}

/** Who a NetworkPolicy rule allows: pods (by their labels, resolved to names) or an IPv4 block. */
export type PolicyPeer = { pods: string[]; selector: Record<string, string> } | { cidr: string };

/** One ingress or egress rule: from/to any of the peers (none: anyone), on any of the ports (none: all). */
export interface PolicyRule {
  peers: PolicyPeer[];
  ports: { port: number; protocol: 'tcp' | 'udp' }[];
}

/** A NetworkPolicy: the pods it selects are isolated in each direction of its types, but for what its rules allow. */
export interface ModelPolicy {
  name: string;
  /** podSelector's labels ({}: every pod) */
  selector: Record<string, string>;
  /** the pods selected, by name */
  pods: string[];
  types: ('ingress' | 'egress')[];
  ingress: PolicyRule[];
  egress: PolicyRule[];
}

/**
 * A tunnel kind's resolved settings, as the rest of netlab sees them. Each
 * kind's wiring module decides them and has a type of its own (VxlanSettings,
 * FlannelSettings, GeneveSettings), which it reads them as (wiring/shared.ts'
 * tunnelOf).
 */
export interface TunnelSettings {
  /** the cross-node kind they are of */
  kind: string;
  /** the virtual network identifier */
  id: number;
  /** UDP port */
  port: number;
  /** the device name (vxlan0, flannel.1), or the prefix of one device per peer (gnv: gnv1, gnv2) */
  device: string;
  /** the multicast group of a kind that floods to one (a room moves it per group) */
  group?: string;
}

/**
 * A model written by a netlab before tunnels had a kind (state files, node
 * records): its tunnel's kind is the lab's cross-node kind.
 */
export function withTunnelKind(model: Model): Model {
  const tunnel = model.tunnel as Omit<TunnelSettings, 'kind'> | undefined;
  // A kind the settings have stays: it comes after.
  return tunnel ? { ...model, tunnel: { kind: model.crossNode, ...tunnel } } : model;
}

export type CheckKind = 'ping' | 'tcp' | 'service' | 'traceroute';

export interface Endpoint {
  pod: string;
  container?: string;
}

/** Where a check runs: inside a pod, or on a node itself (e.g. a NodePort client on the underlay). */
export type Source = Endpoint | { node: string };
/** What a check reaches: a pod, a node's underlay address, a bare address, a Service, or the outside host. */
export type Target = Endpoint | { node: string } | { address: string } | { service: string } | { outside: true };

export interface Check {
  kind: CheckKind;
  from: Source;
  to: Target;
  /** the address the check sends to; absent for a node, whose address is a fact of the target */
  toAddress?: string;
  port?: number;
  /** service checks, and tcp checks to a NodePort or a ClusterIP (verify/run.ts spreadOf): how many connections to spread over the backends */
  connections?: number;
  /** tcp checks: bytes the client sends before the responder answers (a bulk transfer: full-size packets) */
  bytes?: number;
  expect: 'pass' | 'fail';
  /** derived from the wiring rather than written in the file */
  derived: boolean;
  /** traceroute checks: the nodes that must answer as the hops before the target, in order (every router on the way) */
  via?: string[];
  /** trace's probe only: the TCP source port, so that conntrack's entry of this very connection can be found */
  sourcePort?: number;
}

/** The cluster's virtual Service addresses (Kubernetes' default service-cluster-ip-range, article 001 §5.4). */
export const SERVICE_CIDR = '10.96.0.0/12';

export interface ModelService {
  name: string;
  /** 1-based, as in the article's KUBE-SVC-1 */
  index: number;
  clusterIp: string;
  port: number;
  targetPort: number;
  protocol: 'tcp' | 'udp';
  type: 'ClusterIP' | 'NodePort';
  nodePort?: number;
  /** backend pod names, in order */
  backends: string[];
}

export interface Model {
  name: string;
  /** one of several copies of the lab (`--instance`): its identity is name@instance */
  instance?: string;
  description: string;
  file: string;
  clusterCidr: string;
  sameNode: SameNodeKind;
  /** bridge wiring: create the pod end of a veth pair in the node and move it (the article), or in the pod */
  vethPeer: 'move' | 'in-pod';
  crossNode: CrossNodeKind;
  /** the cross-node kind's tunnel settings, of that kind (state files of version 2 called them vxlan, and had no kind) */
  tunnel?: TunnelSettings;
  /** `wiring.mtu`: the pods' MTU the lab asks for, instead of the one computed from the underlay and the overlay */
  mtu?: number;
  nodes: ModelNode[];
  pods: ModelPod[];
  services: ModelService[];
  /** a routed underlay; absent: every node on one L2 segment */
  underlay?: ModelUnderlay;
  /** a host outside the cluster on the underlay (wiring/egress.ts); address absent: the underlay's .1 */
  outside?: { address?: string };
  /** NetworkPolicies; absent in state files before them */
  policies?: ModelPolicy[];
  checks: Check[];
  exercises: string[];
  /** graded break-and-fix exercises (`netlab challenge`); absent in state files before them */
  challenges?: ModelChallenge[];
}

/** A fault netlab makes on purpose, and what must work again once the learner has fixed it. */
export interface ModelChallenge {
  id: string;
  title: string;
  /** a fault of the lab's vocabulary, by its id: kind:node:subject (src/faults/faults.ts) */
  fault: string;
  /** the checks (1-based numbers of the lab's checks) that must pass again */
  goal: number[];
  hints: string[];
}

export function endpointLabel(endpoint: Target): string {
  if ('address' in endpoint) return endpoint.address;
  if ('node' in endpoint) return endpoint.node;
  if ('service' in endpoint) return `service ${endpoint.service}`;
  if ('outside' in endpoint) return 'outside';
  return endpoint.container ? `${endpoint.pod}/${endpoint.container}` : endpoint.pod;
}

/** The network namespaces of the pods on a node. */
export function podNamespacesOn(model: Pick<Model, 'pods'>, node: string): string[] {
  return model.pods.filter((p) => p.node === node).map((p) => p.netns);
}

/** The node a check runs on. */
export function nodeOfSource(model: Model, source: Source): string {
  return 'node' in source ? source.node : model.pods.find((p) => p.name === source.pod)!.node;
}

/** The lab's identity: its name, and its instance if it has one (`vxlan@g2`). */
export function labIdOf(model: Pick<Model, 'name' | 'instance'>): string {
  return labId(model.name, model.instance);
}

/** The short name the lab's kernel objects and node directories carry (model/grammar.ts kernelLabName). */
export function kernelNameOf(model: Pick<Model, 'name' | 'instance'>): string {
  return kernelLabName(labIdOf(model));
}
