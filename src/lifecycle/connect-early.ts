// Over SSH, most of the wall time of a short command is the login to the
// nodes: key exchange and login, about 0.3-0.4 s with the nodes in parallel
// (BENCHMARKS.md). `netlab up` starts it as soon as the lab file names its
// nodes, before the rest of netlab loads and validates the lab.
import type { Model } from '../model/lab.js';
import { defaultLabName, LAB_LIMITS, labNameProblem, NAME_PATTERN } from '../model/grammar.js';
import { uncheckedLabData } from '../lab/read.js';
import { sshTarget, wantsSsh, type TargetOptions } from '../exec/targets.js';
import { checkReachable } from '../exec/ssh.js';
import { FACTS_SCRIPT } from '../exec/facts.js';
import type { ScriptResult } from '../exec/transport.js';
import type { SshTargetState } from '../state/targets.js';
import { mark } from '../profile.js';
import { cachedLabModel } from '../lab/cached.js';

/** The SSH target of a lab and the login to its nodes, started before the lab was validated. */
export interface EarlyConnection {
  name: string;
  nodes: string[];
  target: SshTargetState;
  underlay: Record<string, { dev?: string; address?: string }>;
  /** settles when every node answered the facts' questions (their answers), or not (the error) */
  reachable: Promise<{ answered: Record<string, ScriptResult> } | { error: unknown }>;
}

/**
 * Starts logging in to the nodes the lab file names (over SSH; undefined on
 * simulated nodes). `up` adopts the login if the validated lab has the same
 * name and nodes. Only names that pass the name rules and are hosts of the SSH
 * config or inventory are used, and nothing runs on a node until the lab is
 * valid but the facts' questions (exec/facts.ts), which only read: the login
 * asks them, one round less for `up`. Best effort: anything wrong here is left
 * to the validation and the normal path to report, in their order.
 */
export async function connectEarly(file: string, options: TargetOptions): Promise<EarlyConnection | undefined> {
  if (!wantsSsh(options)) return undefined;
  try {
    const { name, names } = await labNodesOf(file);
    if (typeof name !== 'string' || labNameProblem(name) || names === undefined) return undefined;
    if (names.length === 0 || names.length > LAB_LIMITS.nodes || !names.every((n) => NAME_PATTERN.test(n)))
      return undefined;
    const { target, underlay } = await sshTarget(
      { name, nodes: names.map((n) => ({ name: n, underlay: {} })) } as unknown as Model,
      options,
    );
    mark('start the SSH login');
    return {
      name,
      nodes: names,
      target,
      underlay,
      reachable: checkReachable(target, FACTS_SCRIPT).then(
        (answered) => ({ answered }),
        (error: unknown) => ({ error }),
      ),
    };
  } catch {
    return undefined;
  }
}

/**
 * The lab's name and its nodes' names: from the cache of valid labs when the file was read
 * before (about 20 ms sooner: no YAML parser to load), otherwise from the file's YAML, unchecked.
 */
async function labNodesOf(file: string): Promise<{ name: unknown; names?: string[] }> {
  const cached = cachedLabModel(file);
  if (cached) return { name: cached.name, names: cached.nodes.map((n) => n.name) };
  const { name = defaultLabName(file), nodes } = ((await uncheckedLabData(file)) ?? {}) as {
    name?: unknown;
    nodes?: unknown;
  };
  return { name, names: typeof nodes === 'object' && nodes !== null ? Object.keys(nodes) : undefined };
}
