/**
 * `dsync retry ID` and `dsync skip ID`: resolve one parked change, then release the
 * changes of the same row that waited behind it, in order. A released change that
 * fails again becomes the new head of the queue; the rest wait behind it.
 */
import type { Config } from '../../config/config.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { describeError, RuntimeError } from '../../core/errors.ts';
import { decodeChange } from './decode-change.ts';
import { applyDecoded, type ImportContext, importContext, INBOX_SELECT, manualReason, toInboxRow } from './import.ts';
import type { NodeHandle } from '../nodes.ts';
import { getParked, type ParkedChange, resolveParked, rowIdentity, waitingBehind } from './parking.ts';

export interface ResolveResult {
  id: number;
  action: 'retried' | 'skipped';
  /** Waiting changes of the same row applied after it. */
  released: number;
  /** Set when a released change failed and now heads the queue. */
  newlyParked: number | null;
}

async function loadInboxRow(client: DbClient, inboxId: number) {
  const { rows } = await client.query<Row>(`${INBOX_SELECT} WHERE id = ${client.dialect.sql.param(1)}`, [inboxId]);
  if (rows.length === 0) throw new RuntimeError('inbox_row_missing', `inbox row ${inboxId} is gone`, { hint: 'the parked change cannot be retried; skip it' });
  return toInboxRow(rows[0]);
}

/** Applies a parked change in a savepoint; returns the failure reason or null. */
async function tryApply(tx: DbClient, ctx: ImportContext, parked: ParkedChange, resolvingManual: boolean): Promise<string | null> {
  const row = await loadInboxRow(tx, parked.inboxId);
  try {
    const change = decodeChange(row, ctx.tables);
    const identity = rowIdentity(change.table, ctx.tables.get(change.table)!.primaryKey, change.key);
    const { status, conflict } = await applyDecoded(tx, ctx, row, change, identity, resolvingManual ? 'source-wins' : undefined);
    return status === 'manual' ? manualReason(conflict!) : null;
  } catch (error) {
    return describeError(error);
  }
}

export async function resolveParkedChange(config: Config, handle: NodeHandle, id: number, action: 'retry' | 'skip'): Promise<ResolveResult> {
  const { client, node } = handle;
  const parked = await getParked(client, id);
  if (!parked) throw new RuntimeError('not_parked', `node ${node.name} has no parked change ${id}`, { hint: `list them with \`dsync errors --node ${node.name}\`` });
  if (parked.status === 'waiting') {
    throw new RuntimeError('waiting', `parked change ${id} waits behind inbox id ${parked.blockedBy}; resolve that one first`, { hint: `see \`dsync errors --node ${node.name}\`` });
  }
  if (parked.status !== 'open') throw new RuntimeError('resolved', `parked change ${id} was already ${parked.status}`);
  const ctx = await importContext(config, handle, parked.programId);
  const result: ResolveResult = { id, action: action === 'retry' ? 'retried' : 'skipped', released: 0, newlyParked: null };
  let failure: string | null = null;
  await client.transaction(async (tx) => {
    if (action === 'retry') {
      failure = await tryApply(tx, ctx, parked, parked.reason.startsWith('conflict ('));
      if (failure) {
        await resolveParked(tx, id, 'open', { reason: failure, attempt: true });
        return;
      }
      await resolveParked(tx, id, 'retried', { attempt: true });
    } else await resolveParked(tx, id, 'skipped');
    const waiting = await waitingBehind(tx, parked.inboxId);
    for (const [i, next] of waiting.entries()) {
      const reason = await tryApply(tx, ctx, next, false);
      if (reason === null) {
        await resolveParked(tx, next.id, 'retried');
        result.released++;
        continue;
      }
      await resolveParked(tx, next.id, 'open', { reason, attempt: true });
      result.newlyParked = next.id;
      for (const rest of waiting.slice(i + 1)) await resolveParked(tx, rest.id, 'waiting', { blockedBy: next.inboxId });
      break;
    }
  });
  if (failure) {
    throw new RuntimeError('retry_failed', `parked change ${id} failed again: ${failure}`, { hint: `fix the cause and retry, or \`dsync skip ${id} --node ${node.name}\`` });
  }
  return result;
}
