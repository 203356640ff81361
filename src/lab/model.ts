// The resolved lab: every name and address decided, defaults applied. Pure data,
// JSON-serialisable, recorded in state so that verify/down work after the lab
// file changed or was deleted.
import type { CROSS_NODE_KINDS, SAME_NODE_KINDS } from './schema.js';

export type SameNodeKind = (typeof SAME_NODE_KINDS)[number];
export type CrossNodeKind = (typeof CROSS_NODE_KINDS)[number];

export interface ModelNode {
  name: string;
  index: number;
  /** e.g. 10.200.0.0/24 */
  podSubnet: string;
  /** bridge address with prefix, e.g. 10.200.0.1/24 */
  gateway: string;
  bridge: string;
  /** underlay overrides from the lab file; the rest comes from the target's facts */
  underlay: { address?: string; dev?: string };
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
}

export interface VxlanSettings {
  id: number;
  group?: string;
  port: number;
  dev?: string;
  /** the VXLAN device name: vxlan0 (multicast) or flannel.1 */
  device: string;
}

export type CheckKind = 'ping' | 'tcp';

export interface Endpoint {
  pod: string;
  container?: string;
}

export interface Check {
  kind: CheckKind;
  from: Endpoint;
  /** a pod (with its address) or a bare address */
  to: Endpoint | { address: string };
  /** the address the check sends to */
  toAddress: string;
  port?: number;
  expect: 'pass' | 'fail';
  /** derived from the wiring rather than written in the file */
  derived: boolean;
}

export interface Model {
  name: string;
  description: string;
  file: string;
  clusterCidr: string;
  sameNode: SameNodeKind;
  crossNode: CrossNodeKind;
  vxlan?: VxlanSettings;
  nodes: ModelNode[];
  pods: ModelPod[];
  checks: Check[];
  exercises: string[];
}

export function endpointLabel(endpoint: Check['to'] | Endpoint): string {
  if ('address' in endpoint) return endpoint.address;
  return endpoint.container ? `${endpoint.pod}/${endpoint.container}` : endpoint.pod;
}
