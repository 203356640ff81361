// Before anything changes: every node has the tools and kernel features the lab
// needs. Each missing piece is reported with what to install; nothing is changed.
import type { Model } from '../lab/model.js';
import { quoteArg } from '../shell/quote.js';

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

const FEATURES: Record<string, Feature> = {
  veth: { name: 'veth', label: 'kernel veth support', module: 'veth', probe: ['type', 'veth', 'peer', 'name', 'netlab-probe1'] },
  bridge: { name: 'bridge', label: 'kernel bridge support', module: 'bridge', probe: ['type', 'bridge'] },
  vxlan: { name: 'vxlan', label: 'kernel VXLAN support', module: 'vxlan', probe: ['type', 'vxlan', 'id', '1', 'dstport', '4789'] },
  // A bare "type ipip" clashes with the fallback device tunl0 that the module makes in every namespace.
  ipip: { name: 'ipip', label: 'kernel IP-in-IP support', module: 'ipip', probe: ['type', 'ipip', 'local', '192.0.2.1', 'remote', '192.0.2.2'] },
};

export function requirements(model: Model): { tools: Tool[]; features: Feature[] } {
  const tools = ['ip', 'ss', 'unshare', 'nsenter', 'timeout', 'tac', 'ping', 'socat'];
  const features: string[] = [];
  if (model.sameNode !== 'loopback') features.push('veth');
  if (model.sameNode === 'bridge') features.push('bridge'), tools.push('iptables');
  if (model.crossNode !== 'none') tools.push('sysctl');
  if (model.crossNode === 'vxlan' || model.crossNode === 'flannel') tools.push('bridge'), features.push('vxlan');
  if (model.crossNode === 'ipip') features.push('ipip');
  if (model.services.length > 0) tools.push('iptables-restore', 'conntrack', 'sysctl');
  if (model.pods.some((p) => p.rootfs?.match(/\.(tar\.gz|tgz)$/))) tools.push('tar');
  return { tools: tools.map((t) => TOOLS[t]!), features: features.map((f) => FEATURES[f]!) };
}

/**
 * A node script that prints one line per missing requirement. Kernel features
 * are probed by creating a device in a throwaway network namespace, which
 * changes nothing on the node (on a distribution kernel it may autoload the module).
 */
export function preflightScript(model: Model, node: string): string {
  const { tools, features } = requirements(model);
  const lines = ['PATH=$PATH:/usr/sbin:/sbin'];
  for (const pod of model.pods.filter((p) => p.node === node && p.rootfs)) {
    lines.push(`[ -e ${quoteArg(pod.rootfs!)} ] || echo ${quoteArg(`@@netlab missing-rootfs ${pod.name} ${pod.rootfs}`)}`);
  }
  for (const tool of tools) lines.push(`command -v ${quoteArg(tool.command)} >/dev/null 2>&1 || echo "@@netlab missing-tool ${tool.command} ${tool.package}"`);
  if (model.services.length > 0) {
    // br_netfilter: a module on Debian/Ubuntu kernels, built in on some others.
    lines.push('[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || echo "@@netlab missing-brnf"');
  }
  for (const feature of features) {
    const probe = ['ip', 'link', 'add', 'netlab-probe0', ...feature.probe].map(quoteArg).join(' ');
    lines.push(`err=$(unshare --net ${probe} 2>&1) || echo "@@netlab missing-feature ${feature.name} $err"`);
  }
  return lines.join('\n') + '\n';
}

export function describeMissing(model: Model, node: string, stdout: string): string[] {
  const problems: string[] = [];
  for (const line of stdout.split('\n')) {
    const tool = /^@@netlab missing-tool (\S+) (\S+)$/.exec(line);
    if (tool) problems.push(`lab ${model.name} needs the command "${tool[1]}" on ${node}: install the package ${tool[2]} (apt-get install ${tool[2]})`);
    if (line === '@@netlab missing-brnf') problems.push(`lab ${model.name} has Services, which need br_netfilter on ${node} (net.bridge.bridge-nf-call-iptables is missing): load it with \`modprobe br_netfilter\``);
    const rootfs = /^@@netlab missing-rootfs (\S+) (.*)$/.exec(line);
    if (rootfs) problems.push(`pod ${rootfs[1]}'s rootfs ${rootfs[2]} does not exist on ${node}: give a directory or a .tar.gz (such as the Alpine minirootfs) that exists there`);
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
