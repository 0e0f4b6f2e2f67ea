/**
 * `dsync retry ID` and `dsync skip ID`: resolve the head of a row's chain of parked
 * changes, then release the changes that waited behind it, in order. A released change
 * that fails again becomes the new head; the rest wait behind it. Runs under the same
 * lock as the import's batches (lockParking), so a pass cannot add to a chain while it
 * is being released.
 */
import type { Config } from '../../config/config.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { describeError, RuntimeError } from '../../core/errors.ts';
import { decodeChange } from './decode-change.ts';
import { recordDecision } from './manual-decision.ts';
import { applyDecoded, type ImportContext, importContext, INBOX_SELECT, kindOf, manualReason, toInboxRow } from './import.ts';
import type { NodeHandle } from '../nodes.ts';
import { getParked, headOf, lockParking, type ParkedChange, resolveParked, rowIdentity, waitingBehind } from './parking.ts';

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
  if (rows.length === 0)
    throw new RuntimeError('inbox_row_missing', `inbox row ${inboxId} is gone`, { hint: 'the parked change cannot be retried; skip it' });
  return toInboxRow(rows[0]);
}

/**
 * Applies a parked change in a savepoint; returns the failure (reason and kind) or null.
 * A transient failure is thrown: the whole retry rolls back and nothing is marked.
 */
async function tryApply(
  tx: DbClient,
  ctx: ImportContext,
  parked: ParkedChange,
  resolvingManual: boolean,
): Promise<{ reason: string; kind: string } | null> {
  const row = await loadInboxRow(tx, parked.inboxId);
  try {
    const change = decodeChange(row, ctx.tables, ctx.keepsVersions);
    const identity = rowIdentity(change.table, ctx.tables.get(change.table)!.primaryKey, change.key);
    const { status, conflict } = await applyDecoded(tx, ctx, row, change, identity, resolvingManual ? 'source-wins' : undefined);
    return status === 'manual' ? { reason: manualReason(conflict!), kind: 'conflict_manual' } : null;
  } catch (error) {
    if (tx.dialect.isTransient(error)) throw error;
    return { reason: describeError(error), kind: kindOf(error, 'apply_failed') };
  }
}

async function refuseWaiting(client: DbClient, node: string, parked: ParkedChange): Promise<never> {
  const head = await headOf(client, parked);
  const which = head ? `parked change ${head.id} (inbox id ${head.inboxId})` : `inbox id ${parked.blockedBy}`;
  throw new RuntimeError(
    'waiting',
    `parked change ${parked.id} waits behind ${which} for the same row; resolve that one first and this one follows`,
    {
      hint: head
        ? `\`dsync retry ${head.id} --node ${node}\` or \`dsync skip ${head.id} --node ${node}\``
        : `see \`dsync errors --node ${node}\``,
      head: head?.id ?? null,
    },
  );
}

export async function resolveParkedChange(
  config: Config,
  handle: NodeHandle,
  id: number,
  action: 'retry' | 'skip',
): Promise<ResolveResult> {
  const { client, node } = handle;
  const first = await getParked(client, id);
  if (!first)
    throw new RuntimeError('not_parked', `node ${node.name} has no parked change ${id}`, {
      hint: `list them with \`dsync errors --node ${node.name}\``,
    });
  if (first.status === 'waiting') await refuseWaiting(client, node.name, first);
  if (first.status !== 'open') throw new RuntimeError('resolved', `parked change ${id} was already ${first.status}`);
  const ctx = await importContext(config, handle, first.programId);
  const result: ResolveResult = { id, action: action === 'retry' ? 'retried' : 'skipped', released: 0, newlyParked: null };
  let failure: string | null = null;
  await client.transaction(async (tx) => {
    await lockParking(tx, first.programId);
    // Read again under the lock: an import pass may have changed the chain meanwhile.
    const parked = (await getParked(tx, id))!;
    if (parked.status === 'waiting') await refuseWaiting(tx, node.name, parked);
    if (parked.status !== 'open') throw new RuntimeError('resolved', `parked change ${id} was already ${parked.status}`);
    if (action === 'retry') {
      const failed = await tryApply(tx, ctx, parked, parked.kind === 'conflict_manual');
      if (failed) {
        failure = failed.reason;
        await resolveParked(tx, id, 'open', { reason: failed.reason, kind: failed.kind, attempt: true });
        return;
      }
      await resolveParked(tx, id, 'retried', { attempt: true });
    } else await resolveParked(tx, id, 'skipped');
    if (parked.kind === 'conflict_manual') {
      const change = decodeChange(await loadInboxRow(tx, parked.inboxId), ctx.tables, ctx.keepsVersions);
      await recordDecision(tx, handle, ctx.tables.get(change.table)!, change);
    }
    const waiting = await waitingBehind(tx, parked.inboxId);
    for (const [i, next] of waiting.entries()) {
      const failed = await tryApply(tx, ctx, next, false);
      if (failed === null) {
        await resolveParked(tx, next.id, 'retried');
        result.released++;
        continue;
      }
      await resolveParked(tx, next.id, 'open', { reason: failed.reason, kind: failed.kind, attempt: true });
      result.newlyParked = next.id;
      for (const rest of waiting.slice(i + 1)) await resolveParked(tx, rest.id, 'waiting', { blockedBy: next.inboxId });
      break;
    }
  });
  if (failure) {
    throw new RuntimeError('retry_failed', `parked change ${id} failed again: ${failure}`, {
      hint: `fix the cause and retry, or \`dsync skip ${id} --node ${node.name}\``,
    });
  }
  return result;
}
