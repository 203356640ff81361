// The drift check (src/verify/diagnose.ts) against every declaration of every
// bundled lab: a node built from the plan's own declarations, exactly as the
// plan made it, has no finding; then each declaration is broken on its own, in
// each way the kernel could differ (gone, another value, another device, out
// of order, a rule before it), and exactly one finding must name the step
// that made it, in its words. The node's answers are written here in the
// shapes node/query.ts parses, from the declarations, not from the code under
// test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import {
  cachedRedirectCaveat,
  describeFindings,
  findingsOf,
  nodeDriftFindings,
  nodeDriftQuestions,
  questionsFor,
} from '../../src/verify/diagnose.js';
import type { Answers } from '../../src/node/query.js';
import type { Change, Created, Step } from '../../src/model/plan.js';
import type { Link, Route, SavedRule, SavedTable } from '../../src/node/tables.js';
import { LABS } from '../paths.js';

type Node = Partial<Answers>;
type Declared = Created | Change;

const netnsOf = (d: Declared) => ('netns' in d ? d.netns : undefined);

/** iptables-save's view of the lab's chains, rules and jumps (each jump inserted first: the last declared stands first). */
function tables(steps: readonly Step[]): { filter: SavedTable; nat: SavedTable } {
  const table = (name: 'filter' | 'nat'): SavedTable => {
    const chains = new Map<string, string>();
    const rules: SavedRule[] = [];
    const jumps: SavedRule[] = [];
    for (const step of steps) {
      for (const c of step.creates) {
        if (c.kind === 'chain' && c.table === name) chains.set(c.name, '-');
        if (c.kind === 'rule' && c.table === name)
          rules.push({ chain: c.chain, args: [...c.rule], target: c.rule[c.rule.indexOf('-j') + 1], text: '' });
      }
      for (const c of step.sets)
        if (c.kind === 'jump' && c.table === name)
          jumps.unshift({ chain: c.from, args: ['-j', c.to], target: c.to, text: `-A ${c.from} -j ${c.to}` });
    }
    return { chains, rules: [...jumps, ...rules], lines: [] };
  };
  return { filter: table('filter'), nat: table('nat') };
}

/** A node (and the pods asked) exactly as the steps declare it. */
function asMade(steps: readonly Step[]): { node: Node; pods: Map<string, Node> } {
  const all = steps.flatMap((s) => [...s.creates, ...s.sets]);
  const moved = new Set(all.flatMap((d) => (d.kind === 'moved' ? [d.link] : [])));
  const linkIn = (netns: string | undefined, made: Map<string, Link>, name: string) => {
    if (!made.has(name)) made.set(name, { ifindex: made.size + 2, ifname: name, up: false });
    return made.get(name)!;
  };
  const nodeLinks = new Map<string, Link>();
  const podLinks = new Map<string, Map<string, Link>>();
  const linksOf = (netns: string | undefined) =>
    netns === undefined ? nodeLinks : (podLinks.get(netns) ?? podLinks.set(netns, new Map()).get(netns)!);
  const node: Node = { addresses: [], routes: [], namespaces: [], neighbours: [], fdb: [], sysctls: {} };
  const podRoutes = new Map<string, Route[]>();
  /** A route as `ip -j route` gives it back: its gateway and device, where the lab names them. */
  const routeOf = (d: { dst: string; via?: string; dev?: string }): Route => ({
    dst: d.dst,
    ...(d.via ? { gateway: d.via } : {}),
    ...(d.dev ? { dev: d.dev } : {}),
  });
  for (const d of all) {
    const netns = netnsOf(d);
    if (d.kind === 'link' && !(netns === undefined && moved.has(d.name))) {
      const link = linkIn(netns, linksOf(netns), d.name);
      if (d.tunnel) link.data = { id: d.tunnel.vni, port: d.tunnel.port };
    } else if (d.kind === 'moved') linkIn(d.netns, linksOf(d.netns), d.link);
    else if (d.kind === 'up') linkIn(netns, linksOf(netns), d.link).up = true;
    else if (d.kind === 'mtu') linkIn(netns, linksOf(netns), d.link).mtu = d.mtu;
    else if (d.kind === 'hairpin') linkIn(undefined, nodeLinks, d.port).hairpin = d.on;
    else if (d.kind === 'route' && netns) podRoutes.set(netns, [...(podRoutes.get(netns) ?? []), routeOf(d)]);
    else if (d.kind === 'route') node.routes!.push(routeOf(d));
    else if (d.kind === 'master' && !moved.has(d.link)) linkIn(undefined, nodeLinks, d.link).master = d.bridge;
    else if (d.kind === 'address' && !netns) {
      const [address, prefix] = d.address.split('/');
      node.addresses!.push({ ifname: d.dev, address: address!, prefix: Number(prefix) } as Answers['addresses'][0]);
    } else if (d.kind === 'netns') node.namespaces!.push(d.name);
    else if (d.kind === 'neighbour')
      node.neighbours!.push({ dst: d.address, dev: d.dev, mac: d.mac, state: ['PERMANENT'] });
    else if (d.kind === 'fdb') node.fdb!.push({ mac: d.mac, ifname: d.dev, dst: d.dst, self: true, permanent: true });
    else if (d.kind === 'sysctl' && !netns) node.sysctls![d.key] = d.value;
  }
  node.links = [...nodeLinks.values()];
  node.iptables = tables(steps);
  const pods = new Map(
    [...podLinks].map(([netns, links]): [string, Node] => [
      netns,
      { links: [...links.values()], routes: podRoutes.get(netns) ?? [] },
    ]),
  );
  return { node, pods };
}

/** One way a declaration can differ on the node, and the finding it must give. */
interface Breakage {
  how: string;
  step: Step;
  what: string;
  route?: string;
  /** more findings the same breakage gives (a DROP before one jump stands before every jump after it) */
  more?: { step: Step; what: string }[];
  node?: (n: Node) => void;
  pods?: (p: Map<string, Node>) => void;
  gone?: string;
}

const other = (mac: string) => `${mac.slice(0, -2)}${mac.endsWith('ff') ? '00' : 'ff'}`;
const linkNamed = (links: Link[] | undefined, name: string) => links!.find((l) => l.ifname === name)!;

/** Every way each declaration of the steps can be broken, with the finding it must give. */
function breakages(steps: readonly Step[]): Breakage[] {
  const all = steps.flatMap((s) => [...s.creates, ...s.sets]);
  const moved = new Set(all.flatMap((d) => (d.kind === 'moved' ? [d.link] : [])));
  const bridges = new Set(all.flatMap((d) => (d.kind === 'master' ? [d.bridge] : [])));
  const out: Breakage[] = [];
  const jumpsFrom = new Map<string, { step: Step; to: string }[]>();
  const rulesIn = new Map<string, { step: Step; rule: string[] }[]>();
  for (const step of steps) {
    for (const d of [...step.creates, ...step.sets]) {
      const netns = netnsOf(d);
      const add = (b: Omit<Breakage, 'step'>) => out.push({ step, ...b });
      const inPod = (what: string) => `in pod namespace ${netns}: ${what}`;
      switch (d.kind) {
        case 'link':
          if (netns)
            add({
              how: `${d.name} gone from ${netns}`,
              what: inPod(`link ${d.name} is missing`),
              pods: (p) => void (p.get(netns)!.links = p.get(netns)!.links!.filter((l) => l.ifname !== d.name)),
            });
          else if (!moved.has(d.name)) {
            add({
              how: `${d.name} gone`,
              what: `link ${d.name} is missing`,
              node: (n) => void (n.links = n.links!.filter((l) => l.ifname !== d.name)),
            });
            if (d.tunnel) {
              const { vni, port } = d.tunnel;
              add({
                how: `${d.name} another VNI`,
                what: `${d.name} has VNI ${vni + 1}, but the lab makes it with VNI ${vni}`,
                node: (n) => void (linkNamed(n.links, d.name).data = { id: vni + 1, port }),
              });
              add({
                how: `${d.name} another port`,
                what: `${d.name} sends to UDP port ${port + 1}, but the lab makes it with port ${port}`,
                node: (n) => void (linkNamed(n.links, d.name).data = { id: vni, port: port + 1 }),
              });
            }
          }
          break;
        case 'moved':
          add({
            how: `${d.link} not in ${d.netns}`,
            what: `in pod namespace ${d.netns}: link ${d.link} is missing`,
            pods: (p) => void (p.get(d.netns)!.links = p.get(d.netns)!.links!.filter((l) => l.ifname !== d.link)),
          });
          break;
        case 'netns':
          add({
            how: `namespace ${d.name} gone`,
            what: `the network namespace of pod ${d.name} is missing`,
            node: (n) => void (n.namespaces = n.namespaces!.filter((x) => x !== d.name)),
          });
          break;
        case 'pause':
          add({ how: `pause of ${d.pod} gone`, what: `the pause process of pod ${d.pod} is gone`, gone: d.pod });
          break;
        case 'route': {
          // Another way to the same place: through a gateway the lab did not name.
          const rerouted = (routes: Route[]) => void (routes.find((r) => r.dst === d.dst)!.gateway = '192.0.2.1');
          const elsewhere = `route ${d.dst} goes via 192.0.2.1${d.dev ? ` dev ${d.dev}` : ''}, but the lab routes it via ${d.via}${d.dev ? ` dev ${d.dev}` : ''}`;
          if (netns) {
            add({
              how: `route ${d.dst} gone from ${netns}`,
              what: inPod(`route ${d.dst} is missing`),
              pods: (p) => void (p.get(netns)!.routes = p.get(netns)!.routes!.filter((r) => r.dst !== d.dst)),
            });
            if (d.via) {
              add({
                how: `route ${d.dst} of ${netns} through another gateway`,
                what: inPod(elsewhere),
                pods: (p) => rerouted(p.get(netns)!.routes!),
              });
              add({
                how: `route ${d.dst} of ${netns} through another gateway, beside a route through the lab's`,
                what: inPod(elsewhere),
                pods: (p) => {
                  rerouted(p.get(netns)!.routes!);
                  p.get(netns)!.routes!.push({ dst: '198.51.100.0/24', gateway: d.via! });
                },
              });
            }
          } else {
            add({
              how: `route ${d.dst} gone`,
              what: `route ${d.dst} is missing`,
              ...(d.dev && bridges.has(d.dev) ? { route: d.dst } : {}),
              node: (n) => void (n.routes = n.routes!.filter((r) => r.dst !== d.dst)),
            });
            if (d.via) {
              add({
                how: `route ${d.dst} through another gateway`,
                what: elsewhere,
                node: (n) => rerouted(n.routes!),
              });
              // Another route through the lab's gateway does not make this one right.
              add({
                how: `route ${d.dst} through another gateway, beside a route through the lab's`,
                what: elsewhere,
                node: (n) => {
                  rerouted(n.routes!);
                  n.routes!.push({ dst: '198.51.100.0/24', gateway: d.via!, ...(d.dev ? { dev: d.dev } : {}) });
                },
              });
            }
            if (d.dev)
              add({
                how: `route ${d.dst} out of another device`,
                what: `route ${d.dst} goes ${d.via ? `via ${d.via} ` : ''}dev eth9, but the lab routes it ${d.via ? `via ${d.via} ` : ''}dev ${d.dev}`,
                node: (n) => void (n.routes!.find((r) => r.dst === d.dst)!.dev = 'eth9'),
              });
          }
          break;
        }
        case 'address':
          if (!netns)
            add({
              how: `address ${d.address} gone`,
              what: `${d.dev} lacks the address ${d.address}`,
              node: (n) =>
                void (n.addresses = n.addresses!.filter(
                  (a) => a.ifname !== d.dev || `${a.address}/${a.prefix}` !== d.address,
                )),
            });
          break;
        case 'neighbour': {
          const changed = (how: string, change: (e: Answers['neighbours'][0]) => void) =>
            add({
              how: `neighbour ${d.address}: ${how}`,
              what: `the neighbour entry ${d.address} → ${d.mac} on ${d.dev} is missing or changed`,
              node: (n) => change(n.neighbours!.find((e) => e.dst === d.address && e.dev === d.dev)!),
            });
          changed('another MAC', (e) => (e.mac = other(d.mac)));
          changed('another device', (e) => (e.dev = `${d.dev}x`));
          changed('another address', (e) => (e.dst = `${d.address}9`));
          break;
        }
        case 'fdb': {
          const changed = (how: string, change: (e: Answers['fdb'][0]) => void) =>
            add({
              how: `fdb ${d.mac} ${d.dst}: ${how}`,
              what: `the FDB entry ${d.mac} → ${d.dst} on ${d.dev} is missing or changed`,
              node: (n) => change(n.fdb!.find((e) => e.mac === d.mac && e.ifname === d.dev && e.dst === d.dst)!),
            });
          changed('another MAC', (e) => (e.mac = other(d.mac)));
          changed('another device', (e) => (e.ifname = `${d.dev}x`));
          changed('another destination', (e) => (e.dst = `${d.dst}9`));
          break;
        }
        case 'chain':
          add({
            how: `chain ${d.name} gone`,
            what: `the iptables ${d.table === 'nat' ? 'nat ' : ''}chain ${d.name} is missing`,
            node: (n) => void n.iptables![d.table].chains.delete(d.name),
          });
          break;
        case 'rule': {
          const key = `${d.table} ${d.chain}`;
          rulesIn.set(key, [...(rulesIn.get(key) ?? []), { step, rule: d.rule }]);
          break;
        }
        case 'sysctl':
          if (!netns) {
            add({
              how: `${d.key} changed`,
              what: `${d.key} is ${d.value}9, but the lab sets it to ${d.value}`,
              node: (n) => void (n.sysctls![d.key] = `${d.value}9`),
            });
            add({
              how: `${d.key} unset`,
              what: `${d.key} is unset, but the lab sets it to ${d.value}`,
              node: (n) => void (n.sysctls![d.key] = '-'),
            });
          }
          break;
        case 'up':
          if (netns)
            add({
              how: `${d.link} down in ${netns}`,
              what: inPod(`link ${d.link} is down`),
              pods: (p) => void (linkNamed(p.get(netns)!.links, d.link).up = false),
            });
          else if (!moved.has(d.link))
            add({
              how: `${d.link} down`,
              what: `link ${d.link} is down`,
              node: (n) => void (linkNamed(n.links, d.link).up = false),
            });
          break;
        case 'hairpin':
          add({
            how: `hairpin of ${d.port} flipped`,
            what: `hairpin is ${d.on ? 'off' : 'on'} on ${d.port}`,
            node: (n) => void (linkNamed(n.links, d.port).hairpin = !d.on),
          });
          break;
        case 'mtu':
          if (netns)
            add({
              how: `${d.link}'s MTU in ${netns}`,
              what: inPod(`${d.link}'s MTU is ${d.mtu + 1}, but the lab sets ${d.mtu}`),
              pods: (p) => void (linkNamed(p.get(netns)!.links, d.link).mtu = d.mtu + 1),
            });
          else if (!moved.has(d.link))
            add({
              how: `${d.link}'s MTU`,
              what: `${d.link}'s MTU is ${d.mtu + 1}, but the lab sets ${d.mtu}`,
              node: (n) => void (linkNamed(n.links, d.link).mtu = d.mtu + 1),
            });
          break;
        case 'jump':
          add({
            how: `jump ${d.from} → ${d.to} gone`,
            what: `the jump from ${d.from} to the lab chain ${d.to} is missing`,
            node: (n) =>
              void (n.iptables![d.table].rules = n.iptables![d.table].rules.filter(
                (r) => !(r.chain === d.from && r.target === d.to),
              )),
          });
          if (d.table === 'filter') {
            const drop = `-A ${d.from} -s 10.200.0.0/16 -j DROP`;
            const dropped = (to: string) =>
              `a rule the lab did not make drops or rejects in ${d.from} before the jump to ${to}: \`${drop}\``;
            // Right before this jump, so also before the jumps of earlier steps (each jump is inserted first).
            const earlier = jumpsFrom.get(d.from) ?? [];
            add({
              how: `a DROP before ${d.from} → ${d.to}`,
              what: dropped(d.to),
              more: earlier.map((j) => ({ step: j.step, what: dropped(j.to) })),
              node: (n) => {
                const rules = n.iptables!.filter.rules;
                const at = rules.findIndex((r) => r.chain === d.from && r.target === d.to);
                rules.splice(at, 0, {
                  chain: d.from,
                  args: ['-s', '10.200.0.0/16', '-j', 'DROP'],
                  target: 'DROP',
                  text: drop,
                });
              },
            });
            jumpsFrom.set(d.from, [...earlier, { step, to: d.to }]);
          }
          break;
        case 'master':
          if (!moved.has(d.link)) {
            add({
              how: `${d.link} taken off ${d.bridge}`,
              what: `${d.link} is not a port of ${d.bridge}`,
              node: (n) => void delete linkNamed(n.links, d.link).master,
            });
            add({
              how: `${d.link} a port of another bridge`,
              what: `${d.link} is not a port of ${d.bridge} (it is a port of br9)`,
              node: (n) => void (linkNamed(n.links, d.link).master = 'br9'),
            });
          }
          break;
      }
    }
  }
  // Two of the lab's jumps from one chain in the other order: the earlier step's stands after the later's.
  for (const [from, jumps] of jumpsFrom) {
    if (jumps.length < 2) continue;
    const [first, second] = [jumps[0]!, jumps[1]!];
    out.push({
      how: `jumps from ${from} swapped`,
      // The later step's jump is inserted last, so it stands first: swapped, it stands after the earlier's.
      step: second.step,
      what: `the jump from ${from} to ${second.to} stands after the jump to ${first.to}, but the lab puts it before`,
      node: (n) => {
        const rules = n.iptables!.filter.rules;
        const [a, b] = [rules.findIndex((r) => r.target === first.to), rules.findIndex((r) => r.target === second.to)];
        [rules[a], rules[b]] = [rules[b]!, rules[a]!];
      },
    });
  }
  // Each rule of the lab's chains: gone; one the lab did not make; two of them in the other order.
  for (const [key, declared] of rulesIn) {
    const [table, chain] = key.split(' ') as ['filter' | 'nat', string];
    const where = `the iptables ${table === 'nat' ? 'nat ' : ''}chain ${chain}`;
    const text = (rule: readonly string[]) =>
      `\`-A ${chain} ${rule.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}\``;
    const inChain = (n: Node) => n.iptables![table].rules.filter((r) => r.chain === chain);
    declared.forEach(({ step, rule }, i) =>
      out.push({
        how: `rule ${i} of ${chain} gone`,
        step,
        what: `${where} lacks the rule ${text(rule)}`,
        node: (n) => void n.iptables![table].rules.splice(n.iptables![table].rules.indexOf(inChain(n)[i]!), 1),
      }),
    );
    const extra = ['-s', '10.99.0.0/16', '-j', 'ACCEPT'];
    out.push({
      how: `a rule added to ${chain}`,
      step: declared[0]!.step,
      what: `${where} has a rule the lab did not make: ${text(extra)}`,
      node: (n) => void n.iptables![table].rules.push({ chain, args: extra, target: 'ACCEPT', text: '' }),
    });
    const distinct = declared.findIndex((d) => d.rule.join(' ') !== declared[0]!.rule.join(' '));
    if (distinct > 0)
      out.push({
        how: `rules of ${chain} out of order`,
        step: declared[0]!.step,
        what: `the rules of ${where} are not in the order the lab made them`,
        node: (n) => {
          const rules = n.iptables![table].rules;
          const [a, b] = [rules.indexOf(inChain(n)[0]!), rules.indexOf(inChain(n)[distinct]!)];
          [rules[a], rules[b]] = [rules[b]!, rules[a]!];
        },
      });
  }
  return out;
}

// The scale lab's 750 pods declare nothing vxlan-3's do not: left out, the test takes a second, not fifteen.
const labs = readdirSync(LABS).filter((f) => f.endsWith('.yaml') && f !== 'scale.yaml');

test('drift, every declaration of every bundled lab (but scale): none on a node as the plan made it; each broken alone is one finding on its step, in its words', () => {
  let broken = 0;
  for (const file of labs) {
    const { model } = loadLabFile(join(LABS, file));
    for (const { node, steps } of buildPlan(model, simulatedFacts(model)).nodes) {
      const healthy = asMade(steps);
      assert.deepEqual(findingsOf(steps, healthy.node, new Set(), healthy.pods), [], `${file} ${node} as made`);
      for (const b of breakages(steps)) {
        const made = asMade(steps);
        b.node?.(made.node);
        b.pods?.(made.pods);
        const found = findingsOf(steps, made.node, new Set(b.gone ? [b.gone] : []), made.pods);
        const expected = [
          { step: b.step.id, what: b.what, ...(b.route ? { route: b.route } : {}) },
          ...(b.more ?? []).map((m) => ({ step: m.step.id, what: m.what })),
        ].sort((x, y) => x.step - y.step);
        assert.deepEqual(
          found.map((f) => ({ step: f.step.id, what: f.what, ...(f.route ? { route: f.route } : {}) })),
          expected,
          `${file} ${node}: ${b.how}`,
        );
        broken++;
      }
    }
  }
  assert.ok(broken >= 1000, `${broken} breakages (1,079 when written)`);
});

test('drift: findings come in the order of their steps; an address on a link that is gone, and a pod not asked, say nothing more', () => {
  const { model } = loadLabFile(join(LABS, 'bridge.yaml'));
  const steps = buildPlan(model, simulatedFacts(model)).nodes[0]!.steps;
  const made = asMade(steps);
  // Everything of the node gone at once: each finding once, sorted by step.
  const empty: Node = { links: [], routes: [], namespaces: [], addresses: [], sysctls: {}, iptables: tables([]) };
  const ids = findingsOf(steps, empty, new Set()).map((f) => f.step.id);
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
  );
  assert.ok(ids.length > 5);
  // The bridge gone: its address is not reported as well.
  const bridge = steps.flatMap((s) => s.creates).find((c) => c.kind === 'address' && !c.netns)! as { dev: string };
  made.node.links = made.node.links!.filter((l) => l.ifname !== bridge.dev);
  assert.deepEqual(
    findingsOf(steps, made.node, new Set(), made.pods).map((f) => f.what),
    [`link ${bridge.dev} is missing`],
  );
  // A node whose addresses were not asked (undefined): nothing said of them.
  assert.deepEqual(findingsOf(steps, { ...asMade(steps).node, addresses: undefined }, new Set(), made.pods), []);
  // Pods not asked (beyond the limit): nothing said of what is in them.
  assert.deepEqual(findingsOf(steps, asMade(steps).node, new Set()), []);
});

test('drift: what to ask a node, from the steps: addresses, neighbours, FDB, sysctls and iptables only where the lab has them', () => {
  const plan = (lab: string) => {
    const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
    return buildPlan(model, simulatedFacts(model)).nodes[0]!.steps;
  };
  assert.deepEqual(questionsFor(plan('loopback')), {
    links: true,
    addresses: false,
    routes: true,
    namespaces: true,
    neighbours: false,
    fdb: false,
    sysctls: [],
    iptables: false,
  });
  assert.deepEqual(questionsFor(plan('flannel')), {
    links: true,
    addresses: true,
    routes: true,
    namespaces: true,
    neighbours: true,
    fdb: true,
    sysctls: ['net.ipv4.ip_forward'],
    iptables: true,
  });
  // A jump alone asks for iptables; a pod's address does not ask for the node's addresses.
  const step = (creates: Created[], sets: Change[]): Step => stepOf(1, creates, sets);
  assert.equal(
    questionsFor([step([], [{ kind: 'jump', table: 'nat', from: 'OUTPUT', to: 'X', rule: ['-j', 'X'], first: false }])])
      .iptables,
    true,
  );
  assert.equal(questionsFor([step([{ kind: 'rule', table: 'nat', chain: 'X', rule: [] }], [])]).iptables, true);
  assert.equal(
    questionsFor([step([{ kind: 'address', address: '10.0.0.1/24', dev: 'e', netns: 'p' }], [])]).addresses,
    false,
  );
  assert.equal(questionsFor([step([{ kind: 'address', address: '10.0.0.1/24', dev: 'e' }], [])]).addresses, true);
  assert.equal(questionsFor([step([{ kind: 'chain', table: 'filter', name: 'X' }], [])]).iptables, true);
  // Any one of them among other declarations is enough.
  const link: Created = { kind: 'link', name: 'x' };
  const sysctl: Change = { kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' };
  assert.equal(questionsFor([step([link, { kind: 'chain', table: 'filter', name: 'X' }], [])]).iptables, true);
  assert.equal(
    questionsFor([
      step([link], [sysctl, { kind: 'jump', table: 'nat', from: 'OUTPUT', to: 'X', rule: ['-j', 'X'], first: false }]),
    ]).iptables,
    true,
  );
  assert.equal(questionsFor([step([link], [sysctl])]).iptables, false);
});

test('drift: what the findings say to a person, and the caveat of a route a cached redirect may hide', () => {
  assert.deepEqual(describeFindings([]), [
    'diagnosis: every node still has what the plan made (sysctls, links, routes, hairpin, static neighbour and FDB entries, iptables chains and jumps); look at the pods and the path (netlab exec)',
  ]);
  const findings = [
    { node: 'node-0', step: 3, what: 'link br0\nis missing\u001b[2J', summary: 'create the bridge br0' },
    { node: 'node-1', step: 7, what: 'route 10.200.0.0/24 is missing', summary: 'route', route: '10.200.0.0/24' },
  ];
  assert.deepEqual(describeFindings(findings), [
    'diagnosis:',
    '  node-0: link br0\\nis missing\\u001b[2J (step 3: create the bridge br0)',
    '  node-1: route 10.200.0.0/24 is missing (step 7: route)',
  ]);
  assert.deepEqual(cachedRedirectCaveat([findings[0]!]), []);
  assert.deepEqual(cachedRedirectCaveat([...findings, { ...findings[1]!, node: 'node-2' }]), [
    '  a check may pass now through a cached ICMP redirect and fail when the cache expires (about 5 minutes), because node-1 has no route to 10.200.0.0/24, node-2 has no route to 10.200.0.0/24; `netlab trace` says when a path works only through the cache',
  ]);
});

test("drift: one node's questions and its findings from the answers: the pause processes gone, each pod asked inside while its namespace is there, at most 100 pods", () => {
  const stepsOf = (lab: string, node = 0) => {
    const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
    return buildPlan(model, simulatedFacts(model)).nodes[node]!.steps;
  };
  const steps = stepsOf('bridge');
  const { asks, head, asked } = nodeDriftQuestions('bridge', steps);
  assert.deepEqual(asked, ['a0', 'a1']);
  assert.deepEqual(asks, [
    questionsFor(steps),
    { netns: 'a0', links: true, routes: true },
    { netns: 'a1', links: true, routes: true },
  ]);
  assert.equal(head.length, 2);
  assert.match(
    head[1]!,
    /^for pod in a0 a1; do netlab_pause_pid "\$pod" >\/dev\/null 2>&1 \|\| echo "@@netlab pause-gone \$pod"; done$/,
  );
  // No pods, no pause question; over 100 pods on a node (the scale lab's 250), none asked inside.
  assert.deepEqual(
    nodeDriftQuestions(
      'x',
      steps.filter((s) => !s.creates.some((c) => c.kind === 'pause')),
    ).head,
    [],
  );
  const scale = nodeDriftQuestions('scale', stepsOf('scale'));
  assert.deepEqual([scale.asked, scale.asks.length], [[], 1]);
  assert.equal(
    nodeDriftQuestions(
      'x',
      steps.concat(
        Array.from({ length: 98 }, (_, i) => ({ ...steps[0]!, creates: [{ kind: 'netns' as const, name: `p${i}` }] })),
      ),
    ).asked.length,
    100,
  );

  const { node, pods } = asMade(steps);
  const answers = [node, pods.get('a0')!, pods.get('a1')!];
  assert.deepEqual(nodeDriftFindings('node-0', steps, asked, 'noise\n', answers), []);
  // a0's pause gone and a1's namespace gone (what is inside it is not asked then); a1's default route gone is not said.
  const lost = { ...node, namespaces: ['a0'] };
  const a1 = { ...pods.get('a1')!, routes: [] };
  const pause = steps.find((s) => s.creates.some((c) => c.kind === 'pause' && c.pod === 'a0'))!;
  const netns = steps.find((s) => s.creates.some((c) => c.kind === 'netns' && c.name === 'a1'))!;
  assert.deepEqual(
    nodeDriftFindings('node-0', steps, asked, 'x\n@@netlab pause-gone a0\n', [lost, pods.get('a0')!, a1]),
    [
      { node: 'node-0', step: netns.id, what: 'the network namespace of pod a1 is missing', summary: netns.summary },
      { node: 'node-0', step: pause.id, what: 'the pause process of pod a0 is gone', summary: pause.summary },
    ].sort((a, b) => a.step - b.step),
  );
  // The same answers with a1 there: its missing route is found, in the pod.
  const inA1 = nodeDriftFindings('node-0', steps, asked, '', [node, pods.get('a0')!, a1]);
  assert.deepEqual(
    inA1.map((f) => f.what),
    ['in pod namespace a1: route default is missing'],
  );
});

/** A step of hand-written declarations (the bundled labs have none of some shapes these tests need). */
function stepOf(id: number, creates: Created[], sets: Change[] = []): Step {
  return {
    id,
    node: 'n',
    phase: 'network',
    summary: `step ${id}`,
    why: '',
    effects: [],
    apply: [],
    undo: [],
    creates,
    sets,
  };
}

test('drift, declarations of shapes no bundled lab has: a netns key left undefined is the node, a pod link made in the pod, hairpin off, a rule with a spaced word, jumps from two chains', () => {
  const what = (steps: Step[], node: Node, pods = new Map<string, Node>()) =>
    findingsOf(steps, node, new Set(), pods).map((f) => `${f.step.id} ${f.what}`);
  // `netns: undefined` is the node's own, as if the key were absent.
  const route = stepOf(1, [{ kind: 'route', dst: '10.9.0.0/16', dev: 'eth1', netns: undefined }]);
  const up = stepOf(2, [], [{ kind: 'up', link: 'eth9', netns: undefined }]);
  assert.deepEqual(what([route, up], { routes: [], links: [{ ifindex: 2, ifname: 'eth9', up: false }] }), [
    '1 route 10.9.0.0/16 is missing',
    '2 link eth9 is down',
  ]);
  // What a pod's steps declare is never compared with the node's object of the same name.
  const podLo = stepOf(3, [], [{ kind: 'up', link: 'lo', netns: 'a0' }]);
  assert.deepEqual(what([podLo], { links: [{ ifindex: 1, ifname: 'lo', up: false }] }), []);
  // A link made in the pod itself; a pod that answered without its links says they are missing.
  const podLink = stepOf(4, [{ kind: 'link', name: 'eth9', netns: 'a0' }]);
  assert.deepEqual(what([podLink], {}, new Map([['a0', { links: [], routes: [] }]])), [
    '4 in pod namespace a0: link eth9 is missing',
  ]);
  assert.deepEqual(what([podLink], {}, new Map([['a0', { routes: [] }]])), [
    '4 in pod namespace a0: link eth9 is missing',
  ]);
  // Hairpin the lab turns off, found on.
  const hairpinOff = stepOf(5, [], [{ kind: 'hairpin', port: 'veth-a0', on: false }]);
  assert.deepEqual(what([hairpinOff], { links: [{ ifindex: 3, ifname: 'veth-a0', up: true, hairpin: true }] }), [
    '5 hairpin is on on veth-a0',
  ]);
  // A rule whose word has a space is shown quoted, as iptables-save writes it.
  const chain = stepOf(6, [
    { kind: 'chain', table: 'filter', name: 'X' },
    { kind: 'rule', table: 'filter', chain: 'X', rule: ['-m', 'comment', '--comment', 'netlab x', '-j', 'ACCEPT'] },
  ]);
  const withChain = {
    iptables: { filter: { chains: new Map([['X', '-']]), rules: [], lines: [] }, nat: tables([]).nat },
  };
  assert.deepEqual(what([chain], withChain), [
    '6 the iptables chain X lacks the rule `-A X -m comment --comment "netlab x" -j ACCEPT`',
  ]);
  // Jumps from two chains: FORWARD's two out of order are found; INPUT's one is no reason to look away.
  const jump = (id: number, from: string, to: string) =>
    stepOf(id, [], [{ kind: 'jump', table: 'filter', from, to, rule: ['-j', to], first: true }]);
  const jumps = [jump(7, 'FORWARD', 'A'), jump(8, 'FORWARD', 'B'), jump(9, 'INPUT', 'C')];
  const rule = (chain: string, to: string): SavedRule => ({
    chain,
    args: ['-j', to],
    target: to,
    text: `-A ${chain} -j ${to}`,
  });
  const live = (rules: SavedRule[]) => ({
    iptables: { filter: { chains: new Map(), rules, lines: [] }, nat: tables([]).nat },
  });
  assert.deepEqual(what(jumps, live([rule('INPUT', 'C'), rule('FORWARD', 'B'), rule('FORWARD', 'A')])), []);
  assert.deepEqual(what(jumps, live([rule('INPUT', 'C'), rule('FORWARD', 'A'), rule('FORWARD', 'B')])), [
    '8 the jump from FORWARD to B stands after the jump to A, but the lab puts it before',
  ]);
});

test("drift: a nat jump is not judged by the filter table's rules of a chain of the same name; findings in step order across kinds", () => {
  const { model } = loadLabFile(join(LABS, 'service.yaml'));
  const steps = buildPlan(model, simulatedFacts(model)).nodes[0]!.steps;
  const made = asMade(steps);
  // The machine's own DROP in filter OUTPUT: the lab's jump from nat OUTPUT is another table's.
  made.node.iptables!.filter.rules.unshift({
    chain: 'OUTPUT',
    args: ['-j', 'DROP'],
    target: 'DROP',
    text: '-A OUTPUT -j DROP',
  });
  assert.deepEqual(findingsOf(steps, made.node, new Set(), made.pods), []);
  // A pod's link (an early step) and a node's route (a later one) both gone: reported by step, not by where they were looked for.
  const fresh = asMade(steps);
  const pod = [...fresh.pods.keys()][0]!;
  const moved = steps.find((s) => s.sets.some((c) => c.kind === 'moved' && c.netns === pod))!;
  const movedLink = moved.sets.find((c) => c.kind === 'moved')! as { link: string };
  const routeStep = steps.find((s) => s.id > moved.id && s.creates.some((c) => c.kind === 'route' && !c.netns))!;
  const dst = (routeStep.creates.find((c) => c.kind === 'route' && !c.netns)! as { dst: string }).dst;
  fresh.pods.get(pod)!.links = fresh.pods.get(pod)!.links!.filter((l) => l.ifname !== movedLink.link);
  fresh.node.routes = fresh.node.routes!.filter((r) => r.dst !== dst);
  const ids = findingsOf(steps, fresh.node, new Set(), fresh.pods).map((f) => f.step.id);
  assert.deepEqual(ids, [moved.id, routeStep.id]);
});

test('drift: a pause-gone marker counts only as a line of its own, and a missing route out of a pod bridge keeps its destination', () => {
  const { model } = loadLabFile(join(LABS, 'bridge.yaml'));
  const steps = buildPlan(model, simulatedFacts(model)).nodes[0]!.steps;
  const { asked } = nodeDriftQuestions('bridge', steps);
  const { node, pods } = asMade(steps);
  const answers = [node, pods.get('a0')!, pods.get('a1')!];
  const head = 'echo @@netlab pause-gone a0\n@@netlab pause-gone a1 and more\n';
  assert.deepEqual(nodeDriftFindings('node-0', steps, asked, head, answers), []);
  // The vxlan lab's route of the cluster CIDR into br0, gone: its finding names the route (a cached redirect may hide it).
  const vx = buildPlan(
    loadLabFile(join(LABS, 'vxlan.yaml')).model,
    simulatedFacts(loadLabFile(join(LABS, 'vxlan.yaml')).model),
  ).nodes[0]!.steps;
  const through = vx.find((s) => s.creates.some((c) => c.kind === 'route' && !c.netns && c.dev === 'br0'))!;
  const dst = (through.creates.find((c) => c.kind === 'route')! as { dst: string }).dst;
  const made = asMade(vx);
  const q = nodeDriftQuestions('vxlan', vx);
  const lost = { ...made.node, routes: made.node.routes!.filter((r) => r.dst !== dst) };
  assert.deepEqual(
    nodeDriftFindings('node-0', vx, q.asked, '', [lost, ...q.asked.map((n) => made.pods.get(n)!)]).map((f) => [
      f.step,
      f.route,
    ]),
    [[through.id, dst]],
  );
});

test('a node whose answer is cut short (a lost connection, a shell that died) is not diagnosed from what came back: it is named as not answering', async () => {
  const { diagnose } = await import('../../src/verify/diagnose.js');
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const facts = simulatedFacts(model);
  // Pure logic: what a transport gives back when the node stops answering, written here.
  const said = {
    'node-0': {
      stdout: '@@netlab answer links\n[]\n',
      stderr: 'Connection to node-0 closed by remote host.',
      exitCode: 255,
    },
    'node-1': { stdout: '', stderr: '', exitCode: 137 },
  };
  const transports = Object.fromEntries(
    Object.entries(said).map(([node, result]) => [node, { node, run: async () => result }]),
  ) as unknown as Parameters<typeof diagnose>[2];
  const diagnosis = await diagnose(model, facts, transports);
  assert.deepEqual(diagnosis, {
    findings: [],
    unanswered: ['node-0: Connection to node-0 closed by remote host.', 'node-1: exit 137'],
  });
  assert.deepEqual(describeFindings(diagnosis.findings, diagnosis.unanswered), [
    'diagnosis:',
    '  node-0: Connection to node-0 closed by remote host. (did not answer: what it has is not known)',
    '  node-1: exit 137 (did not answer: what it has is not known)',
  ]);
});
