/**
 * The one spelling of a row's key on every brand (docs/convergence.md, "Capture
 * contract"): `object_id`, `object_id_old` and `ds_row_version.row_key` hold it, and
 * rows are found by comparing it byte for byte, so the triggers and this function must
 * agree exactly.
 */
import { normalizeDecimal, toCanonical } from './canonical.ts';
import type { ValueMap } from './change.ts';
import { primaryKeyColumns, type TableSchema } from './schema.ts';

/**
 * A one-column key is the JSON of its canonical value (`"ord2"`, `42`); a composite key
 * is a compact JSON object with the key columns in primary-key order
 * (`{"order_id":"ord2","line_no":1}`). Integers are bare digits even beyond 2^53 (the
 * value encoding quotes those) and decimals lose trailing zeros (`12.50` → `"12.5"`), so
 * that a key reads the same whichever brand or column scale wrote it.
 */
export function canonicalKeyText(table: TableSchema, key: ValueMap): string {
  const columns = primaryKeyColumns(table);
  const texts = columns.map((column) => {
    const value = toCanonical(column, key[column.name]);
    if (value === null) return 'null';
    if (column.family === 'integer' || column.family === 'bigint') return String(value);
    if (column.family === 'decimal') return JSON.stringify(normalizeDecimal(String(value)));
    return JSON.stringify(value);
  });
  if (columns.length === 1) return texts[0];
  return `{${columns.map((column, i) => `${JSON.stringify(column.name)}:${texts[i]}`).join(',')}}`;
}
