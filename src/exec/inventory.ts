// netlab's inventory file (--inventory): node name → host, port, user, key
// and underlay, plus ssh options; every value checked before it reaches ssh.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { NAME_PATTERN } from '../lab/grammar.js';
import { UsageError } from '../errors.js';

const inventorySchema = z.strictObject({
  'ssh-options': z
    .record(z.string().regex(/^[A-Za-z]+$/, { error: 'an ssh option name such as StrictHostKeyChecking' }), z.string().regex(/^[A-Za-z0-9_.\/=:@,+-]+$/, { error: 'an ssh option value' }))
    .optional(),
  nodes: z.record(
    z.string().regex(NAME_PATTERN),
    z.strictObject({
      host: z.string().regex(/^[A-Za-z0-9_.:-]+$/, { error: 'a host name or address' }),
      port: z.number().int().min(1).max(65535).optional(),
      user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, { error: 'a user name' }).optional(),
      identity: z.string().optional(),
      underlay: z.strictObject({ dev: z.string().regex(NAME_PATTERN).max(15).optional(), address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/).optional() }).optional(),
    }),
  ),
});

export type Inventory = z.infer<typeof inventorySchema>;

export function readInventory(file: string): Inventory {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'), { maxAliasCount: 10 });
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  const parsed = inventorySchema.safeParse(data);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`).join('\n') + '\n(an inventory is `nodes: { node-0: { host: 192.168.56.10, user: vagrant, identity: ~/.ssh/key } }`)');
  }
  return parsed.data;
}
