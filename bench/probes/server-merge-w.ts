/**
 * Probe: W (bench/workload.ts) written on a PostgreSQL source, moved to an SQLite target by
 * transportOnce, then imported by importOnce, printing how many changes of each batch SQLite's
 * merge took (sqlite-server-merge.ts) and the import's wall and CPU:
 * `npx tsx bench/probes/server-merge-w.ts [scale=0.3]`; `CACHE=<KiB>` sets the target's
 * page cache (PRAGMA cache_size) before the import.
 */
import type { ServerMerge } from '../../src/core/dialect.ts';
import { sqliteServerMerge } from '../../src/dialects/sqlite/sqlite-server-merge.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createBenchSetup } from '../nodes.ts';
import { PHASES, runPhase, workloadW } from '../workload.ts';

const original = sqliteServerMerge.apply;
let taken = 0;
(sqliteServerMerge as { apply: ServerMerge['apply'] }).apply = async (tx, table, range, exclude, keepsVersions) => {
  const ids = await original(tx, table, range, exclude, keepsVersions);
  console.log(`batch ${range.from}..${range.to}: SQLite took ${ids.length}`);
  taken += ids.length;
  return ids;
};
const setup = await createBenchSetup(
  [
    { name: 'src', dialect: 'postgres', sync: true },
    { name: 'tgt', dialect: 'sqlite', sync: true },
  ],
  [
    { id: 1000, type: 'transport', from: 'src', to: 'tgt', batchSize: 10000 },
    { id: 1001, type: 'import', node: 'tgt', batchSize: 10000 },
  ],
);
try {
  const src = await setup.handle('src');
  const tgt = await setup.handle('tgt');
  const w = workloadW(Number(process.argv[2] ?? 0.3));
  for (const phase of PHASES) await runPhase(src.client, w, phase);
  let moved = 0;
  for (let pass = 0; pass < 100; pass++) {
    const m = (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
    moved += m;
    if (m === 0) break;
  }
  if (process.env.CACHE) await tgt.client.exec(`PRAGMA cache_size = -${Number(process.env.CACHE)}`);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let pass = 0; pass < 50; pass++) {
    const r = await importOnce(setup.config, setup.config.programs[1] as never, tgt);
    if (r.pointer >= r.horizon) break;
  }
  const c = process.cpuUsage(c0);
  console.log(
    `moved ${moved}, SQLite took ${taken}, import ${((performance.now() - t0) / 1000).toFixed(2)} s (CPU ${((c.user + c.system) / 1e6).toFixed(2)} s)`,
  );
} finally {
  await setup.close();
}
