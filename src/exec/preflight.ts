// Before anything changes: every node has the tools and kernel features the lab
// needs. Each missing piece is reported with what to install; nothing is changed.
import { labIdOf } from '../model/lab.js';
import { RUN_ID } from '../model/grammar.js';
import { FAULT_VALUES } from '../model/effects.js';
import type { Model } from '../model/lab.js';
import type { Step } from '../model/plan.js';
import { type Answers, parseAnswers, type Questions, questionLines } from '../node/query.js';
import { routeKey } from '../node/tables.js';
import { contains, ipOf, overlaps, parseCidr, parseIp } from '../net/ipv4.js';
import { quoteArg } from '../os/quote.js';
import { describeRun } from '../state/store.js';
import { wiringOf } from '../wiring/registry.js';
import type { Feature, NeededSysctl, NetfilterExtension } from '../wiring/types.js';

interface Tool {
  command: string;
  package: string;
}

const TOOLS: Record<string, Tool> = {
  ip: { command: 'ip', package: 'iproute2' },
  bridge: { command: 'bridge', package: 'iproute2' },
  ss: { command: 'ss', package: 'iproute2' },
  unshare: { command: 'unshare', package: 'util-linux' },
  nsenter: { command: 'nsenter', package: 'util-linux' },
  sysctl: { command: 'sysctl', package: 'procps' },
  timeout: { command: 'timeout', package: 'coreutils' },
  tac: { command: 'tac', package: 'coreutils' },
  ping: { command: 'ping', package: 'iputils-ping' },
  socat: { command: 'socat', package: 'socat' },
  tar: { command: 'tar', package: 'tar' },
  iptables: { command: 'iptables', package: 'iptables' },
  'iptables-restore': { command: 'iptables-restore', package: 'iptables' },
  conntrack: { command: 'conntrack', package: 'conntrack' },
  traceroute: { command: 'traceroute', package: 'traceroute' },
};

/** What `ip link add` answers for a type the kernel lacks (EOPNOTSUPP; an iproute2 too old to know it). */
const UNKNOWN_TYPE = ['Unknown device type', 'Operation not supported', 'Garbage instead of arguments'];

/** Every lab runs pods and checks: these, plus what its wiring modules need. */
const BASE_TOOLS = ['ip', 'ss', 'unshare', 'nsenter', 'timeout', 'tac', 'ping', 'socat'];

/** What a lab needs on every node: commands, kernel features, iptables extensions, module-provided sysctls. */
export interface Requirements {
  tools: Tool[];
  features: Feature[];
  extensions: NetfilterExtension[];
  sysctls: NeededSysctl[];
}

export function requirements(model: Model): Requirements {
  const parts = wiringOf(model);
  const tools = new Set([...BASE_TOOLS, ...parts.flatMap((p) => p.tools ?? [])]);
  if (model.pods.some((p) => p.rootfs?.match(/\.(tar\.gz|tgz)$/))) tools.add('tar');
  if (model.checks.some((c) => c.kind === 'traceroute')) tools.add('traceroute');
  return {
    tools: [...tools].map((t) => TOOLS[t]!),
    features: uniqueBy(
      parts.flatMap((p) => p.features ?? []),
      (f) => f.name,
    ),
    extensions: uniqueBy(
      parts.flatMap((p) => p.extensions ?? []),
      (x) => x.name,
    ),
    sysctls: parts.flatMap((p) => p.sysctls ?? []),
  };
}

/** Each item once, by its key (the first of those that share one). */
export function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}

/** What the kernel or iptables answers when an extension is missing (nf_tables' and legacy's words). */
const NO_EXTENSION = ['not supported', "Couldn't load", 'No chain/target/match by that name', 'Table does not exist'];

/**
 * Shell lines that print one "@@netlab missing-…" line per requirement the
 * node lacks. Kernel features are probed by creating a device, and iptables
 * extensions by adding a rule that uses each, all in one throwaway network
 * namespace: nothing on the node changes (a distribution kernel may autoload
 * the module, as it would for the lab). What a node's kernel was seen to
 * have since it booted is not probed again (`kernel: 'seen'`,
 * exec/kernel-seen.ts).
 */
export function requirementChecks(needs: Requirements, { kernel = 'probe' }: KernelProbe = {}): string[] {
  const lines: string[] = [];
  for (const tool of needs.tools)
    lines.push(
      `command -v ${quoteArg(tool.command)} >/dev/null 2>&1 || echo "@@netlab missing-tool ${tool.command} ${tool.package}"`,
    );
  for (const sysctl of needs.sysctls) {
    lines.push(`[ -e /proc/sys/${sysctl.key.replaceAll('.', '/')} ] || echo "@@netlab missing-sysctl ${sysctl.key}"`);
  }
  if (needs.features.length > 0 || needs.extensions.length > 0) {
    const cases = (messages: string[]) => messages.map((m) => `*${quoteArg(m)}*`).join('|');
    // One line per answer, whatever the tool printed over several.
    const said = `$(printf %s "$err" | tr '\n' ' ')`;
    const probes = [
      ...needs.features.map(
        (f) =>
          `err=$(${['ip', 'link', 'add', `netlab-p-${f.name}`, ...f.probe].map(quoteArg).join(' ')} 2>&1) || case $err in ${cases(UNKNOWN_TYPE)}) echo "@@netlab missing-feature ${f.name} ${said}" ;; esac`,
      ),
      ...needs.extensions.map(
        (x) =>
          `err=$(${['iptables', '-w', '-t', x.probe.table, '-A', x.probe.chain, ...x.probe.rule].map(quoteArg).join(' ')} 2>&1) || case $err in ${cases(NO_EXTENSION)}) echo "@@netlab missing-extension ${x.name} ${said}" ;; esac`,
      ),
    ];
    // Its exit status is no verdict: a probe that could not run lacks the "probed" line.
    if (kernel === 'seen') lines.push('echo "@@netlab probed" # seen working on this kernel since it booted');
    else lines.push(`unshare --net sh -c ${quoteArg([...probes, 'echo "@@netlab probed"'].join('\n'))} 2>&1 || true`);
  }
  return lines;
}

/** Whether the node's script probes the kernel, or the kernel was seen to have what the lab needs since it booted. */
export interface KernelProbe {
  kernel?: 'probe' | 'seen';
}

/** One thing a node lacks, as its requirementChecks lines say. */
export type Missing =
  | { kind: 'tool'; command: string; package: string }
  | { kind: 'sysctl'; key: string }
  | { kind: 'feature' | 'extension'; name: string; said: string };

export function missingOf(lines: readonly string[]): Missing[] {
  return lines.flatMap((line): Missing[] => {
    // (a command's and a Debian package's names only: what a machine answers goes into apt-get's plan and onto
    // the terminal)
    const tool = /^@@netlab missing-tool ([A-Za-z0-9_.+-]+) ([a-z0-9][a-z0-9+.-]*)$/.exec(line);
    if (tool) return [{ kind: 'tool', command: tool[1]!, package: tool[2]! }];
    const sysctl = /^@@netlab missing-sysctl (\S+)$/.exec(line);
    if (sysctl) return [{ kind: 'sysctl', key: sysctl[1]! }];
    const probed = /^@@netlab missing-(feature|extension) (\S+) ?(.*)$/.exec(line);
    if (probed)
      return [
        {
          kind: probed[1] as 'feature' | 'extension',
          name: probed[2]!,
          said: (probed[3]!.trim() || 'error').replace(/\.+$/, ''),
        },
      ];
    return [];
  });
}

/** When the probes could not run at all: the kernel features and iptables extensions are unknown. */
export function probeProblem(
  lines: readonly string[],
  needs: Requirements,
  who: string,
  where: string,
): string | undefined {
  // Without unshare (reported as a missing tool) nothing could be probed.
  if (
    (needs.features.length === 0 && needs.extensions.length === 0) ||
    lines.includes('@@netlab probed') ||
    lines.some((l) => l.startsWith('@@netlab missing-tool unshare '))
  )
    return undefined;
  const said = lines
    .filter((l) => l.trim() !== '' && !l.startsWith('@@netlab'))
    .join(' ')
    .trim();
  return `cannot probe the kernel features and iptables extensions ${who} needs on ${where}: \`unshare --net\` failed${said ? `: ${said}` : ''} (netlab needs util-linux's unshare there, and root or, on simulated nodes, user namespaces)`;
}

/**
 * How a missing kernel module gets loaded (as words that go after a colon):
 * by netlab's user, who is root on the node; or, where netlab runs without
 * root in a user namespace, by an administrator. (The kernel loads a device
 * type's or an iptables extension's module by itself when one is created, from
 * a user namespace too; br_netfilter nothing loads, and a probe that failed
 * means the module could not be loaded.)
 */
export function loadModule(module: string, inUserNamespace: boolean): string {
  return inUserNamespace
    ? `without root (a user namespace), netlab cannot load a module the kernel did not load by itself: ask an administrator to load it (\`sudo modprobe ${module}\`; in /etc/modules-load.d/ to keep it after a reboot), or run netlab with sudo`
    : `load it with \`modprobe ${module}\``;
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** What to tell a user about something missing, and what to do about it. */
export function describeMissing(
  missing: Missing,
  needs: Requirements,
  who: string,
  where: string,
  plural = false,
  inUserNamespace = false,
): string {
  const need = plural ? 'need' : 'needs';
  switch (missing.kind) {
    case 'tool':
      return `${who} ${need} the command "${missing.command}" on ${where}: install the package ${missing.package} (apt-get install ${missing.package})`;
    case 'sysctl': {
      const sysctl = needs.sysctls.find((s) => s.key === missing.key)!;
      return `${who} ${sysctl.why} ${sysctl.module} on ${where} (${sysctl.key} is missing): ${loadModule(sysctl.module, inUserNamespace)}`;
    }
    case 'feature': {
      const f = needs.features.find((known) => known.name === missing.name)!;
      return (
        `${who} ${need} ${f.label} (module ${f.module}) on ${where}; the kernel answered "${missing.said}".` +
        ` ${capitalized(loadModule(f.module, inUserNamespace))}, or use a kernel that has it` +
        (f.hint ? ` (${f.hint})` : '')
      );
    }
    case 'extension': {
      const x = needs.extensions.find((known) => known.name === missing.name)!;
      return (
        `${who} ${need} the iptables extension ${x.name} (kernel module ${x.module}) on ${where}; iptables answered "${missing.said}".` +
        ` ${capitalized(loadModule(x.module, inUserNamespace))}, or use a kernel built with it: minimal and custom kernels (WSL2's among them) may lack it`
      );
    }
  }
}

/**
 * What already exists on a node, for the ownership check below: one listing
 * of each kind (links, network namespaces, addresses, main-table routes,
 * iptables chains) instead of a probe per object, so the check costs the
 * same for 2 pods as for 250.
 */
export interface NodeInventory {
  links: Set<string>;
  netns: Set<string>;
  addresses: Set<string>;
  /** destinations of the main table, as prefixes: "10.200.1.0/24", "10.0.0.5/32", "0.0.0.0/0" */
  routes: Set<string>;
  /** "filter NAME" and "nat NAME" */
  chains: Set<string>;
  /** labs recorded on the node (by any controller): lab name → "RUN-ID HOST:STATEDIR" */
  runs: Map<string, string>;
  /** sysctls a challenge of a lab up on the node holds at its fault's value: key → lab */
  sysctlFaults: Map<string, string>;
}

/** The questions preflight asks a node (see node/query.ts). */
function inventoryQuestions(steps: readonly Step[]): Questions {
  // Only the tables the plan makes chains in (an iptables-save each).
  const tables = new Set(steps.flatMap((step) => step.creates.flatMap((c) => (c.kind === 'chain' ? [c.table] : []))));
  return {
    links: true,
    namespaces: true,
    addresses: true,
    routes: true,
    iptables: [...tables].sort(),
    runs: true,
    // (only where the steps set a sysctl: sysctlsUnderFault)
    sysctlFaults: steps.some((step) => step.sets.some((set) => set.kind === 'sysctl')),
  };
}

export function inventoryOf(answers: Partial<Answers>): NodeInventory {
  const chains = new Set<string>();
  for (const table of ['filter', 'nat'] as const)
    for (const chain of answers.iptables?.[table].chains.keys() ?? []) chains.add(`${table} ${chain}`);
  return {
    links: new Set((answers.links ?? []).map((l) => l.ifname)),
    netns: new Set(answers.namespaces ?? []),
    addresses: new Set((answers.addresses ?? []).map((a) => a.address)),
    routes: new Set((answers.routes ?? []).map((r) => routeKey(r.dst))),
    chains,
    runs: answers.runs ?? new Map(),
    // (a sysctl its fault holds at the fault's value: one its learners set back is held by nobody)
    sysctlFaults: new Map(
      (answers.sysctlFaults ?? []).flatMap((line) => {
        const [lab, key, value] = line.split(' ');
        return lab && key && value === FAULT_VALUES.sysctl ? [[key, lab] as const] : [];
      }),
    ),
  };
}

/**
 * The node-wide sysctls the steps set that another lab's challenge holds at its fault's value (`no-forwarding`
 * turned ip_forward off): setting one would mend that fault for its learners, who never made the fix. Key → lab.
 */
export function sysctlsUnderFault(steps: readonly Step[], have: NodeInventory): Map<string, string> {
  const held = new Map<string, string>();
  for (const step of steps)
    for (const set of step.sets)
      if (set.kind === 'sysctl' && have.sysctlFaults.has(set.key)) held.set(set.key, have.sysctlFaults.get(set.key)!);
  return held;
}

/** An object of the node's own that a step would make again, or (`takes`) whose traffic it would take part of. */
export interface Conflict {
  step: number;
  what: string;
  /** the lab's route, more specific than the node's route (`what`), that would take part of its traffic */
  takes?: string;
}

/**
 * The node's route, wider than `key` and not its default route, that contains it: a lab's route inside it would
 * take part of its traffic (the kernel picks the longest prefix), a VPN's 10.0.0.0/8 say.
 */
function coveringRoute(routes: ReadonlySet<string>, key: string): string | undefined {
  const inner = parseCidr(key, false);
  if (!inner) return undefined;
  return [...routes].find((route) => {
    const outer = parseCidr(route, false);
    return outer !== undefined && outer.prefix > 0 && outer.prefix < inner.prefix && overlaps(outer, inner);
  });
}

/**
 * The node's own routes and addresses inside the lab's cluster CIDR (a Docker bridge's 172.17.0.0/16 under a
 * cluster-cidr of 172.16.0.0/12): the lab's rules for that range (FORWARD's accept, the masquerade's
 * exemption) would match that network's traffic too, ahead of the machine's own chains, and the lab's route of
 * the range would lose the network's part of it to the node's more specific route. An address is named only
 * where no such route holds it. On a fresh simulated node there is nothing of the node's own.
 */
export function insideClusterCidr(model: Model, have: NodeInventory): string[] {
  const cluster = parseCidr(model.clusterCidr)!;
  const routes = [...have.routes].filter((route) => {
    const parsed = parseCidr(route, false);
    return parsed !== undefined && parsed.prefix >= cluster.prefix && overlaps(cluster, parsed);
  });
  const underRoute = (ip: number) => routes.some((route) => contains(parseCidr(route, false)!, ip));
  const addresses = [...have.addresses].filter((address) => {
    const ip = parseIp(address);
    return ip !== undefined && contains(cluster, ip) && !underRoute(ip);
  });
  return [...routes.map((route) => `a route to ${route}`), ...addresses.map((address) => `the address ${address}`)];
}

/**
 * Ownership: every object the plan would create on the node must not exist yet.
 * A bridge br0 the user made, a pod namespace or chain of another lab, a route
 * already there: netlab refuses before changing anything, rather than fail
 * half-way or, worse, later delete what is not its own.
 */
export function findConflicts(steps: readonly Step[], have: NodeInventory): Conflict[] {
  const conflicts: Conflict[] = [];
  for (const step of steps) {
    for (const created of step.creates) {
      const clash = (found: boolean, what: string) => found && conflicts.push({ step: step.id, what });
      // What lives in a pod's namespace is made there, after the namespace: nothing to clash with yet.
      if ('netns' in created && created.netns) continue;
      if (created.kind === 'link') clash(have.links.has(created.name), `a link named ${created.name}`);
      else if (created.kind === 'netns')
        clash(have.netns.has(created.name), `a network namespace named ${created.name}`);
      else if (created.kind === 'address') {
        const ip = ipOf(created.address);
        clash(have.addresses.has(ip), `the address ${ip}`);
      } else if (created.kind === 'route') {
        clash(have.routes.has(routeKey(created.dst)), `a route to ${created.dst}`);
        // (once per route of the node: the first of the lab's routes inside it is named)
        const covering = coveringRoute(have.routes, routeKey(created.dst));
        if (covering && !conflicts.some((c) => c.takes && c.what === `a route to ${covering}`))
          conflicts.push({
            step: step.id,
            what: `a route to ${covering}`,
            takes: `a route to ${created.dst} inside it`,
          });
      } else if (created.kind === 'chain')
        clash(
          have.chains.has(`${created.table} ${created.name}`),
          `an iptables ${created.table === 'nat' ? 'nat ' : ''}chain ${created.name}`,
        );
    }
  }
  return conflicts;
}

/**
 * A node script that prints one line per missing requirement and the node's
 * inventory (for findConflicts). Kernel features are probed by creating a
 * device in a throwaway network namespace, which changes nothing on the node
 * (on a distribution kernel it may autoload the module).
 */
export function preflightScript(
  model: Model,
  node: string,
  steps: readonly Step[] = [],
  kernel: KernelProbe = {},
  { freshNode = false } = {},
): string {
  const lines: string[] = [];
  for (const pod of model.pods.filter((p) => p.node === node && p.rootfs))
    lines.push(rootfsCheck(pod.name, pod.rootfs!));
  lines.push(...requirementChecks(requirements(model), kernel));
  const inventory = freshNode ? [] : questionLines([inventoryQuestions(steps)]);
  return `${['PATH=$PATH:/usr/sbin:/sbin', ...lines, ...inventory].join('\n')}\n`;
}

/** How the preflight's answers are judged. */
export interface PreflightJudging {
  /** netlab runs in a user namespace (without sudo): what to say of a missing tool or feature */
  inUserNamespace?: boolean;
  /** this controller, as a node records a run's ("HOST:STATEDIR") */
  here?: string;
  /**
   * A simulated node this up has just started: new namespaces (network, mount, so /run/netns), holding only
   * what netlab set up, so no one's object and no lab can be there. Its preflight asks for no inventory (an
   * `ip -batch` and an iptables-save: 3-4 ms of the node's first round), and is judged without one.
   */
  freshNode?: boolean;
}

/**
 * A shell line that says (@@netlab missing-rootfs, untrusted-rootfs) when a pod's rootfs is not there, or when
 * someone other than root could change it: its programs run as root on the node (a chroot is no boundary for
 * root), so a rootfs another user can write is their way to root. As ssh and sshd judge a key's files, the rootfs
 * and every directory above it (symbolic links resolved) must be owned by root or by the user netlab runs for
 * (SUDO_UID; in a user namespace the user's own files are root's), and writable by no one else, but for a
 * directory above it with the sticky bit (/tmp: others may add files there, not replace root's).
 */
function rootfsCheck(pod: string, rootfs: string): string {
  const untrusted = (why: string) => `printf '%s\\n' ${quoteArg(`@@netlab untrusted-rootfs ${pod}`)}" ${why}"`;
  // (in a subshell: its variables and positional parameters are not the script's)
  return [
    `if [ ! -e ${quoteArg(rootfs)} ]; then echo ${quoteArg(`@@netlab missing-rootfs ${pod} ${rootfs}`)}`,
    // Only where netlab is root: in a user namespace (netlab without sudo) the rootfs's programs can do no more
    // than the user, and root's files show there as nobody's.
    `elif read -r _ _ n </proc/self/uid_map && [ "$n" = 4294967295 ]; then (p=$(readlink -f -- ${quoteArg(rootfs)}); top=$p; while [ -n "$p" ]; do`,
    `  set -- $(stat -c '%u %a' -- "$p") && m=$((0$2))`,
    `  case " 0 \${SUDO_UID:-0} " in *" $1 "*) ;; *) ${untrusted('$p is owned by user $1')}; exit ;; esac`,
    // 022 (18): writable by group or others; 01000 (512): the sticky bit, which counts only above the rootfs
    `  if [ $((m & 18)) -ne 0 ] && { [ "$p" = "$top" ] || [ $((m & 512)) -eq 0 ]; }; then ${untrusted('$p is writable by its group or others')}; exit; fi`,
    `  [ "$p" != / ] || break; p=$(dirname -- "$p")`,
    // and what is in it (a directory's; a tarball is one file): the first file of another user's, or one others
    // may write (a sticky directory, such as its tmp, aside)
    `done; f=$(find "$top" -xdev ! -type l \\( ! -uid 0 ! -uid "\${SUDO_UID:-0}" -o -perm /022 ! \\( -type d -perm -1000 \\) \\) -print -quit 2>/dev/null)`,
    `[ -z "$f" ] || ${untrusted("$f, in it, is another user's or writable by others")}); fi`,
  ].join('\n');
}

/** `down`'s arguments for a lab and instance. */
function downArgs(model: Model): string {
  return model.instance === undefined ? model.name : `${model.name} --instance ${model.instance}`;
}

/** Everything the preflight output says is wrong on a node, each with what to do about it. */
export function describeProblems(
  model: Model,
  node: string,
  steps: readonly Step[],
  stdout: string,
  { inUserNamespace = false, here = '', freshNode = false }: PreflightJudging = {},
): string[] {
  const { head, answers } = parseAnswers(stdout, freshNode ? [] : [inventoryQuestions(steps)]);
  const found = freshNode ? { problems: [], final: false } : foundOnNode(model, node, steps, answers[0]!, here);
  if (found.final) return found.problems;
  const problems = [...found.problems];
  const needs = requirements(model);
  const lines = head.split('\n');
  const unprobed = probeProblem(lines, needs, `lab ${model.name}`, node);
  if (unprobed) problems.push(unprobed);
  for (const line of lines) {
    const rootfs = /^@@netlab missing-rootfs (\S+) (.*)$/.exec(line);
    if (rootfs)
      problems.push(
        `pod ${rootfs[1]}'s rootfs ${rootfs[2]} does not exist on ${node}: give a directory or a .tar.gz (such as the Alpine minirootfs) that exists there`,
      );
    const untrusted = /^@@netlab untrusted-rootfs (\S+) (.*)$/.exec(line);
    if (untrusted) {
      const pod = model.pods.find((p) => p.name === untrusted[1]);
      problems.push(
        `pod ${untrusted[1]}'s rootfs ${pod?.rootfs ?? ''} on ${node} could be changed by someone other than root (${untrusted[2]}), and its programs run as root there: give a rootfs that only root (or you) can change (chown -R root, chmod -R go-w, in directories others cannot write)`,
      );
    }
  }
  problems.push(
    ...missingOf(lines).map((m) => describeMissing(m, needs, `lab ${model.name}`, node, false, inUserNamespace)),
  );
  return problems;
}

/**
 * What the node's inventory says is there already: the lab itself, another instance of it, or objects the
 * steps would make again. `final`: a finding that makes the rest moot (the inventory unreadable, the lab up).
 */
function foundOnNode(
  model: Model,
  node: string,
  steps: readonly Step[],
  answers: Partial<Answers>,
  here: string,
): { problems: string[]; final: boolean } {
  const stop = (problem: string) => ({ problems: [problem], final: true });
  // Every network namespace has lo: no link at all is an answer netlab could not read (an `ip` without JSON
  // output, a failed command), and taking it for "nothing there" would let a rollback delete what is not its own.
  if ((answers.links ?? []).length === 0)
    return stop(
      `${node} listed no network interface, not even lo, to the preflight: netlab cannot tell what is there already, so it changes nothing (it needs \`ip -json\`: iproute2 4.13 or newer)`,
    );
  const have = inventoryOf(answers);
  const id = labIdOf(model);
  const own = have.runs.get(id);
  // The lab itself is up there (another controller, another state directory): say so, not which of its objects clash.
  if (own) {
    // This state directory's run (the state lost: up got this far): only `down --run` reaches it from here.
    const space = own.indexOf(' ');
    const [run, from] = [own.slice(0, space), own.slice(space + 1)];
    return stop(
      space > 0 && from === here && RUN_ID.test(run)
        ? `lab ${id} is already up on ${node}, run ${run} from this state directory, which has lost its record of it: \`netlab down ${downArgs(model)} --run ${run}\` with this command's --ssh-config, --inventory or --vagrant flag takes it down`
        : `lab ${id} is already up on ${node}, ${describeRun(own)}; take it down there (\`netlab down ${downArgs(model)}\`), or see \`netlab status\``,
    );
  }
  // Another instance of the same lab: its bridges, tunnels and pods have the same names on the same machines.
  const sibling = [...have.runs].find(([other]) => other.split('@')[0] === model.name);
  if (sibling)
    return stop(
      `lab ${sibling[0]} is up on ${node} (${describeRun(sibling[1])}): one instance of lab ${model.name} at a time on the same machines (its bridges, tunnels and pods have the same names in every instance); instances run side by side on simulated nodes`,
    );
  const others = [...have.runs].map(([lab, run]) => `lab ${lab} (${describeRun(run)})`);
  const upThere = others.length ? `; up on ${node}: ${others.join(', ')}` : '';
  const problems: string[] = [];
  // (this lab's own, left by a down that stopped halfway, holds nobody's challenge: the lab is not up there)
  for (const [key, lab] of sysctlsUnderFault(steps, have))
    if (lab !== id)
      problems.push(
        `the challenge in lab ${lab} on ${node} holds ${key} off (its fault), and lab ${model.name} sets it: that would mend the fault for that lab's learners; nothing was changed. Bring this lab up once that challenge is over (\`netlab challenge stop\` by its owner)`,
      );
  const clashes = findConflicts(steps, have);
  // Each of the node's objects is named once: one the lab would make again as such (remove it), a route covering
  // a lab route as inside the cluster CIDR where it is (the cluster CIDR is what to change).
  const remade = new Set(clashes.filter((c) => !c.takes).map((c) => c.what));
  const inside = insideClusterCidr(model, have).filter((what) => !remade.has(what));
  problems.push(
    ...inside.map(
      (what) =>
        `${node} has ${what}, not this lab's, inside the lab's cluster CIDR ${model.clusterCidr}: the lab's rules for that range would match its traffic too, ahead of the machine's own; netlab never changes what it did not create; give the lab a cluster-cidr outside it${upThere}`,
    ),
  );
  const conflicts = clashes.filter((c) => !(c.takes && inside.includes(c.what)));
  problems.push(
    ...conflicts.map((c) =>
      c.takes
        ? `${node} has ${c.what}, not this lab's, and step ${c.step} of lab ${model.name} would add ${c.takes}, taking that part of its traffic: netlab never changes what it did not create; give the lab a cluster-cidr outside it${upThere}`
        : `${node} already has ${c.what}, which step ${c.step} of lab ${model.name} would create: netlab never changes what it did not create; remove it, or rename it in the lab file${upThere}`,
    ),
  );
  return { problems, final: false };
}
