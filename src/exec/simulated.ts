// Simulated nodes: each node of a lab is a set of namespaces on this host
// (network, mount, UTS and PID) held by a small holder process, and all nodes
// are joined by an underlay bridge that lives in a namespace of its own. The
// host's root network namespace, routes, iptables and /run are never changed.
//
// Facts checked on this machine: with its own mount namespace
// and a private tmpfs on /run, a node has its own `ip netns` list and
// /run/netlab, so node scripts are byte for byte the ones a VM runs.
import { labIdOf } from '../model/lab.js';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { stateDir } from '../state/store.js';
import { run } from './spawn.js';
import type { Model, ModelNode, ModelRouter } from '../model/lab.js';
import { FIRST_SIMULATED_HOST } from '../lab/defaults.js';
import { networkOf, routerPodRoutes, underlayRoutes } from '../model/underlay.js';
import { type Cidr, formatIp, nthAddress, parseCidr } from '../net/ipv4.js';
import type { NodeFacts } from '../model/plan.js';
import { quoteArg } from '../os/quote.js';
import { findProcesses, isAlive, killProcess, processRef, waitForExit, type ProcessRef } from '../os/processes.js';
import type { ScriptResult, Transport } from './transport.js';
import type { Holder, SimulatedTargetState } from '../state/targets.js';
import { RunError, UsageError } from '../errors.js';
import { outsideAddress } from '../model/underlay.js';
import { ETHERNET_MTU } from '../net/ethernet.js';
import { enterHolder, OWN_USER_NAMESPACE, withoutRoot } from './userns.js';

export const SIMULATED_UNDERLAY = {
  prefix: 24,
  firstHost: FIRST_SIMULATED_HOST,
  network: '192.168.64',
  dev: 'eth1',
  bridge: 'underlay',
  /** the veths of the underlay keep the kernel's default, Ethernet's */
  mtu: ETHERNET_MTU,
} as const;

/**
 * The networks of the simulated underlay, each a bridge in the underlay's
 * namespace: the lab's own (a routed underlay), or the article's one segment.
 * (The bridges' names have a '+', which no node name has: node cables there
 * are named after their nodes.)
 */
function simulatedNetworks(model: Model): { name?: string; cidr: Cidr; bridge: string }[] {
  if (model.underlay)
    return model.underlay.networks.map((n, i) => ({ name: n.name, cidr: parseCidr(n.cidr)!, bridge: `net+${i}` }));
  const cidr = parseCidr(`${SIMULATED_UNDERLAY.network}.0/${SIMULATED_UNDERLAY.prefix}`)!;
  return [{ cidr, bridge: SIMULATED_UNDERLAY.bridge }];
}

/** The simulated network a node is on. */
function simulatedNetworkOf(model: Model, node: string) {
  const networks = simulatedNetworks(model);
  return networks.find((n) => n.name === networkOf(model, node)) ?? networks[0]!;
}

/** The underlay address and interface of each simulated node: the article's 192.168.64.4, .5, ... on eth1 (on a routed underlay, numbered so in each network). */
export function simulatedFacts(model: Model): Record<string, NodeFacts> {
  // Its place among the nodes of its network (all of them on a flat underlay).
  const hostOf = (node: ModelNode) =>
    SIMULATED_UNDERLAY.firstHost +
    model.nodes.filter((n) => networkOf(model, n.name) === networkOf(model, node.name)).indexOf(node);
  return Object.fromEntries(
    model.nodes.map((node) => [
      node.name,
      {
        address: node.underlay.address ?? formatIp(nthAddress(simulatedNetworkOf(model, node.name).cidr, hostOf(node))),
        dev: node.underlay.dev ?? SIMULATED_UNDERLAY.dev,
        mtu: SIMULATED_UNDERLAY.mtu,
      },
    ]),
  );
}

/**
 * The marker in a holder's command line: lets `down` find holders that a killed
 * `up` never recorded. It names the state directory too (by a hash), so that a
 * netlab with another state directory (another user, NETLAB_STATE_DIR) never
 * stops the nodes of a lab of the same name that is not its own.
 */
export function holderMarker(lab: string, node: string): string {
  const owner = createHash('sha256').update(stateDir()).digest('hex').slice(0, 8);
  return `netlab-sim:${lab}:${owner}:${node}`;
}

// Runs as PID 1 of the new PID namespace. /proc is still the host's when it
// reads /proc/self/stat, so it reports its host PID, which nsenter needs.
const HOLDER_SCRIPT = `read -r pid _ </proc/self/stat
mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t tmpfs -o mode=0755 netlab-run /run && hostname "$1" && ip link set lo up || exit 1
echo "$pid"
exec sleep infinity </dev/null >/dev/null 2>&1`;

async function startHolder(lab: string, name: string, userNamespaceOf?: Holder): Promise<Holder> {
  const unshare = [
    'unshare',
    ...(withoutRoot() && !userNamespaceOf ? OWN_USER_NAMESPACE : []),
    '--net',
    '--mount',
    '--uts',
    '--pid',
    '--fork',
    '--kill-child',
    '--propagation',
    'private',
    'sh',
    '-c',
    HOLDER_SCRIPT,
    holderMarker(lab, name),
    name,
  ];
  // nsenter with only -U does not fork: it becomes unshare (its PID, marker and all).
  const argv = userNamespaceOf ? ['nsenter', ...enterHolder(userNamespaceOf), '--', ...unshare] : unshare;
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const initPid = await new Promise<number>((resolve, reject) => {
    let line = '';
    let err = '';
    // Only the first line matters: each chunk is scanned once, until it ends.
    child.stdout.on('data', function firstLine(chunk: Buffer) {
      const text = chunk.toString();
      const end = text.indexOf('\n');
      line += end < 0 ? text : text.slice(0, end);
      if (end < 0) return;
      child.stdout.off('data', firstLine);
      if (/^\d+$/.test(line)) resolve(Number(line));
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', (error) => reject(new RunError(`cannot start simulated node ${name}: ${error.message}`)));
    child.on('exit', (code) =>
      reject(
        new RunError(
          `simulated node ${name} did not start (exit ${code}): ${err.trim() || 'no message'}; netlab needs util-linux's unshare, and root or user namespaces (\`netlab doctor\`)`,
        ),
      ),
    );
  });
  child.stdout.destroy();
  child.stderr.destroy();
  child.removeAllListeners('exit');
  child.unref();
  const unshareRef = processRef(child.pid!);
  const init = processRef(initPid);
  if (!unshareRef || !init) throw new RunError(`simulated node ${name} exited right after starting`);
  return { unshare: unshareRef, init, ...(withoutRoot() ? { userns: true as const } : {}) };
}

/**
 * Starts the underlay and the nodes. `record` is called after each holder
 * starts, so that state knows about it before anything else can fail.
 */
export async function createSimulatedNodes(
  model: Model,
  facts: Record<string, NodeFacts>,
  record: (state: SimulatedTargetState) => void,
  /** a script each node runs once its underlay is up, in the same round (up's preflight); its results are returned */
  then?: (node: string) => string,
): Promise<{ target: SimulatedTargetState; answered: Record<string, ScriptResult> }> {
  const state: SimulatedTargetState = { kind: 'simulated', nodes: {} };
  const outside = model.outside ? outsideAddress(model, facts) : undefined;
  if (outside && !outside.startsWith(`${SIMULATED_UNDERLAY.network}.`))
    throw new UsageError(
      `outside.address: found ${outside}; on simulated nodes the outside host is on the underlay ${SIMULATED_UNDERLAY.network}.0/${SIMULATED_UNDERLAY.prefix} (leave the address out: ${SIMULATED_UNDERLAY.network}.1)`,
    );
  state.underlay = await startHolder(labIdOf(model), 'underlay');
  record(state);
  // Without root, the underlay's user namespace holds the whole lab.
  const userNamespace = state.underlay.userns ? state.underlay : undefined;
  if (outside) {
    state.outside = await startHolder(labIdOf(model), OUTSIDE_HOLDER, userNamespace);
    record(state);
  }
  const routers = model.underlay?.routers ?? [];
  const holders = await Promise.all(
    [...model.nodes, ...routers].map((host) => startHolder(labIdOf(model), host.name, userNamespace)),
  );
  for (const [i, node] of model.nodes.entries()) state.nodes[node.name] = holders[i]!;
  if (routers.length)
    state.routers = Object.fromEntries(routers.map((r, i) => [r.name, holders[model.nodes.length + i]!]));
  record(state);
  const networks = simulatedNetworks(model);
  const bridgeOf = (network: string) => networks.find((n) => n.name === network)!.bridge;

  // Cables from the underlay bridge to each node's eth1, created inside the
  // underlay namespace and handed to the node by PID: the host never sees them.
  // The bridge floods multicast to every port, as the switch of a Vagrant
  // host-only network does: with IGMP snooping on (the default) and no querier
  // it forwards a group only to the ports whose join it saw, and forgets each
  // join 260 s later (multicast_membership_interval), one node at a time.
  const cables = model.nodes.map((node) => {
    const init = state.nodes[node.name]!.init.pid;
    const dev = facts[node.name]!.dev;
    return `ip link add ${quoteArg(node.name)} type veth peer name ${quoteArg(dev)} netns ${init} && ip link set ${quoteArg(node.name)} master ${quoteArg(simulatedNetworkOf(model, node.name).bridge)} up`;
  });
  // A router's cable to its i-th network is its eth(i+1), as on a router VM with one NIC per network.
  const routerCables = routers.flatMap((router, r) =>
    router.networks.map((network, i) => {
      const cable = quoteArg(`rt+${r}+${i}`);
      return `ip link add ${cable} type veth peer name eth${i + 1} netns ${state.routers![router.name]!.init.pid} && ip link set ${cable} master ${quoteArg(bridgeOf(network))} up`;
    }),
  );
  await runChecked(
    [
      'nsenter',
      ...enterHolder(state.underlay),
      '-n',
      '--',
      'sh',
      '-ec',
      [
        ...networks.flatMap(({ bridge }) => [
          `ip link add ${quoteArg(bridge)} type bridge mcast_snooping 0`,
          `ip link set ${quoteArg(bridge)} up`,
        ]),
        ...cables,
        ...routerCables,
        ...(state.outside
          ? [
              `ip link add ${OUTSIDE_HOLDER} type veth peer name eth0 netns ${state.outside.init.pid} && ip link set ${OUTSIDE_HOLDER} master ${SIMULATED_UNDERLAY.bridge} up`,
            ]
          : []),
      ].join('\n'),
    ],
    'underlay',
  );
  const answered: Record<string, ScriptResult> = {};
  await Promise.all(
    model.nodes.map(async (node) => {
      const { address, dev } = facts[node.name]!;
      // A node of a routed underlay reaches the other networks through their routers, as its DHCP or the VM's setup would say.
      const routes = underlayRoutes(model, [networkOf(model, node.name)!]).map(
        (r) => `ip route add ${quoteArg(r.dst)} via ${quoteArg(r.via)}`,
      );
      // The underlay in a subshell of its own (set -e); a failure there ends the script with 99, before `then`.
      const underlay = `(set -e\nip addr add ${quoteArg(address)}/${simulatedNetworkOf(model, node.name).cidr.prefix} dev ${quoteArg(dev)}\nip link set ${quoteArg(dev)} up\n${routes.map((r) => `${r}\n`).join('')}) || exit ${UNDERLAY_FAILED}\n`;
      const result = await simulatedTransport(node.name, state.nodes[node.name]!).run(
        `${underlay}${then ? then(node.name) : ''}`,
      );
      if (result.exitCode === UNDERLAY_FAILED || (!then && result.exitCode !== 0))
        throw new RunError(`simulated node ${node.name}: underlay setup failed: ${result.stderr.trim()}`);
      answered[node.name] = result;
    }),
  );
  await Promise.all(
    routers.map(async (router) => {
      const result = await simulatedTransport(router.name, state.routers![router.name]!).run(
        routerScript(model, router, (node) => facts[node]!.address),
      );
      if (result.exitCode !== 0)
        throw new RunError(`simulated router ${router.name}: setup failed: ${result.stderr.trim()}`);
    }),
  );
  if (state.outside) {
    // It knows the underlay only: no route to a pod address, as a router outside the cluster.
    const result = await simulatedTransport(OUTSIDE_HOLDER, state.outside).run(
      `set -e\nip addr add ${quoteArg(outside!)}/${SIMULATED_UNDERLAY.prefix} dev eth0\nip link set eth0 up\n`,
    );
    if (result.exitCode !== 0) throw new RunError(`simulated outside host: setup failed: ${result.stderr.trim()}`);
  }
  return { target: state, answered: then ? answered : {} };
}

/**
 * A router of the underlay: an address on each of its networks, forwarding on
 * (its own namespace: the host's setting is not touched), routes to the
 * networks it is not on, and no default route: a packet for an address no
 * network has, such as a pod's, is answered with ICMP "net unreachable" —
 * unless the lab gives it routes to the pod subnets (pod-routes).
 */
function routerScript(model: Model, router: ModelRouter, addressOf: (node: string) => string): string {
  const networks = simulatedNetworks(model);
  const lines = router.networks.flatMap((name, i) => {
    const prefix = networks.find((n) => n.name === name)!.cidr.prefix;
    return [`ip addr add ${quoteArg(router.addresses[name]!)}/${prefix} dev eth${i + 1}`, `ip link set eth${i + 1} up`];
  });
  const routes = [...underlayRoutes(model, router.networks, router.name), ...routerPodRoutes(model, router, addressOf)];
  return [
    'set -e',
    ...lines,
    'sysctl -qw net.ipv4.ip_forward=1',
    ...routes.map((r) => `ip route add ${quoteArg(r.dst)} via ${quoteArg(r.via)}`),
    '',
  ].join('\n');
}

/** The exit code of a node's first script when its underlay could not be set up. */
const UNDERLAY_FAILED = 99;

/** The outside host's holder (a node of that name would share its marker: resolve refuses one with outside:). */
const OUTSIDE_HOLDER = 'outside';

async function runChecked(argv: string[], what: string): Promise<void> {
  const result = await run(argv[0]!, argv.slice(1));
  if (result.exitCode !== 0)
    throw new RunError(`simulated ${what}: ${String(result.stderr).trim() || `exit ${result.exitCode}`}`);
}

/** Stops every holder of the lab: recorded ones, and any a killed `up` left unrecorded; returns how many processes it stopped. */
export function destroySimulatedNodes(lab: string, state?: SimulatedTargetState): number {
  const killed: ProcessRef[] = [];
  const stop = (ref: ProcessRef | undefined) => {
    if (!ref || !isAlive(ref)) return;
    killProcess(ref);
    killed.push(ref);
  };
  const extra = [state?.underlay, state?.outside, ...Object.values(state?.routers ?? {})].filter(
    (h): h is Holder => h !== undefined,
  );
  for (const holder of [...extra, ...Object.values(state?.nodes ?? {})]) {
    stop(holder.init);
    stop(holder.unshare);
  }
  const prefix = holderMarker(lab, '');
  for (const pid of findProcesses((arg) => arg.startsWith(prefix))) stop(processRef(pid));
  waitForExit(killed);
  return killed.length;
}

export function simulatedTransport(node: string, holder: Holder): Transport {
  const enter = () => {
    if (!isAlive(holder.init))
      throw new RunError(
        `simulated node ${node} is not running (its holder process ${holder.init.pid} is gone); run \`netlab down\` to clean up`,
      );
    return [...enterHolder(holder), '-n', '-m', '-u', '-p', '--', 'sh'];
  };
  return {
    node,
    ...(holder.userns ? { inUserNamespace: true } : {}),
    async run(script, options): Promise<ScriptResult> {
      return run('nsenter', [...enter(), '-s'], {
        input: script,
        ...(options?.signal ? { signal: options.signal } : {}),
        ...(options?.onStdout ? { onStdout: options.onStdout } : {}),
      });
    },
    async interactive(script, options) {
      return (await run('nsenter', [...enter(), '-c', script], { inherit: true, ...options })).exitCode;
    },
    // A simulated node exists for one run of one lab (its namespaces are made by
    // that up and die with its down): no other netlab changes it.
    async lock() {
      return undefined;
    },
    async unlock() {},
  };
}
