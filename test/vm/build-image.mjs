#!/usr/bin/env node
// Builds the real-kernel VM image for `npm run test:vm`: Debian's cloud kernel
// (fetched with apt-get download, unpacked with dpkg -x) and a busybox
// initramfs holding the kernel modules the labs need and the tools netlab runs
// on a node (iproute2, iptables, conntrack, socat, ping, traceroute, util-linux, sshd),
// copied from this machine with their libraries. The result is cached outside
// the repository (NETLAB_VM_CACHE, default /var/cache/netlab/vm) and reused
// while this script and the kernel version are unchanged.
//
// Prints the cache directory: vmlinuz, initrd.gz, id_ed25519 (root's key).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const run = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });
const log = (m) => process.stderr.write(`vm-image: ${m}\n`);

// Modules loaded at boot, with their dependencies. ipip, vxlan and br_netfilter
// are what the Vagrant provisioning loads, geneve what the geneve lab needs;
// the netfilter ones back iptables-nft.
const MODULES = [
  'virtio_pci',
  'virtio_net',
  'veth',
  'bridge',
  'vxlan',
  'ipip',
  'geneve',
  'br_netfilter',
  'overlay',
  'nf_tables',
  'nft_compat',
  'nft_chain_nat',
  'nft_ct',
  'nft_masq',
  'nf_nat',
  'nf_conntrack',
  'nf_conntrack_netlink',
  'xt_statistic',
  'xt_comment',
  'xt_mark',
  'xt_addrtype',
  'xt_MASQUERADE',
  'xt_nat',
  'xt_tcpudp',
  'xt_conntrack',
  'inet_diag',
  'tcp_diag',
  'udp_diag',
];
// dash is /bin/sh: busybox's shell would run its own applets (ip, unshare, ping...) instead of the real tools.
const BINARIES = [
  '/usr/bin/dash',
  '/usr/sbin/ip',
  '/usr/sbin/bridge',
  '/usr/bin/ss',
  '/usr/sbin/xtables-nft-multi',
  '/usr/sbin/conntrack',
  '/usr/bin/socat',
  '/usr/bin/ping',
  '/usr/bin/unshare',
  '/usr/bin/nsenter',
  '/usr/bin/flock',
  '/usr/sbin/sysctl',
  '/usr/sbin/sshd',
  '/usr/bin/tcpdump',
  // the traceroute checks (labs router-ipip, routes)
  '/usr/bin/traceroute',
];
const APPLETS = [
  'mount',
  'umount',
  'mkdir',
  'cat',
  'echo',
  'ls',
  'sleep',
  'hostname',
  'insmod',
  'tac',
  'timeout',
  'mkfifo',
  'awk',
  'sed',
  'grep',
  'cut',
  'tr',
  'head',
  'tail',
  'ps',
  'kill',
  'xargs',
  'rm',
  'cp',
  'ln',
  'chmod',
  'id',
  'sort',
  'uniq',
  'wc',
  'env',
  'true',
  'false',
  'printf',
  'test',
  '[',
  'readlink',
  'stat',
  'tar',
  'find',
  'dmesg',
  'date',
  'poweroff',
  'chroot',
  'seq',
  'touch',
  'mv',
  'uname',
  'whoami',
  'pidof',
  'basename',
  'dirname',
  'rmdir',
];

const here = dirname(fileURLToPath(import.meta.url));
const kernelPackage = run('apt-cache', ['depends', 'linux-image-cloud-amd64'])
  .split('\n')
  .map((l) => /Depends: (linux-image-\S+)/.exec(l)?.[1])
  .find(Boolean);
if (!kernelPackage) throw new Error('apt-cache knows no linux-image-cloud-amd64: run apt-get update');
const recipe = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .digest('hex')
  .slice(0, 12);
const cache = join(process.env.NETLAB_VM_CACHE ?? '/var/cache/netlab/vm', `${kernelPackage}-${recipe}`);
if (existsSync(join(cache, 'initrd.gz'))) {
  console.log(cache);
  process.exit(0);
}
const work = `${cache}.build`;
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

log(`fetching ${kernelPackage}`);
run('apt-get', ['download', '-q', kernelPackage], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
run('dpkg', ['-x', join(work, deb), join(work, 'kernel')]);
const version = readdirSync(join(work, 'kernel', 'lib', 'modules'))[0];
run('depmod', ['-b', join(work, 'kernel'), version]);

const root = join(work, 'root');
for (const d of [
  'bin',
  'sbin',
  'usr/bin',
  'usr/sbin',
  'etc/ssh',
  'proc',
  'sys',
  'dev',
  'run',
  'tmp',
  'root',
  'var/empty',
  `lib/modules/${version}`,
])
  mkdirSync(join(root, d), { recursive: true });

// Modules in dependency order (modules.dep lists a module's dependencies).
const moduleDir = join(work, 'kernel', 'lib', 'modules', version);
const deps = new Map(
  readFileSync(join(moduleDir, 'modules.dep'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [mod, rest] = line.split(':');
      return [mod, rest.trim() ? rest.trim().split(/\s+/) : []];
    }),
);
const byName = new Map([...deps.keys()].map((p) => [p.split('/').pop().replace(/\.ko$/, '').replace(/-/g, '_'), p]));
const order = [];
const visit = (path) => {
  if (order.includes(path)) return;
  for (const dep of deps.get(path) ?? []) visit(dep);
  order.push(path);
};
for (const name of MODULES) {
  const path = byName.get(name);
  if (!path) throw new Error(`module ${name} is not in ${kernelPackage}`);
  visit(path);
}
for (const path of order) cpSync(join(moduleDir, path), join(root, 'lib', 'modules', version, path));
writeFileSync(join(root, 'etc', 'netlab-modules'), `${order.map((p) => `/lib/modules/${version}/${p}`).join('\n')}\n`);

// Tools, with every library they load.
const libraries = new Set();
const addWithLibraries = (file) => {
  cpSync(file, join(root, file), { dereference: true });
  for (const line of run('ldd', [file]).split('\n')) {
    const lib = /=> (\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+ld-linux\S*)/.exec(line)?.[1];
    if (lib) libraries.add(lib);
  }
};
for (const binary of BINARIES) addWithLibraries(binary);
const xtables = '/usr/lib/x86_64-linux-gnu/xtables';
for (const plugin of readdirSync(xtables)) addWithLibraries(join(xtables, plugin));
for (const lib of libraries) cpSync(lib, join(root, lib), { dereference: true });
for (const name of ['iptables', 'iptables-restore', 'iptables-save'])
  symlinkSync('xtables-nft-multi', join(root, 'usr', 'sbin', name));
cpSync('/bin/busybox', join(root, 'bin', 'busybox'));
symlinkSync('/usr/bin/dash', join(root, 'bin', 'sh'));
for (const applet of APPLETS)
  if (!existsSync(join(root, 'bin', applet))) symlinkSync('busybox', join(root, 'bin', applet));

// Root logs in with a key made for this image; sshd without PAM, as on a small VM.
run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'id_ed25519'), '-C', 'netlab-vm']);
run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(root, 'etc', 'ssh', 'ssh_host_ed25519_key')]);
cpSync(join(work, 'id_ed25519.pub'), join(root, 'etc', 'ssh', 'authorized_keys'));
writeFileSync(
  join(root, 'etc', 'ssh', 'sshd_config'),
  [
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'AuthorizedKeysFile /etc/ssh/authorized_keys',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'MaxSessions 50',
    'MaxStartups 50',
    'PidFile /run/sshd.pid',
    '',
  ].join('\n'),
);
writeFileSync(
  join(root, 'etc', 'passwd'),
  'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/bin/false\nnobody:x:65534:65534::/nonexistent:/bin/false\n',
);
writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
writeFileSync(join(root, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n');
writeFileSync(join(root, 'etc', 'protocols'), 'ip 0 IP\nicmp 1 ICMP\ntcp 6 TCP\nudp 17 UDP\nipencap 4 IP-ENCAP\n');
cpSync(join(here, 'init.sh'), join(root, 'init'));
chmodSync(join(root, 'init'), 0o755);

log('packing the initramfs');
run('sh', ['-c', 'find . | cpio -o -H newc --quiet | gzip -1 > ../initrd.gz'], { cwd: root });
cpSync(join(work, 'kernel', 'boot', `vmlinuz-${version}`), join(work, 'vmlinuz'));
rmSync(join(work, 'kernel'), { recursive: true, force: true });
rmSync(join(work, deb), { force: true });
rmSync(root, { recursive: true, force: true });
rmSync(cache, { recursive: true, force: true });
execFileSync('mv', [work, cache]);
// Images of earlier versions of this recipe are of no further use.
for (const old of readdirSync(dirname(cache))) {
  if (old.startsWith(`${kernelPackage}-`) && join(dirname(cache), old) !== cache)
    rmSync(join(dirname(cache), old), { recursive: true, force: true });
}
log(`built ${cache}`);
console.log(cache);
