// What `netlab trace` reads from the live kernel, per namespace: links (with
// veth peer indexes, bridge ports, tunnel parameters), addresses, neighbours,
// the bridge FDB, route lookups, the nat and FORWARD rules and conntrack. The
// walk sees only the Kernel interface, so its logic is testable with tables
// written by hand; LiveKernel asks the nodes through node/query.ts.
import { RunError } from '../errors.js';
import type { Transports } from '../exec/transports.js';
import type { Model } from '../model/lab.js';
import { type Answers, askNode, type Questions } from '../node/query.js';
import type { Connection, Kernel, Place, RouteLookup, SavedRule, Tables } from '../node/tables.js';

export type { Connection, FdbEntry, Kernel, Link, Neighbour, Place, RouteLookup, Tables } from '../node/tables.js';

const SYSCTLS = ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables'];

/** Asks the nodes over the lab's transports (answers cached: a trace asks each question once). */
export class LiveKernel implements Kernel {
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(
    private readonly model: Model,
    private readonly transports: Transports,
  ) {}

  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    if (!this.cache.has(key)) this.cache.set(key, read());
    return this.cache.get(key) as Promise<T>;
  }

  private async ask(place: Place, questions: Omit<Questions, 'netns'>): Promise<Partial<Answers>> {
    const netns = place.pod ? this.model.pods.find((p) => p.name === place.pod)!.netns : undefined;
    const { answers, failed } = await askNode(this.transports[place.node]!, [
      { ...questions, ...(netns ? { netns } : {}) },
    ]);
    // A node that did not answer is not an empty one: the walk would invent reasons from the missing tables.
    if (failed) throw new RunError(`cannot read ${place.node}'s tables to trace through it: ${failed}`);
    return answers[0]!;
  }

  reads(node: string): boolean {
    return node in this.transports;
  }

  tables(place: Place): Promise<Tables> {
    return this.once(`tables ${place.node} ${place.pod ?? ''}`, async () => {
      const a = await this.ask(place, {
        links: true,
        addresses: true,
        neighbours: true,
        ...(place.pod ? {} : { fdb: true, sysctls: SYSCTLS }),
      });
      return {
        links: a.links ?? [],
        addresses: a.addresses ?? [],
        neighbours: a.neighbours ?? [],
        fdb: a.fdb ?? [],
        sysctls: a.sysctls ?? {},
      };
    });
  }

  routeGet(place: Place, dst: string): Promise<RouteLookup> {
    return this.once(`route ${place.node} ${place.pod ?? ''} ${dst}`, async () => {
      const a = await this.ask(place, { lookups: [dst] });
      return a.lookups?.[dst] ?? { ok: false, error: 'no answer' };
    });
  }

  private iptables(node: string): Promise<Answers['iptables']> {
    return this.once(`iptables ${node}`, async () => (await this.ask({ node }, { iptables: true })).iptables!);
  }

  async natRules(node: string): Promise<SavedRule[]> {
    return (await this.iptables(node)).nat.rules;
  }

  async filterTable(node: string): Promise<{ policy: string; rules: SavedRule[] }> {
    const { filter } = await this.iptables(node);
    // A kernel without the filter table has no FORWARD chain: nothing filters, as ACCEPT.
    return { policy: filter.chains.get('FORWARD') ?? 'ACCEPT', rules: filter.rules };
  }

  podFilter(place: Place): Promise<{ policy: string; rules: SavedRule[] }> {
    return this.once(`iptables ${place.node} ${place.pod ?? ''}`, async () => {
      const { filter } = (await this.ask(place, { iptables: ['filter'] })).iptables!;
      return { policy: filter.chains.get('INPUT') ?? 'ACCEPT', rules: filter.rules };
    });
  }

  async connections(node: string, protocol: string, dst: string, port: number): Promise<Connection[]> {
    return (await this.ask({ node }, { connections: { protocol, dst, port } })).connections ?? [];
  }
}
