/**
 * Set-based writes on SQLite: multi-row INSERTs, `UPDATE … FROM` a VALUES list named by a
 * common table expression (SQLite ≥ 3.33), a DELETE by key list or row-value IN. Fewer,
 * larger statements: the per-statement cost of the driver is paid once per chunk.
 * https://www.sqlite.org/lang_update.html#update_from
 */
import type { CanonicalValue } from '../../core/canonical.ts';
import type { ColumnSchema, TableSchema } from '../../core/schema.ts';
import { madeText, multiRowInsert } from '../../core/sql-builders.ts';
import { tableRef } from '../../core/table-ref.ts';
import type { BulkWriter, DbClient } from '../../core/dialect.ts';
import { multiRowBulk, paramTuples } from '../multirow-bulk.ts';
import { bindValue } from './sqlite-driver.ts';
import { sqliteSql } from './sqlite-sql.ts';

const sql = sqliteSql;

/**
 * Parameters of one INSERT of system rows (16 inbox rows): better-sqlite3 inserts a row for
 * ~30 % less CPU in statements of 8–32 inbox rows than of the 1,000 the parameter limit allows
 * (bench/probes/sqlite-inbox-write.ts, docs/performance.md).
 */
const INSERT_PARAMETERS = 320;

/** `count` rows of `rows` from `at` as one statement's parameters, bound as SQLite binds them (bindValue). */
function chunkParams(rows: unknown[][], at: number, count: number, width: number): unknown[] {
  const params = new Array<unknown>(count * width);
  for (let r = 0; r < count; r++) {
    const row = rows[at + r];
    for (let c = 0; c < width; c++) params[r * width + c] = bindValue(row[c]);
  }
  return params;
}

/**
 * Rows of driver-ready values into a system table (BulkWriter.insertRows): one INSERT of a fixed
 * row count reused for every full chunk, the rest in statements of a power of two rows each (a
 * few statement texts in all, each prepared once), their parameters bound as built here (query
 * copies none). Outside a transaction, the statements run in one: the rows go in together.
 */
async function insertRows(
  tx: DbClient,
  table: string,
  columns: readonly string[],
  rows: unknown[][],
  ignoreDuplicates: boolean,
): Promise<void> {
  const width = columns.length;
  const per = Math.max(1, Math.floor(INSERT_PARAMETERS / width));
  if (rows.length > 1 && !(tx as { inTransaction?: boolean }).inTransaction)
    return tx.transaction((inner) => insertRows(inner, table, columns, rows, ignoreDuplicates));
  const text = (count: number) =>
    ignoreDuplicates ? sql.insertIgnoringDuplicates(table, columns, count) : multiRowInsert(sql, table, columns, count);
  let at = 0;
  if (rows.length >= per) {
    const full = text(per);
    for (; at + per <= rows.length; at += per) await tx.query(full, chunkParams(rows, at, per, width));
  }
  while (at < rows.length) {
    const count = 2 ** Math.floor(Math.log2(rows.length - at));
    await tx.query(text(count), chunkParams(rows, at, count, width));
    at += count;
  }
}

/** `WITH ds_rows (…) AS (VALUES …) UPDATE … FROM ds_rows`: `rowCount` rows of key columns then `set` columns. */
function updateFrom(table: TableSchema, set: readonly string[], rowCount: number): string {
  const names = [...table.primaryKey, ...set];
  const match = table.primaryKey.map((k) => `d.${sql.ident(k)} = ds_rows.${sql.ident(k)}`).join(' AND ');
  const assign = set.map((c) => `${sql.ident(c)} = ds_rows.${sql.ident(c)}`).join(', ');
  // The CTE's name cannot be taken for a user table's: dsync reserves the ds_ prefix.
  return `WITH ds_rows (${names.map((n) => sql.ident(n)).join(', ')}) AS (VALUES ${paramTuples(sql, names.length, rowCount)}) UPDATE ${tableRef(sql, table)} AS d SET ${assign} FROM ds_rows WHERE ${match}`;
}

export function sqliteBulk(toParam: (column: ColumnSchema, value: CanonicalValue) => unknown): BulkWriter {
  const writer = multiRowBulk({
    sql,
    maxParameters: 32766,
    maxRows: 1000,
    toParam,
    updateFrom(table: TableSchema, set, rowCount) {
      // The same shape comes chunk after chunk: made once (madeText).
      const key = `update\0${table.schema ?? ''}\0${table.name}\0${table.primaryKey.join('\0')}\0\0${set.join('\0')}\0${rowCount}`;
      return madeText(sql, key, () => updateFrom(table, set, rowCount));
    },
    onDuplicate(columns, key) {
      const set = columns.filter((c) => !key.includes(c)).map((c) => `${sql.ident(c)} = excluded.${sql.ident(c)}`);
      return `ON CONFLICT (${key.map((k) => sql.ident(k)).join(', ')}) DO UPDATE SET ${set.join(', ')}`;
    },
    deleteComposite(table, rowCount) {
      const keys = table.primaryKey.map((k) => sql.ident(k)).join(', ');
      return `DELETE FROM ${tableRef(sql, table)} WHERE (${keys}) IN (VALUES ${paramTuples(sql, table.primaryKey.length, rowCount)})`;
    },
  });
  return { ...writer, insertRows };
}
