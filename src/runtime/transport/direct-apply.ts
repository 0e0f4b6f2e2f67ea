/**
 * The transport into a directApply node (docs/convergence.md#direct-apply): each batch of the
 * source's outbox is applied to the node's tables by this transport, in one transaction with
 * the transport's own record on that node of what it delivered (its ds_program_parameter row
 * there, "the mark"), with no inbox write and no inbox read. A batch the direct apply refuses
 * (applyDirect: a change would park or wait, or the inbox holds changes not yet imported) is
 * written into the inbox instead, in a transaction that moves the mark too, and the node's import
 * takes it as always; the rest of the pass goes there as well. Into a node whose import merges a
 * large batch on the server (SQLite by default: server-merge.ts), a pass with a backlog writes it to
 * the inbox from its first batch, as that merge is the faster there; a batch too small for the
 * merge is applied directly.
 *
 * The mark, not the source's pointer, says what was delivered: every delivery (applied or written
 * to the inbox) moves it by compare-and-set in the delivery's own transaction, so a batch is
 * delivered once whatever fails between the two databases, and a second transport pass of the same
 * program stops at the first batch the other delivered. The source's pointer follows after each
 * delivery (a crash between the two leaves it behind, and the next pass starts from the mark), and
 * only after the delivery is on the node's disk: a purge of the source's outbox goes by it.
 */
import type { Config, TransportProgram } from '../../config/config.ts';
import { boundedServerId } from '../../core/bounded-text.ts';
import type { InboxRow } from '../../core/change.ts';
import { type DbClient, queryArrays } from '../../core/dialect.ts';
import { normalizeChangeTime } from '../import/decode-change.ts';
import { applyDirect, type DirectBatch, decodeDirect, importContext } from '../import/import.ts';
import { BATCH_COLUMNS, batchInboxRow } from '../import/inbox-batches.ts';
import { writeRows } from '../import/row-writer.ts';
import { SERVER_MERGE_AT_LEAST, serverMergeMay, serverMergeOn } from '../import/server-merge.ts';
import { type NodeHandle, requireSyncObjects } from '../nodes.ts';
import {
  forgetPointer,
  keepPointer,
  pointerBatches,
  programPointer,
  readHorizonAndBatch,
  refusePointerAhead,
  saveKeptProgramState,
  saveProgramState,
} from '../program-state.ts';
import { type CopyBatch, canCopyOut, recycleCopyBatch } from './outbox-copy.ts';
import {
  copyInboxValues,
  countAbove,
  INBOX_COLUMNS,
  inboxValuesOf,
  type MovedBatch,
  OUTBOX_BATCH_COLUMNS,
  outboxBatchSql,
  readAhead,
  readOutboxCopy,
  type TransportResult,
  writeCopyValues,
} from './transport.ts';

/**
 * The outbox columns a direct batch reads: the import's (BATCH_COLUMNS), the id the outbox id; not the
 * ones nothing of the import reads, which only a batch written to the inbox needs (read again then).
 */
const directBatchSelect = (after: string, upTo: string) =>
  `SELECT ${BATCH_COLUMNS.join(', ')} FROM ds_change_outbox WHERE id > ${after} AND id <= ${upTo} ORDER BY id`;

const ORIGIN_AT = BATCH_COLUMNS.indexOf('origin_change_id');
const TIME_AT = BATCH_COLUMNS.indexOf('update_datetime');

/** An outbox row (BATCH_COLUMNS order) as the import reads its inbox row: the values the transport would have written (inboxValuesOf). */
function asInboxRow(values: readonly unknown[], sourceServerId: string): InboxRow {
  const row = batchInboxRow(values);
  // A change captured at the source has no origin of its own: its outbox id is it (as inboxValuesOf).
  if (values[ORIGIN_AT] === null || values[ORIGIN_AT] === undefined) row.origin_change_id = row.id;
  row.updated_by_server_id = boundedServerId(row.updated_by_server_id ?? sourceServerId);
  // A text is left as the source spelled it (decodeChange reads any spelling); a Date the driver made is spelled as the transport would.
  const time = values[TIME_AT];
  if (typeof time !== 'string') row.update_datetime = normalizeChangeTime(time);
  return row;
}

const SERVER_AT = INBOX_COLUMNS.indexOf('updated_by_server_id');

/** A batch of the source's outbox: how many rows it read, the changes it carries for the node, decoded for applyDirect. */
interface OutboxBatch {
  length: number;
  changes: number;
  skippedEcho: number;
  decoded: Promise<DirectBatch> | null;
  /** The batch as inbox values (INBOX_COLUMNS), when it was read for the inbox. */
  values?: unknown[][];
  /** Or as COPY text (UTF-8), when it was read for the inbox by COPY: made into values a thousand rows at a time as it is written. */
  copy?: CopyBatch;
}

/** Another pass of this program delivered the batch first (the mark was not where this pass left it). */
class MarkMoved extends Error {}

export interface DirectTransportResult extends TransportResult {
  /** Changes applied to the node's tables by the transport itself. */
  applied: number;
  /** Changes written into the node's inbox for its import (a refused batch and the rest of its pass). */
  inboxed: number;
  /** Conflicts the changes applied here met and recorded (ds_change_conflict, inbox_id 0). */
  conflicts: number;
}

/**
 * One pass of the transport `program` into directApply node `target`. `onMoved` is called after a
 * commit that wrote the node's inbox (the daemon wakes the import there), as transportOnce's.
 */
export async function directTransportOnce(
  config: Config,
  program: TransportProgram,
  source: NodeHandle,
  target: NodeHandle,
  onMoved?: (moved: MovedBatch) => Promise<void> | void,
): Promise<DirectTransportResult> {
  const src = source.client;
  const dst = target.client;
  const importer = config.programs.find((p) => p.type === 'import' && p.node === target.node.name);
  if (!importer) throw new Error(`node ${target.node.name} has no import program (the config check requires one)`);
  await requireSyncObjects(source, ['ds_change_outbox', 'ds_row_version']);
  await requireSyncObjects(target, ['ds_change_inbox', 'ds_row_version']);
  const sent = await programPointer(src, program, source.node.name);
  let mark = await programPointer(dst, program, target.node.name);
  // The mark is ahead after a crash between a delivery and the source's pointer; the source's pointer is
  // ahead when the node took its changes through the inbox before it was directApply (the inbox dedupes those).
  const start = Math.max(sent, mark);
  // Into a node whose import may merge on the server, the first batch read with the horizon is cut at the size that
  // sends a backlog to the inbox: a smaller one is whole and applied here; a backlog is read again for the inbox.
  const cut = serverMergeOn(dst.dialect) ? SERVER_MERGE_AT_LEAST : null;
  const { horizon, rows: firstRows } = await readHorizonAndBatch(
    src,
    'ds_change_outbox',
    cut === null ? directBatchSelect : (after, upTo) => `${directBatchSelect(after, upTo)} ${src.dialect.sql.limit(cut)}`,
    start,
    program.batchSize,
  );
  const read = firstRows !== null && (cut === null || firstRows.length < cut) ? firstRows : null;
  await refusePointerAhead(src, program.id, 'ds_change_outbox', start, horizon);
  const echo = boundedServerId(target.node.serverId);
  // The import's context for the pass, once there is something to apply.
  const ctx = horizon > start ? await importContext(config, target, importer.id, false) : null;
  // Where the node's import merges a large batch on the server (serverMergeMay: SQLite's default), that merge
  // of the inbox is faster than the planner this transport applies with (docs/performance.md, "direct apply on
  // any node"): a backlog goes through the inbox, and only a batch too small for the merge is applied here.
  let inboxing = ctx !== null && serverMergeMay(dst.dialect, ctx, read?.length ?? Math.min(horizon - start, program.batchSize));
  /** A batch's rows as the import reads inbox rows, decoded a slice at a time (beside the batch before, when read ahead). */
  const prepare = (raw: readonly unknown[][]): OutboxBatch => {
    const rows: InboxRow[] = [];
    let skippedEcho = 0;
    for (const values of raw) {
      const row = asInboxRow(values, source.node.serverId);
      if (row.updated_by_server_id === echo) skippedEcho++;
      else rows.push(row);
    }
    const decoded = ctx && rows.length > 0 && !inboxing ? decodeDirect(ctx, rows) : null;
    decoded?.catch(() => undefined); // awaited with its batch, or dropped with the pass
    return { length: raw.length, changes: rows.length, skippedEcho, decoded };
  };
  /** A batch's rows as the transport writes them into the inbox (all of the outbox's columns), by COPY where the source has it (as transportOnce reads). */
  const copyOut = canCopyOut(src) ? src : null;
  const inboxBatch = async (after: number, upTo: number): Promise<OutboxBatch> => {
    if (copyOut) {
      const copy = await readOutboxCopy(copyOut, after, upTo, source.node.serverId, target.node.serverId);
      const batch = { length: copy.length, changes: copy.rows, skippedEcho: copy.skippedEcho, decoded: null };
      if (copy.utf8) return { ...batch, copy };
      const values = copyInboxValues(copy);
      recycleCopyBatch(copy);
      return { ...batch, values };
    }
    const raw = await queryArrays(src, outboxBatchSql(src), [after, upTo], OUTBOX_BATCH_COLUMNS);
    const values = raw.map((row) => inboxValuesOf(row, source.node.serverId)).filter((v) => v[SERVER_AT] !== echo);
    return { length: raw.length, changes: values.length, skippedEcho: raw.length - values.length, decoded: null, values };
  };
  const first = read === null || inboxing ? null : prepare(read.map((row) => BATCH_COLUMNS.map((c) => row[c])));
  const select = directBatchSelect(src.dialect.sql.param(1), src.dialect.sql.param(2));
  const readBatch = async (after: number, upTo: number) =>
    inboxing ? inboxBatch(after, upTo) : prepare(await queryArrays(src, select, [after, upTo], BATCH_COLUMNS));
  const result: DirectTransportResult = {
    program: program.id,
    moved: 0,
    skippedEcho: 0,
    pointer: start,
    horizon,
    heldBack: 0,
    applied: 0,
    inboxed: 0,
    conflicts: 0,
  };
  let pointer = start;
  let sourcePointer = sent;
  try {
    for await (const { rows: batch, upTo } of readAhead(
      pointerBatches(src, 'ds_change_outbox', readBatch, pointer, horizon, program.batchSize, first),
    )) {
      result.skippedEcho += batch.skippedEcho;
      const changes = batch.changes;
      const moveMark = async (tx: DbClient) => {
        const message = `delivered ${result.moved + changes}`;
        if (!(await saveProgramState(tx, program.id, { pointer: upTo, status: 'ok', message, expect: mark }))) throw new MarkMoved();
      };
      let direct = false;
      let conflicts = 0;
      if (batch.decoded && !inboxing) {
        const decoded = await batch.decoded;
        try {
          await dst.transaction(async (tx) => {
            await moveMark(tx);
            ({ conflicts } = await applyDirect(tx, decoded));
          });
          direct = true;
        } catch (error) {
          if (error instanceof MarkMoved || dst.lost) throw error;
          // Refused, or a write failed: the inbox takes the batch, and the import decides it change by change.
          inboxing = true;
        }
      }
      if (!direct) {
        // Read again for the inbox when it was read for a direct apply (that read left columns out).
        const rows = batch.values || batch.copy ? batch : changes > 0 ? await inboxBatch(pointer, upTo) : null;
        await dst.transaction(async (tx) => {
          await moveMark(tx);
          if (rows?.copy) await writeCopyValues(tx, rows.copy.text);
          else if (rows?.values && rows.values.length > 0) await writeRows(tx, 'ds_change_inbox', INBOX_COLUMNS, rows.values, true);
        });
        if (rows?.copy) recycleCopyBatch(rows.copy);
      }
      mark = upTo;
      keepPointer(dst, program.id, upTo);
      // The delivery on the node's disk before the source's pointer says it was delivered (a purge of the source goes by it).
      if (target.lazyCommits) await target.dialect.lazyCommits?.flush(dst);
      if (direct) {
        result.applied += changes;
        result.conflicts += conflicts;
      } else if (changes > 0) {
        // The import takes the inbox's changes before a direct apply may follow them (applyDirect): the rest of the pass goes there too.
        inboxing = true;
        result.inboxed += changes;
        await onMoved?.({ last: upTo >= horizon });
      }
      result.moved += changes;
      pointer = upTo;
      // Another pass moved the source's pointer: the mark keeps what this one delivered; the next pass starts from there.
      if (!(await saveKeptProgramState(src, program.id, sourcePointer, { pointer: upTo, status: 'ok', message: `moved ${result.moved}` })))
        break;
      sourcePointer = upTo;
    }
    result.pointer = pointer;
    result.heldBack = await countAbove(src, 'ds_change_outbox', horizon);
    // A source pointer a crash left behind the mark catches up here too (what the mark delivered was applied).
    if (pointer === start)
      await saveKeptProgramState(src, program.id, sourcePointer, { pointer: start, status: 'ok', message: 'nothing to move' });
    return result;
  } catch (error) {
    forgetPointer(src, program.id);
    forgetPointer(dst, program.id);
    if (error instanceof MarkMoved) {
      result.pointer = pointer;
      result.heldBack = await countAbove(src, 'ds_change_outbox', horizon);
      return result;
    }
    await saveProgramState(src, program.id, { status: 'error', message: (error as Error).message }).catch(() => undefined);
    throw error;
  }
}
