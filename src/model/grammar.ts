// Grammars for every value that ends up in a command on a node. Validation
// checks them before anything runs; quoteArg (src/os/quote.ts) then quotes
// them anyway. Linux limits interface names to IFNAMSIZ-1 = 15 bytes.
import { createHash } from 'node:crypto';

export const IFNAME_MAX = 15;
/** Pod names become interface names `veth-<pod>-c`: 5 + 8 + 2 = 15 characters. */
export const POD_NAME_MAX = 8;
export const NODE_NAME_MAX = 15;
/**
 * Lab and instance names are the user's: up to 32 characters. The kernel gets a
 * short name derived from them (kernelLabName): iptables chain names are at
 * most 28 characters, and netlab's longest is a pod's policy chain.
 */
export const LAB_NAME_MAX = 32;
export const INSTANCE_NAME_MAX = 32;

/** A run's id, as `up` makes it (6 random bytes in hex) and nodes record it: nothing else is taken for one. */
export const RUN_ID = /^[0-9a-f]{12}$/;

/** Characters allowed in every name; a name may not start with '-' or '.' (no option or path tricks). */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
export const NAME_RULE = "letters, digits, '_', '.' and '-', not starting with '-' or '.'";

export const LAB_NAME_PATTERN = NAME_PATTERN;
export const LAB_NAME_RULE = NAME_RULE;

/** Why a text is not a lab name (undefined: it is one). Lab names become state file names. */
export function labNameProblem(name: string): string | undefined {
  if (name.length <= LAB_NAME_MAX && LAB_NAME_PATTERN.test(name)) return undefined;
  return `a lab name is ${LAB_NAME_RULE}, at most ${LAB_NAME_MAX} characters`;
}

/** Why a text is not an instance name (undefined: it is one). */
export function instanceNameProblem(name: string): string | undefined {
  if (name.length <= INSTANCE_NAME_MAX && NAME_PATTERN.test(name)) return undefined;
  return `an instance name is ${NAME_RULE}, at most ${INSTANCE_NAME_MAX} characters`;
}

/**
 * A lab's identity on this controller and on its nodes: the lab's name, and
 * the instance after an '@' (`vxlan@g2`) when it is one of several copies.
 * No name may contain '@', so the id splits back unambiguously.
 */
export function labId(name: string, instance?: string): string {
  return instance === undefined ? name : `${name}@${instance}`;
}

/** Why a text is not a lab id (undefined: it is one). */
export function labIdProblem(id: string): string | undefined {
  const [name = '', instance, ...more] = id.split('@');
  if (more.length) return 'a lab id is a lab name, and an instance after one @';
  return labNameProblem(name) ?? (instance === undefined ? undefined : instanceNameProblem(instance));
}

/** A name the kernel takes as it is in every place netlab puts a lab's name: chains, comments, paths. */
const KERNEL_LAB_NAME = /^[a-z0-9][a-z0-9-]{0,11}$/;

/**
 * The short name of a lab id in kernel objects and on the nodes: iptables
 * chains (NL-PI-<name>_<pod> must fit 28 characters), the comments on the
 * jumps, the lab's directory under /run/netlab. A lab without an instance whose
 * name fits (12 characters of a-z, 0-9 and '-') keeps it, as every bundled lab
 * does; any other id gets its first letters and a hash of the whole id
 * (`nodepo-3f2a9c`): the same for the same lab and instance, different for
 * another instance. Recorded in the state and shown by plan and show.
 */
export function kernelLabName(id: string): string {
  if (KERNEL_LAB_NAME.test(id)) return id;
  const prefix =
    id
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(0, 5) || 'lab';
  return `${prefix}-${createHash('sha256').update(id).digest('hex').slice(0, 6)}`;
}

/**
 * Bounds on what one lab may ask for: what the bundled scale lab needs (3 nodes
 * × 250 pods, 4 checks), with room to spare. Past them a lab file is a mistake
 * or an attack: a 50 KB file asking for 1000 nodes × 1000 pods would take
 * minutes to validate and gigabytes to plan. The counts of the file are checked
 * before anything else; what it expands to (a policy's rules are its pods ×
 * peers × ports) is counted from the model before anything is planned.
 */
export const LAB_LIMITS = {
  nodes: 32,
  /** pods in the whole lab, listed and counted (nodes.X.pods) */
  pods: 2000,
  /** underlay routers: each is a process of its own on simulated nodes, all started at once */
  routers: 16,
  /** underlay networks: at most one per node, and some between routers */
  networks: 32,
  services: 64,
  policies: 64,
  /** rules of one policy, and peers or ports of one rule */
  policyRules: 32,
  /** peers of all policies together: each is matched against every pod of the lab */
  policyPeers: 256,
  /**
   * iptables rules in the policy chains of one node, and of all nodes together
   * (policy rules are selected pods × peer addresses × ports: 2 × 1000 pods
   * and one policy of every pod from every pod would be 4 million). The
   * bundled policy lab needs 16; 1000 isolated pods with a few rules each fit.
   */
  policyRulesPerNode: 10_000,
  policyRulesInAll: 50_000,
  /** checks derived without a verify: section (a ring of pings and TCP, and every pod to every Service) */
  derivedChecks: 10_000,
  /** backends of one Service */
  backends: 64,
  /** connections of one Service check: as many as a Service of the most backends needs (1142 for 64: verify/stats.ts) */
  connections: 2000,
  /** bytes a bulk TCP check sends */
  bytes: 100_000_000,
  checks: 256,
  exercises: 64,
  challenges: 32,
  /** hints of one challenge */
  hints: 10,
  /** characters of a description or an exercise */
  text: 1000,
} as const;

/**
 * Free text (description, exercises) is printed as it is by plan and labs:
 * control characters (which could fake lines or drive the terminal), the
 * Unicode controls that reorder text (as errors.ts escapeControls has them),
 * and the line and paragraph separators (U+2028, U+2029: YAML's "\L" and
 * "\P"), which JSON keeps raw and a reader of lines may split at, are refused.
 */
export const FREE_TEXT_PATTERN = /^[^\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/u;
export const FREE_TEXT_RULE = 'text without control characters (no newlines, tabs or escape sequences)';

/** Kubernetes' label syntax, without a key's optional prefix/ (63 characters, alphanumeric at both ends). */
export const LABEL_PATTERN = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;
export const LABEL_RULE = "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit";

/** Lab files are a few kilobytes; anything near this is a mistake or an attack. */
export const MAX_LAB_BYTES = 1024 * 1024;

/** "labs/vxlan-3.yaml" → "vxlan-3", the name of a lab file that gives none (validated like a name from the file). */
export function defaultLabName(file: string): string {
  return (file.split('/').pop() ?? file).replace(/\.ya?ml$/i, '').toLowerCase();
}

export function isName(text: string, max: number): boolean {
  return text.length <= max && NAME_PATTERN.test(text);
}
