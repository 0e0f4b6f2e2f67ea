/**
 * Set-based writes on MySQL/MariaDB: multi-row INSERTs, an UPDATE joined to a derived
 * table of the rows (`SELECT … UNION ALL SELECT …`), a DELETE by key list or join.
 * Not INSERT … ON DUPLICATE KEY UPDATE: in strict mode it fails on a NOT NULL column
 * without a default that the update does not set, and it could match another unique key.
 * https://mariadb.com/kb/en/update/#multiple-table-syntax
 */
import type { TableSchema } from '../../core/schema.ts';
import { tableRef } from '../../core/table-ref.ts';
import { multiRowBulk } from '../multirow-bulk.ts';
import { mysqlParam, mysqlSql } from './mysql-sql.ts';

const sql = mysqlSql;

/** `SELECT ? AS a, ? AS b UNION ALL SELECT ?, ? …`: `rowCount` rows of the named columns. */
function derivedRows(names: string[], rowCount: number): string {
  const first = `SELECT ${names.map((n) => `? AS ${sql.ident(n)}`).join(', ')}`;
  const rest = ` UNION ALL SELECT ${names.map(() => '?').join(', ')}`;
  return first + rest.repeat(rowCount - 1);
}

const keyMatch = (table: TableSchema) => table.primaryKey.map((k) => `d.${sql.ident(k)} = s.${sql.ident(k)}`).join(' AND ');

export const mysqlBulk = multiRowBulk({
  sql,
  maxParameters: 65535,
  maxRows: 2000,
  toParam: mysqlParam,
  updateFrom(table, set, rowCount) {
    const rows = derivedRows([...table.primaryKey, ...set], rowCount);
    const assign = set.map((c) => `d.${sql.ident(c)} = s.${sql.ident(c)}`).join(', ');
    return `UPDATE ${tableRef(sql, table)} AS d JOIN (${rows}) AS s ON ${keyMatch(table)} SET ${assign}`;
  },
  onDuplicate(columns, key) {
    const set = columns.filter((c) => !key.includes(c)).map((c) => `${sql.ident(c)} = VALUES(${sql.ident(c)})`);
    return `ON DUPLICATE KEY UPDATE ${set.join(', ')}`;
  },
  deleteComposite(table, rowCount) {
    return `DELETE d FROM ${tableRef(sql, table)} AS d JOIN (${derivedRows(table.primaryKey, rowCount)}) AS s ON ${keyMatch(table)}`;
  },
});
