/**
 * SQLite quoting and parameters, and the template helpers that turn a column of NEW or
 * OLD into its canonical JSON text inside a capture trigger.
 * Identifiers and keywords: https://www.sqlite.org/lang_keywords.html
 * Storage classes and affinity: https://www.sqlite.org/datatype3.html
 *
 * The helpers build JSON as text (json_quote and ||), never with json_object over
 * subqueries: SQLite drops the JSON subtype of a value that passes through a subquery,
 * so a nested json_object would arrive quoted as a string. Every value expression gives
 * JSON text for any storage class (SQLite columns can hold any type) and 'null' for
 * NULL, never SQL NULL, because one NULL in a `||` chain would blank the whole object.
 * A stored value that cannot be read as its family goes out as its own text: the import
 * rejects it with a reason rather than dsync changing it silently here.
 */
import type { DialectSql } from '../../core/dialect.ts';
import { multiRowInsert } from '../../core/sql-builders.ts';
import type { ColumnSchema } from '../../core/schema.ts';

// The keyword list of lang_keywords.html, plus TRUE and FALSE (special identifiers since 3.23).
const KEYWORDS = new Set(
  `abort action add after all alter always analyze and as asc attach autoincrement before begin between by cascade case
cast check collate column commit conflict constraint create cross current current_date current_time current_timestamp
database default deferrable deferred delete desc detach distinct do drop each else end escape except exclude exclusive
exists explain fail filter first following for foreign from full generated glob group groups having if ignore immediate
in index indexed initially inner insert instead intersect into is isnull join key last left like limit match materialized
natural no not nothing notnull null nulls of offset on or order others outer over partition plan pragma preceding primary
query raise range recursive references regexp reindex release rename replace restrict returning right rollback row rows
savepoint select set table temp temporary then ties to transaction trigger unbounded union unique update using vacuum
values view virtual when where window with without true false`.split(/\s+/),
);

export const sqliteSql: DialectSql = {
  ident(name) {
    if (/^[a-z_][a-z0-9_]*$/.test(name) && !KEYWORDS.has(name)) return name;
    return `"${name.replace(/"/g, '""')}"`;
  },
  table(name, schema) {
    return schema ? `${this.ident(schema)}.${this.ident(name)}` : this.ident(name);
  },
  literal(value) {
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? '1' : '0';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`SQLite has no literal for ${value}`);
      return String(value);
    }
    // sqlite3_prepare stops reading SQL text at a NUL, so a literal cannot carry one.
    if (value.includes('\0')) throw new Error('SQLite SQL text cannot hold a NUL character');
    return `'${value.replace(/'/g, "''")}'`;
  },
  // Anonymous `?`: better-sqlite3 binds an array by position, and numbered `?NNN`
  // placeholders would not bind from a plain array. Callers number parameters in order.
  param: () => '?',
  insertIgnoringDuplicates(table, columns, rowCount) {
    // Not INSERT OR IGNORE: that would also swallow NOT NULL and CHECK failures.
    return `${multiRowInsert(this, table, columns, rowCount)} ON CONFLICT DO NOTHING`;
  },
};

const SAFE_INTEGER = '9007199254740991';
const HEX_DIGITS = "'0123456789ABCDEF'";
const BASE64_DIGITS = "'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'";
/** SQLite's REAL infinity (a literal beyond the double range reads as Inf). */
const INFINITY = '9e999';

function columnRef(column: ColumnSchema, row: string): string {
  if (row !== 'NEW' && row !== 'OLD') throw new Error(`row must be NEW or OLD, not ${row}`);
  return `${row}.${sqliteSql.ident(column.name)}`;
}

/** JSON text of a REAL or INTEGER: JSON has no infinities, so they travel as strings as canonical.ts writes them. */
function numberJson(v: string): string {
  return `CASE WHEN ${v} = ${INFINITY} THEN '"Infinity"' WHEN ${v} = -${INFINITY} THEN '"-Infinity"' ELSE json_quote(${v}) END`;
}

/**
 * JSON text of a non-NULL value whatever its storage class. json_quote would read a
 * BLOB as JSONB (and fail on most), so a BLOB goes out as its bytes read as text.
 */
function fallbackJson(v: string): string {
  return `CASE typeof(${v}) WHEN 'blob' THEN json_quote(CAST(${v} AS TEXT)) WHEN 'real' THEN ${numberJson(v)} ELSE json_quote(${v}) END`;
}

/** Integers as JSON numbers while exact in a double, as strings beyond ±2^53 (canonical.ts). */
function integerJson(v: string): string {
  return `CASE WHEN typeof(${v}) = 'integer' THEN CASE WHEN ${v} BETWEEN -${SAFE_INTEGER} AND ${SAFE_INTEGER} THEN CAST(${v} AS TEXT) ELSE json_quote(CAST(${v} AS TEXT)) END ELSE ${fallbackJson(v)} END`;
}

/**
 * Decimals as strings. DECIMAL columns have NUMERIC affinity, so SQLite keeps an
 * INTEGER (exact) or a REAL (about 15 significant digits); a declared scale is padded
 * as the other brands print it (12.5 in DECIMAL(20,6) is "12.500000").
 */
function decimalJson(column: ColumnSchema, v: string): string {
  const scale = column.scale ?? 0;
  const integer = scale > 0 ? `CAST(${v} AS TEXT) || '.${'0'.repeat(scale)}'` : `CAST(${v} AS TEXT)`;
  const real = column.scale != null ? `printf('%.${scale}f', ${v})` : `CAST(${v} AS TEXT)`;
  return `CASE typeof(${v}) WHEN 'integer' THEN json_quote(${integer}) WHEN 'real' THEN CASE WHEN abs(${v}) < ${INFINITY} THEN json_quote(${real}) ELSE ${numberJson(v)} END ELSE ${fallbackJson(v)} END`;
}

function booleanJson(v: string): string {
  const numeric = `typeof(${v}) IN ('integer', 'real')`;
  return `CASE WHEN ${numeric} AND ${v} = 1 THEN 'true' WHEN ${numeric} AND ${v} = 0 THEN 'false' WHEN typeof(${v}) = 'text' AND lower(${v}) IN ('true', 't') THEN 'true' WHEN typeof(${v}) = 'text' AND lower(${v}) IN ('false', 'f') THEN 'false' ELSE ${fallbackJson(v)} END`;
}

function uuidJson(v: string): string {
  const hex = `lower(hex(${v}))`;
  const dashed = [1, 9, 13, 17, 21].map((start, i) => `substr(${hex}, ${start}, ${[8, 4, 4, 4, 12][i]})`).join(` || '-' || `);
  return `CASE WHEN typeof(${v}) = 'text' THEN json_quote(lower(${v})) WHEN typeof(${v}) = 'blob' AND length(${v}) = 16 THEN json_quote(${dashed}) ELSE ${fallbackJson(v)} END`;
}

/** JSON columns travel as a JSON string holding the document's text; a JSONB blob is turned into text first. */
function jsonTextJson(v: string): string {
  return `CASE WHEN typeof(${v}) = 'blob' AND json_valid(${v}, 8) THEN json_quote(json(${v})) ELSE json_quote(CAST(${v} AS TEXT)) END`;
}

/**
 * Base64 of the value's bytes in plain SQL (SQLite core has no base64 function, and a
 * function registered by dsync would be missing in other clients, failing their writes).
 * A recursive CTE walks hex(v) three bytes (six hex digits) at a time; the pieces are
 * joined in order by group_concat(... ORDER BY), which stays linear for large values.
 */
function base64Json(v: string): string {
  const nibble = (k: number) => `(instr(${HEX_DIGITS}, substr(p, ${k}, 1)) - 1)`;
  const group = `${nibble(1)} * 1048576 + ${nibble(2)} * 65536 + ${nibble(3)} * 4096 + ${nibble(4)} * 256 + ${nibble(5)} * 16 + ${nibble(6)}`;
  const digit = (index: string) => `substr(${BASE64_DIGITS}, ${index} + 1, 1)`;
  return [
    `(WITH RECURSIVE ds_hex(h) AS (SELECT hex(${v})),`,
    `  ds_at(i) AS (SELECT 1 UNION ALL SELECT i + 6 FROM ds_at, ds_hex WHERE i + 6 <= length(h))`,
    ` SELECT json_quote(coalesce(group_concat(${digit('n / 262144')} || ${digit('(n / 4096) % 64')}`,
    `   || CASE WHEN l > 2 THEN ${digit('(n / 64) % 64')} ELSE '=' END || CASE WHEN l > 4 THEN ${digit('n % 64')} ELSE '=' END, '' ORDER BY i), ''))`,
    ` FROM (SELECT i, l, ${group} AS n`,
    `   FROM (SELECT i, length(substr(h, i, 6)) AS l, substr(h, i, 6) || '0000' AS p FROM ds_at, ds_hex WHERE i <= length(h))))`,
  ].join('\n');
}

type DateTimeFamily = 'date' | 'time' | 'timestamp' | 'timestamptz';

/**
 * Dates, times and timestamps stored as text, in the spellings met in practice:
 * `YYYY-MM-DD`, `HH:MM[:SS[.f…]]`, the two joined by a space or `T`, optionally with a
 * zone (`Z`, `±HH`, `±HHMM`, `±HH:MM`). The text is taken apart in nested derived
 * tables (so each piece is computed once) and put together in the canonical form;
 * fractions keep up to six digits (truncated like canonical.ts). A zone is dropped for
 * zone-less families (the wall-clock time is kept, as the other brands do) and applied
 * with datetime() for timestamptz; a zone-less timestamptz is UTC. Anything else, and
 * a date that date() would have to move (2024-02-30), goes out as its text.
 */
function dateTimeJson(family: DateTimeFamily, v: string): string {
  const dateOnly = family === 'date' ? `length(v) = 10` : 'FALSE';
  const datePart = family === 'time' ? 'NULL' : 'substr(v, 1, 10)';
  const timeText = family === 'time' ? 'v' : `CASE WHEN length(v) = 10 THEN '00:00:00' ELSE substr(v, 12) END`;
  const dateOk = `d GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' AND date(d) = d`;
  const separatorOk = `(length(v) = 10 OR substr(v, 11, 1) IN (' ', 'T'))`;
  const timeOk = [
    `hh GLOB '[0-2][0-9]' AND c = ':' AND mi GLOB '[0-5][0-9]' AND ss GLOB '[0-6][0-9]'`,
    `(substr(rest, 1, 1) <> '.' OR length(frac) > 0)`,
    `(zone IN ('', 'Z', 'z') OR zone GLOB '[+-][0-9][0-9]' OR zone GLOB '[+-][0-9][0-9][0-9][0-9]' OR zone GLOB '[+-][0-9][0-9]:[0-9][0-9]')`,
  ].join(' AND ');
  const micro = `substr(frac || '000000', 1, 6)`;
  const offset = `CASE WHEN zone IN ('', 'Z', 'z') THEN '+00:00' WHEN length(zone) = 3 THEN zone || ':00' WHEN length(zone) = 5 THEN substr(zone, 1, 3) || ':' || substr(zone, 4, 2) ELSE zone END`;
  const [ok, result] = {
    date: [`${dateOk} AND (${dateOnly} OR (${separatorOk} AND ${timeOk}))`, 'd'],
    time: [timeOk, `hh || ':' || mi || ':' || ss || '.' || ${micro}`],
    timestamp: [`${dateOk} AND ${separatorOk} AND ${timeOk}`, `d || 'T' || hh || ':' || mi || ':' || ss || '.' || ${micro}`],
    timestamptz: [`${dateOk} AND ${separatorOk} AND ${timeOk} AND u IS NOT NULL`, `substr(u, 1, 10) || 'T' || substr(u, 12) || '.' || ${micro} || 'Z'`],
  }[family];
  const utc = family === 'timestamptz' ? `, datetime(d || ' ' || hh || ':' || mi || ':' || ss || ${offset}) AS u` : '';
  return [
    `(SELECT CASE WHEN typeof(v) = 'text' AND ${ok} THEN json_quote(${result}) ELSE ${fallbackJson('v')} END`,
    ` FROM (SELECT *${utc} FROM (SELECT v, d, hh, c, mi, ss, rest, substr(f, 1, n) AS frac,`,
    `     CASE WHEN substr(rest, 1, 1) = '.' THEN ltrim(substr(f, n + 1), ' ') ELSE ltrim(rest, ' ') END AS zone`,
    `   FROM (SELECT *, length(f) - length(ltrim(f, '0123456789')) AS n`,
    `     FROM (SELECT *, CASE WHEN substr(rest, 1, 1) = '.' THEN substr(rest, 2) ELSE '' END AS f`,
    `       FROM (SELECT v, d, substr(t, 1, 2) AS hh, substr(t, 3, 1) AS c, substr(t, 4, 2) AS mi,`,
    `           CASE WHEN substr(t, 6, 1) = ':' THEN substr(t, 7, 2) ELSE '00' END AS ss,`,
    `           CASE WHEN substr(t, 6, 1) = ':' THEN substr(t, 9) ELSE substr(t, 6) END AS rest`,
    `         FROM (SELECT v, ${datePart} AS d, ${timeText} AS t FROM (SELECT ${v} AS v))))))))`,
  ].join('\n');
}

/** The SQL expression that gives the canonical JSON text of `column` in row `row` (NEW or OLD). */
export function sqliteJsonValue(column: ColumnSchema, row: string): string {
  const v = columnRef(column, row);
  let json: string;
  switch (column.family) {
    case 'integer':
    case 'bigint':
      json = integerJson(v);
      break;
    case 'decimal':
      json = decimalJson(column, v);
      break;
    case 'float':
      json = `CASE WHEN typeof(${v}) IN ('integer', 'real') THEN ${numberJson(v)} ELSE ${fallbackJson(v)} END`;
      break;
    case 'boolean':
      json = booleanJson(v);
      break;
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      json = dateTimeJson(column.family, v);
      break;
    case 'binary':
      json = base64Json(v);
      break;
    case 'json':
      json = jsonTextJson(v);
      break;
    case 'uuid':
      json = uuidJson(v);
      break;
    default:
      json = `json_quote(CAST(${v} AS TEXT))`;
  }
  return `CASE WHEN ${v} IS NULL THEN 'null' ELSE ${json} END`;
}

/** `"name":` as a SQL literal: the JSON key is fixed at generation time. */
function keyPrefix(column: ColumnSchema, comma: boolean): string {
  return sqliteSql.literal(`${comma ? ',' : ''}${JSON.stringify(column.name)}:`);
}

/**
 * Joins SQL text terms with `||` in parenthesized chunks: a flat chain of n terms is an
 * expression tree n deep, and SQLite refuses trees deeper than 1000 (SQLITE_MAX_EXPR_DEPTH).
 */
function concatChunked(terms: string[], operator = '||'): string {
  const chunks: string[] = [];
  for (let i = 0; i < terms.length; i += 40) chunks.push(`(${terms.slice(i, i + 40).join(`\n    ${operator} `)})`);
  return chunks.join(`\n    ${operator} `);
}

/** JSON object text of every column of `row`. */
export function sqliteJsonObject(columns: ColumnSchema[], row: string): string {
  if (columns.length === 0) return `'{}'`;
  return `'{' || ${concatChunked(columns.map((c, i) => `${keyPrefix(c, i > 0)} || ${sqliteJsonValue(c, row)}`))} || '}'`;
}

/** The key as JSON text: a scalar for a one-column key, an object for a composite one. */
export function sqliteKeyJson(keyColumns: ColumnSchema[], row: string): string {
  if (keyColumns.length === 1) return sqliteJsonValue(keyColumns[0], row);
  return sqliteJsonObject(keyColumns, row);
}

/**
 * True when the column changed. `IS NOT` treats NULLs as values; BINARY collation so
 * that a column declared COLLATE NOCASE still reports 'abc' → 'ABC' as a change.
 */
export function sqliteChanged(column: ColumnSchema): string {
  return `NEW.${sqliteSql.ident(column.name)} IS NOT OLD.${sqliteSql.ident(column.name)} COLLATE BINARY`;
}

/** True when any of the columns changed (the WHEN clause of the update trigger). */
export function sqliteAnyChanged(columns: ColumnSchema[]): string {
  return concatChunked(columns.map(sqliteChanged), 'OR');
}

/** Comma-joined names of the changed columns (object_attribute of an update). */
export function sqliteChangedNames(columns: ColumnSchema[]): string {
  const terms = columns.map((c) => `CASE WHEN ${sqliteChanged(c)} THEN ${sqliteSql.literal(`,${c.name}`)} ELSE '' END`);
  return `substr(${concatChunked(terms)}, 2)`;
}

/** JSON object text of the changed columns' values in `row` (object_value / object_value_old of an update). */
export function sqliteChangedObject(columns: ColumnSchema[], row: string): string {
  const terms = columns.map((c) => `CASE WHEN ${sqliteChanged(c)} THEN ${keyPrefix(c, true)} || ${sqliteJsonValue(c, row)} ELSE '' END`);
  return `'{' || substr(${concatChunked(terms)}, 2) || '}'`;
}
