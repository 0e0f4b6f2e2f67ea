/**
 * The one spelling of a row's key (docs/convergence.md "Capture contract"): what every
 * brand's triggers write in object_id, what captureChange and the import write, and the
 * version store's row_key. A one-column key is its JSON value; a composite key is a
 * compact JSON object with the key columns in primary-key order.
 */
import type { CanonicalValue } from './canonical.ts';
import type { ValueMap } from './change.ts';
import { columnByName, type TableSchema } from './schema.ts';

function valueText(table: TableSchema, name: string, value: CanonicalValue | undefined): string {
  const family = columnByName(table, name)?.family;
  // Integers beyond 2^53 are canonical strings, but triggers print every integer as digits.
  if ((family === 'integer' || family === 'bigint') && typeof value === 'string') return value;
  return JSON.stringify(value ?? null);
}

export function canonicalKeyText(table: TableSchema, key: ValueMap): string {
  if (table.primaryKey.length === 1) return valueText(table, table.primaryKey[0], key[table.primaryKey[0]]);
  return `{${table.primaryKey.map((k) => `${JSON.stringify(k)}:${valueText(table, k, key[k])}`).join(',')}}`;
}
