// A file netlab writes for the user (capture --write), opened here and not by a
// shell. netlab runs as root, often in a directory others may write to (/tmp):
// no symbolic link anywhere in the path may redirect the write, and no FIFO
// may block it.
import { closeSync, constants, fchownSync, fstatSync, ftruncateSync, lstatSync, openSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { shown, UsageError } from '../errors.js';

export interface FileOwner {
  uid: number;
  gid: number;
}

/** Whom a file netlab writes is for: the user who ran sudo (netlab as root through sudo), else netlab's own user. */
export function fileOwner(env: NodeJS.ProcessEnv = process.env): FileOwner {
  const uid = Number(env.SUDO_UID);
  const gid = Number(env.SUDO_GID);
  if (process.getuid?.() === 0 && Number.isInteger(uid) && Number.isInteger(gid) && uid > 0) return { uid, gid };
  return { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
}

type Refuse = (why: string) => UsageError;

const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
// A new file only (O_EXCL): a name that is there already, a FIFO or a device too, is never opened by it,
// but judged first (openExisting), so no open can wait for a FIFO's reader or start a device's driver.
const NEW_FILE = constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_CREAT | constants.O_EXCL;
// Linux's O_PATH (Node does not name it): a handle on a file that opens nothing. A device's driver runs
// at its open (a tape rewinds, a watchdog starts counting down, a terminal may become the controlling
// one): an existing file is looked at through this handle, and opened only once it is a plain file.
const O_PATH = 0o10000000;

/**
 * Opens path for writing: a new file (mode 0644, given to `owner`), or an
 * existing plain file of owner's with no other name, emptied. Anything else,
 * or a symbolic link anywhere in the path, is refused with exit 2, naming the
 * file as `what`.
 */
export function openOutputFile(
  path: string,
  { owner = fileOwner(), what = 'the file' }: { owner?: FileOwner; what?: string } = {},
): number {
  const refuse: Refuse = (why) => new UsageError(`cannot write ${what} ${shown(path)}: ${why}`);
  const absolute = resolve(path);
  const dir = openDirectory(dirname(absolute), refuse);
  try {
    return openIn(dir, basename(absolute), owner, refuse);
  } finally {
    closeSync(dir);
  }
}

/**
 * Opens an absolute directory one component at a time from /, following no
 * symbolic link. Node has no openat(): a name under /proc/self/fd/N is looked
 * up in the directory open as N itself (the kernel does not read that link as
 * a path), so no component can be swapped for a link after it was checked.
 */
function openDirectory(dir: string, refuse: Refuse): number {
  let fd = openSync('/', DIRECTORY);
  let reached = '';
  let at = '';
  try {
    for (const name of dir.split('/').filter(Boolean)) {
      reached += `/${name}`;
      at = `/proc/self/fd/${fd}/${name}`;
      const next = openSync(at, DIRECTORY);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (error) {
    const why = reason(error, at);
    closeSync(fd);
    throw refuse(`${reached}: ${why}`);
  }
}

/** Opens name in the open directory dir: made new if it can be, else an existing plain file of owner's. */
function openIn(dir: number, name: string, owner: FileOwner, refuse: Refuse): number {
  const at = `/proc/self/fd/${dir}/${name}`;
  let fd: number;
  let created = true;
  try {
    fd = openSync(at, NEW_FILE, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw refuse(reason(error, at));
    created = false;
    fd = openExisting(at, owner, refuse);
  }
  if (!created) ftruncateSync(fd, 0);
  // Only a file netlab made is given away: never one that was there.
  if (created && owner.uid !== process.getuid?.()) fchownSync(fd, owner.uid, owner.gid);
  return fd;
}

/**
 * Opens an existing file for writing if it is a plain file of owner's with no other name (not a device,
 * a FIFO or a link), judged before it is opened: through an O_PATH handle, which the open then goes
 * through (/proc/self/fd/N is that very file: nothing can be swapped in between).
 */
function openExisting(at: string, owner: FileOwner, refuse: Refuse): number {
  let handle: number;
  try {
    handle = openSync(at, O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    throw refuse(reason(error, at));
  }
  try {
    const stat = fstatSync(handle);
    if (stat.isSymbolicLink()) throw refuse('it is a symbolic link; name the file by a path without any');
    if (!stat.isFile() || stat.nlink !== 1 || stat.uid !== owner.uid)
      throw refuse(
        `it exists and is ${stat.isFile() ? 'not yours (or has other names)' : 'not a plain file'}; name a new file`,
      );
    try {
      // Non-blocking: where another process holds a lease on the file (F_SETLEASE, which its owner may take),
      // open waits up to the kernel's lease-break-time (45 s) for it to let go; so it fails at once (EAGAIN).
      return openSync(`/proc/self/fd/${handle}`, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      throw refuse(reason(error, at));
    }
  } finally {
    closeSync(handle);
  }
}

/**
 * Why opening `at` failed, in words about the path the user gave (not the
 * /proc one it was opened by). A directory opened without following a link
 * fails with ENOTDIR, a file with ELOOP.
 */
function reason(error: unknown, at: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' || (code === 'ENOTDIR' && isSymbolicLink(at)))
    return 'it is a symbolic link; name the file by a path without any';
  if (code === 'EAGAIN') return 'another process holds a lease on it; name a new file, or try again';
  if (code === 'ENOTDIR') return 'it is not a directory';
  if (code === 'ENOENT') return 'no such directory';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES') return 'permission denied';
  return code ?? (error as Error).message;
}

function isSymbolicLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
