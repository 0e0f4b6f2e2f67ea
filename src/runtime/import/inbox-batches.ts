/**
 * The import's read of the inbox, batch after batch: only the columns the import uses, as
 * arrays, the next batch read ahead of the current batch's transaction and prepared
 * (decoded) while that batch's statements run on the server.
 */
import type { InboxRow } from '../../core/change.ts';
import { type DbClient, queryArrays, type Row } from '../../core/dialect.ts';
import { RuntimeError } from '../../core/errors.ts';

/** ledgerStamp's two values as columns of another SELECT (the import's batch read). */
export const LEDGER_STAMP_COLUMNS =
  '(SELECT count(*) FROM ds_schema_migrations) AS ds_ledger_n, (SELECT max(applied_at) FROM ds_schema_migrations) AS ds_ledger_at';

export function stampOf(row: Row | undefined): string {
  const at = row?.ds_ledger_at;
  return `${String(row?.ds_ledger_n)}/${at instanceof Date ? at.toISOString() : String(at)}`;
}

/** An inbox value as text (a driver may return a number or a Date for some columns). */
export const text = (value: unknown): string | null =>
  typeof value === 'string' ? value : value === null || value === undefined ? null : String(value);

/**
 * The inbox columns a batch of the import reads (INBOX_SELECT's but object_database,
 * object_pk_attribute, object_attribute and note1, which nothing of the import reads),
 * as arrays (DbClient.queryArrays): 10,000 rows of 19 named fields per batch were the
 * a large part of the driver's work and of the import's garbage (docs/performance.md).
 */
export const BATCH_COLUMNS = [
  'id',
  'origin_change_id',
  'object_table',
  'object_id',
  'object_id_old',
  'object_value',
  'object_value_old',
  'object_operation',
  'object_operation_command',
  'updated_by_server_id',
  'updated_by_user_id',
  'update_datetime',
  'row_cl',
  'row_cl_old',
  'change_version',
] as const;

/** An inbox row as read in BATCH_COLUMNS order; the columns not read are null. One literal, as toInboxRow. */
export function batchInboxRow(v: readonly unknown[]): InboxRow {
  return {
    id: Number(v[0]),
    origin_change_id: Number(v[1]),
    object_database: null,
    object_table: text(v[2]),
    object_pk_attribute: null,
    object_attribute: null,
    object_id: text(v[3]),
    object_id_old: text(v[4]),
    object_value: text(v[5]),
    object_value_old: text(v[6]),
    object_operation: text(v[7]),
    object_operation_command: text(v[8]),
    updated_by_server_id: text(v[9]),
    updated_by_user_id: text(v[10]),
    update_datetime: text(v[11]),
    note1: null,
    row_cl: text(v[12]),
    row_cl_old: text(v[13]),
    change_version: text(v[14]),
  };
}

/**
 * What the import knows of a batch the server may merge (`light`) before the merge: how many
 * changes it holds and of which tables, counted by the database, not read. The rows the merge
 * leaves are read whole in the batch's transaction (inboxRowsOf): a batch the merge takes is
 * neither read nor decoded here, payloads, ids and keys included (reading ids, tables and keys
 * of 10,000 rows as objects cost ~14 ms a batch into SQLite, the count ~3–5; docs/performance.md).
 */
export interface Census {
  size: number;
  tables: ReadonlySet<string>;
}

/** Inbox ids per statement of inboxRowsOf (an IN list of bound ids). */
const IDS_PER_READ = 1000;

/** The inbox_changed fault: rows below the horizon read again are not those the batch counted or named. */
const inboxChanged = (what: string, found: number, expected: number) =>
  new RuntimeError('inbox_changed', `the inbox rows of ${what} read again are not those of the batch (${found} of ${expected} found)`, {
    hint: 'something deleted or rewrote inbox rows below the horizon during an import; run the import again',
  });

/** `found` rows read again over a light batch's range, as many as its census counted; else the inbox_changed fault. */
function asCounted<R>(found: R[], range: { from: number; to: number }, census: Census): R[] {
  if (found.length !== census.size) throw inboxChanged(`ids ${range.from + 1}..${range.to}`, found.length, census.size);
  return found;
}

/**
 * The whole inbox rows (BATCH_COLUMNS) of `ids` (those the merge left of a light batch,
 * ascending), in that order. The inbox below the horizon does not change under an import: a
 * row not found is a fault, not a change skipped.
 */
export async function inboxRowsOf(client: DbClient, ids: readonly number[]): Promise<InboxRow[]> {
  const rows: InboxRow[] = [];
  const p = client.dialect.sql.param;
  for (let i = 0; i < ids.length; i += IDS_PER_READ) {
    const some = ids.slice(i, i + IDS_PER_READ);
    const sql = `SELECT ${BATCH_COLUMNS.join(', ')} FROM ds_change_inbox WHERE id IN (${some.map((_, k) => p(k + 1)).join(', ')}) ORDER BY id`;
    for (const v of await queryArrays(client, sql, some, BATCH_COLUMNS)) rows.push(batchInboxRow(v));
  }
  if (rows.length !== ids.length || rows.some((r, i) => r.id !== ids[i]))
    throw inboxChanged(`ids ${ids[0]}..${ids[ids.length - 1]}`, rows.length, ids.length);
  return rows;
}

/** The whole inbox rows of a light batch, by one range read: as many as its census counted, else a fault (as inboxRowsOf). */
export async function inboxRowsIn(client: DbClient, range: { from: number; to: number }, census: Census): Promise<InboxRow[]> {
  const p = client.dialect.sql.param;
  const raw = await queryArrays(client, inboxBatchSelect(false)(p(1), p(2)), [range.from, range.to], BATCH_COLUMNS);
  return asCounted(raw, range, census).map(batchInboxRow);
}

/**
 * The ids, tables and keys of a light batch's rows, in id order, every other column null: what the import looks at
 * when a parked change blocks rows (those of the batch wait behind it) and when the merge left some of the batch
 * (to read those whole with inboxRowsOf); as many as its census counted, else a fault.
 */
export async function inboxKeysIn(client: DbClient, range: { from: number; to: number }, census: Census): Promise<InboxRow[]> {
  const p = client.dialect.sql.param;
  const sql = `SELECT id, object_table, object_id FROM ds_change_inbox WHERE id > ${p(1)} AND id <= ${p(2)} ORDER BY id`;
  const keys = await queryArrays(client, sql, [range.from, range.to], ['id', 'object_table', 'object_id']);
  return asCounted(keys, range, census).map((v) => ({
    id: Number(v[0]),
    origin_change_id: 0,
    object_database: null,
    object_table: text(v[1]),
    object_pk_attribute: null,
    object_attribute: null,
    object_id: text(v[2]),
    object_id_old: null,
    object_value: null,
    object_value_old: null,
    object_operation: null,
    object_operation_command: null,
    updated_by_server_id: null,
    updated_by_user_id: null,
    update_datetime: null,
    note1: null,
    row_cl: null,
    row_cl_old: null,
    change_version: null,
  }));
}

/** A row of inboxBatchSelect read as an object, as the arrays queryArrays returns. */
const rowValues = (row: Row): unknown[] => [...BATCH_COLUMNS, 'ds_ledger_n', 'ds_ledger_at'].map((c) => row[c]);

/** A batch of the inbox as inboxBatches hands it out. */
export interface InboxBatch<T> {
  /** Its rows; none when it is light. */
  rows: InboxRow[];
  upTo: number;
  /** The ledger's stamp, when the first batch brought it. */
  stamp: string | null;
  /** What `prepare` made of a batch read ahead, while the batch before it was written; null for a batch not read ahead or light. */
  prepared: Promise<T> | null;
  /** The batch was counted, not read (`rows` is empty; inboxRowsIn reads them whole). */
  light: Census | null;
}

/**
 * The SELECT of one batch of the inbox (BATCH_COLUMNS, and the ledger's stamp when `withStamp`),
 * its bounds given as SQL: what inboxBatches reads, and what readHorizonAndBatch reads as the
 * first batch where the brand reads it with the horizon.
 */
export const inboxBatchSelect =
  (withStamp: boolean) =>
  (after: string, upTo: string): string =>
    `SELECT ${BATCH_COLUMNS.join(', ')}${withStamp ? `, ${LEDGER_STAMP_COLUMNS}` : ''} FROM ds_change_inbox WHERE id > ${after} AND id <= ${upTo} ORDER BY id`;

/**
 * The inbox in batches from `pointer` up to `horizon`, as pointerBatches reads them, each
 * batch's rows as InboxRows. The next batch's read is sent as soon as a batch is handed out,
 * so it goes on the connection ahead of that batch's transaction (the inbox below the
 * horizon does not change under an import), and once its rows are here, `prepare` (the
 * decoding) works on them in the gaps while this batch's statements run on the server.
 * A batch read when `light()` says so (the server may merge it) is counted (Census), not read, nor
 * prepared; the first batch given (`first.rows`) is whole. `first` is a holder the generator
 * empties once it has taken the rows: a suspended generator keeps its parameters' registers, so
 * rows passed as a parameter (10,000 row objects) stayed alive for the whole pass (a heap snapshot
 * mid-import, bench/probes/import-live-heap.ts).
 */
export async function* inboxBatches<T>(
  client: DbClient,
  pointer: number,
  horizon: number,
  batchSize: number,
  withStamp: boolean,
  prepare: (rows: InboxRow[]) => Promise<T>,
  first: { rows: Row[] | null } = { rows: null },
  light: () => boolean = () => false,
): AsyncGenerator<InboxBatch<T>> {
  const p = client.dialect.sql.param;
  type Read = Omit<InboxBatch<T>, 'upTo'>;
  /** A batch as rows (the driver's arrays are not kept: they would live as long as the batch) or, `lightly`, counted. */
  const read = async (from: number, upTo: number, stamp: boolean, lightly: boolean): Promise<Read> => {
    const stampColumns = stamp ? `, ${LEDGER_STAMP_COLUMNS}` : '';
    if (lightly) {
      const sql = `SELECT object_table, count(*) AS n${stampColumns} FROM ds_change_inbox WHERE id > ${p(1)} AND id <= ${p(2)} GROUP BY object_table`;
      const groups = (await client.query<Row>(sql, [from, upTo])).rows;
      const census = { size: groups.reduce((n, g) => n + Number(g.n), 0), tables: new Set(groups.map((g) => text(g.object_table) ?? '')) };
      return { rows: [], stamp: stamp && groups.length > 0 ? stampOf(groups[0]) : null, prepared: null, light: census };
    }
    const names = stamp ? [...BATCH_COLUMNS, 'ds_ledger_n', 'ds_ledger_at'] : BATCH_COLUMNS;
    const raw = await queryArrays(client, inboxBatchSelect(stamp)(p(1), p(2)), [from, upTo], names);
    return asRead(raw, stamp);
  };
  const asRead = (raw: unknown[][], stamp: boolean): Read => {
    const width = BATCH_COLUMNS.length;
    const at = stamp && raw.length > 0 ? stampOf({ ds_ledger_n: raw[0][width], ds_ledger_at: raw[0][width + 1] }) : null;
    const rows = new Array<InboxRow>(raw.length);
    for (let i = 0; i < raw.length; i++) rows[i] = batchInboxRow(raw[i]);
    return { rows, stamp: at, prepared: null, light: null };
  };
  let stampFirst = withStamp;
  let ahead: Promise<Read> | null = null;
  while (pointer < horizon) {
    let upTo = Math.min(horizon, pointer + batchSize);
    // The first batch may have come with the horizon (inboxBatchSelect's columns, as objects).
    const got = ahead
      ? await ahead
      : first.rows
        ? asRead(first.rows.map(rowValues), stampFirst)
        : await read(pointer, upTo, stampFirst, light());
    ahead = null;
    first.rows = null;
    stampFirst = false;
    if ((got.light ? got.light.size : got.rows.length) === 0) {
      const next = await client.query<Row>(`SELECT min(id) AS id FROM ds_change_inbox WHERE id > ${p(1)} AND id <= ${p(2)}`, [
        upTo,
        horizon,
      ]);
      upTo = next.rows[0].id === null ? horizon : Number(next.rows[0].id) - 1;
    } else if (upTo < horizon) {
      ahead = read(upTo, Math.min(horizon, upTo + batchSize), false, light()).then((next) => {
        if (next.light) return next;
        const prepared = prepare(next.rows);
        prepared.catch(() => undefined); // awaited with the batch, or dropped with the pass
        return { ...next, prepared };
      });
      ahead.catch(() => undefined); // its failure goes up where it is awaited, if it is
    }
    yield { ...got, upTo };
    pointer = upTo;
  }
}
