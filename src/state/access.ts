// Whether this user may read, or write, netlab's state, and when not, which
// directory stops it and whose it is. A lab brought up with sudo is root's:
// its state and its challenge's record are in root's state directory, made
// with mode 700, which the user who ran sudo cannot read. The commands that
// meet one say so, naming the directory and the command to run instead; they
// never change the directory's owner or mode.
import { accessSync, constants, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';

/** Where `netlab` run as root keeps its state when NETLAB_STATE_DIR is not set (sudo does not pass it on). */
export const DEFAULT_STATE_DIR = '/var/lib/netlab';

/** A directory (or file) this process may not use as it needs to: its owner and mode. */
export interface Denied {
  path: string;
  owner: number;
  mode: number;
}

/** A user's name and home directory from the passwd file; undefined where it has no such user (or there is none). */
export function passwdEntry(uid: number, passwd = '/etc/passwd'): { name: string; home: string } | undefined {
  try {
    for (const line of readFileSync(passwd, 'utf8').split('\n')) {
      const [name, , id, , , home] = line.split(':');
      if (name && id === String(uid)) return { name, home: home ?? '' };
    }
  } catch {
    // no passwd file
  }
  return undefined;
}

/** A user's name from /etc/passwd, else "user UID". */
export function userName(uid: number): string {
  if (uid === 0) return 'root';
  return passwdEntry(uid)?.name ?? `user ${uid}`;
}

/** The running user, as a message names them. */
export function me(): string {
  return userName(process.getuid?.() ?? -1);
}

/** "owner root, mode 700" */
export function ownerAndMode(denied: Denied): string {
  return `owner ${userName(denied.owner)}, mode ${(denied.mode & 0o7777).toString(8)}`;
}

/** "/var/lib/netlab (owner root, mode 700)" */
export function describeDenied(denied: Denied): string {
  return `${denied.path} (${ownerAndMode(denied)})`;
}

/** The directory and each one above it, outermost first: /, /var, /var/lib, /var/lib/netlab. */
function ancestry(dir: string): string[] {
  const all: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    all.unshift(d);
    if (d === dirname(d)) return all;
  }
}

type Access = 'ok' | 'missing' | 'denied';

/** Missing (ENOENT, ENOTDIR), denied (EACCES, EPERM); anything else (a read-only file system) is left to the write to say. */
function check(dir: string, mode: number): Access {
  try {
    accessSync(dir, mode);
    return 'ok';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return 'denied';
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : 'ok';
  }
}

function deniedAt(path: string): Denied {
  const stat = statSync(path);
  return { path, owner: stat.uid, mode: stat.mode };
}

/**
 * The first of these directories (each one inside the one before it) that
 * this process may not list and enter, or above them one it may not enter;
 * undefined when it may read every one of them that exists.
 */
export function unreadable(dirs: readonly string[]): Denied | undefined {
  const wanted = new Set(dirs.map((d) => resolve(d)));
  for (const dir of ancestry(dirs.at(-1)!)) {
    const access = check(dir, wanted.has(dir) ? constants.R_OK | constants.X_OK : constants.X_OK);
    if (access === 'missing') return undefined;
    if (access === 'denied') return deniedAt(dir);
  }
  return undefined;
}

/**
 * Why this process could not create or replace a file in dir (a directory it
 * may not enter, or the directory, or the nearest one above it that exists,
 * that it may not write); undefined when it could.
 */
export function unwritable(dir: string): Denied | undefined {
  const all = ancestry(dir);
  for (const [i, d] of all.entries()) {
    const last = i === all.length - 1;
    const access = check(d, constants.X_OK | (last ? constants.W_OK : 0));
    if (access === 'denied') return deniedAt(d);
    // Missing: it would be made in the directory above, which must be writable.
    if (access === 'missing') {
      const parent = all[i - 1] ?? sep;
      return check(parent, constants.W_OK | constants.X_OK) === 'denied' ? deniedAt(parent) : undefined;
    }
  }
  return undefined;
}

/** The first of these files (in a directory this process may enter) that it may not read; undefined when it may read them all. */
export function unreadableFile(files: readonly string[]): Denied | undefined {
  for (const file of files) if (check(file, constants.R_OK) === 'denied') return deniedAt(file);
  return undefined;
}

/**
 * Why a directory the user `uid` keeps their state in (root's: uid 0) is one
 * another user could change, if it is, with what to do about it: netlab runs
 * what the state says (SSH options, a holder's PID that `down` enters and
 * kills). Every directory on the path as written and on the path its symbolic
 * links lead to must be the user's or root's (root's alone for root) and
 * written by them alone (a user's own directory, by their private group too), but for a sticky one
 * above the state directory (/tmp: its users cannot move another's
 * directories); every symbolic link on the way must be the user's or root's.
 * A directory not there yet is the user's to make (one another user made
 * first is refused by the first write: makeStateSubdir). Undefined when safe.
 */
export function othersCanWrite(dir: string, uid = 0, what = 'state'): string | undefined {
  const given = ancestry(dir);
  let deepest = given[0]!;
  for (const [i, d] of given.entries()) {
    let link;
    try {
      link = lstatSync(d);
    } catch {
      break;
    }
    deepest = d;
    if (link.isSymbolicLink()) {
      if (link.uid !== 0 && link.uid !== uid)
        return `${d} is a symbolic link of ${userName(link.uid)}'s, who could point it elsewhere`;
      continue;
    }
    const problem = unsafeDirectory(d, link, i === given.length - 1, uid, what);
    if (problem) return problem;
  }
  let real: string;
  try {
    real = realpathSync(deepest);
  } catch (error) {
    return `${deepest} leads nowhere (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  const chain = ancestry(real);
  const made = deepest === given.at(-1);
  for (const [i, d] of chain.entries()) {
    const stat = statSync(d);
    const problem = unsafeDirectory(d, stat, made && i === chain.length - 1, uid, what);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Why a file netlab hands to a program that runs what it says (ssh's -F config: its ProxyCommand; a Vagrantfile,
 * Ruby that `vagrant ssh-config` runs), as root under sudo, could be changed by someone other than the user
 * `uid` (SUDO_UID's under sudo) or root, if it could: the file, and every directory above it. Undefined when safe
 * (or missing: said by whoever reads it).
 */
export function othersCanChange(file: string, uid: number, what: string): string | undefined {
  let link, stat;
  try {
    link = lstatSync(file);
    stat = statSync(file);
  } catch {
    return undefined;
  }
  // A symbolic link is followed each time ssh reads it (the state keeps the name given): whoever owns it, or may
  // write the directory it is in, could point it at a file of their own after this check.
  if (link.isSymbolicLink() && link.uid !== uid && link.uid !== 0)
    return `${file} is a symbolic link of ${userName(link.uid)}'s, who could point it elsewhere`;
  if (stat.uid !== uid && stat.uid !== 0) return `${file} is ${userName(stat.uid)}'s, who could put commands in it`;
  if ((stat.mode & 0o022) !== 0)
    return `${file} can be written by others than ${userName(stat.uid)} (mode ${(stat.mode & 0o7777).toString(8)}): \`chmod go-w ${file}\``;
  const real = dirname(realpathSync(file));
  const given = dirname(resolve(file));
  return othersCanWrite(given, uid, what) ?? (real === given ? undefined : othersCanWrite(real, uid, what));
}

/**
 * What is wrong with one directory of a user's state path (root's: uid 0), and
 * the fix; the state directory itself may not be sticky instead. A user's may
 * be root's too (/, /home), and writable by the user's private group.
 */
function unsafeDirectory(
  dir: string,
  { uid: owner, gid, mode }: { uid: number; gid: number; mode: number },
  stateDirectory: boolean,
  uid: number,
  what = 'state',
): string | undefined {
  const who = userName(uid);
  if (owner !== uid && owner !== 0)
    return `${dir} is ${userName(owner)}'s: ${who}'s ${what} goes in a directory of ${who}'s${uid === 0 ? '' : " (or root's)"}, under none of another user's`;
  const sticky = (mode & 0o1000) !== 0 && !stateDirectory;
  // The group's write bit of a user's own directory lets no one else in when the group is theirs alone.
  const groupWrites = (mode & 0o020) !== 0 && !(uid !== 0 && owner === uid && isPrivateGroupOf(gid, uid));
  if ((groupWrites || (mode & 0o002) !== 0) && !sticky)
    return `${dir} can be written by others than ${who} (mode ${(mode & 0o7777).toString(8)}): \`chmod go-w ${dir}\``;
  return undefined;
}

/**
 * A user's private group (the scheme of Debian's and Fedora's useradd, where
 * the umask is 002): the primary group of that user and of no other, with no
 * other members.
 */
export function isPrivateGroupOf(
  gid: number,
  uid: number,
  files: { group: string; passwd: string } = { group: '/etc/group', passwd: '/etc/passwd' },
): boolean {
  const lines = (file: string) => {
    try {
      return readFileSync(file, 'utf8')
        .split('\n')
        .map((line) => line.split(':'));
    } catch {
      return [];
    }
  };
  const group = lines(files.group).find((f) => f[2] === String(gid));
  if (!group || (group[3] ?? '').trim() !== '') return false;
  const primary = lines(files.passwd).filter((f) => f[3] === String(gid));
  return primary.length === 1 && primary[0]![2] === String(uid);
}
