// What `up --step` and `challenge reveal` say changed: the node's tables and,
// in the same one script per node, those of the pods a step names (links,
// addresses, routes, static neighbours, the IPv6 sysctls and processes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeChanges, podsActedIn, snapshotNode } from '../../src/workshop/changes.js';
import { step } from '../../src/model/effects.js';
import type { Effect } from '../../src/model/plan.js';

/** A node whose tables are `tables(index, section)`: answers the sections a script asks for, counting the scripts. */
function fakeNode(tables: (index: number, section: string) => string) {
  const scripts: string[] = [];
  return {
    scripts,
    run(script: string) {
      scripts.push(script);
      // A section that names several answers (one `ip -batch`) has one line for each.
      const stdout = [...script.matchAll(/^echo "(@@netlab answer (\d+) ([\w,]+))"$/gm)]
        .map(
          (m) =>
            `${m[1]}\n${m[3]!
              .split(',')
              .map((section) => tables(Number(m[2]), section))
              .join('\n')}\n`,
        )
        .join('');
      return Promise.resolve({ stdout, stderr: '', exitCode: 0 });
    },
  };
}

const json = (value: unknown) => JSON.stringify(value);

/** Pod a0 before `ip -n a0 link set lo up` and the default route, and after. */
function pod(state: 'before' | 'after') {
  return (index: number, section: string): string => {
    if (index === 0) return section === 'links' ? json([{ ifname: 'eth1', flags: ['UP'] }]) : '';
    const up = state === 'after';
    switch (section) {
      case 'links':
        return json([
          { ifname: 'lo', flags: up ? ['LOOPBACK', 'UP'] : ['LOOPBACK'] },
          { ifname: 'veth-a0-c', flags: ['UP'] },
        ]);
      case 'addresses':
        return json([{ ifname: 'veth-a0-c', addr_info: [{ family: 'inet', local: '10.200.0.2', prefixlen: 24 }] }]);
      case 'routes':
        return json([
          ...(up ? [{ dst: 'default', gateway: '10.200.0.1', dev: 'veth-a0-c' }] : []),
          { dst: '10.200.0.0/24', dev: 'veth-a0-c' },
        ]);
      case 'sysctls':
        return `net.ipv6.conf.all.disable_ipv6=${up ? 1 : 0}\nnet.ipv6.conf.default.disable_ipv6=${up ? 1 : 0}`;
      case 'processes':
        return up ? '4242 unshare\n4243 sleep' : '';
      default:
        return '';
    }
  };
}

test('the pods a step names are read in the one script that reads the node, and their changes are named by pod', async () => {
  const before = fakeNode(pod('before'));
  const after = fakeNode(pod('after'));
  const changes = describeChanges(await snapshotNode(before, ['a0']), await snapshotNode(after, ['a0']));
  assert.equal(before.scripts.length, 1, 'one script per node');
  const script = before.scripts[0]!;
  assert.match(
    script,
    /^printf '%s\\n' 'link show' 'addr show' 'route show table main' 'neigh show' \| ip -n a0 -j -d -batch - /m,
    "the pod's links, addresses, routes and neighbours: one ip -batch",
  );
  assert.match(script, /^nsenter --net=\/run\/netns\/a0 sh -c /m, "the pod's own sysctls, read inside it");
  assert.match(script, /^for p in \$\(ip netns pids a0\)/m);
  assert.deepEqual(changes, [
    'a0: link lo DOWN → UP',
    'a0: + route default via 10.200.0.1 dev veth-a0-c',
    'a0: sysctl net.ipv6.conf.all.disable_ipv6 0 → 1',
    'a0: sysctl net.ipv6.conf.default.disable_ipv6 0 → 1',
    'a0: + process unshare (pid 4242)',
    'a0: + process sleep (pid 4243)',
  ]);
});

test('a node line that changed is one line; one that came or went stays + or -', () => {
  const snap = (lines: Record<string, string[]>) => new Map(Object.entries(lines));
  assert.deepEqual(
    describeChanges(
      snap({ link: ['br0 DOWN', 'veth-a0-c DOWN'], sysctl: ['net.ipv4.ip_forward = 0'] }),
      snap({ link: ['br0 UP', 'veth-a0 DOWN'], sysctl: ['net.ipv4.ip_forward = 1'] }),
    ),
    ['link br0 DOWN → UP', '+ link veth-a0 DOWN', '- link veth-a0-c DOWN', 'sysctl net.ipv4.ip_forward 0 → 1'],
  );
});

test('a step reads only the pods it acts in: one of the scale lab’s 750 pods, not all of them', () => {
  const pods = Array.from({ length: 750 }, (_, i) => `p${i}`);
  const acted = (...effects: Effect[]) =>
    podsActedIn([{ ...step('a step', 'for the test', effects), id: 1, node: 'node-0', phase: 'pods' }], pods);
  assert.deepEqual(acted({ kind: 'up', link: 'lo', netns: 'p7' }), ['p7']);
  assert.deepEqual(acted({ kind: 'pause', netns: 'p70', mount: false }), ['p70']);
  assert.deepEqual(acted({ kind: 'bridge', name: 'br0', mac: '0a:58:0a:c8:00:01' }), []);
});
