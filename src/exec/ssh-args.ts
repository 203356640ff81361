// The arguments netlab gives OpenSSH, and what its failures mean: pure but for
// the control directory, which is made (mode 700) and checked once. The
// sessions that use them are in ssh.ts; README "Guarantees" lists the
// promises kept here (netlab's options first, `--` before the host, a private
// control directory, no host or user that ssh would read as an option).
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ScriptResult } from './transport.js';
import type { SshHost, SshTargetState } from '../state/targets.js';
import { RunError, UsageError } from '../errors.js';

/**
 * A login, as its master socket's name tells it apart: the config file, the host entry, and an inventory's ssh
 * options (sorted). A ProxyJump among those is part of where the login goes: ssh's own %C names only the last
 * hop (and before OpenSSH 9.6 not even that), so two groups' inventories reaching the same address through
 * different jump hosts would otherwise share one master, and a lab be built on the other group's machines.
 */
function loginHash(target: SshTargetState, host: SshHost): string {
  const options = Object.entries(target.options ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([target.configFile ?? '', host, options]))
    .digest('hex')
    .slice(0, 10);
}

/** What a socket's path holds (sun_path, less its final NUL), and what ssh puts after the directory's name. */
const SOCKET_PATH_MAX = 107;
const CONTROL_NAME_LENGTH = '/'.length + 10 + '-'.length + 40 + '.'.length + 16;

/** The control directory, once checked: every script of a command asks for its session's arguments. */
let checkedControlDir: string | undefined;

/**
 * Per-user directory for master sockets. A master socket grants the login (and
 * OpenSSH's client does not check who owns the master it talks to), so the
 * directory must be ours alone: made with mode 0700, or, if it exists, a real
 * directory (not a symlink) owned by us that no one else can enter. So must
 * the directory it is in, XDG_RUNTIME_DIR: whoever may write there could
 * rename ours after it was checked and put their own in its place. Root's is
 * under /run, where no other user can create it first.
 */
export function controlDir(): string {
  if (checkedControlDir) return checkedControlDir;
  const uid = process.getuid?.() ?? -1;
  const runtime = process.env.XDG_RUNTIME_DIR || undefined; // empty is unset, as the XDG spec says
  const runtimeProblem = runtime === undefined ? undefined : runtimeDirProblem(runtime, uid);
  if (runtimeProblem)
    throw new UsageError(
      `refusing XDG_RUNTIME_DIR ${runtime} as the place of the SSH control directory: ${runtimeProblem}; others could put their own control directory there. Set XDG_RUNTIME_DIR to a directory of your own (mode 700), or unset it`,
    );
  const fallback = uid === 0 ? '/run' : tmpdir();
  let dir = join(runtime ?? fallback, `netlab-ssh-${uid}`);
  // A socket's path holds 107 bytes (sun_path), and ssh adds 69 to the directory (the login's hash, %C's 40, and
  // its own temporary suffix): an XDG_RUNTIME_DIR of a long uid (an SSSD's, 10 digits) made every login fail. A
  // '%' or a blank would be read by ssh as a token or the option's end.
  const usable = (path: string) => path.length + CONTROL_NAME_LENGTH <= SOCKET_PATH_MAX && !/[%\s]/.test(path);
  if (!usable(dir)) dir = join(fallback, `netlab-ssh-${uid}`);
  if (!usable(dir))
    throw new UsageError(
      `no place for the SSH control directory: ${dir} is longer than ${SOCKET_PATH_MAX - CONTROL_NAME_LENGTH} characters, or has a '%' or a blank (ssh's sockets live in it); set TMPDIR or XDG_RUNTIME_DIR to a short private directory`,
    );
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new UsageError(`cannot make the SSH control directory ${dir}: ${(error as Error).message}`);
  }
  const problem = controlDirProblem(dir, uid);
  if (problem)
    throw new UsageError(
      `refusing the SSH control directory ${dir}: ${problem}; its sockets would let others use netlab's logins. Remove it, or set XDG_RUNTIME_DIR to a private directory`,
    );
  checkedControlDir = dir;
  return dir;
}

/** Why a directory is not private to the user uid (undefined: it is). */
export function controlDirProblem(dir: string, uid: number): string | undefined {
  return ownDirProblem(dir, uid, 0o077);
}

/** Why XDG_RUNTIME_DIR may not hold the control directory (undefined: it may). */
export function runtimeDirProblem(dir: string, uid: number): string | undefined {
  if (!isAbsolute(dir)) return 'it is not an absolute path';
  return ownDirProblem(dir, uid, 0o022);
}

/**
 * Why dir is not a real directory (not a symlink) of the user uid's with none
 * of the mode bits in `others`: 0o077, no one else may enter it; 0o022, no one
 * else may write to it.
 */
function ownDirProblem(dir: string, uid: number, others: 0o077 | 0o022): string | undefined {
  let stat: Stats;
  try {
    stat = lstatSync(dir);
  } catch (error) {
    return `it cannot be examined (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  if (stat.isSymbolicLink()) return 'it is a symbolic link';
  if (!stat.isDirectory()) return 'it is not a directory';
  if (stat.uid !== uid) return `it belongs to user ${stat.uid}, not to ${uid}`;
  const mode = (stat.mode & 0o777).toString(8);
  if ((stat.mode & others) !== 0)
    return others === 0o077 ? `others may use it (mode ${mode}, not 700)` : `others may write to it (mode ${mode})`;
  return undefined;
}

/**
 * netlab's own options. OpenSSH takes the first value it is given for an option,
 * so these come before the inventory's (which may not name them anyway) and
 * before the config file's: batch mode (never a prompt), and the control
 * socket in the private directory above.
 */
function ownOptions(target: SshTargetState, host: SshHost): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'ControlMaster=auto',
    // One master per node and per way of logging in: another config or key never borrows it.
    '-o',
    `ControlPath=${controlDir()}/${loginHash(target, host)}-%C`,
    '-o',
    'ControlPersist=120',
  ];
}

export function sshArgs(target: SshTargetState, node: string): string[] {
  const host = target.hosts[node];
  if (!host) throw new RunError(`no SSH host for node ${node}`);
  // A host or user that ssh would read as an option never gets that far.
  if (host.host.startsWith('-') || host.user?.startsWith('-'))
    throw new UsageError(`node ${node}: an SSH host or user may not start with "-"`);
  return [
    ...ownOptions(target, host),
    ...(target.configFile ? ['-F', target.configFile] : []),
    ...Object.entries(target.options ?? {}).flatMap(([key, value]) => ['-o', `${key}=${value}`]),
    '-o',
    'ConnectTimeout=10',
    // A machine that stops answering (a VM stopped under a kept connection) is noticed in
    // 9 s, instead of when TCP gives up minutes later: a room grading thirty groups goes on.
    '-o',
    'ServerAliveInterval=3',
    '-o',
    'ServerAliveCountMax=3',
    ...(host.port ? ['-p', String(host.port)] : []),
    ...(host.user ? ['-l', host.user] : []),
    ...(host.identity ? ['-i', host.identity, '-o', 'IdentitiesOnly=yes'] : []),
    '--',
    host.host,
  ];
}

// Root runs the script as is; any other user through `sudo -n` (never a password prompt).
export const AS_ROOT = `PATH=$PATH:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin; if [ "$(id -u)" -eq 0 ]; then exec sh -s; fi; if ! sudo -n true 2>/dev/null; then echo "@@netlab no-sudo $(id -un)" >&2; exit 126; fi; exec sudo -n sh -s`;

/** A session's result, or the error it means: no passwordless sudo for the user, or ssh's own failure (exit 255). */
export function explainFailure(node: string, result: ScriptResult): ScriptResult {
  if (result.stderr.includes('@@netlab no-sudo')) {
    const user = /@@netlab no-sudo (\S+)/.exec(result.stderr)?.[1];
    throw new RunError(
      `${node}: user ${user} is not root and may not run sudo without a password; give it passwordless sudo (as Vagrant does) or log in as root`,
    );
  }
  if (result.exitCode === 255) throw new RunError(`${node}: ssh failed: ${result.stderr.trim() || 'no message'}`);
  return result;
}
