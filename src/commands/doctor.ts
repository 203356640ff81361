// `netlab doctor`: is this host (or are the machines of a target) ready for
// the labs? Every command, kernel feature, iptables extension and module each
// lab needs is checked the way up's preflight checks it (the same script
// lines), and what is missing is said with the package or module that brings
// it. `--install` installs the missing packages with apt-get, saying first
// what it runs; `--tests` adds what the test tiers need (.ci/run uses it).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import chalk from 'chalk';
import { run } from '../exec/spawn.js';
import {
  describeMissing,
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
import { RunError, UsageError } from '../errors.js';
import { labFileOf } from './common.js';
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
];

export interface DoctorOptions extends TargetOptions {
  install?: boolean;
  tests?: boolean;
  json?: boolean;
}

/** One node's findings: what is missing, and which labs each missing piece keeps from running. */
interface NodeReport {
  node: string;
  /** the kernel features and extensions could not be probed (why) */
  unprobed?: string;
  missing: { what: Missing; labs: string[]; message: string }[];
  hostTools: { tool: HostTool; present: boolean }[];
}

export async function doctorCommand(args: string[], options: DoctorOptions): Promise<number> {
  const named = args.length > 0;
  const names = named ? args : bundledLabNames();
  const { loadLabFile } = await import('../lab/load.js');
  const labs: Model[] = names.map(
    (arg) => loadLabFile(named ? labFileOf(arg) : join(bundledLabsDir(), `${arg}.yaml`)).model,
  );
  // The kernel is probed in a throwaway network namespace, which needs root here (over SSH, netlab is root there).
  const probing = wantsSsh(options) || process.getuid?.() === 0;
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
        const result = transport ? await transport.run(script) : await run('sh', ['-s'], { input: script });
        if (result.exitCode === 255 && transport)
          throw new RunError(`${node}: ${result.stderr.trim() || 'could not reach it over SSH'}`);
        if (result.stdout.split('\n').includes('@@netlab missing-package-lists')) staleLists = true;
        return reportOf(node, result.stdout, all, needs, hostTools);
      }),
    );
  } finally {
    endSessions();
  }
  const packages = [
    ...new Set(
      reports.flatMap((r) => [
        ...r.missing.flatMap((m) => (m.what.kind === 'tool' ? [m.what.package] : [])),
        ...r.hostTools.filter((t) => !t.present).map((t) => t.tool.package),
      ]),
    ),
  ].sort();
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
      modulesToLoad: modules,
      labsThatCannotRunHere: cannotRun,
      probedKernel: probing,
    });
  else printReport(reports, labs, packages, cannotRun, options, args);
  if (!probing && !options.json)
    console.log(
      'the kernel features and iptables extensions were not probed: that needs root (sudo netlab doctor); tools and modules were checked',
    );
  if (staleLists && !options.json)
    console.log(
      `the package lists do not know ${VM_KERNEL_PACKAGE}, which the VM tier downloads: ${options.install ? 'updating them' : 'run apt-get update (--install does)'}`,
    );
  let installed = false;
  if (options.install && (packages.length > 0 || staleLists)) {
    if (wantsSsh(options))
      throw new UsageError(
        `--install installs on this host only; on the machines, run: apt-get install -y ${packages.join(' ')}`,
      );
    await installPackages(packages, staleLists);
    installed = true;
  }
  let loaded = false;
  if (options.install && modules.length > 0 && !wantsSsh(options)) {
    for (const module of modules) {
      console.error(`$ modprobe ${module}`);
      const result = await run('modprobe', [module], { inherit: 'stderr' });
      if (result.exitCode !== 0) throw new RunError(`modprobe ${module} failed (see above)`);
    }
    loaded = true;
  }
  // Packages missing (and not installed now) fail it; so does a kernel a lab named on the command line cannot run on.
  const unprobed = reports.some((r) => r.unprobed);
  const failed =
    ((packages.length > 0 || staleLists) && !installed) ||
    (named && modules.length > 0 && !loaded) ||
    (named && cannotRun.length > 0) ||
    unprobed;
  return failed ? 1 : 0;
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
    missing: missingOf(lines).map((what) => {
      const labs = labsNeeding(what);
      const who =
        labs.length === needs.length && needs.length > 1
          ? 'every lab'
          : `lab${labs.length > 1 ? 's' : ''} ${labs.join(', ')}`;
      const message =
        what.kind === 'sysctl'
          ? `${who} need${labs.length === 1 ? 's' : ''} the kernel module ${moduleOfSysctl(all, what.key)} on ${node} (${what.key} is missing): load it with \`modprobe ${moduleOfSysctl(all, what.key)}\` (--install does)`
          : describeMissing(what, all, who, node, labs.length > 1 && who !== 'every lab');
      return { what, labs, message };
    }),
    hostTools: hostTools.map((tool) => ({
      tool,
      present: !lines.includes(`@@netlab missing-host-tool ${tool.command}`),
    })),
  };
}

/** Where doctor looks: this host (simulated nodes run its tools and kernel), or every machine of the target. */
async function placesOf(options: TargetOptions): Promise<{ node: string; transport?: Transport }[]> {
  if (!wantsSsh(options)) return [{ node: 'this host' }];
  const target = await sshTargetForHosts(options);
  return Object.entries(transportsOf({ target })).map(([node, transport]) => ({ node, transport }));
}

function printReport(
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
  for (const report of reports) {
    const problems =
      report.missing.length + report.hostTools.filter((t) => !t.present).length + (report.unprobed ? 1 : 0);
    console.log(problems === 0 ? chalk.green(`✓ ${report.node}: everything is there`) : chalk.red(`✗ ${report.node}:`));
    if (report.unprobed) console.log(`  ${report.unprobed}`);
    for (const m of report.missing) console.log(`  ${m.message}`);
    for (const { tool } of report.hostTools.filter((t) => !t.present))
      console.log(
        `  ${tool.for} needs the command "${tool.command}" on ${report.node}: install the package ${tool.package}`,
      );
  }
  if (cannotRun.length)
    console.log(
      `labs this kernel cannot run: ${cannotRun.join(', ')} (a distribution kernel has what they need: the workshop's Vagrant VMs, \`netlab up LAB --vagrant\`)`,
    );
  if (packages.length)
    console.log(
      options.install
        ? `installing: apt-get install -y ${packages.join(' ')}`
        : `to install what is missing: sudo netlab doctor --install${options.tests ? ' --tests' : ''}${args.map((a) => ` ${a}`).join('')} (runs apt-get install -y ${packages.join(' ')})`,
    );
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
    console.error(`$ apt-get ${args.join(' ')}`);
    return run('apt-get', args, { inherit: 'stderr', env });
  };
  const install = ['install', '-y', '-q', '--no-install-recommends', ...packages];
  const updateLists = async () => {
    if ((await apt(['update', '-q'])).exitCode !== 0) throw new RunError('apt-get update failed (see above)');
  };
  if (update) await updateLists();
  if (packages.length === 0 || (await apt(install)).exitCode === 0) return;
  if (!update) await updateLists();
  if ((await apt(install)).exitCode !== 0) throw new RunError(`apt-get install failed (see above)`);
}
