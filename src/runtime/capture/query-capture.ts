/**
 * Capture modes query and keys (docs/capture-modes.md#query, #keys). Mode query, for
 * databases where triggers cannot go: a pass reads the rows whose update-time column is at
 * or above the table's watermark minus an overlap window, compares each with its shadow
 * (capture-shadow.ts) and writes one outbox row per changed row through captureChange, so
 * the rows are the ones a trigger writes (canonical values, only the changed columns with
 * their old values, versions in ds_row_version, this node as origin). Every Nth pass (or
 * `dsync capture --deletes`) also scans the whole table by key ranges against the shadow:
 * rows gone are deletes, and rows the time window missed (an update that left the update
 * time alone) are caught there.
 *
 * Mode keys: the table's triggers note only the keys of the rows a statement wrote, in the
 * table's notes ds_key_<table> (the cheapest capture a trigger can do, as Bucardo's), and a
 * pass (keysCapturePass) compares exactly those rows with their shadow the same way.
 *
 * Each batch is one transaction that locks the table rows, then their shadow entries,
 * then writes the outbox rows, the shadow and the watermark (mode keys: deletes the notes
 * it read): a pass killed at any moment leaves either all of a batch or none of it, so
 * nothing is lost or sent twice.
 */
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { ValueMap } from '../../core/change.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { RuntimeError } from '../../core/errors.ts';
import { keyNotesTable } from '../../core/safe-name.ts';
import { type ColumnSchema, syncedColumns, type TableSchema } from '../../core/schema.ts';
import { tableRef } from '../../core/table-ref.ts';
import { comparableEncoder } from '../../verify/row-encoding.ts';
import { RangeReader } from '../../verify/range-reader.ts';
import { fetchRows, inLists } from '../import/dml.ts';
import { keyMap } from '../import/decode-change.ts';
import type { NodeHandle } from '../nodes.ts';
import { requireSyncObjects } from '../nodes.ts';
import { type AppChange, captureChanges } from './capture-api.ts';
import { dropShadow, readShadow, type ShadowEntry, shadowOf, toEntry, writeShadow } from './capture-shadow.ts';
import { requireUpdateTimeColumn } from './update-time.ts';
import { utcNow } from '../../core/utc-time.ts';

export interface QueryCaptureSettings {
  updateTimeColumn: string;
  overlapSeconds: number;
  deleteScanEvery: number;
}

export interface QueryCaptureOptions {
  /** Scan the whole table for deletes (and missed updates) now, whatever the schedule. */
  deletes?: boolean;
  /** Rows per transaction (default 500). */
  batchRows?: number;
  /** Tests only: called inside each batch's transaction after its outbox rows are written, before the shadow is. */
  afterOutbox?: (tx: DbClient) => Promise<void>;
}

export interface QueryCaptureResult {
  table: string;
  inserted: number;
  updated: number;
  deleted: number;
  /** Rows read by the time window (or by the scan). */
  read: number;
  /** True when this pass scanned the whole table (deletes). */
  scanned: boolean;
  /** The newest update time seen so far (canonical), null before the first row. */
  watermark: string | null;
}

/** What one pass over one table works with. */
interface Pass {
  handle: NodeHandle;
  table: TableSchema;
  columns: ColumnSchema[];
  encoders: Map<string, (v: ValueMap[string]) => string>;
  /** The update-time column (mode query); null in mode keys, where triggers name the changed rows. */
  updateColumn: ColumnSchema | null;
  options: QueryCaptureOptions;
  result: QueryCaptureResult;
}

/** The rows' newest update time, or `current` when none is newer (canonical texts order as times do). */
function newer(current: string | null, candidate: unknown): string | null {
  if (typeof candidate !== 'string' || !/^\d{4}-\d\d-\d\d/.test(candidate)) return current;
  return current === null || candidate > current ? candidate : current;
}

/** `time` minus `seconds`, in the same canonical shape (a date moves by whole days). */
export function timeMinus(time: string, seconds: number, family: ColumnSchema['family']): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?(Z)?$/.exec(time);
  if (!m) return time;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0));
  if (family === 'date') return new Date(ms - Math.ceil(seconds / 86400) * 86_400_000).toISOString().slice(0, 10);
  // Whole milliseconds down: the window only gets wider.
  const micros = Number((m[7] ?? '').padEnd(6, '0').slice(0, 3));
  const at = new Date(ms + micros - Math.ceil(seconds * 1000));
  return `${at.toISOString().slice(0, 23)}000${m[8] ?? ''}`;
}

async function ensureWatermark(client: DbClient, table: string): Promise<void> {
  await client.query(client.dialect.sql.insertIgnoringDuplicates('ds_capture_watermark', ['table_name', 'passes'], 1), [table, 0]);
}

/** Locks the table's watermark row for the transaction: passes over one table run one at a time. */
async function lockWatermark(tx: DbClient, table: string): Promise<{ watermark: string | null; passes: number }> {
  const { sql } = tx.dialect;
  const { rows } = await tx.query<Row>(
    `SELECT watermark, passes FROM ds_capture_watermark${sql.lockHint ?? ''} WHERE table_name = ${sql.param(1)}${sql.forUpdate ?? ''}`,
    [table],
  );
  return { watermark: rows[0]?.watermark == null ? null : String(rows[0].watermark), passes: Number(rows[0]?.passes ?? 0) };
}

/** A transaction, tried again when it fails for a transient reason (a deadlock with the import, a lock timeout). */
async function inTransaction<T>(client: DbClient, fn: (tx: DbClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.transaction(fn);
    } catch (error) {
      if (attempt >= 5 || !client.dialect.isTransient(error) || client.lost) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    }
  }
}

const pick = (row: ValueMap, names: readonly string[]): ValueMap => Object.fromEntries(names.map((n) => [n, row[n] ?? null]));

/**
 * One batch: the rows of `keys` as they are now (locked) against their shadow entries;
 * an outbox row for each difference; the shadow and the watermark moved with them, and
 * `consume` (mode keys: the key notes read) in the same transaction.
 */
async function captureKeys(pass: Pass, keys: ValueMap[], consume?: (tx: DbClient) => Promise<void>): Promise<void> {
  const { counts, watermark } = await inTransaction(pass.handle.client, (tx) => captureKeysIn(tx, pass, keys, { consume }));
  const { result } = pass;
  result.inserted += counts.inserted;
  result.updated += counts.updated;
  result.deleted += counts.deleted;
  result.read += keys.length;
  result.watermark = watermark;
}

/**
 * The import's side of capture modes query and keys: before a batch merges changes into rows of
 * `table`, in its transaction, the local changes of those rows that no pass has captured yet are
 * captured (as a pass would, their notes left for the pass, which then finds nothing); returns the
 * row keys of the rows it found absent (BatchState.requireStillAbsent). The merge
 * then weighs them against the incoming changes through the version store, as it weighs trigger
 * capture's; without this, a local delete not yet captured let an older insert arriving by a
 * second path bring the row back, and a local insert overwritten by the import was never sent.
 */
export async function captureBeforeMerge(
  tx: DbClient,
  handle: NodeHandle,
  table: TableSchema,
  updateColumn: string | null,
  keys: ValueMap[],
): Promise<string[]> {
  // A table whose update-time column is missing is the pass's to refuse (requireUpdateTimeColumn), not
  // the import's: the rows are compared all the same, and the column only stamps the shadow entries.
  const column = table.columns.find((c) => c.name === updateColumn) ?? null;
  // The watermark stays: the window's rows below this batch's times may not be captured yet.
  return (await captureKeysIn(tx, newPass(handle, table, column, {}), keys, { moveWatermark: false })).absent;
}

/** captureKeys' work, in `tx`. */
async function captureKeysIn(
  tx: DbClient,
  pass: Pass,
  keys: ValueMap[],
  { consume, moveWatermark = true }: { consume?: (tx: DbClient) => Promise<void>; moveWatermark?: boolean },
): Promise<{ counts: { inserted: number; updated: number; deleted: number }; watermark: string | null; absent: string[] }> {
  const { handle, table, columns, encoders, updateColumn } = pass;
  const keyText = (k: ValueMap) => canonicalKeyText(table, k);
  const node = { name: handle.node.name, serverId: handle.node.serverId, sendOnly: handle.node.sendOnly };
  const mark = await lockWatermark(tx, table.name);
  // Rows first, then their shadow: the order the import locks them in (rows, then its own stores).
  const rows = await fetchRows(tx, table, keys, keyText);
  const texts = [...new Set(keys.map(keyText))].sort();
  const shadow = await readShadow(tx, table.name, texts);
  const counts = { inserted: 0, updated: 0, deleted: 0 };
  const writes: ShadowEntry[] = [];
  const gone: string[] = [];
  let watermark = mark.watermark;
  const changes: AppChange[] = [];
  for (const text of texts) {
    const row = rows.get(text);
    const before = shadow.get(text);
    let change: AppChange | null = null;
    if (row) {
      if (updateColumn) watermark = newer(watermark, row[updateColumn.name]);
      if (!before) {
        change = {
          table: table.name,
          operation: 'I',
          key: pick(row, table.primaryKey),
          values: pick(
            row,
            columns.map((c) => c.name),
          ),
        };
        counts.inserted++;
      } else {
        const changed = columns
          .filter((c) => encoders.get(c.name)!(row[c.name] ?? null) !== encoders.get(c.name)!(before.values[c.name] ?? null))
          .map((c) => c.name);
        if (changed.length) {
          change = {
            table: table.name,
            operation: 'U',
            key: pick(row, table.primaryKey),
            values: pick(row, changed),
            oldValues: pick(before.values, changed),
          };
          counts.updated++;
        }
      }
      if (change) writes.push(shadowOf(table, row, updateColumn?.name ?? null));
    } else if (before) {
      change = { table: table.name, operation: 'D', key: pick(before.values, table.primaryKey), oldValues: before.values };
      gone.push(text);
      counts.deleted++;
    }
    if (change) changes.push(change);
  }
  await captureChanges(tx, changes, { node, schema: table });
  await pass.options.afterOutbox?.(tx);
  await dropShadow(tx, table.name, gone);
  await writeShadow(tx, table.name, writes);
  await consume?.(tx);
  if (moveWatermark && watermark !== mark.watermark) {
    await tx.query(`UPDATE ds_capture_watermark SET watermark = ${tx.dialect.sql.param(1)} WHERE table_name = ${tx.dialect.sql.param(2)}`, [
      watermark,
      table.name,
    ]);
  }
  return { counts, watermark, absent: texts.filter((t) => !rows.has(t)) };
}

/** The time window: keys of rows whose update time is at or above `from`, oldest first (so a batch's watermark never passes a later batch's rows). */
async function windowKeys(pass: Pass, updateColumn: ColumnSchema, from: string): Promise<ValueMap[]> {
  const { handle, table } = pass;
  const { sql } = handle.dialect;
  const keyColumns = table.primaryKey.map((k) => table.columns.find((c) => c.name === k)!);
  const names = [...keyColumns, updateColumn].map((c) => sql.ident(c.name));
  const { rows } = await handle.client.query<Row>(
    `SELECT ${[...new Set(names)].join(', ')} FROM ${tableRef(sql, table)} WHERE ${sql.ident(updateColumn.name)} >= ${sql.param(1)}`,
    [handle.dialect.toParam(updateColumn, from)],
  );
  const withTime = rows.map((row) => ({
    key: Object.fromEntries(keyColumns.map((c) => [c.name, handle.dialect.fromDriver(c, row[c.name])])),
    time: String(handle.dialect.fromDriver(updateColumn, row[updateColumn.name]) ?? ''),
  }));
  withTime.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  return withTime.map((r) => r.key);
}

/**
 * The whole table against its shadow: the table by key ranges (verify's RangeReader)
 * for rows the window missed, then, when the shadow holds more rows than the table, the
 * shadow by its own key order for rows that are gone.
 */
async function scanTable(pass: Pass, batchRows: number): Promise<void> {
  const { handle, table } = pass;
  const reader = await RangeReader.open({ client: handle.client, table }, table.primaryKey, table.primaryKey);
  let lo: ReturnType<RangeReader['keyOf']> | null = null;
  let tableRows = 0;
  for (;;) {
    const { rows, lastKey } = await reader.fetch(lo, null, batchRows);
    if (rows.length === 0) break;
    tableRows += rows.length;
    await captureKeys(
      pass,
      rows.map((r) => {
        const key = reader.keyOf(r);
        return Object.fromEntries(table.primaryKey.map((k, i) => [k, key[i]]));
      }),
    );
    if (rows.length < batchRows) break;
    lo = lastKey;
  }
  const { sql } = handle.dialect;
  const { rows: counted } = await handle.client.query<Row>(
    `SELECT count(*) AS n FROM ds_capture_shadow WHERE table_name = ${sql.param(1)}`,
    [table.name],
  );
  // Every row of the table has an entry now; as many entries as rows means none is left over.
  if (Number(counted[0].n) <= tableRows) return;
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: Row[] } = await handle.client.query<Row>(
      `SELECT row_key, update_time, row_values FROM ds_capture_shadow WHERE table_name = ${sql.param(1)}${
        after === null ? '' : ` AND row_key > ${sql.param(2)}`
      } ORDER BY row_key ${sql.limit(batchRows)}`,
      after === null ? [table.name] : [table.name, after],
    );
    if (rows.length === 0) break;
    const entries: ShadowEntry[] = rows.map(toEntry);
    await captureKeys(
      pass,
      entries.map((e) => pick(e.values, table.primaryKey)),
    );
    if (rows.length < batchRows) break;
    after = entries[entries.length - 1].rowKey;
  }
}

const schemas = new WeakMap<DbClient, Map<string, TableSchema>>();

/**
 * The table as introspected on this connection: read again on every scan pass (the slow
 * schedule), so a column added to the table is captured from the next scan on.
 */
async function tableSchema(handle: NodeHandle, name: string, fresh: boolean): Promise<TableSchema> {
  let cache = schemas.get(handle.client);
  if (!cache) schemas.set(handle.client, (cache = new Map()));
  let table = fresh ? undefined : cache.get(name);
  if (!table) {
    table = await handle.dialect.introspect(handle.client, name);
    cache.set(name, table);
  }
  return table;
}

/**
 * One query capture pass over `table` of `handle`'s node. The first pass (no watermark
 * yet) reads the whole table: every row it has not seen is captured as an insert.
 */
export async function queryCapturePass(
  handle: NodeHandle,
  tableName: string,
  settings: QueryCaptureSettings,
  options: QueryCaptureOptions = {},
): Promise<QueryCaptureResult> {
  await requireSyncObjects(handle, ['ds_change_outbox', 'ds_row_version', 'ds_capture_shadow', 'ds_capture_watermark']);
  const batchRows = options.batchRows ?? 500;
  await ensureWatermark(handle.client, tableName);
  const { rows } = await handle.client.query<Row>(
    `SELECT watermark, passes FROM ds_capture_watermark WHERE table_name = ${handle.dialect.sql.param(1)}`,
    [tableName],
  );
  const watermark = rows[0].watermark == null ? null : String(rows[0].watermark);
  const passes = Number(rows[0].passes) + 1;
  const scan = watermark === null || options.deletes === true || passes % settings.deleteScanEvery === 0;
  const table = await tableSchema(handle, tableName, scan);
  const updateColumn = requireUpdateTimeColumn(table, settings.updateTimeColumn, handle.node.name);
  const pass = newPass(handle, table, updateColumn, options);
  pass.result.watermark = watermark;
  if (watermark !== null) {
    const keys = await windowKeys(pass, updateColumn, timeMinus(watermark, settings.overlapSeconds, updateColumn.family));
    for (let i = 0; i < keys.length; i += batchRows) await captureKeys(pass, keys.slice(i, i + batchRows));
  }
  if (scan) await scanTable(pass, batchRows);
  return finishPass(pass, passes, scan);
}

function newPass(handle: NodeHandle, table: TableSchema, updateColumn: ColumnSchema | null, options: QueryCaptureOptions): Pass {
  const columns = syncedColumns(table);
  return {
    handle,
    table,
    columns,
    encoders: new Map(columns.map((c) => [c.name, comparableEncoder(c)])),
    updateColumn,
    options,
    result: { table: table.name, inserted: 0, updated: 0, deleted: 0, read: 0, scanned: false, watermark: null },
  };
}

/** The pass counted (and the time of a scan) on the table's watermark row. */
async function finishPass(pass: Pass, passes: number, scan: boolean): Promise<QueryCaptureResult> {
  const { handle, table } = pass;
  const { sql } = handle.dialect;
  pass.result.scanned = scan;
  await handle.client.query(
    scan
      ? `UPDATE ds_capture_watermark SET passes = ${sql.param(1)}, scanned_at = ${sql.param(2)} WHERE table_name = ${sql.param(3)}`
      : `UPDATE ds_capture_watermark SET passes = ${sql.param(1)} WHERE table_name = ${sql.param(2)}`,
    scan ? [passes, utcNow(), table.name] : [passes, table.name],
  );
  return pass.result;
}

/**
 * One capture pass in mode keys over `table` of `handle`'s node: the keys its triggers noted in
 * the table's notes (`ds_key_<table>`, keyNotesTable), oldest first, up to the newest noted when
 * the pass began (writers that go on do not keep one pass running), in batches of `batchRows`
 * notes (default 2,000). Each batch compares its rows with their shadow as mode query does
 * (the same row noted twice is compared once) and deletes exactly the notes it read, by id,
 * in its transaction: a note committed late under a lower id stays for the next pass, and a
 * kill leaves a batch whole or untouched. The first pass (and `deletes`) first scans the whole
 * table against the shadow, as mode query's first pass does: rows the table held before its
 * triggers are sent as inserts (or brought by `dsync load`, docs/onboarding.md).
 */
export async function keysCapturePass(
  handle: NodeHandle,
  tableName: string,
  options: Pick<QueryCaptureOptions, 'deletes' | 'batchRows' | 'afterOutbox'> = {},
): Promise<QueryCaptureResult> {
  const notes = keyNotesTable(tableName);
  await requireSyncObjects(handle, ['ds_change_outbox', 'ds_row_version', 'ds_capture_shadow', 'ds_capture_watermark', notes]);
  // 2,000 notes a batch: ~1.6 times the rate of 500 on PostgreSQL, a little more on MariaDB, the same on
  // SQLite (bench/probes/keys-pass.ts, docs/performance.md "Issue 13, capture mode keys").
  const batchRows = options.batchRows ?? 2000;
  const { sql } = handle.dialect;
  const from = sql.ident(notes);
  await ensureWatermark(handle.client, tableName);
  const { rows: marks } = await handle.client.query<Row>(`SELECT passes FROM ds_capture_watermark WHERE table_name = ${sql.param(1)}`, [
    tableName,
  ]);
  const done = Number(marks[0].passes);
  const scan = done === 0 || options.deletes === true;
  const table = await tableSchema(handle, tableName, scan);
  const pass = newPass(handle, table, null, options);
  const { rows: newest } = await handle.client.query<Row>(`SELECT max(id) AS id FROM ${from}`);
  if (scan) await scanTable(pass, batchRows);
  const last = newest[0]?.id;
  if (last !== null && last !== undefined) {
    for (;;) {
      const { rows } = await handle.client.query<Row>(
        `SELECT id, row_key FROM ${from} WHERE id <= ${sql.param(1)} ORDER BY id ${sql.limit(batchRows)}`,
        [last],
      );
      if (rows.length === 0) break;
      const keys = new Map<string, ValueMap>();
      for (const row of rows) {
        let key: ValueMap;
        try {
          key = keyMap(table, row.row_key === null ? null : String(row.row_key), `${notes} row ${row.id}`);
        } catch (error) {
          throw new RuntimeError(
            'bad_key_note',
            `capture of ${table.name} on node ${handle.node.name}: ${notes} row ${row.id} does not name a row of ${table.name} (${(error as Error).message})`,
            {
              hint: `the key triggers write only keys they read from the table: delete that row (DELETE FROM ${notes} WHERE id = ${row.id}) and run \`dsync capture --deletes\` to compare the whole table`,
            },
          );
        }
        keys.set(canonicalKeyText(table, key), key);
      }
      const ids = rows.map((r) => r.id);
      await captureKeys(pass, [...keys.values()], (tx) => deleteNotes(tx, from, ids));
      if (rows.length < batchRows) break;
    }
  }
  return finishPass(pass, done + 1, scan);
}

/** The notes a batch read, by id (inLists: one array on PostgreSQL, else lists within the brand's limit). */
async function deleteNotes(tx: DbClient, from: string, ids: unknown[]): Promise<void> {
  for (const list of inLists(tx.dialect, 'id', ids, 1, NOTE_ID)) await tx.query(`DELETE FROM ${from} WHERE ${list.sql}`, list.params);
}

/** A key-notes table's id, as inLists compares with it (templates: `id bigint` or the brand's like). */
const NOTE_ID: ColumnSchema = { name: 'id', nativeType: 'bigint', family: 'bigint', nullable: false, default: null };
