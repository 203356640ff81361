// `netlab doctor`: is this host (or are the machines of a target) ready for
// the labs? Every command, kernel feature, iptables extension and module each
// lab needs is checked the way up's preflight checks it (the same script
// lines), and what is missing is said with the package or module that brings
// it. `--install` installs the missing packages with apt-get, saying first
// what it runs: on this host, or on each machine of a target that misses one
// (asking first, unless --yes); `--tests` adds what the test tiers need
// (.ci/run uses it).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import chalk from 'chalk';
import { exitCodeOf, run } from '../exec/spawn.js';
import {
  describeMissing,
  loadModule,
  missingOf,
  probeProblem,
  uniqueBy,
  requirementChecks,
  requirements,
  type Missing,
  type Requirements,
} from '../exec/preflight.js';
import { wantsSsh, sshTargetForHosts, type TargetOptions } from '../exec/targets.js';
import { transportsOf } from '../exec/transports.js';
import { endSessions } from '../exec/ssh.js';
import type { Transport } from '../exec/transport.js';
import type { Model } from '../model/lab.js';
import { printJson } from '../json-output.js';
import { escapeControls, RunError, UsageError } from '../errors.js';
import { labFileOf } from './common.js';
import { OWN_USER_NAMESPACE, userNamespaceProblem, withoutRoot } from '../exec/userns.js';
import { quoteArgv } from '../os/quote.js';
import { bundledLabNames, bundledLabsDir } from '../lab/bundled.js';

/** A command netlab itself uses on this host, or the tests need, beyond what the labs run on their nodes. */
interface HostTool {
  command: string;
  package: string;
  for: string;
}

/** netlab's workshop commands on this host. */
const WORKSHOP_TOOLS: HostTool[] = [
  { command: 'tcpdump', package: 'tcpdump', for: 'netlab capture' },
  { command: 'dot', package: 'graphviz', for: 'netlab graph --format svg' },
];

/** What `npm test` needs besides every bundled lab's and the workshop's tools (the packages .ci/run installs). */
const TEST_TOOLS: HostTool[] = [
  { command: 'sshd', package: 'openssh-server', for: 'the SSH end-to-end tests (sshd in simulated machines)' },
  { command: 'ssh', package: 'openssh-client', for: 'the SSH transport' },
  { command: 'sudo', package: 'sudo', for: 'the SSH tests of a non-root user' },
  { command: 'busybox', package: 'busybox-static', for: "the container tests' root filesystem" },
  { command: 'vagrant', package: 'vagrant', for: 'checking the Vagrantfile' },
  { command: 'qemu-system-x86_64', package: 'qemu-system-x86', for: 'the VM tier' },
  { command: 'cpio', package: 'cpio', for: "the VM tier's initramfs" },
  { command: 'depmod', package: 'kmod', for: "the VM tier's kernel modules" },
  { command: 'dash', package: 'dash', for: "the VM tier's /bin/sh" },
  {
    command: 'strace',
    package: 'strace',
    for: 'the unit test that sees the state file written, fsynced, then renamed',
  },
  { command: 'chromium', package: 'chromium', for: "the browser tier (the room scoreboard's page, headless)" },
  { command: 'script', package: 'bsdutils', for: 'the end-to-end test of up --step at a terminal' },
];

export interface DoctorOptions extends TargetOptions {
  install?: boolean;
  /** with --install over SSH: install without asking */
  yes?: boolean;
  tests?: boolean;
  json?: boolean;
}

/** One node's findings: what is missing, and which labs each missing piece keeps from running. */
export interface NodeReport {
  node: string;
  /** the kernel features and extensions could not be probed (why) */
  unprobed?: string;
  missing: { what: Missing; labs: string[]; message: string }[];
  hostTools: { tool: HostTool; present: boolean }[];
}

/**
 * Why --install may not go on (undefined: it may). On this host `sudo` is the
 * consent; on the machines of a target, a person answers y on the terminal
 * before anything is installed, or gave --yes: without a terminal, and
 * without --yes, nothing is checked or installed.
 */
export function installRefusal(options: DoctorOptions, terminal: boolean, root = true): string | undefined {
  if (options.yes && !options.install) return '--yes goes with --install';
  // The test tiers run here: a machine's report would leave out what they need of this host, and say it did not.
  if (options.tests && wantsSsh(options))
    return `--tests checks this host for the test tiers: it takes no ${targetFlags(options)}`;
  // Before the report: without root, apt-get and modprobe would fail after it, one by one.
  if (options.install && !wantsSsh(options) && !root)
    return `--install installs on this host, which needs root: sudo netlab doctor --install${options.tests ? ' --tests' : ''}`;
  if (!options.install || !wantsSsh(options) || options.yes || terminal) return undefined;
  return `doctor --install asks before it installs on the machines of ${targetFlags(options)}, and there is no terminal to ask on: add --yes to install without asking (the apt-get command for each machine is printed first)`;
}

/** The target flags as given: `--ssh-config FILE`, `--inventory FILE`, `--vagrant`, `--vagrant-dir DIR`. */
function targetFlags(options: TargetOptions): string {
  return quoteArgv(
    options.sshConfig
      ? ['--ssh-config', options.sshConfig]
      : options.inventory
        ? ['--inventory', options.inventory]
        : options.vagrantDir
          ? ['--vagrant-dir', options.vagrantDir]
          : options.vagrant
            ? ['--vagrant']
            : [],
  );
}

export async function doctorCommand(args: string[], options: DoctorOptions): Promise<number> {
  const refusal = installRefusal(options, Boolean(process.stdin.isTTY), process.getuid?.() === 0);
  if (refusal) throw new UsageError(refusal);
  const named = args.length > 0;
  const names = named ? args : bundledLabNames();
  const { loadLabModel } = await import('../lab/cached.js');
  const labs: Model[] = [];
  for (const arg of names)
    labs.push(await loadLabModel(named ? labFileOf(arg) : join(bundledLabsDir(), `${arg}.yaml`)));
  // Without root here, simulated labs run in a user namespace (exec/userns.ts): can this user make one?
  // undefined: not asked (root, or machines over SSH); null: yes; else why not.
  const userNamespaces = !wantsSsh(options) && withoutRoot() ? (userNamespaceProblem() ?? null) : undefined;
  const inUserNamespace = userNamespaces === null;
  // The kernel is probed in a throwaway network namespace, which needs root here (over SSH, netlab is
  // root there), or a user namespace of this user's own: the same one a lab of theirs would have.
  const probing = userNamespaces === undefined || inUserNamespace;
  const needs = labs.map((model) => {
    const all = requirements(model);
    return { lab: model.name, needs: probing ? all : { ...all, features: [], extensions: [] } };
  });
  const all = mergeRequirements(needs.map((n) => n.needs));
  const hostTools = wantsSsh(options) ? [] : [...WORKSHOP_TOOLS, ...(options.tests ? TEST_TOOLS : [])];
  const script = doctorScript(all, hostTools, options.tests && !wantsSsh(options));
  const places = await placesOf(options);
  let reports: NodeReport[];
  let staleLists = false;
  try {
    reports = await Promise.all(
      places.map(async ({ node, transport }) => {
        const result = transport
          ? await transport.run(script)
          : inUserNamespace
            ? await run('unshare', [...OWN_USER_NAMESPACE, 'sh', '-s'], { input: script })
            : await run('sh', ['-s'], { input: script });
        if (result.exitCode === 255 && transport)
          throw new RunError(`${node}: ${result.stderr.trim() || 'could not reach it over SSH'}`);
        if (result.stdout.split('\n').includes('@@netlab missing-package-lists')) staleLists = true;
        return reportOf(node, result.stdout, all, needs, hostTools, inUserNamespace);
      }),
    );
  } finally {
    endSessions();
  }
  const packages = missingPackages(reports);
  // Of those, what the labs (or, with --tests, the tests) need: missing and not installed, doctor fails. netlab's
  // own workshop commands (capture, graph's SVG) are said and installed, but no lab needs them.
  const needed = missingPackages(reports, { hostTools: Boolean(options.tests) });
  // A module that provides a sysctl (br_netfilter) is loaded by hand: nothing loads it on demand.
  const modules = [
    ...new Set(
      reports.flatMap((r) =>
        r.missing.flatMap((m) => (m.what.kind === 'sysctl' ? [moduleOfSysctl(all, m.what.key)] : [])),
      ),
    ),
  ].sort();
  // A kernel feature or extension the kernel did not load when asked is no package: a lab that needs it cannot run here.
  const kernel = reports.flatMap((r) =>
    r.missing.filter((m) => m.what.kind === 'feature' || m.what.kind === 'extension'),
  );
  const cannotRun = [...new Set(kernel.flatMap((m) => m.labs))].sort();
  if (options.json)
    printJson({
      target: wantsSsh(options) ? 'ssh' : 'this host',
      labs: labs.map((l) => l.name),
      nodes: reports.map((r) => ({
        node: r.node,
        ...(r.unprobed ? { unprobed: r.unprobed } : {}),
        missing: r.missing.map((m) => ({ ...m.what, labs: m.labs, message: m.message })),
        hostTools: r.hostTools.map((t) => ({ ...t.tool, present: t.present })),
      })),
      missingPackages: packages,
      neededPackages: needed,
      modulesToLoad: modules,
      labsThatCannotRunHere: cannotRun,
      probedKernel: probing,
      ...(userNamespaces === undefined
        ? {}
        : { userNamespaces: { usable: inUserNamespace, ...(userNamespaces ? { problem: userNamespaces } : {}) } }),
    });
  else {
    if (userNamespaces !== undefined) console.log(userNamespaceLine(userNamespaces));
    printReport(reports, labs, packages, cannotRun, options, args);
  }
  if (!probing && !options.json)
    console.log(
      'the kernel features and iptables extensions were not probed: that needs root (sudo netlab doctor), or user namespaces; tools and modules were checked',
    );
  if (staleLists && !options.json)
    console.log(
      `the package lists do not know ${VM_KERNEL_PACKAGE}, which the VM tier downloads: ${options.install ? 'updating them' : 'run apt-get update (--install does)'}`,
    );
  let installed = false;
  let loaded = false;
  if (options.install && wantsSsh(options)) {
    const plans = installPlans(reports, all);
    if (plans.length > 0) installed = loaded = await installOnMachines(plans, places, options);
  }
  if (options.install && (packages.length > 0 || staleLists) && !wantsSsh(options)) {
    await installPackages(packages, staleLists);
    installed = true;
  }
  if (options.install && modules.length > 0 && !wantsSsh(options)) {
    for (const module of modules) {
      console.error(`$ modprobe ${module}`);
      const result = await run('modprobe', [module], { inherit: 'stderr' });
      if (result.exitCode !== 0) throw new RunError(`modprobe ${module} failed (see above)`);
    }
    loaded = true;
  }
  // Packages needed, missing and not installed now, fail it; so does a kernel a lab named on the command line
  // cannot run on.
  const unprobed = reports.some((r) => r.unprobed);
  const failed =
    ((needed.length > 0 || staleLists) && !installed) ||
    (named && modules.length > 0 && !loaded) ||
    (named && cannotRun.length > 0) ||
    unprobed ||
    typeof userNamespaces === 'string';
  return failed ? 1 : 0;
}

/** What doctor says of user namespaces to a user who is not root: simulated labs without sudo, or why not. */
function userNamespaceLine(problem: string | null): string {
  return problem === null
    ? chalk.green(
        '✓ user namespaces: simulated labs run without sudo, each in a user namespace of its own (README: "Without sudo"); a kernel module a lab lacks is an administrator\'s to load, and labs over SSH still need root on the machines',
      )
    : chalk.red(`✗ user namespaces: ${problem}`);
}

/** The kernel module that provides a sysctl the labs need (br_netfilter's). */
function moduleOfSysctl(needs: Requirements, key: string): string {
  return needs.sysctls.find((s) => s.key === key)!.module;
}

/** The union of several labs' requirements, each piece once. */
function mergeRequirements(all: Requirements[]): Requirements {
  return {
    tools: uniqueBy(
      all.flatMap((r) => r.tools),
      (t) => t.command,
    ),
    features: uniqueBy(
      all.flatMap((r) => r.features),
      (f) => f.name,
    ),
    extensions: uniqueBy(
      all.flatMap((r) => r.extensions),
      (x) => x.name,
    ),
    sysctls: uniqueBy(
      all.flatMap((r) => r.sysctls),
      (s) => s.key,
    ),
  };
}

/** The VM tier fetches Debian's cloud kernel with apt-get download: the package lists must know it. */
const VM_KERNEL_PACKAGE = 'linux-image-cloud-amd64';

/** The preflight's own checks, and the host tools, in one script. */
export function doctorScript(needs: Requirements, hostTools: HostTool[], tests = false): string {
  return `${[
    'PATH=$PATH:/usr/sbin:/sbin',
    ...requirementChecks(needs),
    ...(tests ? [`apt-cache show ${VM_KERNEL_PACKAGE} >/dev/null 2>&1 || echo "@@netlab missing-package-lists"`] : []),
    ...hostTools.map(
      (t) => `command -v ${t.command} >/dev/null 2>&1 || echo "@@netlab missing-host-tool ${t.command}"`,
    ),
  ].join('\n')}\n`;
}

function reportOf(
  node: string,
  stdout: string,
  all: Requirements,
  needs: { lab: string; needs: Requirements }[],
  hostTools: HostTool[],
  inUserNamespace = false,
): NodeReport {
  const lines = stdout.split('\n');
  const labsNeeding = (what: Missing) =>
    needs
      .filter(({ needs: n }) =>
        what.kind === 'tool'
          ? n.tools.some((t) => t.command === what.command)
          : what.kind === 'sysctl'
            ? n.sysctls.some((s) => s.key === what.key)
            : (what.kind === 'feature' ? n.features : n.extensions).some((x) => x.name === what.name),
      )
      .map((n) => n.lab);
  const unprobed = probeProblem(lines, all, needs.length > 1 ? 'the labs' : `lab ${needs[0]!.lab}`, node);
  return {
    node,
    ...(unprobed ? { unprobed } : {}),
    // (a sysctl no lab needs is none of doctor's: a machine's answer could name any)
    missing: missingOf(lines)
      .filter((what) => what.kind !== 'sysctl' || all.sysctls.some((s) => s.key === what.key))
      .map((what) => {
        const labs = labsNeeding(what);
        const who =
          labs.length === needs.length && needs.length > 1
            ? 'every lab'
            : `lab${labs.length > 1 ? 's' : ''} ${labs.join(', ')}`;
        // (a sysctl's message names the module alone: its `why` speaks for one lab, doctor for several)
        const message =
          what.kind === 'sysctl'
            ? `${who} need${labs.length === 1 ? 's' : ''} the kernel module ${moduleOfSysctl(all, what.key)} on ${node} (${what.key} is missing): ${loadModule(moduleOfSysctl(all, what.key), inUserNamespace)}${inUserNamespace ? '' : ' (--install does)'}`
            : describeMissing(what, all, who, node, labs.length > 1 && who !== 'every lab', inUserNamespace);
        return { what, labs, message };
      }),
    hostTools: hostTools.map((tool) => ({
      tool,
      present: !lines.includes(`@@netlab missing-host-tool ${tool.command}`),
    })),
  };
}

/** The packages the machines miss, each once, sorted: the labs', and the host tools' unless told not to. */
export function missingPackages(reports: readonly NodeReport[], { hostTools = true } = {}): string[] {
  return [
    ...new Set(
      reports.flatMap((r) => [
        ...r.missing.flatMap((m) => (m.what.kind === 'tool' ? [m.what.package] : [])),
        ...(hostTools ? r.hostTools.filter((t) => !t.present).map((t) => t.tool.package) : []),
      ]),
    ),
  ].sort();
}

/**
 * A machine's part of doctor's report, as printed: whether it has what the labs need, and what it lacks,
 * each with its package. A host tool missing (netlab capture's tcpdump) is listed without taking the labs'
 * ✓ away: no lab needs it. What the machine said (its kernel's or iptables' words, in the messages) is
 * escaped: over SSH it could drive the terminal.
 */
export function reportLines(report: NodeReport): string[] {
  const labProblems = report.missing.length + (report.unprobed ? 1 : 0);
  const toolsMissing = report.hostTools.some((t) => !t.present);
  return [
    labProblems > 0
      ? chalk.red(`✗ ${report.node}:`)
      : toolsMissing
        ? chalk.green(`✓ ${report.node}: everything the labs need is there, but:`)
        : chalk.green(`✓ ${report.node}: everything is there`),
    ...(report.unprobed ? [`  ${escapeControls(report.unprobed)}`] : []),
    ...report.missing.map((m) => `  ${escapeControls(m.message, true)}`),
    ...report.hostTools
      .filter((t) => !t.present)
      .map(
        ({ tool }) =>
          `  ${tool.for} needs the command "${tool.command}" on ${report.node}: install the package ${tool.package}`,
      ),
  ];
}

/** Where doctor looks: this host (simulated nodes run its tools and kernel), or every machine of the target. */
async function placesOf(options: TargetOptions): Promise<{ node: string; transport?: Transport }[]> {
  if (!wantsSsh(options)) return [{ node: 'this host' }];
  const target = await sshTargetForHosts(options);
  return Object.entries(transportsOf({ target })).map(([node, transport]) => ({ node, transport }));
}

export function printReport(
  reports: NodeReport[],
  labs: Model[],
  packages: string[],
  cannotRun: string[],
  options: DoctorOptions,
  args: string[],
): void {
  console.log(
    `doctor: what ${labs.length === 1 ? `lab ${labs[0]!.name}` : `${labs.length} labs`} need${labs.length === 1 ? 's' : ''}${options.tests ? ', and the tests' : ''}`,
  );
  for (const report of reports) for (const line of reportLines(report)) console.log(line);
  if (cannotRun.length)
    console.log(
      `labs this kernel cannot run: ${cannotRun.join(', ')} (a distribution kernel has what they need: the workshop's Vagrant VMs, \`netlab up LAB --vagrant\`)`,
    );
  if (packages.length && wantsSsh(options)) {
    if (!options.install)
      console.log(
        `to install what is missing on the machines: ${quoteArgv(['netlab', 'doctor', '--install', ...args])} ${targetFlags(options)} (runs apt-get install on each machine that misses a package, as root there; it asks first)`,
      );
  } else if (packages.length)
    console.log(
      options.install
        ? `installing: ${quoteArgv(['apt-get', ...aptInstallArgs(packages)])}${heldApart(packages)}`
        : `to install what is missing: sudo netlab doctor --install${options.tests ? ' --tests' : ''}${args.map((a) => ` ${a}`).join('')} (runs ${quoteArgv(['apt-get', ...aptInstallArgs(packages)])}${heldApart(packages)})`,
    );
}

/** apt-get's arguments to install packages: one spelling, on this host and on the machines. */
export function aptInstallArgs(packages: readonly string[]): string[] {
  return ['install', '-y', '-q', '--no-install-recommends', ...packages];
}

/** apt-get's arguments to update the package lists (when they are missing, or do not know a package). */
const APT_UPDATE_ARGS = ['update', '-q'];

/** What --install does on one machine: the packages it misses, and the kernel modules to load there. */
export interface InstallPlan {
  node: string;
  packages: string[];
  modules: string[];
}

/** Each machine's plan, for the machines that miss a package or a module (the others are left alone). */
export function installPlans(reports: readonly NodeReport[], all: Requirements): InstallPlan[] {
  return reports
    .map((r) => ({
      node: r.node,
      packages: missingPackages([r]),
      modules: [
        ...new Set(r.missing.flatMap((m) => (m.what.kind === 'sysctl' ? [moduleOfSysctl(all, m.what.key)] : []))),
      ].sort(),
    }))
    .filter((p) => p.packages.length + p.modules.length > 0);
}

/** The commands a plan runs, as printed before it runs: the same text the script runs. */
export function planCommands(plan: InstallPlan): string[] {
  return [
    ...(plan.packages.length ? [quoteArgv(['apt-get', ...aptInstallArgs(plan.packages)])] : []),
    ...plan.modules.map((m) => quoteArgv(['modprobe', m])),
  ];
}

/**
 * The script of a plan, run on its machine as root (as every node script is:
 * through `sudo -n` for a login that is not root): apt-get install, and once
 * more after apt-get update when it fails (lists missing or out of date, as on
 * a fresh VM), then the modules. Stops at the first command that fails.
 */
export function installScript(plan: InstallPlan): string {
  const lines = ['PATH=$PATH:/usr/sbin:/sbin', 'export DEBIAN_FRONTEND=noninteractive'];
  if (plan.packages.length) {
    const install = quoteArgv(['apt-get', ...aptInstallArgs(plan.packages)]);
    lines.push(
      'command -v apt-get >/dev/null 2>&1 || { echo "no apt-get on this machine: install these packages with its package manager" >&2; exit 127; }',
      `if ! ${install}; then`,
      `  ${quoteArgv(['apt-get', ...APT_UPDATE_ARGS])} || exit $?`,
      `  ${install} || exit $?`,
      'fi',
    );
  }
  for (const module of plan.modules) lines.push(`${quoteArgv(['modprobe', module])} || exit $?`);
  return `${lines.join('\n')}\n`;
}

/**
 * Asks a yes-or-no question on the terminal: yes only for y or yes (any
 * case); an empty answer, any other, or the end of input is no.
 */
export function askYesNo(question: string, input: Readable, output: Writable): Promise<boolean> {
  const rl = createInterface({ input, output });
  return new Promise((resolve) => {
    let answered = false;
    rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
    rl.on('close', () => {
      if (!answered) {
        output.write('\n');
        resolve(false);
      }
    });
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(/^\s*y(es)?\s*$/i.test(answer));
    });
  });
}

/**
 * --install over SSH: each machine's commands printed, then (unless --yes)
 * asked on the terminal, then run on every machine at once, as root there.
 * Each machine's outcome is a line; a failed one shows apt-get's last lines.
 * Resolves to whether every machine did all of its plan.
 */
export async function installOnMachines(
  plans: InstallPlan[],
  places: { node: string; transport?: Transport }[],
  options: DoctorOptions,
): Promise<boolean> {
  // --json keeps stdout for the report: what --install says goes to stderr then.
  const say = (line: string) => (options.json ? console.error(line) : console.log(line));
  say(`--install runs, as root on each machine (through sudo -n where the login is not root):`);
  for (const plan of plans) for (const command of planCommands(plan)) say(`  ${plan.node}: ${command}`);
  const machines = `${plans.length} machine${plans.length === 1 ? '' : 's'}`;
  if (!options.yes && !(await askYesNo(`install on ${machines}? [y/N] `, process.stdin, process.stderr))) {
    say('nothing was installed');
    return false;
  }
  const transports = new Map(places.map((p) => [p.node, p.transport]));
  let results: { plan: InstallPlan; exitCode: number; output: string }[];
  try {
    // Every machine's install runs to its end: one machine that fails (a dropped connection) stops no other's apt-get.
    results = await Promise.all(
      plans.map(async (plan) => {
        try {
          const result = await transports.get(plan.node)!.run(installScript(plan));
          return { plan, exitCode: result.exitCode, output: `${result.stdout}${result.stderr}` };
        } catch (error) {
          return { plan, exitCode: -1, output: (error as Error).message };
        }
      }),
    );
  } finally {
    endSessions();
  }
  for (const { plan, exitCode, output } of results) {
    const what = [
      ...(plan.packages.length ? [`installed ${plan.packages.join(', ')}`] : []),
      ...(plan.modules.length ? [`loaded ${plan.modules.join(', ')}`] : []),
    ].join('; ');
    if (exitCode === 0) say(chalk.green(`✓ ${plan.node}: ${what}`));
    else {
      say(chalk.red(`✗ ${plan.node}: --install failed${exitCode < 0 ? '' : ` (exit ${exitCode})`}; its last lines:`));
      for (const line of escapeControls(output.trimEnd()).split('\n').slice(-15)) say(`    ${line}`);
    }
  }
  return results.every((r) => r.exitCode === 0);
}

/**
 * Services a package starts that the tests do not want running. They need
 * openssh-server's sshd only (each SSH test starts its own, in a simulated
 * machine), and Debian's package starts ssh.service at once and enables it for
 * every boot: an SSH server on port 22 of the developer's machine.
 */
const HELD_SERVICES: Readonly<Record<string, readonly string[]>> = { 'openssh-server': ['ssh.service', 'ssh.socket'] };

/** The services installing these packages would start and enable, which netlab holds back. */
export function servicesHeldBy(packages: readonly string[]): string[] {
  return packages.flatMap((p) => HELD_SERVICES[p] ?? []);
}

/**
 * What leaves the services of these packages (the tests' SSH server) disabled
 * after their install. The Debian way: deb-systemd-helper removes the links
 * its postinst made and remembers that the units are disabled, so the
 * package's upgrades leave them so; it runs only for
 * a maintainer script, which DPKG_MAINTSCRIPT_PACKAGE names (without it, it
 * says "was not called from dpkg" and exits 1). Stopped too where systemd runs:
 * a policy of the machine's own may have let it start (it was not installed
 * before, so nothing else uses it).
 */
export function disableCommands(
  holding: readonly string[],
  systemd: boolean,
): { argv: string[]; env: Record<string, string> }[] {
  const held = servicesHeldBy(holding);
  return [
    ...holding.map((p) => ({
      argv: ['deb-systemd-helper', 'disable', ...servicesHeldBy([p])],
      env: { DPKG_MAINTSCRIPT_PACKAGE: p },
    })),
    ...(systemd ? [{ argv: ['systemctl', 'stop', ...held], env: {} }] : []),
  ];
}

/**
 * Runs every command, also after one failed (a disable that failed must not
 * keep the stop from running); whether all of them exited 0.
 */
export async function runEach<T>(commands: readonly T[], runOne: (command: T) => Promise<number>): Promise<boolean> {
  let ok = true;
  for (const command of commands) if ((await runOne(command)) !== 0) ok = false;
  return ok;
}

/** What the install says of the packages installed on their own (installPackages), if any. */
function heldApart(packages: readonly string[]): string {
  const holding = packages.filter((p) => servicesHeldBy([p]).length > 0);
  return holding.length
    ? `; ${holding.join(' ')} on ${holding.length > 1 ? 'their' : 'its'} own, without starting or enabling ${servicesHeldBy(holding).join(' or ')}`
    : '';
}

/** Debian's policy-rc.d: a package's scripts start no service while it says 101 ("action forbidden"). */
export const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const POLICY_TEXT = `#!/bin/sh
# netlab doctor --install: no service starts while it installs the test tools (removed after).
exit 101
`;

const fileText = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * Forbids service starts while packages install, unless the machine has a
 * policy of its own (a container's, an administrator's), which decides then.
 * A policy netlab left (a doctor killed before it lifted its own) is netlab's.
 * Returns what lifts it again: removes the file only if it is still netlab's.
 */
export function forbidServiceStarts(file = POLICY_RC_D): { lift: () => void; machines: boolean } {
  const found = fileText(file);
  if (found !== undefined && found !== POLICY_TEXT) return { lift: () => {}, machines: true };
  try {
    if (found === undefined) writeFileSync(file, POLICY_TEXT, { flag: 'wx', mode: 0o755 });
  } catch {
    // Made meanwhile (then it is another's), or not writable here: not netlab's to decide.
    return { lift: () => {}, machines: true };
  }
  return {
    lift: () => {
      if (fileText(file) === POLICY_TEXT) rmSync(file, { force: true });
    },
    machines: false,
  };
}

/** apt-get install, after apt-get update when the package lists are missing or do not know a package. */
async function installPackages(packages: string[], update: boolean): Promise<void> {
  if (!existsSync('/usr/bin/apt-get'))
    throw new RunError(
      `no apt-get here: install these packages with your system's package manager: ${packages.join(' ')}`,
    );
  if (process.getuid?.() !== 0) throw new UsageError('--install needs root: sudo netlab doctor --install');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) => {
    console.error(`$ ${quoteArgv(['apt-get', ...args])}`);
    return run('apt-get', args, { inherit: 'stderr', env });
  };
  let updated = update;
  const updateLists = async () => {
    if ((await apt(APT_UPDATE_ARGS)).exitCode !== 0) throw new RunError('apt-get update failed (see above)');
    updated = true;
  };
  const install = async (some: string[]) => {
    if (some.length === 0 || (await apt(aptInstallArgs(some))).exitCode === 0) return;
    if (!updated) await updateLists();
    if ((await apt(aptInstallArgs(some))).exitCode !== 0) throw new RunError(`apt-get install failed (see above)`);
  };
  if (update) await updateLists();
  // The packages whose services are held back install on their own: the policy forbids no other package's.
  const holding = packages.filter((p) => servicesHeldBy([p]).length > 0);
  await install(packages.filter((p) => !holding.includes(p)));
  if (holding.length === 0) return;
  const held = servicesHeldBy(holding);
  const policy = forbidServiceStarts();
  const allowStarts = policy.lift;
  // Ctrl-C (apt-get stops too), SIGTERM or a hangup: the policy goes before netlab does.
  const onSignal = (signal: NodeJS.Signals) => {
    allowStarts();
    process.exit(exitCodeOf(null, signal));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  try {
    await install(holding);
  } finally {
    allowStarts();
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, onSignal);
  }
  const systemd = existsSync('/run/systemd/system');
  // Without systemd, only netlab's own policy says the install started nothing.
  const disabled = await runEach(disableCommands(holding, systemd), async ({ argv, env }) => {
    console.error(`$ ${quoteArgv([...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv])}`);
    return (await run(argv[0]!, argv.slice(1), { inherit: 'stderr', env: { ...process.env, ...env } })).exitCode;
  });
  const failed = !disabled || (policy.machines && !systemd);
  console.error(
    failed
      ? `${held.join(' and ')}: may be running or enabled (see above; the tests start sshd themselves): systemctl disable --now ${held.join(' ')}`
      : `${held.join(' and ')}: not running, not enabled (the tests start sshd themselves); to serve SSH from this machine: systemctl enable --now ssh`,
  );
}
