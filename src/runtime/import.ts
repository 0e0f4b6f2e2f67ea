/**
 * Import (the seed's program 1001): inbox rows past the pointer, up to the safe
 * horizon, applied in id order to the node's tables in its dialect with bound
 * parameters. Each batch is one transaction that also moves the pointer (rule 3);
 * each change runs in a savepoint, so a failing one is parked (rule 6) while the
 * others go on; the origin flag tells the node's triggers where a change came from (rule 4).
 */
import type { Config, ConflictPolicy, ProgramConfig } from '../cli/config.ts';
import type { ChangeEvent, InboxRow } from '../core/change.ts';
import { CHANGE_ROW_COLUMNS } from '../core/change.ts';
import type { DbClient, Row } from '../core/dialect.ts';
import { describeError, IntrospectionError, RuntimeError } from '../core/errors.ts';
import type { TableSchema } from '../core/schema.ts';
import { decodeChange } from './decode-change.ts';
import { type Conflict, mergeChange } from './merge.ts';
import { type NodeHandle, requireSyncObjects } from './nodes.ts';
import { loadBlockedRows, parkChange, rawRowIdentity, recordConflict, rowIdentity } from './parking.ts';
import { readProgramState, saveProgramState } from './program-state.ts';

export interface ImportContext {
  handle: NodeHandle;
  programId: number;
  tables: Map<string, TableSchema>;
  policies: Map<string, ConflictPolicy>;
}

export interface ImportResult {
  program: number;
  applied: number;
  unchanged: number;
  conflicts: number;
  parked: number;
  waiting: number;
  pointer: number;
  horizon: number;
}

/** The synchronized tables as they are on this node; a missing one stops the import with the fix. */
export async function importContext(config: Config, handle: NodeHandle, programId: number): Promise<ImportContext> {
  await requireSyncObjects(handle, ['ds_change_inbox', 'ds_change_error', 'ds_change_conflict', 'ds_program_parameter']);
  const tables = new Map<string, TableSchema>();
  for (const table of config.tables) {
    try {
      tables.set(table.name, await handle.dialect.introspect(handle.client, table.name));
    } catch (error) {
      if (!(error instanceof IntrospectionError)) throw error;
      throw new RuntimeError('table_missing', `node ${handle.node.name}: ${error.message}`, { hint: error.hint }, { cause: error });
    }
  }
  return { handle, programId, tables, policies: new Map(config.tables.map((t) => [t.name, t.conflict])) };
}

export const INBOX_SELECT = `SELECT id, ${CHANGE_ROW_COLUMNS.join(', ')}, origin_change_id FROM ds_change_inbox`;

export function toInboxRow(row: Row): InboxRow {
  const out: Record<string, unknown> = { id: Number(row.id), origin_change_id: Number(row.origin_change_id) };
  for (const column of CHANGE_ROW_COLUMNS) out[column] = row[column] === null || row[column] === undefined ? null : String(row[column]);
  return out as InboxRow;
}

export type ApplyStatus = 'applied' | 'unchanged' | 'manual';

/**
 * Applies one decoded change in a savepoint of `tx`, with the origin flag set, and
 * records its conflict if it met one. Throws when the change cannot be applied
 * (the savepoint is then rolled back and `tx` stays usable).
 */
export async function applyDecoded(
  tx: DbClient,
  ctx: ImportContext,
  row: InboxRow,
  change: ChangeEvent,
  identity: string,
  policyOverride?: ConflictPolicy,
): Promise<{ status: ApplyStatus; conflict: Conflict | null }> {
  const table = ctx.tables.get(change.table)!;
  const policy = policyOverride ?? ctx.policies.get(change.table) ?? 'latest-wins';
  const outcome = await tx.transaction(async (sp) => {
    await sp.dialect.setOrigin(sp, change.origin);
    return mergeChange(sp, table, policy, change);
  });
  if (outcome.conflict) {
    await recordConflict(tx, ctx.programId, row, policy, outcome.conflict, identity, { values: change.values, oldValues: change.oldValues });
  }
  if (outcome.conflict?.resolution === 'parked') return { status: 'manual', conflict: outcome.conflict };
  return { status: outcome.changed ? 'applied' : 'unchanged', conflict: outcome.conflict };
}

export function manualReason(conflict: Conflict): string {
  return `conflict (${conflict.kind}${conflict.columns.length ? ` on ${conflict.columns.join(', ')}` : ''}) under the manual policy: \`dsync retry\` applies the incoming change, \`dsync skip\` keeps the local row`;
}

function identities(ctx: ImportContext, change: ChangeEvent): { identity: string; old: string | null } {
  const pk = ctx.tables.get(change.table)!.primaryKey;
  return { identity: rowIdentity(change.table, pk, change.key), old: change.keyOld ? rowIdentity(change.table, pk, change.keyOld) : null };
}

/** Applies a batch of inbox rows in one transaction of `tx`, parking what fails; returns the tallies. */
async function applyBatch(tx: DbClient, ctx: ImportContext, rows: InboxRow[], blocked: Map<string, number>, result: ImportResult): Promise<void> {
  for (const row of rows) {
    let change: ChangeEvent;
    try {
      change = decodeChange(row, ctx.tables);
    } catch (error) {
      const identity = rawRowIdentity(row, ctx.tables.get(row.object_table ?? '')?.primaryKey ?? null);
      const blocker = blocked.get(identity);
      if (blocker !== undefined) {
        await parkChange(tx, ctx.programId, row, identity, 'waiting', `waits behind the parked change of inbox id ${blocker} for the same row`, blocker);
        result.waiting++;
      } else {
        await parkChange(tx, ctx.programId, row, identity, 'open', describeError(error), null);
        blocked.set(identity, row.id);
        result.parked++;
      }
      continue;
    }
    const { identity, old } = identities(ctx, change);
    const blocker = blocked.get(identity) ?? (old === null ? undefined : blocked.get(old));
    if (blocker !== undefined) {
      await parkChange(tx, ctx.programId, row, identity, 'waiting', `waits behind the parked change of inbox id ${blocker} for the same row`, blocker);
      result.waiting++;
      continue;
    }
    try {
      const { status, conflict } = await applyDecoded(tx, ctx, row, change, identity);
      if (conflict) result.conflicts++;
      if (status === 'manual') {
        await parkChange(tx, ctx.programId, row, identity, 'open', manualReason(conflict!), null);
        blocked.set(identity, row.id);
        result.parked++;
      } else if (status === 'applied') result.applied++;
      else result.unchanged++;
    } catch (error) {
      const op = change.operation === 'I' ? 'insert' : change.operation === 'U' ? 'update' : 'delete';
      await parkChange(tx, ctx.programId, row, identity, 'open', `${op} of ${change.table} ${JSON.stringify(change.key)} failed: ${describeError(error)}`, null);
      blocked.set(identity, row.id);
      result.parked++;
    }
  }
  await tx.dialect.setOrigin(tx, null);
}

export async function importOnce(config: Config, program: ProgramConfig, handle: NodeHandle): Promise<ImportResult> {
  const { client } = handle;
  const state = await readProgramState(client, program, handle.node.name);
  const ctx = await importContext(config, handle, program.id);
  const horizon = await client.dialect.readSafeHorizon(client, 'ds_change_inbox');
  const result: ImportResult = { program: program.id, applied: 0, unchanged: 0, conflicts: 0, parked: 0, waiting: 0, pointer: state.pointer, horizon };
  const p = client.dialect.sql.param;
  try {
    const blocked = await loadBlockedRows(client);
    let pointer = state.pointer;
    while (pointer < horizon) {
      let upTo = Math.min(horizon, pointer + program.batchSize);
      const { rows } = await client.query<Row>(`${INBOX_SELECT} WHERE id > ${p(1)} AND id <= ${p(2)} ORDER BY id`, [pointer, upTo]);
      if (rows.length === 0) {
        const next = await client.query<Row>(`SELECT min(id) AS id FROM ds_change_inbox WHERE id > ${p(1)} AND id <= ${p(2)}`, [upTo, horizon]);
        upTo = next.rows[0].id === null ? horizon : Number(next.rows[0].id) - 1;
      }
      const target = upTo;
      await client.transaction(async (tx) => {
        await applyBatch(tx, ctx, rows.map(toInboxRow), blocked, result);
        await saveProgramState(tx, program.id, { pointer: target, status: 'ok', message: summary(result) });
      });
      pointer = target;
    }
    result.pointer = pointer;
    if (pointer === state.pointer) await saveProgramState(client, program.id, { status: 'ok', message: 'nothing to import' });
    return result;
  } catch (error) {
    await saveProgramState(client, program.id, { status: 'error', message: describeError(error) }).catch(() => undefined);
    throw error;
  }
}

export function summary(r: ImportResult): string {
  return `applied ${r.applied}, unchanged ${r.unchanged}, conflicts ${r.conflicts}, parked ${r.parked}, waiting ${r.waiting}`;
}
