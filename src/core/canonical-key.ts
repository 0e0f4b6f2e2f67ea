/**
 * The one spelling of a row's key (docs/convergence.md, "Capture contract"): what every
 * brand's capture trigger writes in object_id and what ds_row_version.row_key holds,
 * compared exactly. A one-column key is the JSON of its canonical value; a composite key
 * is a compact JSON object with the key columns in primary-key order. Integer-family
 * values are bare digits even beyond 2^53, where the canonical value is a string.
 */
import { toCanonical } from './canonical.ts';
import type { ValueMap } from './change.ts';
import { type ColumnSchema, primaryKeyColumns, type TableSchema } from './schema.ts';

function keyValueText(column: ColumnSchema, value: unknown): string {
  const canonical = toCanonical(column, value);
  if ((column.family === 'integer' || column.family === 'bigint') && canonical !== null) return String(canonical);
  return JSON.stringify(canonical);
}

/** `key` (column name to value) as the canonical key text of `table`. */
export function canonicalKeyText(table: TableSchema, key: ValueMap): string {
  const columns = primaryKeyColumns(table);
  if (columns.length === 1) return keyValueText(columns[0], key[columns[0].name]);
  return `{${columns.map((c) => `${JSON.stringify(c.name)}:${keyValueText(c, key[c.name])}`).join(',')}}`;
}
