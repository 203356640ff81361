// `netlab plan --explain`: what each kind of command does, in a learner's
// terms. A wiring module explains its own commands (a VXLAN device, an IP-in-IP
// tunnel, flannel's FDB entries, the Services' ruleset); the commands every
// kind uses (ip addr, ip route, iptables chains, sysctls) are explained here.
// A test checks that every command of every bundled lab has an explanation.
import type { Command } from '../model/plan.js';
import { ALL_WIRING } from '../wiring/registry.js';

type Explainer = (c: Command) => string | undefined;

const has = (c: Command, word: string) => c.includes(word);
const after = (c: Command, word: string) => c[c.indexOf(word) + 1];

const EXPLAINERS: Explainer[] = [
  (c) =>
    c[0] === 'ip' && c[1] === 'netns' && c[2] === 'add'
      ? `\`ip netns add ${c[3]}\` creates a network namespace and pins it as /run/netns/${c[3]}: its own interfaces, addresses, routes and iptables, starting with a lone, down lo.`
      : undefined,
  (c) =>
    c[0] === 'netlab_ipv4_only'
      ? `netlab_ipv4_only writes 1 to net.ipv6.conf.all.disable_ipv6 and net.ipv6.conf.default.disable_ipv6 inside pod ${c[1]}'s network namespace (\`nsenter --net=/run/netns/${c[1]}\`): lo loses ::1, and no interface that arrives gets an IPv6 address or sends IPv6.`
      : undefined,
  (c) =>
    c[0] === 'netlab_pause'
      ? `netlab_pause starts, in the background, the \`unshare --uts --ipc --pid${c[2] ? ' --mount' : ''} --fork --kill-child\` shown above in pod ${c[1]}'s network namespace: a process that only holds the pod's namespaces, like Kubernetes' pause container (netlab enters the network namespace with \`nsenter --net=/run/netns/${c[1]}\`, which keeps the node's mount namespace where \`ip netns exec\` makes one of its own, and writes the hostname to /proc/sys/kernel/hostname). Its PID and start time are kept in /run/netlab/LAB/pods/${c[1]}/pause.pid (a PID the kernel reuses is never mistaken for it).`
      : undefined,
  (c) =>
    c[0] === 'netlab_container'
      ? `netlab_container starts \`nsenter -t PAUSE_PID -n -u -i -p${c[3] ? ` -m chroot ${c[3]}` : ''} sleep infinity\`: a process in the pod's namespaces, i.e. a container of pod ${c[1]}.`
      : undefined,
  (c) =>
    c[0] === 'netlab_pod_mount'
      ? `netlab_pod_mount runs \`nsenter -t PAUSE_PID -m mount …\`: the overlay is mounted inside pod ${c[1]}'s own mount namespace (lowerdir read-only and shared, upperdir per container, workdir for overlayfs' bookkeeping).`
      : undefined,
  (c) =>
    c[0] === 'mkdir'
      ? 'mkdir -p makes the directories for the container layers (under /run/netlab/LAB on the node).'
      : undefined,
  (c) => (c[0] === 'tar' ? 'tar unpacks the root filesystem once, as the shared read-only lower layer.' : undefined),
  (c) =>
    c[0] === 'ip' && c[1] === '-n'
      ? `\`ip -n ${c[2]} …\` runs the ip command inside pod ${c[2]}'s network namespace (short for \`ip netns exec ${c[2]} ip …\`). ${explainIp(c.slice(3), `pod ${c[2]}`) ?? ''}`.trim()
      : undefined,
  (c) => (c[0] === 'ip' && c[1] !== '-n' ? explainIp(c.slice(1), 'the node') : undefined),
  (c) =>
    c[0] === 'netlab_sysctl'
      ? `netlab_sysctl records the current ${c[1]} for down, then runs \`sysctl -w ${c[1]}=${c[2]}\` (down puts the old value back only if the sysctl still holds ${c[2]} and no other lab on the node set it too). ${SYSCTLS[c[1]!] ?? ''}`.trim()
      : undefined,
  (c) =>
    c[0] === 'iptables' && has(c, '-N')
      ? `\`iptables -N ${after(c, '-N')}\` creates an empty chain of the filter table: a list of rules that only runs when another chain jumps to it.`
      : undefined,
  (c) =>
    c[0] === 'iptables' && has(c, '-A')
      ? `\`iptables -A ${after(c, '-A')} … -j ${after(c, '-j')}\` appends a rule: packets matching ${has(c, '-s') ? `source ${after(c, '-s')}` : `destination ${after(c, '-d')}`} go to ${after(c, '-j')}.`
      : undefined,
  (c) =>
    c[0] === 'iptables' && has(c, '-I')
      ? `\`iptables -I ${after(c, '-I')} 1 … -j ${after(c, '-j')}\` inserts a jump at the top of the built-in ${after(c, '-I')} chain, so netlab's chain is consulted before any rule already there; the comment marks it as netlab's.`
      : undefined,
];

const SYSCTLS: Record<string, string> = {
  'net.ipv4.ip_forward':
    'With it, the node routes packets that are not for itself (from a bridge to the underlay, and back) instead of dropping them.',
  'net.bridge.bridge-nf-call-iptables':
    'With it (module br_netfilter), frames switched by a bridge also pass iptables and conntrack, so replies from a pod on the same bridge are un-DNATed too.',
};

function explainIp(args: readonly string[], where: string): string | undefined {
  const [object, verb] = args;
  if (object === 'link' && verb === 'add') {
    const name = args[2] === 'name' ? args[3] : args[2];
    const type = after(args, 'type');
    return `\`ip link add ${name}\` creates an interface of type ${type} in ${where}.`;
  }
  if (object === 'link' && verb === 'set') {
    const dev = args[2];
    if (has(args, 'master'))
      return `\`master ${after(args, 'master')}\` plugs ${dev} into the bridge ${after(args, 'master')} as a port.`;
    if (has(args, 'netns'))
      return `\`ip link set ${dev} netns ${after(args, 'netns')}\` moves ${dev} into the namespace ${after(args, 'netns')}: it disappears from ${where}.`;
    if (has(args, 'mtu'))
      return `\`mtu ${after(args, 'mtu')}\`: ${dev} carries packets of at most ${after(args, 'mtu')} bytes (not counting the Ethernet header); a larger one is dropped where it would leave by ${dev}, or fragmented by a router that may.${has(args, 'gso_max_segs') ? ` \`gso_max_segs ${after(args, 'gso_max_segs')}\`: the kernel hands ${dev} one TCP segment at a time, with no segmentation offload.` : ''}`;
    if (has(args, 'gso_max_segs'))
      return `\`gso_max_segs ${after(args, 'gso_max_segs')}\`: the kernel hands ${dev} one TCP segment at a time, with no segmentation offload, as a NIC without offload would get them.`;
    if (has(args, 'up'))
      return `\`ip link set ${dev} up\` brings ${dev} up in ${where}: a down interface sends and receives nothing.`;
  }
  if (object === 'addr' && verb === 'add') {
    const [address, prefix] = args[2]!.split('/');
    return `\`ip addr add ${args[2]} dev ${after(args, 'dev')}\` gives ${after(args, 'dev')} the address ${address}${prefix === '32' ? '; /32 adds no route' : `, and with /${prefix} the kernel adds the connected route for its subnet`}.`;
  }
  if (object === 'route' && verb === 'add') {
    const via = has(args, 'via') ? ` via the gateway ${after(args, 'via')}` : '';
    const dev = has(args, 'dev') ? ` out of ${after(args, 'dev')}` : '';
    const onlink = has(args, 'onlink')
      ? '; onlink: the gateway is reachable on that device even though no subnet of it contains the address'
      : '';
    return `\`ip route add ${args[2]}\` adds a route in ${where}: packets for ${args[2]} go${via}${dev}${onlink}.`;
  }
  if (object === 'neigh' && verb === 'add')
    return `\`ip neigh add ${args[2]} lladdr ${after(args, 'lladdr')} dev ${after(args, 'dev')} nud permanent\`: a static ARP entry, so ${args[2]}'s MAC is known without asking.`;
  return undefined;
}

export function explainCommand(command: Command): string | undefined {
  for (const wiring of ALL_WIRING) {
    const text = wiring.explain?.(command);
    if (text) return text;
  }
  for (const explain of EXPLAINERS) {
    const text = explain(command);
    if (text) return text;
  }
  return undefined;
}
