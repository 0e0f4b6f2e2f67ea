/**
 * Parameterized row DML for one synchronized table, in any dialect: what the import
 * runs for a change. Names come from the introspected TableSchema through the
 * dialect's `ident`; every value is a bound parameter converted by `toParam`.
 */
import type { ValueMap } from '../../core/change.ts';
import { type DbClient, type Dialect, queryArrays, type Row } from '../../core/dialect.ts';
import { ChangeError } from '../../core/errors.ts';
import { tableRef } from '../../core/table-ref.ts';
import { type ColumnSchema, columnByName, type TableSchema } from '../../core/schema.ts';

const qualifiedTable = (dialect: Dialect, table: TableSchema) => tableRef(dialect.sql, table);

function column(table: TableSchema, name: string): ColumnSchema {
  const found = columnByName(table, name);
  if (!found || found.generated) {
    throw new ChangeError('unknown_column', `column ${name} is not a synchronized column of ${table.name}`);
  }
  return found;
}

class Params {
  readonly values: unknown[] = [];
  constructor(private readonly dialect: Dialect) {}
  add(col: ColumnSchema, value: ValueMap[string]): string {
    this.values.push(this.dialect.toParam(col, value));
    return this.dialect.sql.param(this.values.length);
  }
}

/** The value of key column `name` in `key`; a change without it is refused (parked with the reason). */
function keyValue(table: TableSchema, key: ValueMap, name: string): ValueMap[string] {
  const value = key[name];
  if (value === null || value === undefined) throw new ChangeError('bad_key', `change of ${table.name} lacks key column ${name}`);
  return value;
}

function whereKey(dialect: Dialect, table: TableSchema, key: ValueMap, params: Params): string {
  return table.primaryKey
    .map((name) => `${dialect.sql.ident(name)} = ${params.add(column(table, name), keyValue(table, key, name))}`)
    .join(' AND ');
}

/** A statement with its bound parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
}

export function insertRowStatement(dialect: Dialect, table: TableSchema, values: ValueMap): Statement {
  const params = new Params(dialect);
  const names = Object.keys(values);
  const placeholders = names.map((n) => params.add(column(table, n), values[n]));
  const around = dialect.sql.identityInsert?.(table, names) ?? {};
  const sql = `${around.before ?? ''}INSERT INTO ${qualifiedTable(dialect, table)} (${names.map((n) => dialect.sql.ident(n)).join(', ')})${around.afterColumns ?? ''} VALUES (${placeholders.join(', ')})${around.after ?? ''}`;
  return { sql, params: params.values };
}

/** Null when there is nothing to set. */
export function updateRowStatement(dialect: Dialect, table: TableSchema, key: ValueMap, values: ValueMap): Statement | null {
  const params = new Params(dialect);
  const names = Object.keys(values);
  if (names.length === 0) return null;
  const set = names.map((n) => `${dialect.sql.ident(n)} = ${params.add(column(table, n), values[n])}`).join(', ');
  const sql = `UPDATE ${qualifiedTable(dialect, table)} SET ${set} WHERE ${whereKey(dialect, table, key, params)}`;
  return { sql, params: params.values };
}

export function deleteRowStatement(dialect: Dialect, table: TableSchema, key: ValueMap): Statement {
  const params = new Params(dialect);
  const sql = `DELETE FROM ${qualifiedTable(dialect, table)} WHERE ${whereKey(dialect, table, key, params)}`;
  return { sql, params: params.values };
}

export async function insertRow(client: DbClient, table: TableSchema, values: ValueMap): Promise<number> {
  const { sql, params } = insertRowStatement(client.dialect, table, values);
  return (await client.query(sql, params)).rowCount;
}

export async function updateRow(client: DbClient, table: TableSchema, key: ValueMap, values: ValueMap): Promise<number> {
  const statement = updateRowStatement(client.dialect, table, key, values);
  return statement ? (await client.query(statement.sql, statement.params)).rowCount : 0;
}

export async function deleteRow(client: DbClient, table: TableSchema, key: ValueMap): Promise<number> {
  const { sql, params } = deleteRowStatement(client.dialect, table, key);
  return (await client.query(sql, params)).rowCount;
}

/** The current row by key, in canonical encoding, or null when it does not exist. */
export async function selectRow(client: DbClient, table: TableSchema, key: ValueMap): Promise<ValueMap | null> {
  const { dialect } = client;
  const params = new Params(dialect);
  const columns = table.columns.filter((c) => !c.generated);
  const sql = `SELECT ${columns.map((c) => dialect.sql.ident(c.name)).join(', ')} FROM ${qualifiedTable(dialect, table)} WHERE ${whereKey(dialect, table, key, params)}`;
  const { rows } = await client.query<Row>(sql, params.values);
  if (rows.length === 0) return null;
  return Object.fromEntries(columns.map((c) => [c.name, dialect.fromDriver(c, rows[0][c.name])]));
}

/** Every row of the table in key order, canonical: for tests, the demo and verify. */
export async function selectAllRows(client: DbClient, table: TableSchema): Promise<ValueMap[]> {
  const { dialect } = client;
  const columns = table.columns.filter((c) => !c.generated);
  const order = table.primaryKey.map((k) => dialect.sql.ident(k)).join(', ');
  const sql = `SELECT ${columns.map((c) => dialect.sql.ident(c.name)).join(', ')} FROM ${qualifiedTable(dialect, table)} ORDER BY ${order}`;
  const { rows } = await client.query<Row>(sql);
  return rows.map((row) => Object.fromEntries(columns.map((c) => [c.name, dialect.fromDriver(c, row[c.name])])));
}

/**
 * The current rows of many keys at once, canonical, keyed by `identity(key)` (which reads
 * only the key's columns: a found row is passed to it whole); locked
 * for the transaction where the brand can (FOR UPDATE), so the plan made from them
 * holds until commit.
 */
export async function fetchRows(
  client: DbClient,
  table: TableSchema,
  keys: ValueMap[],
  identity: (key: ValueMap) => string,
  /** The keys are known to be distinct (an import batch's unread keys): not sorted out again. */
  distinct = false,
): Promise<Map<string, ValueMap>> {
  const { dialect } = client;
  const columns = table.columns.filter((c) => !c.generated);
  const found = new Map<string, ValueMap>();
  const unique = distinct ? keys : uniqueKeys(keys, identity);
  const perQuery = Math.max(1, Math.floor((dialect.capabilities.maxParameters - 10) / table.primaryKey.length));
  const names = columns.map((c) => c.name);
  for (let i = 0; i < unique.length; i += perQuery) {
    const chunk = unique.slice(i, i + perQuery);
    const params = new Params(dialect);
    // As arrays (DbClient.queryArrays): a batch's 10,000 rows are made into canonical objects here anyway.
    const rows = await queryArrays(client, lockedRowsSelect(dialect, table, chunk, params), params.values, names);
    canonicalRows(dialect, columns, rows, identity, found);
  }
  return found;
}

/**
 * fetchRows' statement for distinct keys that fit in one, without sending it, read as rowsWithEntriesRead's with no
 * entries (readAhead on a receive-only node, whose import reads rows alone); undefined where they do not fit.
 */
export function rowsOnlyRead(
  dialect: Dialect,
  table: TableSchema,
  keys: ValueMap[],
  identity: (key: ValueMap) => string,
): RowsWithEntriesRead | undefined {
  if (keys.length === 0 || keyParameters(dialect, table, keys.length) > dialect.capabilities.maxParameters - 10) return undefined;
  const columns = table.columns.filter((c) => !c.generated);
  const params = new Params(dialect);
  const sql = lockedRowsSelect(dialect, table, keys, params);
  const parse = (rows: unknown[][]) => ({ rows: canonicalRows(dialect, columns, rows, identity), entries: [] });
  return { sql, params: params.values, names: columns.map((c) => c.name), parse };
}

/** How many parameters lockedRowsSelect binds for `count` keys: one array per key column, or each key's columns. */
function keyParameters(dialect: Dialect, table: TableSchema, count: number): number {
  return arrayKeyColumns(dialect, table, count) ? table.primaryKey.length : count * table.primaryKey.length;
}

/** The keys with each identity once, in their first order. */
function uniqueKeys(keys: ValueMap[], identity: (key: ValueMap) => string): ValueMap[] {
  const unique: ValueMap[] = [];
  const seen = new Set<string>();
  for (const k of keys) {
    const id = identity(k);
    if (!seen.has(id)) {
      seen.add(id);
      unique.push(k);
    }
  }
  return unique;
}

/**
 * Above this many keys a read names them in one array parameter where the brand can
 * (DialectSql.inArray): 10,000 keys as 10,000 parameters cost the client their binding and the
 * server their parsing (docs/performance.md). At or below it the statement stays a list of
 * parameters: a small batch (at most 63 changes, readAhead's, each with a key and perhaps an old
 * key) never reaches it. The array is planned as the generic plan of `= ANY($n)` is (a statement
 * of few parameters is named): an index scan, whatever the table's size and statistics
 * (DialectSql.inArray; test/integration/postgres-key-array-plans.test.ts).
 */
export const ARRAY_KEYS_ABOVE = 126;

/**
 * `expr IN (…)` of `values`, in statements whose list starts at parameter `first`, one piece per
 * statement: all of them in one array parameter where the brand takes one (DialectSql.inArray) and
 * there are more than ARRAY_KEYS_ABOVE, as the batch reads name their keys; else lists of
 * parameters, each within the brand's limit. `element`: the column the values compare with, where
 * it is not text (an id).
 */
export function inLists(
  dialect: Dialect,
  expr: string,
  values: readonly unknown[],
  first: number,
  element?: ColumnSchema,
): Array<{ sql: string; params: unknown[] }> {
  const p = dialect.sql.param;
  if (dialect.sql.inArray && values.length > ARRAY_KEYS_ABOVE)
    return [{ sql: dialect.sql.inArray(expr, p(first), element), params: [values] }];
  const perQuery = Math.max(1, dialect.capabilities.maxParameters - 10 - first);
  const pieces: Array<{ sql: string; params: unknown[] }> = [];
  for (let i = 0; i < values.length; i += perQuery) {
    const chunk = values.slice(i, i + perQuery);
    pieces.push({ sql: `${expr} IN (${chunk.map((_, j) => p(first + j)).join(', ')})`, params: chunk });
  }
  return pieces;
}

/** Key families whose values go into an array parameter exactly as they go alone (text, whole numbers). */
const ARRAY_FAMILIES: ReadonlySet<string> = new Set(['text', 'integer', 'bigint']);

/**
 * The key's columns whose `count` keys a read names in one array parameter each, or null where
 * they stay a list of parameters (DialectSql.inArray for one column, inArrays for several).
 */
function arrayKeyColumns(dialect: Dialect, table: TableSchema, count: number): ColumnSchema[] | null {
  if (count <= ARRAY_KEYS_ABOVE) return null;
  const columns = table.primaryKey.map((k) => column(table, k));
  if (!columns.every((c) => ARRAY_FAMILIES.has(c.family))) return null;
  if (columns.length === 1) return dialect.sql.inArray ? columns : null;
  const { inArrays, ident, param } = dialect.sql;
  // Asked only whether the columns' types can go into arrays (null when not); its text is not kept.
  return inArrays?.(
    columns.map((c) => ident(c.name)),
    columns.map((_, i) => param(i + 1)),
    columns,
  )
    ? columns
    : null;
}

function lockedRowsSelect(dialect: Dialect, table: TableSchema, keys: ValueMap[], params: Params): string {
  const columns = table.columns.filter((c) => !c.generated);
  const arrayColumns = arrayKeyColumns(dialect, table, keys.length);
  const arrayParams: string[] = [];
  for (const arrayColumn of arrayColumns ?? []) {
    // Each value converted as params.add would, each column's array as one parameter.
    const values = new Array<unknown>(keys.length);
    for (let i = 0; i < keys.length; i++) values[i] = dialect.toParam(arrayColumn, keyValue(table, keys[i], arrayColumn.name));
    params.values.push(values);
    arrayParams.push(dialect.sql.param(params.values.length));
  }
  const idents = (arrayColumns ?? []).map((c) => dialect.sql.ident(c.name));
  const where = arrayColumns
    ? arrayColumns.length === 1
      ? dialect.sql.inArray!(idents[0], arrayParams[0], arrayColumns[0])
      : dialect.sql.inArrays!(idents, arrayParams, arrayColumns)!
    : table.primaryKey.length === 1
      ? `${dialect.sql.ident(table.primaryKey[0])} IN (${keys.map((k) => params.add(column(table, table.primaryKey[0]), k[table.primaryKey[0]])).join(', ')})`
      : dialect.sql.rowValueIn && keys.length > 1
        ? rowValueList(dialect, table, keys, params)
        : keys.map((k) => `(${whereKey(dialect, table, k, params)})`).join(' OR ');
  return `SELECT ${columns.map((c) => dialect.sql.ident(c.name)).join(', ')} FROM ${qualifiedTable(dialect, table)}${dialect.sql.lockHint ?? ''} WHERE ${where}${dialect.sql.forUpdate ?? ''}`;
}

/** `(a, b) IN ((?, ?), …)`: a composite key's keys as one row-value list (DialectSql.rowValueIn). */
function rowValueList(dialect: Dialect, table: TableSchema, keys: ValueMap[], params: Params): string {
  const columns = table.primaryKey.map((k) => column(table, k));
  const tuples = keys.map((k) => `(${columns.map((c) => params.add(c, keyValue(table, k, c.name))).join(', ')})`);
  return `(${columns.map((c) => dialect.sql.ident(c.name)).join(', ')}) IN (${tuples.join(', ')})`;
}

/** Rows read as arrays of `columns`' values, canonical, added to `found` by identity (fetchRows, rowsOnlyRead). */
function canonicalRows(
  dialect: Dialect,
  columns: readonly ColumnSchema[],
  rows: readonly (readonly unknown[])[],
  identity: (key: ValueMap) => string,
  found = new Map<string, ValueMap>(),
): Map<string, ValueMap> {
  for (const row of rows) {
    const canonical: ValueMap = {};
    for (let i = 0; i < columns.length; i++) canonical[columns[i].name] = dialect.fromDriver(columns[i], row[i]);
    found.set(identity(canonical), canonical);
  }
  return found;
}

/** The version-store columns fetchRowsWithEntries reads, under names no synchronized column has (see there). */
/** The columns of a version entry the import reads (readEntries, rowsWithEntriesRead). */
export const ENTRY_COLUMNS = ['row_key', 'cl', 'max_version', 'base_version', 'base_server', 'col_versions'] as const;
const entryAlias = (name: string) => `ds$entry_${name}`;

/**
 * fetchRows and the rows' version-store entries (ds_row_version, read as version-store.ts
 * does) in one statement, one round trip less on the import's path, where the brand can
 * lock both in order in one statement (SqlDialect.lockedReadsInOneStatement: PostgreSQL).
 * The rows are locked first, then the entries, as a capture trigger locks them (the
 * application's write, then the entry) and as the two-statement read did, so the two never
 * deadlock (how the brand keeps that order: see its lockedReadsInOneStatement).
 * Undefined where the brand cannot, or the keys do not fit one statement: the caller reads
 * in two.
 */
export async function fetchRowsWithEntries(
  client: DbClient,
  table: TableSchema,
  keys: ValueMap[],
  identity: (key: ValueMap) => string,
  rowKeys: string[],
  /** The keys (and row keys) are known to be distinct: not sorted out again. */
  distinct = false,
): Promise<{ rows: Map<string, ValueMap>; entries: Row[] } | undefined> {
  const read = rowsWithEntriesRead(client.dialect, table, keys, identity, rowKeys, distinct);
  if (!read) return undefined;
  return read.parse(await queryArrays(client, read.sql, read.params, read.names));
}

/** fetchRowsWithEntries' statement, and how its rows (as arrays of `names`) are read: to be sent by itself, or with others. */
export interface RowsWithEntriesRead {
  sql: string;
  params: unknown[];
  names: string[];
  parse(rows: unknown[][]): { rows: Map<string, ValueMap>; entries: Row[] };
}

/** fetchRowsWithEntries' statement without sending it; undefined where it reads in two. */
export function rowsWithEntriesRead(
  dialect: Dialect,
  table: TableSchema,
  keys: ValueMap[],
  identity: (key: ValueMap) => string,
  rowKeys: string[],
  distinct = false,
): RowsWithEntriesRead | undefined {
  if (!dialect.sql.lockedReadsInOneStatement || keys.length === 0) return undefined;
  const columns = table.columns.filter((c) => !c.generated);
  if (columns.length === 0 || columns.some((c) => c.name.startsWith('ds$'))) return undefined;
  const unique = distinct ? keys : uniqueKeys(keys, identity);
  const uniqueRowKeys = distinct ? rowKeys : [...new Set(rowKeys)];
  const entryArray = dialect.sql.inArray !== undefined && uniqueRowKeys.length > ARRAY_KEYS_ABOVE;
  if (keyParameters(dialect, table, unique.length) + 1 + (entryArray ? 1 : uniqueRowKeys.length) > dialect.capabilities.maxParameters - 10)
    return undefined;
  const params = new Params(dialect);
  const rowsSql = lockedRowsSelect(dialect, table, unique, params);
  const p = dialect.sql.param;
  const first = params.values.length + 1;
  params.values.push(table.name);
  const ident = dialect.sql.ident;
  let inKeys: string;
  if (entryArray) {
    params.values.push(uniqueRowKeys);
    inKeys = dialect.sql.inArray!('row_key', p(first + 1));
  } else {
    params.values.push(...uniqueRowKeys);
    inKeys = `row_key IN (${uniqueRowKeys.map((_, j) => p(first + j + 1)).join(', ')})`;
  }
  const entriesSql = `SELECT ${ENTRY_COLUMNS.join(', ')} FROM ds_row_version WHERE table_name = ${p(first)} AND ${inKeys} FOR UPDATE`;
  const sql = dialect.sql.lockedReadsInOneStatement(
    { sql: rowsSql, columns: columns.map((c) => ident(c.name)) },
    { sql: entriesSql, columns: ENTRY_COLUMNS.map((c) => ({ name: c, alias: ident(entryAlias(c)) })) },
    ident('ds$entry'),
  );
  // As arrays (DbClient.queryArrays): the marker, the row's columns, then the entry's.
  const names = ['ds$entry', ...columns.map((c) => c.name), ...ENTRY_COLUMNS.map(entryAlias)];
  return { sql, params: params.values, names, parse: (rows) => rowsAndEntries(dialect, columns, identity, rows) };
}

function rowsAndEntries(
  dialect: Dialect,
  columns: ColumnSchema[],
  identity: (key: ValueMap) => string,
  rows: unknown[][],
): { rows: Map<string, ValueMap>; entries: Row[] } {
  const found = new Map<string, ValueMap>();
  const entries: Row[] = [];
  const at = 1 + columns.length;
  for (const row of rows) {
    if (row[0] === true) {
      entries.push({
        row_key: row[at],
        cl: row[at + 1],
        max_version: row[at + 2],
        base_version: row[at + 3],
        base_server: row[at + 4],
        col_versions: row[at + 5],
      } satisfies Record<(typeof ENTRY_COLUMNS)[number], unknown>);
    } else {
      const canonical: ValueMap = {};
      for (let i = 0; i < columns.length; i++) canonical[columns[i].name] = dialect.fromDriver(columns[i], row[1 + i]);
      found.set(identity(canonical), canonical);
    }
  }
  return { rows: found, entries };
}
