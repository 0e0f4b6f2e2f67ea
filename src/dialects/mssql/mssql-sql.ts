/**
 * SQL Server quoting, parameters, value conversion (canonical ↔ what `mssql`/tedious
 * binds and returns), and the template helpers that turn a column into its canonical
 * JSON inside a trigger (T-SQL of SQL Server 2019: no JSON_OBJECT, no IS DISTINCT FROM).
 * Identifiers: https://learn.microsoft.com/sql/relational-databases/databases/database-identifiers
 * Reserved words: https://learn.microsoft.com/sql/t-sql/language-elements/reserved-keywords-transact-sql
 */
import {
  type CanonicalValue,
  exactSingle,
  isSinglePrecision,
  outsideCommonEra,
  singleRounding,
  toCanonical,
} from '../../core/canonical.ts';
import type { DialectSql } from '../../core/dialect.ts';
import { ChangeError } from '../../core/errors.ts';
import type { ColumnSchema } from '../../core/schema.ts';
import { qualifiedName, tableRef } from '../../core/table-ref.ts';

const RESERVED = new Set(
  `add all alter and any as asc authorization backup begin between break browse bulk by cascade case check checkpoint
close clustered coalesce collate column commit compute constraint contains containstable continue convert create cross
current current_date current_time current_timestamp current_user cursor database dbcc deallocate declare default delete
deny desc disk distinct distributed double drop dump else end errlvl escape except exec execute exists exit external
fetch file fillfactor for foreign freetext freetexttable from full function goto grant group having holdlock identity
identity_insert identitycol if in index inner insert intersect into is join key kill left like lineno load merge
national nocheck nonclustered not null nullif of off offsets on open opendatasource openquery openrowset openxml option
or order outer over percent pivot plan precision primary print proc procedure public raiserror read readtext reconfigure
references replication restore restrict return revert revoke right rollback rowcount rowguidcol rule save schema
securityaudit select semantickeyphrasetable semanticsimilaritydetailstable semanticsimilaritytable session_user set
setuser shutdown some statistics system_user table tablesample textsize then to top tran transaction trigger truncate
try_convert tsequal union unique unpivot update updatetext use user values varying view waitfor when where while with
within writetext`.split(/\s+/),
);

/** What JavaScript's multiline `^`/`$` (and so the GO splitter) take for the end of a line. */
const LINE_BREAK = /[\n\r\u2028\u2029]/;
const SPLICED = /([\0\n\r\u2028\u2029])/;

export const mssqlSql: DialectSql = {
  // Rows the import plans a write from are locked until commit, as FOR UPDATE does
  // elsewhere (https://learn.microsoft.com/sql/t-sql/queries/hints-transact-sql-table).
  lockHint: ' WITH (UPDLOCK, ROWLOCK)',
  // An IDENTITY column takes an explicit value only under SET IDENTITY_INSERT … ON, one
  // table per session at a time (https://learn.microsoft.com/sql/t-sql/statements/set-identity-insert-transact-sql).
  identityInsert(table, columns) {
    if (!table.columns.some((c) => c.identity && columns.includes(c.name))) return {};
    const name = tableRef(mssqlSql, table);
    return { before: `SET IDENTITY_INSERT ${name} ON; `, after: `; SET IDENTITY_INSERT ${name} OFF` };
  },
  /**
   * Bare when plainly safe, else `[name]` with `]` doubled: the one escape brackets need.
   * A line break is refused: generated scripts are cut into batches at lines holding only
   * GO, and a name cannot be allowed to make one.
   */
  ident(name) {
    if (name.includes('\0')) throw new Error('a SQL Server identifier cannot hold a NUL character');
    if (LINE_BREAK.test(name)) throw new Error(`dsync cannot use a SQL Server name holding a line break: ${JSON.stringify(name)}`);
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !RESERVED.has(name.toLowerCase())) return name;
    return `[${name.replace(/]/g, ']]')}]`;
  },
  table(name, schema) {
    return qualifiedName((n) => this.ident(n), name, schema);
  },
  /**
   * N'…' (UTF-16, so every character survives) with `'` doubled. NUL and line breaks are
   * spliced in with NCHAR(n), so that no literal can hold a line that reads GO.
   */
  literal(value) {
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? '1' : '0';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`SQL Server has no literal for ${value}`);
      return String(value);
    }
    const parts: string[] = [];
    for (const piece of value.split(SPLICED)) {
      if (piece.length === 1 && SPLICED.test(piece)) parts.push(`NCHAR(${piece.charCodeAt(0)})`);
      else if (piece !== '' || parts.length === 0) parts.push(`N'${piece.replace(/'/g, "''")}'`);
    }
    return parts.length === 1 ? parts[0] : `(${parts.join(' + ')})`;
  },
  param: (index) => `@p${index}`,
  limit: (n) => `OFFSET 0 ROWS FETCH NEXT ${n} ROWS ONLY`,
  /**
   * `INSERT … SELECT … FROM (VALUES …)`: a derived VALUES table has no 1000-row limit.
   * Duplicates are skipped by the target's unique index, which must be IGNORE_DUP_KEY = ON
   * (the generated ds_change_inbox's origin key is): SQL Server then drops a duplicate row
   * with the warning "Duplicate key was ignored." and inserts the others; every other
   * error still fails the statement.
   * https://learn.microsoft.com/sql/t-sql/statements/create-index-transact-sql#ignore_dup_key--on--off-
   */
  insertIgnoringDuplicates(table, columns, rowCount) {
    const names = columns.map((c) => this.ident(c)).join(', ');
    const rows: string[] = [];
    let n = 0;
    for (let r = 0; r < rowCount; r++) rows.push(`(${columns.map(() => this.param(++n)).join(', ')})`);
    return `INSERT INTO ${this.ident(table)} (${names}) SELECT ${names} FROM (VALUES ${rows.join(', ')}) AS v (${names})`;
  },
};

/**
 * A parameter whose SQL Server type must not be guessed from its JavaScript value: a NULL
 * bound as nvarchar cannot be converted implicitly to varbinary, so binary NULLs say so.
 */
export class MssqlTypedParam {
  constructor(
    readonly type: 'varbinary(max)',
    readonly value: Buffer | null,
  ) {}
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * The server's text for a date/time value as tedious returns it (a JavaScript Date in
 * UTC, with the sub-millisecond part in `nanosecondsDelta`), by the column's declared
 * type: the same ISO spellings PostgreSQL gives, so runtime code can treat rows alike.
 * Microseconds are truncated, as DATEPART(microsecond, …) does in the triggers.
 */
export function mssqlTemporalText(value: Date, declaration: string): string {
  const delta = (value as Date & { nanosecondsDelta?: number }).nanosecondsDelta ?? 0;
  const micro = value.getUTCMilliseconds() * 1000 + Math.floor(Math.round(delta * 1e7) / 10);
  const date = `${pad(value.getUTCFullYear(), 4)}-${pad(value.getUTCMonth() + 1)}-${pad(value.getUTCDate())}`;
  const time = `${pad(value.getUTCHours())}:${pad(value.getUTCMinutes())}:${pad(value.getUTCSeconds())}.${pad(micro, 6)}`;
  switch (declaration) {
    case 'date':
      return date;
    case 'time':
      return time;
    case 'datetimeoffset':
      return `${date} ${time}+00:00`;
    default:
      return `${date} ${time}`;
  }
}

const TEMPORAL_DECLARATION: Partial<Record<ColumnSchema['family'], string>> = {
  date: 'date',
  time: 'time',
  timestamp: 'datetime2',
  timestamptz: 'datetimeoffset',
};

/** `char(n)`/`nchar(n)`: values travel without their pad, as PostgreSQL's char(n)::text gives them. */
export function isPaddedChar(column: Pick<ColumnSchema, 'nativeType'>): boolean {
  return /^n?char\(/i.test(column.nativeType);
}

/**
 * tedious reads decimal, numeric and money as JavaScript numbers. Below 2^49 (about 15
 * digits with the scale) the exact decimal is recovered from the number; above, digits
 * may already be lost, so this refuses rather than guess (docs/types.md: never a silent change).
 */
function decimalFromNumber(column: ColumnSchema, value: number): string {
  const scale = column.scale ?? 0;
  const scaled = Math.abs(value) * 10 ** scale;
  if (!Number.isFinite(value) || !(scaled < 2 ** 49)) {
    throw new ChangeError(
      'bad_value',
      `column ${column.name} (${column.nativeType}): the SQL Server driver read ${value} as a JavaScript number, which may have lost digits`,
      { hint: 'values with more than 15 significant digits are read exactly only through CONVERT(varchar(50), column)' },
    );
  }
  const digits = BigInt(Math.round(scaled))
    .toString()
    .padStart(scale + 1, '0');
  const int = digits.slice(0, digits.length - scale);
  const sign = value < 0 && /[1-9]/.test(digits) ? '-' : '';
  return scale > 0 ? `${sign}${int}.${digits.slice(int.length)}` : `${sign}${int}`;
}

/** A value as the driver returned it, in canonical encoding. */
export function mssqlFromDriver(column: ColumnSchema, raw: unknown): CanonicalValue {
  if (raw === null || raw === undefined) return null;
  if (raw instanceof Date) {
    const declaration = TEMPORAL_DECLARATION[column.family];
    if (!declaration) return toCanonical(column, raw);
    return toCanonical(column, mssqlTemporalText(raw, declaration).replace(/\+00:00$/, 'Z'));
  }
  if (column.family === 'decimal' && typeof raw === 'number') return decimalFromNumber(column, raw);
  if (column.family === 'text' && typeof raw === 'string' && isPaddedChar(column)) return raw.replace(/ +$/, '');
  return toCanonical(column, raw);
}

/**
 * `YYYY-MM-DDTHH:MM:SS.ffffff` as a legacy type's string conversion accepts it. datetime
 * keeps milliseconds rounded to .000/.003/.007 and smalldatetime whole minutes: a value
 * they would round is refused (parked with the reason), never stored changed.
 * https://learn.microsoft.com/sql/t-sql/data-types/datetime-transact-sql#rounding-of-datetime-fractional-second-precision
 */
function legacyDateTime(column: ColumnSchema, text: string): string {
  const type = column.nativeType.toLowerCase();
  const refuse = (why: string) =>
    new ChangeError('bad_value', `column ${column.name} (${column.nativeType}): ${text} ${why}; SQL Server would round it (use datetime2)`);
  if (type === 'datetime') {
    const micro = /\.(\d{6})$/.exec(text)?.[1] ?? '000000';
    if (micro.slice(3) !== '000' || !'037'.includes(micro[2])) throw refuse('has fractional seconds that datetime does not keep (1/300 s)');
    return text.replace(/(\.\d{3})\d*$/, '$1'); // at most 3 fractional digits, else error 241
  }
  if (type === 'smalldatetime') {
    if (!/:00(\.0*)?$/.test(text)) throw refuse('has seconds, which smalldatetime does not keep (whole minutes)');
    return text.replace(/\.\d*$/, '');
  }
  return text;
}

/**
 * A canonical value as a bound parameter for `column`. Strings go as nvarchar and the
 * server converts them to the column's type (rejecting what does not fit), except what
 * SQL Server cannot convert implicitly (binary). Date/time values use the ISO-8601 `T`
 * form, the one that does not depend on SET DATEFORMAT or the login's language.
 * https://learn.microsoft.com/sql/t-sql/data-types/datetime-transact-sql#supported-string-literal-formats-for-datetime
 */
export function mssqlParam(column: ColumnSchema, value: CanonicalValue): unknown {
  if (column.family === 'binary') {
    const canonical = toCanonical(column, value);
    return new MssqlTypedParam('varbinary(max)', canonical === null ? null : Buffer.from(String(canonical), 'base64'));
  }
  const canonical = toCanonical(column, value);
  if (canonical === null) return null;
  switch (column.family) {
    case 'integer':
    case 'bigint':
      return typeof canonical === 'string' ? BigInt(canonical) : canonical;
    case 'float':
      if (typeof canonical !== 'number') {
        throw new ChangeError('bad_value', `column ${column.name} (float): SQL Server cannot store ${canonical}`);
      }
      if (!isSinglePrecision(column)) return canonical;
      if (exactSingle(canonical) === null)
        throw new ChangeError('bad_value', `column ${column.name} (${column.nativeType}): ${singleRounding(canonical)}`);
      return exactSingle(canonical);
    case 'decimal':
      if (canonical === 'NaN') throw new ChangeError('bad_value', `column ${column.name} (decimal): SQL Server cannot store NaN`);
      return canonical;
    case 'date':
    case 'timestamp':
    case 'timestamptz': {
      const outside = outsideCommonEra(canonical);
      if (outside)
        throw new ChangeError(
          'bad_value',
          `column ${column.name} (${column.nativeType}): ${outside}, which SQL Server cannot store (dates run from 0001 to 9999, no BC, no infinity)`,
        );
      return column.family === 'timestamp' ? legacyDateTime(column, String(canonical)) : canonical;
    }
    default:
      return canonical;
  }
}

// ---- Capture triggers: canonical JSON built with string functions SQL Server 2016+ has. ----

const SAFE_INTEGER = '9007199254740991';
const STRING_TYPES = new Set(['char', 'varchar', 'nchar', 'nvarchar']);
const BINARY_TYPES = new Set(['binary', 'varbinary']);

const baseType = (column: ColumnSchema) => column.nativeType.toLowerCase().replace(/\(.*$/, '').trim();
const refOf = (column: ColumnSchema, row: string) => `${row}.${mssqlSql.ident(column.name)}`;

/**
 * text, ntext and image cannot be read from `inserted`/`deleted` in an AFTER trigger.
 * https://learn.microsoft.com/sql/t-sql/statements/create-trigger-transact-sql#remarks-for-dml-triggers
 */
function assertCapturable(column: ColumnSchema): void {
  const type = baseType(column);
  if (type === 'text' || type === 'ntext' || type === 'image') {
    const modern = type === 'image' ? 'varbinary(max)' : type === 'ntext' ? 'nvarchar(max)' : 'varchar(max)';
    throw new Error(
      `column ${column.name} is ${type}, which SQL Server triggers cannot read: ALTER TABLE … ALTER COLUMN ${mssqlSql.ident(column.name)} ${modern}`,
    );
  }
}

/** The column as nvarchar text before JSON quoting; a char(n) pad is dropped (see isPaddedChar). */
function textOf(column: ColumnSchema, ref: string): string {
  return isPaddedChar(column) ? `CAST(RTRIM(${ref}) AS nvarchar(max))` : `CAST(${ref} AS nvarchar(max))`;
}

/** A JSON string of an nvarchar expression; STRING_ESCAPE writes `/` as `\/`, put back to `/` as JSON.stringify writes it. */
function jsonString(text: string): string {
  return `N'"' + REPLACE(STRING_ESCAPE(${text}, 'json'), N'\\/', N'/') + N'"'`;
}

/** `HH:MM:SS.ffffff`; DATEPART(microsecond) truncates the 7th digit, as canonical.ts does. */
function timeText(value: string): string {
  return `CONVERT(nchar(8), ${value}, 108) + N'.' + RIGHT(N'00000' + CAST(DATEPART(microsecond, ${value}) AS nvarchar(6)), 6)`;
}

/** `YYYY-MM-DDTHH:MM:SS.ffffff`, spelled out part by part: style 126 drops a zero fraction. */
function dateTimeText(value: string): string {
  return `CONVERT(nchar(10), ${value}, 23) + N'T' + ${timeText(value)}`;
}

/**
 * JSON text of a non-NULL value in the canonical encoding (docs/concepts.md, row formats).
 * Styles: https://learn.microsoft.com/sql/t-sql/functions/cast-and-convert-transact-sql
 */
function jsonNonNull(column: ColumnSchema, ref: string): string {
  const type = baseType(column);
  switch (column.family) {
    case 'integer':
      return `CAST(${ref} AS nvarchar(20))`;
    case 'bigint':
      return `CASE WHEN ${ref} BETWEEN -${SAFE_INTEGER} AND ${SAFE_INTEGER} THEN CAST(${ref} AS nvarchar(20)) ELSE N'"' + CAST(${ref} AS nvarchar(20)) + N'"' END`;
    case 'decimal':
      // money's default style keeps 2 decimals; style 2 keeps all 4.
      return type === 'money' || type === 'smallmoney'
        ? `N'"' + CONVERT(nvarchar(40), ${ref}, 2) + N'"'`
        : `N'"' + CAST(${ref} AS nvarchar(50)) + N'"'`;
    case 'float':
      // Style 3: 17 significant digits, every float to a distinct string (lossless); a valid JSON number.
      // A real goes through float first: its exact value, the number tedious reads for it.
      return `CONVERT(nvarchar(30), ${type === 'real' ? `CAST(${ref} AS float)` : ref}, 3)`;
    case 'boolean':
      return `CASE WHEN ${ref} = 1 THEN N'true' ELSE N'false' END`;
    case 'date':
      return `N'"' + CONVERT(nchar(10), ${ref}, 23) + N'"'`;
    case 'time':
      return `N'"' + ${timeText(ref)} + N'"'`;
    case 'timestamp':
      // datetime ticks are 1/300 s: datetime2(3) rounds them to the milliseconds tedious reports.
      return `N'"' + ${dateTimeText(type === 'datetime' ? `CAST(${ref} AS datetime2(3))` : ref)} + N'"'`;
    case 'timestamptz':
      return `N'"' + ${dateTimeText(`CAST(SWITCHOFFSET(${ref}, N'+00:00') AS datetime2(7))`)} + N'Z"'`;
    case 'binary':
      // FOR XML encodes varbinary as base64 (no line breaks): the 2016-compatible way to base64 in T-SQL.
      return `N'"' + ISNULL((SELECT CAST(${ref} AS varbinary(max)) FOR XML PATH(''), BINARY BASE64), N'') + N'"'`;
    case 'uuid':
      return `N'"' + LOWER(CONVERT(nchar(36), ${ref})) + N'"'`;
    default:
      return jsonString(textOf(column, ref));
  }
}

/** The JSON text (nvarchar) of `column` in the row alias `row` (`i` for inserted, `d` for deleted); NULL is `null`. */
export function mssqlJsonValue(column: ColumnSchema, row: string): string {
  assertCapturable(column);
  const ref = refOf(column, row);
  return `CASE WHEN ${ref} IS NULL THEN N'null' ELSE ${jsonNonNull(column, ref)} END`;
}

/**
 * CONCAT of many nvarchar pieces into nvarchar(max): flat (a long `+` chain nests in the
 * parse tree), at most 254 arguments per CONCAT, and the leading nvarchar(max) keeps the
 * result from being cut at 4000 characters.
 */
function concatAll(pieces: string[]): string {
  if (pieces.length <= 200)
    return `CONCAT(CAST(N'' AS nvarchar(max)),
      ${pieces.join(',\n      ')})`;
  const chunks: string[] = [];
  for (let i = 0; i < pieces.length; i += 200) chunks.push(concatAll(pieces.slice(i, i + 200)));
  return concatAll(chunks);
}

/** A JSON object of every column, as nvarchar(max). */
export function mssqlJsonObject(columns: ColumnSchema[], row: string): string {
  if (columns.length === 0) return `CAST(N'{}' AS nvarchar(max))`;
  const pieces = columns.map(
    (c, i) => `${mssqlSql.literal(`${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`)} + ${mssqlJsonValue(c, row)}`,
  );
  return concatAll([...pieces, `N'}'`]);
}

/**
 * A decimal key value by value, as canonicalKeyText spells it (`12.50` → `"12.5"`):
 * trailing fraction zeros and then a bare point dropped from the server's text.
 */
function decimalKeyText(column: ColumnSchema, ref: string): string {
  const type = baseType(column);
  const text = type === 'money' || type === 'smallmoney' ? `CONVERT(nvarchar(40), ${ref}, 2)` : `CAST(${ref} AS nvarchar(50))`;
  const trimmed = `REPLACE(RTRIM(REPLACE(${text}, N'0', N' ')), N' ', N'0')`;
  const noPoint = `LEFT(${trimmed}, LEN(${trimmed}) - CASE WHEN RIGHT(${trimmed}, 1) = N'.' THEN 1 ELSE 0 END)`;
  return `N'"' + CASE WHEN CHARINDEX(N'.', ${text}) = 0 THEN ${text} ELSE ${noPoint} END + N'"'`;
}

/** One key value in the canonical key spelling (core/canonical-key.ts); a key value is never NULL. */
function keyValueText(column: ColumnSchema, row: string): string {
  assertCapturable(column);
  if (column.family === 'float') {
    // canonicalKeyText spells floats with their shortest round-trip digits, which T-SQL cannot produce.
    throw new Error(
      `key column ${column.name} is ${column.nativeType}: dsync cannot spell a float key canonically in SQL Server triggers; key the table on an exact type`,
    );
  }
  if (column.family === 'decimal') return decimalKeyText(column, refOf(column, row));
  return jsonNonNull(column, refOf(column, row));
}

/**
 * The key in the canonical key spelling: the JSON value for a one-column key, a compact
 * object in primary-key order for a composite one. canonicalKeyText is its definition.
 */
export function mssqlKeyJsonExpression(keyColumns: ColumnSchema[], row: string): string {
  if (keyColumns.length === 1) return keyValueText(keyColumns[0], row);
  const pieces = keyColumns.map(
    (c, i) => `${mssqlSql.literal(`${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`)} + ${keyValueText(c, row)}`,
  );
  return concatAll([...pieces, `N'}'`]);
}

/** Text and binary compare by their bytes and length: `=` ignores case under CI collations and trailing spaces always. */
function comparedBytes(column: ColumnSchema, ref: string): string | null {
  const type = baseType(column);
  if (STRING_TYPES.has(type) || BINARY_TYPES.has(type)) return `CAST(${ref} AS varbinary(max))`;
  if (column.family === 'text' || column.family === 'json') return `CAST(CAST(${ref} AS nvarchar(max)) AS varbinary(max))`; // xml, sql_variant, json: no `=`
  return null;
}

/** True when the column differs between `i` (inserted) and `d` (deleted), NULL-safe: SQL Server 2019 has no IS DISTINCT FROM. */
export function mssqlChanged(column: ColumnSchema): string {
  assertCapturable(column);
  const n = refOf(column, 'i');
  const o = refOf(column, 'd');
  const nullSafe = `(${n} IS NULL AND ${o} IS NOT NULL) OR (${n} IS NOT NULL AND ${o} IS NULL)`;
  const a = comparedBytes(column, n);
  const b = comparedBytes(column, o);
  if (a && b) return `(${a} <> ${b} OR DATALENGTH(${a}) <> DATALENGTH(${b}) OR ${nullSafe})`;
  return `(${n} <> ${o} OR ${nullSafe})`;
}

/** The alias of column number `index`'s change flag in the update trigger's `ch` row. */
const flag = (index: number) => `ch.c${index}`;

/** The select list of the `ch` row: 1 where the column changed between `d` and `i`, else 0. */
export function mssqlChangedFlags(columns: ColumnSchema[]): string {
  return columns.map((c, i) => `CASE WHEN ${mssqlChanged(c)} THEN 1 ELSE 0 END AS c${i}`).join(',\n    ');
}

/** True when any column changed: the update trigger writes no row for an update that changes nothing. */
export function mssqlAnyChanged(columns: ColumnSchema[]): string {
  return columns.map((_, i) => `${flag(i)} = 1`).join(' OR ');
}

/** The changed column names, comma-separated (object_attribute of an update). */
export function mssqlChangedNames(columns: ColumnSchema[]): string {
  const pieces = columns.map((c, i) => `CASE WHEN ${flag(i)} = 1 THEN ${mssqlSql.literal(`,${c.name}`)} ELSE N'' END`);
  return `STUFF(${concatAll(pieces)}, 1, 1, N'')`;
}

/** The changed column names as a JSON array (`["a","b"]`): the columns an update gives a new version. */
export function mssqlChangedNamesJson(columns: ColumnSchema[]): string {
  const pieces = columns.map((c, i) => `CASE WHEN ${flag(i)} = 1 THEN ${mssqlSql.literal(`,${JSON.stringify(c.name)}`)} ELSE N'' END`);
  return `N'[' + STUFF(${concatAll(pieces)}, 1, 1, N'') + N']'`;
}

/** A JSON object of the changed columns only, from row `row` (`i` new values, `d` old values). */
export function mssqlChangedJson(columns: ColumnSchema[], row: string): string {
  const pieces = columns.map(
    (c, i) => `CASE WHEN ${flag(i)} = 1 THEN ${mssqlSql.literal(`,${JSON.stringify(c.name)}:`)} + ${mssqlJsonValue(c, row)} ELSE N'' END`,
  );
  return `N'{' + STUFF(${concatAll(pieces)}, 1, 1, N'') + N'}'`;
}

/** `a.k1 = b.k1 AND …`: rows of two aliases with the same key (under the key's collation, as the primary key is unique). */
export function mssqlKeyMatch(keyColumns: ColumnSchema[], a: string, b: string): string {
  return keyColumns.map((c) => `${refOf(c, a)} = ${refOf(c, b)}`).join(' AND ');
}

/** A name in the table's schema: triggers live in the schema of their table. */
export function mssqlInSchema(table: { schema: string | null }, name: string): string {
  return mssqlSql.table(name, table.schema);
}
