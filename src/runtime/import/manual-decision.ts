/**
 * A person's decision on a `manual` conflict reaches every node (docs/convergence.md):
 * after `dsync retry` (the incoming values win) or `dsync skip` (the local row stays),
 * the node records the decided values as a change of its own, with a fresh version and
 * no old values, so that every other node takes them whatever it did with the conflict
 * (applied it, or parked it too). A kept row that the incoming change deleted elsewhere
 * comes back there as a newer insert.
 */
import type { ChangeEvent, ValueMap } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { syncedColumns, type TableSchema } from '../../core/schema.ts';
import { captureChange } from '../capture/capture-api.ts';
import type { NodeHandle } from '../nodes.ts';
import { selectRow } from './dml.ts';

export async function recordDecision(tx: DbClient, handle: NodeHandle, table: TableSchema, change: ChangeEvent): Promise<void> {
  const row = await selectRow(tx, table, change.key);
  if (!row) return; // the decision was a delete: it travels as that delete
  const node = { node: { name: handle.node.name, serverId: handle.node.serverId } };
  if (change.operation === 'D') {
    // The row stays here but is gone where the delete was applied: a newer insert brings it back.
    const values = Object.fromEntries(syncedColumns(table).map((c) => [c.name, row[c.name]]));
    await captureChange(tx, { table: table.name, operation: 'I', key: change.key, values }, node);
    return;
  }
  const columns = Object.keys(change.values).filter((c) => !table.primaryKey.includes(c));
  if (columns.length === 0) return;
  const values: ValueMap = Object.fromEntries(columns.map((c) => [c, row[c]]));
  await captureChange(tx, { table: table.name, operation: 'U', key: change.key, values }, node);
}
