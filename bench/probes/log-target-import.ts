/**
 * Probe: what an import into a node with a table in capture mode log costs (the import captures
 * the log first: captureLogBeforeMerge), against the same import into a trigger-mode table, on a
 * private cluster with wal_level=logical. Node b writes N order_line rows and then updates every
 * one (2N changes), the transport moves them into node a's inbox, and the import into a is timed
 * (wall, this process's CPU): `npx tsx bench/probes/log-target-import.ts [N] [log|trigger] [rounds] [target]`.
 * `target` mysql or sqlite: node a on the shared servers instead, in trigger mode (what a composite
 * key's batch read costs there). Run from two trees one after the other, alternating, to compare them.
 */
import type { DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createTestDatabase } from '../../test/helpers/databases.ts';
import { startPrivatePostgres } from '../../test/helpers/private-postgres.ts';
import { createSyncPair } from '../../test/helpers/sync-pair.ts';

const n = Number(process.argv[2] ?? 20000);
const mode = process.argv[3] ?? 'log';
const rounds = Number(process.argv[4] ?? 2);
const target = (process.argv[5] ?? 'postgres') as DialectName;
if (target !== 'postgres' && mode === 'log') throw new Error('mode log needs a PostgreSQL target');
const cluster = await startPrivatePostgres({ wal_level: 'logical', max_replication_slots: 10, max_wal_senders: 10 });
try {
  for (let round = 1; round <= rounds; round++) {
    const database = async (name: string) => ({
      dialect: 'postgres' as const,
      url: await cluster.createDatabase(`${name}_${round}`),
      embedded: false,
      drop: async () => undefined,
    });
    const pair = await createSyncPair(target, 'postgres', 'latest-wins', {
      logTables: mode === 'log' ? ['order_line'] : [],
      databases: [target === 'postgres' ? await database('tgt') : await createTestDatabase(target, 'dsync_probe'), await database('src')],
    });
    const program = (id: number) => pair.config.programs.find((p) => p.id === id)!;
    try {
      await pair.b.client.exec(
        `INSERT INTO order_line (order_id, line_no, product, amount) SELECT 'o' || (i / 10), i % 10, 'p' || i, i FROM generate_series(0, ${n - 1}) i;
         UPDATE order_line SET product = product || '+'`,
      );
      const transport = { ...program(1002), batchSize: 10000 };
      while ((await transportOnce(transport as never, pair.b, pair.a)).moved > 0);
      const started = performance.now();
      const cpu = process.cpuUsage();
      let applied = 0;
      for (;;) {
        const r = await importOnce(pair.config, { ...program(1003), batchSize: 10000 } as never, pair.a);
        applied += r.applied + r.unchanged;
        if (r.applied + r.unchanged + r.conflicts + r.parked === 0) break;
      }
      const wall = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpu);
      const rows = await pair.count(pair.a.client, 'SELECT count(*) AS n FROM order_line');
      if (rows !== n) throw new Error(`the target holds ${rows} rows, not ${n}`);
      console.log(
        `${target} ${mode} round ${round}: ${applied} changes imported in ${wall.toFixed(2)} s wall, ${((used.user + used.system) / 1e6).toFixed(2)} s CPU`,
      );
    } finally {
      await pair.close(); // the private cluster's databases go with it; a shared server's is dropped
    }
  }
} finally {
  await cluster.destroy();
}
