// The workshop Vagrantfile is valid for Vagrant (Debian's vagrant package runs
// `validate` without any provider installed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../paths.js';

async function validate(dir: string, env: Record<string, string> = {}) {
  return execa('vagrant', ['validate', '--ignore-provider'], {
    cwd: dir,
    reject: false,
    env: { VAGRANT_HOME: join(dir, '.vagrant.d'), VAGRANT_CHECKPOINT_DISABLE: '1', ...env },
  });
}

test('vagrant validate accepts the Vagrantfile: three nodes on 192.168.56.0/21', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-vagrant-'));
  try {
    copyFileSync(join(ROOT, 'Vagrantfile'), join(dir, 'Vagrantfile'));
    const result = await validate(dir);
    assert.equal(
      result.exitCode,
      0,
      `${String(result.stdout)}${String(result.stderr)} (is Debian's vagrant package installed? .ci/run installs it)`,
    );
    assert.match(String(result.stdout), /Vagrantfile validated successfully/);
    assert.deepEqual(String(result.stdout).match(/==> node-\d/g), ['==> node-0', '==> node-1', '==> node-2']);
    // The router labs' underlay: two nodes on two networks and the router between them.
    const routed = await validate(dir, { NETLAB_UNDERLAY: 'routed' });
    assert.equal(routed.exitCode, 0, String(routed.stdout) + String(routed.stderr));
    assert.deepEqual(String(routed.stdout).match(/==> [^:\s]+/g), ['==> router-0', '==> node-0', '==> node-1']);
    // ...and it is not a validator that accepts anything:
    writeFileSync(
      join(dir, 'Vagrantfile'),
      readFileSync(join(ROOT, 'Vagrantfile'), 'utf8').replaceAll('node.vm.hostname =', 'node.vm.hostnam ='),
    );
    assert.notEqual((await validate(dir)).exitCode, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
