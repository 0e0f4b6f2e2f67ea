/**
 * Reads one key range of a table, `lo < key <= hi` in key order, at most `limit` rows,
 * each row in comparable canonical form. Ranges are read by keyset (no OFFSET, no open
 * cursor), so a table of any size is read with memory for one range only. Fetching and
 * encoding are separate steps, so that the next range can be fetched while this one is
 * encoded.
 */
import type { CanonicalValue } from '../core/canonical.ts';
import type { DbClient, KeyOrder, Row } from '../core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../core/schema.ts';

import { driverEncoder } from './row-encoding.ts';
import { tableRef } from '../core/table-ref.ts';

export interface VerifySide {
  client: DbClient;
  table: TableSchema;
}

export type KeyValues = CanonicalValue[];

export interface ComparableRow {
  /** The row as the driver returned it (its canonical key comes from `RangeReader.keyOf`). */
  raw: Row;
  /** Comparable text of the key: identifies the row on both sides. */
  keyText: string;
  /** Comparable text of the whole row: the compared columns' texts, joined (they are self-delimiting). */
  text: string;
}

/** Rows as the driver returned them, and the canonical key of the last one (the next range's lower bound). */
export interface FetchedRange {
  rows: Row[];
  lastKey: KeyValues | null;
}

/** Rows of the table (for progress totals). */
export async function countRows(client: DbClient, table: TableSchema): Promise<number> {
  const { rows } = await client.query<Row>(`SELECT count(*) AS n FROM ${tableRef(client.dialect.sql, table)}`);
  return Number(rows[0].n);
}

export class RangeReader {
  private readonly keyColumns: ColumnSchema[];
  private readonly columns: ColumnSchema[];
  private readonly encoders: Array<(raw: unknown) => string>;
  private readonly keyAt: number[];
  private readonly texts = new Map<string, string>();

  /**
   * `columnNames`: the compared columns, in the order both sides use; `keyNames`: the primary key in order; `lock`: the
   * rows read are locked for the transaction (where the brand locks rows: SqlDialect.forUpdate, lockHint).
   */
  static async open(side: VerifySide, columnNames: readonly string[], keyNames: readonly string[], lock = false): Promise<RangeReader> {
    return new RangeReader(side, columnNames, keyNames, await side.client.dialect.keyOrder(side.client, side.table), lock);
  }

  private constructor(
    private readonly side: VerifySide,
    columnNames: readonly string[],
    keyNames: readonly string[],
    private readonly order: KeyOrder,
    private readonly lock = false,
  ) {
    const byName = (name: string) => {
      const column = side.table.columns.find((c) => c.name === name);
      if (!column) throw new Error(`column ${name} is not a column of ${side.table.name}`);
      return column;
    };
    this.columns = columnNames.map(byName);
    this.keyColumns = keyNames.map(byName);
    this.encoders = this.columns.map((c) => driverEncoder(side.client.dialect, c));
    this.keyAt = this.keyColumns.map((k) => this.columns.indexOf(k));
  }

  /** The statement text for a range with or without each bound; built once per shape. */
  private statement(hasLo: boolean, hasHi: boolean, limit: number): string {
    const cacheKey = `${hasLo}/${hasHi}/${limit}`;
    let text = this.texts.get(cacheKey);
    if (text) return text;
    const { client, table } = this.side;
    const { sql } = client.dialect;
    const keys = this.keyColumns.map((c) => this.order.keyExpression(c));
    let n = 0;
    // (k1, …, kn) > (v1, …, vn), spelled with AND/OR so that every brand accepts it.
    const greater = () =>
      keys
        .map((_, i) => `(${[...keys.slice(0, i).map((k) => `${k} = ${sql.param(++n)}`), `${keys[i]} > ${sql.param(++n)}`].join(' AND ')})`)
        .join(' OR ');
    const where: string[] = [];
    if (hasLo) where.push(keys.length === 1 ? `${keys[0]} > ${sql.param(++n)}` : `(${greater()})`);
    if (hasHi) where.push(keys.length === 1 ? `${keys[0]} <= ${sql.param(++n)}` : `NOT (${greater()})`);
    text = `SELECT ${this.columns.map((c) => sql.selectColumn?.(c) ?? sql.ident(c.name)).join(', ')} FROM ${tableRef(client.dialect.sql, table)}${
      this.lock ? (sql.lockHint ?? '') : ''
    }${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${keys.join(', ')} ${sql.limit(limit)}${this.lock ? (sql.forUpdate ?? '') : ''}`;
    this.texts.set(cacheKey, text);
    return text;
  }

  /** Parameters for one bound, in the order `greater()` numbers them. */
  private boundParams(bound: KeyValues): unknown[] {
    const { dialect } = this.side.client;
    const values = this.keyColumns.map((c, i) => dialect.toParam(c, bound[i]));
    if (values.length === 1) return values;
    return values.flatMap((_, i) => values.slice(0, i + 1));
  }

  /** The canonical key of a row as the driver returned it. */
  keyOf(row: Row): KeyValues {
    const { dialect } = this.side.client;
    return this.keyColumns.map((c) => dialect.fromDriver(c, row[c.name]));
  }

  /** The rows of lo < key <= hi (either bound may be open), at most `limit`, as the driver returns them. */
  async fetch(lo: KeyValues | null, hi: KeyValues | null, limit: number): Promise<FetchedRange> {
    const params = [...(lo ? this.boundParams(lo) : []), ...(hi ? this.boundParams(hi) : [])];
    const { rows } = await this.side.client.query<Row>(this.statement(lo !== null, hi !== null, limit), params);
    return { rows, lastKey: rows.length ? this.keyOf(rows[rows.length - 1]) : null };
  }

  /** Fetched rows in comparable form. Kept lean: a segment's worth of these is alive at a time. */
  encode(rows: Row[]): ComparableRow[] {
    const { columns, encoders, keyAt } = this;
    const single = keyAt.length === 1 ? keyAt[0] : -1;
    const out: ComparableRow[] = new Array(rows.length);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      let text = '';
      let keyText = '';
      for (let i = 0; i < columns.length; i++) {
        const value = encoders[i](row[columns[i].name]);
        text += value;
        if (i === single) keyText = value;
      }
      if (single < 0) keyText = keyAt.map((i) => encoders[i](row[columns[i].name])).join('');
      out[r] = { raw: row, keyText, text };
    }
    return out;
  }

  /** Comparable text of each compared column of a row (for rows that differ: which columns). */
  columnTexts(row: ComparableRow): string[] {
    return this.columns.map((c, i) => this.encoders[i](row.raw[c.name]));
  }
}
