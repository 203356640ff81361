// Before anything changes: every node has the tools and kernel features the lab
// needs. Each missing piece is reported with what to install; nothing is changed.
import type { Model } from '../lab/model.js';
import { quoteArg } from '../shell/quote.js';
import type { Step } from '../plan/types.js';
import { NODE_STATE_ROOT } from '../plan/paths.js';
import { describeRun } from '../state/store.js';

interface Tool {
  command: string;
  package: string;
}

interface Feature {
  name: string;
  /** what the learner sees: "kernel IP-in-IP support" */
  label: string;
  module: string;
  /** `ip link add` arguments after the device name */
  probe: string[];
}

const TOOLS: Record<string, Tool> = {
  ip: { command: 'ip', package: 'iproute2' },
  bridge: { command: 'bridge', package: 'iproute2' },
  ss: { command: 'ss', package: 'iproute2' },
  unshare: { command: 'unshare', package: 'util-linux' },
  nsenter: { command: 'nsenter', package: 'util-linux' },
  sysctl: { command: 'sysctl', package: 'procps' },
  timeout: { command: 'timeout', package: 'coreutils' },
  tac: { command: 'tac', package: 'coreutils' },
  ping: { command: 'ping', package: 'iputils-ping' },
  socat: { command: 'socat', package: 'socat' },
  tar: { command: 'tar', package: 'tar' },
  iptables: { command: 'iptables', package: 'iptables' },
  'iptables-restore': { command: 'iptables-restore', package: 'iptables' },
  conntrack: { command: 'conntrack', package: 'conntrack' },
};

// Each probe asks the kernel, in a throwaway namespace, for a device of the
// type with a 2-byte Ethernet address: a kernel that knows the type (loading
// its module if need be) refuses the address and creates nothing; one that
// does not answers "Unknown device type". Creating real devices would cost
// their teardown: the kernel unregisters them with the namespace, in the
// background, holding the lock that the next phase's `ip` commands wait for.
const FEATURES: Record<string, Feature> = {
  veth: {
    name: 'veth',
    label: 'kernel veth support',
    module: 'veth',
    probe: ['address', '00:00', 'type', 'veth', 'peer', 'name', 'netlab-p-peer'],
  },
  bridge: {
    name: 'bridge',
    label: 'kernel bridge support',
    module: 'bridge',
    probe: ['address', '00:00', 'type', 'bridge'],
  },
  vxlan: {
    name: 'vxlan',
    label: 'kernel VXLAN support',
    module: 'vxlan',
    probe: ['address', '00:00', 'type', 'vxlan', 'id', '1', 'dstport', '4789'],
  },
  // IP-in-IP devices have no Ethernet address: this one is created. (A bare "type ipip"
  // clashes with the fallback device tunl0 that the module makes in every namespace.)
  ipip: {
    name: 'ipip',
    label: 'kernel IP-in-IP support',
    module: 'ipip',
    probe: ['type', 'ipip', 'local', '192.0.2.1', 'remote', '192.0.2.2'],
  },
};

/** What `ip link add` answers for a type the kernel lacks (EOPNOTSUPP; an iproute2 too old to know it). */
const UNKNOWN_TYPE = ['Unknown device type', 'Operation not supported', 'Garbage instead of arguments'];

export function requirements(model: Model): { tools: Tool[]; features: Feature[] } {
  const tools = ['ip', 'ss', 'unshare', 'nsenter', 'timeout', 'tac', 'ping', 'socat'];
  const features: string[] = [];
  if (model.sameNode !== 'loopback') features.push('veth');
  if (model.sameNode === 'bridge') {
    features.push('bridge');
    tools.push('iptables');
  }
  if (model.crossNode !== 'none') tools.push('sysctl');
  if (model.crossNode === 'vxlan' || model.crossNode === 'flannel') {
    tools.push('bridge');
    features.push('vxlan');
  }
  if (model.crossNode === 'ipip') features.push('ipip');
  if (model.services.length > 0) tools.push('iptables-restore', 'conntrack', 'sysctl');
  if (model.pods.some((p) => p.rootfs?.match(/\.(tar\.gz|tgz)$/))) tools.push('tar');
  return { tools: tools.map((t) => TOOLS[t]!), features: features.map((f) => FEATURES[f]!) };
}

/**
 * What already exists on a node, for the ownership check below: one listing
 * of each kind (links, network namespaces, addresses, main-table routes,
 * iptables chains) instead of a probe per object, so the check costs the
 * same for 2 pods as for 250.
 */
export interface NodeInventory {
  links: Set<string>;
  netns: Set<string>;
  addresses: Set<string>;
  /** destinations of the main table, as prefixes: "10.200.1.0/24", "10.0.0.5/32", "0.0.0.0/0" */
  routes: Set<string>;
  /** "filter NAME" and "nat NAME" */
  chains: Set<string>;
  /** labs recorded on the node (by any controller): lab name → "RUN-ID HOST:STATEDIR" */
  runs: Map<string, string>;
}

// Types that `ip route` prints before the destination of a route that is not unicast.
const ROUTE_TYPES = new Set([
  'unicast',
  'unreachable',
  'blackhole',
  'prohibit',
  'throw',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'nat',
]);

function routeKey(destination: string): string {
  if (destination === 'default') return '0.0.0.0/0';
  return destination.includes('/') ? destination : `${destination}/32`;
}

/** Lines of "@@netlab have KIND NAME" for everything a plan could clash with. */
function inventoryScript(chains: boolean): string[] {
  return [
    `ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print "@@netlab have link", $2}'`,
    `ls /run/netns 2>/dev/null | sed 's/^/@@netlab have netns /'`,
    `ip -o -4 addr show | awk '{sub("/.*", "", $4); print "@@netlab have addr", $4}'`,
    `ip -4 route show table main | awk '{print "@@netlab have route", $1, $2}'`,
    ...(chains
      ? [
          `for table in filter nat; do iptables-save -t "$table" 2>/dev/null | sed -n "s/^:\\([^ ]*\\) .*/@@netlab have chain $table \\1/p"; done`,
        ]
      : []),
    `for f in ${NODE_STATE_ROOT}/*/run; do [ ! -f "$f" ] || { d=\${f%/run}; echo "@@netlab have run \${d##*/} $(cat "$f")"; }; done`,
  ];
}

export function parseInventory(stdout: string): NodeInventory {
  const have: NodeInventory = {
    links: new Set(),
    netns: new Set(),
    addresses: new Set(),
    routes: new Set(),
    chains: new Set(),
    runs: new Map(),
  };
  for (const line of stdout.split('\n')) {
    const [tag, verb, kind, first, second] = line.trim().split(/\s+/);
    if (tag !== '@@netlab' || verb !== 'have' || !first) continue;
    if (kind === 'link') have.links.add(first);
    else if (kind === 'netns') have.netns.add(first);
    else if (kind === 'addr') have.addresses.add(first);
    else if (kind === 'route') have.routes.add(routeKey(ROUTE_TYPES.has(first) && second ? second : first));
    else if (kind === 'chain' && second) have.chains.add(`${first} ${second}`);
    else if (kind === 'run' && second) have.runs.set(first, line.trim().split(/\s+/).slice(4).join(' '));
  }
  return have;
}

/** Does any step create an iptables chain (so the node's chains need listing)? */
function createsChains(steps: readonly Step[]): boolean {
  return steps.some((step) =>
    step.apply.some((c) => (c[0] === 'iptables' && c.includes('-N')) || c[0] === 'netlab_restore'),
  );
}

/**
 * Ownership: every object the plan would create on the node must not exist yet.
 * A bridge br0 the user made, a pod namespace or chain of another lab, a route
 * already there: netlab refuses before changing anything, rather than fail
 * half-way or, worse, later delete what is not its own.
 */
export function findConflicts(steps: readonly Step[], have: NodeInventory): { step: number; what: string }[] {
  const conflicts: { step: number; what: string }[] = [];
  const clash = (step: Step, found: boolean, what: string) => found && conflicts.push({ step: step.id, what });
  for (const step of steps) {
    for (const c of step.apply) {
      if (c[0] === 'ip' && c[1] === 'link' && c[2] === 'add') {
        const names = [c[3] === 'name' ? c[4]! : c[3]!, ...(c.includes('peer') ? [c[c.indexOf('peer') + 2]!] : [])];
        for (const name of names) clash(step, have.links.has(name), `a link named ${name}`);
      } else if (c[0] === 'ip' && c[1] === 'tunnel' && c[2] === 'add') {
        clash(step, have.links.has(c[3]!), `a link named ${c[3]}`);
      } else if (c[0] === 'ip' && c[1] === 'netns' && c[2] === 'add') {
        clash(step, have.netns.has(c[3]!), `a network namespace named ${c[3]}`);
      } else if (c[0] === 'ip' && c[1] === 'addr' && c[2] === 'add') {
        const ip = c[3]!.split('/')[0]!;
        clash(step, have.addresses.has(ip), `the address ${ip}`);
      } else if (c[0] === 'ip' && c[1] === 'route' && c[2] === 'add') {
        clash(step, have.routes.has(routeKey(c[3]!)), `a route to ${c[3]}`);
      } else if (c[0] === 'iptables' && c.includes('-N')) {
        const chain = c[c.indexOf('-N') + 1]!;
        clash(step, have.chains.has(`filter ${chain}`), `an iptables chain ${chain}`);
      } else if (c[0] === 'netlab_restore') {
        for (const chain of c[1]!
          .split('\n')
          .filter((l) => l.startsWith(':'))
          .map((l) => l.slice(1).split(' ')[0]!)) {
          clash(step, have.chains.has(`nat ${chain}`), `an iptables nat chain ${chain}`);
        }
      }
    }
  }
  return conflicts;
}

/**
 * A node script that prints one line per missing requirement and the node's
 * inventory (for findConflicts). Kernel features are probed by creating a
 * device in a throwaway network namespace, which changes nothing on the node
 * (on a distribution kernel it may autoload the module).
 */
export function preflightScript(model: Model, node: string, steps: readonly Step[] = []): string {
  const { tools, features } = requirements(model);
  const lines = ['PATH=$PATH:/usr/sbin:/sbin', ...inventoryScript(createsChains(steps))];
  for (const pod of model.pods.filter((p) => p.node === node && p.rootfs)) {
    lines.push(
      `[ -e ${quoteArg(pod.rootfs!)} ] || echo ${quoteArg(`@@netlab missing-rootfs ${pod.name} ${pod.rootfs}`)}`,
    );
  }
  for (const tool of tools)
    lines.push(
      `command -v ${quoteArg(tool.command)} >/dev/null 2>&1 || echo "@@netlab missing-tool ${tool.command} ${tool.package}"`,
    );
  if (model.services.length > 0) {
    // br_netfilter: a module on Debian/Ubuntu kernels, built in on some others.
    lines.push('[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || echo "@@netlab missing-brnf"');
  }
  if (features.length > 0) {
    // One throwaway namespace for every probe.
    const unknown = UNKNOWN_TYPE.map((m) => `*${quoteArg(m)}*`).join('|');
    const probes = features.map(
      (f) =>
        `err=$(${['ip', 'link', 'add', `netlab-p-${f.name}`, ...f.probe].map(quoteArg).join(' ')} 2>&1) || case $err in ${unknown}) echo "@@netlab missing-feature ${f.name} $err" ;; esac`,
    );
    // Its exit status is no verdict: a probe that could not run lacks the "probed" line.
    lines.push(`unshare --net sh -c ${quoteArg([...probes, 'echo "@@netlab probed"'].join('\n'))} 2>&1 || true`);
  }
  return `${lines.join('\n')}\n`;
}

/** Everything the preflight output says is wrong on a node, each with what to do about it. */
export function describeProblems(model: Model, node: string, steps: readonly Step[], stdout: string): string[] {
  const have = parseInventory(stdout);
  const own = have.runs.get(model.name);
  // The lab itself is up there (another controller, another state directory): say so, not which of its objects clash.
  if (own)
    return [
      `lab ${model.name} is already up on ${node}, ${describeRun(own)}; take it down there (\`netlab down ${model.name}\`), or see \`netlab status\``,
    ];
  const others = [...have.runs].map(([lab, run]) => `lab ${lab} (${describeRun(run)})`);
  const problems = findConflicts(steps, have).map(
    (c) =>
      `${node} already has ${c.what}, which step ${c.step} of lab ${model.name} would create: netlab never changes what it did not create; remove it, or rename it in the lab file${others.length ? `; up on ${node}: ${others.join(', ')}` : ''}`,
  );
  const lines = stdout.split('\n');
  // Without unshare (reported below as a missing tool) nothing could be probed.
  if (
    requirements(model).features.length > 0 &&
    !lines.includes('@@netlab probed') &&
    !lines.some((l) => l.startsWith('@@netlab missing-tool unshare '))
  ) {
    const said = lines
      .filter((l) => l.trim() !== '' && !l.startsWith('@@netlab'))
      .join(' ')
      .trim();
    problems.push(
      `cannot probe the kernel features lab ${model.name} needs on ${node}: \`unshare --net\` failed${said ? `: ${said}` : ''} (netlab needs root there, and util-linux's unshare)`,
    );
  }
  for (const line of lines) {
    const tool = /^@@netlab missing-tool (\S+) (\S+)$/.exec(line);
    if (tool)
      problems.push(
        `lab ${model.name} needs the command "${tool[1]}" on ${node}: install the package ${tool[2]} (apt-get install ${tool[2]})`,
      );
    if (line === '@@netlab missing-brnf')
      problems.push(
        `lab ${model.name} has Services, which need br_netfilter on ${node} (net.bridge.bridge-nf-call-iptables is missing): load it with \`modprobe br_netfilter\``,
      );
    const rootfs = /^@@netlab missing-rootfs (\S+) (.*)$/.exec(line);
    if (rootfs)
      problems.push(
        `pod ${rootfs[1]}'s rootfs ${rootfs[2]} does not exist on ${node}: give a directory or a .tar.gz (such as the Alpine minirootfs) that exists there`,
      );
    const feature = /^@@netlab missing-feature (\S+) ?(.*)$/.exec(line);
    if (feature) {
      const f = FEATURES[feature[1]!]!;
      problems.push(
        `lab ${model.name} needs ${f.label} (module ${f.module}) on ${node}; the kernel answered "${(feature[2] || 'error').replace(/\.+$/, '')}".` +
          ` Load it with \`modprobe ${f.module}\`, or use a kernel that has it` +
          (f.name === 'ipip' ? ' (a VM with a distribution kernel, such as the workshop Vagrant VMs, has it)' : ''),
      );
    }
  }
  return problems;
}
