// The ownership check of preflight: the node's inventory (one listing per kind
// of object, as node/query.ts asks for it) against what the plan's steps
// declare they create.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { savedTables } from './saved-tables.js';
import {
  describeProblems,
  findConflicts,
  inventoryOf,
  missingOf,
  preflightScript,
  requirements,
} from '../../src/exec/preflight.js';
import {
  FORGET_ON_NODE,
  kernelSeen,
  nodeMemoryOf,
  READ_NODE_MEMORY,
  rememberKernel,
  rememberOnNodeScript,
} from '../../src/exec/kernel-seen.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { scratch } from '../scratch.js';
import { type Answers, parseAnswers } from '../../src/node/query.js';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import type { Step } from '../../src/model/plan.js';
import { step } from '../../src/model/effects.js';
import { LABS } from '../paths.js';
import { join } from 'node:path';

function stepsOf(lab: string, node = 'node-0'): Step[] {
  const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
  return buildPlan(model, simulatedFacts(model)).nodes.find((n) => n.node === node)!.steps;
}

interface Have {
  links?: string[];
  netns?: string[];
  addresses?: string[];
  /** `ip -j route` entries */
  routes?: { dst: string; type?: string }[];
  chains?: { filter?: string[]; nat?: string[] };
}

/** A fresh node: loopback, its underlay, a default route and the built-in chains. */
const FRESH: Have = {
  links: ['lo', 'eth1'],
  addresses: ['127.0.0.1', '192.168.64.4'],
  routes: [{ dst: 'default' }, { dst: '192.168.64.0/24' }],
  chains: { filter: ['INPUT', 'FORWARD'], nat: ['PREROUTING'] },
};

const more = (a: Have, b: Have): Have => ({
  links: [...(a.links ?? []), ...(b.links ?? [])],
  netns: [...(a.netns ?? []), ...(b.netns ?? [])],
  addresses: [...(a.addresses ?? []), ...(b.addresses ?? [])],
  routes: [...(a.routes ?? []), ...(b.routes ?? [])],
  chains: {
    filter: [...(a.chains?.filter ?? []), ...(b.chains?.filter ?? [])],
    nat: [...(a.chains?.nat ?? []), ...(b.chains?.nat ?? [])],
  },
});

/** What the node answers, as node/query.ts parses it. */
function answersOf(have: Have): Partial<Answers> {
  return {
    links: (have.links ?? []).map((ifname, i) => ({ ifindex: i + 1, ifname, up: true })),
    namespaces: have.netns ?? [],
    addresses: (have.addresses ?? []).map((address) => ({ ifname: 'eth1', address, prefix: 24 })),
    routes: have.routes ?? [],
    iptables: savedTables(
      (have.chains?.filter ?? []).map((c) => `:${c} ACCEPT [0:0]`),
      (have.chains?.nat ?? []).map((c) => `:${c} ACCEPT [0:0]`),
    ),
    runs: new Map(),
  };
}

const inventory = (have: Have) => inventoryOf(answersOf(have));

/** The preflight script's output: its own lines first, then the answers in node/query.ts's sections. */
function printed(have: Have, head = '', runs = ''): string {
  const section = (name: string, text: string) => `@@netlab answer 0 ${name}\n${text}\n`;
  const a = answersOf(have);
  return (
    head +
    section('links', JSON.stringify(a.links!.map((l) => ({ ifindex: l.ifindex, ifname: l.ifname, flags: ['UP'] })))) +
    section('namespaces', a.namespaces!.join('\n')) +
    section(
      'addresses',
      JSON.stringify([
        { ifname: 'eth1', addr_info: a.addresses!.map((x) => ({ family: 'inet', local: x.address, prefixlen: 24 })) },
      ]),
    ) +
    section('routes', JSON.stringify(a.routes)) +
    section('iptables', `*filter\n${a.iptables!.filter.lines.join('\n')}\n*nat\n${a.iptables!.nat.lines.join('\n')}`) +
    section('runs', runs)
  );
}

test('preflight: a fresh node has nothing any lab would create', () => {
  for (const lab of ['bridge', 'vxlan', 'routes', 'ipip', 'service', 'nodeport', 'flannel', 'scale']) {
    assert.deepEqual(findConflicts(stepsOf(lab), inventory(FRESH)), [], lab);
  }
});

test('preflight: each kind of object the plan would create is found when it is already there, naming the step', () => {
  const steps = stepsOf('service');
  const stepOf = (pattern: RegExp) => steps.find((s) => s.apply.some((c) => pattern.test(c.join(' '))))!.id;
  const have = inventory(
    more(FRESH, {
      links: ['br0', 'veth-a0-c'], // the node's bridge; the pod end of a veth pair (the peer name)
      netns: ['a0'],
      addresses: ['10.200.0.1'],
      // a route to another node's pods, made by hand
      routes: [{ dst: '10.200.1.0/24' }],
      chains: { filter: ['NETLAB-FWD-service'], nat: ['NL-SERVICES-service'] },
    }),
  );
  const found = findConflicts(steps, have);
  const expect = [
    { step: stepOf(/^ip netns add a0$/), what: 'a network namespace named a0' },
    { step: stepOf(/^ip link add name br0 /), what: 'a link named br0' },
    { step: stepOf(/^ip addr add 10\.200\.0\.1\//), what: 'the address 10.200.0.1' },
    { step: stepOf(/^ip link add veth-a0 type veth peer name veth-a0-c/), what: 'a link named veth-a0-c' },
    { step: stepOf(/^ip route add 10\.200\.1\.0\/24 /), what: 'a route to 10.200.1.0/24' },
    { step: stepOf(/^iptables -w -N NETLAB-FWD-service$/), what: 'an iptables chain NETLAB-FWD-service' },
    { step: stepOf(/^netlab_restore /), what: 'an iptables nat chain NL-SERVICES-service' },
  ];
  assert.equal(found.length, expect.length, JSON.stringify(found));
  for (const e of expect)
    assert.ok(
      found.some((f) => f.step === e.step && f.what === e.what),
      `${JSON.stringify(e)} in ${JSON.stringify(found)}`,
    );
  // A chain of that name in the other table is no clash.
  assert.deepEqual(findConflicts(steps, inventory(more(FRESH, { chains: { nat: ['NETLAB-FWD-service'] } }))), []);
});

test('preflight: a node whose answer lists no link (not even lo) is refused, not taken for an empty node', () => {
  const { model } = loadLabFile(join(LABS, 'routes.yaml'));
  assert.deepEqual(describeProblems(model, 'node-0', stepsOf('routes'), printed({ links: [] })), [
    'node-0 listed no network interface, not even lo, to the preflight: netlab cannot tell what is there already, so it changes nothing (it needs `ip -json`: iproute2 4.13 or newer)',
  ]);
  assert.deepEqual(describeProblems(model, 'node-0', stepsOf('routes'), printed(FRESH, '@@netlab probed\n')), []);
});

test("preflight: the lab up on a node already: another controller's is taken down there; this state directory's, whose record here is lost, by its run", () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const problems = (from: string) =>
    describeProblems(model, 'node-0', stepsOf('vxlan'), printed(FRESH, '', `vxlan a1b2c3d4e5f6 ${from}\n`), {
      here: 'me:/var/lib/netlab',
    });
  assert.deepEqual(problems('other:/var/lib/netlab'), [
    'lab vxlan is already up on node-0, run a1b2c3d4e5f6 from other:/var/lib/netlab; take it down there (`netlab down vxlan`), or see `netlab status`',
  ]);
  assert.deepEqual(problems('me:/var/lib/netlab'), [
    "lab vxlan is already up on node-0, run a1b2c3d4e5f6 from this state directory, which has lost its record of it: `netlab down vxlan --run a1b2c3d4e5f6` with this command's --ssh-config, --inventory or --vagrant flag takes it down",
  ]);
});

test("preflight: a simulated node this up started is asked no inventory (its namespaces are new) and judged without one; its tools and pods' rootfs are still checked", () => {
  const { model } = loadLabFile(join(LABS, 'service.yaml'));
  const steps = stepsOf('service');
  const fresh = preflightScript(model, 'node-0', steps, {}, { freshNode: true });
  const machine = preflightScript(model, 'node-0', steps);
  for (const asked of ['ip -j -d -batch', 'iptables-save', '/run/netns/', '/run/netlab/'])
    assert.ok(machine.includes(asked) && !fresh.includes(asked), asked);
  assert.ok(fresh.includes('command -v iptables'), 'the tools are checked');
  // No answer is no problem there; a machine's empty answer is (the test above).
  assert.deepEqual(describeProblems(model, 'node-0', steps, '@@netlab probed\n', { freshNode: true }), []);
  assert.deepEqual(
    describeProblems(model, 'node-0', steps, '@@netlab missing-tool socat socat\n@@netlab probed\n', {
      freshNode: true,
    }),
    ['lab service needs the command "socat" on node-0: install the package socat (apt-get install socat)'],
  );
});

test('preflight: iptables-save is read only for the tables the plan makes chains in (a process each)', () => {
  const tablesRead = (lab: string) => {
    const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
    const script = preflightScript(model, 'node-0', stepsOf(lab));
    return /for t in ([a-z ]+); do iptables-save/.exec(script)?.[1];
  };
  assert.equal(tablesRead('vxlan'), 'filter');
  assert.equal(tablesRead('service'), 'filter nat');
  assert.equal(tablesRead('veth'), undefined, 'a lab without chains reads none');
  // The table it was asked for is read; the other is empty.
  const { answers } = parseAnswers('@@netlab answer 0 iptables\n*filter\n:NETLAB-FWD-vxlan - [0:0]\nCOMMIT\n', [
    { iptables: ['filter'] },
  ]);
  assert.deepEqual([...inventoryOf(answers[0]!).chains], ['filter NETLAB-FWD-vxlan']);
});

test("preflight: routes are compared by destination prefix, whatever their type or form; a route of the node that covers one of the lab's is named too", () => {
  const routeStep: Step = {
    id: 7,
    node: 'node-0',
    phase: 'cross-node',
    ...step('', '', [{ kind: 'route', dst: '10.200.1.0/24', via: '192.168.64.5' }]),
  };
  const hostRoute: Step = {
    ...routeStep,
    id: 8,
    ...step('', '', [{ kind: 'route', dst: '10.9.9.9/32', dev: 'eth1' }]),
  };
  const clashes = (route: { dst: string; type?: string }) =>
    findConflicts([routeStep, hostRoute], inventory({ routes: [route] })).map((c) => c.step);
  assert.deepEqual(clashes({ dst: '10.200.1.0/24' }), [7]);
  assert.deepEqual(clashes({ type: 'unreachable', dst: '10.200.1.0/24' }), [7], 'a typed route is the same prefix');
  assert.deepEqual(clashes({ dst: '10.200.1.0/25' }), [], 'a longer prefix is another route');
  // A covering route is another route to the kernel, but the lab's route inside it would take part of its
  // traffic (a VPN's 10.0.0.0/8): named with the lab's route. The node's default route covers everything.
  assert.deepEqual(clashes({ dst: '10.200.0.0/16' }), [7]);
  assert.deepEqual(findConflicts([routeStep], inventory({ routes: [{ dst: '10.0.0.0/8' }] })), [
    { step: 7, what: 'a route to 10.0.0.0/8', takes: 'a route to 10.200.1.0/24 inside it' },
  ]);
  assert.deepEqual(clashes({ dst: 'default' }), [], "the node's default route");
  assert.deepEqual(
    clashes({ dst: '10.0.0.0/8' }),
    [7],
    'a route of the node named once, with the first route inside it',
  );
  const { model } = loadLabFile(join(LABS, 'routes.yaml'));
  assert.match(
    describeProblems(model, 'node-0', stepsOf('routes'), printed(more(FRESH, { routes: [{ dst: '10.0.0.0/8' }] })))[0]!,
    /^node-0 has a route to 10\.0\.0\.0\/8, not this lab's, and step \d+ of lab routes would add a route to 10\.200\.1\.0\/24 inside it, taking that part of its traffic: netlab never changes what it did not create; give the lab a cluster-cidr outside it$/,
  );
  assert.deepEqual(clashes({ dst: '10.9.9.9' }), [8], 'a host route prints without /32');
});

test("preflight: a network of the node's own inside the lab's cluster CIDR (a Docker bridge's) is refused, named once, with its address only where no such route holds it", () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const steps = stepsOf('vxlan');
  const problems = (have: Have) =>
    describeProblems(model, 'node-0', steps, printed(more(FRESH, have), '@@netlab probed\n'));
  assert.deepEqual(problems({}), [], 'a fresh machine: nothing inside 10.200.0.0/16');
  const docker = problems({ links: ['docker0'], addresses: ['10.200.77.1'], routes: [{ dst: '10.200.77.0/24' }] });
  assert.deepEqual(docker, [
    "node-0 has a route to 10.200.77.0/24, not this lab's, inside the lab's cluster CIDR 10.200.0.0/16: the lab's rules for that range would match its traffic too, ahead of the machine's own; netlab never changes what it did not create; give the lab a cluster-cidr outside it",
  ]);
  // An address without a route of its own (a /32 on lo) is named. The cluster CIDR itself as a route, which the
  // vxlan lab makes: named once, as a route the lab would make again (not again as inside, nor as covering).
  assert.deepEqual(problems({ addresses: ['10.200.9.9'] }).length, 1);
  assert.match(
    problems({ addresses: ['10.200.9.9'] })[0]!,
    /^node-0 has the address 10\.200\.9\.9, not this lab's, inside/,
  );
  const whole = problems({ routes: [{ dst: '10.200.0.0/16' }] });
  assert.equal(whole.length, 1, whole.join('\n'));
  assert.match(whole[0]!, /^node-0 already has a route to 10\.200\.0\.0\/16, which step \d+ of lab vxlan would create/);
  // Wider than the cluster CIDR (a VPN's 10.0.0.0/8, the default route) or beside it: not inside.
  assert.deepEqual(problems({ routes: [{ dst: '172.17.0.0/16' }], addresses: ['172.17.0.1'] }), []);
  assert.equal(problems({ routes: [{ dst: '10.0.0.0/8' }] }).length, 1, 'a covering route, named as before');
  assert.doesNotMatch(problems({ routes: [{ dst: '10.0.0.0/8' }] })[0]!, /inside the lab's cluster CIDR/);
});

test("preflight: a sysctl the lab sets that another lab's challenge holds at its fault's value is refused, naming both; another sysctl is not", () => {
  const { model } = loadLabFile(join(LABS, 'routes.yaml'));
  const steps = stepsOf('routes', 'node-1');
  const held = (line: string) =>
    describeProblems(
      model,
      'node-1',
      steps,
      `${printed(FRESH, '@@netlab probed\n')}@@netlab answer 0 sysctlFaults\n${line}\n`,
    );
  assert.deepEqual(held('other net.ipv4.ip_forward 0'), [
    "the challenge in lab other on node-1 holds net.ipv4.ip_forward off (its fault), and lab routes sets it: that would mend the fault for that lab's learners; nothing was changed. Bring this lab up once that challenge is over (`netlab challenge stop` by its owner)",
  ]);
  assert.deepEqual(held('other net.ipv4.ip_forward 1'), [], "set back by that lab's learners: held by nobody");
  assert.deepEqual(held('other net.bridge.bridge-nf-call-iptables 0'), [], 'a sysctl the routes lab does not set');
  assert.deepEqual(held(''), []);
  assert.deepEqual(held('routes net.ipv4.ip_forward 0'), [], "the lab's own, left by a down that stopped halfway");
});

test('preflight: kernel features are probed in one throwaway namespace; a failed probe and a probe that could not run are told apart', () => {
  const { model } = loadLabFile(join(LABS, 'ipip.yaml'));
  const steps = stepsOf('ipip');
  const script = preflightScript(model, 'node-0', steps);
  assert.equal(script.match(/unshare --net/g)?.length, 1, 'one namespace for every probe');
  assert.match(script, /ip link add netlab-p-ipip type ipip local 192\.0\.2\.1 remote 192\.0\.2\.2/);

  const missing = describeProblems(
    model,
    'node-0',
    steps,
    printed(FRESH, '@@netlab missing-feature ipip Error: Unknown device type.\n@@netlab probed\n'),
  );
  assert.deepEqual(missing.length, 1);
  assert.match(
    missing[0]!,
    /^lab ipip needs kernel IP-in-IP support \(module ipip\) on node-0; the kernel answered "Error: Unknown device type"\. Load it with `modprobe ipip`/,
  );

  assert.deepEqual(
    describeProblems(model, 'node-0', steps, printed(FRESH, '@@netlab probed\n')),
    [],
    'every probe passed',
  );
  const noProbe = describeProblems(
    model,
    'node-0',
    steps,
    printed(FRESH, 'unshare: unshare failed: Operation not permitted\n'),
  );
  assert.deepEqual(noProbe, [
    "cannot probe the kernel features and iptables extensions lab ipip needs on node-0: `unshare --net` failed: unshare: unshare failed: Operation not permitted (netlab needs util-linux's unshare there, and root or, on simulated nodes, user namespaces)",
  ]);
  const noUnshare = describeProblems(
    model,
    'node-0',
    steps,
    printed(FRESH, '@@netlab missing-tool unshare util-linux\n'),
  );
  assert.deepEqual(noUnshare, [
    'lab ipip needs the command "unshare" on node-0: install the package util-linux (apt-get install util-linux)',
  ]);
});

test("a machine over SSH: its own memory, read with its boot id in the facts round; written by a line of up's last phase, with what it saw before", () => {
  const needs = requirements(loadLabFile(join(LABS, 'vxlan.yaml')).model);
  const ipip = requirements(loadLabFile(join(LABS, 'ipip.yaml')).model);
  const boot = '0b6e5f3c-2d4a-4c39-9a57-1e2f3a4b5c6d';
  assert.deepEqual(READ_NODE_MEMORY, ['cat', '/proc/sys/kernel/random/boot_id', '/run/netlab/.kernel-seen']);
  // No memory yet: cat's complaint follows the boot id (the question keeps stderr).
  const none = nodeMemoryOf(`${boot}\ncat: /run/netlab/.kernel-seen: No such file or directory\n`);
  assert.deepEqual(none, { boot, seen: new Set() });
  assert.equal(kernelSeen(needs, none), false);
  // The line that remembers: printf's builtin, the file's text quoted; it cannot fail up.
  const line = rememberOnNodeScript(needs, none);
  assert.equal(
    line,
    `printf %s 'netlab kernel seen 1\n${boot}\nextension comment\nfeature bridge\nfeature veth\nfeature vxlan\n' 2>/dev/null >/run/netlab/.kernel-seen || true\n`,
  );
  const written = /^printf %s '([^']*)'/.exec(line)![1]!;
  const remembered = nodeMemoryOf(`${boot}\n${written}`);
  assert.equal(kernelSeen(needs, remembered), true);
  assert.equal(kernelSeen(ipip, remembered), false, 'IP-in-IP was never seen there');
  // What it saw before stays: IP-in-IP probed later is added.
  const both = nodeMemoryOf(`${boot}\n${/^printf %s '([^']*)'/.exec(rememberOnNodeScript(ipip, remembered))![1]!}`);
  assert.equal(kernelSeen(needs, both) && kernelSeen(ipip, both), true);
  // Another boot (a /run that is no tmpfs), or a boot id that is not one: nothing seen, and nothing written.
  assert.equal(kernelSeen(needs, nodeMemoryOf(`1e2f3a4b-0000-4c39-9a57-1e2f3a4b5c6d\n${written}`)), false);
  const garbled = nodeMemoryOf(`'; rm -rf / '\n${written}`);
  assert.deepEqual(garbled, { boot: undefined, seen: new Set() });
  assert.equal(rememberOnNodeScript(needs, garbled), '');
  assert.equal(FORGET_ON_NODE, 'rm -f /run/netlab/.kernel-seen\n');
});

test('simulated nodes: what this kernel was seen to have since it booted is not probed again; what is missing, or seen in another boot, is', () => {
  const { model } = loadLabFile(join(LABS, 'vxlan.yaml'));
  const needs = requirements(model);
  const work = scratch('netlab-kernel-seen-');
  const env = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = work.dir;
  try {
    assert.equal(kernelSeen(needs), false, 'nothing seen yet');
    rememberKernel(needs);
    assert.equal(kernelSeen(needs), true);
    const seen = readFileSync(join(work.dir, 'kernel-seen'), 'utf8');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    assert.equal(
      seen,
      `netlab kernel seen 1\n${boot}\nextension comment\nfeature bridge\nfeature veth\nfeature vxlan\n`,
    );
    // A lab that needs more than was seen is probed; what it was seen to have is added, not replaced.
    const ipip = requirements(loadLabFile(join(LABS, 'ipip.yaml')).model);
    assert.equal(kernelSeen(ipip), false, 'IP-in-IP was never seen');
    rememberKernel(ipip);
    assert.equal(kernelSeen(needs) && kernelSeen(ipip), true);
    // A lab that needs nothing of the kernel has no probe to skip.
    assert.equal(kernelSeen({ ...needs, features: [], extensions: [] }), false, 'nothing needed, nothing skipped');
    // Another boot (the file outlived a reboot), another format, garbage: nothing seen.
    for (const text of [seen.replace(boot, 'another-boot'), seen.replace('seen 1', 'seen 2'), 'garbage']) {
      writeFileSync(join(work.dir, 'kernel-seen'), text);
      assert.equal(kernelSeen(needs), false, text);
    }
    // The node's script then says probed without a throwaway namespace.
    const script = preflightScript(model, 'node-0', stepsOf('vxlan'), { kernel: 'seen' });
    assert.doesNotMatch(script, /unshare --net|netlab-p-/);
    assert.match(script, /^echo "@@netlab probed" # seen working on this kernel since it booted$/m);
  } finally {
    if (env === undefined) delete process.env.NETLAB_STATE_DIR;
    else process.env.NETLAB_STATE_DIR = env;
    work.remove();
  }
});

test('preflight: a missing tool is read only with a command and a Debian package name: what a machine answers goes into apt-get and onto the terminal', () => {
  assert.deepEqual(missingOf(['@@netlab missing-tool socat socat', '@@netlab missing-tool ip iproute2']), [
    { kind: 'tool', command: 'socat', package: 'socat' },
    { kind: 'tool', command: 'ip', package: 'iproute2' },
  ]);
  for (const line of [
    '@@netlab missing-tool socat \u001b[2Jsocat',
    '@@netlab missing-tool socat Socat',
    '@@netlab missing-tool socat -oDpkg::Pre-Invoke=x',
    '@@netlab missing-tool s;x socat',
  ])
    assert.deepEqual(missingOf([line]), [], JSON.stringify(line));
});
