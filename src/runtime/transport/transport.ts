/**
 * Transport (the seed's program 1000): outbox rows past the pointer, up to the safe
 * horizon, into the destination's inbox in batches; then the pointer moves. A crash
 * between the two resends the batch, which the inbox's unique origin key absorbs
 * (guarantees 1 and 3, docs/guarantees.md). A change is never sent to the node it came from (guarantee 4).
 */
import type { ProgramConfig } from '../../config/config.ts';
import { boundedServerId } from '../../core/bounded-text.ts';
import { CHANGE_ROW_COLUMNS } from '../../core/change.ts';
import { type DbClient, queryArrays, type Row } from '../../core/dialect.ts';
import { normalizeChangeTime } from '../import/decode-change.ts';
import { BATCH_COLUMNS } from '../import/inbox-batches.ts';
import { type NodeHandle, requireSyncObjects } from '../nodes.ts';
import {
  forgetPointer,
  pointerBatches,
  programPointer,
  readHorizonAndBatch,
  refusePointerAhead,
  saveKeptProgramState,
  saveProgramState,
} from '../program-state.ts';
import { writeRows } from '../import/row-writer.ts';
import { CopyTextWriter } from './copy-text-writer.ts';
import {
  type CopyBatch,
  canCopyOut,
  copyBatchValues,
  type CopyOutClient,
  copyTextRows,
  OutboxCopyReader,
  recycleCopyBatch,
} from './outbox-copy.ts';

export const INBOX_COLUMNS = [...CHANGE_ROW_COLUMNS, 'origin_change_id'] as const;

/** The SELECT of outbox rows in (after, upTo], in id order (both SQL expressions). */
const outboxBatchSelect = (after: string, upTo: string) =>
  `SELECT id, ${CHANGE_ROW_COLUMNS.join(', ')}, origin_change_id FROM ds_change_outbox WHERE id > ${after} AND id <= ${upTo} ORDER BY id`;

/** The SELECT of outbox rows in (pointer, upTo], in id order; shared with the NATS publish half. */
export function outboxBatchSql(client: DbClient): string {
  const p = client.dialect.sql.param;
  return outboxBatchSelect(p(1), p(2));
}

/** The columns of outboxBatchSelect, in order: the id, then INBOX_COLUMNS. */
export const OUTBOX_BATCH_COLUMNS = ['id', ...INBOX_COLUMNS] as const;
const SERVER_AT = INBOX_COLUMNS.indexOf('updated_by_server_id');
const TIME_AT = INBOX_COLUMNS.indexOf('update_datetime');
const ORIGIN_AT = INBOX_COLUMNS.indexOf('origin_change_id');

/**
 * An outbox row as inbox values (INBOX_COLUMNS order) from its values in OUTBOX_BATCH_COLUMNS order
 * (the driver's array rows: no object per row): a row without origin came from `sourceServerId`.
 */
export function inboxValuesOf(row: readonly unknown[], sourceServerId: string): unknown[] {
  return inboxValuesInto(row, sourceServerId, new Array<unknown>(INBOX_COLUMNS.length));
}

/** inboxValuesOf into `out` (INBOX_COLUMNS.length long), which it returns: one array for a whole batch (outboxRowsAsCopy). */
function inboxValuesInto(row: readonly unknown[], sourceServerId: string, out: unknown[]): unknown[] {
  for (let i = 0; i < out.length; i++) {
    const value = row[i + 1];
    out[i] = value === null || value === undefined ? null : String(value);
  }
  // The server id is part of the inbox's dedupe key (64 characters): a longer one is
  // mapped to a bounded form, the same on every resend, so the resend still dedupes.
  out[SERVER_AT] = boundedServerId((row[SERVER_AT + 1] as string | null | undefined) ?? sourceServerId);
  const origin = row[ORIGIN_AT + 1];
  out[ORIGIN_AT] = origin === null ? Number(row[0]) : Number(origin);
  out[TIME_AT] = normalizeChangeTime(row[TIME_AT + 1]);
  return out;
}

/** An outbox row (an object of OUTBOX_BATCH_COLUMNS) as inbox values (INBOX_COLUMNS order): inboxValuesOf. */
export function toInboxValues(row: Row, sourceServerId: string): unknown[] {
  const values = OUTBOX_BATCH_COLUMNS.map((column) => row[column]);
  return inboxValuesOf(values, sourceServerId);
}

/**
 * Outbox rows (the driver's arrays, OUTBOX_BATCH_COLUMNS order) as inbox rows in COPY's text format
 * (copy-text-writer.ts), rows from `targetServerId` skipped (guarantee 4): the values are
 * inboxValuesOf's, so the destination gets the bytes the path that binds them would send.
 */
function outboxRowsAsCopy(rows: readonly unknown[][], sourceServerId: string, echo: string): CopyBatch {
  const writer = new CopyTextWriter();
  const values = new Array<unknown>(INBOX_COLUMNS.length);
  let skippedEcho = 0;
  for (const row of rows) {
    inboxValuesInto(row, sourceServerId, values);
    if (values[SERVER_AT] === echo) skippedEcho++;
    else writer.row(values);
  }
  const { text, backing } = writer.finish();
  return { length: rows.length, rows: rows.length - skippedEcho, skippedEcho, text, backing, utf8: true };
}

/** Most rows of a batch handed to the import the transport wakes (transportOnce's onMoved): a change that comes alone, or a few. */
const HAND_OVER_AT_MOST = 64;

/**
 * What a direct transport tells the daemon after a commit that wrote the destination's inbox:
 * whether it was the pass's last batch, and the inbox rows that commit inserted (their import's
 * batch columns as the inbox reads them; not the resent duplicates it skipped), where the brand
 * returns them and the batch is small: the import it wakes may start from them (importOnce's
 * `handed`).
 */
export interface MovedBatch {
  last: boolean;
  rows?: Row[];
}

/**
 * What a direct transport tells the daemon before it writes a small batch to the destination's
 * inbox where the brand returns the inserted rows (transportOnce's onSending): the rows as the
 * inbox will hold them but for their ids (inboxRowsOf), and the rows the write returns once it
 * has committed (undefined when it failed). The import it wakes may begin its batch's
 * transaction meanwhile (importOnce's `sending`).
 */
export interface SendingBatch {
  rows: Row[];
  inserted: Promise<Row[] | undefined>;
}

/** Inbox values (INBOX_COLUMNS order, toInboxValues) as the import's batch columns would read them back, without the id. */
export function inboxRowsOf(values: readonly unknown[][]): Row[] {
  return values.map((v) => {
    const row: Row = {};
    INBOX_COLUMNS.forEach((column, i) => {
      row[column] = v[i] === null || v[i] === undefined ? null : String(v[i]);
    });
    return row;
  });
}

export interface TransportResult {
  program: number;
  /** Rows written to the inbox (resent duplicates included). */
  moved: number;
  /** Rows not sent because they came from the destination. */
  skippedEcho: number;
  pointer: number;
  horizon: number;
  /** Committed rows above the horizon: waiting for a transaction that took a lower id to end. */
  heldBack: number;
}

/** Committed rows of `table` above `horizon`. */
export async function countAbove(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox', horizon: number): Promise<number> {
  const { rows } = await client.query<Row>(`SELECT count(*) AS n FROM ${table} WHERE id > ${client.dialect.sql.param(1)}`, [horizon]);
  return Number(rows[0].n);
}

/**
 * The batches of `batches`, the next one read while the caller writes the current one:
 * source and destination are two connections, so the read and the write overlap. At
 * most two batches are held at once.
 */
export async function* readAhead<T>(batches: AsyncGenerator<T>): AsyncGenerator<T> {
  let next = batches.next();
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = batches.next();
      // A failed read ahead surfaces when it is awaited, not as an unhandled rejection meanwhile.
      next.catch(() => undefined);
      yield current.value;
    }
  } finally {
    await next.catch(() => undefined);
    await batches.return(undefined);
  }
}

/** Outbox rows in (after, upTo] as inbox rows in COPY's text format (outbox-copy.ts). */
export async function readOutboxCopy(
  client: CopyOutClient,
  after: number,
  upTo: number,
  sourceServerId: string,
  targetServerId: string,
): Promise<CopyBatch> {
  const reader = new OutboxCopyReader(sourceServerId, targetServerId);
  // Bounds as literals (COPY takes no parameters): integers from the pointer loop.
  if (!Number.isSafeInteger(after) || !Number.isSafeInteger(upTo))
    throw new Error(`outbox batch bounds ${after}, ${upTo} are not integers`);
  await client.copyQueryOut(outboxBatchSelect(String(after), String(upTo)), (bytes) => reader.add(bytes));
  return reader.finish();
}

/** A COPY batch's inbox rows as values (INBOX_COLUMNS), its bytes decoded as UTF-8 when they are not (the driver's path does the same). */
export const copyInboxValues = (batch: CopyBatch): unknown[][] =>
  batch.utf8 ? copyBatchValues(batch.text) : copyBatchValues(batch.text.map((piece) => Buffer.from(piece.toString('utf8'))));

/** Rows of a COPY batch made into values at once where the destination's brand does not take the text (writeInboxCopy). */
const VALUES_AT_ONCE = 1000;

/**
 * A COPY batch into the inbox as the destination's brand takes the text (BulkWriter.insertCopyText),
 * atomic by itself. Where the brand takes no text, or the text wrote nothing (a resent change
 * refused by the inbox's unique origin key, a value its load would bend, a small batch), the batch
 * is written by the path that binds values and skips the rows already there (guarantee 3,
 * docs/guarantees.md), in one transaction, its values made a thousand rows at a time: the batch
 * waits as bytes, not as a value per field (docs/performance.md, "the transport into SQLite").
 */
async function writeInboxCopy(target: NodeHandle, batch: CopyBatch): Promise<void> {
  const copied = await target.dialect.bulk?.insertCopyText?.(target.client, 'ds_change_inbox', INBOX_COLUMNS, batch.text, batch.rows);
  if (copied) return;
  await target.client.transaction((tx) => writeCopyValues(tx, batch.text));
}

/** COPY text's rows into the inbox by the path that binds values (skipping the rows already there), made a thousand at a time, in `tx`. */
export async function writeCopyValues(tx: DbClient, text: readonly Buffer[]): Promise<void> {
  let chunk: unknown[][] = [];
  for (const row of copyTextRows(text)) {
    chunk.push(row);
    if (chunk.length < VALUES_AT_ONCE) continue;
    await writeRows(tx, 'ds_change_inbox', INBOX_COLUMNS, chunk, true);
    chunk = [];
  }
  await writeRows(tx, 'ds_change_inbox', INBOX_COLUMNS, chunk, true);
}

/**
 * One pass. `onSending` is called when a small batch's inbox write has been sent (SendingBatch),
 * `onMoved` after each commit that wrote the destination's inbox,
 * before the pointer is saved: the daemon wakes the destination's import there rather
 * than at the end of the pass. After the pass's last batch (`last`), the rest of the pass
 * (the flush, the pointer, the held-back count) waits for what it returns: the daemon lets
 * the import it woke run its pass first, so the two do not compete for the CPU. The pointer
 * still moves only after the flush; it moves later, which only widens what a crash resends.
 */
export async function transportOnce(
  program: ProgramConfig,
  source: NodeHandle,
  target: NodeHandle,
  onMoved?: (moved: MovedBatch) => Promise<void> | void,
  onSending?: (sending: SendingBatch) => void,
): Promise<TransportResult> {
  const src = source.client;
  // The pointer kept from the last pass (a compare-and-set moves it: see keptPointers), else read.
  const start = await programPointer(src, program, source.node.name);
  await requireSyncObjects(source, ['ds_change_outbox', 'ds_row_version']);
  await requireSyncObjects(target, ['ds_change_inbox', 'ds_row_version']);
  // Batches as COPY text wherever the source can COPY out (outbox-copy.ts): passed through where the
  // destination's brand takes the text, else made into values a chunk at a time (writeInboxCopy).
  const copyOut = canCopyOut(src) ? src : null;
  // The first batch comes with the horizon where the brand reads both in one round trip. With COPY,
  // only a small one (the daemon hands it to the import, HAND_OVER_AT_MOST): a larger one is read
  // again by COPY, which costs the client less than the driver's rows (docs/performance.md).
  const { horizon, rows: read } = await readHorizonAndBatch(
    src,
    'ds_change_outbox',
    copyOut ? (after, upTo) => `${outboxBatchSelect(after, upTo)} ${src.dialect.sql.limit(HAND_OVER_AT_MOST + 1)}` : outboxBatchSelect,
    start,
    program.batchSize,
  );
  const first = copyOut && read !== null && read.length > HAND_OVER_AT_MOST ? null : read;
  await refusePointerAhead(src, program.id, 'ds_change_outbox', start, horizon);
  const sql = outboxBatchSql(src);
  const echo = boundedServerId(target.node.serverId);
  // Else as arrays (queryArrays): no object per outbox row; into a destination that takes COPY text,
  // made into that text as they come (outboxRowsAsCopy), but for a batch handed to the import.
  const copyIn = !copyOut && target.dialect.bulk?.insertCopyText !== undefined;
  const readArrays = (after: number, upTo: number) => queryArrays(src, sql, [after, upTo], OUTBOX_BATCH_COLUMNS);
  const select = copyOut
    ? (after: number, upTo: number) => readOutboxCopy(copyOut, after, upTo, source.node.serverId, target.node.serverId)
    : copyIn
      ? async (after: number, upTo: number) => {
          const rows = await readArrays(after, upTo);
          return onMoved && rows.length <= HAND_OVER_AT_MOST ? rows : outboxRowsAsCopy(rows, source.node.serverId, echo);
        }
      : readArrays;
  const result: TransportResult = { program: program.id, moved: 0, skippedEcho: 0, pointer: start, horizon, heldBack: 0 };
  try {
    let pointer = start;
    const batches = pointerBatches<Row[] | unknown[][] | CopyBatch>(
      src,
      'ds_change_outbox',
      select,
      pointer,
      horizon,
      program.batchSize,
      first,
    );
    for await (const { rows: batch, upTo } of readAhead(batches)) {
      let values: unknown[][] = [];
      let copy: CopyBatch | null = null;
      if (!Array.isArray(batch)) {
        result.skippedEcho += batch.skippedEcho;
        // A batch handed to the import, or bytes that are not UTF-8, take the path that binds values.
        if (batch.utf8 && !(onMoved && batch.rows <= HAND_OVER_AT_MOST)) copy = batch;
        else values = copyInboxValues(batch);
      } else
        for (const row of batch) {
          // Arrays, or objects where the first batch came with the horizon.
          const inbox = Array.isArray(row) ? inboxValuesOf(row, source.node.serverId) : toInboxValues(row, source.node.serverId);
          if (inbox[SERVER_AT] === echo) {
            result.skippedEcho++;
            continue;
          }
          values.push(inbox);
        }
      const count = copy ? copy.rows : values.length;
      if (copy && count > 0) {
        await writeInboxCopy(target, copy);
        recycleCopyBatch(copy);
        await onMoved?.({ last: upTo >= horizon });
        if (target.lazyCommits) await target.dialect.lazyCommits?.flush(target.client);
      } else if (values.length > 0) {
        // A small batch's inserted rows come back for the import this transport wakes (MovedBatch).
        const returning =
          onMoved && values.length <= HAND_OVER_AT_MOST
            ? target.dialect.sql.insertIgnoringDuplicatesReturning?.('ds_change_inbox', INBOX_COLUMNS, values.length, BATCH_COLUMNS)
            : undefined;
        const write = async (c: DbClient): Promise<Row[] | undefined> => {
          if (returning === undefined) return void (await writeRows(c, 'ds_change_inbox', INBOX_COLUMNS, values, true));
          return (await c.query<Row>(returning, values.flat())).rows;
        };
        // One row is one INSERT, atomic by itself: no BEGIN and COMMIT round trips for a change that comes alone.
        const writing = values.length === 1 ? write(target.client) : target.client.transaction(write);
        if (returning !== undefined) onSending?.({ rows: inboxRowsOf(values), inserted: writing.catch(() => undefined) });
        const inserted = await writing;
        await onMoved?.({ last: upTo >= horizon, rows: inserted });
        // Lazy commits: the rows are on the destination's disk before the pointer says they were sent.
        if (target.lazyCommits) await target.dialect.lazyCommits?.flush(target.client);
      }
      result.moved += count;
      // Another writer moved the pointer during the pass: what was sent is absorbed by the inbox's dedupe; the next pass reads the row.
      if (!(await saveKeptProgramState(src, program.id, pointer, { pointer: upTo, status: 'ok', message: `moved ${result.moved}` }))) break;
      pointer = upTo;
    }
    result.pointer = pointer;
    result.heldBack = await countAbove(src, 'ds_change_outbox', horizon);
    if (pointer === start) await saveKeptProgramState(src, program.id, start, { status: 'ok', message: 'nothing to move' });
    return result;
  } catch (error) {
    forgetPointer(src, program.id);
    await saveProgramState(src, program.id, { status: 'error', message: (error as Error).message }).catch(() => undefined);
    throw error;
  }
}
