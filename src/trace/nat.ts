// kube-proxy's DNAT in a trace: a packet for a Service's cluster IP (or a
// NodePort on a node's address) is rewritten to one endpoint, as the node's nat
// table and conntrack's entry of the probe's own connection say.
import { kernelNameOf } from '../model/lab.js';
import type { ModelService } from '../model/lab.js';
import type { End, Packet } from '../model/trace.js';
import { ruleOption, type Place, type SavedRule } from '../node/tables.js';
import { serviceChains } from '../wiring/services.js';
import type { Ingress, TraceContext } from './context.js';

/** A Service this packet is addressed to, seen from a node: its cluster IP and port, or a NodePort on this node's own address. */
export function serviceFor(walk: TraceContext, node: string, packet: Packet): ModelService | undefined {
  if (packet.protocol === 'icmp') return undefined;
  return walk.model.services.find(
    (s) =>
      s.protocol === packet.protocol &&
      ((s.clusterIp === packet.dst && s.port === packet.port) ||
        (s.nodePort !== undefined && s.nodePort === packet.port && walk.facts[node]?.address === packet.dst)),
  );
}

/** kube-proxy's DNAT, read from the node's nat table; conntrack says which endpoint this connection got. */
export async function dnat(
  walk: TraceContext,
  place: Place,
  packet: Packet,
  service: ModelService,
  ingress?: Ingress,
): Promise<Packet | End> {
  const chains = serviceChains(kernelNameOf(walk.model));
  const rules = await walk.kernel.natRules(place.node);
  const hook = ingress ? 'PREROUTING' : 'OUTPUT';
  const restoreHint = walk.hint(
    place,
    (d) => d.kind === 'chain' && d.table === 'nat' && d.name === chains.services,
    'programs the Services',
  );
  if (!rules.some((r) => r.chain === hook && r.target === chains.services)) {
    return walk.end(
      'broken',
      place,
      `${hook} in ${place.node}'s nat table does not jump to ${chains.services}: no Service rule is consulted`,
      restoreHint,
    );
  }
  const isNodePort = packet.dst !== service.clusterIp;
  const dispatch = isNodePort
    ? rules.find(
        (r) =>
          r.chain === chains.nodePorts &&
          ruleOption(r, '--dport') === String(packet.port) &&
          r.target === chains.service(service),
      )
    : rules.find(
        (r) =>
          r.chain === chains.services &&
          ruleOption(r, '-d') === `${service.clusterIp}/32` &&
          ruleOption(r, '--dport') === String(packet.port) &&
          r.target === chains.service(service),
      );
  if (!dispatch)
    return walk.end(
      'broken',
      place,
      `no rule in ${isNodePort ? chains.nodePorts : chains.services} sends ${packet.dst}:${packet.port} to ${chains.service(service)}`,
      restoreHint,
    );
  const endpoints = rules
    .filter((r) => r.chain === chains.service(service) && r.target !== undefined)
    .map((r) => {
      const chain = r.target!;
      const probability = ruleOption(r, '--probability');
      const dnat = rules.find((d) => d.chain === chain && d.target === 'DNAT');
      return {
        chain,
        probability: probability ? Number(probability) : 1,
        target: dnat && ruleOption(dnat, '--to-destination'),
        dnatRule: dnat?.text,
      };
    });
  if (endpoints.length === 0 || endpoints.some((e) => !e.target))
    return walk.end('broken', place, `${chains.service(service)} has no endpoint to DNAT to`, restoreHint);
  // Only the entry of trace's own probe says where this packet goes: an older
  // connection from the same source (a verify's) may have got another endpoint.
  const own =
    packet.src && packet.sport !== undefined
      ? (await walk.kernel.connections(place.node, service.protocol, packet.dst, packet.port!)).find(
          (c) => c.src === packet.src && c.sport === packet.sport,
        )
      : undefined;
  const seen = own && `${own.replySrc}:${own.replyPort}`;
  const chosen = endpoints.find((e) => e.target === seen) ?? endpoints[0]!;
  const cascade = endpoints.map((e) => (e.probability >= 1 ? '1' : `1/${Math.round(1 / e.probability)}`)).join(', ');
  const how = own
    ? `conntrack's entry of the probe's own connection, source port ${packet.sport}, went there`
    : packet.sport !== undefined
      ? `conntrack has no entry of the probe's connection (source port ${packet.sport}): the kernel picks at random; following the first`
      : 'no probe was sent: the kernel picks at random; following the first';
  walk.hop(
    place,
    'dnat',
    `${hook} → ${chains.services} → ${isNodePort ? `${chains.nodePorts} → ` : ''}${chains.service(service)} picks one of ${endpoints.length} endpoint(s) (probabilities ${cascade}): ${chosen.chain} rewrites ${packet.dst}:${packet.port} to ${chosen.target} (${how})`,
    chosen.dnatRule,
  );
  // Where the Service's endpoints listen: each backend's address and the targetPort.
  const pods = new Map(walk.model.pods.map((p) => [p.name, p.address?.split('/')[0]]));
  const served = new Set(service.backends.map((b) => `${pods.get(b)}:${service.targetPort}`));
  const stray = endpoints.filter((e) => !served.has(e.target!));
  if (stray.includes(chosen))
    return walk.end(
      'broken',
      place,
      `${chosen.chain} rewrites the destination to ${chosen.target}, where no backend of ${service.name} listens (its backends: ${[...served].join(', ')}): the connection is refused or unanswered`,
      restoreHint,
    );
  if (stray.length)
    walk.warn(
      `${stray.length} of ${endpoints.length} endpoints of ${service.name} send where no backend listens (${stray.map((e) => `${e.chain} → ${e.target}`).join(', ')}): connections that pick ${stray.length > 1 ? 'them' : 'it'} fail`,
      restoreHint,
    );
  const [address, port] = chosen.target!.split(':');
  if (address && address === packet.src) {
    const unmasked = hairpinUnmasked(rules, chains, chosen.chain, address);
    const self = walk.model.pods.find((p) => p.address?.split('/')[0] === address)?.name ?? address;
    if (unmasked)
      return walk.end(
        'broken',
        place,
        `${self} connects to itself through ${service.name}, and the connection is not masqueraded (${unmasked}): ${self} answers its own address ${address} directly, from ${address} instead of ${service.clusterIp}, and drops the reply`,
        restoreHint,
      );
  }
  const translated: Packet = { ...packet, dst: address!, port: Number(port), translated: true };
  const bridgePort = ingress?.bridgePort;
  if (bridgePort) {
    // The client came from this node's bridge. With br_netfilter the frame was
    // DNATed in the bridge's own hook and, if the endpoint is on the same
    // bridge, is bridged back (maybe out of the port it came in by: hairpin).
    // Without br_netfilter the reply of an endpoint on the same bridge is
    // bridged straight to the client, never un-DNATed.
    const brNetfilter = (await walk.tables(place)).sysctls['net.bridge.bridge-nf-call-iptables'];
    const backend = walk.model.pods.find((p) => p.address?.split('/')[0] === address);
    const client = walk.model.pods.find((p) => p.address?.split('/')[0] === packet.src);
    const sameBridge =
      backend && client && backend.node === place.node && client.node === place.node && backend.hostIf && client.hostIf;
    if (brNetfilter !== '1' && sameBridge && backend !== client) {
      return walk.end(
        'broken',
        place,
        `the reply from ${address} to ${packet.src} stays on the bridge: with net.bridge.bridge-nf-call-iptables=${brNetfilter} bridged frames skip iptables, so conntrack never rewrites its source back to ${service.clusterIp} and ${client.name} drops it`,
        walk.hint(
          place,
          (d) => d.kind === 'sysctl' && d.key === 'net.bridge.bridge-nf-call-iptables',
          'turns br_netfilter on',
        ),
      );
    }
    if (brNetfilter === '1') translated.bridgedFrom = bridgePort;
  }
  return translated;
}

/**
 * An endpoint chosen for its own connection (hairpin) must be masqueraded:
 * the endpoint chain marks it, the mark chain sets kube-proxy's bit, and the
 * lab's POSTROUTING chain masquerades what carries it. What is missing, if any.
 */
function hairpinUnmasked(
  rules: readonly SavedRule[],
  chains: ReturnType<typeof serviceChains>,
  endpoint: string,
  address: string,
): string | undefined {
  if (
    !rules.some((r) => r.chain === endpoint && ruleOption(r, '-s') === `${address}/32` && r.target === chains.markMasq)
  )
    return `${endpoint} has no rule marking connections from ${address}`;
  if (!rules.some((r) => r.chain === chains.markMasq && r.target === 'MARK' && r.args.includes('--set-xmark')))
    return `${chains.markMasq} marks nothing`;
  // Every connection that reaches the lab's POSTROUTING chain carries the mark: its one rule matches nothing else.
  if (!rules.some((r) => r.chain === chains.postrouting && r.target === 'MASQUERADE' && r.args.length === 2))
    return `${chains.postrouting} has no MASQUERADE for marked connections`;
  return undefined;
}
