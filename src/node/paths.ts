// Where netlab keeps its per-lab files on a node. /run is a tmpfs: the records
// vanish at reboot together with the kernel objects they describe.
import { kernelLabName, labIdProblem } from '../model/grammar.js';

export const NODE_STATE_ROOT = '/run/netlab';

/**
 * A lab's directory on a node, named by the lab's kernel name (one per lab and
 * instance). Lab ids are checked where they enter (the lab file, the command
 * line); this second check makes sure that no path is ever built from one that
 * skipped them (an empty name would be /run/netlab/ itself).
 */
export function nodeStateDir(lab: string): string {
  return `${NODE_STATE_ROOT}/${kernelLabName(checkedLabName(lab))}`;
}

/** The lab id itself, if it is one (lab or lab@instance); an internal error otherwise (a code path that skipped the check). */
export function checkedLabName(lab: string): string {
  const problem = labIdProblem(lab);
  if (problem) throw new Error(`internal error: unchecked lab name ${JSON.stringify(lab)} (${problem})`);
  return lab;
}
