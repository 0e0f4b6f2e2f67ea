/**
 * Updates that reached the target before the row they update (the row predates the
 * triggers, so its insert was never captured) wait in ds_change_pending until an import
 * batch moves that row's causal length, which for such a row never happens by itself.
 * Once a load has brought the row, they are merged here, through the import's own path
 * (applyDecoded), in the load's transaction; by version, so an update the load already
 * carried is a no-op and a later one applies.
 */
import type { DbClient, Row } from '../../core/dialect.ts';
import { applyDecoded, type ImportContext, INBOX_SELECT, toInboxRow } from '../import/import.ts';
import { decodeChange } from '../import/decode-change.ts';
import { rowIdentity } from '../import/parking.ts';
import { anyRowFor } from './load-chunk.ts';

/**
 * Merges the pending updates of `rowKeys` of one table; returns how many were merged.
 * `any`: whether the table has any, when the caller has already asked in this transaction.
 */
export async function releasePending(
  tx: DbClient,
  ctx: ImportContext,
  tableName: string,
  rowKeys: string[],
  any?: boolean,
): Promise<number> {
  // Nearly always none: one probe instead of a look-up of every key.
  if (rowKeys.length === 0 || !(any ?? (await anyRowFor(tx, 'ds_change_pending', tableName)))) return 0;
  const p = tx.dialect.sql.param;
  const perQuery = Math.max(1, Math.min(1000, tx.dialect.capabilities.maxParameters - 10));
  const ids: number[] = [];
  for (let i = 0; i < rowKeys.length; i += perQuery) {
    const keys = rowKeys.slice(i, i + perQuery);
    const { rows } = await tx.query<Row>(
      `SELECT inbox_id FROM ds_change_pending WHERE table_name = ${p(1)} AND row_key IN (${keys.map((_, j) => p(j + 2)).join(', ')})`,
      [tableName, ...keys],
    );
    ids.push(...rows.map((r) => Number(r.inbox_id)));
  }
  let merged = 0;
  for (const id of ids.sort((a, b) => a - b)) {
    const { rows } = await tx.query<Row>(`${INBOX_SELECT} WHERE id = ${p(1)}`, [id]);
    if (rows.length === 0) continue;
    const row = toInboxRow(rows[0]);
    const change = decodeChange(row, ctx.tables);
    const table = ctx.tables.get(change.table)!;
    const { status } = await applyDecoded(tx, ctx, row, change, rowIdentity(change.table, table.primaryKey, change.key));
    // Still waiting (a higher causal length) or parked for a person under `manual`: left for the import and `dsync errors`.
    if (status === 'pending' || status === 'manual') continue;
    await tx.query(`DELETE FROM ds_change_pending WHERE inbox_id = ${p(1)}`, [id]);
    merged++;
  }
  return merged;
}
