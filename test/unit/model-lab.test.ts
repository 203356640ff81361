// The lab model's own functions: how an endpoint is named in a check's line,
// the node a check runs on, and a lab's identity (with its instance) and the
// short name its kernel objects carry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  endpointLabel,
  kernelNameOf,
  labIdOf,
  nodeOfSource,
  podNamespacesOn,
  type Model,
} from '../../src/model/lab.js';
import { kernelLabName } from '../../src/model/grammar.js';

test('an endpoint is named as a check line shows it: a pod, a container, a node, an address, a Service, the outside', () => {
  assert.equal(endpointLabel({ pod: 'a0' }), 'a0');
  assert.equal(endpointLabel({ pod: 'a0', container: 'web' }), 'a0/web');
  assert.equal(endpointLabel({ node: 'node-1' }), 'node-1');
  assert.equal(endpointLabel({ address: '192.168.64.9' }), '192.168.64.9');
  assert.equal(endpointLabel({ service: 'web' }), 'service web');
  assert.equal(endpointLabel({ outside: true }), 'outside');
});

test("a check runs on its pod's node, or on the node it names", () => {
  const model = {
    pods: [
      { name: 'a0', node: 'node-0' },
      { name: 'a1', node: 'node-1' },
    ],
  } as unknown as Model;
  assert.equal(nodeOfSource(model, { pod: 'a1' }), 'node-1');
  assert.equal(nodeOfSource(model, { pod: 'a0', container: 'c' }), 'node-0');
  assert.equal(nodeOfSource(model, { node: 'node-2' }), 'node-2');
});

test("a node's pods, by their namespaces", () => {
  const model = {
    pods: [
      { name: 'a0', node: 'node-0', netns: 'a0' },
      { name: 'b0', node: 'node-0', netns: 'b0' },
      { name: 'a1', node: 'node-1', netns: 'a1' },
    ],
  } as unknown as Model;
  assert.deepEqual(podNamespacesOn(model, 'node-0'), ['a0', 'b0']);
  assert.deepEqual(podNamespacesOn(model, 'node-2'), []);
});

test("a lab's id carries its instance; the kernel name is the id where it fits, else a short hash of it", () => {
  assert.equal(labIdOf({ name: 'vxlan' }), 'vxlan');
  assert.equal(labIdOf({ name: 'vxlan', instance: 'g2' }), 'vxlan@g2');
  assert.equal(kernelNameOf({ name: 'vxlan' }), 'vxlan');
  const instance = kernelNameOf({ name: 'vxlan', instance: 'g2' });
  assert.equal(instance, kernelLabName('vxlan@g2'));
  assert.match(instance, /^vxlan-[0-9a-f]{6}$/);
  assert.notEqual(instance, kernelNameOf({ name: 'vxlan', instance: 'g3' }), 'two instances, two kernel names');
});
