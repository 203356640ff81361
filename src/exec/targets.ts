// Where a lab runs: simulated nodes on this host (the default), or real
// machines over SSH named by an OpenSSH config file (`vagrant ssh-config`), by
// `vagrant ssh-config` run for you, or by netlab's own inventory file.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { run } from './spawn.js';
import type { Model } from '../model/lab.js';
import { didYouMean } from '../model/suggest.js';
import { NAME_PATTERN } from '../model/grammar.js';
import { judgedStateDirPath, makeStateSubdir, writeFileAtomic } from '../state/store.js';
import { othersCanChange } from '../state/access.js';
import { fileOwner } from '../os/output-file.js';
import type { SshTargetState } from '../state/targets.js';
import { shown, UsageError } from '../errors.js';

/** netlab's inventory file; its reader (yaml, zod) is loaded only for --inventory. */
async function readInventory(file: string) {
  return (await import('./inventory.js')).readInventory(file);
}

export interface TargetOptions {
  /** --instance NAME: one of several copies of a lab (`vxlan@g2`); a lab's identity is lab + instance */
  instance?: string;
  sshConfig?: string;
  inventory?: string;
  /** --vagrant: the Vagrant VMs of this directory */
  vagrant?: boolean;
  /** --vagrant-dir DIR: the Vagrant VMs of DIR */
  vagrantDir?: string;
}

export function wantsSsh(options: TargetOptions): boolean {
  return Boolean(options.sshConfig || options.inventory || options.vagrant || options.vagrantDir);
}

/** --vagrant or --vagrant-dir: the directory whose Vagrantfile has the VMs. */
function vagrantDirOf(options: TargetOptions): string | undefined {
  return options.vagrantDir ?? (options.vagrant ? '.' : undefined);
}

/** Host aliases of an OpenSSH config file (patterns with * or ? are not node names). */
export function sshConfigHosts(text: string): string[] {
  return text
    .split('\n')
    .map((line) => /^\s*Host\s+(.+)$/i.exec(line)?.[1])
    .filter((v): v is string => v !== undefined)
    .flatMap((v) => v.trim().split(/\s+/))
    .filter((h) => !/[*?!]/.test(h));
}

function checkNodesCovered(model: Model, available: string[], source: string): void {
  const missing = model.nodes.filter((n) => !available.includes(n.name));
  if (missing.length) {
    throw new UsageError(
      missing
        .map(
          (n) =>
            `lab node ${n.name} is not in ${source}${didYouMean(n.name, available)}; it has: ${available.join(', ') || 'no hosts'}`,
        )
        .join('\n'),
    );
  }
}

/**
 * A file's or directory's one name, as recorded with a target and compared with a flag's: its path with
 * every link resolved (`--vagrant` in a directory reached through a link names the same VMs as
 * `--vagrant-dir` with the link), or the absolute path where it is not there.
 */
function placeOf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** Where the target flags name the machines, as `up` records it (a target's `from`): the inventory file or the Vagrant directory (placeOf); undefined for an SSH config. */
export function placeGiven(options: TargetOptions): string | undefined {
  const given = options.inventory ?? vagrantDirOf(options);
  return given === undefined ? undefined : placeOf(given);
}

/**
 * Runs `vagrant ssh-config` in DIR (--vagrant, --vagrant-dir DIR) and keeps its output as an SSH config file,
 * the directory's own: the hosts it names are that directory's VMs, whatever lab uses them. (Kept under the
 * lab's name, the groups of a room on Vagrant directories took each other's file, `up` logging in before its
 * instance is known, and their labs were reached on another group's VMs.) Written whole (a rename), as groups
 * of one directory may write it at once.
 */
async function vagrantSshConfig(dir: string): Promise<string> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`--vagrant-dir ${shown(dir)}: no such directory (the directory of the VMs' Vagrantfile)`);
  refuseChangeable(join(dir, 'Vagrantfile'), 'Vagrantfile', '`vagrant ssh-config` runs it');
  const result = await run('vagrant', ['ssh-config'], { cwd: dir });
  if (result.exitCode !== 0)
    throw new UsageError(
      `\`vagrant ssh-config\` in ${resolve(dir)} failed: ${String(result.stderr).trim() || `exit ${result.exitCode}`} (are the VMs up? \`vagrant up\`)`,
    );
  const configs = join(judgedStateDirPath(), 'ssh');
  makeStateSubdir(configs);
  const file = join(configs, `vagrant-${createHash('sha256').update(placeOf(dir)).digest('hex').slice(0, 16)}.config`);
  writeFileAtomic(file, String(result.stdout));
  return file;
}

/**
 * Refuses (exit 2) a file whose commands netlab's programs run (as root, under sudo) that someone else could
 * change: a learner who may write a room's group config would run their ProxyCommand as the instructor's root.
 */
function refuseChangeable(file: string, what: string, why: string): void {
  const problem = othersCanChange(file, fileOwner().uid, what);
  if (problem) throw new UsageError(`refusing ${file}: ${problem} (${why}, as this netlab's user)`);
}

/**
 * An inventory's key as the state keeps it: ~/ is the user's home; a relative path is the inventory's neighbour,
 * absolute, so that a command run from another directory (a down, after the master connection closed) finds it.
 */
function keyPath(identity: string, inventory: string): string {
  const home = process.env.HOME;
  // (~user/ and a ~/ without a home are left to ssh, which expands them itself)
  if (identity.startsWith('~')) return identity.startsWith('~/') && home ? join(home, identity.slice(2)) : identity;
  return resolve(dirname(inventory), identity);
}

/** Builds the SSH target for a lab from the command-line options; the lab's node names are the host names. */
export async function sshTarget(
  model: Model,
  options: TargetOptions,
): Promise<{ target: SshTargetState; underlay: Record<string, { dev?: string; address?: string }> }> {
  if ([options.sshConfig, options.inventory, vagrantDirOf(options)].filter(Boolean).length > 1)
    throw new UsageError('give one of --ssh-config, --inventory, --vagrant (--vagrant-dir)');
  if (options.inventory) {
    if (!existsSync(options.inventory)) throw new UsageError(`${options.inventory}: no such inventory file`);
    const inventory = await readInventory(options.inventory);
    checkNodesCovered(model, Object.keys(inventory.nodes), options.inventory);
    const hosts = Object.fromEntries(
      model.nodes.map((n) => {
        const entry = inventory.nodes[n.name]!;
        return [
          n.name,
          {
            host: entry.host,
            ...(entry.port ? { port: entry.port } : {}),
            ...(entry.user ? { user: entry.user } : {}),
            ...(entry.identity ? { identity: keyPath(entry.identity, options.inventory!) } : {}),
          },
        ];
      }),
    );
    const underlay = Object.fromEntries(model.nodes.map((n) => [n.name, inventory.nodes[n.name]!.underlay ?? {}]));
    return {
      target: {
        kind: 'ssh',
        from: placeOf(options.inventory),
        hosts,
        ...(inventory['ssh-options'] ? { options: inventory['ssh-options'] } : {}),
      },
      underlay,
    };
  }
  const { absolute, vagrantDir } = await sshConfigOf(options);
  checkNodesCovered(model, sshConfigHosts(readFileSync(absolute, 'utf8')), absolute);
  return {
    target: {
      kind: 'ssh',
      configFile: absolute,
      ...(vagrantDir ? { from: placeOf(vagrantDir) } : {}),
      hosts: Object.fromEntries(model.nodes.map((n) => [n.name, { host: n.name }])),
    },
    underlay: {},
  };
}

/**
 * The SSH config the options name (--ssh-config FILE, or --vagrant's, made by `vagrant ssh-config`), absolute:
 * one that is not there, or that someone else could change, is refused (exit 2) before ssh reads it.
 */
async function sshConfigOf(options: TargetOptions): Promise<{ absolute: string; vagrantDir: string | undefined }> {
  const vagrantDir = vagrantDirOf(options);
  const configFile = vagrantDir ? await vagrantSshConfig(vagrantDir) : options.sshConfig;
  if (!configFile || !existsSync(configFile))
    throw new UsageError(
      `${configFile}: no such SSH config file (make one with \`vagrant ssh-config > ${configFile}\`)`,
    );
  const absolute = resolve(configFile);
  // (netlab's own copy of `vagrant ssh-config`'s is in its state directory, judged with it)
  if (!vagrantDir) refuseChangeable(absolute, 'SSH config', 'ssh runs its ProxyCommand, LocalCommand and Match exec');
  return { absolute, vagrantDir };
}

/** Without a lab: every host of the config or inventory (for `down` when the local state is lost). */
export async function sshTargetForHosts(options: TargetOptions): Promise<SshTargetState> {
  if (options.inventory) {
    const inventory = await readInventory(options.inventory);
    const nodes = Object.keys(inventory.nodes).map((name) => ({ name, underlay: {} }));
    return (await sshTarget({ nodes } as unknown as Model, options)).target;
  }
  const { absolute } = await sshConfigOf(options);
  // Only aliases that could be lab node names: never one ssh would read as an option.
  const hosts = sshConfigHosts(readFileSync(absolute, 'utf8')).filter((h) => NAME_PATTERN.test(h));
  return {
    kind: 'ssh',
    configFile: absolute,
    hosts: Object.fromEntries(hosts.map((h) => [h, { host: h }])),
  };
}
