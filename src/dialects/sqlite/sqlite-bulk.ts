/**
 * Set-based writes on SQLite: multi-row INSERTs, `UPDATE … FROM` a VALUES list named by a
 * common table expression (SQLite ≥ 3.33), a DELETE by key list or row-value IN. Fewer,
 * larger statements: the per-statement cost of the driver is paid once per chunk.
 * https://www.sqlite.org/lang_update.html#update_from
 */
import type { CanonicalValue } from '../../core/canonical.ts';
import type { ColumnSchema, TableSchema } from '../../core/schema.ts';
import { madeText } from '../../core/sql-builders.ts';
import { tableRef } from '../../core/table-ref.ts';
import type { BulkWriter } from '../../core/dialect.ts';
import { multiRowBulk, paramTuples } from '../multirow-bulk.ts';
import { sqliteSql } from './sqlite-sql.ts';

const sql = sqliteSql;

/** `WITH ds_rows (…) AS (VALUES …) UPDATE … FROM ds_rows`: `rowCount` rows of key columns then `set` columns. */
function updateFrom(table: TableSchema, set: readonly string[], rowCount: number): string {
  const names = [...table.primaryKey, ...set];
  const match = table.primaryKey.map((k) => `d.${sql.ident(k)} = ds_rows.${sql.ident(k)}`).join(' AND ');
  const assign = set.map((c) => `${sql.ident(c)} = ds_rows.${sql.ident(c)}`).join(', ');
  // The CTE's name cannot be taken for a user table's: dsync reserves the ds_ prefix.
  return `WITH ds_rows (${names.map((n) => sql.ident(n)).join(', ')}) AS (VALUES ${paramTuples(sql, names.length, rowCount)}) UPDATE ${tableRef(sql, table)} AS d SET ${assign} FROM ds_rows WHERE ${match}`;
}

export function sqliteBulk(toParam: (column: ColumnSchema, value: CanonicalValue) => unknown): BulkWriter {
  return multiRowBulk({
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
}
