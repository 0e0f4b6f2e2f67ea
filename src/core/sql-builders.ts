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

/** Bytes of values per statement: well under MySQL's default max_allowed_packet (16 MB on MariaDB, 64 MB on MySQL 8). */
export const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

function sizeOf(value: unknown): number {
  if (typeof value === 'string') return value.length * 3;
  if (value instanceof Uint8Array) return value.length * 2;
  return 16;
}

/** Cuts `rows` into chunks of at most `maxRows` rows and MAX_STATEMENT_BYTES; each chunk is written before the next is cut. */
export async function inChunks(rows: unknown[][], maxRows: number, write: (chunk: unknown[][]) => Promise<void>): Promise<void> {
  let chunk: unknown[][] = [];
  let bytes = 0;
  for (const row of rows) {
    let size = 0;
    for (const v of row) size += sizeOf(v);
    if (chunk.length > 0 && (chunk.length >= maxRows || bytes + size > MAX_STATEMENT_BYTES)) {
      await write(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length) await write(chunk);
}
