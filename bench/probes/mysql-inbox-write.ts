/**
 * Probe: ways to write a transport batch into a MariaDB inbox, same rows, alternating.
 * `npx tsx bench/probes/mysql-inbox-write.ts [N] [methods]`: 2N outbox rows of a PostgreSQL
 * source (N inserts, N updates), written 3 times per method into the target's emptied
 * inbox in transactions of 10,000, timed (wall, this process's CPU, mariadbd's CPU from
 * /proc, and the target session's own thread). Methods: `current` (writeRows, the brand's bulk writer), `text` / `plain`
 * (multi-row INSERT text, with / without ON DUPLICATE KEY UPDATE; `text:4000` rows per
 * statement), `load` (a hand-made LOAD DATA LOCAL). TRIGGER='<body>' or TRIGGER=none
 * replaces the inbox's fence trigger (FENCE=1 reads the fence and sets @ds_fenced first).
 */
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { INBOX_COLUMNS, outboxBatchSql, toInboxValues } from '../../src/runtime/transport/transport.ts';
import { writeRows } from '../../src/runtime/import/row-writer.ts';
import { Readable } from 'node:stream';
import { createDrainPair } from '../drain-pair.ts';
import { mariadbSessionCpuSeconds } from '../machine.ts';

type Conn = { query(o: unknown, v?: unknown): Promise<[{ affectedRows: number; warningStatus: number }]> };
const conn = (client: unknown) => (client as { session: { conn: Conn } }).session.conn;
const esc = (v: unknown) =>
  v === null
    ? 'NULL'
    : typeof v === 'number'
      ? String(v)
      : `'${String(v).replace(/[\0\b\t\n\r\x1a"'\\]/g, (c) => '\\' + ({ '\0': '0', '\b': 'b', '\t': 't', '\n': 'n', '\r': 'r', '\x1a': 'Z' } as Record<string, string>)[c] || c)}'`;
const cols = INBOX_COLUMNS.join(', ');
const tsv = (v: unknown) =>
  v === null ? '\\N' : String(v).replace(/[\\\t\n\0]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\0'));
async function write(method: string, tx: unknown, batch: unknown[][]) {
  const c = conn(tx);
  if (process.env.FENCE) {
    await c.query('SELECT COUNT(*) FROM ds_change_fence WHERE id = 1 LOCK IN SHARE MODE');
    await c.query('SET @ds_fenced = 1');
  }
  if (method === 'current') return writeRows(tx as never, 'ds_change_inbox', INBOX_COLUMNS, batch, true);
  if (method.startsWith('text') || method.startsWith('plain')) {
    const per = Number(method.split(':')[1] ?? 2000);
    for (let at = 0; at < batch.length; at += per) {
      const rows = batch
        .slice(at, at + per)
        .map((r) => `(${r.map(esc).join(', ')})`)
        .join(', ');
      await c.query(
        `INSERT INTO ds_change_inbox (${cols}) VALUES ${rows}${method.startsWith('plain') ? '' : ' ON DUPLICATE KEY UPDATE object_database = object_database'}`,
      );
    }
    return;
  }
  if (method.startsWith('load')) {
    const text = batch.map((r) => r.map(tsv).join('\t')).join('\n') + '\n';
    const [r] = await c.query({
      sql: `LOAD DATA LOCAL INFILE 'inbox' INTO TABLE ds_change_inbox CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${cols})`,
      infileStreamFactory: () => Readable.from([Buffer.from(text)]),
    });
    if (r.affectedRows !== batch.length || r.warningStatus) throw new Error(`load: ${r.affectedRows} rows, ${r.warningStatus} warnings`);
  }
}

const n = Number(process.argv[2] ?? 20000);
const methods = (process.argv[3] ?? 'current').split(',');
const { setup, src, tgt } = await createDrainPair('postgres', 'mysql', n);
const serverPid = Number(execSync('pgrep -o mariadbd').toString().trim());
const serverCpu = () => {
  const f = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
/** The target session's own server thread: what other sessions of a shared server do not move. */
const sessionCpu = (await mariadbSessionCpuSeconds(tgt.client)) ?? (() => 0);
try {
  const { rows } = await src.client.query(outboxBatchSql(src.client), [0, 1e12]);
  const values = rows.map((r) => toInboxValues(r, src.node.serverId));
  console.log(`${values.length} rows`, JSON.stringify(values[0]), JSON.stringify(values[values.length - 1]));
  if (process.env.TRIGGER) {
    await tgt.client.exec('DROP TRIGGER ds_change_inbox_fence');
    if (process.env.TRIGGER !== 'none')
      await conn(tgt.client).query(
        `CREATE TRIGGER ds_change_inbox_fence BEFORE INSERT ON ds_change_inbox FOR EACH ROW ${process.env.TRIGGER}`,
      );
  }
  for (let round = 0; round < 3; round++) {
    for (const method of methods) {
      await tgt.client.exec('TRUNCATE TABLE ds_change_inbox');
      const s0 = serverCpu();
      const g0 = sessionCpu();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let at = 0; at < values.length; at += 10000) {
        const batch = values.slice(at, at + 10000);
        await tgt.client.transaction((tx) => write(method, tx, batch));
      }
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      const s = serverCpu() - s0;
      const g = sessionCpu() - g0;
      console.log(
        `${method}: ${ms.toFixed(0)} ms, client CPU ${((c.user + c.system) / 1e3).toFixed(0)} ms, server CPU ${(s * 1000).toFixed(0)} ms (the session's thread ${(g * 1000).toFixed(0)} ms)`,
      );
    }
  }
} finally {
  await setup.close();
}
