// Test machines for the SSH transport: simulated nodes with nothing of a lab
// in them, each running its own sshd on its underlay address, plus a "client"
// machine on the same underlay from which netlab runs. To netlab they are
// real machines reached over SSH, like Vagrant VMs.
import { execa, type ResultPromise } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSimulatedNodes, destroySimulatedNodes, simulatedTransport } from '../../src/exec/simulated.js';
import { simulatedFacts } from '../../src/underlay/simulated.js';
import type { SimulatedTargetState } from '../../src/state/targets.js';
import type { Model } from '../../src/model/lab.js';
import { findProcesses, killProcess } from '../../src/os/processes.js';
import type { Transport } from '../../src/exec/transport.js';
import { NETLAB } from '../paths.js';
import type { Run } from './host.js';

export interface Machines {
  names: string[];
  addresses: Record<string, string>;
  sshConfig: string;
  dir: string;
  /** PID (on this host) of the client machine's init: nsenter's target to run commands from it */
  clientPid: number;
  transport(name: string): Transport;
  /** runs bin/netlab on the client machine (its network namespace, this host's files) */
  netlab(stateDir: string, ...args: string[]): Promise<Run>;
  /** netlab started from the machines' client namespace, running: for a test that signals it or reads it as it goes */
  start(stateDir: string, ...args: string[]): ResultPromise;
  stop(): void;
}

export interface MachineOptions {
  /** programs that are missing on a machine: /dev/null is bind-mounted over them in its mount namespace */
  hide?: Record<string, string[]>;
  /**
   * Non-root users on every machine, with or without passwordless sudo (as Vagrant's
   * vagrant user has). The account files are bind-mounted in each machine's own
   * mount namespace: this host's /etc is not changed.
   */
  users?: Record<string, { sudo: boolean }>;
  /** sshd logs every accepted login to DIR/sshd-NAME.log (for counting connections) */
  logLogins?: boolean;
}

function userFiles(dir: string, users: Record<string, { sudo: boolean }>): string {
  const names = Object.keys(users);
  if (names.length === 0) return '';
  const read = (file: string) => readFileSync(file, 'utf8').replace(/\n?$/, '\n');
  writeFileSync(
    join(dir, 'passwd'),
    `${read('/etc/passwd') + names.map((n, i) => `${n}:x:${2001 + i}:${2001 + i}::/tmp:/bin/sh`).join('\n')}\n`,
  );
  writeFileSync(join(dir, 'group'), `${read('/etc/group') + names.map((n, i) => `${n}:x:${2001 + i}:`).join('\n')}\n`);
  writeFileSync(
    join(dir, 'shadow'),
    `${read('/etc/shadow') + names.map((n) => `${n}:*:19000:0:99999:7:::`).join('\n')}\n`,
    { mode: 0o640 },
  );
  writeFileSync(
    join(dir, 'sudoers'),
    'Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n' +
      names
        .filter((n) => users[n]!.sudo)
        .map((n) => `${n} ALL=(ALL) NOPASSWD: ALL`)
        .join('\n') +
      '\n',
    { mode: 0o440 },
  );
  return ['passwd', 'group', 'shadow', 'sudoers'].map((f) => `mount --bind ${join(dir, f)} /etc/${f}\n`).join('');
}

export async function startMachines(
  label: string,
  names: string[],
  dir: string,
  options: MachineOptions = {},
): Promise<Machines> {
  const all = [...names, 'client'];
  const model = {
    name: label,
    nodes: all.map((name, index) => ({ name, index, underlay: {} })),
    services: [],
  } as unknown as Model;
  const facts = simulatedFacts(model);
  let state: SimulatedTargetState = { kind: 'simulated', nodes: {} };
  try {
    state = (await createSimulatedNodes(model, facts, (s) => (state = s))).target;
    // A key already there would make ssh-keygen ask whether to overwrite it, and wait for an answer forever.
    for (const key of ['id_ed25519', 'host_key'])
      if (existsSync(join(dir, key)))
        throw new Error(
          `startMachines: ${dir} holds machines' keys already; give each set of machines a directory of its own`,
        );
    for (const key of ['id_ed25519', 'host_key'])
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, key)], { stdin: 'ignore' });
    await execa('cp', [join(dir, 'id_ed25519.pub'), join(dir, 'authorized_keys')]);
    const clientConfig: string[] = [];
    const accounts = userFiles(dir, options.users ?? {});
    for (const name of names) {
      const address = facts[name]!.address;
      const sshd = [
        `ListenAddress ${address}`,
        `HostKey ${join(dir, 'host_key')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PidFile /run/sshd.pid',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'MaxSessions 50',
        'MaxStartups 50',
      ];
      writeFileSync(join(dir, `sshd-${name}.conf`), `${sshd.join('\n')}\n`);
      const hide = (options.hide?.[name] ?? []).map((program) => `mount --bind /dev/null ${program}\n`).join('');
      const log = options.logLogins ? ` -E ${join(dir, `sshd-${name}.log`)} -o LogLevel=VERBOSE` : '';
      const result = await simulatedTransport(name, state.nodes[name]!).run(
        `${hide}${accounts}mkdir -p /run/sshd && /usr/sbin/sshd -f ${join(dir, `sshd-${name}.conf`)}${log}\n`,
      );
      if (result.exitCode !== 0) throw new Error(`sshd on ${name}: ${result.stderr}`);
      clientConfig.push(
        `Host ${name}`,
        `  HostName ${address}`,
        '  User root',
        `  IdentityFile ${join(dir, 'id_ed25519')}`,
        '  IdentitiesOnly yes',
        '  StrictHostKeyChecking no',
        '  UserKnownHostsFile /dev/null',
        '  LogLevel ERROR',
        '',
      );
    }
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(sshConfig, clientConfig.join('\n'));
    const client = state.nodes.client!.init.pid;
    const start = (stateDir: string, ...args: string[]) =>
      execa('nsenter', ['-t', String(client), '-n', '--', NETLAB, ...args], {
        reject: false,
        stdin: 'ignore',
        timeout: 180_000,
        env: { NETLAB_STATE_DIR: stateDir, FORCE_COLOR: '0', XDG_RUNTIME_DIR: dir },
      });
    return {
      names,
      addresses: Object.fromEntries(names.map((n) => [n, facts[n]!.address])),
      sshConfig,
      dir,
      clientPid: client,
      transport: (name) => simulatedTransport(name, state.nodes[name]!),
      start,
      async netlab(stateDir, ...args) {
        const result = await start(stateDir, ...args);
        return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
      },
      stop: () => {
        destroySimulatedNodes(label, state);
        // ssh master connections netlab left for later commands (ControlPersist) to these machines
        for (const ref of findProcesses((argv) => argv.some((arg) => arg.includes(dir)))) killProcess(ref);
      },
    };
  } catch (error) {
    destroySimulatedNodes(label, state);
    throw error;
  }
}
