import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contains, formatCidr, formatIp, nthSubnet, overlaps, parseCidr, parseIp } from '../../src/net/ipv4.js';

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
