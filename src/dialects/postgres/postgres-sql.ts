/**
 * PostgreSQL quoting, parameters, value binding and the template helpers that turn a
 * column into its canonical JSON expression inside a trigger.
 * Identifier rules: https://www.postgresql.org/docs/current/sql-syntax-lexical.html
 */
import { ChangeError } from '../../core/errors.ts';
import {
  type CanonicalValue,
  exactSingle,
  infiniteDateTime,
  isSinglePrecision,
  parseDateTime,
  singleRounding,
} from '../../core/canonical.ts';
import type { DialectSql } from '../../core/dialect.ts';
import { multiRowInsert } from '../../core/sql-builders.ts';
import type { ColumnSchema } from '../../core/schema.ts';
import { qualifiedName } from '../../core/table-ref.ts';

// Reserved words and the ones that cannot name a column unquoted (docs Appendix C).
const KEYWORDS = new Set(
  `all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case cast char
character check coalesce collate collation column concurrently constraint create cross current_catalog current_date
current_role current_schema current_time current_timestamp current_user dec decimal default deferrable desc distinct do
else end except exists extract false fetch float for foreign freeze from full grant greatest group grouping having ilike
in initially inner inout int integer intersect interval into is isnull join lateral leading least left like limit
localtime localtimestamp national natural nchar none normalize not notnull null nullif numeric offset on only or order
out outer overlaps overlay placing position precision primary real references returning right row select session_user
setof similar smallint some substring symmetric system_user table tablesample then time timestamp to trailing treat trim
true union unique user using values varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement
xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable`.split(/\s+/),
);

export const postgresSql: DialectSql = {
  // GENERATED ALWAYS AS IDENTITY refuses explicit values without it
  // (https://www.postgresql.org/docs/current/sql-insert.html); BY DEFAULT takes them.
  identityInsert(table, columns) {
    return table.columns.some((c) => c.identity === 'always' && columns.includes(c.name))
      ? { afterColumns: ' OVERRIDING SYSTEM VALUE' }
      : {};
  },
  ident(name) {
    if (/^[a-z_][a-z0-9_]*$/.test(name) && !KEYWORDS.has(name)) return name;
    return `"${name.replace(/"/g, '""')}"`;
  },
  table(name, schema) {
    return qualifiedName((n) => this.ident(n), name, schema);
  },
  literal(value) {
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') return String(value);
    if (value.includes('\0')) throw new Error('PostgreSQL text cannot hold a NUL character');
    return `'${value.replace(/'/g, "''")}'`;
  },
  param: (index) => `$${index}`,
  limit: (n) => `LIMIT ${n}`,
  insertIgnoringDuplicates(table, columns, rowCount) {
    return `${multiRowInsert(this, table, columns, rowCount)} ON CONFLICT DO NOTHING`;
  },
  insertIgnoringDuplicatesReturning(table, columns, rowCount, returning) {
    return `${this.insertIgnoringDuplicates(table, columns, rowCount)} RETURNING ${returning.map((c) => this.ident(c)).join(', ')}`;
  },
  forUpdate: ' FOR UPDATE',
  updateWithProbe: (update, probe) => `WITH u AS (${update} RETURNING 1) SELECT (SELECT count(*) FROM u) AS updated, (${probe}) AS probe`,
  // Each read is a MATERIALIZED CTE with its FOR UPDATE, and the UNION ALL reads the first
  // branch to its end before it starts the second (a plain Append, never parallel: locking
  // clauses rule out parallel plans), so the first's rows are locked before the second's.
  lockedReadsInOneStatement(first, second, marker) {
    const rows = first.columns.map((c) => `r.${c}`).join(', ');
    return `WITH r AS MATERIALIZED (${first.sql}), e AS MATERIALIZED (${second.sql})
SELECT FALSE AS ${marker}, ${rows}, ${second.columns.map((c) => `NULL AS ${c.alias}`).join(', ')} FROM r
UNION ALL SELECT TRUE, ${rows}, ${second.columns.map((c) => `e.${c.name}`).join(', ')} FROM e LEFT JOIN r ON FALSE`;
  },
  beginRidesFirstStatement: true,
  // The array goes in through a sub-SELECT (an InitPlan), whose value the planner does not see:
  // given the array itself, a custom plan knows it holds 10,000 keys and, with the statistics a
  // table has before anything analyzed it (or after it grew), reads the whole table (a Seq Scan
  // of the rows; of the version store, every entry of the table by the key's first column): a
  // batch then costs as much as the table is large. Unseen, the array is planned as a few keys:
  // one index probe per key, as the generic plan is (docs/performance.md, "2026-12-01, branch scale").
  inArray: (expr, param, column) => {
    const element = column === undefined ? 'text' : arrayElementType(column);
    // https://www.postgresql.org/docs/current/functions-comparisons.html#FUNCTIONS-COMPARISONS-ANY-SOME
    if (element === null) return `${expr} = ANY(${param})`;
    return `${expr} = ANY(ARRAY(SELECT unnest(${param}::${element}[])))`;
  },
  // Each array hidden from the planner as inArray's (a scalar sub-SELECT, an InitPlan), so that
  // unnest is planned as a few rows: one index probe per key, not a scan of the table. Before, a
  // composite key's 10,000 keys were 10,000 ORs, planned and run at ~1 s per batch
  // (docs/performance.md, "a composite key's batch read on PostgreSQL").
  inArrays: (exprs, params, columns) => {
    const elements = columns.map(arrayElementType);
    if (elements.some((e) => e === null)) return null;
    const arrays = params.map((p, i) => `(SELECT ${p}::${elements[i]}[])`).join(', ');
    return `(${exprs.join(', ')}) IN (SELECT * FROM unnest(${arrays}))`;
  },
};

/**
 * The element type of a key array that inArray can hide from the planner (see there): the type
 * the server infers for `expr = ANY($n)` itself, without a length (a cast to varchar(20) would cut
 * a longer key to a row it is not, to character without one to its first character). Null for
 * other types (enums, citext, domains, …): their array stays a plain parameter.
 */
function arrayElementType(column: ColumnSchema): string | null {
  const type = column.nativeType.toLowerCase();
  if (type === 'text' || /^character varying(\(\d+\))?$/.test(type)) return 'text';
  if (/^character(\(\d+\))?$/.test(type)) return 'bpchar';
  if (type === 'smallint' || type === 'integer' || type === 'bigint') return type;
  return null;
}

/**
 * A canonical date or timestamp as PostgreSQL reads it. PostgreSQL knows no ISO year 0
 * or signed years: `-0043-03-15` (44 BC) is written `0044-03-15 BC`, `+10000-01-01`
 * without its sign; 'infinity' and '-infinity' are its own spellings.
 * https://www.postgresql.org/docs/current/datatype-datetime.html#DATATYPE-DATETIME-SPECIAL-VALUES
 */
export function postgresDateTimeText(value: CanonicalValue): CanonicalValue {
  if (typeof value !== 'string' || infiniteDateTime(value)) return value;
  if (!/^[+-]|^0000/.test(value)) return value;
  const parts = parseDateTime(value);
  if (!parts) return value; // the server refuses it with its own reason
  const rest = value.slice(value.indexOf('-', 1)).replace('T', ' ');
  if (parts.year > 0) return `${parts.year}${rest}`;
  return `${String(1 - parts.year).padStart(4, '0')}${rest.replace(/Z$/, '+00')} BC`;
}

/** A canonical value as a `pg` parameter. The server converts text to the column's type and rejects what does not fit. */
export function postgresParam(column: ColumnSchema, value: CanonicalValue): unknown {
  if (value === null) return null;
  switch (column.family) {
    case 'date':
    case 'timestamp':
    case 'timestamptz':
      return postgresDateTimeText(value);
    case 'float':
      if (isSinglePrecision(column) && exactSingle(Number(value)) === null) {
        throw new ChangeError('bad_value', `column ${column.name} (${column.nativeType}): ${singleRounding(Number(value))}`);
      }
      return value;
    case 'binary':
      return Buffer.from(String(value), 'base64');
    case 'text':
    case 'json':
      if (String(value).includes('\0')) {
        throw new ChangeError('bad_value', `column ${column.name}: PostgreSQL text cannot hold a NUL character`);
      }
      return value;
    default:
      return value;
  }
}

const SAFE_INTEGER = '9007199254740991';

/**
 * A date or timestamp `v` in canonical form (core/canonical.ts): to_char after the
 * year `rest`; 'infinity' and '-infinity' as themselves (to_char gives NULL for them);
 * an ISO year with a sign outside 1…9999 (to_char drops the era, so 44 BC, which
 * extract reports as year -44, is written -0043, and 1 BC is 0000).
 */
function dateTimeJson(v: string, rest: string): string {
  const year = `extract(year FROM ${v})::int`;
  return [
    `CASE WHEN ${v} >= '0001-01-01' AND ${v} < '10000-01-01' THEN to_char(${v}, 'YYYY${rest}')`,
    `WHEN NOT isfinite(${v}) THEN ${v}::text`,
    `WHEN ${v} < '0001-01-01' THEN CASE WHEN ${year} = -1 THEN '0000' ELSE '-' || lpad((-1 - ${year})::text, 4, '0') END || to_char(${v}, '${rest}')`,
    `ELSE '+' || to_char(${v}, 'YYYY${rest}') END`,
  ].join(' ');
}

/** The SQL expression that gives the canonical JSON value of `column` in row `row` (NEW or OLD), for jsonb_build_object. */
export function postgresJsonValue(column: ColumnSchema, row: string): string {
  const ref = `${row}.${postgresSql.ident(column.name)}`;
  switch (column.family) {
    case 'integer':
    case 'boolean':
      return ref;
    case 'bigint':
      return `CASE WHEN ${ref} BETWEEN -${SAFE_INTEGER} AND ${SAFE_INTEGER} THEN to_jsonb(${ref}) ELSE to_jsonb(${ref}::text) END`;
    case 'float':
      return `to_jsonb(${ref})`;
    case 'date':
      return dateTimeJson(ref, '-MM-DD');
    case 'time':
      return `to_char(${ref}::time::interval, 'HH24:MI:SS.US')`;
    case 'timestamp':
      return dateTimeJson(ref, '-MM-DD"T"HH24:MI:SS.US');
    case 'timestamptz':
      return dateTimeJson(`(${ref} AT TIME ZONE 'UTC')`, '-MM-DD"T"HH24:MI:SS.US"Z"');
    case 'binary':
      return `translate(encode(${ref}, 'base64'), E'\\n', '')`;
    default:
      return `${ref}::text`;
  }
}

/**
 * The canonical JSON value of `column` in row `row` as JSON text, `null` for NULL: the value of
 * postgresJsonValue written out by the cheapest function that gives the same JSON (a number's
 * own text, to_json for a string). Built as text because jsonb_build_object costs more than
 * the row write it goes with: it looks up each argument's type output on every call, sorts
 * the keys and prints the jsonb again (docs/performance.md, "Capture").
 */
function postgresJsonText(column: ColumnSchema, row: string): string {
  const ref = `${row}.${postgresSql.ident(column.name)}`;
  switch (column.family) {
    case 'integer':
    case 'boolean':
      return `coalesce(${ref}::text, 'null')`;
    case 'bigint':
      return `coalesce(CASE WHEN ${ref} BETWEEN -${SAFE_INTEGER} AND ${SAFE_INTEGER} THEN ${ref}::text ELSE '"' || ${ref}::text || '"' END, 'null')`;
    case 'float':
      return `coalesce((${postgresJsonValue(column, row)})::text, 'null')`;
    default:
      return `coalesce(to_json(${postgresJsonValue(column, row)})::text, 'null')`;
  }
}

/** `"name":` as an SQL literal, the name written as JSON writes it. */
function jsonMemberName(column: ColumnSchema): string {
  return postgresSql.literal(`${JSON.stringify(column.name)}:`);
}

/** The row's columns as one JSON object, as text (`{"a":1,"b":"x"}`, in column order). */
export function postgresJsonObject(columns: ColumnSchema[], row: string): string {
  if (columns.length === 0) return `'{}'`;
  const members = columns.map((c, i) => `${i === 0 ? "'{' || " : "',' || "}${jsonMemberName(c)} || ${postgresJsonText(c, row)}`);
  return `(${members.join(' || ')} || '}')`;
}

/**
 * One key value as canonical key text (core/canonical-key.ts): decimals by value
 * (trim_scale: `12.50` → `"12.5"`), floats through jsonb's numeric, which prints them
 * without exponent; everything else as its canonical JSON value.
 */
function postgresKeyValue(column: ColumnSchema, row: string): string {
  const ref = `${row}.${postgresSql.ident(column.name)}`;
  if (column.family === 'decimal') return `to_jsonb(trim_scale(${ref})::text)::text`;
  return `to_jsonb(${postgresJsonValue(column, row)})::text`;
}

/**
 * The key as canonical key text: the JSON value for a one-column key, a compact object
 * in primary-key order for a composite one (not jsonb's text form, which reorders keys).
 */
export function postgresKeyJson(keyColumns: ColumnSchema[], row: string): string {
  if (keyColumns.length === 1) return postgresKeyValue(keyColumns[0], row);
  const parts = keyColumns.map(
    (c, i) => `${postgresSql.literal(`${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`)} || ${postgresKeyValue(c, row)}`,
  );
  return `(${parts.join(' || ')} || '}')`;
}

/** True when the column changed between OLD and NEW; json has no equality operator, so it compares text. */
export function postgresChanged(column: ColumnSchema, row = 'NEW', old = 'OLD'): string {
  const name = postgresSql.ident(column.name);
  const cast = column.nativeType === 'json' ? '::text' : '';
  return `${row}.${name}${cast} IS DISTINCT FROM ${old}.${name}${cast}`;
}

/** True when any of `columns` differs between rows `row` and `old`. */
export function postgresAnyChanged(columns: ColumnSchema[], row: string, old: string): string {
  return columns.map((c) => postgresChanged(c, row, old)).join(' OR ');
}

/** True when any key column differs between rows `row` and `old` (a key change). */
export function postgresKeyChanged(keyColumns: ColumnSchema[], row: string, old: string): string {
  return `(${keyColumns.map((c) => postgresChanged(c, row, old)).join(' OR ')})`;
}

/**
 * The changed columns of one pair of rows, each as `CASE WHEN changed THEN … ELSE '{}' END`,
 * joined by `||` (jsonb's concatenation returns the other operand as is when one is empty).
 * `value` gives the object for a changed column: its new or old value, or its version stamp.
 */
function changedParts(columns: ColumnSchema[], row: string, old: string, value: (c: ColumnSchema) => string): string {
  if (columns.length === 0) return `'{}'::jsonb`;
  return columns
    .map(
      (c) =>
        `CASE WHEN ${postgresChanged(c, row, old)} THEN jsonb_build_object(${postgresSql.literal(c.name)}, ${value(c)}) ELSE '{}'::jsonb END`,
    )
    .join(' || ');
}

/**
 * The changed columns' values in row `side` (row or old) as one JSON object, as text: each
 * member `CASE WHEN changed THEN … END`, joined by concat_ws, which skips NULLs (chunked under
 * PostgreSQL's 100-argument limit like postgresChangedNames).
 */
export function postgresChangedObject(columns: ColumnSchema[], row: string, old: string, side: string): string {
  const members = columns.map(
    (c) => `CASE WHEN ${postgresChanged(c, row, old)} THEN ${jsonMemberName(c)} || ${postgresJsonText(c, side)} END`,
  );
  return `('{' || ${commaList(members)} || '}')`;
}

/** `{column: stamp}` for each changed column, `stamp` a jsonb expression ([version, server]). */
export function postgresChangedStamps(columns: ColumnSchema[], row: string, old: string, stamp: string): string {
  return changedParts(columns, row, old, () => stamp);
}

/** The changed column names joined by commas (object_attribute of an update), '' when none changed. */
export function postgresChangedNames(columns: ColumnSchema[], row: string, old: string): string {
  return commaList(columns.map((c) => `CASE WHEN ${postgresChanged(c, row, old)} THEN ${postgresSql.literal(c.name)} END`));
}

/** `concat_ws(',', …)` of text expressions that may be NULL (left out), '' when all are. */
function commaList(items: string[]): string {
  if (items.length <= 90) return `concat_ws(',', ${items.join(', ')})`;
  // Under PostgreSQL's 100-argument limit: chunks, each NULL when all of its items are.
  const chunks: string[] = [];
  for (let i = 0; i < items.length; i += 90) chunks.push(`nullif(concat_ws(',', ${items.slice(i, i + 90).join(', ')}), '')`);
  return `concat_ws(',', ${chunks.join(', ')})`;
}

/**
 * A dollar-quote tag for a trigger function body that no name of the table contains,
 * so that no column name can end the body early (`$dsync$`, else `$dsync_1$`, …).
 */
export function postgresBodyTag(table: { name: string; columns: ColumnSchema[] }): string {
  const names = [table.name, ...table.columns.map((c) => c.name)];
  for (let n = 0; ; n++) {
    const tag = n === 0 ? '$dsync$' : `$dsync_${n}$`;
    if (!names.some((name) => name.includes(tag))) return tag;
  }
}

/**
 * `open` + the pieces joined by commas + `close`, as one flat text: the brackets go on the first
 * and last piece before the join. Around a joined text they made a chain of two pieces, which the
 * driver flattened into a second copy of the whole (a batch's parameter, megabytes, promoted).
 * It changes `pieces` (its first and last element): pass an array made for this call.
 */
export function bracketed(pieces: string[], open: string, close: string): string {
  if (pieces.length === 0) return open + close;
  pieces[0] = open + pieces[0];
  pieces[pieces.length - 1] += close;
  return pieces.join(',');
}
