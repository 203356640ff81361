// A plan is pure data: per node, ordered steps; each step carries the commands
// that apply it, the commands that undo it, and a one-line reason for a learner.

/** One command as argv. argv[0] is a program, or a netlab_* helper from the script prelude. */
export type Command = readonly string[];

/** Phases run in this order on every node; all nodes finish a phase before the next starts. */
export const PHASES = ['pods', 'network', 'cross-node', 'services'] as const;
export type Phase = (typeof PHASES)[number];

export interface Step {
  /** 1-based position in this node's plan; stable across runs of the same lab */
  id: number;
  node: string;
  phase: Phase;
  summary: string;
  why: string;
  apply: Command[];
  undo: Command[];
}

/** What netlab must know about a node that the lab file does not say. */
export interface NodeFacts {
  /** underlay address without prefix, e.g. 192.168.64.4 */
  address: string;
  /** underlay interface, e.g. eth1 */
  dev: string;
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

export function step(summary: string, why: string, apply: Command[], undo: Command[] = []): StepDraft {
  return { summary, why, apply, undo };
}
