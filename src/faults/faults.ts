// The faults a learner can make in a lab that is up, each the undoing or the
// corruption of one thing a step declares it made (model/plan.ts: creates and
// sets): a route deleted, a link down or deleted, an address removed, a
// link's MTU too small, a tunnel's VNI changed,
// forwarding or br_netfilter off, hairpin off, a static FDB or neighbour entry
// removed or pointing at the wrong node, a rule of the lab's chains removed,
// a DNAT pointing at a dead port, the jump into one of the lab's chains
// removed (with FORWARD's policy DROP, for the filter chain), rules that
// drop the pods' traffic put first in FORWARD, or everything in a pod's INPUT. Each fault
// names the step it breaks, the commands that make it on the node, and the
// commands that mend it. Pure: the fault-matrix test applies them, and graded
// challenges will too.
import type { Model, TunnelSettings } from '../model/lab.js';
import type { Change, Command, Created, NodeFacts, NodePlan, Plan, Step } from '../model/plan.js';
import { applyOf, dnatRule, FAULT_VALUES, faultComment, iptables, ipIn as ip } from '../model/effects.js';
import { buildPlan } from '../plan/build.js';
import { acceptChainOf } from '../wiring/registry.js';
import { ipOf } from '../net/ipv4.js';

export type FaultKind =
  | 'route-deleted'
  | 'link-down'
  | 'link-deleted'
  | 'address-removed'
  | 'veth-moved'
  | 'vni-changed'
  | 'port-changed'
  | 'sysctl-off'
  | 'hairpin-off'
  | 'mtu-wrong'
  | 'fdb-removed'
  | 'fdb-wrong-node'
  | 'neighbour-removed'
  | 'neighbour-wrong-mac'
  | 'rule-removed'
  | 'dnat-dead-port'
  | 'jump-removed'
  | 'forward-drop'
  | 'drop-rule';

export interface Fault {
  /** stable and unique in a lab: "link-down:node-1:vxlan0" */
  id: string;
  kind: FaultKind;
  node: string;
  /** the step whose work the fault undoes */
  step: Pick<Step, 'id' | 'summary'>;
  /** what happens, in a learner's words */
  describe: string;
  /** run on the node (as root) to make the fault */
  apply: Command[];
  /** run on the node to mend it */
  mend: Command[];
  /** the pod namespace its commands act in, if any (`challenge reveal` shows what changed there too) */
  netns?: string;
  /**
   * A node-wide setting the fault changes, not an object of the lab (FORWARD's
   * policy, a sysctl): its command is the first of apply and the last of mend.
   * netlab saves the value it replaces on the node when it makes the fault, and
   * puts that value back only if the setting still holds the fault's value
   * (lifecycle/challenge.ts), as a lab's own sysctls are put back.
   */
  setting?: NodeSetting;
  /**
   * The fault changed the machine, not the lab's objects (a DROP rule put in
   * FORWARD, marked with the fault's comment): its mend is safe and needed on a
   * node the lab has left (a `down` that stopped halfway, another controller's).
   */
  onTheMachine?: true;
  /**
   * Made and mended as any fault, but no lab file may name it, and `challenge faults` does not list it: alone it
   * breaks nothing on a fresh node (the lab's ACCEPT chain in FORWARD, acceptChainOf). A challenge an older netlab
   * started with it is still mended by it.
   */
  notOffered?: true;
}

/**
 * A setting of the whole node that a fault may change: the value the fault
 * gives it, and the value its shown mend gives it (`challenge reveal`; netlab's
 * own mend puts back the value the fault saved).
 */
export type NodeSetting =
  | { kind: 'policy'; chain: 'FORWARD'; value: typeof FAULT_VALUES.policy; mended: 'ACCEPT' }
  | { kind: 'sysctl'; key: string; value: typeof FAULT_VALUES.sysctl; mended: string };

/** The command that gives a node-wide setting a value, as a learner types it. */
export function settingCommand(setting: NodeSetting, value: string): Command {
  return setting.kind === 'policy'
    ? iptables('filter', '-P', setting.chain, value)
    : ['sysctl', '-qw', `${setting.key}=${value}`];
}

/** A fault made of a node-wide setting (first of apply) and commands on the lab's objects (mended first). */
function withSetting(draft: Omit<Draft, 'setting'>, setting: NodeSetting): Draft {
  return {
    ...draft,
    apply: [settingCommand(setting, setting.value), ...draft.apply],
    mend: [...draft.mend, settingCommand(setting, setting.mended)],
    setting,
  };
}

type Draft = Pick<
  Fault,
  'kind' | 'describe' | 'apply' | 'mend' | 'setting' | 'netns' | 'onTheMachine' | 'notOffered'
> & {
  subject: string;
};

/** What a fault may need to know besides the declaration itself. */
interface Around {
  plan: Plan;
  /** the lab's plan with other tunnel settings (a tunnel made again with a wrong VNI or port) */
  replan: (tunnel: Partial<TunnelSettings>) => Plan;
  /** the comment on the rules a fault adds */
  comment: string;
  /** the lab's cluster CIDR: what a DROP rule of a fault in the machine's own chains drops, and nothing else */
  cidr: string;
  node: NodePlan;
  step: Step;
  index: StepIndex;
  /** the lab's ACCEPT chain in FORWARD, if it has one (acceptChainOf) */
  acceptChain: string | undefined;
}

/**
 * A node's steps by what they touch, made in one pass: a fault looks up the
 * steps that remake a link instead of reading the whole plan again (the scale
 * lab has 3,000 faults over 3,000 steps per node).
 */
class StepIndex {
  private readonly byKey = new Map<string, Step[]>();
  /** bridges the node's steps attach ports to */
  readonly bridges = new Set<string>();

  constructor(node: NodePlan) {
    for (const step of node.steps)
      for (const d of [...step.creates, ...step.sets]) for (const key of StepIndex.keysOf(d)) this.add(key, step);
    for (const step of node.steps) for (const c of step.sets) if (c.kind === 'master') this.bridges.add(c.bridge);
  }

  /** What a declaration touches: a link of the node, a route through one, a pod's link or routes. */
  private static keysOf(d: Created | Change): string[] {
    const netns = 'netns' in d && d.kind !== 'moved' ? d.netns : undefined;
    if (netns) {
      if (d.kind === 'route') return [`pod-route:${netns}`];
      if (d.kind === 'address') return [`pod-link:${netns}/${d.dev}`];
      if (d.kind === 'up') return [`pod-link:${netns}/${d.link}`];
      return [];
    }
    switch (d.kind) {
      case 'link':
        return [`link:${d.name}`];
      case 'route':
        return d.dev ? [`link:${d.dev}`, `route-via:${d.dev}`] : [];
      case 'neighbour':
        return [`link:${d.dev}`, `neighbour-on:${d.dev}`];
      case 'address':
      case 'fdb':
        return [`link:${d.dev}`];
      case 'up':
      case 'master':
        return [`link:${d.link}`];
      case 'hairpin':
        return [`link:${d.port}`];
      default:
        return [];
    }
  }

  private add(key: string, step: Step): void {
    const steps = this.byKey.get(key) ?? [];
    if (steps.at(-1) !== step) steps.push(step);
    this.byKey.set(key, steps);
  }

  /** The steps with any of these keys, in plan order. */
  steps(...keys: string[]): Step[] {
    const found = new Set(keys.flatMap((k) => this.byKey.get(k) ?? []));
    return [...found].sort((a, b) => a.id - b.id);
  }
}

const where = (netns: string | undefined) => (netns ? ` in pod namespace ${netns}` : '');
const inPod = (netns: string | undefined, name: string) => `${netns ? `${netns}/` : ''}${name}`;
/** A draft's `netns`, where its commands act in a pod. */
const actsIn = (netns: string | undefined) => (netns ? { netns } : {});

/** Every apply command, in plan order, of the steps that make or set something on a link of the node. */
function remake(index: StepIndex, link: string): Command[] {
  return index.steps(`link:${link}`).flatMap((s) => s.apply);
}

/**
 * The commands that add the routes through a link again. The kernel deletes
 * an IPv4 route when the link its next hop leaves by goes down, and does not
 * put it back when the link comes up (only the connected routes of its
 * addresses come back). In a pod, that is every route the steps add there.
 */
function routesThrough(index: StepIndex, link: string, netns: string | undefined): Command[] {
  // A pod's routes leave by its veth, never by lo (in the loopback lab, its only link).
  if (link === 'lo') return [];
  return index.steps(netns ? `pod-route:${netns}` : `route-via:${link}`).flatMap((s) => s.apply);
}

/**
 * The permanent neighbour entries the lab's steps put on a node's link (flannel.1's, one per other node), as they
 * put them. The kernel flushes a device's neighbour entries, permanent ones too, when it goes down or loses its
 * last IPv4 address (neigh_ifdown()): mending either puts them back, or ARP for the next hop goes unanswered on a
 * device that learns nothing (nolearning). Its FDB entries stay (the VXLAN driver flushes only learned ones).
 */
function neighboursOn(index: StepIndex, link: string, netns: string | undefined): Command[] {
  if (netns) return [];
  return index
    .steps(`neighbour-on:${link}`)
    .flatMap((s) => s.effects.filter((e) => e.kind === 'neighbour' && e.dev === link).flatMap(applyOf));
}

/**
 * Links a learner can delete and netlab can remake by its own steps: made in
 * the node by a step that makes no other link (not a veth pair, whose other
 * end lives in a pod) and no bridge (its ports would have to be re-attached).
 */
function deletable(index: StepIndex, step: Step, name: string): boolean {
  return step.creates.filter((c) => c.kind === 'link').length === 1 && !index.bridges.has(name);
}

/**
 * A pod's end of its veth moved out of the pod into the node (`netns 1`: the
 * namespace of the node's PID 1, on a VM and on a simulated node alike). The
 * pod loses its address and routes with it; mending moves it back and gives
 * them again, by the steps that gave them.
 */
function vethMoved(index: StepIndex, link: string, netns: string): Draft {
  const inPod = index.steps(`pod-link:${netns}/${link}`, `pod-route:${netns}`);
  return {
    kind: 'veth-moved',
    subject: `${netns}/${link}`,
    describe: `${link} is moved out of pod namespace ${netns} into the node`,
    netns,
    apply: [ip(netns, 'link', 'set', link, 'netns', '1')],
    mend: [['ip', 'link', 'set', link, 'netns', netns], ...inPod.flatMap((s) => s.apply)],
  };
}

/**
 * An address removed from a link. With a link's last IPv4 address the kernel
 * also flushes every route through it (fib_disable_ip), and adding the
 * address back brings only its connected route: mending adds the others again
 * by the steps that added them.
 */
function addressRemoved(index: StepIndex, address: string, dev: string, netns: string | undefined): Draft {
  return {
    kind: 'address-removed',
    subject: inPod(netns, `${dev}/${ipOf(address)}`),
    describe: `the address ${address} is removed from ${dev}${where(netns)}`,
    ...actsIn(netns),
    apply: [ip(netns, 'address', 'del', address, 'dev', dev)],
    mend: [
      ip(netns, 'address', 'add', address, 'dev', dev),
      ...neighboursOn(index, dev, netns),
      ...routesThrough(index, dev, netns),
    ],
  };
}

/**
 * A rule that drops every packet put first in a pod's INPUT chain, as a
 * firewall inside the container would: the pod's links, addresses and routes
 * are all there, and nothing gets in, not even over its loopback.
 */
function podInputDrop(netns: string, comment: string): Draft {
  const inNs = (...args: string[]): Command => ['ip', 'netns', 'exec', netns, 'iptables', '-w', ...args];
  return {
    kind: 'drop-rule',
    subject: inPod(netns, 'INPUT'),
    describe: `a rule that drops everything is put first in the INPUT chain of pod namespace ${netns}`,
    netns,
    apply: [inNs('-I', 'INPUT', '1', ...dropRule(comment))],
    mend: [inNs('-D', 'INPUT', ...dropRule(comment))],
  };
}

/** A rule that drops everything, marked as a fault's: deleting it can only ever delete this very rule. */
const dropRule = (comment: string) => ['-m', 'comment', '--comment', comment, '-j', 'DROP'];

function linkFaults(declared: Extract<Created, { kind: 'link' }>, { index, step, node, replan }: Around): Draft[] {
  if (declared.netns) return [vethMoved(index, declared.name, declared.netns)];
  if (!deletable(index, step, declared.name)) return [];
  const { name } = declared;
  const again = remake(index, name);
  const drafts: Draft[] = [
    {
      kind: 'link-deleted',
      subject: name,
      describe: `${name} is deleted`,
      apply: [['ip', 'link', 'del', name]],
      mend: again,
    },
  ];
  if (!declared.tunnel) return drafts;
  // The kernel cannot change a VXLAN's VNI or port in place ("Cannot change VNI"): the device is made again,
  // by the steps of the same lab planned with the wrong value (a kind whose device has no such value makes
  // the same commands, and has no such fault).
  const { vni, port } = declared.tunnel;
  for (const [kind, right, wrong, settings] of [
    ['vni-changed', vni, vni + 1, { id: vni + 1 }],
    ['port-changed', port, port + 1, { port: port + 1 }],
  ] as const) {
    const wrongNode = replan(settings).nodes.find((n) => n.node === node.node)!;
    const wrongly = remake(new StepIndex(wrongNode), name);
    if (JSON.stringify(wrongly) === JSON.stringify(again)) continue;
    drafts.push({
      kind,
      subject: name,
      describe: `${name} is made again with ${kind === 'vni-changed' ? 'VNI' : 'UDP port'} ${wrong} instead of ${right}`,
      apply: [['ip', 'link', 'del', name], ...wrongly],
      mend: [['ip', 'link', 'del', name], ...again],
    });
  }
  return drafts;
}

/**
 * Where a wrong FDB entry points: another node than the right one, as a stale
 * control plane would leave it; in a lab of two nodes, the node itself.
 */
function wrongNode({ plan, node }: Around, right: string, taken: readonly string[] = []): string {
  const others = plan.nodes.map((n) => n.facts.address).filter((a) => a !== right && !taken.includes(a));
  return others.find((a) => a !== node.facts.address) ?? node.facts.address;
}

/** A MAC next to the right one that no VTEP has (the last byte plus one). */
function otherMac(mac: string): string {
  const bytes = mac.split(':');
  bytes[5] = ((parseInt(bytes[5]!, 16) + 1) % 256).toString(16).padStart(2, '0');
  return bytes.join(':');
}

function neighbourFaults(declared: Extract<Created, { kind: 'neighbour' }>, { node }: Around): Draft[] {
  const { address, mac, dev } = declared;
  const entry = (lladdr: string): Command => [
    'ip',
    'neigh',
    'replace',
    address,
    'lladdr',
    lladdr,
    'dev',
    dev,
    'nud',
    'permanent',
  ];
  const drafts: Draft[] = [
    {
      kind: 'neighbour-removed',
      subject: `${dev}/${address}`,
      describe: `the neighbour entry ${address} → ${mac} on ${dev} is removed`,
      apply: [['ip', 'neigh', 'del', address, 'dev', dev]],
      mend: [['ip', 'neigh', 'add', address, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']],
    },
  ];
  // The wrong MAC is another VTEP's, as a stale control plane would leave it, or one no VTEP has.
  const other = node.steps
    .flatMap((s) => s.creates)
    .find((c): c is typeof declared => c.kind === 'neighbour' && c.dev === dev && c.mac !== mac);
  const wrong = other?.mac ?? otherMac(mac);
  drafts.push({
    kind: 'neighbour-wrong-mac',
    subject: `${dev}/${address}`,
    describe: `the neighbour entry for ${address} on ${dev} says ${wrong} instead of ${mac}`,
    apply: [entry(wrong)],
    mend: [entry(mac)],
  });
  return drafts;
}

function fdbFaults(declared: Extract<Created, { kind: 'fdb' }>, around: Around): Draft[] {
  const { mac, dev, dst } = declared;
  const entry = (verb: string, to: string): Command => ['bridge', 'fdb', verb, mac, 'dev', dev, 'dst', to];
  // The all-zero MAC is a flood list, one entry per peer (VXLAN across a router): its peer tells them apart, by
  // name (a fault's id is the same on simulated nodes and on machines, whose addresses differ).
  const flood = mac === '00:00:00:00:00:00';
  const peer = around.plan.nodes.find((n) => n.facts.address === dst)?.node ?? dst;
  const subject = flood ? `${dev}/${mac}@${peer}` : `${dev}/${mac}`;
  const drafts: Draft[] = [
    {
      kind: 'fdb-removed',
      subject,
      describe: `the FDB entry ${mac} → ${dst} on ${dev} is removed`,
      apply: [entry('del', dst)],
      mend: [entry('append', dst)],
    },
  ];
  // In a flood list, not a peer the list has already: appended again it would change nothing, and its mend's
  // delete would take the lab's own entry.
  const listed = flood
    ? around.node.steps.flatMap((s) =>
        s.creates.flatMap((c) => (c.kind === 'fdb' && c.dev === dev && c.mac === mac ? [c.dst] : [])),
      )
    : [];
  const wrong = wrongNode(around, dst, listed);
  drafts.push({
    kind: 'fdb-wrong-node',
    subject,
    describe: `the FDB entry for ${mac} on ${dev} sends to ${wrong} instead of ${dst}`,
    apply: [entry('del', dst), entry('append', wrong)],
    mend: [entry('del', wrong), entry('append', dst)],
  });
  return drafts;
}

function ruleFaults(declared: Extract<Created, { kind: 'rule' }>, position: number): Draft[] {
  const { table, chain, rule } = declared;
  const text = `${chain} ${rule.join(' ')}`;
  const drafts: Draft[] = [
    {
      kind: 'rule-removed',
      subject: `${chain}#${position}`,
      describe: `the rule "${text}" is removed`,
      apply: [iptables(table, '-D', chain, ...rule)],
      mend: [iptables(table, '-I', chain, String(position), ...rule)],
    },
  ];
  const { dnat } = declared;
  if (dnat) {
    // Nothing listens on the port after the one the backend listens on (verify's listeners use targetPort).
    const dead = { ...dnat, port: dnat.port + 1 };
    drafts.push({
      kind: 'dnat-dead-port',
      subject: `${chain}#${position}`,
      describe: `the DNAT in ${chain} sends to ${dead.address}:${dead.port}, where nothing listens, instead of ${dnat.address}:${dnat.port}`,
      apply: [iptables(table, '-R', chain, String(position), ...dnatRule(dead).rule)],
      mend: [iptables(table, '-R', chain, String(position), ...rule)],
    });
  }
  return drafts;
}

/**
 * The lab's ACCEPT chain (acceptChainOf) lets pod traffic through only where FORWARD's policy is DROP (Docker's,
 * a hardened host's); under a node's default ACCEPT, taking out its jump or one of its rules changes nothing, so
 * neither is offered as a fault (forward-drop takes out the jump with the policy DROP, drop-rule drops the traffic
 * before it).
 */
const BREAKS_NOTHING_ALONE = { notOffered: true } as const;

/** Why a fault is not offered (notOffered), for a lab file or a challenge that names it: the ACCEPT chain's. */
export function whyNotOffered(fault: Pick<Fault, 'node'>): string {
  const { node } = fault;
  return `the lab's ACCEPT chain (its jump from FORWARD and its rules) lets pod traffic through only where FORWARD's policy is DROP, and a node's is ACCEPT: taken out alone it breaks nothing; forward-drop:${node}:FORWARD takes out its jump with the policy DROP, drop-rule:${node}:FORWARD drops the pods' traffic before it`;
}

function jumpFaults(
  declared: Extract<Change, { kind: 'jump' }>,
  { node, comment, cidr, acceptChain }: Around,
): Draft[] {
  const { table, from, to, rule } = declared;
  // The lab's jumps out of the same built-in chain, in plan order (FORWARD: its ACCEPT chain, then its policies).
  const siblings = node.steps.flatMap((s) =>
    s.sets.filter((c): c is typeof declared => c.kind === 'jump' && c.table === table && c.from === from),
  );
  const first = siblings[0]?.to === to;
  // The lab's jumps carry its comment; -D needs the rule exactly as it was added (the declaration's).
  // One inserted first when its step runs has the ones inserted after it in the plan before it: mended, it goes
  // back to that place (the ACCEPT chain's jump after the policies' jump). One appended (nat's: after Docker's
  // and kube-proxy's own jumps) is appended again, never put before them.
  const inserted = siblings.filter((s) => s.first);
  const putBack = declared.first ? ['-I', from, String(inserted.length - inserted.indexOf(declared))] : ['-A', from];
  const removed: Draft = {
    kind: 'jump-removed',
    // Named by its chain alone where it is the only one, as in every lab without policies.
    subject: siblings.length > 1 && !first ? `${from}/${to}` : from,
    describe: `the jump from ${from} to ${to} is removed`,
    apply: [iptables(table, '-D', from, ...rule)],
    mend: [iptables(table, ...putBack, ...rule)],
  };
  if (!(table === 'filter' && from === 'FORWARD' && to === acceptChain)) return [removed];
  // The jump to the lab's ACCEPT chain: with DROP (what Docker sets, and hardened hosts) it is what lets pod
  // traffic through; taken out alone, under a node's default ACCEPT, it breaks nothing (BREAKS_NOTHING_ALONE).
  // The mend shown says ACCEPT, the policy of a fresh node; netlab itself puts back the
  // policy the fault replaced (setting), and only while it is still the fault's DROP.
  // The DROP rules put first in FORWARD carry the fault's comment: its mend deletes those
  // rules and nothing else, whatever DROP rules the machine has of its own. They drop the
  // pods' traffic alone (from or to the cluster CIDR): what else the machine forwards (Docker's,
  // a VM's, another lab's) goes on.
  const drops = ['-s', '-d'].map((end) => [end, cidr, ...dropRule(comment)]);
  return [
    { ...removed, ...BREAKS_NOTHING_ALONE },
    {
      kind: 'drop-rule',
      subject: from,
      describe: `rules that drop the pods' traffic (from or to ${cidr}) are put first in FORWARD, before the jump to ${to}`,
      // (each inserted first: the last inserted stands first, and FORWARD reads -s, then -d)
      apply: [...drops].reverse().map((rule) => iptables(table, '-I', from, '1', ...rule)),
      mend: drops.map((rule) => iptables(table, '-D', from, ...rule)),
      onTheMachine: true,
    },
    withSetting(
      { ...removed, kind: 'forward-drop', describe: `FORWARD's policy is DROP and the jump to ${to} is removed` },
      { kind: 'policy', chain: 'FORWARD', value: FAULT_VALUES.policy, mended: 'ACCEPT' },
    ),
  ];
}

function faultsFor(declared: Created | Change, around: Around, rulePosition: number): Draft[] {
  const { step } = around;
  switch (declared.kind) {
    case 'route': {
      const { dst, via, dev, netns } = declared;
      // Mended by the effect that made it (with its onlink, if any).
      const made = step.effects.find((e) => e.kind === 'route' && e.dst === dst && e.netns === netns);
      if (!made) return [];
      const spec = [dst, ...(via ? ['via', via] : []), ...(dev ? ['dev', dev] : [])];
      return [
        {
          kind: 'route-deleted',
          subject: inPod(netns, dst),
          describe: `the route to ${dst}${where(netns)} is deleted`,
          ...actsIn(netns),
          apply: [ip(netns, 'route', 'del', ...spec)],
          mend: applyOf(made),
        },
      ];
    }
    case 'netns':
      return [podInputDrop(declared.name, around.comment)];
    case 'link':
      return linkFaults(declared, around);
    case 'address':
      return [addressRemoved(around.index, declared.address, declared.dev, declared.netns)];
    case 'moved':
      return [vethMoved(around.index, declared.link, declared.netns)];
    case 'up':
      return [
        // The kernel gives lo 127.0.0.1/8 when it comes up: the address the loopback lab's containers talk over.
        ...(declared.link === 'lo' ? [addressRemoved(around.index, '127.0.0.1/8', 'lo', declared.netns)] : []),
        {
          kind: 'link-down',
          subject: inPod(declared.netns, declared.link),
          describe: `${declared.link}${where(declared.netns)} is set down`,
          ...actsIn(declared.netns),
          apply: [ip(declared.netns, 'link', 'set', declared.link, 'down')],
          mend: [
            ip(declared.netns, 'link', 'set', declared.link, 'up'),
            ...neighboursOn(around.index, declared.link, declared.netns),
            ...routesThrough(around.index, declared.link, declared.netns),
          ],
        },
      ];
    case 'sysctl':
      return [
        withSetting(
          { kind: 'sysctl-off', subject: declared.key, describe: `${declared.key} is set to 0`, apply: [], mend: [] },
          { kind: 'sysctl', key: declared.key, value: FAULT_VALUES.sysctl, mended: declared.value },
        ),
      ];
    case 'hairpin':
      return [
        {
          kind: 'hairpin-off',
          subject: declared.port,
          describe: `hairpin mode is turned off on ${declared.port}`,
          apply: [['bridge', 'link', 'set', 'dev', declared.port, 'hairpin', 'off']],
          mend: [['bridge', 'link', 'set', 'dev', declared.port, 'hairpin', 'on']],
        },
      ];
    case 'mtu': {
      // A node end of a pod's veth 50 bytes short of what the pods send: the kernel drops every
      // full-size packet that would cross it, in both directions, and tells nobody. (A pod's own
      // end set lower only makes its TCP pick smaller segments; a bridge's own MTU is not what
      // its ports forward by.)
      const { link, mtu, netns } = declared;
      if (netns || around.index.bridges.has(link)) return [];
      const wrong = mtu - 50;
      return [
        {
          kind: 'mtu-wrong',
          subject: link,
          describe: `${link}'s MTU is ${wrong} instead of ${mtu}: full-size packets of its pod are dropped there`,
          apply: [['ip', 'link', 'set', link, 'mtu', String(wrong)]],
          mend: [['ip', 'link', 'set', link, 'mtu', String(mtu)]],
        },
      ];
    }
    case 'fdb':
      return fdbFaults(declared, around);
    case 'neighbour':
      return neighbourFaults(declared, around);
    case 'rule':
      if (declared.table === 'filter' && declared.chain === around.acceptChain)
        return ruleFaults(declared, rulePosition).map((draft) => ({ ...draft, ...BREAKS_NOTHING_ALONE }));
      return ruleFaults(declared, rulePosition);
    case 'jump':
      return jumpFaults(declared, around);
    default:
      return [];
  }
}

/**
 * Every fault a lab's plan allows: those of each thing its steps make that a
 * learner can undo or corrupt by hand. `plan`: the lab's plan on these facts,
 * if the command has it already; `run`: the run of the lab the faults are made
 * in (named in the comment of the rules they add). A tunnel made again with a
 * wrong VNI or port comes from the same lab planned with that value.
 */
export function faultsOf(
  model: Model,
  facts: Record<string, NodeFacts>,
  { plan = buildPlan(model, facts), run }: { plan?: Plan; run?: string } = {},
): Fault[] {
  const replanned = new Map<string, Plan>();
  // Called for a tunnel device only (it declares a VNI and a port): the lab has tunnel settings to change.
  const replan = (tunnel: Partial<TunnelSettings>) => {
    const key = JSON.stringify(tunnel);
    if (!replanned.has(key))
      replanned.set(key, buildPlan({ ...model, tunnel: { ...model.tunnel!, ...tunnel } }, facts));
    return replanned.get(key)!;
  };
  const faults: Fault[] = [];
  const comment = faultComment(plan.lab, run);
  const acceptChain = acceptChainOf(model);
  for (const node of plan.nodes) {
    // A rule's position in its chain (1-based), counted as the steps append them.
    const appended = new Map<string, number>();
    const index = new StepIndex(node);
    for (const step of node.steps) {
      for (const declared of [...step.creates, ...step.sets]) {
        let position = 0;
        if (declared.kind === 'rule') {
          const chain = `${declared.table} ${declared.chain}`;
          position = (appended.get(chain) ?? 0) + 1;
          appended.set(chain, position);
        }
        for (const { subject, ...fault } of faultsFor(
          declared,
          { plan, replan, comment, cidr: model.clusterCidr, node, step, index, acceptChain },
          position,
        ))
          faults.push({
            id: `${fault.kind}:${node.node}:${subject}`,
            node: node.node,
            step: { id: step.id, summary: step.summary },
            ...fault,
          });
      }
    }
  }
  return model.instance === undefined ? faults : namedAsTheLabFile(model, facts, faults, run);
}

/**
 * An instance's faults, named as the lab file names them: an instance's chains are named after its own kernel
 * name (`NL-EGRESS-egres-1a2b3c` for egress@g1, where the lab's is `NL-EGRESS-egress`), and a challenge's fault,
 * and a room's landing, are the lab file's ids. The lab without its instance makes the same steps, in the same
 * order, with its own names: each fault takes the id of the fault at its place there.
 */
function namedAsTheLabFile(model: Model, facts: Record<string, NodeFacts>, faults: Fault[], run?: string): Fault[] {
  const { instance: _instance, ...lab } = model;
  const named = faultsOf(lab, facts, run === undefined ? {} : { run });
  if (named.length !== faults.length) return faults;
  return faults.map((fault, i) => ({ ...fault, id: named[i]!.id }));
}

/**
 * A lab's faults, planned with stand-in facts: an id names a node, a kind and
 * what the lab's steps make (a route's prefix, a device, a chain's rule), never
 * a node's underlay address, so it is the same on every target.
 */
function faultsWithStandInFacts(model: Model): Fault[] {
  const standIn: Record<string, NodeFacts> = Object.fromEntries(
    model.nodes.map((n, i) => [n.name, { address: `192.0.2.${i + 1}`, dev: 'eth1', mtu: 1500 }]),
  );
  return faultsOf(model, standIn);
}

/** The faults a lab file may name, by id, and those it may not with why (whyNotOffered). */
export function faultCatalogOf(model: Model): { ids: string[]; notOffered: Map<string, string> } {
  const faults = faultsWithStandInFacts(model);
  return {
    ids: faults.flatMap((f) => (f.notOffered ? [] : [f.id])),
    notOffered: new Map(faults.flatMap((f) => (f.notOffered ? [[f.id, whyNotOffered(f)]] : []))),
  };
}

/** The ids of the faults a lab file may name: those offered (faultCatalogOf). */
export function faultIdsOf(model: Model): string[] {
  return faultCatalogOf(model).ids;
}
