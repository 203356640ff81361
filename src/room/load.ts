// TEMPORARY minimal loader (replaced by the full validating one).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { UsageError } from '../errors.js';
import { roomSchema, type Room } from './file.js';
import { loadLabFile } from '../lab/load.js';
import { labFileOf } from '../commands/common.js';

export function loadRoomFile(file: string): Room {
  const data = roomSchema.parse(parse(readFileSync(file, 'utf8')));
  const dir = dirname(resolve(file));
  const at = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  const labPath = data.lab.includes('/') || data.lab.endsWith('.yaml') ? at(data.lab) : labFileOf(data.lab);
  const lab = loadLabFile(labPath);
  if (!data.groups) throw new UsageError('groups');
  return {
    name: data.room,
    file: resolve(file),
    labFile: resolve(labPath),
    labName: lab.name,
    ...(data.secret ? { secret: data.secret } : {}),
    groups: Object.entries(data.groups).map(([name, g]) => ({
      name,
      target: g['ssh-config']
        ? { kind: 'ssh-config' as const, file: at(g['ssh-config']) }
        : g.inventory
          ? { kind: 'inventory' as const, file: at(g.inventory) }
          : g['vagrant-dir']
            ? { kind: 'vagrant-dir' as const, dir: at(g['vagrant-dir']) }
            : { kind: 'simulated' as const },
    })),
    schedule: (data.schedule ?? []).map((s) => ({ challenge: s.challenge, minutes: s.minutes, hints: s.hints ?? [] })),
  };
}
