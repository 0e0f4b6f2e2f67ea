/**
 * Probe: what an import into a node with a table in capture mode log costs (the import captures
 * the log first: captureLogBeforeMerge), against the same import into a trigger-mode table, on a
 * private cluster with wal_level=logical. Node b writes N order_line rows and then updates every
 * one (2N changes), the transport moves them into node a's inbox, and the import into a is timed
 * (wall, this process's CPU): `npx tsx bench/probes/log-target-import.ts [N] [log|trigger] [rounds]`.
 * Run from two trees one after the other, alternating, to compare them under one load.
 */
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { startPrivatePostgres } from '../../test/helpers/private-postgres.ts';
import { createSyncPair } from '../../test/helpers/sync-pair.ts';

const n = Number(process.argv[2] ?? 20000);
const mode = process.argv[3] ?? 'log';
const rounds = Number(process.argv[4] ?? 2);
const cluster = await startPrivatePostgres({ wal_level: 'logical', max_replication_slots: 10, max_wal_senders: 10 });
try {
  for (let round = 1; round <= rounds; round++) {
    const database = async (name: string) => ({
      dialect: 'postgres' as const,
      url: await cluster.createDatabase(`${name}_${round}`),
      embedded: false,
      drop: async () => undefined,
    });
    const pair = await createSyncPair('postgres', 'postgres', 'latest-wins', {
      logTables: mode === 'log' ? ['order_line'] : [],
      databases: [await database('tgt'), await database('src')],
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
      const rows = Number((await pair.a.client.query('SELECT count(*) AS n FROM order_line')).rows[0].n);
      if (rows !== n) throw new Error(`the target holds ${rows} rows, not ${n}`);
      console.log(
        `${mode} round ${round}: ${applied} changes imported in ${wall.toFixed(2)} s wall, ${((used.user + used.system) / 1e6).toFixed(2)} s CPU`,
      );
    } finally {
      await pair.nodes.closeAll();
    }
  }
} finally {
  await cluster.destroy();
}
