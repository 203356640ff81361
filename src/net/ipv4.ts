// IPv4 addresses and prefixes as 32-bit unsigned integers. netlab labs are IPv4
// only, like the articles they follow; a dozen lines of arithmetic are clearer
// here than a general-purpose address library.

export interface Cidr {
  /** network address (host bits cleared) */
  network: number;
  prefix: number;
}

// The one grammar of an IPv4 address and prefix in netlab: every address a lab
// file or an inventory names is checked against it (the schemas use these
// patterns, resolve these parsers). A leading zero is refused in every octet
// and in the prefix length: inet_aton (ping, ssh) reads "010.0.0.1" as octal,
// 8.0.0.1, while iproute2 reads it as 10.0.0.1.
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
export const IPV4_PATTERN = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);
export const CIDR_PATTERN = new RegExp(`^${OCTET}(\\.${OCTET}){3}/(3[0-2]|[12]?\\d)$`);
export const IPV4_RULE = 'an IPv4 address: four numbers 0-255 without leading zeros, such as 10.200.0.2';
export const CIDR_RULE = 'an IPv4 prefix: an address and a length 0-32, without leading zeros, such as 10.200.0.0/16';

/** Parses a dotted-quad address; undefined when it is not one (no leading zeros, no octal). */
export function parseIp(text: string): number | undefined {
  if (!IPV4_PATTERN.test(text)) return undefined;
  return text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** The address of an address with its prefix length, as `ip addr` writes one: 10.200.1.2/24 → 10.200.1.2. */
export function ipOf(cidr: string): string;
export function ipOf(cidr: string | undefined): string | undefined;
export function ipOf(cidr: string | undefined): string | undefined {
  return cidr?.split('/')[0];
}

/**
 * Numbers and dots: what inet_aton (ping, ssh) reads as an address (one to
 * four parts, decimal, octal with a leading 0, hex with 0x), and typos of one.
 * Such a text is meant as an address, and must be one by the grammar above.
 */
export function looksLikeIpv4(text: string): boolean {
  return /^(0x[\da-f]+|\d+)(\.(0x[\da-f]+|\d+))*$/i.test(text);
}

export function formatIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/len". `strict` requires the host bits to be zero. */
export function parseCidr(text: string, strict = true): Cidr | undefined {
  if (!CIDR_PATTERN.test(text)) return undefined;
  const [address, length] = text.split('/');
  const ip = parseIp(address!)!;
  const prefix = Number(length);
  const network = (ip & maskOf(prefix)) >>> 0;
  if (strict && network !== ip) return undefined;
  return { network, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidr.network)}/${cidr.prefix}`;
}

export function contains(outer: Cidr, ip: number): boolean {
  return (ip & maskOf(outer.prefix)) >>> 0 === outer.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return (a.network & maskOf(prefix)) >>> 0 === (b.network & maskOf(prefix)) >>> 0;
}

export function size(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

/** The n-th address of a prefix (0 = network address). */
export function nthAddress(cidr: Cidr, n: number): number {
  return (cidr.network + n) >>> 0;
}

/** The n-th subnet of length `prefix` inside `outer`, or undefined when it does not fit. */
export function nthSubnet(outer: Cidr, prefix: number, n: number): Cidr | undefined {
  if (prefix < outer.prefix || n < 0 || n >= 2 ** (prefix - outer.prefix)) return undefined;
  return { network: (outer.network + n * 2 ** (32 - prefix)) >>> 0, prefix };
}

/** Broadcast address of a prefix. */
export function lastAddress(cidr: Cidr): number {
  return (cidr.network + size(cidr) - 1) >>> 0;
}
