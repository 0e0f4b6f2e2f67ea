/**
 * Set-based writes for brands without a cheaper bulk path than multi-row statements
 * (MySQL/MariaDB, SQLite, SQL Server): many rows per INSERT, UPDATE joined to a derived
 * row set, DELETE by a key list or a join. One statement carries as many rows as the
 * brand's parameter limit, its row limit and a byte budget allow, so a batch of 10,000
 * changes is a handful of round trips instead of 10,000. Each brand supplies only the
 * UPDATE and composite-key DELETE spellings (`RowSetSql`); values are always bound.
 */
import type { CanonicalValue } from '../core/canonical.ts';
import type { ValueMap } from '../core/change.ts';
import type { BulkWriter, DbClient, DialectSql } from '../core/dialect.ts';
import { ChangeError } from '../core/errors.ts';
import { type ColumnSchema, columnByName, type TableSchema } from '../core/schema.ts';
import { flatRows, inChunks, madeText, multiRowInsert } from '../core/sql-builders.ts';
import { tableRef } from '../core/table-ref.ts';

/** The brand's spelling of the two statements that join a table to a set of rows. */
export interface RowSetSql {
  sql: DialectSql;
  maxParameters: number;
  /** Most rows in one statement (SQL Server's VALUES takes 1,000). */
  maxRows: number;
  toParam(column: ColumnSchema, value: CanonicalValue): unknown;
  /**
   * An UPDATE of `set` columns of `table` from `rowCount` rows whose parameters come row
   * by row as (key columns…, set columns…), numbered from 1. Its row count is the rows it matched.
   */
  updateFrom(table: TableSchema, set: string[], rowCount: number): string;
  /** A DELETE of `rowCount` rows of a table with a composite key, parameters row by row in key order. */
  deleteComposite(table: TableSchema, rowCount: number): string;
  /** What follows a multi-row INSERT to replace the non-key `columns` of a row whose `key` exists; absent: no upsert. */
  onDuplicate?(columns: readonly string[], key: readonly string[]): string;
}

function synced(table: TableSchema, name: string): ColumnSchema {
  const column = columnByName(table, name);
  if (!column || column.generated) throw new ChangeError('unknown_column', `column ${name} is not a synchronized column of ${table.name}`);
  return column;
}

/** The key of one row as parameters, in key order; a missing key column is the change's error. */
function keyParams(d: RowSetSql, table: TableSchema, key: ValueMap): unknown[] {
  return table.primaryKey.map((name) => {
    if (!(name in key) || key[name] === null) throw new ChangeError('bad_key', `change of ${table.name} lacks key column ${name}`);
    return d.toParam(synced(table, name), key[name]);
  });
}

const perStatement = (d: RowSetSql, width: number) => Math.max(1, Math.min(d.maxRows, Math.floor((d.maxParameters - 10) / width)));

export function multiRowBulk(d: RowSetSql): BulkWriter {
  const { sql } = d;
  return {
    async insertRows(tx: DbClient, table, columns, rows, ignoreDuplicates) {
      await inChunks(rows, perStatement(d, columns.length), async (chunk) => {
        const text = ignoreDuplicates
          ? sql.insertIgnoringDuplicates(table, columns, chunk.length)
          : multiRowInsert(sql, table, columns, chunk.length);
        await tx.query(text, flatRows(chunk));
      });
    },

    upsertRows: d.onDuplicate
      ? async (tx, table, columns, key, rows) => {
          const tail = d.onDuplicate!(columns, key);
          await inChunks(rows, perStatement(d, columns.length), async (chunk) => {
            await tx.query(`${multiRowInsert(sql, table, columns, chunk.length)} ${tail}`, flatRows(chunk));
          });
        }
      : undefined,

    async insertTableRows(tx, table, rows) {
      const names = Object.keys(rows[0]);
      const columns = names.map((n) => synced(table, n));
      const around = sql.identityInsert?.(table, names) ?? {};
      const list = names.map((n) => sql.ident(n)).join(', ');
      const values = rows.map((row) => columns.map((c) => d.toParam(c, row[c.name])));
      await inChunks(values, perStatement(d, names.length), async (chunk) => {
        const text = `${around.before ?? ''}INSERT INTO ${tableRef(sql, table)} (${list})${around.afterColumns ?? ''} VALUES ${paramTuples(sql, names.length, chunk.length)}${around.after ?? ''}`;
        await tx.query(text, flatRows(chunk));
      });
    },

    async updateTableRows(tx, table, columns, rows) {
      const set = columns.map((n) => synced(table, n));
      const values = rows.map((r) => [...keyParams(d, table, r.key), ...set.map((c) => d.toParam(c, r.values[c.name]))]);
      await inChunks(values, perStatement(d, table.primaryKey.length + columns.length), async (chunk) => {
        const { rowCount } = await tx.query(d.updateFrom(table, columns, chunk.length), flatRows(chunk));
        if (rowCount !== chunk.length) throw new Error(`bulk update of ${table.name} matched ${rowCount} of ${chunk.length} rows`);
      });
    },

    async deleteTableRows(tx, table, keys) {
      const values = keys.map((k) => keyParams(d, table, k));
      const single = table.primaryKey.length === 1;
      await inChunks(values, perStatement(d, table.primaryKey.length), async (chunk) => {
        const text = single
          ? `DELETE FROM ${tableRef(sql, table)} WHERE ${sql.ident(table.primaryKey[0])} IN (${chunk.map((_, i) => sql.param(i + 1)).join(', ')})`
          : d.deleteComposite(table, chunk.length);
        const { rowCount } = await tx.query(text, flatRows(chunk));
        if (rowCount !== chunk.length) throw new Error(`bulk delete of ${table.name} matched ${rowCount} of ${chunk.length} rows`);
      });
    },
  };
}

/** `(p1, p2), (p3, p4)`: `rowCount` tuples of `width` parameters, numbered row by row. */
export function paramTuples(sql: DialectSql, width: number, rowCount: number): string {
  return madeText(sql, `tuples\0${width}\0${rowCount}`, () => {
    const tuples: string[] = [];
    let n = 0;
    for (let r = 0; r < rowCount; r++) {
      const row: string[] = [];
      for (let c = 0; c < width; c++) row.push(sql.param(++n));
      tuples.push(`(${row.join(', ')})`);
    }
    return tuples.join(', ');
  });
}
