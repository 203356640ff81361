// The nodes' own network as `netlab graph` draws it: one segment (a flat
// underlay, with the outside host of an egress lab on it), or the networks of a
// routed underlay with their routers between them. Each network is drawn once,
// with its name and CIDR, and everything on it is joined to that one box.
// workshop/graph.ts draws the nodes, their pods and devices, and joins each
// node's interface to the box `attachTo` names.
import type { Model, ModelNode } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import { describeRouter, outsideAddress } from './routing.js';

/** Graphviz / Mermaid identifiers: letters, digits and _ only. */
export const graphId = (...parts: string[]) => parts.join('_').replace(/[^A-Za-z0-9_]/g, '_');

interface Edge {
  from: string;
  to: string;
  label?: string;
}

/** A box drawn; `\n` in its label is a line break. */
export interface Box {
  id: string;
  label: string;
  shape: 'box' | 'ellipse' | 'cylinder';
}

/** The underlay's lines of `netlab graph`'s text: each network with what is on it, and each router. */
export function underlayLines(model: Model, facts: Record<string, NodeFacts>): string[] {
  if (!model.underlay) return [`underlay${model.outside ? `: outside host ${outsideAddress(model, facts)}` : ''}`];
  const { networks, routers } = model.underlay;
  return [
    ...networks.map((network) => {
      const attached = [
        ...model.nodes
          .filter((n) => n.underlay.network === network.name)
          .map((n) => `${n.name} ${facts[n.name]!.address}`),
        ...routers
          .filter((r) => r.networks.includes(network.name))
          .map((r) => `router ${r.name} ${r.addresses[network.name]!}`),
      ];
      return `network ${network.name} ${network.cidr}: ${attached.join(', ') || 'nothing attached'}`;
    }),
    ...routers.map((r) => describeRouter(r)),
  ];
}

/** The node's network in a routed lab, for the line of the node in `netlab graph`'s text. */
export function nodeNetworkNote(model: Model, node: ModelNode): string {
  return node.underlay.network && model.underlay ? ` (network ${node.underlay.network})` : '';
}

/** The underlay's boxes and the edges between them; `attachTo(node)` is the box a node's interface joins. */
export function underlayGraph(model: Model, facts: Record<string, NodeFacts>) {
  // By position: names that differ only in '.' and '-' would make one identifier.
  const networkId = (name: string) =>
    graphId('network', String(model.underlay!.networks.findIndex((n) => n.name === name)));
  const routerId = (name: string) =>
    graphId('router', String(model.underlay!.routers.findIndex((r) => r.name === name)));
  const networks: Box[] = model.underlay
    ? model.underlay.networks.map((n) => ({
        id: networkId(n.name),
        label: `network ${n.name}\\n${n.cidr}`,
        shape: 'cylinder',
      }))
    : [{ id: 'underlay', label: 'underlay', shape: 'cylinder' }];
  const routers: Box[] = (model.underlay?.routers ?? []).map((r) => ({
    id: routerId(r.name),
    label: `router ${r.name}${r.podRoutes ? '\\n(pod routes)' : ''}`,
    shape: 'box',
  }));
  const edges: Edge[] = [];
  for (const router of model.underlay?.routers ?? [])
    for (const network of router.networks)
      edges.push({ from: routerId(router.name), to: networkId(network), label: router.addresses[network]! });
  // The outside host of an egress lab, on the underlay (a flat one: resolve refuses it on a routed one).
  const outside: Box[] =
    model.outside && !model.underlay
      ? [{ id: 'outside', label: `outside host\\n${outsideAddress(model, facts)}`, shape: 'box' }]
      : [];
  for (const host of outside) edges.push({ from: host.id, to: networks[0]!.id });
  const attachTo = (node: ModelNode) => (model.underlay ? networkId(node.underlay.network!) : networks[0]!.id);
  return { networks, routers, outside, edges, attachTo };
}
