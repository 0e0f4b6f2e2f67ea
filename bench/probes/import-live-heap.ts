/**
 * Probe: what the import keeps alive mid-drain. The import-cpu.ts workload (N inserts, an UPDATE of
 * every row, a DELETE of every fifth) moved by transportOnce, then imported; `at` ms into the import a
 * heap snapshot is taken (V8 collects first, so it holds what is live) and summed by object kind and
 * constructor: `npx tsx bench/probes/import-live-heap.ts [N] [at ms] [dir]`.
 */
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { TABLE } from '../nodes.ts';
import { summarizeHeapSnapshot } from './heap-summary.ts';

const n = Number(process.argv[2] ?? 50000);
const at = Number(process.argv[3] ?? 1500);
const dir = process.argv[4] ?? '.';

const { setup, src, tgt } = await createDrainPair('postgres', 'postgres', n);
try {
  await src.client.exec(`DELETE FROM ${TABLE} WHERE quantity % 5 = 0`);
  const total = Number((await src.client.query('SELECT count(*) AS n FROM ds_change_outbox')).rows[0].n);
  let moved = 0;
  for (let pass = 0; moved < total && pass < 50; pass++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  let file = '';
  const timer = setTimeout(() => {
    file = writeHeapSnapshot(join(dir, 'import-live.heapsnapshot'));
  }, at);
  let done = 0;
  for (let pass = 0; done < total && pass < 50; pass++) {
    const r = await importOnce(setup.config, setup.config.programs[1] as never, tgt);
    done += r.applied + r.unchanged + r.parked + r.waiting;
  }
  clearTimeout(timer);
  if (file) for (const line of summarizeHeapSnapshot(file)) console.log(line);
  else console.log('the import ended before the snapshot');
} finally {
  await setup.close();
}
