// The search for a lab's simulated-node holders that no state records (a killed
// `up`'s): by the marker in their command line, among this netlab's own
// processes only. Real processes, one of them in a PID namespace of its own, as
// a container's are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { destroySimulatedNodes, holderMarker } from '../../src/exec/simulated.js';
import { isRunning, processRef } from '../../src/os/processes.js';
import { waitFor } from '../wait.js';

// A PID namespace of the test's own needs root; CI runs as root, where nothing is skipped.
const needsRoot = process.getuid?.() === 0 ? false : 'needs root: a PID namespace of its own (unshare --pid)';
if (needsRoot && process.env.CI === 'true')
  test('the holder tests can run', () => assert.fail(`skipped in CI: ${needsRoot}`));

/** The PIDs of processes with an argument that begins with `marker`, in any PID namespace. */
function withMarker(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .split('\0')
          .some((arg) => arg.startsWith(marker));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A state directory of the test's own (a path only: nothing is written), and the bridge lab's marker in it. */
function inTestStateDir(): { marker: string; restore: () => void } {
  const dir = `/nonexistent/netlab-holders-test-${process.pid}`;
  const before = process.env.NETLAB_STATE_DIR;
  process.env.NETLAB_STATE_DIR = dir;
  return {
    marker: holderMarker('bridge', '', dir),
    restore: () => {
      if (before === undefined) delete process.env.NETLAB_STATE_DIR;
      else process.env.NETLAB_STATE_DIR = before;
    },
  };
}

/** Ends the test's shells (each a process group of its own), and waits until none with the marker is left. */
async function endShells(children: ChildProcess[], marker: string): Promise<void> {
  for (const child of children) child.stdin?.destroy();
  for (const child of children)
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  await waitFor('no shell left', () => withMarker(marker).length === 0);
}

test(
  "a lab's unrecorded holders are found in this netlab's PID namespace only: a container's netlab, whose state directory has the same path, keeps its own",
  { skip: needsRoot },
  async () => {
    const { marker, restore } = inTestStateDir();
    // Each waits as a shell with the marker as its $0 (as a holder's sh does), reading its input (a builtin: no
    // child of its own, whose command line would be the shell's until it runs its program); the container's as the
    // first process of a PID namespace of its own (its unshare's own arguments do not begin with the marker).
    const wait = 'read -r line';
    const ours = spawn('sh', ['-c', wait, `${marker}node-0`], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    const container = spawn(
      'unshare',
      ['--pid', '--fork', '--kill-child', 'sh', '-c', `exec sh -c '${wait}' "\${0#x}"`, `x${marker}node-0`],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
    );
    try {
      await waitFor('both shells', () => withMarker(marker).length === 2);
      const inContainer = withMarker(marker).find((pid) => pid !== ours.pid)!;
      const theirs = processRef(inContainer)!;
      assert.equal(destroySimulatedNodes('bridge'), 1, "this netlab's own unrecorded holder is stopped");
      assert.deepEqual(withMarker(marker), [inContainer], "the container's is left running");
      assert.ok(isRunning(theirs));
    } finally {
      await endShells([ours, container], marker);
      restore();
    }
    assert.deepEqual(withMarker(marker), [], 'nothing left');
  },
);

test(
  "root's netlab stops only root's holders, and only a holder's command line: a user's process that copies a lab's marker (anyone sees it in ps), or root's `pgrep -f` of it, is left alone",
  { skip: needsRoot },
  async () => {
    const { marker, restore } = inTestStateDir();
    const wait = 'read -r line';
    // A user's (setpriv runs the shell itself, as nobody) with the marker as a holder's sh has it, its $0; and
    // root's with the marker among its arguments, not as that $0 (as `pgrep -f MARKER` has it).
    const users = spawn(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'sh', '-c', wait, `${marker}node-0`],
      { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
    );
    const roots = spawn('sh', ['-c', wait, 'sh', `${marker}node-0`], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    try {
      // Each its shell by now (setpriv's own command line has the marker too, as root's, until it runs the shell
      // as nobody).
      const asShells = () =>
        withMarker(marker).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sh\0'));
      await waitFor('both shells', () => {
        const shells = asShells();
        return shells.length === 2 && shells.some((pid) => statSync(`/proc/${pid}`).uid !== 0);
      });
      const refs = asShells().map((pid) => processRef(pid)!);
      assert.equal(destroySimulatedNodes('bridge'), 0, 'no process stopped');
      assert.ok(refs.every(isRunning), 'both still run');
    } finally {
      await endShells([users, roots], marker);
      restore();
    }
  },
);
