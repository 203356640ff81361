// Simulated nodes without root: each lab in a user namespace of its own.
//
// A user who is not root builds simulated nodes inside a user namespace that
// the lab's underlay holder creates (`unshare --user --map-root-user`: the
// user's own uid is its root, nothing else is mapped). Every other holder of
// the lab is started inside it, so the lab's network, mount, UTS and PID
// namespaces all belong to it. The kernel gives its root CAP_NET_ADMIN and
// CAP_SYS_ADMIN over the namespaces it owns — all a simulated node needs —
// and nothing over the host's network, routes and iptables, nor over another
// user's namespaces. What it cannot do is load a kernel module: a lab whose
// device type or iptables extension is not in the kernel yet is refused by
// the preflight, naming the `modprobe` an administrator runs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Holder, SimulatedTargetState } from '../state/targets.js';

/** unshare's flags for a user namespace of the user's own, the user its root (and no other uid mapped). */
export const OWN_USER_NAMESPACE = ['--user', '--map-root-user'] as const;

/** Whether this netlab runs without root (and so builds simulated labs in a user namespace). */
export function withoutRoot(): boolean {
  return process.getuid?.() !== 0;
}

/** nsenter's arguments that enter a holder: its user namespace first, when it has one. */
export function enterHolder(holder: Holder): string[] {
  if (!holder.userns) return ['-t', String(holder.init.pid)];
  // The user keeps their uid (--preserve-credentials), which is root in there:
  // nsenter's own setgroups() is refused in a namespace an unprivileged user
  // mapped. Root (an administrator acting on a user's lab) becomes its root
  // instead: unmapped in there, it would lose its capabilities at exec.
  return ['-t', String(holder.init.pid), '-U', ...(withoutRoot() ? ['--preserve-credentials'] : [])];
}

/** Whether this process may enter the lab's simulated nodes: root may enter any; a user, those of a lab built without root. */
export function mayEnterNodes(target: SimulatedTargetState): boolean {
  return !withoutRoot() || builtInUserNamespace(target);
}

/** Whether a simulated lab was built without root, in a user namespace of its own (recorded from its first write, or by its underlay). */
export function builtInUserNamespace(target: SimulatedTargetState): boolean {
  return target.userns === true || target.underlay?.userns === true;
}

/** Where a lab on simulated nodes is recorded before its first holder starts: a user's in their own user namespace. */
export function newSimulatedTarget(): SimulatedTargetState {
  const machine = thisMachine();
  return {
    kind: 'simulated',
    nodes: {},
    ...(machine ? { machine } : {}),
    ...(withoutRoot() ? { userns: true as const } : {}),
  };
}

/** This machine: its id (systemd's /etc/machine-id, or D-Bus's), and its name; undefined where it has no id. */
export function thisMachine(): { id: string; name: string } | undefined {
  // (read once: status asks it of every node of every lab)
  if (machine !== null) return machine;
  machine = undefined;
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (/^[0-9a-f]{32}$/.test(id)) return (machine = { id, name: hostname() });
    } catch {
      // the next, or none
    }
  }
  return machine;
}
let machine: { id: string; name: string } | undefined | null = null;

/** Where a simulated lab's holders run, if on another machine than this one (its state directory shared). */
export function otherMachine(target: SimulatedTargetState): string | undefined {
  if (!target.machine) return undefined;
  const here = thisMachine();
  return here && here.id !== target.machine.id ? target.machine.name : undefined;
}

/** A kernel setting that turns unprivileged user namespaces off, and how an administrator turns them on. */
interface Switch {
  key: string;
  off: (value: string) => boolean;
  fix: string;
}

const SWITCHES: Switch[] = [
  {
    // Debian's and older Ubuntu kernels' own switch (Debian 11 and later default to 1).
    key: 'kernel.unprivileged_userns_clone',
    off: (v) => v === '0',
    fix: 'sudo sysctl -w kernel.unprivileged_userns_clone=1',
  },
  {
    // Ubuntu 23.10 and later: AppArmor takes every capability away from a user namespace an unconfined program makes.
    key: 'kernel.apparmor_restrict_unprivileged_userns',
    off: (v) => v === '1',
    fix: 'sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile that allows `userns` for unshare)',
  },
  {
    key: 'user.max_user_namespaces',
    off: (v) => v === '0',
    fix: 'sudo sysctl -w user.max_user_namespaces=15000',
  },
];

/** Reads a sysctl by its key: undefined when this kernel has no such setting. */
function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Why a user namespace could not be made, with the administrator's fix: the
 * settings that are off (each with its value), else what unshare said.
 * Pure: the settings are read by the caller.
 */
export function userNamespaceRefusal(said: string, setting: (key: string) => string | undefined): string {
  const off = SWITCHES.filter((s) => {
    const value = setting(s.key);
    return value !== undefined && s.off(value);
  });
  const why = off.length
    ? off.map((s) => `${s.key} is ${setting(s.key)} (an administrator turns it on: ${s.fix})`).join('; ')
    : `unshare --user --map-root-user said: ${said || 'no message'}`;
  return (
    `simulated nodes without root need unprivileged user namespaces, and this kernel refuses them: ${why}.` +
    ' To keep the setting after a reboot, put it in /etc/sysctl.d/. Or run netlab as root (sudo)'
  );
}

/** Undefined when this user may make a user namespace of their own; else why not and the fix. */
export function userNamespaceProblem(): string | undefined {
  const result = spawnSync('unshare', [...OWN_USER_NAMESPACE, 'true'], { encoding: 'utf8' });
  if (result.error) return `simulated nodes without root need util-linux's unshare: ${result.error.message}`;
  if (result.status === 0) return undefined;
  return userNamespaceRefusal(result.stderr.trim(), readSysctl);
}
