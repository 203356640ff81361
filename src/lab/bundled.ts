// The labs that come with netlab (labs/*.yaml of the package), found from any
// directory: `netlab up vxlan`, and a room file's `lab: vxlan`.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The netlab package's root, from dist/bundle/commands.cjs (the commands' bundle, which bin/netlab loads) or dist/src/… (tests). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export function bundledLabsDir(): string {
  return join(packageRoot(), 'labs');
}

/** The bundled labs' names (the files in labs/, without .yaml), sorted. */
export function bundledLabNames(): string[] {
  return readdirSync(bundledLabsDir())
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/** The file of the bundled lab of that name; undefined when there is none. */
export function bundledLabFile(name: string): string | undefined {
  return bundledLabNames().includes(name) ? join(bundledLabsDir(), `${name}.yaml`) : undefined;
}
