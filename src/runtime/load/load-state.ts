/**
 * Where a load stands (ds_load_state, upgrade step 13), on the target, one row per source
 * node and table. The chunk that copies rows moves `last_key` in the same transaction, so
 * a load killed at any moment continues after the last chunk that committed.
 */
import type { DbClient, Row } from '../../core/dialect.ts';
import { RuntimeError } from '../../core/errors.ts';
import { utcNow } from '../program-state.ts';

export interface LoadState {
  runId: string;
  status: 'running' | 'done';
  /** Canonical key values of the last row copied (JSON array); null before the first chunk. */
  lastKey: unknown[] | null;
  /** The source outbox position noted before the first row was read. */
  outboxPosition: number;
  rowsCopied: number;
  rowsExisting: number;
  rowsConflicting: number;
}

export async function readLoadState(client: DbClient, source: string, table: string): Promise<LoadState | null> {
  const p = client.dialect.sql.param;
  const { rows } = await client.query<Row>(
    `SELECT run_id, status, last_key, outbox_position, rows_copied, rows_existing, rows_conflicting FROM ds_load_state WHERE source_node = ${p(1)} AND table_name = ${p(2)}`,
    [source, table],
  );
  if (rows.length === 0) return null;
  const r = rows[0];
  return {
    runId: String(r.run_id),
    status: r.status === 'done' ? 'done' : 'running',
    lastKey: r.last_key === null || r.last_key === undefined ? null : (JSON.parse(String(r.last_key)) as unknown[]),
    outboxPosition: Number(r.outbox_position),
    rowsCopied: Number(r.rows_copied),
    rowsExisting: Number(r.rows_existing),
    rowsConflicting: Number(r.rows_conflicting),
  };
}

/** Starts a run (replacing a finished one). */
export async function startLoadState(
  client: DbClient,
  source: string,
  table: string,
  runId: string,
  outboxPosition: number,
): Promise<LoadState> {
  const p = client.dialect.sql.param;
  await client.transaction(async (tx) => {
    await tx.query(`DELETE FROM ds_load_state WHERE source_node = ${p(1)} AND table_name = ${p(2)}`, [source, table]);
    await tx.query(
      `INSERT INTO ds_load_state (source_node, table_name, run_id, status, last_key, outbox_position, rows_copied, rows_existing, rows_conflicting, updated_at)
       VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, NULL, ${p(5)}, 0, 0, 0, ${p(6)})`,
      [source, table, runId, 'running', outboxPosition, utcNow()],
    );
  });
  return { runId, status: 'running', lastKey: null, outboxPosition, rowsCopied: 0, rowsExisting: 0, rowsConflicting: 0 };
}

/**
 * Records a committed chunk (inside its transaction) or the end of the run. With
 * `probePending`, where the brand can (SqlDialect.updateWithProbe), the same statement also says whether ds_change_pending
 * holds any update of the table (true/false; undefined where it was not asked: probe apart).
 */
export async function saveLoadState(
  tx: DbClient,
  source: string,
  table: string,
  state: LoadState,
  probePending = false,
): Promise<boolean | undefined> {
  const p = tx.dialect.sql.param;
  const update = `UPDATE ds_load_state SET status = ${p(1)}, last_key = ${p(2)}, rows_copied = ${p(3)}, rows_existing = ${p(4)}, rows_conflicting = ${p(5)}, updated_at = ${p(6)}
     WHERE source_node = ${p(7)} AND table_name = ${p(8)} AND run_id = ${p(9)}`;
  const withProbe = probePending ? tx.dialect.sql.updateWithProbe : undefined;
  const folded = withProbe !== undefined;
  const result = await tx.query<Row>(
    folded ? withProbe(update, `CASE WHEN EXISTS (SELECT 1 FROM ds_change_pending WHERE table_name = ${p(8)}) THEN 1 ELSE 0 END`) : update,
    [
      state.status,
      state.lastKey === null ? null : JSON.stringify(state.lastKey),
      state.rowsCopied,
      state.rowsExisting,
      state.rowsConflicting,
      utcNow(),
      source,
      table,
      state.runId,
    ],
  );
  const rowCount = folded ? Number(result.rows[0].updated) : result.rowCount;
  // Another load of the same table took over the row: this one must not go on writing.
  if (rowCount !== 1) {
    throw new RuntimeError(
      'load_replaced',
      `load of ${table} from ${source}: run ${state.runId} was replaced by another load of the same table`,
      {
        hint: 'run one load per source and table at a time; the other run goes on',
      },
    );
  }
  return folded ? Number(result.rows[0].probe) === 1 : undefined;
}
