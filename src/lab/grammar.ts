// Grammars for every value that ends up in a command on a node. Validation
// checks them before anything runs; quoteArg (src/shell/quote.ts) then quotes
// them anyway. Linux limits interface names to IFNAMSIZ-1 = 15 bytes.

export const IFNAME_MAX = 15;
/** Pod names become interface names `veth-<pod>-c`: 5 + 8 + 2 = 15 characters. */
export const POD_NAME_MAX = 8;
export const NODE_NAME_MAX = 15;
/** Lab names are part of iptables chain names (28 characters at most) and state paths. */
export const LAB_NAME_MAX = 12;

/** Characters allowed in every name; a name may not start with '-' or '.' (no option or path tricks). */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
export const NAME_RULE = "letters, digits, '_', '.' and '-', not starting with '-' or '.'";

export const LAB_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
export const LAB_NAME_RULE = "lower-case letters, digits and '-', starting with a letter or digit";

/** Lab files are a few kilobytes; anything near this is a mistake or an attack. */
export const MAX_LAB_BYTES = 1024 * 1024;

/** "labs/vxlan-3.yaml" → "vxlan-3", the name of a lab file that gives none (validated like a name from the file). */
export function defaultLabName(file: string): string {
  return (file.split('/').pop() ?? file).replace(/\.ya?ml$/i, '').toLowerCase();
}

export function isName(text: string, max: number): boolean {
  return text.length <= max && NAME_PATTERN.test(text);
}
