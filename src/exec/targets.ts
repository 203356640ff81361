// Where a lab runs: simulated nodes on this host (the default), or real
// machines over SSH named by an OpenSSH config file (`vagrant ssh-config`), by
// `vagrant ssh-config` run for you, or by netlab's own inventory file.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run } from './spawn.js';
import { parse } from 'yaml';
import { z } from 'zod';
import type { Model } from '../lab/model.js';
import { didYouMean } from '../lab/suggest.js';
import { NAME_PATTERN } from '../lab/grammar.js';
import { stateDir } from '../state/store.js';
import type { SshTargetState } from './ssh.js';
import { UsageError } from '../errors.js';

export interface TargetOptions {
  sshConfig?: string;
  inventory?: string;
  /** --vagrant [DIR]: true when given without a directory */
  vagrant?: string | boolean;
}

export function wantsSsh(options: TargetOptions): boolean {
  return Boolean(options.sshConfig || options.inventory || options.vagrant);
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

const inventorySchema = z.strictObject({
  'ssh-options': z
    .record(z.string().regex(/^[A-Za-z]+$/, { error: 'an ssh option name such as StrictHostKeyChecking' }), z.string().regex(/^[A-Za-z0-9_.\/=:@,+-]+$/, { error: 'an ssh option value' }))
    .optional(),
  nodes: z.record(
    z.string().regex(NAME_PATTERN),
    z.strictObject({
      host: z.string().regex(/^[A-Za-z0-9_.:-]+$/, { error: 'a host name or address' }),
      port: z.number().int().min(1).max(65535).optional(),
      user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { error: 'a user name' }).optional(),
      identity: z.string().optional(),
      underlay: z.strictObject({ dev: z.string().regex(NAME_PATTERN).max(15).optional(), address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/).optional() }).optional(),
    }),
  ),
});

export type Inventory = z.infer<typeof inventorySchema>;

export function readInventory(file: string): Inventory {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'), { maxAliasCount: 10 });
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = inventorySchema.safeParse(data);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`).join('\n') + '\n(an inventory is `nodes: { node-0: { host: 192.168.56.10, user: vagrant, identity: ~/.ssh/key } }`)');
  }
  return parsed.data;
}

function checkNodesCovered(model: Model, available: string[], source: string): void {
  const missing = model.nodes.filter((n) => !available.includes(n.name));
  if (missing.length) {
    throw new UsageError(
      missing.map((n) => `lab node ${n.name} is not in ${source}${didYouMean(n.name, available)}; it has: ${available.join(', ') || 'no hosts'}`).join('\n'),
    );
  }
}

/** Runs `vagrant ssh-config` in DIR (--vagrant [DIR]) and keeps its output as an SSH config file. */
async function vagrantSshConfig(vagrant: string | boolean, name: string): Promise<string> {
  const dir = typeof vagrant === 'string' ? vagrant : '.';
  const result = await run('vagrant', ['ssh-config'], { cwd: dir });
  if (result.exitCode !== 0) throw new UsageError(`\`vagrant ssh-config\` in ${resolve(dir)} failed: ${String(result.stderr).trim() || `exit ${result.exitCode}`} (are the VMs up? \`vagrant up\`)`);
  mkdirSync(join(stateDir(), 'ssh'), { recursive: true, mode: 0o700 });
  const file = join(stateDir(), 'ssh', `${name}.config`);
  writeFileSync(file, String(result.stdout), { mode: 0o600 });
  return file;
}

/** Builds the SSH target for a lab from the command-line options; the lab's node names are the host names. */
export async function sshTarget(model: Model, options: TargetOptions): Promise<{ target: SshTargetState; underlay: Record<string, { dev?: string; address?: string }> }> {
  if ([options.sshConfig, options.inventory, options.vagrant].filter(Boolean).length > 1) throw new UsageError('give one of --ssh-config, --inventory, --vagrant');
  if (options.inventory) {
    if (!existsSync(options.inventory)) throw new UsageError(`${options.inventory}: no such inventory file`);
    const inventory = readInventory(options.inventory);
    checkNodesCovered(model, Object.keys(inventory.nodes), options.inventory);
    const hosts = Object.fromEntries(
      model.nodes.map((n) => {
        const entry = inventory.nodes[n.name]!;
        return [n.name, { host: entry.host, ...(entry.port ? { port: entry.port } : {}), ...(entry.user ? { user: entry.user } : {}), ...(entry.identity ? { identity: entry.identity.replace(/^~(?=\/)/, process.env.HOME ?? '~') } : {}) }];
      }),
    );
    const underlay = Object.fromEntries(model.nodes.map((n) => [n.name, inventory.nodes[n.name]!.underlay ?? {}]));
    return { target: { kind: 'ssh', hosts, ...(inventory['ssh-options'] ? { options: inventory['ssh-options'] } : {}) }, underlay };
  }
  const configFile = options.vagrant ? await vagrantSshConfig(options.vagrant, model.name) : options.sshConfig;
  if (!configFile || !existsSync(configFile)) throw new UsageError(`${configFile}: no such SSH config file (make one with \`vagrant ssh-config > ${configFile}\`)`);
  const absolute = resolve(configFile);
  checkNodesCovered(model, sshConfigHosts(readFileSync(absolute, 'utf8')), absolute);
  return { target: { kind: 'ssh', configFile: absolute, hosts: Object.fromEntries(model.nodes.map((n) => [n.name, { host: n.name }])) }, underlay: {} };
}

/** Without a lab: every host of the config or inventory (for `down` when the local state is lost). */
export async function sshTargetForHosts(options: TargetOptions): Promise<SshTargetState> {
  if (options.inventory) {
    const inventory = readInventory(options.inventory);
    const nodes = Object.keys(inventory.nodes).map((name) => ({ name, underlay: {} }));
    return (await sshTarget({ nodes } as unknown as Model, options)).target;
  }
  const configFile = options.vagrant ? await vagrantSshConfig(options.vagrant, 'down') : options.sshConfig;
  if (!configFile || !existsSync(configFile)) throw new UsageError(`${configFile}: no such SSH config file`);
  const hosts = sshConfigHosts(readFileSync(configFile, 'utf8'));
  return { kind: 'ssh', configFile: resolve(configFile), hosts: Object.fromEntries(hosts.map((h) => [h, { host: h }])) };
}
