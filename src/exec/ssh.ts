// Real machines over SSH: the system's OpenSSH, so the user's config, keys and
// agent all apply. One master connection per node (ControlMaster) carries every
// script of a command, and ControlPersist keeps it for the next command: a
// login costs ~0.1 s over a master instead of ~0.3-0.9 s for a new connection.
// Over that master each command opens one session per node (a shell as root)
// and runs all its scripts for that node in it (see session.ts).
import { exitCodeOf, run } from './spawn.js';
import { newRunTag, stopTaggedScript } from './run-tag.js';
import { ShellSession, type SessionRunOptions } from './session.js';
import type { Locked, ScriptResult, Transport } from './transport.js';
import type { SshTargetState } from '../state/targets.js';
import { AS_ROOT, explainFailure, sshArgs } from './ssh-args.js';
import { lockLines, parseLockOutput, UNLOCK_LINES } from './node-lock.js';
import { escapeControls, RunError } from '../errors.js';
import { quoteArg } from '../os/quote.js';

/** What a terminal's keys send to its foreground process group: Ctrl-C and Ctrl-\. */
const TERMINAL_SIGNALS = ['SIGINT', 'SIGQUIT'] as const;

/** This command's session with each node, by the ssh arguments that reach it. */
const sessions = new Map<string, ShellSession>();

function sessionWith(target: SshTargetState, node: string): ShellSession {
  const args = sshArgs(target, node);
  const key = JSON.stringify(args);
  let session = sessions.get(key);
  if (!session?.alive) {
    const started: ShellSession = new ShellSession(
      'ssh',
      [...args, AS_ROOT],
      () => sessions.get(key) === started && sessions.delete(key),
    );
    session = started;
    sessions.set(key, session);
  }
  return session;
}

/**
 * At the end of a command: idle sessions end (their shells read end of input);
 * one still running a script (a login that an early error made unneeded) is stopped.
 */
export function endSessions(): void {
  for (const session of sessions.values()) session.end();
  sessions.clear();
}

/**
 * Lets this command's sessions with a lab's machines go: an idle one ends, one still running a script is stopped
 * (its ssh killed). For a grading past its deadline (room/grade.ts): a session stuck on a machine (a shell a
 * learner stopped, a command that hangs) would hold every later script of this process behind it; the next
 * script logs in anew.
 */
export function endSessionsWith(target: SshTargetState): void {
  for (const node of Object.keys(target.hosts)) {
    const key = JSON.stringify(sshArgs(target, node));
    sessions.get(key)?.end();
    sessions.delete(key);
  }
}

function runOn(
  target: SshTargetState,
  node: string,
  script: string,
  options: SessionRunOptions = {},
): Promise<ScriptResult> {
  return sessionWith(target, node).run(script, options);
}

/** Sessions that hold their node's lock (it lives as long as the session's shell). */
const lockedSessions = new WeakSet<ShellSession>();
/**
 * The nodes this command has locked (by the ssh arguments that reach them), with
 * the holder's text. A session that ends (a dropped connection, an idle
 * timeout while `up --step` waits for Enter) takes its lock with it: the next
 * script on that node takes the lock again first, or fails if another netlab
 * has it by then, instead of running unlocked.
 */
const wantedLocks = new Map<string, string>();

/** Takes the lock in the session's shell; `then` (a script that only reads) in the same round (Transport.lock). */
async function takeLock(node: string, session: ShellSession, holder: string, then?: string): Promise<Locked> {
  const [locking, answered] =
    then === undefined
      ? [await session.runInShell(lockLines(holder))]
      : await session.runInShellThen(lockLines(holder), then);
  const result = explainFailure(node, locking);
  const busy = parseLockOutput(node, result.stdout, result.stderr);
  if (busy !== undefined) return { busy };
  lockedSessions.add(session);
  return answered ? { answered: explainFailure(node, answered) } : {};
}

export function sshTransport(target: SshTargetState, node: string): Transport {
  const key = () => JSON.stringify(sshArgs(target, node));
  return {
    node,
    async lock(holder, then) {
      const session = sessionWith(target, node);
      if (lockedSessions.has(session))
        return then === undefined ? {} : { answered: explainFailure(node, await session.run(then)) };
      const locked = await takeLock(node, session, holder, then);
      if (locked.busy === undefined) wantedLocks.set(key(), holder);
      return locked;
    },
    async unlock() {
      wantedLocks.delete(key());
      const session = sessions.get(key());
      if (!session || !lockedSessions.has(session)) return;
      lockedSessions.delete(session);
      await session.runInShell(UNLOCK_LINES);
    },
    async run(script, options): Promise<ScriptResult> {
      const holder = wantedLocks.get(key());
      if (holder !== undefined && !options?.signal?.aborted) {
        const session = sessionWith(target, node);
        if (!lockedSessions.has(session)) {
          const { busy } = await takeLock(node, session, holder);
          if (busy !== undefined)
            throw new RunError(
              `${node}: the connection ended and with it netlab's lock on the node, which another netlab holds now (${busy}); stopping here`,
            );
        }
      }
      return explainFailure(node, await runOn(target, node, script, options ?? {}));
    },
    async interactive(script, options) {
      // A terminal on the machine only where netlab has one both ways: with its output redirected (a file, a
      // pipe into wireshark), the machine's terminal would turn each \n into \r\n and take stderr into stdout.
      const tty = process.stdin.isTTY && process.stdout.isTTY && options?.stdout === undefined ? ['-t'] : [];
      // Without one, the terminal's Ctrl-C (or Ctrl-\) stops the local ssh alone, and the program ran on, on the
      // machine, until it next wrote to the gone connection, or for good (a capture --write until its timeout):
      // netlab stops it from a session of its own (run-tag.ts) before it ends with 128 + the signal.
      const tag = tty.length ? undefined : newRunTag();
      let stoppedBy: NodeJS.Signals | undefined;
      let stopping: Promise<unknown> = Promise.resolve();
      const onSignal = (signal: NodeJS.Signals) => {
        // A second one ends netlab at once (a machine that does not answer).
        if (stoppedBy) process.exit(exitCodeOf(null, stoppedBy));
        stoppedBy = signal;
        stopping = runOn(target, node, stopTaggedScript(tag!), { timeout: 10_000 }).then((stopped) => {
          if (stopped.exitCode !== 0)
            process.stderr.write(
              `netlab: could not stop what runs on ${node} (${escapeControls(stopped.stderr.trim(), true) || `exit ${stopped.exitCode}`}): \`netlab exec ${node} -- ps -ef\` shows it\n`,
            );
        });
      };
      if (tag) for (const signal of TERMINAL_SIGNALS) process.on(signal, onSignal);
      const sudo = `if [ "$(id -u)" -eq 0 ]; then exec sh -c "$0"; fi; exec sudo -n sh -c "$0"`;
      // sudo keeps no environment of the login: the tag is exported by the script it runs.
      const tagged = tag ? `export ${tag}\n${script}` : script;
      try {
        // exec: the user's login shell, which runs this command line, is replaced; dash (a user's
        // default on Debian) waits for it instead, and died of the terminal's Ctrl-C (ssh exit 255).
        const { exitCode } = await run(
          'ssh',
          [...tty, ...sshArgs(target, node), `exec sh -c ${quoteArg(sudo)} ${quoteArg(tagged)}`],
          { inherit: true, ...options, terminal: Boolean(options?.terminal && tty.length) },
        );
        // ssh ends with 255 of the same Ctrl-C, and its end may be seen before netlab's own signal is, in the
        // same turn of the event loop: the signal has reached netlab by then, and is seen in the next.
        if (tag && exitCode === 255 && !stoppedBy) await new Promise((resolve) => setTimeout(resolve, 50));
        await stopping;
        return stoppedBy ? exitCodeOf(null, stoppedBy) : exitCode;
      } finally {
        if (tag) for (const signal of TERMINAL_SIGNALS) process.off(signal, onSignal);
      }
    },
  };
}

/**
 * Connects to every node before anything changes: an unreachable node fails
 * fast, naming the node. The login runs `script` (one that only reads: up's
 * facts questions) and gives back what each node answered.
 */
export async function checkReachable(target: SshTargetState, script = 'true\n'): Promise<Record<string, ScriptResult>> {
  const problems: string[] = [];
  const answered: Record<string, ScriptResult> = {};
  await Promise.all(
    Object.keys(target.hosts).map(async (node) => {
      const result = await runOn(target, node, script, { timeout: 30_000 });
      if (result.exitCode === 126 && String(result.stderr).includes('@@netlab no-sudo')) {
        problems.push(
          `${node}: user ${/@@netlab no-sudo (\S+)/.exec(String(result.stderr))?.[1]} is not root and may not run sudo without a password`,
        );
      } else if (result.exitCode !== 0)
        problems.push(`${node}: ${String(result.stderr).trim() || `ssh exit ${result.exitCode}`}`);
      answered[node] = result;
    }),
  );
  if (problems.length) {
    await closeMasters(target);
  }
  if (problems.length)
    throw new RunError(`cannot reach every node over SSH; nothing was changed:\n  ${problems.sort().join('\n  ')}`);
  return answered;
}

/**
 * Closes the master connections (after down: nothing more to say to these nodes). A master is shared by every
 * netlab of this user with the same SSH config and host (ssh-args.ts), so it is asked to stop (-O stop: take no
 * new session, and exit once its last one ends), never to exit (-O exit ends every session on it at once: another
 * netlab's up, exec or verify on the same machines).
 */
export async function closeMasters(target: SshTargetState): Promise<void> {
  await Promise.all([...sessions.values()].map((session) => session.close()));
  await Promise.all(
    Object.keys(target.hosts).map((node) =>
      run('ssh', [...sshArgs(target, node).slice(0, -2), '-O', 'stop', '--', target.hosts[node]!.host]),
    ),
  );
}
