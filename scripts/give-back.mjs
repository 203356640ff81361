// `sudo npm test` (or `sudo npm run bench`) builds as root: the build's output would be root's,
// and the user's own `npm run build` after it would fail on every file. The build gives what it
// wrote back to the user who ran sudo, where the checkout is theirs (a root's checkout stays root's).
import { closeSync, constants, fchownSync, lchownSync, lstatSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Under sudo (root, SUDO_UID and SUDO_GID of another user), gives each path, and everything in it, to
 * that user, if the checkout (`root`) is theirs: only what is root's (what root's build wrote), a file
 * only with no other name, in directories of root's or the user's. A directory is walked through its open descriptor (/proc/self/fd/N/NAME),
 * so that no link swapped in for it leads elsewhere; links are given, not followed. Returns the user
 * given to, or undefined when nothing was done.
 */
export function giveBackToSudoUser(paths, { env = process.env, root = process.cwd() } = {}) {
  const uid = Number(env.SUDO_UID);
  const gid = Number(env.SUDO_GID);
  if (process.getuid?.() !== 0 || !Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid <= 0)
    return undefined;
  if (lstatSync(root).uid !== uid) return undefined;
  const give = (path) => {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    // A directory of the user's is walked too: a build after `npm ci` writes root's files into the user's dist/.
    if (!stat || (stat.uid !== 0 && !(stat.uid === uid && stat.isDirectory()))) return;
    if (!stat.isDirectory()) {
      if (stat.nlink === 1) lchownSync(path, uid, gid);
      return;
    }
    let dir;
    try {
      dir = openSync(path, DIRECTORY);
    } catch {
      return; // swapped for a link (or gone) since the look: left alone
    }
    try {
      if (stat.uid === 0) fchownSync(dir, uid, gid);
      for (const name of readdirSync(`/proc/self/fd/${dir}`)) give(`/proc/self/fd/${dir}/${name}`);
    } finally {
      closeSync(dir);
    }
  };
  for (const path of paths) give(join(root, path));
  return { uid, gid };
}
