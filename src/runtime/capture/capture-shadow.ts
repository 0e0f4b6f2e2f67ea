/**
 * The shadow of a table in capture mode query (docs/capture-modes.md#query): per row, its
 * canonical values as the query capture pass last captured them (or the import last
 * wrote them), in ds_capture_shadow. A pass compares the table with it to send only the
 * changed columns, with their old values, and to find deletes. The shadow keeps values,
 * not hashes: an update's old values and a delete's old row are what the target's
 * conflict check reads (docs/convergence.md), and only a copy can give them back.
 *
 * Every write of the shadow happens in the transaction that writes the matching outbox
 * rows (a pass) or the matching table rows (the import), so a kill at any moment leaves
 * the two agreeing: nothing is sent twice or lost.
 */
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { ValueMap } from '../../core/change.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { syncedColumns, type TableSchema } from '../../core/schema.ts';
import { fetchRows, inLists } from '../import/dml.ts';
import type { PlannedOp } from '../import/row-writer.ts';
import { writeRows } from '../import/row-writer.ts';

export interface ShadowEntry {
  rowKey: string;
  /** The row's update time (canonical text) when the shadow was taken. */
  updateTime: string | null;
  /** Every synchronized column, canonical. */
  values: ValueMap;
}

const COLUMNS = ['table_name', 'row_key', 'update_time', 'row_values'] as const;

/** The shadow entries of `rowKeys`, keyed by row key; locked for the transaction where the brand can. */
export async function readShadow(tx: DbClient, table: string, rowKeys: string[]): Promise<Map<string, ShadowEntry>> {
  const found = new Map<string, ShadowEntry>();
  const { sql } = tx.dialect;
  for (const keys of inLists(tx.dialect, 'row_key', [...new Set(rowKeys)], 2)) {
    const { rows } = await tx.query<Row>(
      `SELECT row_key, update_time, row_values FROM ds_capture_shadow${sql.lockHint ?? ''}
       WHERE table_name = ${sql.param(1)} AND ${keys.sql}${sql.forUpdate ?? ''}`,
      [table, ...keys.params],
    );
    for (const row of rows) found.set(String(row.row_key), toEntry(row));
  }
  return found;
}

export function toEntry(row: Row): ShadowEntry {
  return {
    rowKey: String(row.row_key),
    updateTime: row.update_time === null ? null : String(row.update_time),
    values: JSON.parse(String(row.row_values)) as ValueMap,
  };
}

/** Removes the entries of `rowKeys`. */
export async function dropShadow(tx: DbClient, table: string, rowKeys: string[]): Promise<void> {
  for (const keys of inLists(tx.dialect, 'row_key', rowKeys, 2))
    await tx.query(`DELETE FROM ds_capture_shadow WHERE table_name = ${tx.dialect.sql.param(1)} AND ${keys.sql}`, [table, ...keys.params]);
}

/** Replaces the entries of these rows. */
export async function writeShadow(tx: DbClient, table: string, entries: ShadowEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await dropShadow(
    tx,
    table,
    entries.map((e) => e.rowKey),
  );
  await writeRows(
    tx,
    'ds_capture_shadow',
    COLUMNS,
    entries.map((e) => [table, e.rowKey, e.updateTime, JSON.stringify(e.values)]),
  );
}

/** A row as its shadow entry; `updateColumn` null for a table without one (capture mode keys). */
export function shadowOf(table: TableSchema, row: ValueMap, updateColumn: string | null): ShadowEntry {
  const values: ValueMap = {};
  for (const c of syncedColumns(table)) values[c.name] = row[c.name] ?? null;
  const time = updateColumn === null ? null : row[updateColumn];
  return { rowKey: canonicalKeyText(table, row), updateTime: time === null || time === undefined ? null : String(time), values };
}

/**
 * The import's side of the no-echo rule (docs/capture-modes.md#query): after it wrote
 * rows of query- or keys-mode tables (`queryTables`: table name → update-time column, null
 * in mode keys), in the same
 * transaction, their shadow takes the values it wrote, read back as the database now holds
 * them, so that the next pass does not send them again as local changes. Only the columns
 * it wrote: a local change to another column, not yet captured, still differs from the
 * shadow and is captured. A row the shadow did not know (a local insert not yet captured)
 * stays unknown, unless the import inserted it. A deleted row leaves the shadow.
 */
export async function shadowImportWrites(tx: DbClient, ops: PlannedOp[], queryTables: ReadonlyMap<string, string | null>): Promise<void> {
  const touched = new Map<TableSchema, Map<string, { key: ValueMap; columns: Set<string>; inserted: boolean }>>();
  const removed = new Map<TableSchema, Set<string>>();
  for (const { table, op } of ops) {
    if (!queryTables.has(table.name)) continue;
    if (!touched.has(table)) touched.set(table, new Map());
    if (!removed.has(table)) removed.set(table, new Set());
    const rows = touched.get(table)!;
    if (op.kind === 'delete') {
      const keyText = canonicalKeyText(table, op.key);
      removed.get(table)!.add(keyText);
      rows.delete(keyText);
      continue;
    }
    const movesKey = op.kind === 'update' && table.primaryKey.some((k) => k in op.values);
    const key = op.kind === 'insert' || movesKey ? Object.fromEntries(table.primaryKey.map((k) => [k, op.values[k]])) : op.key;
    const newKeyText = canonicalKeyText(table, key);
    const keyText = op.kind === 'update' ? canonicalKeyText(table, op.key) : newKeyText;
    if (movesKey && newKeyText !== keyText) {
      removed.get(table)!.add(keyText);
      rows.delete(keyText);
    }
    removed.get(table)!.delete(newKeyText);
    const entry = rows.get(newKeyText) ?? { key, columns: new Set<string>(), inserted: false };
    for (const c of Object.keys(op.values)) entry.columns.add(c);
    entry.inserted ||= op.kind === 'insert' || movesKey;
    rows.set(newKeyText, entry);
  }
  for (const [table, rows] of touched) {
    const updateColumn = queryTables.get(table.name)!;
    const gone = [...removed.get(table)!];
    const current = await fetchRows(
      tx,
      table,
      [...rows.values()].map((r) => r.key),
      (k) => canonicalKeyText(table, k),
    );
    const known = await readShadow(tx, table.name, [...rows.keys()]);
    const writes: ShadowEntry[] = [];
    for (const [keyText, { columns, inserted }] of rows) {
      const row = current.get(keyText);
      if (!row) {
        gone.push(keyText);
        continue;
      }
      const before = known.get(keyText);
      if (inserted || !before) {
        if (inserted) writes.push(shadowOf(table, row, updateColumn));
        continue;
      }
      const values = { ...before.values };
      for (const c of columns) values[c] = row[c] ?? null;
      const updateTime =
        updateColumn !== null && columns.has(updateColumn) ? shadowOf(table, row, updateColumn).updateTime : before.updateTime;
      writes.push({ rowKey: keyText, updateTime, values });
    }
    await dropShadow(tx, table.name, gone);
    await writeShadow(tx, table.name, writes);
  }
}

/**
 * `dsync load` into a query- or keys-mode table: the rows of a chunk (by row key) that have no
 * shadow entry get one, as the load left them, in the chunk's transaction. A load's writes
 * are never captured in any mode (they come from the source), so the next scan must not
 * send them back as inserts. Rows the shadow knows keep their entries.
 */
export async function shadowLoadedRows(tx: DbClient, table: TableSchema, rowKeys: string[], updateColumn: string | null): Promise<void> {
  if (rowKeys.length === 0) return;
  const known = await readShadow(tx, table.name, rowKeys);
  const missing = rowKeys.filter((k) => !known.has(k)).map((k) => parseRowKey(table, k));
  const rows = await fetchRows(tx, table, missing, (k) => canonicalKeyText(table, k));
  await writeShadow(
    tx,
    table.name,
    [...rows.values()].map((row) => shadowOf(table, row, updateColumn)),
  );
}

/** A row key (canonicalKeyText) back to key values. */
function parseRowKey(table: TableSchema, rowKey: string): ValueMap {
  const parsed = JSON.parse(rowKey) as ValueMap[string] | ValueMap;
  if (table.primaryKey.length === 1) return { [table.primaryKey[0]]: parsed as ValueMap[string] };
  return parsed as ValueMap;
}
