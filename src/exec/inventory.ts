// netlab's inventory file (--inventory): node name → host, port, user, key
// and underlay, plus ssh options; every value checked before it reaches ssh.
//
// An inventory is netlab's own format, handed around with labs, so it may only
// carry ssh options that change how a connection is made: none that runs a
// program on this machine. Those belong in the user's own OpenSSH config
// (--ssh-config), a file whose format they already know and trust.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { NAME_PATTERN } from '../model/grammar.js';
import { shown, UsageError } from '../errors.js';
import { IPV4_PATTERN, IPV4_RULE, looksLikeIpv4, parseIp } from '../net/ipv4.js';

/** ssh options an inventory may set (OpenSSH option names are case-insensitive). */
export const ALLOWED_SSH_OPTIONS = [
  // connection and timeouts
  'AddressFamily',
  'Compression',
  'ConnectTimeout',
  'ConnectionAttempts',
  'ServerAliveInterval',
  'ServerAliveCountMax',
  'TCPKeepAlive',
  'LogLevel',
  // host keys (the files of known hosts only as none: KNOWN_HOSTS_FILES)
  'StrictHostKeyChecking',
  'UserKnownHostsFile',
  'GlobalKnownHostsFile',
  'HostKeyAlgorithms',
  'CheckHostIP',
  'HashKnownHosts',
  // authentication and ciphers
  'IdentitiesOnly',
  'PreferredAuthentications',
  'PubkeyAcceptedAlgorithms',
  'Ciphers',
  'KexAlgorithms',
  'MACs',
  // jump hosts: ssh itself connects through them
  'ProxyJump',
] as const;

/** Options that make ssh run a program (or read more config) on this machine. */
const RUNS_A_PROGRAM = [
  'ProxyCommand',
  'LocalCommand',
  'PermitLocalCommand',
  'KnownHostsCommand',
  'PKCS11Provider',
  'SecurityKeyProvider',
];

/**
 * ssh appends a new host's key to the first file of known hosts as it meets the host, before any login: a line
 * `NAME KEYTYPE KEY` that is also a valid line of authorized_keys (NAME `restrict`, through HostKeyAlias), and
 * UpdateHostKeys rewrites the file. So an inventory that named that file could make ssh write a stranger's key
 * into any file the user can write, ~/.ssh/authorized_keys or /etc/sudoers as root. It may only turn them off;
 * HostKeyAlias and UpdateHostKeys (which name or rewrite the lines written) are left to the user's own config.
 */
const KNOWN_HOSTS_FILES = ['userknownhostsfile', 'globalknownhostsfile'];
const NO_KNOWN_HOSTS = ['/dev/null', 'none'];

const allowedByLowerName = new Map(ALLOWED_SSH_OPTIONS.map((o) => [o.toLowerCase(), o]));

/** Why an inventory may not set this ssh option (undefined: it may). */
export function sshOptionProblem(name: string, value: string): string | undefined {
  const runs = RUNS_A_PROGRAM.find((o) => o.toLowerCase() === name.toLowerCase());
  if (runs)
    return `${runs} makes ssh run a program on this machine, which an inventory may not do; put it in your own OpenSSH config and use --ssh-config FILE`;
  if (!allowedByLowerName.has(name.toLowerCase()))
    return `${shown(name)} is not an ssh option an inventory may set; allowed: ${ALLOWED_SSH_OPTIONS.join(', ')} (others go in your own OpenSSH config, with --ssh-config FILE)`;
  if (KNOWN_HOSTS_FILES.includes(name.toLowerCase()) && !NO_KNOWN_HOSTS.includes(value))
    return `${name} may only be ${NO_KNOWN_HOSTS.join(' or ')} in an inventory: ssh writes host keys into that file, so an inventory could make it write into any file (another file of known hosts goes in your own OpenSSH config, with --ssh-config FILE)`;
  if (!/^[A-Za-z0-9_./=:@,+~[\]-]+$/.test(value) || value.startsWith('-'))
    return `${shown(value)} is not a value for ${name}: letters, digits and _ . / = : @ , + ~ [ ] -, not starting with "-"`;
  return undefined;
}

/**
 * A host name or address ssh connects to: never something ssh would read as an
 * option. One of digits and dots is an address, and must be one by the one
 * grammar: ssh resolves "010.0.0.1" with inet_aton, as octal 8.0.0.1.
 */
const HOST_PATTERN = /^[A-Za-z0-9_.:][A-Za-z0-9_.:-]*$/;

const inventorySchema = z.strictObject({
  'ssh-options': z
    // (YAML reads `ServerAliveInterval: 15` as a number, and `Compression: yes`'s yes as a string: both are ssh's words)
    .record(
      z.string(),
      z
        .union([z.string(), z.number(), z.boolean()])
        .transform((value) => (typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value))),
    )
    .superRefine((options, context) => {
      for (const [name, value] of Object.entries(options)) {
        const problem = sshOptionProblem(name, value);
        if (problem) context.addIssue({ code: 'custom', path: [name], message: problem });
      }
    })
    .optional(),
  nodes: z.record(
    z.string().regex(NAME_PATTERN),
    z.strictObject({
      host: z
        .string()
        .regex(HOST_PATTERN, { error: 'a host name or address (not starting with "-")' })
        .refine((host) => !looksLikeIpv4(host) || parseIp(host) !== undefined, { error: IPV4_RULE }),
      port: z.number().int().min(1).max(65535).optional(),
      user: z
        .string()
        .regex(/^[a-z_][a-z0-9_-]*$/, { error: 'a user name' })
        .optional(),
      identity: z
        .string()
        .regex(/^[A-Za-z0-9_./~+@:-]+$/, { error: 'a path to a private key' })
        .optional(),
      underlay: z
        .strictObject({
          dev: z.string().regex(NAME_PATTERN).max(15).optional(),
          address: z.string().regex(IPV4_PATTERN, { error: IPV4_RULE }).optional(),
        })
        .optional(),
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
    throw new UsageError(
      parsed.error.issues
        .map(
          (i) =>
            `${file}: ${i.path.map((p) => (/^[\w.-]+$/.test(String(p)) ? String(p) : shown(String(p)))).join('.') || '(top)'}: ${i.message}`,
        )
        .join('\n') +
        '\n(an inventory is `nodes: { node-0: { host: 192.168.56.10, user: vagrant, identity: ~/.ssh/key } }`)',
    );
  }
  return parsed.data;
}
