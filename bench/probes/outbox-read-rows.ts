/**
 * Probe: the transport's read of outbox batches on a PostgreSQL source, as row objects made into
 * inbox values (toInboxValues) against pg's array rows: `npx tsx bench/probes/outbox-read-rows.ts [N]`
 * (N inserts and N updates; 10,000-row batches; this process's CPU, least of 5 rounds each, alternated).
 */
import { queryArrays } from '../../src/core/dialect.ts';
import { INBOX_COLUMNS, outboxBatchSql, toInboxValues } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';

const n = Number(process.argv[2] ?? 20000);
const { setup, src } = await createDrainPair('postgres', 'sqlite', n);
try {
  const sql = outboxBatchSql(src.client);
  const columns = ['id', ...INBOX_COLUMNS.slice(0, -1), 'origin_change_id'];
  const ways: Record<string, (after: number) => Promise<number>> = {
    objects: async (after) => {
      const { rows } = await src.client.query(sql, [after, after + 10000]);
      return rows.map((r) => toInboxValues(r, 'src')).length;
    },
    'objects, read only': async (after) => (await src.client.query(sql, [after, after + 10000])).rows.length,
    'arrays, read only': async (after) => (await queryArrays(src.client, sql, [after, after + 10000], columns)).length,
    arrays: async (after) => {
      const rows = await queryArrays(src.client, sql, [after, after + 10000], columns);
      return rows.map((r) => toInboxValues(Object.fromEntries(columns.map((c, i) => [c, r[i]])), 'src')).length;
    },
  };
  const best: Record<string, number> = {};
  for (let round = 0; round < 5; round++)
    for (const [name, read] of Object.entries(ways)) {
      const c0 = process.cpuUsage();
      for (let after = 0; after < 2 * n; after += 10000) await read(after);
      const c = process.cpuUsage(c0);
      best[name] = Math.min(best[name] ?? 1e9, (c.user + c.system) / 1000);
    }
  console.log(best);
} finally {
  await setup.close();
}
