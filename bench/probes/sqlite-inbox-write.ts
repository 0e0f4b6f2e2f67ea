/**
 * Probe: ways to write a transport batch into an SQLite inbox, same rows, alternating.
 * `npx tsx bench/probes/sqlite-inbox-write.ts [N] [methods]`: 2N outbox rows of a PostgreSQL
 * source (N inserts, N updates) as toInboxValues makes them, written ROUNDS (3) times per method into
 * the target's emptied inbox in transactions of 10,000 (BEGIN IMMEDIATE … COMMIT, synchronous
 * FULL), timed (wall, this process's CPU). Methods: `current` (writeRows, the brand's bulk
 * writer), `rows:K` (a prepared K-row INSERT … ON CONFLICT DO NOTHING reused, bound from one
 * flat array with the integers as bigints), `json` (one INSERT … SELECT from json_each of the batch as one JSON text), `one` (a prepared one-row INSERT per row).
 * NOCOMMIT=1 rolls back instead of committing (the insert's CPU alone).
 */
import { INBOX_COLUMNS, outboxBatchSql, toInboxValues } from '../../src/runtime/transport/transport.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import { writeRows } from '../../src/runtime/import/row-writer.ts';
import { createDrainPair } from '../drain-pair.ts';

type Db = {
  prepare(sql: string): { run(...a: unknown[]): unknown };
  exec(sql: string): void;
};
const cols = INBOX_COLUMNS.join(', ');
const tuples = (k: number) => Array.from({ length: k }, () => `(${INBOX_COLUMNS.map(() => '?').join(', ')})`).join(', ');
const bind = (v: unknown) => (typeof v === 'number' ? BigInt(v) : v);

const n = Number(process.argv[2] ?? 20000);
const methods = (process.argv[3] ?? 'current').split(',');
const { setup, src, tgt } = await createDrainPair('postgres', 'sqlite', n);
const db = (tgt.client as unknown as { connection: { db: Db } }).connection.db;
const prepared = new Map<number, { run(...a: unknown[]): unknown }>();
const stmt = (k: number) => {
  let s = prepared.get(k);
  if (!s) prepared.set(k, (s = db.prepare(`INSERT INTO ds_change_inbox (${cols}) VALUES ${tuples(k)} ON CONFLICT DO NOTHING`)));
  return s;
};
let json: { run(...a: unknown[]): unknown } | undefined;
const stmtJson = () =>
  (json ??= db.prepare(
    `INSERT INTO ds_change_inbox (${cols}) SELECT ${INBOX_COLUMNS.map((_, i) => `value ->> ${i}`).join(', ')} FROM json_each(?) WHERE true ON CONFLICT DO NOTHING`,
  ));
function writeK(batch: unknown[][], k: number) {
  const w = INBOX_COLUMNS.length;
  for (let at = 0; at < batch.length; at += k) {
    const m = Math.min(k, batch.length - at);
    const flat = new Array<unknown>(m * w);
    for (let r = 0; r < m; r++) {
      const row = batch[at + r];
      for (let c = 0; c < w; c++) flat[r * w + c] = bind(row[c]);
    }
    stmt(m).run(flat);
  }
}
try {
  const { rows } = await src.client.query(outboxBatchSql(src.client), [0, 1e12]);
  const values = rows.map((r) => toInboxValues(r, src.node.serverId));
  console.log(`${values.length} rows`, JSON.stringify(values[0]));
  const cpu = new Map<string, number[]>();
  for (let round = 0; round < Number(process.env.ROUNDS ?? 3); round++) {
    for (const method of methods) {
      await tgt.client.exec('DELETE FROM ds_change_inbox');
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let at = 0; at < values.length; at += 10000) {
        const batch = values.slice(at, at + 10000);
        if (process.env.NOCOMMIT) db.exec('BEGIN IMMEDIATE');
        const write = async (tx: DbClient) => {
          if (method === 'current') return writeRows(tx, 'ds_change_inbox', INBOX_COLUMNS, batch, true);
          if (method === 'one') return writeK(batch, 1);
          if (method === 'json') return void stmtJson().run(JSON.stringify(batch));
          if (method.startsWith('rows:')) return writeK(batch, Number(method.split(':')[1]));
          throw new Error(`unknown method ${method}`);
        };
        if (process.env.NOCOMMIT) {
          await write(tgt.client as never);
          db.exec('ROLLBACK');
        } else await tgt.client.transaction(write);
      }
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      console.log(`${method}: ${ms.toFixed(0)} ms, CPU ${((c.user + c.system) / 1e3).toFixed(0)} ms`);
      if (round > 0) cpu.set(method, [...(cpu.get(method) ?? []), (c.user + c.system) / 1e3]);
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  for (const [method, a] of cpu) console.log(`median CPU after the first round, ${method}: ${median(a).toFixed(0)} ms`);
} finally {
  await setup.close();
}
