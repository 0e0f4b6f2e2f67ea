import type { DbClient, DialectName } from '../src/core/dialect.ts';
import { forgetPointer } from '../src/runtime/program-state.ts';
import { insertGeneratedRows, updateAllRows } from './bulk-sql.ts';
import { type BenchNodeSpec, createBenchSetup, TABLE } from './nodes.ts';

/**
 * A probe's target as it was after the transport: an empty table, no entries, the pointer of
 * import `importId` at 0 (capture silenced, so nothing is captured). The inbox stays, so that
 * the import can run again from it.
 */
export async function resetTarget(client: DbClient, importId: number): Promise<void> {
  await client.transaction(async (tx) => {
    await tx.dialect.silenceCapture(tx, true);
    for (const t of [TABLE, 'ds_row_version', 'ds_change_conflict', 'ds_change_error', 'ds_change_pending', 'ds_change_outbox'])
      await tx.query(`DELETE FROM ${tx.dialect.sql.ident(t)}`);
    await tx.query(`UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = ${importId}`);
    await tx.dialect.silenceCapture(tx, false);
  });
  forgetPointer(client, importId);
}

/**
 * A source and a target of the given brands with a transport (1000) and an import (1001)
 * of 10,000-row batches, and a backlog of `n` inserts and `n` updates in the source's
 * outbox: what the drain probes start from.
 */
export async function createDrainPair(from: DialectName, to: DialectName, n: number) {
  const setup = await createBenchSetup(
    [
      { name: 'src', dialect: from, sync: true },
      // DSYNC_PROBE_TARGET_CAPTURE=keys: the target's table in that capture mode (what the import's shadow and capture-first cost).
      { name: 'tgt', dialect: to, sync: true, capture: process.env.DSYNC_PROBE_TARGET_CAPTURE as BenchNodeSpec['capture'] },
    ],
    [
      { id: 1000, type: 'transport', from: 'src', to: 'tgt', batchSize: 10000 },
      // DSYNC_PROBE_IMPORT_BATCH: the import's batch size (what a batch's size does to its CPU and wall).
      { id: 1001, type: 'import', node: 'tgt', batchSize: Number(process.env.DSYNC_PROBE_IMPORT_BATCH ?? 10000) },
    ],
  );
  try {
    const src = await setup.handle('src');
    const tgt = await setup.handle('tgt');
    await insertGeneratedRows(src.client, 0, n, 10000);
    await updateAllRows(src.client);
    return { setup, src, tgt };
  } catch (error) {
    await setup.close();
    throw error;
  }
}
