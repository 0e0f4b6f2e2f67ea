/**
 * Compares one table across two nodes, of any brands, by segment hashes: side A's keys
 * split the table into ranges of `segmentRows` rows; each range is read on both sides in
 * canonical form and hashed; equal hashes mean equal rows; a differing range is drilled
 * into, row by row, for the keys that differ. Ranges are read by keyset, one at a time
 * (A's next one while B's current one), so memory holds a few segments whatever the
 * table's size. Key order is code-point order on every brand (Dialect.keyOrder).
 */
import { createHash } from 'node:crypto';
import type { ValueMap } from '../core/change.ts';
import { isSinglePrecision } from '../core/canonical.ts';
import { syncedColumns } from '../core/schema.ts';
import { type ComparableRow, type KeyValues, RangeReader, type VerifySide } from './range-reader.ts';

export type { VerifySide } from './range-reader.ts';

/** `missing`: on A, not on B. `extra`: on B, not on A. `changed`: on both with other values in `columns`. */
export type DifferenceKind = 'missing' | 'extra' | 'changed';

export interface RowDifference {
  kind: DifferenceKind;
  key: ValueMap;
  /** The differing columns of a changed row; empty otherwise. */
  columns: string[];
}

export interface CompareOptions {
  /**
   * Rows per segment (default 1,000): the unit of hashing and of memory. Small enough
   * that a segment's rows die young (10,000 doubled the time spent in garbage collection).
   */
  segmentRows?: number;
  /** Differences listed at most (default 1,000); beyond it they are only counted. */
  maxListed?: number;
  /** Called after each segment with the rows read so far. */
  onProgress?: (progress: { rowsA: number; rowsB: number; segments: number }) => void;
}

export interface CompareResult {
  table: string;
  /** Columns compared: the synchronized columns present on both sides. */
  columns: string[];
  /** Columns present on one side only (not compared); non-empty means the tables differ in shape. */
  onlyOnA: string[];
  onlyOnB: string[];
  rowsA: number;
  rowsB: number;
  segments: number;
  differingSegments: number;
  /** All differences found (counted even beyond maxListed). */
  differenceCount: number;
  differences: RowDifference[];
  /** True when more differences exist than are listed. */
  truncated: boolean;
}

/** The tables differ in rows or in shape. */
export const hasDifferences = (r: CompareResult) => r.differenceCount > 0 || r.onlyOnA.length > 0 || r.onlyOnB.length > 0;

function segmentHash(rows: ComparableRow[]): string {
  // One update per segment: the per-call overhead of Hash.update cost more than the hashing.
  return createHash('sha1')
    .update(rows.map((r) => r.text).join(''))
    .digest('hex');
}

/**
 * A float column is compared as 4-byte values when either side keeps 4 bytes: a double
 * holding what a `real` sent is the same value as that `real` (docs/types.md).
 */
function narrowFloats(side: VerifySide, other: VerifySide): VerifySide {
  const single = new Set(other.table.columns.filter(isSinglePrecision).map((c) => c.name));
  if (!side.table.columns.some((c) => c.family === 'float' && single.has(c.name) && !isSinglePrecision(c))) return side;
  const columns = side.table.columns.map((c) => (c.family === 'float' && single.has(c.name) ? { ...c, precision: 24 } : c));
  return { ...side, table: { ...side.table, columns } };
}

export async function compareTables(a: VerifySide, b: VerifySide, options: CompareOptions = {}): Promise<CompareResult> {
  const segmentRows = options.segmentRows ?? 1000;
  const maxListed = options.maxListed ?? 1000;
  if (!Number.isInteger(segmentRows) || segmentRows < 1) throw new Error(`segmentRows must be a positive integer, got ${segmentRows}`);
  const keyNames = a.table.primaryKey;
  if (keyNames.join(',') !== b.table.primaryKey.join(',')) {
    throw new Error(
      `${a.table.name}: the primary keys differ (${keyNames.join(', ')} on one side, ${b.table.primaryKey.join(', ')} on the other)`,
    );
  }
  const namesA = syncedColumns(a.table).map((c) => c.name);
  const namesB = new Set(syncedColumns(b.table).map((c) => c.name));
  const columns = namesA.filter((n) => namesB.has(n));
  const result: CompareResult = {
    table: a.table.name,
    columns,
    onlyOnA: namesA.filter((n) => !namesB.has(n)),
    onlyOnB: [...namesB].filter((n) => !namesA.includes(n)),
    rowsA: 0,
    rowsB: 0,
    segments: 0,
    differingSegments: 0,
    differenceCount: 0,
    differences: [],
    truncated: false,
  };
  const readerA = await RangeReader.open(narrowFloats(a, b), columns, keyNames);
  const readerB = await RangeReader.open(narrowFloats(b, a), columns, keyNames);

  const note = (kind: DifferenceKind, reader: RangeReader, row: ComparableRow, differing: string[] = []) => {
    result.differenceCount++;
    if (result.differences.length >= maxListed) {
      result.truncated = true;
      return;
    }
    const key = reader.keyOf(row.raw);
    result.differences.push({ kind, key: Object.fromEntries(keyNames.map((k, i) => [k, key[i]])), columns: differing });
  };

  /** Row-level differences of two small row sets of one range; by key text, so no ordering is assumed. */
  const diffRows = (rowsA: ComparableRow[], rowsB: ComparableRow[]) => {
    const onB = new Map(rowsB.map((r) => [r.keyText, r]));
    for (const rowA of rowsA) {
      const rowB = onB.get(rowA.keyText);
      if (!rowB) {
        note('missing', readerA, rowA);
        continue;
      }
      onB.delete(rowA.keyText);
      if (rowA.text === rowB.text) continue;
      const [textsA, textsB] = [readerA.columnTexts(rowA), readerB.columnTexts(rowB)];
      note(
        'changed',
        readerA,
        rowA,
        columns.filter((_, i) => textsA[i] !== textsB[i]),
      );
    }
    for (const rowB of onB.values()) note('extra', readerB, rowB);
  };

  /**
   * Drills into the range lo < key <= hi (hi null: to the end) where a side may hold more
   * than a segment: the range is cut at the segment-th key of a side that overflows, so
   * that every piece compared in memory holds at most a segment per side.
   */
  const diffRange = async (lo: KeyValues | null, hi: KeyValues | null, depth = 0): Promise<void> => {
    // Each cut leaves a side with one segment, so one level of nesting is all a consistent
    // key order needs; going deeper means the two brands sort keys differently.
    if (depth > 8) throw new Error(`${a.table.name}: the two sides do not sort keys the same way, so ranges cannot be compared`);
    let cursor = lo;
    for (;;) {
      const [fa, fb] = await Promise.all([readerA.fetch(cursor, hi, segmentRows + 1), readerB.fetch(cursor, hi, segmentRows + 1)]);
      if (fa.rows.length <= segmentRows && fb.rows.length <= segmentRows) {
        diffRows(readerA.encode(fa.rows), readerB.encode(fb.rows));
        return;
      }
      const cut = fa.rows.length > segmentRows ? readerA.keyOf(fa.rows[segmentRows - 1]) : readerB.keyOf(fb.rows[segmentRows - 1]);
      if (cursor !== null && JSON.stringify(cut) === JSON.stringify(cursor)) {
        throw new Error(`${a.table.name}: the two sides do not sort keys the same way, so ranges cannot be compared`);
      }
      await diffRange(cursor, cut, depth + 1);
      cursor = cut;
    }
  };

  // A prefetch left behind by a failure elsewhere must not become an unhandled rejection.
  const settle = <T>(p: Promise<T>) => {
    p.catch(() => undefined);
    return p;
  };
  let lo: KeyValues | null = null;
  let nextA = settle(readerA.fetch(null, null, segmentRows));
  for (;;) {
    const fetchedA = await nextA;
    const last = fetchedA.rows.length < segmentRows;
    const hi = last ? null : fetchedA.lastKey;
    // Both databases work while this process encodes: A's next range and B's current one are in flight.
    if (!last) nextA = settle(readerA.fetch(hi, null, segmentRows));
    const pendingB = settle(readerB.fetch(lo, hi, segmentRows + 1));
    const rowsA = readerA.encode(fetchedA.rows);
    const fetchedB = await pendingB;
    result.segments++;
    result.rowsA += rowsA.length;
    if (fetchedB.rows.length <= segmentRows) {
      const rowsB = readerB.encode(fetchedB.rows);
      result.rowsB += rowsB.length;
      if (segmentHash(rowsA) !== segmentHash(rowsB)) {
        result.differingSegments++;
        diffRows(rowsA, rowsB);
      }
    } else {
      // B holds more than a segment in this range: certainly different; count and drill by reading again.
      result.differingSegments++;
      result.rowsB += await countRange(readerB, lo, hi, segmentRows);
      await diffRange(lo, hi);
    }
    options.onProgress?.({ rowsA: result.rowsA, rowsB: result.rowsB, segments: result.segments });
    if (last) break;
    lo = hi;
  }
  return result;
}

/** Rows of one side in lo < key <= hi, read a segment at a time. */
async function countRange(reader: RangeReader, lo: KeyValues | null, hi: KeyValues | null, segmentRows: number): Promise<number> {
  let count = 0;
  let cursor = lo;
  for (;;) {
    const { rows, lastKey } = await reader.fetch(cursor, hi, segmentRows);
    count += rows.length;
    if (rows.length < segmentRows) return count;
    cursor = lastKey;
  }
}
