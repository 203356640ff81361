// `netlab graph`: the topology of a lab — nodes, pods, veth pairs with both
// ends' names, bridges, VXLAN/IP-in-IP devices and the underlay — as text, as
// Mermaid or as Graphviz DOT. Pure: live interface names (veth-a0@if4) are
// passed in when the lab is up.
import type { Model, ModelPod } from '../model/lab.js';
import type { NodeFacts } from '../model/plan.js';
import { crossNodeWiring, joinsNodes, sameNodeWiring } from '../wiring/registry.js';
import type { GraphDevice } from '../wiring/types.js';
import { type Box, graphId as id, nodeNetworkNote, underlayGraph, underlayLines } from '../underlay/graph.js';

/** Live names of interfaces, e.g. "node-0/veth-a0" → "veth-a0@if4". */
export type LiveNames = Record<string, string>;

/** The cross-node kind's device, as graph draws it. */
function tunnelOf(model: Model): GraphDevice | undefined {
  return crossNodeWiring(model.crossNode).graph?.(model);
}

/** A node draws its bridge when its pods are joined by one, or when the bridge joins other nodes' pods. */
function hasBridge(model: Model, pods: ModelPod[]): boolean {
  return sameNodeWiring(model.sameNode).graph === 'bridge' && (pods.length > 0 || joinsNodes(model.crossNode));
}

const live = (names: LiveNames, scope: string, name: string) => names[`${scope}/${name}`] ?? name;

function podLine(pod: ModelPod, names: LiveNames): string {
  const address = pod.address ?? '127.0.0.1 only';
  const containers = pod.containers.length ? ` [containers ${pod.containers.map((c) => c.name).join(', ')}]` : '';
  if (!pod.podIf) return `pod ${pod.name}: lo ${address}${containers}`;
  const hostEnd = pod.hostIf ? `${live(names, pod.node, pod.hostIf)} ⇄ ` : '';
  return `${hostEnd}${live(names, pod.name, pod.podIf)} pod ${pod.name} ${address}${containers}`;
}

export function renderText(model: Model, facts: Record<string, NodeFacts>, names: LiveNames = {}): string {
  const out = [
    `lab ${model.name}: cluster ${model.clusterCidr}, same-node ${model.sameNode}, cross-node ${model.crossNode}`,
  ];
  const tunnel = tunnelOf(model);
  out.push(...underlayLines(model, facts));
  model.nodes.forEach((node, i) => {
    const lastNode = i === model.nodes.length - 1;
    const [branch, stem] = lastNode ? ['└─', '   '] : ['├─', '│  '];
    const f = facts[node.name]!;
    out.push(`${branch} ${node.name}  ${live(names, node.name, f.dev)} ${f.address}${nodeNetworkNote(model, node)}`);
    const pods = model.pods.filter((p) => p.node === node.name);
    const children: string[] = [];
    if (hasBridge(model, pods)) {
      children.push(`${node.bridge} ${node.gateway} (bridge)`);
      const ports = [
        ...pods.map((p) => podLine(p, names)),
        ...(tunnel?.bridgePort ? [`${tunnel.label} → ${f.dev}`] : []),
      ];
      for (const [j, port] of ports.entries()) children.push(`${j === ports.length - 1 ? '└─' : '├─'} ${port}`);
      if (tunnel && !tunnel.bridgePort) children.push(`${tunnel.label} → ${f.dev}`);
    } else if (sameNodeWiring(model.sameNode).graph === 'pair' && pods.length === 2) {
      children.push(
        `pod ${pods[0]!.name} ${pods[0]!.address} ${live(names, pods[0]!.name, pods[0]!.podIf!)} ⇄ ${live(names, pods[1]!.name, pods[1]!.podIf!)} pod ${pods[1]!.name} ${pods[1]!.address}`,
      );
    } else {
      for (const pod of pods) children.push(podLine(pod, names));
    }
    for (const child of children) out.push(`${stem}   ${child}`);
  });
  if (model.services.length) {
    for (const s of model.services)
      out.push(
        `service ${s.name} ${s.clusterIp}:${s.port}/${s.protocol} → ${s.backends.join(', ')}${s.nodePort ? ` (NodePort ${s.nodePort})` : ''}`,
      );
  }
  return `${out.join('\n')}\n`;
}

function graphOf(model: Model, facts: Record<string, NodeFacts>, names: LiveNames) {
  const clusters: { id: string; label: string; boxes: Box[] }[] = [];
  // The underlay first: its boxes, and its edges before the nodes'.
  const { networks, routers, outside, edges, attachTo } = underlayGraph(model, facts);
  for (const node of model.nodes) {
    const f = facts[node.name]!;
    const boxes: Box[] = [];
    const nic = id(node.name, f.dev);
    boxes.push({ id: nic, label: `${live(names, node.name, f.dev)}\\n${f.address}`, shape: 'box' });
    edges.push({ from: nic, to: attachTo(node) });
    const bridge = id(node.name, node.bridge);
    const pods = model.pods.filter((p) => p.node === node.name);
    if (hasBridge(model, pods)) boxes.push({ id: bridge, label: `${node.bridge}\\n${node.gateway}`, shape: 'box' });
    for (const pod of pods) {
      const podBox = id('pod', pod.name);
      boxes.push({ id: podBox, label: `pod ${pod.name}\\n${pod.address ?? 'lo only'}`, shape: 'ellipse' });
      if (pod.hostIf && hasBridge(model, pods))
        edges.push({
          from: podBox,
          to: bridge,
          label: `${live(names, pod.name, pod.podIf!)} ⇄ ${live(names, pod.node, pod.hostIf)}`,
        });
    }
    if (sameNodeWiring(model.sameNode).graph === 'pair' && pods.length === 2) {
      edges.push({
        from: id('pod', pods[0]!.name),
        to: id('pod', pods[1]!.name),
        label: `${live(names, pods[0]!.name, pods[0]!.podIf!)} ⇄ ${live(names, pods[1]!.name, pods[1]!.podIf!)}`,
      });
    }
    const tunnel = tunnelOf(model);
    if (tunnel) {
      const dev = id(node.name, 'tunnel');
      boxes.push({ id: dev, label: tunnel.label.replace(' (', '\\n('), shape: 'box' });
      edges.push({
        from: dev,
        to: tunnel.bridgePort ? bridge : nic,
        label: tunnel.bridgePort ? 'bridge port' : 'route',
      });
      edges.push({ from: dev, to: nic, label: 'encapsulates over' });
    } else if (crossNodeWiring(model.crossNode).routesOverUnderlay)
      edges.push({ from: bridge, to: nic, label: 'routes' });
    clusters.push({ id: id('node', node.name), label: node.name, boxes });
  }
  return { clusters, edges, networks, routers, outside };
}

/** The topology as data (`graph --format json`): each node's boxes (interfaces, bridge, pods, tunnel) and the edges between them. */
export function graphData(model: Model, facts: Record<string, NodeFacts>, names: LiveNames = {}) {
  const { clusters, edges, networks, routers, outside } = graphOf(model, facts, names);
  const text = (label: string) => label.replace(/\\n/g, '\n');
  const plain = (box: Box) => ({ ...box, label: text(box.label) });
  return {
    // A flat underlay is one box; a routed one, its networks and routers.
    ...(model.underlay
      ? { networks: networks.map(plain), routers: routers.map(plain) }
      : { underlay: plain(networks[0]!) }),
    ...(outside.length ? { outside: plain(outside[0]!) } : {}),
    nodes: clusters.map((c) => ({ ...c, boxes: c.boxes.map((b) => ({ ...b, label: text(b.label) })) })),
    edges,
    services: model.services.map((s) => ({
      name: s.name,
      clusterIp: s.clusterIp,
      port: s.port,
      protocol: s.protocol,
      backends: s.backends,
      ...(s.nodePort ? { nodePort: s.nodePort } : {}),
    })),
  };
}

export function renderDot(model: Model, facts: Record<string, NodeFacts>, names: LiveNames = {}): string {
  const { clusters, edges, networks, routers, outside } = graphOf(model, facts, names);
  const quote = (text: string) => `"${text.replace(/"/g, '\\"')}"`;
  const out = [
    `digraph ${quote(`netlab ${model.name}`)} {`,
    '  rankdir=TB;',
    '  node [fontname="monospace"];',
    ...[...networks, ...routers, ...outside].map(
      (box) => `  ${box.id} [label=${quote(box.label)}, shape=${box.shape}];`,
    ),
  ];
  for (const cluster of clusters) {
    out.push(`  subgraph cluster_${cluster.id} {`, `    label=${quote(cluster.label)};`);
    for (const box of cluster.boxes) out.push(`    ${box.id} [label=${quote(box.label)}, shape=${box.shape}];`);
    out.push('  }');
  }
  for (const edge of edges)
    out.push(`  ${edge.from} -> ${edge.to} [dir=none${edge.label ? `, label=${quote(edge.label)}` : ''}];`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

export function renderMermaid(model: Model, facts: Record<string, NodeFacts>, names: LiveNames = {}): string {
  const { clusters, edges, networks, routers, outside } = graphOf(model, facts, names);
  const text = (t: string) => `"${t.replace(/\\n/g, '<br/>').replace(/"/g, "'")}"`;
  const shape = (box: Box) =>
    box.shape === 'ellipse'
      ? `(${text(box.label)})`
      : box.shape === 'cylinder'
        ? `[(${text(box.label)})]`
        : `[${text(box.label)}]`;
  const out = ['graph TB', ...[...networks, ...routers, ...outside].map((box) => `  ${box.id}${shape(box)}`)];
  for (const cluster of clusters) {
    out.push(`  subgraph ${cluster.id}[${text(cluster.label)}]`);
    for (const box of cluster.boxes) out.push(`    ${box.id}${shape(box)}`);
    out.push('  end');
  }
  for (const edge of edges) out.push(`  ${edge.from} ---${edge.label ? `|${text(edge.label)}|` : ''} ${edge.to}`);
  return `${out.join('\n')}\n`;
}
