// Many questions to a node in one script: each command's output (stdout and
// stderr) comes back as its own section, split on markers the script echoes.
import type { Transport } from './transport.js';

/** Runs `head` lines, then each command, on the node; returns the head's output and one section per command. */
export async function runSections(
  transport: Transport,
  commands: readonly string[],
  head: readonly string[] = [],
): Promise<{ head: string; sections: string[] }> {
  const script = `${[
    'PATH=$PATH:/usr/sbin:/sbin',
    ...head,
    ...commands.flatMap((c, i) => [`echo "@@netlab section ${i}"`, `${c} 2>&1`]),
  ].join('\n')}\n`;
  const [first, ...sections] = (await transport.run(script)).stdout.split(/^@@netlab section \d+$/m);
  return { head: first ?? '', sections };
}
