/**
 * Set-based writes on SQL Server: multi-row INSERTs (a VALUES list takes at most 1,000
 * rows, a statement 2,100 parameters), UPDATE and DELETE joined to a VALUES derived table.
 * https://learn.microsoft.com/sql/t-sql/queries/table-value-constructor-transact-sql
 */
import type { TableSchema } from '../../core/schema.ts';
import { tableRef } from '../../core/table-ref.ts';
import { multiRowBulk, paramTuples } from '../multirow-bulk.ts';
import { mssqlParam, mssqlSql } from './mssql-sql.ts';

const sql = mssqlSql;

function rowSet(names: string[], rowCount: number): string {
  return `(VALUES ${paramTuples(sql, names.length, rowCount)}) AS s (${names.map((n) => sql.ident(n)).join(', ')})`;
}

const keyMatch = (table: TableSchema) => table.primaryKey.map((k) => `d.${sql.ident(k)} = s.${sql.ident(k)}`).join(' AND ');

export const mssqlBulk = multiRowBulk({
  sql,
  maxParameters: 2000,
  maxRows: 1000,
  toParam: mssqlParam,
  updateFrom(table, set, rowCount) {
    const assign = set.map((c) => `d.${sql.ident(c)} = s.${sql.ident(c)}`).join(', ');
    return `UPDATE d SET ${assign} FROM ${tableRef(sql, table)} AS d JOIN ${rowSet([...table.primaryKey, ...set], rowCount)} ON ${keyMatch(table)}`;
  },
  deleteComposite(table, rowCount) {
    return `DELETE d FROM ${tableRef(sql, table)} AS d JOIN ${rowSet(table.primaryKey, rowCount)} ON ${keyMatch(table)}`;
  },
});
