// The faults a learner can make in a lab that is up, each the undoing of one
// thing a step declares it made (model/plan.ts: creates and sets): a route
// deleted, a link down, forwarding or br_netfilter off, hairpin off, a static
// FDB or neighbour entry removed, the jump into one of the lab's chains
// removed. Each fault names the step it breaks, the commands that make it on
// the node, and the commands that mend it. Pure: the fault-matrix test applies
// them, and graded challenges will too.
import type { Change, Command, Created, Plan, Step } from '../model/plan.js';

export type FaultKind =
  'route-deleted' | 'link-down' | 'sysctl-off' | 'hairpin-off' | 'fdb-removed' | 'neighbour-removed' | 'jump-removed';

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
}

/** `ip …` in the pod's namespace when there is one. */
const ip = (netns: string | undefined, ...args: string[]): Command => ['ip', ...(netns ? ['-n', netns] : []), ...args];
const where = (netns: string | undefined) => (netns ? ` in pod namespace ${netns}` : '');

function faultOf(declared: Created | Change): (Omit<Fault, 'id' | 'node' | 'step'> & { subject: string }) | undefined {
  switch (declared.kind) {
    case 'route': {
      const { dst, via, dev, netns } = declared;
      const spec = [dst, ...(via ? ['via', via] : []), ...(dev ? ['dev', dev] : [])];
      return {
        kind: 'route-deleted',
        subject: `${netns ? `${netns}/` : ''}${dst}`,
        describe: `the route to ${dst}${where(netns)} is deleted`,
        apply: [ip(netns, 'route', 'del', ...spec)],
        // Mended by the step's own command (with its onlink, if any): see faultsOf.
        mend: [['@STEP-ROUTE', dst]],
      };
    }
    case 'up':
      return declared.link === 'lo'
        ? undefined
        : {
            kind: 'link-down',
            subject: `${declared.netns ? `${declared.netns}/` : ''}${declared.link}`,
            describe: `${declared.link}${where(declared.netns)} is set down`,
            apply: [ip(declared.netns, 'link', 'set', declared.link, 'down')],
            mend: [ip(declared.netns, 'link', 'set', declared.link, 'up')],
          };
    case 'sysctl':
      return {
        kind: 'sysctl-off',
        subject: declared.key,
        describe: `${declared.key} is set to 0`,
        apply: [['sysctl', '-qw', `${declared.key}=0`]],
        mend: [['sysctl', '-qw', `${declared.key}=${declared.value}`]],
      };
    case 'hairpin':
      return {
        kind: 'hairpin-off',
        subject: declared.port,
        describe: `hairpin mode is turned off on ${declared.port}`,
        apply: [['bridge', 'link', 'set', 'dev', declared.port, 'hairpin', 'off']],
        mend: [['bridge', 'link', 'set', 'dev', declared.port, 'hairpin', 'on']],
      };
    case 'fdb':
      return {
        kind: 'fdb-removed',
        subject: `${declared.dev}/${declared.mac}`,
        describe: `the FDB entry ${declared.mac} → ${declared.dst} on ${declared.dev} is removed`,
        apply: [['bridge', 'fdb', 'del', declared.mac, 'dev', declared.dev, 'dst', declared.dst]],
        mend: [['bridge', 'fdb', 'append', declared.mac, 'dev', declared.dev, 'dst', declared.dst]],
      };
    case 'neighbour':
      return {
        kind: 'neighbour-removed',
        subject: `${declared.dev}/${declared.address}`,
        describe: `the neighbour entry ${declared.address} → ${declared.mac} on ${declared.dev} is removed`,
        apply: [['ip', 'neigh', 'del', declared.address, 'dev', declared.dev]],
        mend: [
          ['ip', 'neigh', 'add', declared.address, 'lladdr', declared.mac, 'dev', declared.dev, 'nud', 'permanent'],
        ],
      };
    case 'jump': {
      const table = declared.table === 'nat' ? ['-t', 'nat'] : [];
      // The lab's jumps carry its comment; -D needs the rule exactly as it was added.
      return {
        kind: 'jump-removed',
        subject: declared.from,
        describe: `the jump from ${declared.from} to ${declared.to} is removed`,
        apply: [['iptables', '-w', ...table, '-D', declared.from, '@RULE']],
        mend: [['iptables', '-w', ...table, '-I', declared.from, '1', '@RULE']],
      };
    }
    default:
      return undefined;
  }
}

/** The rule of a jump as the step's own undo deletes it: `-m comment --comment … -j CHAIN`. */
function jumpRule(step: Step, from: string, to: string): string[] | undefined {
  for (const c of step.undo) {
    const at = c.indexOf('-D');
    if (at >= 0 && c[at + 1] === from && c.at(-1) === to) return c.slice(at + 2);
  }
  return undefined;
}

/** Every fault a plan allows: one per thing its steps make that a learner can undo by hand. */
export function faultsOf(plan: Plan): Fault[] {
  const faults: Fault[] = [];
  for (const node of plan.nodes) {
    for (const step of node.steps) {
      for (const declared of [...step.creates, ...step.sets]) {
        const fault = faultOf(declared);
        if (!fault) continue;
        const { subject, ...rest } = fault;
        let { apply, mend } = fault;
        if (declared.kind === 'route') {
          const made = step.apply.find((c) => c.includes('route') && c.includes('add') && c.includes(declared.dst));
          if (!made) continue;
          mend = [made];
        }
        if (declared.kind === 'jump') {
          const rule = jumpRule(step, declared.from, declared.to);
          if (!rule) continue;
          const expand = (c: Command) => c.flatMap((word) => (word === '@RULE' ? rule : [word]));
          [apply, mend] = [apply.map(expand), mend.map(expand)];
        }
        faults.push({
          id: `${fault.kind}:${node.node}:${subject}`,
          node: node.node,
          step: { id: step.id, summary: step.summary },
          ...rest,
          apply,
          mend,
        });
      }
    }
  }
  return faults;
}
