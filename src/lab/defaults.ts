// The article's addressing, as defaults. One place decides them, for both
// validation and resolution. (Article 001: cluster 10.200.0.0/16, node N has
// 10.200.N.0/24, its bridge brN holds .1, pods get .2, .3, ...)
import { nthAddress, nthSubnet, type Cidr } from '../net/ipv4.js';

export const DEFAULT_CLUSTER_CIDR = '10.200.0.0/16';
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

/** The host number of the first simulated node on a network (the article's 192.168.64.4); the next ones follow. */
export const FIRST_SIMULATED_HOST = 4;
