/**
 * Probe: the ceiling of a server-side merge on a PostgreSQL target. import-cpu.ts's workload (N
 * inserts, an UPDATE of every row, a DELETE of every fifth row), moved by transportOnce; then each
 * 10,000-change inbox batch applied by the two statements of postgres-server-merge.ts alone (lock,
 * then decide and write set-wise), in one transaction with the pointer, capture silenced as the
 * import does. Printed as import-cpu.ts prints (wall, this process's CPU, the backend's CPU) with
 * how many changes the statements took: `npx tsx bench/probes/server-merge.ts [N] [sqlite>postgres]`. Compare with
 * `DSYNC_SERVER_MERGE=on npx tsx bench/probes/import-cpu.ts N` (the import with it) or without (the planner alone), alternately.
 */
import { readFileSync } from 'node:fs';
import type { DialectName } from '../../src/core/dialect.ts';
import { serverMergeStatements } from '../../src/dialects/postgres/postgres-server-merge.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { createDrainPair } from '../drain-pair.ts';
import { TABLE } from '../nodes.ts';

const n = Number(process.argv[2] ?? 20000);
const from = (process.argv[3] ?? 'postgres>postgres').split('>')[0] as DialectName;
const backendCpu = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

const { setup, src, tgt } = await createDrainPair(from, 'postgres', n);
try {
  await src.client.exec(`DELETE FROM ${TABLE} WHERE quantity % 5 = 0`);
  const total = Number((await src.client.query('SELECT count(*) AS n FROM ds_change_outbox')).rows[0].n);
  let moved = 0;
  for (let pass = 0; moved < total && pass < 50; pass++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  const statements = serverMergeStatements(setup.table('tgt'));
  if (!statements) throw new Error('sales_order is not merged by the server');
  const pid = Number((await tgt.client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
  const ids = (await tgt.client.query('SELECT min(id) AS lo, max(id) AS hi FROM ds_change_inbox')).rows[0];
  const s0 = backendCpu(pid);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let taken = 0;
  for (let from = Number(ids.lo) - 1; from < Number(ids.hi); from += 10000) {
    const to = Math.min(from + 10000, Number(ids.hi));
    await tgt.client.transaction(async (tx) => {
      await tx.query("SELECT set_config('dsync.capture', 'off', true), set_config('synchronous_commit', 'off', true)");
      await tx.query('UPDATE ds_program_parameter SET last_pointer = $1 WHERE id = 1001 AND last_pointer = $2', [to, from]);
      const b0 = backendCpu(pid);
      await tx.query(statements.lock, [from, to, '{}']);
      const b1 = backendCpu(pid);
      if (process.env.EXPLAIN && Number(process.env.EXPLAIN) === from) {
        const plan = await tx.query(`EXPLAIN (ANALYZE, COSTS OFF) ${statements.merge}`, [from, to, '{}']);
        console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
        throw new Error('explained');
      }
      const { rows } = await tx.query(statements.merge, [from, to, '{}']);
      taken += (rows[0].applied as unknown[]).length;
      if (process.env.TRACE)
        console.log(
          `  batch (${from}, ${to}]: lock ${((b1 - b0) * 1000).toFixed(0)} ms, merge ${((backendCpu(pid) - b1) * 1000).toFixed(0)} ms backend CPU`,
        );
    });
  }
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const s1 = backendCpu(pid);
  const compared = await compareTables(
    { client: src.client, table: setup.table('src') },
    { client: tgt.client, table: setup.table('tgt') },
  );
  // Entries as the source's triggers left them: the same causal lengths; the clocks are the source's.
  const entries = async (c: typeof src.client) =>
    (await c.query(`SELECT row_key, cl FROM ds_row_version WHERE table_name = '${TABLE}' ORDER BY row_key`)).rows
      .map((r) => `${r.row_key}:${r.cl}`)
      .join();
  const sameEntries = (await entries(src.client)) === (await entries(tgt.client));
  const cpu = (c1.user - c0.user + c1.system - c0.system) / 1e6;
  console.log(
    `server merge, ${total} changes (${taken} taken): ${((t1 - t0) / 1000).toFixed(2)} s, process CPU ${cpu.toFixed(2)} s, backend CPU ${(s1 - s0).toFixed(2)} s, ` +
      `both ${(cpu + s1 - s0).toFixed(2)} s; ${hasDifferences(compared) ? 'TARGET DIFFERS' : 'target equals source'}, entries' cl ${sameEntries ? 'equal' : 'DIFFER'}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
  );
} finally {
  await setup.close();
}
