/**
 * Probe: the ceiling of an import that lets the target's engine merge a batch set-wise from the
 * inbox rows it holds (decode the JSON, compare versions, write rows and version entries in SQL),
 * for SQLite and MariaDB targets. Workload W (bench/workload.ts) at `scale` is written on a
 * PostgreSQL source and moved into the target's inbox by transportOnce; then, in alternated
 * rounds on that same inbox, the real import (importOnce) and the engine merge
 * (engine-merge-sqlite.ts / engine-merge-mysql.ts: 10,000-row batches, each one transaction with
 * the pointer's move) apply it from an empty target. Printed per round: this process's CPU
 * (process.cpuUsage), wall, and for MariaDB the server's CPU (/proc of mariadbd: every thread,
 * other sessions' load included) and the target session's own thread; at the end, whether the
 * engine merge left exactly the rows and version entries importOnce left.
 *
 *   npx tsx bench/probes/engine-merge.ts sqlite|mysql [scale=0.3] [rounds=3]
 */
import { readFileSync } from 'node:fs';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { mariadbCpuSeconds, mariadbSessionCpuSeconds } from '../machine.ts';
import { resetTarget } from '../drain-pair.ts';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { changeCount, PHASES, runPhase, workloadW } from '../workload.ts';
import { applyStaged, type EngineMergeSql, sqliteEngineMerge } from './engine-merge-sqlite.ts';
import { mysqlEngineMerge } from './engine-merge-mysql.ts';

const to = process.argv[2] as DialectName;
if (to !== 'sqlite' && to !== 'mysql') throw new Error('usage: engine-merge.ts sqlite|mysql [scale] [rounds]');
const scale = Number(process.argv[3] ?? 0.3);
const rounds = Number(process.argv[4] ?? 3);
const BATCH = 10000;
const IMPORT_ID = 1001;
/** ENGINE_MERGE_TRACE=1: the engine path's milliseconds by statement, summed over the run. */
const times = process.env.ENGINE_MERGE_TRACE ? new Map<string, number>() : undefined;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const w = workloadW(scale);
const setup = await createBenchSetup(
  [
    { name: 'src', dialect: 'postgres', sync: true },
    { name: 'tgt', dialect: to, sync: true },
  ],
  [
    { id: 1000, type: 'transport', from: 'src', to: 'tgt', batchSize: BATCH },
    { id: IMPORT_ID, type: 'import', node: 'tgt', batchSize: BATCH },
  ],
);

/** Every row and entry, with SQLite's storage classes: what the two paths must leave alike. */
async function fingerprint(client: DbClient): Promise<{ rows: string[]; entries: string[]; other: string }> {
  const cols = setup.table('tgt').columns.map((c) => client.dialect.sql.ident(c.name));
  const typed = to === 'sqlite' ? cols.map((c) => `typeof(${c}) AS "t_${c.replace(/"/g, '')}", ${c}`) : cols;
  const text = (r: Row) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? String(v) : v instanceof Date ? v.toISOString() : v));
  const rows = (await client.query(`SELECT ${typed.join(', ')} FROM ${client.dialect.sql.ident(TABLE)} ORDER BY 1, 2`)).rows.map(text);
  const entries = (await client.query('SELECT * FROM ds_row_version ORDER BY table_name, row_key')).rows.map(text);
  const count = async (t: string) => Number((await client.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
  const other = `conflicts ${await count('ds_change_conflict')}, parked ${await count('ds_change_error')}, pending ${await count('ds_change_pending')}, outbox ${await count('ds_change_outbox')}`;
  return { rows, entries, other };
}

/** The engine merge of the whole inbox, batch by batch, each in one transaction with the pointer's move. */
async function engineMerge(client: DbClient, merge: EngineMergeSql, horizon: number): Promise<number> {
  let cuts = 0;
  for (let pointer = 0; pointer < horizon; pointer += BATCH) {
    const upTo = Math.min(pointer + BATCH, horizon);
    await client.transaction(async (tx) => {
      const p = tx.dialect.sql.param;
      const moved = await tx.query(
        `UPDATE ds_program_parameter SET last_pointer = ${p(1)}, status = ${p(2)} WHERE id = ${p(3)} AND last_pointer = ${p(4)}`,
        [upTo, 'ok', IMPORT_ID, pointer],
      );
      if (moved.rowCount !== 1) throw new Error('pointer moved');
      await tx.dialect.silenceCapture(tx, true, { lazyCommit: true });
      const { why, parts } = await applyStaged(tx, merge, pointer + 1, upTo, times);
      cuts += parts;
      // The probe measures the common case: a batch the engine refuses would go to the client path (here: stop).
      if (why !== null) throw new Error(`batch ${pointer + 1}..${upTo} is not the common case: ${why}`);
      await tx.dialect.silenceCapture(tx, false);
    });
  }
  return cuts;
}

try {
  const src = await setup.handle('src');
  const tgt = await setup.handle('tgt');
  for (const phase of PHASES) await runPhase(src.client, w, phase);
  let moved = 0;
  for (let pass = 0; moved < changeCount(w) && pass < 100; pass++)
    moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  const horizon = Number((await tgt.client.query('SELECT max(id) AS m FROM ds_change_inbox')).rows[0].m);
  console.log(`${to}: ${moved} changes in the inbox (W at ${scale}); load ${load()}`);
  const table = setup.table('tgt');
  const merge = to === 'sqlite' ? sqliteEngineMerge(table) : mysqlEngineMerge(table);
  for (const sql of merge.setup) await tgt.client.exec(sql);
  if (process.env.ENGINE_MERGE_PERTURB) {
    // The guard's refusals: each case changes the target or one inbox row, runs the engine path, and puts the row back.
    const ident = tgt.dialect.sql.ident;
    const firstUpdate = Number((await tgt.client.query("SELECT min(id) AS m FROM ds_change_inbox WHERE object_operation = 'U'")).rows[0].m);
    const cases: Array<[string, string]> = [
      ['a local row with the key of the first insert', `INSERT INTO ${ident(TABLE)} (order_id, quantity) VALUES ('o0000000', 5)`],
      [
        'an unknown member in the first insert',
        `UPDATE ds_change_inbox SET object_value = REPLACE(object_value, '"quantity"', '"nope": 1, "quantity"') WHERE id = 1`,
      ],
      [
        'seven fraction digits in a timestamp',
        `UPDATE ds_change_inbox SET object_value = REPLACE(object_value, '.000000"', '.0000001"') WHERE id = 1`,
      ],
      ['a number for a text column', `UPDATE ds_change_inbox SET object_value = REPLACE(object_value, '"bench"', '7') WHERE id = 1`],
      ['an impossible date', `UPDATE ds_change_inbox SET object_value = REPLACE(object_value, '2025-05-25', '2025-02-30') WHERE id = 1`],
      [
        'a conflict: the old value of an update is not the row',
        `UPDATE ds_change_inbox SET object_value_old = '{"quantity": 99999}' WHERE id = ${firstUpdate}`,
      ],
      ['an update older than the insert', `UPDATE ds_change_inbox SET change_version = 1 WHERE id = ${firstUpdate}`],
      ['a key change', `UPDATE ds_change_inbox SET object_id_old = '"x"' WHERE id = ${firstUpdate}`],
    ];
    const saved = (await tgt.client.query(`SELECT * FROM ds_change_inbox WHERE id IN (1, ${firstUpdate})`)).rows;
    for (const [what, sql] of cases) {
      await resetTarget(tgt.client, IMPORT_ID);
      await tgt.client.transaction(async (tx) => {
        await tx.dialect.silenceCapture(tx, true);
        await tx.query(sql);
        await tx.dialect.silenceCapture(tx, false);
      });
      let outcome = 'NOT REFUSED';
      try {
        await engineMerge(tgt.client, merge, horizon);
      } catch (error) {
        outcome = `refused: ${(error as Error).message.split('\n')[0].slice(0, 160)}`;
      }
      console.log(`${what}: ${outcome}`);
      for (const row of saved) {
        const cols = ['object_value', 'object_value_old', 'change_version', 'object_id_old'];
        await tgt.client.query(
          `UPDATE ds_change_inbox SET ${cols.map((c, i) => `${c} = ${tgt.dialect.sql.param(i + 1)}`).join(', ')} WHERE id = ${tgt.dialect.sql.param(5)}`,
          [...cols.map((c) => row[c]), row.id],
        );
      }
    }
  }
  const serverCpu = mariadbCpuSeconds();
  const sessionCpu = to === 'mysql' ? await mariadbSessionCpuSeconds(tgt.client) : null;
  let reference: Awaited<ReturnType<typeof fingerprint>> | null = null;
  const sums = { client: { cpu: 0, wall: 0, server: 0, session: 0 }, engine: { cpu: 0, wall: 0, server: 0, session: 0 } };
  for (let round = 0; round < rounds; round++) {
    for (const path of round % 2 === 0 ? (['client', 'engine'] as const) : (['engine', 'client'] as const)) {
      await resetTarget(tgt.client, IMPORT_ID);
      const s0 = serverCpu?.() ?? 0;
      const g0 = sessionCpu?.() ?? 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let partCount = 0;
      if (path === 'client') {
        let done = 0;
        for (let pass = 0; done < moved && pass < 100; pass++) {
          const r = await importOnce(setup.config, setup.config.programs[1] as never, tgt);
          done += r.applied + r.unchanged + r.parked + r.waiting;
        }
      } else partCount = await engineMerge(tgt.client, merge, horizon);
      const wall = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      const cpu = (c.user + c.system) / 1e6;
      const server = (serverCpu?.() ?? 0) - s0;
      const session = (sessionCpu?.() ?? 0) - g0;
      Object.assign(sums[path], {
        cpu: sums[path].cpu + cpu,
        wall: sums[path].wall + wall,
        server: sums[path].server + server,
        session: sums[path].session + session,
      });
      const print = await fingerprint(tgt.client);
      let same = '';
      if (path === 'client') reference ??= print;
      if (reference && path === 'engine') {
        const rowsSame = print.rows.length === reference.rows.length && print.rows.every((r, i) => r === reference!.rows[i]);
        const entriesSame = print.entries.length === reference.entries.length && print.entries.every((r, i) => r === reference!.entries[i]);
        const firstDiff = (a: string[], b: string[]) => {
          const i = a.findIndex((x, j) => x !== b[j]);
          return i < 0 ? `lengths ${a.length} vs ${b.length}` : `${a[i]} vs ${b[i]}`;
        };
        same = `; rows ${rowsSame ? 'equal' : `DIFFER (${firstDiff(print.rows, reference.rows)})`}, entries ${entriesSame ? 'equal' : `DIFFER (${firstDiff(print.entries, reference.entries)})`}`;
      }
      const mariadb = to === 'mysql' ? `, mariadbd CPU ${server.toFixed(2)} s (session thread ${session.toFixed(2)} s)` : '';
      console.log(
        `round ${round + 1} ${path.padEnd(6)}: process CPU ${cpu.toFixed(2)} s, wall ${wall.toFixed(2)} s${mariadb}; ${print.rows.length} rows, ${print.entries.length} entries, ${print.other}${path === 'engine' ? `, ${partCount} parts` : ''}${same}; load ${load()}`,
      );
    }
  }
  const avg = (x: number) => (x / rounds).toFixed(2);
  for (const path of ['client', 'engine'] as const) {
    const s = sums[path];
    console.log(
      `mean ${path}: process CPU ${avg(s.cpu)} s, wall ${avg(s.wall)} s${to === 'mysql' ? `, mariadbd ${avg(s.server)} s, session ${avg(s.session)} s` : ''}; ${((moved * rounds) / s.wall).toFixed(0)} changes/s`,
    );
  }
  if (times) for (const [shape, ms] of [...times].sort((a, b) => b[1] - a[1])) console.log(`  ${ms.toFixed(0).padStart(7)} ms  ${shape}`);
} finally {
  await setup.close();
}
