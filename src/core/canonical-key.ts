/**
 * The one spelling of a row's key (docs/convergence.md "Capture contract"): what every
 * brand's capture triggers write in object_id and what ds_row_version.row_key holds,
 * compared byte for byte. A one-column key is the JSON value itself (`"ord2"`, `42`);
 * a composite key is a compact JSON object in primary-key order
 * (`{"order_id":"ord2","line_no":1}`). Triggers spell it in SQL; this is the definition
 * they are tested against.
 *
 * Values are the canonical encoding (canonical.ts) with two normalisations, because a
 * key must read the same whichever brand's column type held it:
 * - decimals by value: no exponent, no trailing fraction zeros, no `-0` (`12.50` → `"12.5"`);
 * - floats as plain decimal numbers with the shortest round-trip digits (`1e21` →
 *   `1000000000000000000000`, `1e-7` → `0.0000001`), as PostgreSQL's jsonb prints them.
 * - fixed-length text (`char(n)`) without its trailing pad, as the triggers read it.
 * Strings escape as JSON.stringify does: `"` `\` and control characters only, the latter
 * as `\b \f \n \r \t` or lowercase `\u00xx`; everything else (non-ASCII, `/`) as is.
 */
import { type CanonicalValue, toCanonical } from './canonical.ts';
import type { ValueMap } from './change.ts';
import { ChangeError } from './errors.ts';
import { type ColumnSchema, columnByName, type TableSchema, primaryKeyColumns } from './schema.ts';

/** A decimal number written without exponent: `1.5e3` → `1500`, `-2.50e-2` → `-0.025`. */
function plainDecimal(text: string): string | null {
  const m = /^([-+]?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = int + frac;
  let point = int.length + Number(exp); // position of the decimal point within digits
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits.padEnd(point, '0');
  let whole = digits.slice(0, point).replace(/^0+/, '') || '0';
  const fraction = digits.slice(point).replace(/0+$/, '');
  if (whole === '0' && fraction === '') return '0';
  whole = `${sign === '-' ? '-' : ''}${whole}`;
  return fraction ? `${whole}.${fraction}` : whole;
}

/** Fixed-length text types, as the brands' catalogs name them (PostgreSQL `character(n)`, `bpchar`; others `char(n)`, `nchar(n)`). */
const PADDED_CHAR = /^(n?char|character|bpchar)\b(?!\s+varying)/i;

/** One key value as JSON text in the canonical key spelling. */
function keyValueText(column: ColumnSchema, value: CanonicalValue): string {
  if (value === null) throw new ChangeError('bad_key', `key column ${column.name} is NULL`);
  if (column.family === 'text' && PADDED_CHAR.test(column.nativeType)) return JSON.stringify(String(value).replace(/ +$/, ''));
  if (column.family === 'decimal') return JSON.stringify(plainDecimal(String(value)) ?? String(value));
  if (column.family === 'float' && typeof value === 'number') {
    // JSON.stringify gives the shortest round-trip digits, sometimes with an exponent.
    return plainDecimal(JSON.stringify(value)) ?? JSON.stringify(value);
  }
  return JSON.stringify(value);
}

/** The key of `table` in `key` (any spelling a column accepts) as its canonical text. */
export function canonicalKeyText(table: TableSchema, key: ValueMap): string {
  if (table.primaryKey.length === 1) {
    // The common one-column key, spelled without the list and closure below.
    const name = table.primaryKey[0];
    const column = columnByName(table, name);
    if (column && name in key) return keyValueText(column, toCanonical(column, key[name]));
  }
  const columns = primaryKeyColumns(table);
  const spell = (column: ColumnSchema) => {
    if (!(column.name in key)) throw new ChangeError('bad_key', `the key of ${table.name} lacks ${column.name}`);
    return keyValueText(column, toCanonical(column, key[column.name]));
  };
  if (columns.length === 1) return spell(columns[0]);
  return `{${columns.map((c) => `${JSON.stringify(c.name)}:${spell(c)}`).join(',')}}`;
}
