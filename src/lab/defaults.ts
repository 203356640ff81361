// The article's addressing, as defaults. One place decides them, for both
// validation and resolution. (Article 001: cluster 10.200.0.0/16, node N has
// 10.200.N.0/24, its bridge brN holds .1, pods get .2, .3, ...)
import { nthAddress, nthSubnet, type Cidr } from '../net/ipv4.js';

export const DEFAULT_CLUSTER_CIDR = '10.200.0.0/16';

/**
 * The widest cluster CIDR: the lab's FORWARD ACCEPT, MASQUERADE and policy
 * rules match all of it, so it must hold only the lab's pods (0.0.0.0/1 would
 * be half the Internet). Kubernetes clusters use a /16 or so.
 */
export const WIDEST_CLUSTER_PREFIX = 8;

/**
 * Blocks that are no lab's (RFC 6890): rules matching a cluster CIDR there
 * would catch the node's own loopback, link-local (cloud metadata at
 * 169.254.169.254), multicast or broadcast traffic.
 */
export const SPECIAL_BLOCKS: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved and broadcast'],
];

/**
 * Where a cluster CIDR may be: the private ranges (RFC 1918) and the shared
 * range some clusters use (RFC 6598). Elsewhere the lab's routes on a node
 * would take over public addresses (a pod subnet 8.8.8.0/24 routed via another
 * node), and its ACCEPT and MASQUERADE rules would match them.
 */
export const PRIVATE_BLOCKS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'];
export const NODE_SUBNET_PREFIX = 24;
export const FIRST_POD_HOST = 2;
export const GATEWAY_HOST = 1;

export const DEFAULT_VXLAN = { id: 100, group: '239.1.1.1', port: 4789, device: 'vxlan0' } as const;
/** Flannel's defaults: VNI 1, the Linux kernel's historical VXLAN port 8472, device flannel.1. */
export const DEFAULT_FLANNEL = { id: 1, port: 8472, device: 'flannel.1' } as const;

export function defaultNodeSubnet(cluster: Cidr, index: number): Cidr | undefined {
  return nthSubnet(cluster, NODE_SUBNET_PREFIX, index);
}

export function defaultBridge(index: number): string {
  return `br${index}`;
}

export function gatewayOf(subnet: Cidr): number {
  return nthAddress(subnet, GATEWAY_HOST);
}
