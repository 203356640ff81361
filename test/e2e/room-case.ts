// A room for the end-to-end tests, on simulated nodes (room.test.ts) and over
// SSH (room-ssh.test.ts) alike.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LABS } from '../paths.js';

/**
 * The vxlan lab with one more challenge: the wrong VNI graded by the pings only
 * (a grading of a broken lab waits for each failing check's timeout; the pings'
 * are the shortest), with three hints.
 */
export function writeRoom(dir: string, groups: Record<string, string>, name = 'net101'): string {
  const lab = join(dir, 'vxlan.yaml');
  writeFileSync(
    lab,
    `${readFileSync(join(LABS, 'vxlan.yaml'), 'utf8')}  - id: wrong-vni-ping
    title: "a0 cannot ping a1"
    fault: "vni-changed:node-1:vxlan0"
    goal: [1, 2]
    hints: ["first", "second", "third"]
`,
  );
  const room = join(dir, `${name}.yaml`);
  writeFileSync(
    room,
    `room: ${name}
lab: vxlan.yaml
groups:
${Object.entries(groups)
  .map(([g, target]) => `  ${g}: ${target}`)
  .join('\n')}
schedule:
  # the first hint 1.2 s after the start: unlocked by the time of the first grading
  - { challenge: wrong-vni-ping, minutes: 20, hints: [0.02, 19] }
`,
  );
  return room;
}
