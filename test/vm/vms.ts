// Throwaway VMs with real, separate kernels for the VM test tier: QEMU (TCG:
// KVM does not work on this machine) booting Debian's cloud kernel and the
// initramfs from build-image.mjs. Each VM is reached like a Vagrant VM: SSH to
// a port on 127.0.0.1 forwarded to its eth0 (user-mode networking with
// restrict=on: no way out). Their eth1s share one L2 segment through a QEMU
// multicast socket on 127.0.0.1, so VXLAN multicast works between them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { findProcesses, killProcess } from '../../src/os/processes.js';

export interface VMs {
  names: string[];
  sshConfig: string;
  addresses: Record<string, string>;
  stop(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function bootVMs(names: string[], image: string, dir: string): Promise<VMs> {
  const group = `230.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const segmentPort = 20000 + Math.floor(Math.random() * 30000);
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const child of children) child.kill('SIGKILL');
    for (const ref of findProcesses((argv) => argv.some((arg) => arg.includes(dir)))) killProcess(ref);
  };
  try {
    const hosts: string[] = [];
    const addresses: Record<string, string> = {};
    for (const [i, name] of names.entries()) {
      const port = await freePort();
      // Vagrant's private network range, not the simulated default: lab files must fit both.
      addresses[name] = `192.168.56.${10 + i}`;
      const log = openSync(join(dir, `${name}.console`), 'w');
      const args = [
        '-machine',
        'q35',
        '-accel',
        'tcg',
        '-cpu',
        'max',
        '-m',
        '384',
        '-smp',
        '1',
        '-display',
        'none',
        '-serial',
        'stdio',
        '-no-reboot',
        '-kernel',
        join(image, 'vmlinuz'),
        '-initrd',
        join(image, 'initrd.gz'),
        '-append',
        `console=ttyS0 panic=-1 quiet netlab.node=${name} netlab.address=${addresses[name]}/24`,
        '-netdev',
        `user,id=nat,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:22`,
        '-device',
        'virtio-net-pci,netdev=nat',
        // every VM needs its own MAC on the shared segment, or the segment breaks
        '-netdev',
        `socket,id=underlay,mcast=${group}:${segmentPort},localaddr=127.0.0.1`,
        '-device',
        `virtio-net-pci,netdev=underlay,mac=52:54:00:56:00:${(10 + i).toString(16).padStart(2, '0')}`,
        '-name',
        `netlab-vm-${name},process=netlab-vm:${dir}`,
      ];
      children.push(spawn('qemu-system-x86_64', args, { stdio: ['ignore', log, log] }));
      hosts.push(
        `Host ${name}`,
        '  HostName 127.0.0.1',
        `  Port ${port}`,
        '  User root',
        `  IdentityFile ${join(image, 'id_ed25519')}`,
        '  IdentitiesOnly yes',
        '  StrictHostKeyChecking no',
        '  UserKnownHostsFile /dev/null',
        '  LogLevel ERROR',
        '',
      );
    }
    const sshConfig = join(dir, 'ssh_config');
    writeFileSync(sshConfig, hosts.join('\n'));
    // Booting takes about 4-15 s under TCG; wait for every VM's SSH login.
    await Promise.all(
      names.map(async (name) => {
        const deadline = Date.now() + 180_000;
        for (;;) {
          const result = await execa(
            'ssh',
            ['-F', sshConfig, '-o', 'ConnectTimeout=5', '-o', 'BatchMode=yes', name, 'true'],
            { reject: false, stdin: 'ignore' },
          );
          if (result.exitCode === 0) return;
          if (Date.now() > deadline)
            throw new Error(
              `VM ${name} did not answer SSH within 180 s: ${String(result.stderr)} (console log: ${join(dir, `${name}.console`)})`,
            );
          await delay(1000);
        }
      }),
    );
    return { names, sshConfig, addresses, stop };
  } catch (error) {
    stop();
    throw error;
  }
}
