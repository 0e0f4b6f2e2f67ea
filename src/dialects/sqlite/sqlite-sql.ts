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
import { madeText, multiRowInsert } from '../../core/sql-builders.ts';
import type { ColumnSchema } from '../../core/schema.ts';
import { qualifiedName } from '../../core/table-ref.ts';

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
    if (name.includes('\0')) throw new Error('SQLite SQL text cannot hold a NUL character');
    if (/^[a-z_][a-z0-9_]*$/.test(name) && !KEYWORDS.has(name)) return name;
    return `"${name.replace(/"/g, '""')}"`;
  },
  table(name, schema) {
    return qualifiedName((n) => this.ident(n), name, schema);
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
  limit: (n) => `LIMIT ${n}`,
  insertIgnoringDuplicates(table, columns, rowCount) {
    // Not INSERT OR IGNORE: that would also swallow NOT NULL and CHECK failures.
    return madeText(
      this,
      `ignore\0${table}\0${columns.join('\0')}\0${rowCount}`,
      () => `${multiRowInsert(this, table, columns, rowCount)} ON CONFLICT DO NOTHING`,
    );
  },
};

const SAFE_INTEGER = '9007199254740991';
const HEX_DIGITS = "'0123456789ABCDEF'";
const BASE64_DIGITS = "'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'";
/** SQLite's REAL infinity: a literal beyond the double range reads as Inf. */
const INFINITY = '9e999';
/** The smallest normal double (2^-1022); below it a double holds fewer than 15 significant digits. */
const MIN_NORMAL = '2.2250738585072014e-308';
/** Continuation lines of a multi-line expression, indented to sit inside a trigger body. */
const NL = '\n      ';

function columnRef(column: ColumnSchema, row: string): string {
  if (row !== 'NEW' && row !== 'OLD') throw new Error(`row must be NEW or OLD, not ${row}`);
  return `${row}.${sqliteSql.ident(column.name)}`;
}

/**
 * The value as a JSON string of its text: how a value that its family cannot read
 * travels, and how text travels. json_quote(NULL) is 'null'. The CAST matters: given a
 * BLOB, json_quote would read it as JSONB and fail the application's write.
 */
function textJson(v: string): string {
  return `json_quote(CAST(${v} AS TEXT))`;
}

/** Integers as JSON numbers while a double holds them exactly, as strings beyond ±2^53 (canonical.ts). */
function integerJson(v: string): string {
  return `CASE WHEN typeof(${v}) = 'integer' AND ${v} BETWEEN -${SAFE_INTEGER} AND ${SAFE_INTEGER} THEN CAST(${v} AS TEXT) ELSE ${textJson(v)} END`;
}

/** JSON has no infinities: they travel as the strings canonical.ts writes. */
function floatJson(v: string): string {
  return `CASE WHEN typeof(${v}) IN ('integer', 'real') AND abs(${v}) < ${INFINITY} THEN json_quote(${v}) WHEN ${v} = ${INFINITY} THEN '"Infinity"' WHEN ${v} = -${INFINITY} THEN '"-Infinity"' ELSE ${textJson(v)} END`;
}

/**
 * Decimals as strings. DECIMAL columns have NUMERIC affinity, so SQLite keeps an
 * INTEGER (exact) or a REAL (about 15 significant digits); a declared scale is printed
 * as the other brands print it (12.5 in DECIMAL(20,6) is "12.500000").
 */
function decimalJson(column: ColumnSchema, v: string): string {
  const scale = column.scale ?? 0;
  const integer = scale > 0 ? `${v} || '.${'0'.repeat(scale)}'` : `CAST(${v} AS TEXT)`;
  const real = column.scale != null ? `printf('%.${scale}f', ${v})` : `CAST(${v} AS TEXT)`;
  return `CASE typeof(${v}) WHEN 'integer' THEN json_quote(${integer}) WHEN 'real' THEN json_quote(${real}) ELSE ${textJson(v)} END`;
}

/** SQLite stores booleans as 1/0; 'true'/'false' written as text are read too. */
function booleanJson(v: string): string {
  return `CASE WHEN ${v} = 1 OR lower(${v}) IN ('true', 't') THEN 'true' WHEN ${v} = 0 OR lower(${v}) IN ('false', 'f') THEN 'false' ELSE ${textJson(v)} END`;
}

/** UUIDs in lower case; a 16-byte BLOB (a common way to store them) is spelled out. */
function uuidJson(v: string): string {
  const hex = `lower(hex(${v}))`;
  const dashed = [
    [1, 8],
    [9, 4],
    [13, 4],
    [17, 4],
    [21, 12],
  ]
    .map(([at, n]) => `substr(${hex}, ${at}, ${n})`)
    .join(` || '-' || `);
  return `CASE WHEN typeof(${v}) = 'blob' AND length(${v}) = 16 THEN json_quote(${dashed}) WHEN typeof(${v}) = 'text' THEN json_quote(lower(${v})) ELSE ${textJson(v)} END`;
}

/**
 * JSON columns travel as a JSON string holding the document's text. A JSONB blob
 * (SQLite 3.45+) goes out as its bytes, like any value its family cannot read: telling
 * JSONB apart needs json_valid(x, 8), and a two-argument json_valid in a trigger fails
 * every write to the table on SQLite before 3.45 ("wrong number of arguments").
 */
function jsonTextJson(v: string): string {
  return textJson(v);
}

/**
 * Base64 of the value's bytes in plain SQL: SQLite core has no base64 function, and a
 * function registered by dsync would be missing in other clients, failing their writes.
 * A recursive CTE walks the value three bytes at a time, keeping each group's hex digits
 * p (substr on a BLOB is indexed by byte, so each step is cheap; the value itself never
 * passes through a CTE column, which would copy it per row). The next level reads the
 * group's 24 bits n from p; its LIMIT -1 stops SQLite from flattening n's expression
 * into the four digits that use it. The pieces are joined in order by a group_concat
 * over a subquery ordered by i: SQLite does not flatten an ordered subquery into an
 * aggregate, so the aggregate reads the rows in that order (group_concat(... ORDER BY)
 * needs SQLite 3.44, and older readers of the file would fail to load its schema).
 * Cost: about 0.6 s per MB of changed binary data (linear).
 */
function base64Json(v: string): string {
  const bytes = `CAST(${v} AS BLOB)`;
  const nibble = (k: number) => `(instr(${HEX_DIGITS}, substr(p, ${k}, 1)) - 1)`;
  const group = [1048576, 65536, 4096, 256, 16, 1].map((weight, k) => `${nibble(k + 1)} * ${weight}`).join(' + ');
  const digit = (index: string) => `substr(${BASE64_DIGITS}, ${index} + 1, 1)`;
  return [
    `CASE WHEN ${v} IS NULL THEN 'null' ELSE (`,
    `  WITH RECURSIVE ds_at(i, size, p) AS (SELECT 1, length(${bytes}), hex(substr(${bytes}, 1, 3)) || '0000'`,
    `    UNION ALL SELECT i + 3, size, hex(substr(${bytes}, i + 3, 3)) || '0000' FROM ds_at WHERE i + 3 <= size)`,
    `  SELECT json_quote(coalesce(group_concat(piece, ''), ''))`,
    `  FROM (SELECT ${digit('n / 262144')} || ${digit('(n / 4096) % 64')}`,
    `      || CASE WHEN l > 1 THEN ${digit('(n / 64) % 64')} ELSE '=' END`,
    `      || CASE WHEN l > 2 THEN ${digit('n % 64')} ELSE '=' END AS piece`,
    `    FROM (SELECT i, min(size - i + 1, 3) AS l, ${group} AS n FROM ds_at WHERE i <= size LIMIT -1) ORDER BY i)) END`,
  ].join(NL);
}

type DateTimeFamily = 'date' | 'time' | 'timestamp' | 'timestamptz';

/**
 * Dates, times and timestamps stored as text, in the spellings met in practice:
 * `YYYY-MM-DD`, `HH:MM[:SS[.f…]]`, the two joined by a space or `T`, optionally with a
 * zone (`Z`, `±HH`, `±HHMM`, `±HH:MM`, after optional spaces), put together in the
 * canonical form; fractions keep six digits (truncated, as canonical.ts does). A zone is
 * dropped for zone-less families (the wall-clock time is kept, as the other brands do) and
 * applied with datetime() for timestamptz, where no zone means UTC. Anything else,
 * including a date that date() would move (2024-02-30), goes out as its text.
 *
 * The common spellings take the fast path below; the rest are taken apart in three one-row
 * sub-selects, each computing its pieces once from the one inside it: the clock starts at
 * `o` (11 after a date and its separator, 0 for a time); `hm` is hours and minutes, `ss`
 * the seconds ('00' when absent), `r` what follows them; a fraction is the digits after a
 * dot starting `r`, `tail` what follows those digits (or all of `r`), the zone is `tail`
 * without leading spaces and `off` the zone as ±HH:MM. Every piece is a substr of the value,
 * so only the value's text up to a NUL character is read.
 *
 * Written for a small trigger program: SQLite sets up and clears every register of a
 * trigger's program on each row, whichever branch runs (docs/performance.md). A function
 * call inside a trigger takes registers of its own for good whenever one of its arguments
 * is constant (NEW.x counts as one), and a sub-select that SQLite flattens becomes one deep
 * expression again. So the innermost sub-select reads the value as column `v`, each level's
 * LIMIT keeps SQLite from flattening it into the next, and every literal argument is made
 * non-constant by that row's `z` (0) or `e` (''): the calls then share temporary registers.
 * Only the program's size depends on this, not the result.
 */
function dateTimeJson(family: DateTimeFamily, value: string): string {
  const num = (x: number | string) => `z + ${x}`;
  const str = (x: string) => `e || '${x}'`;
  const o = family === 'time' ? 0 : 11;
  const at = (i: number, n?: number) => `substr(v, ${num(o + i)}${n === undefined ? '' : `, ${num(n)}`})`;
  const seconds = `${at(6, 1)} = ':'`;
  const dot = `substr(r, ${num(1)}, ${num(1)}) = '.'`;
  const zone = 'ltrim(tail)';
  const off = `CASE WHEN ${zone} IN ('', 'Z', 'z') THEN '+00:00' WHEN length(${zone}) = 3 THEN ${zone} || ':00' WHEN length(${zone}) = 5 THEN substr(${zone}, ${num(1)}, ${num(3)}) || ':' || substr(${zone}, ${num(4)}, ${num(2)}) ELSE ${zone} END`;
  const micro = `CASE WHEN dot THEN substr(substr(r, ${num(2)}, length(r) - 1 - length(tail)) || '000000', ${num(1)}, ${num(6)}) ELSE '000000' END`;
  const timeOk = [
    `hm GLOB ${str('[0-2][0-9]:[0-5][0-9]')}`,
    `ss GLOB ${str('[0-6][0-9]')}`,
    `(NOT dot OR substr(r, ${num(2)}, ${num(1)}) GLOB ${str('[0-9]')})`,
    `${off} GLOB ${str('[+-][0-9][0-9]:[0-9][0-9]')}`,
  ].join(' AND ');
  const clock = `hm || ':' || ss`;
  const cases: string[] = [];
  const parsed = (ok: string, result: string) => cases.push(`WHEN ${ok} THEN json_quote(${result})`);
  if (family === 'time') {
    parsed(timeOk, `${clock} || '.' || ${micro}`);
  } else {
    const d = `substr(v, ${num(1)}, ${num(10)})`;
    const dateOk = `${d} GLOB ${str(DATE_GLOB)} AND date(${d}) = ${d}`;
    // A date alone reads as midnight.
    const whole = `length(v) = 10 AND ${dateOk}`;
    const timed = `${dateOk} AND substr(v, ${num(11)}, ${num(1)}) IN (' ', 'T') AND ${timeOk}`;
    if (family === 'date') {
      parsed(whole, d);
      parsed(timed, d);
    } else if (family === 'timestamp') {
      parsed(whole, `${d} || 'T00:00:00.000000'`);
      parsed(timed, `${d} || 'T' || ${clock} || '.' || ${micro}`);
    } else {
      const midnight = `datetime(${d} || ' 00:00:00+00:00')`;
      const utc = `datetime(${d} || ' ' || ${clock} || ${off})`;
      parsed(`${whole} AND ${midnight} IS NOT NULL`, `replace(${midnight}, ${str(' ')}, ${str('T')}) || '.000000Z'`);
      parsed(`${timed} AND ${utc} IS NOT NULL`, `replace(${utc}, ${str(' ')}, ${str('T')}) || '.' || ${micro} || 'Z'`);
    }
  }
  const general = [
    `(SELECT CASE WHEN typeof(v) = 'text' THEN CASE`,
    `  ${cases.join(`${NL}  `)}`,
    `  ELSE ${textJson('v')} END ELSE ${textJson('v')} END`,
    ` FROM (SELECT v, z, e, hm, ss, r, ${dot} AS dot,`,
    `    CASE WHEN ${dot} THEN ltrim(substr(r, ${num(2)}), ${str('0123456789')}) ELSE r END AS tail`,
    `  FROM (SELECT v, z, e, ${at(1, 5)} AS hm, CASE WHEN ${seconds} THEN ${at(7, 2)} ELSE '00' END AS ss,`,
    `      substr(v, ${num(`CASE WHEN ${seconds} THEN ${o + 9} ELSE ${o + 6} END`)}) AS r`,
    `   FROM (SELECT ${value} AS v, 0 AS z, '' AS e LIMIT 1) LIMIT 1) LIMIT 1))`,
  ].join(NL);
  const fast = dateTimeFastPath(family, value);
  return fast ? `CASE WHEN ${fast.when} THEN ${fast.value} ELSE ${general} END` : general;
}

const D4 = '[0-9][0-9][0-9][0-9]';
const D2 = '[0-9][0-9]';
const DATE_GLOB = `${D4}-${D2}-${D2}`;
const CLOCK_GLOB = '[0-2][0-9]:[0-5][0-9]:[0-6][0-9]';
/** `.` and one to six digits, by length: the fraction spellings the fast path takes. */
const FRACTION_GLOBS = [1, 2, 3, 4, 5, 6].map((d) => `.${'[0-9]'.repeat(d)}`);

/**
 * The spellings almost every row holds, recognized by one GLOB for their length and turned
 * canonical by substr, before the general expression above: `YYYY-MM-DD`,
 * `HH:MM:SS[.f]` and `YYYY-MM-DD[ T]HH:MM:SS[.f]` with one to six fraction digits (the
 * fraction padded with the zeros of `.000000` its length leaves over). Each is a case the
 * general expression accepts, and the result is what it gives; anything else (a zone, more
 * fraction digits, a date date() would move) takes the general expression. timestamptz has
 * no fast path.
 */
function dateTimeFastPath(family: DateTimeFamily, v: string): { when: string; value: string } | null {
  const text = `typeof(${v}) = 'text'`;
  const dateOk = (d: string) => `date(${d}) = ${d}`;
  // A clock, then nothing or a fraction, by the value's length: `CASE length(v) WHEN …`.
  const byLength = (clockAt: number, prefix: string) =>
    [
      `CASE length(${v}) WHEN ${clockAt + 7} THEN ${v} GLOB '${prefix}'`,
      ...FRACTION_GLOBS.map((g, i) => `WHEN ${clockAt + 9 + i} THEN ${v} GLOB '${prefix}${g}'`),
      'ELSE 0 END',
    ].join(' ');
  switch (family) {
    case 'date':
      return { when: `${text} AND length(${v}) = 10 AND ${v} GLOB '${DATE_GLOB}' AND ${dateOk(v)}`, value: `json_quote(${v})` };
    case 'time':
      return {
        when: `${text} AND ${byLength(1, CLOCK_GLOB)}`,
        value: `json_quote(substr(${v}, 1, 15) || substr('.000000', length(${v}) - 7))`,
      };
    case 'timestamp':
      return {
        when: `${text} AND ${byLength(12, `${DATE_GLOB}[ T]${CLOCK_GLOB}`)} AND ${dateOk(`substr(${v}, 1, 10)`)}`,
        value: `json_quote(substr(${v}, 1, 10) || 'T' || substr(${v}, 12) || substr('.000000', length(${v}) - 18))`,
      };
    default:
      return null;
  }
}

/** The SQL expression that gives the canonical JSON text of `column` in row `row` (NEW or OLD); 'null' for NULL. */
export function sqliteJsonValue(column: ColumnSchema, row: string): string {
  const v = columnRef(column, row);
  switch (column.family) {
    case 'integer':
    case 'bigint':
      return integerJson(v);
    case 'decimal':
      return decimalJson(column, v);
    case 'float':
      return floatJson(v);
    case 'boolean':
      return booleanJson(v);
    case 'date':
    case 'time':
    case 'timestamp':
    case 'timestamptz':
      return dateTimeJson(column.family, v);
    case 'binary':
      return base64Json(v);
    case 'json':
      return jsonTextJson(v);
    case 'uuid':
      return uuidJson(v);
    default:
      return textJson(v);
  }
}

/**
 * Joins SQL text terms with `operator`, one per line, in parenthesized chunks: a flat
 * chain of n terms is an expression tree n deep, and SQLite refuses trees deeper than
 * 1000 (SQLITE_MAX_EXPR_DEPTH, https://www.sqlite.org/limits.html).
 */
function joinChunked(terms: string[], operator: string): string {
  const chunks: string[] = [];
  for (let i = 0; i < terms.length; i += 40) chunks.push(terms.slice(i, i + 40).join(`${NL}${operator} `));
  return chunks.length === 1 ? chunks[0] : chunks.map((c) => `(${c})`).join(`${NL}${operator} `);
}

/** `,"name":` as a SQL literal: JSON keys are fixed at generation time. */
function jsonKey(column: ColumnSchema, comma: boolean): string {
  return sqliteSql.literal(`${comma ? ',' : ''}${JSON.stringify(column.name)}:`);
}

/** JSON object text of every column of `row`. */
export function sqliteJsonObject(columns: ColumnSchema[], row: string): string {
  if (columns.length === 0) return `'{}'`;
  const terms = columns.map((c, i) => `${jsonKey(c, i > 0)} || ${sqliteJsonValue(c, row)}`);
  return `'{' || ${joinChunked(terms, '||')}${NL}|| '}'`;
}

/** `n` zeros (n ≥ 0): hex of a zero blob is two per byte. */
const zeros = (n: string) => `substr(hex(zeroblob(${n})), 1, ${n})`;

/**
 * A finite REAL as a plain decimal number with the shortest digits that read back as the
 * same double, as canonicalKeyText spells a decimal held in a double (JavaScript's
 * digits, then without exponent: `2e-7` → `0.0000002`, `1e21` → `1000000000000000000000`).
 * The digits are the first of 15, 16 or 17 significant ones that read back as the value:
 * a normal double carries at least 15 digits, so the rounding to 15 of a shorter spelling
 * is that spelling with zeros; a subnormal one carries fewer, so every length is tried.
 * Exact for values of up to 15 significant digits (every value a person types, and every
 * value dsync writes into a DECIMAL column, which keeps 15); beyond, SQLite's printf does
 * not always round the last digit correctly (measured on random doubles: 3.40 misspells
 * about 1 in 50 of 16 digits and 1 in 6 of 17; 3.53 rarely at 16 and 1 in 25 at 17),
 * which is why float keys are refused (sqliteKeyProblem).
 */
function plainRealText(v: string): string {
  const digits = (p: number) => `printf('%!.${p - 1}e', abs(v))`;
  return [
    `(SELECT CASE WHEN v = 0 THEN '0' ELSE CASE WHEN v < 0 THEN '-' ELSE '' END || CASE`,
    `    WHEN k <= n THEN s || ${zeros('n - k')}`,
    `    WHEN 0 < n THEN substr(s, 1, n) || '.' || substr(s, n + 1)`,
    `    ELSE '0.' || ${zeros('-n')} || s END END`,
    ` FROM (SELECT v, s, n, length(s) AS k`,
    `  FROM (SELECT v, rtrim(replace(substr(m, 1, instr(m, 'e') - 1), '.', ''), '0') AS s, CAST(substr(m, instr(m, 'e') + 1) AS INTEGER) + 1 AS n`,
    `   FROM (SELECT v, CASE WHEN abs(v) < ${MIN_NORMAL} THEN printf('%!.*e', (SELECT coalesce(min(column1), 17) - 1`,
    `        FROM (VALUES ${Array.from({ length: 17 }, (_, i) => `(${i + 1})`).join(', ')}) WHERE CAST(printf('%!.*e', column1 - 1, abs(v)) AS REAL) = abs(v)), abs(v))`,
    `      WHEN CAST(${digits(15)} AS REAL) = abs(v) THEN ${digits(15)}`,
    `      WHEN CAST(${digits(16)} AS REAL) = abs(v) THEN ${digits(16)} ELSE ${digits(17)} END AS m`,
    `    FROM (SELECT ${v} AS v)))))`,
  ].join(NL);
}

/**
 * A decimal key value by value, as a JSON string (`12.50` → `"12.5"`): an INTEGER as its
 * digits, a REAL as plainRealText. Text that NUMERIC affinity left as text is no number
 * and goes out as its text, which the import rejects.
 */
function decimalKeyJson(v: string): string {
  return `CASE WHEN typeof(${v}) = 'integer' THEN json_quote(CAST(${v} AS TEXT)) WHEN typeof(${v}) = 'real' AND abs(${v}) < ${INFINITY} THEN json_quote(${plainRealText(v)}) ELSE ${textJson(v)} END`;
}

/** Fixed-length text types, as canonical-key.ts recognizes them (`char(n)`, `nchar(n)`, `character(n)`). */
const PADDED_CHAR = /^(n?char|character|bpchar)\b(?!\s+varying)/i;

/**
 * Why a key column cannot be spelled as canonicalKeyText spells it in SQLite SQL, or
 * null. A float key needs up to 17 significant digits, and SQLite's printf does not round
 * the 16th and 17th correctly (see plainRealText): such a key would be spelled wrong now
 * and then, and a misspelled key splits the row's version store entry.
 */
export function sqliteKeyProblem(column: ColumnSchema): string | null {
  if (column.family === 'float') {
    return `it is ${column.nativeType}, a float, whose shortest round-trip digits SQLite SQL cannot always produce; key the table on INTEGER, TEXT or DECIMAL`;
  }
  return null;
}

/** Refuses, at generation, a table whose key the triggers could not spell canonically (one line: table, column, reason). */
export function sqliteAssertKeys(table: { name: string; keyColumns: ColumnSchema[] }): string {
  for (const column of table.keyColumns) {
    const problem = sqliteKeyProblem(column);
    if (problem) throw new Error(`key column ${column.name} of table ${table.name} cannot be captured on SQLite: ${problem}`);
  }
  return '';
}

/**
 * One key column's value as canonicalKeyText spells it: decimals by value, char(n)
 * without its trailing pad, anything else as in object_value (integers as numbers to
 * ±2^53 and strings beyond, text escaped as JSON.stringify does).
 */
function keyValueJson(column: ColumnSchema, row: string): string {
  const problem = sqliteKeyProblem(column);
  if (problem) throw new Error(`key column ${column.name} cannot be captured on SQLite: ${problem}`);
  const v = columnRef(column, row);
  if (column.family === 'decimal') return decimalKeyJson(v);
  if (column.family === 'text' && PADDED_CHAR.test(column.nativeType)) return `json_quote(rtrim(CAST(${v} AS TEXT), ' '))`;
  return sqliteJsonValue(column, row);
}

/**
 * The key as canonicalKeyText spells it (object_id, ds_row_version.row_key): a one-column
 * key is its value's JSON, a composite key `{"a":…,"b":…}` in key order without spaces.
 */
export function sqliteKeyJson(keyColumns: ColumnSchema[], row: string): string {
  if (keyColumns.length === 1) return keyValueJson(keyColumns[0], row);
  const terms = keyColumns.map((c, i) => `${jsonKey(c, i > 0)} || ${keyValueJson(c, row)}`);
  return `'{' || ${joinChunked(terms, '||')}${NL}|| '}'`;
}

/**
 * True when an update moved the row to another key: a key column changed and the key's
 * canonical text with it (a UUID key rewritten in upper case is the same key).
 */
export function sqliteKeyChanged(keyColumns: ColumnSchema[]): string {
  return `(${sqliteAnyChanged(keyColumns)})${NL}AND (${sqliteKeyJson(keyColumns, 'NEW')})${NL}IS NOT (${sqliteKeyJson(keyColumns, 'OLD')})`;
}

/**
 * Now in microseconds since 1970 UTC, from SQLite's clock (milliseconds; the same value
 * for every row of one statement). Integer arithmetic on strftime, because julianday's
 * double is off by tens of microseconds and unixepoch('subsec') needs SQLite 3.42.
 */
export const sqliteNowMicros = () =>
  `(CAST(strftime('%s', 'now') AS INTEGER) * 1000000 + CAST(substr(strftime('%f', 'now'), 4) AS INTEGER) * 1000)`;

/**
 * A JSON merge patch (json_patch, RFC 7396) that sets col_versions[c] = [version, server]
 * for each changed column c: object keys need no JSON path, whose syntax cannot hold
 * every column name. `version` is an SQL expression; `server` the node's server id.
 */
export function sqliteColVersionsPatch(columns: ColumnSchema[], version: string, server: string): string {
  const entry = `'[' || ${version} || ${sqliteSql.literal(`,${JSON.stringify(server)}]`)}`;
  const terms = columns.map((c) => `CASE WHEN ${sqliteChanged(c)} THEN ${jsonKey(c, true)} || ${entry} ELSE '' END`);
  return `'{' || substr(${joinChunked(terms, '||')}, 2) || '}'`;
}

/**
 * True when the column changed: `IS NOT` treats NULL as a value, and BINARY collation
 * makes 'abc' → 'ABC' a change even in a column declared COLLATE NOCASE.
 */
export function sqliteChanged(column: ColumnSchema): string {
  const name = sqliteSql.ident(column.name);
  return `NEW.${name} IS NOT OLD.${name} COLLATE BINARY`;
}

/** True when any of the columns changed (the update trigger's WHEN clause, and "did the key change"). */
export function sqliteAnyChanged(columns: ColumnSchema[]): string {
  return joinChunked(columns.map(sqliteChanged), 'OR');
}

/** Comma-joined names of the changed columns (object_attribute of an update). */
export function sqliteChangedNames(columns: ColumnSchema[]): string {
  const terms = columns.map((c) => `CASE WHEN ${sqliteChanged(c)} THEN ${sqliteSql.literal(`,${c.name}`)} ELSE '' END`);
  return `substr(${joinChunked(terms, '||')}, 2)`;
}

/** JSON object text of the changed columns' values in `row` (object_value / object_value_old of an update). */
export function sqliteChangedObject(columns: ColumnSchema[], row: string): string {
  const terms = columns.map((c) => `CASE WHEN ${sqliteChanged(c)} THEN ${jsonKey(c, true)} || ${sqliteJsonValue(c, row)} ELSE '' END`);
  return `'{' || substr(${joinChunked(terms, '||')}, 2) || '}'`;
}

/** A plain decimal text with its fraction padded to the column's scale, as the triggers print it ("12.5" → "12.500000"). */
export function sqliteDecimalText(column: ColumnSchema, text: string): string {
  if (!column.scale || !/^-?\d+(\.\d*)?$/.test(text)) return text;
  const [whole, fraction = ''] = text.split('.');
  return fraction.length < column.scale ? `${whole}.${fraction.padEnd(column.scale, '0')}` : text;
}
