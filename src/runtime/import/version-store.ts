/**
 * The version store (ds_row_version, docs/convergence.md): per synchronized row, its
 * causal length and the version of each column. Capture triggers keep it for local
 * writes; the import (and captureChange) keep it for theirs, in the same transaction
 * as the row, so that no decision depends on outbox or inbox rows that purge removes.
 */
import type { BulkWriter, DbClient, Row } from '../../core/dialect.ts';
import type { TypeFamily } from '../../core/schema.ts';
import { ENTRY_COLUMNS } from './dml.ts';
import { NO_VERSION, type RowEntry, sameVersion, type Version } from './merge.ts';
import { writeRows } from './row-writer.ts';

const COLUMNS = ['table_name', 'row_key', 'cl', 'max_version', 'base_version', 'base_server', 'col_versions'] as const;
const KEY = ['table_name', 'row_key'] as const;

function parseColumns(text: unknown): Record<string, Version> {
  const out: Record<string, Version> = {};
  // An entry with no column updated since its insert (most): nothing to parse.
  if (typeof text !== 'string' || text === '' || text === '{}') return out;
  const pairs = JSON.parse(text) as Record<string, [number | string, string]>;
  for (const name in pairs) {
    const pair = pairs[name];
    out[name] = { time: Number(pair[0]), server: String(pair[1]) };
  }
  return out;
}

/** `{"column":[time,"server"],…}`: what JSON.stringify makes of the pairs, written without building them. */
export function encodeColumns(columns: Record<string, Version>): string {
  // An entry with no column stamp (every inserted row's): one shared text, not a new one per entry.
  for (const _ in columns) return encodeSome(columns);
  return '{}';
}

function encodeSome(columns: Record<string, Version>): string {
  let out = '';
  for (const name in columns) {
    const v = columns[name];
    out += `${out ? ',' : ''}${JSON.stringify(name)}:[${JSON.stringify(v.time)},${JSON.stringify(v.server)}]`;
  }
  return `{${out}}`;
}

/** An entry from its columns as read (ENTRY_COLUMNS but row_key). */
function entryOf(cl: unknown, maxVersion: unknown, baseVersion: unknown, baseServer: unknown, colVersions: unknown): RowEntry {
  return {
    cl: Number(cl),
    maxVersion: Number(maxVersion),
    base: baseServer === null && Number(baseVersion) === 0 ? NO_VERSION : { time: Number(baseVersion), server: String(baseServer ?? '') },
    columns: parseColumns(colVersions),
  };
}

const toEntry = (row: Row): RowEntry => entryOf(row.cl, row.max_version, row.base_version, row.base_server, row.col_versions);

/** Entries from ds_row_version rows read elsewhere (dml.ts fetchRowsWithEntries), keyed by row key. */
export function entriesFromRows(rows: readonly Row[]): Map<string, RowEntry> {
  const found = new Map<string, RowEntry>();
  for (const row of rows) found.set(String(row.row_key), toEntry(row));
  return found;
}

/**
 * Entries of `rowKeys` of one table, keyed by row key; locked for the transaction where the
 * brand can, with the gaps of keys that have none where its locking reads lock gaps (a
 * load relies on that: docs/onboarding.md "Why a load is safe"). Many keys go the brand's
 * faster way where it has one (BulkWriter.selectByKeys), which locks the same.
 */
export async function readEntries(
  tx: DbClient,
  table: string,
  rowKeys: string[],
  /** The row keys are known to be distinct (an import batch's unread keys): not sorted out again. */
  distinct = false,
): Promise<Map<string, RowEntry>> {
  const found = new Map<string, RowEntry>();
  const unique = distinct ? rowKeys : [...new Set(rowKeys)];
  const { sql, capabilities, bulk } = tx.dialect;
  const p = sql.param;
  const perQuery = Math.max(1, capabilities.maxParameters - 10);
  for (let i = 0; i < unique.length; i += perQuery) {
    const chunk = unique.slice(i, i + perQuery);
    const arrays = await bulk?.selectByKeys?.(tx, {
      table: 'ds_row_version',
      columns: ENTRY_COLUMNS,
      fixed: { column: 'table_name', value: table },
      keyColumn: 'row_key',
      keys: chunk,
      lock: Boolean(sql.forUpdate),
    });
    if (arrays) {
      for (const v of arrays) found.set(String(v[0]), entryOf(v[1], v[2], v[3], v[4], v[5]));
      continue;
    }
    const { rows } = await tx.query<Row>(
      `SELECT ${ENTRY_COLUMNS.join(', ')} FROM ds_row_version${sql.lockHint ?? ''}
       WHERE table_name = ${p(1)} AND row_key IN (${chunk.map((_, j) => p(j + 2)).join(', ')})${sql.forUpdate ?? ''}`,
      [table, ...chunk],
    );
    for (const row of rows) found.set(String(row.row_key), toEntry(row));
  }
  return found;
}

export interface EntryWrite {
  table: string;
  rowKey: string;
  entry: RowEntry;
  /**
   * True: the row had no entry when the writer read it: the entry is inserted, never upserted,
   * so that a concurrent writer that stored one meanwhile (a load's chunk, another import)
   * makes this write fail on the key and the batch plan again, instead of one overwriting
   * the other's decision (docs/onboarding.md "Why a load is safe"). False: the writer read the
   * entry under a lock its transaction still holds, so it is there to be updated. Unknown: upserted.
   */
  isNew?: boolean;
  /** The entry as the writer read it under its lock (isNew false), when it knows it: an update sets only what moved. */
  before?: RowEntry;
}

/** An entry as its row of COLUMNS. */
const entryRow = ({ table, rowKey, entry }: EntryWrite) => [
  table,
  rowKey,
  entry.cl,
  entry.maxVersion,
  entry.base.time,
  entry.base.server,
  encodeColumns(entry.columns),
];

/**
 * How an entry known to be there is updated (BulkWriter.updateRows, table_name given once per table): all of it,
 * or, where its causal length and base are as read (an update's change, most of them), its clock and column
 * versions alone. bench/probes/entry-update.ts (12,000 of 200,000 freshly written entries, on PostgreSQL): the
 * seven arrays 109–110 ms (median of 8), table_name given once 103, the three columns 88–89 (docs/performance.md,
 * "the twenty-first session").
 */
const UPDATES: ReadonlyArray<{ columns: string[]; families: TypeFamily[]; values: (w: EntryWrite) => unknown[] }> = [
  {
    // The whole row but its table: a delete's, a new incarnation's, and every write that carries no `before`.
    columns: COLUMNS.slice(1),
    families: ['text', 'bigint', 'bigint', 'bigint', 'text', 'text'],
    values: (w: EntryWrite) => entryRow(w).slice(1),
  },
  {
    columns: ['row_key', 'max_version', 'col_versions'],
    families: ['text', 'bigint', 'text'],
    values: ({ rowKey, entry }: EntryWrite) => [rowKey, entry.maxVersion, encodeColumns(entry.columns)],
  },
];

const movedClockOnly = ({ entry, before }: EntryWrite) =>
  before !== undefined && entry.cl === before.cl && sameVersion(entry.base, before.base);

/** Updates the entries by key, each table's in one or two statements; how many it matched, undefined where the brand cannot. */
async function updateEntries(tx: DbClient, bulk: BulkWriter, writes: EntryWrite[]): Promise<number | undefined> {
  const byTable = new Map<string, [EntryWrite[], EntryWrite[]]>();
  for (const w of writes) {
    let shapes = byTable.get(w.table);
    if (!shapes) byTable.set(w.table, (shapes = [[], []]));
    // By UPDATES' order: every column, then the clock-only shape.
    shapes[movedClockOnly(w) ? 1 : 0].push(w);
  }
  let matched = 0;
  for (const [table, shapes] of byTable) {
    for (let i = 0; i < UPDATES.length; i++) {
      if (shapes[i].length === 0) continue;
      const { columns, families, values } = UPDATES[i];
      const fixed = { column: 'table_name', value: table };
      const n = await bulk.updateRows?.(tx, 'ds_row_version', columns, families, ['row_key'], shapes[i].map(values), fixed);
      if (n === undefined) return undefined;
      matched += n;
    }
  }
  return matched;
}

/**
 * Replaces the entries of these rows (the last write of a row wins); new entries are
 * inserted (see EntryWrite.isNew). `distinct`: no row is written twice in `writes` (an import
 * batch's, one per row it touched), so they are not sorted out again.
 */
export async function writeEntries(
  tx: DbClient,
  writes: EntryWrite[],
  distinct = false,
  /** False where a statement's count is not known when it is given (DbClient.defer): every known entry is upserted. */
  counted = true,
): Promise<void> {
  let all = writes;
  if (!distinct) {
    const last = new Map<string, EntryWrite>();
    for (const w of writes) last.set(`${w.table}\u0000${w.rowKey}`, w);
    all = [...last.values()];
  }
  if (all.length === 0) return;
  const fresh: EntryWrite[] = [];
  const locked: EntryWrite[] = [];
  let replaced: EntryWrite[] = [];
  for (const w of all) (w.isNew ? fresh : w.isNew === false ? locked : replaced).push(w);
  if (fresh.length > 0) await writeRows(tx, 'ds_row_version', COLUMNS, fresh.map(entryRow));
  const bulk = tx.dialect.bulk;
  // Entries known to be there are updated, which costs the server less than an upsert; should one be
  // missing after all, all of them are upserted below (the same values again for those found).
  const matched = locked.length > 0 && counted && bulk?.updateRows ? await updateEntries(tx, bulk, locked) : 0;
  if (matched !== locked.length) replaced = replaced.concat(locked);
  if (replaced.length === 0) return;
  const rows = replaced.map(entryRow);
  // One write per entry where the brand can upsert; else the old ones go first.
  if (bulk?.upsertRows) return bulk.upsertRows(tx, 'ds_row_version', COLUMNS, KEY, rows);
  const byTable = new Map<string, string[]>();
  for (const w of replaced) {
    const keys = byTable.get(w.table);
    if (keys) keys.push(w.rowKey);
    else byTable.set(w.table, [w.rowKey]);
  }
  const p = tx.dialect.sql.param;
  const perQuery = Math.max(1, tx.dialect.capabilities.maxParameters - 10);
  for (const [table, keys] of byTable) {
    for (let i = 0; i < keys.length; i += perQuery) {
      const chunk = keys.slice(i, i + perQuery);
      await tx.query(`DELETE FROM ds_row_version WHERE table_name = ${p(1)} AND row_key IN (${chunk.map((_, j) => p(j + 2)).join(', ')})`, [
        table,
        ...chunk,
      ]);
    }
  }
  await writeRows(tx, 'ds_row_version', COLUMNS, rows);
}

/**
 * A local change's effect on its row's entry, as the capture triggers compute it
 * (docs/convergence.md "Capture contract"): the version `max(now, max_version + 1)`
 * and the causal length after the change.
 */
export function entryAfterLocalChange(
  entry: RowEntry | null,
  operation: 'I' | 'U' | 'D',
  changed: string[],
  nowMicros: number,
  server: string,
): { entry: RowEntry; version: Version } {
  const version: Version = { time: Math.max(nowMicros, (entry?.maxVersion ?? 0) + 1), server };
  const cl = entry?.cl ?? null;
  if (operation === 'I') {
    const next = cl === null ? 1 : cl % 2 === 0 ? cl + 1 : cl + 2;
    return { entry: { cl: next, maxVersion: version.time, base: version, columns: {} }, version };
  }
  if (operation === 'D') {
    const next = cl === null ? 2 : cl % 2 === 1 ? cl + 1 : cl + 2;
    return { entry: { cl: next, maxVersion: version.time, base: version, columns: {} }, version };
  }
  const next = cl === null ? 1 : cl % 2 === 0 ? cl + 1 : cl;
  const columns = { ...(entry?.columns ?? {}) };
  for (const c of changed) columns[c] = version;
  return { entry: { cl: next, maxVersion: version.time, base: entry?.base ?? NO_VERSION, columns }, version };
}
