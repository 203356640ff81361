// A plan is pure data: per node, ordered steps; each step lists its effects
// (typed records of what it changes), the commands that apply and undo them,
// and a one-line reason for a learner.

/** One command as argv. argv[0] is a program, or a netlab_* helper from the script prelude. */
export type Command = readonly string[];

/** Phases run in this order on every node (with `up --step`, all nodes finish a phase before the next starts). */
export const PHASES = ['pods', 'network', 'cross-node', 'services', 'policies'] as const;
export type Phase = (typeof PHASES)[number];

/** An iptables table netlab writes to. */
export type Table = 'filter' | 'nat';

/**
 * What a step creates on the node, declared beside its commands so that the
 * ownership check (preflight), the drift check (status, verify's diagnosis)
 * and trace's hints read declarations instead of re-reading argv. netns is
 * the pod namespace the object lives in; absent: the node's own.
 */
export type Created =
  | { kind: 'netns'; name: string }
  /** the pause process holding a pod's namespaces (netlab_pause) */
  | { kind: 'pause'; pod: string }
  | {
      kind: 'link';
      name: string;
      netns?: string;
      /** a tunnel's VNI and UDP port, which must be the same on every node (ip -d link's id and port) */
      tunnel?: { vni: number; port: number };
    }
  /** address with prefix, e.g. 10.200.0.1/24 */
  | { kind: 'address'; address: string; dev: string; netns?: string }
  | { kind: 'route'; dst: string; via?: string; dev?: string; netns?: string }
  | { kind: 'neighbour'; address: string; mac: string; dev: string }
  | { kind: 'fdb'; mac: string; dev: string; dst: string }
  | { kind: 'chain'; table: Table; name: string }
  /**
   * a rule appended to one of the lab's own chains, as written after
   * `-A CHAIN` (iptables-save prints it in its own words: node/tables.ts
   * ruleKey compares the two)
   */
  | { kind: 'rule'; table: Table; chain: string; rule: string[]; dnat?: Dnat };

/** What a step changes on something (its own or the node's). */
export type Change =
  | { kind: 'sysctl'; key: string; value: string }
  | { kind: 'up'; link: string; netns?: string }
  | { kind: 'master'; link: string; bridge: string }
  /** the link leaves the node for this pod namespace */
  | { kind: 'moved'; link: string; netns: string }
  | { kind: 'hairpin'; port: string; on: boolean }
  /** the link's MTU (the largest packet it carries, without its Ethernet header) */
  | { kind: 'mtu'; link: string; netns?: string; mtu: number }
  /**
   * a rule in a built-in chain that jumps to one of the lab's chains: `rule`
   * is its words after the chain, as added (`-m comment --comment … -j TO`),
   * which `iptables -D FROM` needs exactly; `first`: inserted at the top of FROM (else appended)
   */
  | { kind: 'jump'; table: Table; from: string; to: string; rule: readonly string[]; first: boolean };

/** Where a DNAT rule sends a connection: what a fault that breaks it needs to know, typed. */
export interface Dnat {
  protocol: 'tcp' | 'udp';
  address: string;
  port: number;
}

/**
 * An iptables rule of one of the lab's chains: its words after `-A CHAIN`, and
 * what it does; a DNAT rule also says where it sends (model/effects.ts dnatRule
 * makes both from one record).
 */
export interface ExplainedRule {
  rule: string[];
  explain: string;
  /** where a DNAT rule sends: set by dnatRule only, with the words it makes */
  dnat?: Dnat;
}

/** A rule of one of the lab's chains in a ruleset, with the chain it is appended to. */
export interface ChainRule extends ExplainedRule {
  chain: string;
}

/** A jump from a built-in chain into one of the lab's chains, marked as netlab's by `comment`, and why it is there. */
export interface RulesetJump {
  from: string;
  to: string;
  comment: string;
  explain: string;
}

/** A command of netlab's own (a helper, a tool's call) and what it does, for `plan --explain`. */
export interface ExplainedCommand {
  command: Command;
  explain: string;
  /** the plain commands a learner types for it, where it is one of netlab's shell helpers (model/by-hand.ts) */
  byHand?: string[];
}

/**
 * One change a step makes, as a typed record: model/effects.ts derives from it
 * the commands that apply and undo it, what it declares and its explanation.
 * Where a kind's meaning is its wiring module's to say (a tunnel device, an
 * FDB entry, a rule), the record carries that module's explanation.
 */
export type Effect =
  | { kind: 'netns'; name: string }
  /** IPv6 off in a pod's namespace before its interfaces arrive (netlab_ipv4_only) */
  | { kind: 'ipv4-only'; netns: string }
  /** the pause process holding a pod's namespaces (netlab_pause) */
  | { kind: 'pause'; netns: string; mount: boolean }
  /** a container: a process in the pod's namespaces (netlab_container), chrooted in `root` if given */
  | { kind: 'container'; netns: string; name: string; root?: string }
  /**
   * A veth pair NAME <-> PEER. Made in the node, its undo is `delete` NAME,
   * or `unless-moved`: delete NAME only while PEER is still in the node (once
   * moved, the pod's namespace takes the pair with it). Made with PEER
   * directly in `peerNetns`, it has none: deleting that namespace deletes the pair.
   */
  | { kind: 'veth'; name: string; peer: string; undo: 'delete' | 'unless-moved' }
  | { kind: 'veth'; name: string; peer: string; peerNetns: string }
  /**
   * A bridge, with a MAC address of its own: one never set takes the lowest
   * MAC of its ports and changes it as ports come and go (br_stp_recalculate_bridge_id).
   */
  | { kind: 'bridge'; name: string; mac: string }
  /**
   * A tunnel device a cross-node kind makes (its wiring module writes the
   * words after `ip link add NAME` or `ip tunnel add NAME`, and says what they
   * do); `tunnel`: its VNI and UDP port, which must be the same on every node.
   */
  | {
      kind: 'device';
      name: string;
      command: 'link' | 'tunnel';
      words: string[];
      tunnel?: { vni: number; port: number };
      explain: string;
    }
  /** address with prefix, e.g. 10.200.0.1/24 */
  | { kind: 'address'; address: string; dev: string; netns?: string }
  | { kind: 'route'; dst: string; via?: string; dev?: string; onlink?: boolean; netns?: string }
  | { kind: 'up'; link: string; netns?: string }
  | { kind: 'master'; link: string; bridge: string }
  /** the link leaves the node for this pod namespace */
  | { kind: 'move'; link: string; netns: string }
  /** `oneSegment`: gso_max_segs 1, the kernel hands the link one TCP segment at a time */
  | { kind: 'mtu'; link: string; mtu: number; netns?: string; oneSegment?: boolean }
  | { kind: 'hairpin'; port: string; on: boolean }
  /** a permanent neighbour (ARP) entry */
  | { kind: 'neighbour'; address: string; mac: string; dev: string }
  /** an entry of a VXLAN device's own FDB; `replace` makes it the MAC's one destination, else appended; explained by its kind */
  | { kind: 'fdb'; mac: string; dev: string; dst: string; replace: boolean; explain: string }
  /** a sysctl set through netlab_sysctl, which records the old value for down */
  | { kind: 'sysctl'; key: string; value: string }
  | { kind: 'chain'; table: Table; name: string }
  /** rules appended to one of the lab's chains; undone by flushing the chain */
  | { kind: 'rules'; table: Table; chain: string; rules: ExplainedRule[] }
  /**
   * The lab's own chains of one table, the rules appended to them and the
   * jumps into them, written by one iptables-restore --noflush (netlab_restore):
   * one transaction, as kube-proxy writes its rules. Undone jumps first, then
   * the chains flushed and deleted.
   */
  | { kind: 'ruleset'; table: Table; chains: string[]; jumps: RulesetJump[]; rules: ChainRule[] }
  /**
   * A rule in a built-in chain that jumps to one of the lab's chains, marked
   * as netlab's by `comment`; `first` inserts it at the top, else it is
   * appended; `explain` says why it is there, where the default does not.
   */
  | { kind: 'jump'; table: Table; from: string; to: string; comment: string; first: boolean; explain?: string }
  /**
   * The one escape: netlab's own helpers whose commands are theirs to say (a
   * root filesystem unpacked and mounted), each with what it does; they make
   * nothing the kernel's tables show, so they declare nothing. `netns`: the
   * pod it acts in, if any.
   */
  | {
      kind: 'helper';
      apply: ExplainedCommand[];
      undo: Command[];
      netns?: string;
    };

export interface Declared {
  creates?: Created[];
  sets?: Change[];
}

export interface Step {
  /** 1-based position in this node's plan; stable across runs of the same lab */
  id: number;
  node: string;
  phase: Phase;
  summary: string;
  why: string;
  /**
   * What the step changes, in order. Its commands, undo and declarations are
   * derived from them, once, by model/effects.ts `step()`: read-only, so that
   * nothing changes one without the others.
   */
  readonly effects: readonly Effect[];
  readonly apply: readonly Command[];
  readonly undo: readonly Command[];
  readonly creates: readonly Created[];
  readonly sets: readonly Change[];
}

/** What netlab must know about a node that the lab file does not say. */
export interface NodeFacts {
  /** underlay address without prefix, e.g. 192.168.64.4 */
  address: string;
  /** underlay interface, e.g. eth1 */
  dev: string;
  /** the underlay interface's MTU; absent in state files before it: 1500, Ethernet's */
  mtu?: number;
}

export interface NodePlan {
  node: string;
  facts: NodeFacts;
  steps: Step[];
}

export interface Plan {
  lab: string;
  nodes: NodePlan[];
}

/** Steps before numbering: builders return these, buildPlan assigns ids. */
export type StepDraft = Omit<Step, 'id' | 'node' | 'phase'>;
