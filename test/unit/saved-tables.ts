// iptables-save's filter and nat tables, from lines as it prints them: the answer node/query.ts gives.
import { parseSavedTable, type SavedTable } from '../../src/node/tables.js';

export function savedTables(
  filter: readonly string[],
  nat: readonly string[] = [],
): { filter: SavedTable; nat: SavedTable } {
  return { filter: parseSavedTable(filter), nat: parseSavedTable(nat) };
}
