// The fault vocabulary: every fault is the undoing of one thing a step
// declares, with the commands that make it and those that mend it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { faultsOf } from '../../src/faults/faults.js';
import { loadLabFile } from '../../src/lab/load.js';
import { buildPlan } from '../../src/plan/build.js';
import { simulatedFacts } from '../../src/exec/simulated.js';
import { LABS } from '../paths.js';

function faults(lab: string) {
  const { model } = loadLabFile(join(LABS, `${lab}.yaml`));
  return faultsOf(buildPlan(model, simulatedFacts(model)));
}

test('faults: ids are unique in every bundled lab, and each names the step it breaks', () => {
  for (const file of readdirSync(LABS).filter((f) => f.endsWith('.yaml'))) {
    const list = faults(file.replace(/\.yaml$/, ''));
    const ids = list.map((f) => f.id);
    assert.equal(new Set(ids).size, ids.length, `${file}: ${ids.filter((id, i) => ids.indexOf(id) !== i).join(', ')}`);
    for (const f of list) assert.ok(f.step.id > 0 && f.apply.length > 0 && f.mend.length > 0, f.id);
  }
});

test('faults: each kind makes and mends what its step made, exactly as the step wrote it', () => {
  const byId = (lab: string) => new Map(faults(lab).map((f) => [f.id, f]));
  const flannel = byId('flannel');
  const route = flannel.get('route-deleted:node-0:10.200.1.0/24')!;
  assert.deepEqual(route.apply, [['ip', 'route', 'del', '10.200.1.0/24', 'via', '10.200.1.0', 'dev', 'flannel.1']]);
  assert.deepEqual(route.mend, [
    ['ip', 'route', 'add', '10.200.1.0/24', 'via', '10.200.1.0', 'dev', 'flannel.1', 'onlink'],
  ]);
  assert.match(route.step.summary, /^route 10\.200\.1\.0\/24 via 10\.200\.1\.0 on flannel\.1$/);
  assert.deepEqual(flannel.get('fdb-removed:node-0:flannel.1/0a:58:0a:c8:01:00')!.apply, [
    ['bridge', 'fdb', 'del', '0a:58:0a:c8:01:00', 'dev', 'flannel.1', 'dst', '192.168.64.5'],
  ]);
  assert.deepEqual(flannel.get('route-deleted:node-0:a0/default')!.apply, [
    ['ip', '-n', 'a0', 'route', 'del', 'default', 'via', '10.200.0.1'],
  ]);
  assert.equal(flannel.get('link-down:node-0:a0/lo'), undefined, "a pod's lo is no fault of the lab's wiring");

  const service = byId('service');
  const jump = service.get('jump-removed:node-0:PREROUTING')!;
  const rule = ['-m', 'comment', '--comment', 'netlab lab service', '-j', 'NL-SERVICES-service'];
  assert.deepEqual(jump.apply, [['iptables', '-w', '-t', 'nat', '-D', 'PREROUTING', ...rule]]);
  assert.deepEqual(jump.mend, [['iptables', '-w', '-t', 'nat', '-I', 'PREROUTING', '1', ...rule]]);
  assert.deepEqual(service.get('hairpin-off:node-0:veth-a0')!.mend, [
    ['bridge', 'link', 'set', 'dev', 'veth-a0', 'hairpin', 'on'],
  ]);
  assert.deepEqual(service.get('sysctl-off:node-0:net.bridge.bridge-nf-call-iptables')!.apply, [
    ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0'],
  ]);
  assert.ok(service.has('jump-removed:node-0:FORWARD'));
});
