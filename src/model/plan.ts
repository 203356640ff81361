// A plan is pure data: per node, ordered steps; each step carries the commands
// that apply it, the commands that undo it, and a one-line reason for a learner.

/** One command as argv. argv[0] is a program, or a netlab_* helper from the script prelude. */
export type Command = readonly string[];

/** Phases run in this order on every node; all nodes finish a phase before the next starts. */
export const PHASES = ['pods', 'network', 'cross-node', 'services', 'policies'] as const;
export type Phase = (typeof PHASES)[number];

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
  | { kind: 'chain'; table: 'filter' | 'nat'; name: string }
  /**
   * a rule appended to one of the lab's own chains, as written after
   * `-A CHAIN` (iptables-save prints it in its own words: node/tables.ts
   * ruleKey compares the two)
   */
  | { kind: 'rule'; table: 'filter' | 'nat'; chain: string; rule: string[] };

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
   * which `iptables -D FROM` needs exactly
   */
  | { kind: 'jump'; table: 'filter' | 'nat'; from: string; to: string; rule: readonly string[] };

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
  apply: Command[];
  undo: Command[];
  creates: Created[];
  sets: Change[];
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

export function step(
  summary: string,
  why: string,
  apply: Command[],
  undo: Command[] = [],
  declared: Declared = {},
): StepDraft {
  return { summary, why, apply, undo, creates: declared.creates ?? [], sets: declared.sets ?? [] };
}
