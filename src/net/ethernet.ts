// Ethernet's numbers that every part of netlab shares.

/** Ethernet's MTU: what an interface has unless something sets another (the kernel's default for veth, bridge, eth). */
export const ETHERNET_MTU = 1500;

/**
 * The MAC address netlab gives a device from one of its IPv4 addresses: 0a:58
 * (a locally administered unicast prefix, the one Kubernetes uses for pod MACs)
 * then the address's four bytes (the form the CNI bridge plugin once gave its bridge).
 */
export function macOfAddress(ip: number): string {
  const bytes = [24, 16, 8, 0].map((shift) => ((ip >>> shift) & 255).toString(16).padStart(2, '0'));
  return ['0a', '58', ...bytes].join(':');
}
