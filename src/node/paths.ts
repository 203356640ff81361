// Where netlab keeps its per-lab files on a node. /run is a tmpfs: the records
// vanish at reboot together with the kernel objects they describe.
import { labNameProblem } from '../model/grammar.js';

export const NODE_STATE_ROOT = '/run/netlab';

/**
 * A lab's directory on a node. Lab names are checked where they enter (the lab
 * file, the command line); this second check makes sure that no path is ever
 * built from a name that skipped them (an empty name would be /run/netlab/ itself).
 */
export function nodeStateDir(lab: string): string {
  return `${NODE_STATE_ROOT}/${checkedLabName(lab)}`;
}

/** The name itself, if it is a lab name; an internal error otherwise (a code path that skipped the check). */
export function checkedLabName(lab: string): string {
  const problem = labNameProblem(lab);
  if (problem) throw new Error(`internal error: unchecked lab name ${JSON.stringify(lab)} (${problem})`);
  return lab;
}
