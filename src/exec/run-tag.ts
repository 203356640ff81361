// What a command starts on a node, found again by an entry in its environment.
//
// A program that netlab starts on a node can outlive netlab's view of it: a
// SIGTERM to netlab alone, or over SSH without a terminal on the machine a
// Ctrl-C that stops only the local ssh. Every process started under a tag
// inherits it in its environment, which /proc/PID/environ shows as it was at
// exec; netlab then stops them from a new shell on the node.
import { randomBytes } from 'node:crypto';
import { quoteArg } from '../os/quote.js';

/**
 * An environment entry in no other process: random hex in its name, so that two tags (a capture's own, inside
 * an SSH program's) are both kept, where one name would be set twice.
 */
export function newRunTag(): string {
  return `NETLAB_TAG_${randomBytes(6).toString('hex')}=1`;
}

/**
 * A node's script that stops every process whose environment holds the tag: SIGTERM to each one it finds, again
 * every 0.1 s for at least 1 s (a program whose login or sudo was still under way when netlab was stopped starts
 * after the first look) and until none is left, then SIGKILL to what is left after 3 s. tcpdump stopped by
 * SIGTERM ends only when its capture loop next wakes (up to a second).
 */
export function stopTaggedScript(tag: string): string {
  // GNU grep -z reads environ's NUL-separated entries as lines (-x: the whole entry); a zombie's environ is
  // empty. The stopping shell has the tag in its script, never in its environment.
  return [
    `netlab_tagged() { for f in $(grep -lzx ${quoteArg(tag)} /proc/[0-9]*/environ 2>/dev/null); do p=\${f#/proc/}; echo "\${p%/environ}"; done; }`,
    'i=0',
    'while [ $i -lt 30 ]; do',
    '  p=$(netlab_tagged)',
    '  if [ -n "$p" ]; then kill -TERM $p 2>/dev/null; elif [ $i -ge 10 ]; then break; fi',
    '  sleep 0.1; i=$((i + 1))',
    'done',
    'p=$(netlab_tagged); [ -z "$p" ] || kill -KILL $p 2>/dev/null',
    'true',
    '',
  ].join('\n');
}
