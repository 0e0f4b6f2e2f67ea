/**
 * Plain DML shared by the dialects that spell it the same way. Names go through the
 * dialect's `ident`, values are always parameters.
 */
import type { DialectSql } from './dialect.ts';

/** `INSERT INTO t (a, b) VALUES (p1, p2), (p3, p4)` with parameters numbered row by row. */
export function multiRowInsert(sql: DialectSql, table: string, columns: readonly string[], rowCount: number): string {
  const rows: string[] = [];
  let n = 0;
  for (let r = 0; r < rowCount; r++) rows.push(`(${columns.map(() => sql.param(++n)).join(', ')})`);
  return `INSERT INTO ${sql.ident(table)} (${columns.map((c) => sql.ident(c)).join(', ')}) VALUES ${rows.join(', ')}`;
}
