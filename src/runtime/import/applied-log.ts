/**
 * The import's own record of what it applied, in this node's outbox (guarantee 4): the
 * same row a capture trigger writes, with the change's origin server, change id, user
 * and time, causal lengths and version preserved, so that a hub forwards it and
 * transport never sends it back to its origin.
 */
import { canonicalKeyText } from '../../core/canonical-key.ts';
import { type ChangeEvent, WRITTEN_CHANGE_COLUMNS } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { syncedColumns, type TableSchema } from '../../core/schema.ts';
import { utcNow } from '../program-state.ts';
import type { Forward } from './merge.ts';
import { writeRows } from './row-writer.ts';

/** The applied record's columns: a change row's, with the change's origin id where note1 stands. */
const COLUMNS = WRITTEN_CHANGE_COLUMNS.map((c) => (c === 'note1' ? 'origin_change_id' : c));

export interface AppliedRecord {
  table: TableSchema;
  change: ChangeEvent;
  forward: Forward;
}

export function appliedRow(nodeName: string, { table, change, forward }: AppliedRecord): unknown[] {
  const attributes =
    forward.operation === 'U' && !forward.keyOld ? Object.keys(forward.values ?? {}) : syncedColumns(table).map((c) => c.name);
  return [
    nodeName,
    table.name,
    table.primaryKey.join(','),
    attributes.join(','),
    canonicalKeyText(table, forward.key),
    forward.keyOld ? canonicalKeyText(table, forward.keyOld) : null,
    forward.values ? JSON.stringify(forward.values) : null,
    forward.oldValues ? JSON.stringify(forward.oldValues) : null,
    forward.operation,
    change.origin.serverId,
    change.origin.userId,
    change.origin.updatedAt ?? utcNow(),
    change.origin.changeId,
    forward.cl,
    forward.clOld,
    forward.version.time,
  ];
}

export async function recordApplied(tx: DbClient, nodeName: string, records: AppliedRecord[]): Promise<void> {
  await writeRows(
    tx,
    'ds_change_outbox',
    COLUMNS,
    records.map((r) => appliedRow(nodeName, r)),
  );
}
