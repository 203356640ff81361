// The room file: one lab, many groups, a schedule of challenges. Written once
// here: validation and `netlab schema --room` are both generated from it.
//
//   room: net101
//   lab: vxlan                         # a bundled lab, or a lab file
//   groups:
//     g1: { simulated: true }          # an instance on this host
//     g3: { ssh-config: groups/g3.ssh } # or inventory:, vagrant-dir:
//   schedule:
//     - { challenge: wrong-vni, minutes: 20, hints: [5, 10] }
//
// Each group's lab is the instance named after the group (`vxlan@g3`), so every
// lab command reaches it from the room's controller with `--instance g3`.
import { z } from 'zod';
import { INSTANCE_NAME_MAX, LAB_LIMITS, LAB_NAME_MAX, NAME_PATTERN, NAME_RULE } from '../model/grammar.js';
import { jsonSchemaNamed, jsonSchemaOf } from '../lab/json-schema.js';

/** How many groups a room may have: each is a lab on this host or a set of machines. */
export const MAX_GROUPS = 64;
/** How long one challenge of a schedule may run, in minutes (a workshop day). */
export const MAX_MINUTES = 600;
/** A secret written in the file: long enough not to be guessed from the landings it chooses. */
export const SECRET_MIN = 16;

const name = (max: number, what: string) =>
  z
    .string()
    .max(max, { error: `at most ${max} characters` })
    .regex(NAME_PATTERN, { error: NAME_RULE })
    .describe(what);

const path = (what: string) =>
  z
    .string()
    .min(1, { error: 'a path' })
    .max(4096, { error: 'at most 4096 characters' })
    .regex(/^[^\0\n]+$/, { error: 'a path on one line' })
    .describe(what);

const group = z
  .strictObject({
    simulated: z.literal(true).optional().describe('simulated nodes on the room controller (an instance of the lab)'),
    'ssh-config': path('an OpenSSH config file naming the lab nodes (relative to the room file)').optional(),
    inventory: path("a netlab inventory file of the group's machines (relative to the room file)").optional(),
    'vagrant-dir': path("the directory of the group's Vagrantfile (relative to the room file)").optional(),
  })
  .describe('a group: where its lab runs (exactly one of simulated, ssh-config, inventory, vagrant-dir)');

const minutes = z
  .number()
  .gt(0, { error: 'more than 0' })
  .max(MAX_MINUTES, { error: `at most ${MAX_MINUTES}` });

export const roomSchema = z
  .strictObject({
    room: name(
      LAB_NAME_MAX,
      "the room's name: its state here is kept under it (its commands take the room file: `netlab room status net101.yaml`)",
    ),
    lab: path('the lab every group builds: a bundled lab (vxlan) or a lab file (relative to the room file)'),
    secret: z
      .string()
      .min(SECRET_MIN, { error: `at least ${SECRET_MIN} characters` })
      .max(256, { error: 'at most 256 characters' })
      .regex(/^[\x21-\x7e]+$/, { error: 'printable ASCII without spaces' })
      .optional()
      .describe(
        "chooses each group's landing of a challenge; without it, netlab makes one and keeps it in the room's state",
      ),
    groups: z
      .record(name(INSTANCE_NAME_MAX, 'a group name: the instance name of its lab'), group)
      .describe('the groups, each with its lab'),
    schedule: z
      .array(
        z
          .strictObject({
            challenge: name(32, 'a challenge of the lab, by id'),
            minutes: minutes.describe('how long the challenge runs (minutes; decimals allowed)'),
            hints: z
              .array(minutes)
              .optional()
              .describe("when each hint unlocks, in minutes after the challenge's start, in order"),
          })
          .describe('a challenge of the schedule'),
      )
      .optional()
      .describe('the challenges, in order: `netlab room start ROOM` starts the next'),
  })
  .describe('a netlab room file');

export type RoomFile = z.infer<typeof roomSchema>;

/** Where a group's lab runs: exactly one of these keys of the group. */
export const GROUP_TARGETS = ['simulated', 'ssh-config', 'inventory', 'vagrant-dir'] as const;

/**
 * The JSON Schema that `netlab schema --room` prints, made as the lab file's is
 * (lab/json-schema.ts), then told what room/load.ts checks beyond the zod
 * definitions where JSON Schema can say it: 1 to MAX_GROUPS groups, exactly
 * one target per group, at most one schedule entry per challenge a lab may
 * have, and at most as many hints as a challenge may have.
 */
export function roomJsonSchema(): Record<string, unknown> {
  const schema = jsonSchemaOf(roomSchema);
  const groups = schema.properties!.groups!;
  groups.minProperties = 1;
  groups.maxProperties = MAX_GROUPS;
  const group = groups.additionalProperties as Record<string, unknown>;
  group.oneOf = GROUP_TARGETS.map((target) => ({ required: [target] }));
  const schedule = schema.properties!.schedule!;
  schedule.maxItems = LAB_LIMITS.challenges;
  schedule.items!.properties!.hints!.maxItems = LAB_LIMITS.hints;
  return jsonSchemaNamed(schema, 'room', 'netlab room file');
}

/** Where a group's lab runs, as the lab commands' target options say it. */
export type GroupTarget =
  | { kind: 'simulated' }
  | { kind: 'ssh-config'; file: string }
  | { kind: 'inventory'; file: string }
  | { kind: 'vagrant-dir'; dir: string };

export interface RoomGroup {
  name: string;
  target: GroupTarget;
}

export interface ScheduledChallenge {
  challenge: string;
  minutes: number;
  /** minutes after the challenge's start at which each hint unlocks, ascending */
  hints: number[];
}

/** A room file, checked and resolved: paths absolute, groups in the file's order. */
export interface Room {
  name: string;
  /** the room file, absolute */
  file: string;
  /** the lab file every group builds, absolute (a bundled lab resolved to its file) */
  labFile: string;
  /** the lab's name (from its file) */
  labName: string;
  secret?: string;
  groups: RoomGroup[];
  schedule: ScheduledChallenge[];
}
