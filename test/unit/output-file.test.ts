// A file netlab writes for the user (capture --write) as root: reached through
// no symbolic link anywhere in its path, never a FIFO or device that could
// block or misdirect the write, made new or an existing plain file of the
// user's own, and given to the user who ran sudo. Plain files in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';

import { join } from 'node:path';
import { openOutputFile, type FileOwner } from '../../src/os/output-file.js';
import { scratch } from '../scratch.js';

const me: FileOwner = { uid: process.getuid!(), gid: process.getgid!() };
/** Whom a file made as root through sudo goes to (as root: another user, to see the chown). */
const user: FileOwner = me.uid === 0 ? { uid: 65534, gid: 65534 } : me;

/** A refusal: a usage error (exit 2) whose message matches. */
const refused = (message: RegExp) => (error: Error & { exitCode?: number }) =>
  error.exitCode === 2 && message.test(error.message);

test('output file: a symbolic link anywhere in the path is refused, and nothing is made where it points', () => {
  const work = scratch('netlab-output-file-');
  try {
    const real = join(work.dir, 'real');
    mkdirSync(real);
    symlinkSync(real, join(work.dir, 'link'));
    symlinkSync(work.dir, join(work.dir, 'up'));
    for (const path of [join(work.dir, 'link', 'cap.pcap'), join(work.dir, 'up', 'real', 'cap.pcap')]) {
      assert.throws(() => openOutputFile(path, { owner: user }), refused(/symbolic link/), path);
      assert.equal(existsSync(join(real, 'cap.pcap')), false, `${path}: nothing made at the link's target`);
    }
    writeFileSync(join(real, 'target.pcap'), 'keep');
    symlinkSync(join(real, 'target.pcap'), join(real, 'last.pcap'));
    assert.throws(() => openOutputFile(join(real, 'last.pcap'), { owner: me }), refused(/symbolic link/));
    assert.equal(readFileSync(join(real, 'target.pcap'), 'utf8'), 'keep');
  } finally {
    work.remove();
  }
});

test('output file: a FIFO is refused at once, not waited on (in a child process stopped after 10 s)', () => {
  const work = scratch('netlab-output-file-');
  try {
    const fifo = join(work.dir, 'cap.pcap');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const module = new URL('../../src/os/output-file.js', import.meta.url).href;
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { openOutputFile } = await import(${JSON.stringify(module)});
         try { openOutputFile(${JSON.stringify(fifo)}, { owner: ${JSON.stringify(me)} }); console.log('opened'); }
         catch (error) { console.log(error.message); }`,
      ],
      { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' },
    );
    assert.equal(child.signal, null, 'the open returned instead of blocking until the time-out');
    assert.match(child.stdout, /cannot write .*cap\.pcap.*: it exists and is not a plain file/);
  } finally {
    work.remove();
  }
});

test('output file: an existing device is refused without being opened (no driver runs: a watchdog, a tape; strace)', (t) => {
  if (spawnSync('strace', ['-V']).status !== 0) {
    // In CI the setup installs it (netlab doctor --tests --install): a missing strace there is a failure, not a skip.
    assert.ok(!process.env.CI, 'strace is missing: `npm run setup` installs it');
    t.skip('strace is not installed (`npm run setup` installs it)');
    return;
  }
  const module = new URL('../../src/os/output-file.js', import.meta.url).href;
  // /dev/null: a character device whose open does nothing, where another's would.
  const child = spawnSync(
    'strace',
    [
      '-f',
      '-e',
      'trace=open,openat',
      process.execPath,
      '--input-type=module',
      '-e',
      `const { openOutputFile } = await import(${JSON.stringify(module)});
       try { openOutputFile('/dev/null', { owner: ${JSON.stringify(me)} }); console.log('opened'); }
       catch (error) { console.log(error.message); }`,
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.match(child.stdout, /cannot write the file "\/dev\/null": it exists and is not a plain file; name a new file/);
  // The device by its name, and by the handle a reopen goes through (/proc/self/fd/N).
  const opens = child.stderr
    .split('\n')
    .filter((line) => /open(at)?\(.*(\/null|\/proc\/self\/fd\/\d+)"/.test(line) && !/= -1 /.test(line));
  assert.ok(opens.length > 0, child.stderr);
  // Looked at through O_PATH; never opened for writing (the O_CREAT|O_EXCL that failed on what exists opened nothing).
  assert.deepEqual(
    opens.filter((line) => /O_WRONLY|O_RDWR/.test(line)),
    [],
    opens.join('\n'),
  );
  assert.ok(
    opens.some((line) => /O_PATH/.test(line)),
    opens.join('\n'),
  );
});

test("output file: a new file is made (0644) and given to the user; an existing plain file is overwritten only if it is the user's alone", () => {
  const work = scratch('netlab-output-file-');
  try {
    const path = join(work.dir, 'cap.pcap');
    const fd = openOutputFile(path, { owner: user });
    writeSync(fd, 'pcap');
    closeSync(fd);
    const made = statSync(path);
    assert.equal(made.mode & 0o777, 0o644);
    assert.deepEqual([made.uid, made.gid], [user.uid, user.gid]);
    assert.equal(readFileSync(path, 'utf8'), 'pcap');

    const own = join(work.dir, 'own.pcap');
    writeFileSync(own, 'an older capture, longer');
    const again = openOutputFile(own, { owner: me });
    writeSync(again, 'new');
    closeSync(again);
    assert.equal(readFileSync(own, 'utf8'), 'new', 'truncated, then written');

    linkSync(own, join(work.dir, 'other-name'));
    assert.throws(() => openOutputFile(own, { owner: me }), refused(/not yours \(or has other names\)/));
    if (me.uid === 0) {
      const theirs = join(work.dir, 'theirs.pcap');
      writeFileSync(theirs, 'theirs');
      chownSync(theirs, 65534, 65534);
      assert.throws(() => openOutputFile(theirs, { owner: me }), refused(/not yours/));
      assert.equal(readFileSync(theirs, 'utf8'), 'theirs');
    }
    assert.throws(() => openOutputFile(join(work.dir, 'missing', 'cap.pcap'), { owner: me }), refused(/missing/));
  } finally {
    work.remove();
  }
});

test("output file: an existing file another process holds a lease on is refused at once, not waited on for the lease's break", async (t) => {
  const work = scratch('netlab-output-file-');
  // A read lease (fcntl F_SETLEASE, 1024 on Linux; F_RDLCK, 0) taken by perl (Debian's perl-base is essential);
  // a lease's holder must own the file, as a learner owns the file root's capture would overwrite.
  const file = join(work.dir, 'leased.pcap');
  writeFileSync(file, 'old');
  const holder = spawn(
    'perl',
    [
      '-e',
      'open(my $f, "<", $ARGV[0]) or die "$!"; fcntl($f, 1024, 0) or die "lease: $!"; $| = 1; print "held\\n"; sleep 60',
      file,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  try {
    const held = await new Promise<boolean>((resolve) => {
      holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve(true));
      holder.on('exit', () => resolve(false));
    });
    if (!held) {
      // A kernel or file system without leases (fs.leases-enable 0): no wait to fear, and nothing to test.
      assert.ok(
        !process.env.CI,
        'no file lease could be taken here: fs.leases-enable is 0, or the file system has none',
      );
      t.skip('no file lease could be taken here (fs.leases-enable, or the file system)');
      return;
    }
    // Without O_NONBLOCK, open waits up to lease-break-time (45 s) while the kernel tells the holder to let go.
    assert.throws(() => openOutputFile(file, { owner: me }), refused(/leased\.pcap.*holds a lease on it/));
  } finally {
    holder.kill('SIGKILL');
    work.remove();
  }
});
