import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  contains,
  formatCidr,
  formatIp,
  lastAddress,
  looksLikeIpv4,
  maskOf,
  nthSubnet,
  overlaps,
  parseCidr,
  parseIp,
} from '../../src/net/ipv4.js';
import { parseLab } from '../../src/lab/load.js';
import { readInventory } from '../../src/exec/inventory.js';
import { LabInputError, UsageError } from '../../src/errors.js';

test('parses dotted quads strictly', () => {
  assert.equal(parseIp('10.200.0.2'), 0x0ac80002);
  assert.equal(formatIp(0x0ac80002), '10.200.0.2');
  for (const bad of ['10.200.0.256', '10.200.0', '010.1.1.1', '1.2.3.4 ', '1.2.3.4.5', 'a.b.c.d', ''])
    assert.equal(parseIp(bad), undefined, bad);
});

test('CIDR parsing, containment, overlap and subnetting', () => {
  const cluster = parseCidr('10.200.0.0/16')!;
  assert.equal(parseCidr('10.200.0.1/16'), undefined, 'host bits set is refused when strict');
  assert.equal(formatCidr(parseCidr('10.200.0.1/16', false)!), '10.200.0.0/16');
  assert.equal(formatCidr(nthSubnet(cluster, 24, 2)!), '10.200.2.0/24');
  assert.equal(nthSubnet(cluster, 24, 256), undefined);
  assert.ok(contains(cluster, parseIp('10.200.255.1')!));
  assert.ok(!contains(cluster, parseIp('10.201.0.1')!));
  assert.ok(overlaps(parseCidr('10.200.0.0/24')!, parseCidr('10.200.0.128/25')!));
  assert.ok(!overlaps(parseCidr('10.200.0.0/24')!, parseCidr('10.200.1.0/24')!));
  assert.equal(formatCidr(parseCidr('0.0.0.0/0')!), '0.0.0.0/0');
});

test('one grammar: a leading zero is refused in every octet and in the prefix length, and so is a length over 32', () => {
  for (const bad of ['010.0.0.1', '10.00.0.1', '10.0.0.01', '999.999.999.999', '1.2.3.-1'])
    assert.equal(parseIp(bad), undefined, bad);
  for (const bad of ['10.0.0.0/08', '10.0.0.0/016', '10.0.0.0/33', '010.0.0.0/8', '10.0.0.0/', '10.0.0.0/+8'])
    assert.equal(parseCidr(bad, false), undefined, bad);
  assert.equal(formatCidr(parseCidr('10.0.0.0/8')!), '10.0.0.0/8');
  assert.equal(formatCidr(parseCidr('10.0.0.1/32')!), '10.0.0.1/32');
  assert.equal(formatCidr(parseCidr('0.0.0.0/0')!), '0.0.0.0/0');
  // What inet_aton would read as an address is checked as one, wherever an address may stand.
  for (const text of ['010.0.0.1', '10', '0x0a.0.0.1', '1.2.3.4.5', '8.8.8.8']) assert.ok(looksLikeIpv4(text), text);
  for (const text of ['a0', 'node-0', 'vm1.example.org', '10.0.0.1a']) assert.ok(!looksLikeIpv4(text), text);
});

test('every address of a lab file and an inventory goes through the one parser (outside.address, ip-block, hosts)', () => {
  const lab = (extra: string) => `nodes: { node-0: {} }\npods: { a0: { node: node-0 } }\n${extra}`;
  for (const [extra, field] of [
    ['outside: { address: 999.999.999.999 }\n', 'outside.address'],
    ['outside: { address: 010.0.0.1 }\n', 'outside.address'],
    ['policies:\n  p: { pod-selector: {}, ingress: [{ from: [{ ip-block: 10.0.0.0/08 }] }] }\n', 'ip-block'],
    ['verify:\n  - ping: { from: a0, to: 010.0.0.1 }\n', 'verify.0.ping.to'],
  ] as const)
    assert.throws(
      () => parseLab(lab(extra), 'x.yaml'),
      (e: unknown) =>
        e instanceof LabInputError &&
        e.exitCode === 2 &&
        e.issues.some((i) => i.path.endsWith(field) && /without leading zeros/.test(i.message)),
      extra,
    );
  const dir = mkdtempSync(join(tmpdir(), 'netlab-inventory-'));
  try {
    for (const node of ['{ host: 010.0.0.1 }', '{ host: 10.0.0.1, underlay: { address: 999.999.999.999 } }']) {
      const file = join(dir, 'inventory.yaml');
      writeFileSync(file, `nodes:\n  node-0: ${node}\n`);
      assert.throws(
        () => readInventory(file),
        (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /without leading zeros/.test(e.message),
        node,
      );
    }
    writeFileSync(join(dir, 'ok.yaml'), 'nodes:\n  node-0: { host: 10.0.0.1, underlay: { address: 10.0.0.1 } }\n');
    assert.equal(readInventory(join(dir, 'ok.yaml')).nodes['node-0']!.host, '10.0.0.1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('what inet_aton reads: numbers of any length in every part, hex parts of any length', () => {
  for (const text of ['10.200.0.20', '192.168.010.1', '1.0x1a', '0x0a.0xff.0.1', '1.23', '4294967295'])
    assert.ok(looksLikeIpv4(text), text);
  for (const text of ['1.0x', '1.0xg', '1..2', '.1', '1.', '0x', '1.2.3.4/8']) assert.ok(!looksLikeIpv4(text), text);
});

test('/0 contains and overlaps everything; masks of 0, 1, 24 and 32', () => {
  assert.equal(maskOf(0), 0);
  assert.equal(maskOf(1), 0x80000000);
  assert.equal(maskOf(24), 0xffffff00);
  assert.equal(maskOf(32), 0xffffffff);
  const all = parseCidr('0.0.0.0/0')!;
  assert.ok(contains(all, parseIp('10.1.2.3')!));
  assert.ok(contains(all, parseIp('255.255.255.255')!));
  assert.ok(overlaps(all, parseCidr('10.0.0.0/8')!));
  assert.equal(formatIp(lastAddress(all)), '255.255.255.255');
});

test('nthSubnet: only subnets of the prefix, counted from 0 to the last that fits', () => {
  const cluster = parseCidr('10.200.0.0/16')!;
  assert.equal(formatCidr(nthSubnet(cluster, 24, 0)!), '10.200.0.0/24');
  assert.equal(formatCidr(nthSubnet(cluster, 24, 255)!), '10.200.255.0/24');
  assert.equal(nthSubnet(cluster, 24, 256), undefined);
  assert.equal(nthSubnet(cluster, 24, -1), undefined);
  assert.equal(nthSubnet(cluster, 15, 0), undefined, 'wider than the prefix it is in');
  assert.equal(formatCidr(nthSubnet(cluster, 16, 0)!), '10.200.0.0/16');
  assert.equal(nthSubnet(cluster, 16, 1), undefined);
  assert.equal(formatCidr(nthSubnet(cluster, 32, 65535)!), '10.200.255.255/32');
});
