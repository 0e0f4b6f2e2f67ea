import type { DialectName } from '../src/core/dialect.ts';
import { insertGeneratedRows, updateAllRows } from './bulk-sql.ts';
import { createBenchSetup } from './nodes.ts';

/**
 * A source and a target of the given brands with a transport (1000) and an import (1001)
 * of 10,000-row batches, and a backlog of `n` inserts and `n` updates in the source's
 * outbox: what the drain probes start from.
 */
export async function createDrainPair(from: DialectName, to: DialectName, n: number) {
  const setup = await createBenchSetup(
    [
      { name: 'src', dialect: from, sync: true },
      { name: 'tgt', dialect: to, sync: true },
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
