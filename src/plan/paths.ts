// Where netlab keeps its per-lab files on a node. /run is a tmpfs: the records
// vanish at reboot together with the kernel objects they describe.
export const NODE_STATE_ROOT = '/run/netlab';

export function nodeStateDir(lab: string): string {
  return `${NODE_STATE_ROOT}/${lab}`;
}
