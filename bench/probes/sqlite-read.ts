/**
 * Probe: what reading a batch back from an SQLite target costs, per layer. A PostgreSQL
 * source's 2N changes are moved into an SQLite inbox, then 10,000 inbox rows are read
 * repeatedly through SqliteClient.query and through better-sqlite3 directly (raw arrays,
 * with and without safe integers): `npx tsx bench/probes/sqlite-read.ts [N]`.
 */
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';

const n = Number(process.argv[2] ?? 10000);
const { setup, src, tgt } = await createDrainPair('postgres', 'sqlite', n);
try {
  let moved = 0;
  while (moved < 2 * n) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  const db = (tgt.client as unknown as { connection: { db: import('better-sqlite3').Database } }).connection.db;
  const { rows } = await tgt.client.query<{ c: string }>(
    "SELECT group_concat(name, ', ') AS c FROM pragma_table_info('ds_change_inbox') WHERE name <> 'received_at'",
  );
  const sql = `SELECT ${rows[0].c} FROM ds_change_inbox WHERE id > ? AND id <= ? ORDER BY id`;
  const variants: Record<string, () => unknown> = {
    client: () => tgt.client.query(sql, [0, 10000]),
    rawSafe: () => db.prepare(sql).raw(true).safeIntegers(true).all(0, 10000),
    rawNumbers: () => db.prepare(sql).raw(true).safeIntegers(false).all(0, 10000),
    objects: () => db.prepare(sql).safeIntegers(false).all(0, 10000),
    countOnly: () => db.prepare(`SELECT count(*) FROM (${sql})`).raw(true).all(0, 10000),
  };
  for (let round = 0; round < 3; round++)
    for (const [name, run] of Object.entries(variants)) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < 5; i++) await run();
      const c = process.cpuUsage(c0);
      console.log(`${name}: ${((c.user + c.system) / 5000).toFixed(1)} ms per 10,000 rows`);
    }
} finally {
  await setup.close();
}
