// The routing of a routed underlay (src/underlay/routing.ts) on topologies written
// by hand: the first router on a shortest path, a router that never sends to
// itself, the best of a router's networks, networks nobody reaches, and the
// small readers (which network a node is on, which router has an address).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model, ModelNode, ModelRouter } from '../../src/model/lab.js';
import {
  describeRouter,
  gatewayTowards,
  networkOf,
  routerPodRoutes,
  routerWithAddress,
  underlayRoutes,
} from '../../src/underlay/routing.js';

const router = (name: string, networks: string[], podRoutes = false): ModelRouter => ({
  name,
  networks,
  addresses: Object.fromEntries(networks.map((n) => [n, `${name}@${n}`])),
  podRoutes,
});
const networks = ['A', 'B', 'C', 'D', 'E'].map((name) => ({ name, cidr: `cidr-${name}` }));
/** A - r1 - B - r2 - C - r3 - D, and E, which no router joins. */
const chain = [router('r1', ['A', 'B']), router('r2', ['B', 'C']), router('r3', ['C', 'D'])];
const model = (routers: ModelRouter[]): Pick<Model, 'underlay'> => ({ underlay: { networks, routers } });

test('the first router on a shortest path: from A to D through r1; none from a network to itself or to one nobody joins', () => {
  assert.deepEqual(gatewayTowards(chain, 'A', 'D'), { router: 'r1', address: 'r1@A', hops: 3 });
  assert.deepEqual(gatewayTowards(chain, 'C', 'A'), { router: 'r2', address: 'r2@C', hops: 2 });
  assert.equal(gatewayTowards(chain, 'A', 'A'), undefined);
  assert.equal(gatewayTowards(chain, 'A', 'E'), undefined);
  assert.equal(gatewayTowards(chain, 'E', 'A'), undefined);
});

test('a router on the way must be on the network the packet is on; a router asking never gets itself', () => {
  // rx joins B and C, listed first, but the packet is on A: only r1 is there.
  const routers = [router('rx', ['B', 'C']), router('r1', ['A', 'B']), router('r1b', ['A', 'B'])];
  assert.equal(gatewayTowards(routers, 'A', 'B')!.router, 'r1');
  assert.equal(gatewayTowards(routers, 'A', 'B', 'r1')!.router, 'r1b', 'r1 asking: the other one');
  assert.equal(gatewayTowards([router('r1', ['A', 'B'])], 'A', 'B', 'r1'), undefined, 'no other: none');
});

test("a host's routes: none to its own networks, the nearest of its networks' gateways to each other one, none to one nobody reaches", () => {
  assert.deepEqual(underlayRoutes({}, ['A']), [], 'a flat underlay has no routes');
  // A router on A and B with a twin: its own networks are never routed through the twin.
  const twins = [router('r1', ['A', 'B']), router('r1b', ['A', 'B'])];
  assert.deepEqual(underlayRoutes(model(twins), ['A', 'B'], 'r1'), []);
  // rz on A and D, in the chain: C is one router away from D (r3) and two from A (r1, r2): through r3.
  const withZ = [...chain, router('rz', ['A', 'D', 'E'])];
  assert.deepEqual(underlayRoutes(model(withZ), ['A', 'D', 'E'], 'rz'), [
    { dst: 'cidr-B', via: 'r1@A', router: 'r1' },
    { dst: 'cidr-C', via: 'r3@D', router: 'r3' },
  ]);
  // A node on A: every network but A and E (which it cannot reach).
  assert.deepEqual(
    underlayRoutes(model(chain), ['A']).map((r) => `${r.dst} via ${r.via}`),
    ['cidr-B via r1@A', 'cidr-C via r1@A', 'cidr-D via r1@A'],
  );
});

test('which network a node is on (none on a flat underlay, none for a node the lab has not), which router has an address, how a router is said', () => {
  const node = (name: string, network: string) =>
    ({ name, podSubnet: `pods-${name}`, underlay: { network } }) as unknown as ModelNode;
  const nodes = [node('n0', 'A'), node('n1', 'D')];
  const routed = { nodes, ...model(chain) };
  assert.equal(networkOf(routed, 'n1'), 'D');
  assert.equal(networkOf(routed, 'nobody'), undefined);
  assert.equal(networkOf({ nodes }, 'n1'), undefined, 'flat: one segment, no network');
  assert.equal(routerWithAddress(routed, 'r2@C')?.name, 'r2');
  assert.equal(routerWithAddress(routed, '10.0.0.1'), undefined);
  assert.equal(routerWithAddress({}, 'r2@C'), undefined);
  assert.equal(describeRouter(chain[0]!), 'router r1: r1@A on A, r1@B on B, no pod subnet known');
  const knowing = router('r2', ['B', 'C'], true);
  assert.equal(describeRouter(knowing), 'router r2: r2@B on B, r2@C on C, with a route to every pod subnet');
  // Pod routes: a node on one of its networks directly, one further away through the next router.
  const withKnowing = { nodes, underlay: { networks, routers: [chain[0]!, knowing, chain[2]!] } };
  assert.deepEqual(
    routerPodRoutes(withKnowing, knowing, (n) => `addr-${n}`),
    [
      { dst: 'pods-n0', via: 'r1@B' },
      { dst: 'pods-n1', via: 'r3@C' },
    ],
  );
  assert.deepEqual(
    routerPodRoutes(withKnowing, chain[0]!, (n) => n),
    [],
    'without pod-routes: none',
  );
});
