// `sudo npm test` (or `sudo npm run bench`) builds as root: the build's output would be root's,
// and the user's own `npm run build` after it would fail on every file. The build gives what it
// wrote back to the user who ran sudo, where the checkout is theirs (a root's checkout stays root's).
import { lchownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Under sudo (root, SUDO_UID and SUDO_GID of another user), gives each path, and everything in it,
 * to that user, if the checkout (`root`) is theirs. Links are given, not followed. Returns the user
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
    if (!stat) return;
    if (stat.uid !== uid || stat.gid !== gid) lchownSync(path, uid, gid);
    if (stat.isDirectory()) for (const name of readdirSync(path)) give(join(path, name));
  };
  for (const path of paths) give(join(root, path));
  return { uid, gid };
}
