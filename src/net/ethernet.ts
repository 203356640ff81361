// Ethernet's numbers that every part of netlab shares.

/** Ethernet's MTU: what an interface has unless something sets another (the kernel's default for veth, bridge, eth). */
export const ETHERNET_MTU = 1500;
