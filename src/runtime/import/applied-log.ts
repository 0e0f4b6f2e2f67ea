/**
 * The import's own record of what it applied, in this node's outbox (DESIGN rule 4):
 * the same row a capture trigger writes, with the change's origin server, change id,
 * user and time preserved, so that a hub forwards it, transport never sends it back
 * to its origin, and latest-wins sees the right version on every node.
 */
import type { ChangeEvent } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { syncedColumns, type TableSchema } from '../../core/schema.ts';
import type { AppliedChange } from './merge.ts';
import { utcNow } from '../program-state.ts';
import { writeRows } from './row-writer.ts';

const COLUMNS = [
  'object_database', 'object_table', 'object_pk_attribute', 'object_attribute', 'object_id', 'object_id_old', 'object_value',
  'object_value_old', 'object_operation', 'updated_by_server_id', 'updated_by_user_id', 'update_datetime', 'origin_change_id',
] as const;

export interface AppliedRecord {
  table: TableSchema;
  change: ChangeEvent;
  applied: AppliedChange;
}

export function appliedRow(tx: DbClient, nodeName: string, { table, change, applied }: AppliedRecord): unknown[] {
  const attributes = applied.operation === 'U' ? Object.keys(applied.values ?? {}) : syncedColumns(table).map((c) => c.name);
  return [
    nodeName,
    table.name,
    table.primaryKey.join(','),
    attributes.join(','),
    tx.dialect.keyJson(table, applied.key),
    applied.keyOld ? tx.dialect.keyJson(table, applied.keyOld) : null,
    applied.values ? JSON.stringify(applied.values) : null,
    applied.oldValues ? JSON.stringify(applied.oldValues) : null,
    applied.operation,
    change.origin.serverId,
    change.origin.userId,
    change.origin.updatedAt ?? utcNow(),
    change.origin.changeId,
  ];
}

export async function recordApplied(tx: DbClient, nodeName: string, records: AppliedRecord[]): Promise<void> {
  await writeRows(tx, 'ds_change_outbox', COLUMNS, records.map((r) => appliedRow(tx, nodeName, r)));
}
