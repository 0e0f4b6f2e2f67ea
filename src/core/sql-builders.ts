/**
 * Plain DML shared by the dialects that spell it the same way. Names go through the
 * dialect's `ident`, values are always parameters.
 */
import type { DialectSql } from './dialect.ts';

/**
 * Texts made per dialect, by a key naming everything they were made from, least recently
 * used first. A batch's last chunk has a new row count each time: those are the texts that
 * go, the full chunks' shapes stay. At most ~64 × 60 KB of text per dialect.
 */
const madeTexts = new WeakMap<DialectSql, Map<string, string>>();
const MADE_TEXTS_KEPT = 64;

/**
 * A statement text made once per dialect and key: a bulk writer sends the same shape (say
 * 1,000 rows of 19 parameters) chunk after chunk, and making it again each time cost
 * thousands of small strings per statement. The same string object then also keeps its hash
 * for a driver's cache of prepared statements. `key` must name every input of `make`.
 */
export function madeText(sql: DialectSql, key: string, make: () => string): string {
  let texts = madeTexts.get(sql);
  if (!texts) madeTexts.set(sql, (texts = new Map()));
  let text = texts.get(key);
  if (text === undefined) {
    text = make();
    if (texts.size >= MADE_TEXTS_KEPT) texts.delete(texts.keys().next().value!);
  } else texts.delete(key);
  texts.set(key, text);
  return text;
}

/** `INSERT INTO t (a, b) VALUES (p1, p2), (p3, p4)` with parameters numbered row by row. */
export function multiRowInsert(sql: DialectSql, table: string, columns: readonly string[], rowCount: number): string {
  return madeText(sql, `insert\0${table}\0${columns.join('\0')}\0${rowCount}`, () => {
    const rows: string[] = [];
    let n = 0;
    for (let r = 0; r < rowCount; r++) rows.push(`(${columns.map(() => sql.param(++n)).join(', ')})`);
    return `INSERT INTO ${sql.ident(table)} (${columns.map((c) => sql.ident(c)).join(', ')}) VALUES ${rows.join(', ')}`;
  });
}

/**
 * The rows' values in one array, row by row: a statement's parameters. A plain loop into an
 * array of the final length; `Array.prototype.flat` took ~3 ms for 1,000 rows of 19 values
 * (docs/performance.md, "Issue 13, the SQLite target's statement parameters").
 */
export function flatRows(rows: readonly (readonly unknown[])[]): unknown[] {
  let n = 0;
  for (const row of rows) n += row.length;
  const out = new Array<unknown>(n);
  let i = 0;
  for (const row of rows) for (let j = 0; j < row.length; j++) out[i++] = row[j];
  return out;
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
