// The lab file format, written once: validation and `netlab schema` (the JSON
// Schema editors use) are both generated from these definitions. Defaults are
// applied later, in resolve, so that the schema describes what a person writes.
import { z } from 'zod';
import { MTU_RANGE } from '../wiring/mtu.js';
import { CROSS_NODE, SAME_NODE } from '../wiring/registry.js';
import type { SettingType } from '../wiring/types.js';
import {
  FREE_TEXT_PATTERN,
  FREE_TEXT_RULE,
  LAB_LIMITS,
  LAB_NAME_MAX,
  LAB_NAME_PATTERN,
  LAB_NAME_RULE,
  NAME_PATTERN,
  NAME_RULE,
  NODE_NAME_MAX,
  POD_NAME_MAX,
  IFNAME_MAX,
  LABEL_PATTERN,
  LABEL_RULE,
} from '../model/grammar.js';
import { jsonSchemaNamed, jsonSchemaOf, type JsonSchema } from './json-schema.js';
import { CIDR_PATTERN, CIDR_RULE, IPV4_PATTERN, IPV4_RULE } from '../net/ipv4.js';
import { connectionsDefaults } from '../verify/stats.js';

// The one IPv4 grammar (net/ipv4.ts): 0-255 in each octet, 0-32 as the length, no leading zeros.
const ipv4 = z.string().regex(IPV4_PATTERN, { error: IPV4_RULE }).describe('an IPv4 address');
const cidr = z.string().regex(CIDR_PATTERN, { error: CIDR_RULE }).describe('an IPv4 prefix in CIDR notation');
const name = (max: number, what: string) =>
  z
    .string()
    .max(max, { error: `at most ${max} characters` })
    .regex(NAME_PATTERN, { error: NAME_RULE })
    .describe(what);
const ifname = name(IFNAME_MAX, 'a Linux interface name');
export const freeText = z
  .string()
  .max(LAB_LIMITS.text, { error: `at most ${LAB_LIMITS.text} characters` })
  .regex(FREE_TEXT_PATTERN, { error: FREE_TEXT_RULE });
const port = z.number().int().min(1).max(65535).describe('a TCP/UDP port, 1-65535');
const expect = z.enum(['pass', 'fail']).describe('whether the check must succeed (pass) or must not (fail)');

const kinds = (list: readonly { kind: string }[]) => list.map((w) => w.kind) as [string, ...string[]];

/** The lab-file types of the wiring modules' settings fields. */
const SETTING_TYPES: Record<SettingType, z.ZodType> = {
  vni: z.number().int().min(1).max(16777215).describe('a VXLAN/GENEVE network identifier, 1-16777215'),
  ipv4,
  port,
  ifname,
};

/** One entry under `wiring:` per settings key of the cross-node kinds (vxlan for vxlan and flannel, ...). */
function wiringSettings(): Record<string, z.ZodType> {
  const schemas: Record<string, z.ZodType> = {};
  for (const { settings } of CROSS_NODE) {
    if (!settings || schemas[settings.key]) continue;
    const fields = Object.entries(settings.fields).map(([field, type]) => [field, SETTING_TYPES[type].optional()]);
    schemas[settings.key] = z.strictObject(Object.fromEntries(fields)).optional().describe(settings.describe);
  }
  return schemas;
}

const nodeSchema = z
  .strictObject({
    'pod-subnet': cidr.optional().describe("this node's pod subnet; default 10.200.N.0/24 for the N-th node"),
    pods: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('this many more pods on the node, named pN-0, pN-1, ... with addresses from its pod subnet'),
    bridge: ifname.optional().describe('name of the pod bridge; default brN for the N-th node'),
    underlay: z
      .strictObject({
        address: ipv4.optional().describe("the node's underlay address; default: from the target"),
        dev: ifname.optional().describe("the node's underlay interface; default: from the target"),
        network: name(NODE_NAME_MAX, 'a network of underlay.networks')
          .optional()
          .describe('the network of a routed underlay the node is on (required when the lab has underlay.networks)'),
      })
      .optional()
      .describe('how this node reaches the other nodes'),
  })
  .describe('a node (a VM, or a simulated node on this host)');

const labels = z
  .record(
    z.string().regex(LABEL_PATTERN, { error: LABEL_RULE }).min(1),
    z.string().regex(LABEL_PATTERN, { error: LABEL_RULE }),
  )
  .describe('labels, key: value, as Kubernetes writes them');

const podSchema = z
  .strictObject({
    labels: labels.optional().describe("the pod's labels, which policies select it by"),
    node: name(NODE_NAME_MAX, 'the node this pod runs on'),
    ip: ipv4.optional().describe("the pod's address; default: the next free one from .2 in the node's pod subnet"),
    containers: z
      .array(name(IFNAME_MAX, 'a container name'))
      .optional()
      .describe('application containers that join the pause container namespaces'),
    rootfs: z
      .string()
      .min(1)
      .regex(/^\/[A-Za-z0-9_.+/-]*$/, { error: "an absolute path of letters, digits and '_.+/-'" })
      .optional()
      .describe('a root filesystem (directory or .tar.gz) each container gets an overlay of and runs chrooted in'),
  })
  .describe('a pod: a pause process holding network, UTS, IPC and PID namespaces');

const endpoint = z.string().min(1).describe('a pod name, pod/container, or an IPv4 address');

const pingCheck = z.strictObject({ from: endpoint, to: endpoint, expect: expect.optional() });
const tracerouteCheck = z.strictObject({
  from: endpoint,
  to: endpoint,
  via: z
    .array(name(NODE_NAME_MAX, 'a node name'))
    .max(16)
    .optional()
    .describe(
      "the nodes that answer as traceroute's hops before the target, in order: every router on the way, and no other (a node that only bridges or tunnels the packet is no hop)",
    ),
  expect: expect.optional(),
});
const tcpCheck = z.strictObject({
  from: endpoint,
  to: endpoint,
  port,
  bytes: z
    .number()
    .int()
    .min(1)
    .max(LAB_LIMITS.bytes)
    .optional()
    .describe(
      `send this many bytes first (a bulk transfer, in full-size packets: a wrong MTU fails it); at most ${LAB_LIMITS.bytes}`,
    ),
  expect: expect.optional(),
});
const serviceCheck = z.strictObject({
  from: endpoint,
  to: z.string().describe('a service name'),
  connections: z
    .number()
    .int()
    .min(1)
    .max(LAB_LIMITS.connections)
    .optional()
    .describe(`connections to spread over the backends; default ${connectionsDefaults()}`),
  expect: expect.optional(),
});

const policyPeer = z
  .strictObject({
    'pod-selector': labels.optional().describe('the pods whose labels include all of these ({}: every pod of the lab)'),
    'ip-block': cidr.optional().describe('the addresses of an IPv4 prefix'),
  })
  .describe('a peer: exactly one of pod-selector, ip-block');
const policyPort = z
  .strictObject({ port, protocol: z.enum(['tcp', 'udp']).optional().describe('default tcp') })
  .describe('a destination port');
const policyRule = (peers: 'from' | 'to') =>
  z
    .strictObject({
      [peers]: z
        .array(policyPeer)
        .max(LAB_LIMITS.policyRules)
        .optional()
        .describe(`${peers === 'from' ? 'sources' : 'destinations'} allowed; absent: any`),
      ports: z.array(policyPort).max(LAB_LIMITS.policyRules).optional().describe('ports allowed; absent: every port'),
    })
    .describe(`one rule: traffic ${peers} any of the peers, to any of the ports`);
const policySchema = z
  .strictObject({
    'pod-selector': labels.describe(
      'the pods this policy isolates: those whose labels include all of these ({}: every pod)',
    ),
    'policy-types': z
      .array(z.enum(['Ingress', 'Egress']))
      .min(1)
      .optional()
      .describe('the directions it isolates; default Ingress, and Egress when it has egress rules (as Kubernetes)'),
    ingress: z
      .array(policyRule('from'))
      .max(LAB_LIMITS.policyRules)
      .optional()
      .describe('what may come in (with Ingress in policy-types); [] or absent: nothing'),
    egress: z
      .array(policyRule('to'))
      .max(LAB_LIMITS.policyRules)
      .optional()
      .describe(
        'what may go out (with Egress in policy-types, which it adds when it has a rule); [] or absent: nothing',
      ),
  })
  .describe(
    "a NetworkPolicy, in Kubernetes' terms: the pods it selects accept (ingress) or send (egress) only what its rules allow; replies of allowed connections always pass",
  );

export const POLICY_NAME_MAX = 32;
export const SERVICE_NAME_MAX = 8;
const serviceSchema = z
  .strictObject({
    'cluster-ip': ipv4
      .optional()
      .describe('the virtual IP; default: the next free address from 10.96.0.2 in 10.96.0.0/12'),
    port: port.describe('the Service port'),
    'target-port': port.optional().describe('the port the backends listen on; default: port'),
    protocol: z.enum(['tcp', 'udp']).optional().describe('default tcp'),
    type: z.enum(['ClusterIP', 'NodePort']).optional().describe('NodePort also opens node-port on every node address'),
    'node-port': z.number().int().min(30000).max(32767).optional().describe('30000-32767, with type NodePort'),
    backends: z
      .array(z.string())
      .min(1, { error: 'at least one backend pod' })
      .max(LAB_LIMITS.backends, { error: `at most ${LAB_LIMITS.backends} backends` })
      .describe('backend pods'),
  })
  .describe('a Service: a virtual IP load-balanced over backend pods by iptables DNAT, as kube-proxy does');

export const labSchema = z
  .strictObject({
    name: z
      .string()
      .max(LAB_NAME_MAX, { error: `at most ${LAB_NAME_MAX} characters` })
      .regex(LAB_NAME_PATTERN, { error: LAB_NAME_RULE })
      .optional()
      .describe('the lab name used by status/verify/down; default: the file name'),
    description: freeText.optional().describe('one line shown by `netlab labs`'),
    'cluster-cidr': cidr.optional().describe('the cluster CIDR; default 10.200.0.0/16'),
    nodes: z
      .record(name(NODE_NAME_MAX, 'a node name'), nodeSchema)
      .describe('nodes by name, in order (the first is node index 0)'),
    pods: z
      .record(
        name(
          POD_NAME_MAX,
          `a pod name (it becomes the interface name veth-<pod>-c: at most ${POD_NAME_MAX} characters)`,
        ),
        podSchema,
      )
      .describe('pods by name'),
    wiring: z
      .strictObject({
        'same-node': z.enum(kinds(SAME_NODE)).optional().describe('how pods on one node are joined; default bridge'),
        'veth-peer': z
          .enum(['move', 'in-pod'])
          .optional()
          .describe(
            "bridge wiring: create each pod's veth in the node and move one end into the pod, as the article does (move, the default), or create that end directly in the pod (in-pod: one step; up makes a pair and its move as that one command either way, so as to spare the kernel the move)",
          ),
        'cross-node': z
          .enum(kinds(CROSS_NODE))
          .optional()
          .describe('how pod subnets of different nodes are joined; default none'),
        mtu: z
          .number()
          .int()
          .min(MTU_RANGE.min)
          .max(MTU_RANGE.max)
          .optional()
          .describe(
            `the MTU of the pods, their veths and the bridge (${MTU_RANGE.min}-${MTU_RANGE.max}); default: on an overlay, the underlay interface's MTU less the tunnel's headers (1450 for VXLAN over 1500), elsewhere left as it is`,
          ),
        ...wiringSettings(),
      })
      .optional()
      .describe('how pods are connected'),
    services: z
      .record(
        name(SERVICE_NAME_MAX, `a service name (part of iptables chain names: at most ${SERVICE_NAME_MAX} characters)`),
        serviceSchema,
      )
      .optional()
      .describe('Services, programmed on every node like kube-proxy does'),
    underlay: z
      .strictObject({
        networks: z
          .record(name(NODE_NAME_MAX, 'a network name'), cidr)
          .describe('the networks (subnets, each one L2 segment) the nodes are on, by name: left: 192.168.57.0/24'),
        routers: z
          .record(
            name(NODE_NAME_MAX, 'a router name'),
            z.strictObject({
              networks: z
                .array(name(NODE_NAME_MAX, 'a network name'))
                .describe(
                  "the networks it joins (at least two); its address on each is the network's last host (.254 of a /24)",
                ),
              'pod-routes': z
                .boolean()
                .optional()
                .describe(
                  "it also routes each node's pod subnet to that node, as if the cluster told the network (BGP peering); default false: it knows the node networks only, as a real underlay",
                ),
            }),
          )
          .optional()
          .describe('routers between the networks: forwarding on, an address on each of their networks'),
      })
      .optional()
      .describe(
        'a routed underlay: nodes on several networks joined by routers (default: every node on one L2 segment)',
      ),
    outside: z
      .strictObject({
        address: ipv4
          .optional()
          .describe(
            "its address on the underlay; default: the underlay's .1 (on simulated nodes netlab starts it there)",
          ),
      })
      .optional()
      .describe(
        'a host outside the cluster that pods reach through their node\'s MASQUERADE; checks name it as "outside"',
      ),
    policies: z
      .record(name(POLICY_NAME_MAX, 'a policy name'), policySchema)
      .optional()
      .describe('NetworkPolicies, applied as iptables filter chains on every node, as policy engines do'),
    verify: z
      .array(
        z
          .strictObject({
            ping: pingCheck.optional(),
            tcp: tcpCheck.optional(),
            service: serviceCheck.optional(),
            traceroute: tracerouteCheck.optional(),
          })
          .describe('one check: ping, tcp, service or traceroute'),
      )
      .optional()
      .describe('connectivity checks run by `netlab verify`; derived from the wiring when absent'),
    exercises: z
      .array(freeText)
      .max(LAB_LIMITS.exercises)
      .optional()
      .describe('things to try, shown by `netlab labs LAB`'),
    challenges: z
      .array(
        z
          .strictObject({
            id: name(32, 'a challenge id, unique in the lab'),
            title: freeText.describe('what the learner sees: the symptom, not the fault'),
            fault: z
              .string()
              .max(200, { error: 'at most 200 characters' })
              .describe(
                'the fault netlab makes, by its id kind:node:subject (such as route-deleted:node-0:10.200.1.0/24); `netlab challenge faults LAB` lists them',
              ),
            goal: z
              .array(z.number().int().min(1))
              .optional()
              .describe("the lab's checks (numbers as verify lists them) that must pass again; default: all"),
            hints: z.array(freeText).max(LAB_LIMITS.hints).optional().describe('hints, given one at a time in order'),
          })
          .describe('a break-and-fix challenge'),
      )
      .max(LAB_LIMITS.challenges)
      .optional()
      .describe('graded challenges: `netlab challenge start LAB ID` breaks the lab, `check` grades the fix'),
  })
  .describe('a netlab lab file');

export type LabFile = z.infer<typeof labSchema>;

/**
 * The JSON Schema that `netlab schema` prints, for yaml-language-server and other editors.
 * Generated from the zod definitions, then told what validate checks beyond them where
 * JSON Schema can say it: exactly one kind per check, at least one node and one pod
 * (listed, or counted by a node's `pods:`), and the size bounds (LAB_LIMITS).
 */
export function labJsonSchema(): Record<string, unknown> {
  const schema = jsonSchemaOf(labSchema);
  const props = schema.properties!;
  const bound = (node: JsonSchema | undefined, key: 'maxProperties' | 'maxItems', max: number) => {
    if (!node) throw new Error(`labJsonSchema: no such part of the schema to bound by ${max}`);
    node[key] = max;
  };
  props.nodes!.minProperties = 1;
  bound(props.nodes, 'maxProperties', LAB_LIMITS.nodes);
  bound(props.pods, 'maxProperties', LAB_LIMITS.pods);
  bound(props.underlay?.properties?.routers, 'maxProperties', LAB_LIMITS.routers);
  bound(props.underlay?.properties?.networks, 'maxProperties', LAB_LIMITS.networks);
  bound(props.services, 'maxProperties', LAB_LIMITS.services);
  bound(props.policies, 'maxProperties', LAB_LIMITS.policies);
  bound(props.verify, 'maxItems', LAB_LIMITS.checks);
  const check = props.verify!.items!;
  check.oneOf = Object.keys(check.properties ?? {}).map((kind) => ({ required: [kind] }));
  // At least one pod: listed under pods:, or counted by some node's pods: (not every node lacks it).
  schema.anyOf = [
    { properties: { pods: { minProperties: 1 } } },
    { properties: { nodes: { not: { additionalProperties: { not: { required: ['pods'] } } } } } },
  ];
  return jsonSchemaNamed(schema, 'lab', 'netlab lab file');
}
