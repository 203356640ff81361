// What `netlab trace` reads from the live kernel, per namespace: links (with
// veth peer indexes, bridge ports, VXLAN/IPIP parameters), addresses,
// neighbours, the bridge FDB, and route lookups (`ip route get`). The walk in
// walk.ts sees only this interface, so its logic is testable with tables
// written by hand; LiveKernel reads them with iproute2's JSON output.
import type { Model } from '../lab/model.js';
import type { Transports } from '../exec/transports.js';
import { quoteArgv } from '../shell/quote.js';
import { runSections } from '../exec/sections.js';

/** A network namespace: a node's own (pod undefined) or a pod's on that node. */
export interface Place {
  node: string;
  pod?: string;
}

export interface Link {
  ifindex: number;
  ifname: string;
  /** veth: the peer's ifindex (in whatever namespace the peer is) */
  peerIndex?: number;
  /** administratively up (`ip link set X up`) */
  up: boolean;
  /** the bridge this link is a port of */
  master?: string;
  kind?: string;
  mac?: string;
  /** bridge port: hairpin mode (may send a frame back out the port it came in on) */
  hairpin?: boolean;
  vxlan?: { id: number; group?: string; remote?: string; local?: string; port: number };
  ipip?: { local?: string; remote?: string };
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
  addresses: { ifname: string; address: string }[];
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

export interface Kernel {
  tables(place: Place): Promise<Tables>;
  routeGet(place: Place, dst: string): Promise<RouteLookup>;
  /** `iptables-save -t nat` lines of a node */
  natRules(node: string): Promise<string[]>;
  /** `iptables -S FORWARD` lines of a node */
  forwardRules(node: string): Promise<string[]>;
  /** conntrack entries of a node for connections to dst:port: who sent them and where DNAT sent them */
  connections(node: string, protocol: string, dst: string, port: number): Promise<Connection[]>;
}

const SYSCTLS = ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'];

interface JsonLink {
  ifindex: number;
  ifname: string;
  link_index?: number;
  flags?: string[];
  master?: string;
  address?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: { hairpin?: boolean } };
}

function parseJson<T>(text: string | undefined): T[] {
  try {
    const value = JSON.parse(text?.trim() || '[]') as unknown;
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}

export function parseLinks(text: string): Link[] {
  return parseJson<JsonLink>(text).map((l) => {
    const kind = l.linkinfo?.info_kind;
    const data = l.linkinfo?.info_data ?? {};
    const link: Link = { ifindex: l.ifindex, ifname: l.ifname, up: (l.flags ?? []).includes('UP') };
    if (l.link_index !== undefined) link.peerIndex = l.link_index;
    if (l.master) link.master = l.master;
    if (kind) link.kind = kind;
    if (l.address) link.mac = l.address;
    if (l.linkinfo?.info_slave_data?.hairpin !== undefined) link.hairpin = l.linkinfo.info_slave_data.hairpin;
    if (kind === 'vxlan') {
      link.vxlan = { id: Number(data.id), port: Number(data.port ?? 8472) };
      for (const key of ['group', 'remote', 'local'] as const)
        if (typeof data[key] === 'string') link.vxlan[key] = data[key] as string;
    }
    if (kind === 'ipip') {
      link.ipip = {};
      for (const key of ['local', 'remote'] as const)
        if (typeof data[key] === 'string' && data[key] !== 'any') link.ipip[key] = data[key] as string;
    }
    return link;
  });
}

export function parseTables(sections: string[]): Tables {
  const [links, addrs, neigh, fdb, sysctls] = sections;
  return {
    links: parseLinks(links ?? ''),
    addresses: parseJson<{ ifname: string; addr_info?: { family: string; local: string }[] }>(addrs).flatMap((a) =>
      (a.addr_info ?? []).filter((i) => i.family === 'inet').map((i) => ({ ifname: a.ifname, address: i.local })),
    ),
    neighbours: parseJson<{ dst: string; dev: string; lladdr?: string; state?: string[] }>(neigh).map((n) => ({
      dst: n.dst,
      dev: n.dev,
      ...(n.lladdr ? { mac: n.lladdr } : {}),
      state: n.state ?? [],
    })),
    fdb: parseJson<{ mac: string; ifname: string; master?: string; dst?: string; flags?: string[]; state?: string }>(
      fdb,
    ).map((f) => ({
      mac: f.mac,
      ifname: f.ifname,
      ...(f.master ? { master: f.master } : {}),
      ...(f.dst ? { dst: f.dst } : {}),
      self: (f.flags ?? []).includes('self'),
      permanent: f.state === 'permanent',
    })),
    sysctls: Object.fromEntries(
      (sysctls ?? '')
        .split('\n')
        .map((l) => l.split('='))
        .filter((kv) => kv.length === 2)
        .map(([k, v]) => [k!.trim(), v!.trim()]),
    ),
  };
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

/** Reads the tables over the lab's transports (one script per question, answers cached: a trace asks each namespace once). */
export class LiveKernel implements Kernel {
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(
    private readonly model: Model,
    private readonly transports: Transports,
  ) {}

  private netnsOf(place: Place): string[] {
    if (!place.pod) return [];
    return ['-n', this.model.pods.find((p) => p.name === place.pod)!.netns];
  }

  private async sections(node: string, commands: string[]): Promise<string[]> {
    return (await runSections(this.transports[node]!, commands)).sections;
  }

  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    if (!this.cache.has(key)) this.cache.set(key, read());
    return this.cache.get(key) as Promise<T>;
  }

  tables(place: Place): Promise<Tables> {
    return this.once(`tables ${place.node} ${place.pod ?? ''}`, async () => {
      const n = quoteArgv(this.netnsOf(place));
      const sysctls = place.pod
        ? 'true'
        : SYSCTLS.map((k) => `echo "${k}=$(sysctl -n ${k} 2>/dev/null || echo -)"`).join('; ');
      return parseTables(
        await this.sections(place.node, [
          `ip ${n} -j -d link show`,
          `ip ${n} -j addr show`,
          `ip ${n} -j neigh show`,
          place.pod ? 'echo []' : 'bridge -j fdb show',
          sysctls,
        ]),
      );
    });
  }

  routeGet(place: Place, dst: string): Promise<RouteLookup> {
    return this.once(`route ${place.node} ${place.pod ?? ''} ${dst}`, async () => {
      const n = quoteArgv(this.netnsOf(place));
      const d = quoteArgv([dst]);
      const [got, matched] = await this.sections(place.node, [
        `ip ${n} -j route get ${d}`,
        `ip ${n} -j route show match ${d}`,
      ]);
      const json = got?.trim().startsWith('[') ? got : '';
      return parseRouteGet(json ?? '', matched ?? '', json ? '' : (got ?? ''));
    });
  }

  natRules(node: string): Promise<string[]> {
    return this.once(`nat ${node}`, async () =>
      ((await this.sections(node, ['iptables-save -t nat']))[0] ?? '').split('\n').filter(Boolean),
    );
  }

  forwardRules(node: string): Promise<string[]> {
    return this.once(`forward ${node}`, async () =>
      ((await this.sections(node, ['iptables -w -S FORWARD']))[0] ?? '').split('\n').filter(Boolean),
    );
  }

  async connections(node: string, protocol: string, dst: string, port: number): Promise<Connection[]> {
    const [text] = await this.sections(node, [
      quoteArgv(['conntrack', '-L', '-p', protocol, '--orig-dst', dst, '--dport', String(port)]),
    ]);
    // tcp 6 117 TIME_WAIT src=10.200.0.2 dst=10.96.0.10 sport=4 dport=80 src=10.200.0.3 dst=10.200.0.2 sport=8080 dport=4 ...
    return (text ?? '').split('\n').flatMap((line) => {
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
}
