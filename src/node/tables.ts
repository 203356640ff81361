// A node's kernel tables as netlab reads them: iproute2's JSON output (`ip -j`,
// `bridge -j`), sysctls and iptables-save, parsed into plain data. Pure: the
// script that asks for them is in query.ts; preflight, diagnosis, trace,
// evidence, facts and `up --step` all read these same shapes.

import type { Packet, Place } from '../model/trace.js';
import { contains, parseCidr, parseIp } from '../net/ipv4.js';

export type { Place } from '../model/trace.js';

export interface Link {
  ifindex: number;
  ifname: string;
  /** veth: the peer's ifindex (in whatever namespace the peer is) */
  peerIndex?: number;
  /** administratively up (`ip link set X up`) */
  up: boolean;
  /** the bridge this link is a port of */
  master?: string;
  /** `ip -d link`'s info_kind: veth, bridge, vxlan, ipip, geneve, ... */
  kind?: string;
  mac?: string;
  mtu?: number;
  /** bridge port: hairpin mode (may send a frame back out the port it came in on) */
  hairpin?: boolean;
  /** the kind's own parameters, as `ip -d -j link` prints them (info_data): VNI, port, local, remote, group... */
  data?: Record<string, unknown>;
}

export interface Address {
  ifname: string;
  /** without prefix */
  address: string;
  prefix: number;
  scope?: string;
}

export interface Route {
  /** "default", "10.200.1.0/24", "10.0.0.5" */
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
}

export interface Neighbour {
  dst: string;
  dev: string;
  mac?: string;
  state: string[];
}

export interface FdbEntry {
  mac: string;
  ifname: string;
  master?: string;
  /** VXLAN entries: the remote VTEP (or multicast group) */
  dst?: string;
  self: boolean;
  permanent: boolean;
}

export interface Tables {
  links: Link[];
  addresses: Address[];
  neighbours: Neighbour[];
  fdb: FdbEntry[];
  /** node namespaces only: net.ipv4.ip_forward and net.bridge.bridge-nf-call-iptables ("-" when absent) */
  sysctls: Record<string, string>;
}

export type RouteLookup =
  | {
      ok: true;
      type: string;
      dev: string;
      via?: string;
      src?: string;
      /** the routing table entry that matched, as `ip route` prints it */
      entry?: string;
      /** the route cache holds an ICMP redirect for this destination: the gateway said to go elsewhere */
      redirected?: boolean;
    }
  | { ok: false; error: string };

export interface Connection {
  src: string;
  /** the original direction's source port */
  sport?: number;
  /** the reply's source: the endpoint DNAT chose */
  replySrc: string;
  replyPort?: number;
}

interface JsonLink {
  ifindex: number;
  ifname: string;
  link_index?: number;
  flags?: string[];
  master?: string;
  address?: string;
  mtu?: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: { hairpin?: boolean } };
}

/** A JSON array, or [] for anything else (a tool that failed printed no JSON). */
export function parseJson<T>(text: string | undefined): T[] {
  try {
    const value = JSON.parse(text?.trim() || '[]') as unknown;
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}

/**
 * An interface name as the kernel gives one and netlab takes it: up to 15 printable ASCII characters, none of them
 * a space, '/' or ':' (the kernel's own rule, dev_valid_name(), lets control characters and any byte above 127
 * through). What a machine's tools say is a learner's to change where learners are root: a name with escape
 * sequences in it must never reach a terminal, a lab's facts or a script, so such an interface is passed over.
 */
export function isPlainIfname(name: unknown): name is string {
  return typeof name === 'string' && /^[!-.0-9;-~]{1,15}$/.test(name);
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

export function parseLinks(text: string): Link[] {
  return parseJson<JsonLink>(text).flatMap((l) => {
    if (!isPlainIfname(l.ifname)) return [];
    // (0, which the kernel gives no interface, where ip said no number)
    const ifindex = isCount(l.ifindex) ? l.ifindex : 0;
    const link: Link = { ifindex, ifname: l.ifname, up: (l.flags ?? []).includes('UP') };
    if (isCount(l.link_index)) link.peerIndex = l.link_index;
    if (isPlainIfname(l.master)) link.master = l.master;
    if (l.linkinfo?.info_kind) link.kind = l.linkinfo.info_kind;
    if (l.address) link.mac = l.address;
    if (isCount(l.mtu)) link.mtu = l.mtu;
    if (l.linkinfo?.info_slave_data?.hairpin !== undefined) link.hairpin = l.linkinfo.info_slave_data.hairpin;
    if (l.linkinfo?.info_data) link.data = l.linkinfo.info_data;
    return [link];
  });
}

export function parseAddresses(text: string): Address[] {
  return parseJson<{
    ifname: string;
    addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
  }>(text).flatMap((a) =>
    (isPlainIfname(a.ifname) ? (a.addr_info ?? []) : [])
      .filter((i) => i.family === 'inet' && typeof i.local === 'string' && parseIp(i.local) !== undefined)
      .map((i) => ({
        ifname: a.ifname,
        address: i.local,
        prefix: i.prefixlen,
        ...(i.scope ? { scope: i.scope } : {}),
      })),
  );
}

export function parseRoutes(text: string): Route[] {
  return parseJson<{ dst: string; type?: string; gateway?: string; dev?: string }>(text).map((r) => ({
    dst: r.dst,
    ...(r.type ? { type: r.type } : {}),
    ...(r.gateway ? { gateway: r.gateway } : {}),
    ...(isPlainIfname(r.dev) ? { dev: r.dev } : {}),
  }));
}

export function parseNeighbours(text: string): Neighbour[] {
  return parseJson<{ dst: string; dev: string; lladdr?: string; state?: string[] }>(text).map((n) => ({
    dst: n.dst,
    dev: n.dev,
    ...(n.lladdr ? { mac: n.lladdr } : {}),
    state: n.state ?? [],
  }));
}

export function parseFdb(text: string): FdbEntry[] {
  return parseJson<{ mac: string; ifname: string; master?: string; dst?: string; flags?: string[]; state?: string }>(
    text,
  ).map((f) => ({
    mac: f.mac,
    ifname: f.ifname,
    ...(f.master ? { master: f.master } : {}),
    ...(f.dst ? { dst: f.dst } : {}),
    self: (f.flags ?? []).includes('self'),
    permanent: f.state === 'permanent',
  }));
}

/** "key=value" lines. */
export function parseSysctls(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.split('='))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k!.trim(), v!.trim()]),
  );
}

/** A route's destination as a prefix: "default" is 0.0.0.0/0, a bare address a /32. */
export function routeKey(destination: string): string {
  if (destination === 'default') return '0.0.0.0/0';
  return destination.includes('/') ? destination : `${destination}/32`;
}

interface JsonRoute {
  type?: string;
  cache?: string[];
  dst: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
}

/** The routing entry that matched: `ip route show match DST` lists every entry containing DST; the longest prefix wins. */
function matchedEntry(text: string): string | undefined {
  const prefix = (r: JsonRoute) => (r.dst === 'default' ? 0 : Number(r.dst.split('/')[1] ?? 32));
  const best = parseJson<JsonRoute>(text).sort((a, b) => prefix(b) - prefix(a))[0];
  return best
    ? [best.dst, ...(best.gateway ? ['via', best.gateway] : []), ...(best.dev ? ['dev', best.dev] : [])].join(' ')
    : undefined;
}

export function parseRouteGet(text: string, matched: string, error: string): RouteLookup {
  const route = parseJson<JsonRoute>(text)[0];
  if (!route?.dev) return { ok: false, error: error.trim().replace(/^RTNETLINK answers: /, '') || 'no route' };
  const entry = matchedEntry(matched);
  return {
    ok: true,
    type: route.type ?? 'unicast',
    dev: route.dev,
    ...(route.gateway ? { via: route.gateway } : {}),
    ...(route.prefsrc ? { src: route.prefsrc } : {}),
    ...(entry ? { entry } : {}),
    ...(route.cache?.includes('redirected') ? { redirected: true } : {}),
  };
}

/** `conntrack -L` lines: tcp 6 117 TIME_WAIT src=10.200.0.2 dst=10.96.0.10 sport=4 dport=80 src=10.200.0.3 dst=10.200.0.2 sport=8080 dport=4 ... */
export function parseConnections(text: string): Connection[] {
  return text.split('\n').flatMap((line) => {
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]!);
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => Number(m[1]));
    return src.length >= 2
      ? [
          {
            src: src[0]!,
            replySrc: src[1]!,
            ...(sport[0] ? { sport: sport[0] } : {}),
            ...(sport[1] ? { replyPort: sport[1] } : {}),
          },
        ]
      : [];
  });
}

/** A rule as `iptables-save` prints it: `-A CHAIN args…`. */
export interface SavedRule {
  chain: string;
  /** its words after the chain, as iptables-save writes them */
  args: string[];
  /** what it jumps to (-j): a chain, or ACCEPT, DROP, DNAT, …; or goes to (-g: goto set) */
  target?: string;
  /** -g: the chain it goes to returns, when it decides nothing, to the chain that called this one */
  goto?: true;
  /** the line, for a person to read */
  text: string;
}

/**
 * One table of `iptables-save`, read once: its chains (each built-in one with
 * its policy, a chain of netlab's or anyone's with '-'), its rules in order,
 * and its lines without the packet counters, for a person to read.
 */
export interface SavedTable {
  chains: Map<string, string>;
  rules: SavedRule[];
  lines: string[];
}

/** The value a rule gives an option (`--dport 80` gives '80'), in iptables-save's words; undefined if it has none. */
export function ruleOption(rule: SavedRule, option: string): string | undefined {
  const at = rule.args.indexOf(option);
  return at >= 0 ? rule.args[at + 1] : undefined;
}

/** One table's lines of `iptables-save` (after its `*table` line, up to COMMIT) as a SavedTable. */
export function parseSavedTable(lines: readonly string[]): SavedTable {
  const chains = new Map<string, string>();
  const kept: string[] = [];
  for (const line of lines) {
    if (line === 'COMMIT' || line.startsWith('#')) continue;
    const text = line.replace(/ \[\d+:\d+\]$/, '');
    kept.push(text);
    const chain = /^:(\S+) (\S+)/.exec(text);
    if (chain) chains.set(chain[1]!, chain[2]!);
  }
  return { chains, rules: parseSavedRules(kept), lines: kept };
}

/** The words of an iptables rule as iptables-save prints it (it double-quotes a word with spaces: a comment). */
export function ruleWords(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/**
 * The rules of a built-in chain that a packet meets before the lab's jump to
 * `to` (every rule of the chain when the jump is gone, or when the lab has no
 * such chain: `to` undefined), and among them the ones that drop: what stops a
 * packet before the lab's chain is consulted.
 */
export function dropsBeforeJump(rules: readonly SavedRule[], from: string, to: string | undefined): SavedRule[] {
  const chain = rules.filter((r) => r.chain === from);
  const jump = to === undefined ? -1 : chain.findIndex((r) => r.target === to);
  return chain.slice(0, jump >= 0 ? jump : undefined).filter((r) => r.target === 'DROP' || r.target === 'REJECT');
}

/** A rule against a packet: it matches, it does not, or it may (a match trace does not judge: ruleMatches). */
export type Matched = boolean | 'maybe';

/**
 * The targets that decide a chain's walk beside ACCEPT, and their verdicts: the filter table's drops, or nat
 * POSTROUTING's source NAT (an ACCEPT there ends the walk without one).
 */
export const FILTER_DECIDES = { DROP: 'drop', REJECT: 'drop' } as const;
export const SOURCE_NAT_DECIDES = { MASQUERADE: 'snat', SNAT: 'snat' } as const;

/** What a chain decided, the rule that decided it and the rule of the chain walked first that led there. */
export interface ChainVerdict<Taken extends string = 'drop'> {
  verdict: 'accept' | Taken;
  /** the ACCEPT, or the target that decided (DROP, REJECT; MASQUERADE, SNAT); none: the chain's policy */
  rule?: SavedRule;
  /** the rule of the chain walked first through which the packet got there: the deciding rule, or a jump */
  via?: SavedRule;
  /** the rule whose match trace does not judge, on which the verdict hangs: the deciding rule, or a jump there */
  uncertain?: SavedRule;
  /**
   * a rule passed over because it may not match the packet: an ACCEPT that may have taken it before a drop (or a
   * source NAT), or a RETURN or goto that may have ended the chain before the verdict (either)
   */
  unsure?: SavedRule;
}

/**
 * What a chain does with a packet, as the kernel judges it: its rules in order, the first that `matches` (the
 * walk's ruleMatches of the packet) deciding: ACCEPT, or a target of `decides` (FILTER_DECIDES: DROP, REJECT); a
 * jump to a chain of the table judged there, going on after it when it decides nothing (or RETURNs), a goto (-g)
 * ending this chain then too; another target (LOG, MARK) going on; at the end, the chain's policy (a built-in
 * chain's: ACCEPT, or DROP in the filter table), or nothing decided (a chain of the table's own, or one too
 * deep). A rule that may match (a match not judged) and would decide by `decides` decides, `uncertain`; one that
 * may match and would accept or end the chain is passed over, and named as `unsure`.
 */
export function chainVerdict<Taken extends string = 'drop'>(
  rules: readonly SavedRule[],
  chain: string,
  policy: string | undefined,
  matches: (rule: SavedRule) => Matched,
  decides: Readonly<Record<string, Taken>>,
): ChainVerdict<Taken> | undefined {
  const walked = walkChain(rules, chain, matches, decides, undefined, 0);
  const byPolicy: Omit<ChainVerdict<Taken>, 'unsure'> | undefined =
    policy === 'ACCEPT'
      ? { verdict: 'accept' }
      : policy === 'DROP' && decides.DROP
        ? { verdict: decides.DROP }
        : undefined;
  const decided = walked.decided ?? byPolicy;
  // A rule that may have taken it elsewhere matters where a target of `decides` decided (an ACCEPT, a RETURN or
  // goto to an ACCEPT policy), or an accept (a RETURN or goto, to a DROP policy or a drop after the jump).
  const matters =
    walked.unsure && (decided?.verdict !== 'accept' || walked.unsure.target !== 'ACCEPT')
      ? { unsure: walked.unsure }
      : {};
  return decided && { ...decided, ...matters };
}

/** chainVerdict's walk of one chain. */
function walkChain<Taken extends string>(
  rules: readonly SavedRule[],
  chain: string,
  matches: (rule: SavedRule) => Matched,
  decides: Readonly<Record<string, Taken>>,
  /** the jump that may not match, through which the walk got here (none: it surely did) */
  doubt: SavedRule | undefined,
  depth: number,
): { decided?: Omit<ChainVerdict<Taken>, 'unsure'>; unsure?: SavedRule } {
  if (depth > 8) return {};
  let unsure: SavedRule | undefined;
  const result = (decided?: Omit<ChainVerdict<Taken>, 'unsure'>) => ({
    ...(decided ? { decided } : {}),
    ...(unsure ? { unsure } : {}),
  });
  for (const rule of rules.filter((r) => r.chain === chain)) {
    const matched = matches(rule);
    if (matched === false) continue;
    const doubted = doubt ?? (matched === 'maybe' ? rule : undefined);
    const certain = doubted === undefined;
    const uncertain = doubted ? { uncertain: doubted } : {};
    const taken = rule.target !== undefined && Object.hasOwn(decides, rule.target) ? decides[rule.target] : undefined;
    if (taken !== undefined) return result({ verdict: taken, rule, via: rule, ...uncertain });
    // A rule that ends the walk here, or may not: an ACCEPT, a RETURN, a goto whose chain decides nothing.
    const ends = () => {
      if (certain) return true;
      unsure ??= rule;
      return false;
    };
    if (rule.target === 'ACCEPT') {
      if (ends()) return result({ verdict: 'accept', rule, via: rule });
      continue;
    }
    if (rule.target === 'RETURN') {
      if (ends()) break;
      continue;
    }
    // A chain of the table (a goto's always is; a jump's target may be LOG or MARK, which go on).
    if (rule.target && (rule.goto || rules.some((r) => r.chain === rule.target))) {
      const inner = walkChain(rules, rule.target, matches, decides, doubted, depth + 1);
      unsure ??= inner.unsure;
      if (inner.decided) return result({ ...inner.decided, via: rule });
      if (rule.goto && ends()) break;
    }
  }
  return result();
}

/** Where a rule's words name its target: its last -j (jump) or -g (goto); -1 where it has none. */
function targetAt(args: readonly string[]): number {
  return Math.max(args.lastIndexOf('-j'), args.lastIndexOf('-g'));
}

/** The `-A` rules of one table's iptables-save lines, by chain in order. */
export function parseSavedRules(lines: readonly string[]): SavedRule[] {
  return lines
    .filter((l) => l.startsWith('-A '))
    .map((text) => {
      const [, chain, ...args] = ruleWords(text);
      const to = targetAt(args);
      return {
        chain: chain!,
        args,
        ...(to >= 0 && args[to + 1]
          ? { target: args[to + 1], ...(args[to] === '-g' ? { goto: true as const } : {}) }
          : {}),
        text,
      };
    });
}

/**
 * A rule in words both iptables and iptables-save agree on. iptables-save
 * writes a rule in its own words: it adds the protocol's match module
 * (`-p tcp --dport 80` comes back as `-p tcp -m tcp --dport 80`), a /32 to a
 * bare address, and the statistic match's probability as the kernel keeps it
 * (a 32-bit fraction: 0.3333333333 comes back as 0.33333333349).
 */
export function ruleKey(args: readonly string[]): string {
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [word, next] = [args[i]!, args[i + 1]];
    if (word === '-m' && (next === 'tcp' || next === 'udp')) {
      i++;
      continue;
    }
    if (word === '--probability' && next !== undefined) {
      words.push(word, Number(next).toFixed(4));
      i++;
      continue;
    }
    if ((word === '-s' || word === '-d') && next !== undefined) {
      words.push(word, routeKey(next));
      i++;
      continue;
    }
    words.push(word);
  }
  return words.join(' ');
}

/** Whether a mark match's `VALUE[/MASK]` (iptables-save writes both in hex) holds for `mark`; undefined: unreadable. */
function markMatches(value: string, mark: number): boolean | undefined {
  const [wanted, mask = '0xffffffff'] = value.split('/');
  const [v, m] = [Number(wanted), Number(mask)];
  if (!Number.isInteger(v) || !Number.isInteger(m)) return undefined;
  return (mark & m) >>> 0 === v >>> 0;
}

/** The conntrack states ruleMatches judges; a rule naming another (DNAT, SNAT, UNTRACKED) is passed over. */
const STATES = ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID'];

/**
 * Whether a rule matches the packet: its -s, -d, -i, -o, -p and --dport (a port, a range, multiport's list) are
 * compared (an interface name ending in + is a prefix, ! negates), and a
 * conntrack state (--ctstate, or the older state match's --state) sees the
 * first packet of a connection as NEW and the reply of the connection the walk
 * just followed as ESTABLISHED (never INVALID or RELATED); a mark match
 * where the walk knows the packet's mark. Any other match
 * (a mark otherwise, a set, --sport, --syn, the states DNAT, SNAT and UNTRACKED) is not
 * judged: a rule whose judged matches all hold may match ('maybe'; unjudgedOf
 * names what was not judged).
 */
export function ruleMatches(rule: SavedRule, packet: Packet, inDev: string, outDev: string): Matched {
  const { hit, unjudged } = judgeRule(rule, packet, inDev, outDev);
  return hit && unjudged.length ? 'maybe' : hit;
}

/** The options of a rule that ruleMatches passes over without judging them (`--sport`, `--mark`), as written. */
export function unjudgedOf(rule: SavedRule): string[] {
  return judgeRule(rule, { dst: '0.0.0.0', protocol: 'icmp' }, '', '').unjudged;
}

function judgeRule(
  rule: SavedRule,
  packet: Packet,
  inDev: string,
  outDev: string,
): { hit: boolean; unjudged: string[] } {
  const words = rule.args;
  const target = targetAt(words);
  const matches = target >= 0 ? words.slice(0, target) : words;
  const device = (pattern: string, dev: string) =>
    pattern.endsWith('+') ? dev.startsWith(pattern.slice(0, -1)) : dev === pattern;
  const inCidr = (cidr: string, address: string | undefined) => {
    const parsed = parseCidr(cidr.includes('/') ? cidr : `${cidr}/32`, false);
    const ip = address ? parseIp(address) : undefined;
    return parsed !== undefined && ip !== undefined && contains(parsed, ip);
  };
  const unjudged: string[] = [];
  let hit = true;
  for (let i = 0; i < matches.length; i++) {
    const negated = matches[i] === '!';
    if (negated) i++;
    const [option, value] = [matches[i], matches[i + 1] ?? ''];
    i++;
    let judged: boolean;
    if (option === '-s') judged = inCidr(value, packet.src);
    else if (option === '-d') judged = inCidr(value, packet.dst);
    else if (option === '-i') judged = device(value, inDev);
    else if (option === '-o') judged = device(value, outDev);
    else if (option === '-p') judged = value === packet.protocol;
    // A port, a range (8000:9000) or multiport's list of either.
    else if (option === '--dport' || option === '--dports' || option === '--destination-ports')
      judged = packet.port !== undefined && portIn(value, packet.port);
    else if ((option === '--ctstate' || option === '--state') && value.split(',').every((s) => STATES.includes(s)))
      judged = value.split(',').includes(packet.reply ? 'ESTABLISHED' : 'NEW');
    // The mark match (`-m mark --mark VALUE[/MASK]`: the packet's mark, masked, is the value; not connmark's).
    else if (
      option === '--mark' &&
      packet.mark !== undefined &&
      matches[matches.lastIndexOf('-m', i) + 1] === 'mark' &&
      markMatches(value, packet.mark) !== undefined
    )
      judged = markMatches(value, packet.mark)!;
    // A match module's name (its options follow), or a comment (any text, "-d" too): neither restricts.
    else if (option === '-m' || option === '--comment') continue;
    else {
      // Not judged: passed over a word at a time, its values too (none, as --syn; one; two, as --tcp-flags).
      if (option?.startsWith('-')) unjudged.push(`${negated ? '! ' : ''}${option}`);
      i--;
      continue;
    }
    if (judged === negated) hit = false;
  }
  return { hit, unjudged };
}

/** Whether a port is in iptables' words for ports: 80, 8000:9000 (either end left out: from 0, to 65535), or a list of those. */
function portIn(words: string, port: number): boolean {
  return words.split(',').some((part) => {
    const [low, high] = part.includes(':') ? part.split(':') : [part, part];
    return port >= (low === '' ? 0 : Number(low)) && port <= (high === '' ? 65535 : Number(high));
  });
}

/** What a trace reads from the nodes' kernels (trace/kernel.ts asks the live nodes; tests write tables by hand). */
export interface Kernel {
  /** whether netlab can read this node's or router's tables (not a router of machines over SSH) */
  reads(node: string): boolean;
  tables(place: Place): Promise<Tables>;
  routeGet(place: Place, dst: string): Promise<RouteLookup>;
  /** the rules of a node's nat table */
  natRules(node: string): Promise<SavedRule[]>;
  /** a node's filter table: FORWARD's policy, and every rule (FORWARD's and the chains it jumps to) */
  filterTable(node: string): Promise<{ policy: string; rules: SavedRule[] }>;
  /** a pod's own filter table (a firewall inside it): its INPUT chain's policy and every rule; absent: none to read */
  podFilter?(place: Place): Promise<{ policy: string; rules: SavedRule[] }>;
  /** conntrack entries of a node for connections to dst:port: who sent them and where DNAT sent them */
  connections(node: string, protocol: string, dst: string, port: number): Promise<Connection[]>;
}
