/**
 * What capture costs on a send-only node (nodes.<n>.sendOnly: no version store, the outbox row
 * alone) against the normal capture and against no capture at all, on one brand's sales_order:
 * W's single-row statements through the driver (1,000 per transaction, as case 1 writes them) and
 * one INSERT … SELECT, UPDATE and DELETE of `bulk` rows; on PostgreSQL also W's one-row statements
 * from a PL/pgSQL loop in the backend (1,000 per call and transaction): no round trip, so the
 * backend's CPU per statement is steadier on a shared machine. The two capture scripts are generated
 * from the templates (generateNode with sendOnly false and true) and applied in turn to the same
 * database, rounds alternating the order; best of the rounds. The database's own CPU for the
 * session is reported next to wall time: the PostgreSQL backend's (/proc/<pid>/schedstat, ns),
 * MariaDB's session thread, on SQLite (in process) this process's. Extra variants: name=file.sql.
 * Not a benchmark case: evidence for docs/performance.md.
 *
 *   npx tsx bench/probes/send-only-capture.ts [postgres|sqlite|mysql] [n=2000] [bulk=100000] [rounds=3] [name=file.sql …]
 */
import { readFileSync } from 'node:fs';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import { generateNode } from '../../src/generate/generate.ts';
import { insertGeneratedRows, updateAllRows } from '../bulk-sql.ts';
import { unavailableReason } from '../databases.ts';
import { mariadbSessionCpuSeconds } from '../machine.ts';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { fmt } from '../report.ts';
import { PHASES, runPhase, type Workload } from '../workload.ts';

const [dialectArg, nArg, bulkArg, roundsArg, ...extraArgs] = process.argv.slice(2);
const dialect = (dialectArg ?? 'postgres') as DialectName;
const n = Number(nArg ?? 2000);
const bulk = Number(bulkArg ?? 100_000);
const rounds = Number(roundsArg ?? 3);
const w: Workload = { inserts: n, updates: n, deletes: Math.round(n / 5), perTransaction: 1000 };

const ALL_STEPS = [
  'insert',
  'update',
  'delete',
  'loop insert',
  'loop update',
  'loop delete',
  'bulk insert',
  'bulk update',
  'bulk delete',
] as const;
type Step = (typeof ALL_STEPS)[number];
/** The loop steps (PostgreSQL only): W's one-row statements from a PL/pgSQL loop in the backend, no round trip between them. */
const STEPS = ALL_STEPS.filter((s) => dialect === 'postgres' || !s.startsWith('loop'));
/** Statements (W, loop) or rows (bulk) each step writes. */
const countOf = (step: Step) => (step.startsWith('bulk') ? bulk : step.endsWith('insert') || step.endsWith('update') ? n : w.deletes);

/** PL/pgSQL loops of W's one-row statements over rows a..b-1 (the rows of bulk-sql.ts's INSERT … SELECT). */
const LOOPS = [
  `CREATE OR REPLACE FUNCTION probe_w_insert(a integer, b integer) RETURNS void LANGUAGE plpgsql AS $$
   BEGIN
     FOR g IN a..b - 1 LOOP
       INSERT INTO ${TABLE} (order_id, order_type, description, product_type_name, customer_id, quantity, order_date,
         update_datetime, updated_by_user, updated_by_server)
       VALUES ('o' || lpad(g::text, 7, '0'), CASE WHEN g % 2 = 1 THEN 'wholesale' ELSE 'retail' END, 'order ' || g || ' description text',
         (ARRAY['desktop', 'laptop', 'tablet'])[g % 3 + 1], 'c' || (g % 1000), g % 100, DATE '2025-05-25',
         TIMESTAMP '2025-01-01 00:00:00' + g * INTERVAL '1 second', 'bench', 'app');
     END LOOP;
   END $$`,
  `CREATE OR REPLACE FUNCTION probe_w_update(a integer, b integer) RETURNS void LANGUAGE plpgsql AS $$
   BEGIN
     FOR g IN a..b - 1 LOOP
       UPDATE ${TABLE} SET quantity = 1000 + g WHERE order_id = 'o' || lpad(g::text, 7, '0');
     END LOOP;
   END $$`,
  `CREATE OR REPLACE FUNCTION probe_w_delete(a integer, b integer) RETURNS void LANGUAGE plpgsql AS $$
   BEGIN
     FOR g IN a..b - 1 LOOP
       DELETE FROM ${TABLE} WHERE order_id = 'o' || lpad(g::text, 7, '0');
     END LOOP;
   END $$`,
];

/** One loop phase in calls of 1,000 statements, each call its own transaction. */
async function runLoop(client: DbClient, what: 'insert' | 'update' | 'delete'): Promise<void> {
  const count = what === 'delete' ? w.deletes : n;
  for (let a = 0; a < count; a += 1000) await client.query(`SELECT probe_w_${what}($1, $2)`, [a, Math.min(a + 1000, count)]);
}

async function dropCaptureTriggers(client: DbClient): Promise<void> {
  const q = client.dialect.sql.ident;
  if (dialect === 'postgres') {
    const { rows } = await client.query<{ tgname: string }>(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.${TABLE}'::regclass AND NOT tgisinternal`,
    );
    for (const r of rows) await client.exec(`DROP TRIGGER ${q(r.tgname)} ON public.${TABLE}`);
  } else if (dialect === 'sqlite') {
    const { rows } = await client.query<{ name: string }>(
      `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '${TABLE}'`,
    );
    for (const r of rows) await client.exec(`DROP TRIGGER ${q(r.name)}`);
  } else {
    const { rows } = await client.query<{ TRIGGER_NAME: string }>(
      `SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = '${TABLE}'`,
    );
    for (const r of rows) await client.exec(`DROP TRIGGER ${q(r.TRIGGER_NAME)}`);
  }
}

/** Empties the table, the version store and the outbox, and puts `script`'s triggers on the table. */
async function reset(client: DbClient, script: string | null): Promise<void> {
  await dropCaptureTriggers(client);
  for (const t of [TABLE, 'ds_row_version', 'ds_change_outbox'])
    await client.exec(`${dialect === 'sqlite' ? 'DELETE FROM' : 'TRUNCATE TABLE'} ${client.dialect.sql.ident(t)}`);
  // Each step starts after a checkpoint: the first write of a page after one logs the whole page,
  // which would otherwise fall on whichever variant follows a bulk step.
  if (dialect === 'postgres') {
    await client.exec(`VACUUM ANALYZE ${TABLE}, ds_row_version, ds_change_outbox`);
    await client.exec('CHECKPOINT');
  }
  if (script) for (const statement of client.dialect.splitScript(script)) await client.exec(statement);
}

const why = await unavailableReason(dialect);
if (why) {
  console.log(`${dialect}: skipped (${why})`);
  process.exit(0);
}
const setup = await createBenchSetup([{ name: 'src', dialect, sync: true }]);
try {
  const handle = await setup.handle('src');
  const { client } = handle;
  const captureScript = (sendOnly: boolean) => {
    const files = generateNode(setup.config, { ...handle.node, sendOnly }, handle.dialect, [setup.table('src')]);
    return files.find((f) => f.fileName.endsWith(`_capture_${TABLE}.sql`))!.content;
  };
  const variants = [
    { name: 'no capture', script: null as string | null },
    { name: 'capture', script: captureScript(false) },
    { name: 'capture, sendOnly', script: captureScript(true) },
    ...extraArgs.map((arg) => {
      const [name, file] = arg.split('=');
      return { name, script: readFileSync(file, 'utf8') };
    }),
  ];
  if (dialect === 'postgres') for (const statement of LOOPS) await client.exec(statement);
  let mariadb: (() => number) | null = null;
  let pid: number | null = null;
  if (dialect === 'postgres') pid = Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid);
  if (dialect === 'mysql') mariadb = await mariadbSessionCpuSeconds(client);
  const cpuMs = (): number => {
    if (mariadb) return mariadb() * 1000;
    // schedstat's first field is the task's time on a CPU in ns (stat's utime/stime tick every 10 ms).
    if (pid !== null) return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  const cpuLabel = dialect === 'postgres' ? 'backend CPU' : mariadb ? 'session thread CPU' : 'process CPU';

  const best = new Map<string, Record<Step, { wall: number; cpu: number }>>();
  // The loop's statements run in the backend: its CPU is the statements' own, without the round trips' reads and writes.
  const keep = (name: string, step: Step, wall: number, cpu: number) => {
    const times = best.get(name) ?? ({} as Record<Step, { wall: number; cpu: number }>);
    const prev = times[step];
    times[step] = { wall: Math.min(wall, prev?.wall ?? Infinity), cpu: Math.min(cpu, prev?.cpu ?? Infinity) };
    best.set(name, times);
  };
  const timed = async (name: string, step: Step, run: () => Promise<unknown>) => {
    const cpu0 = cpuMs();
    const started = performance.now();
    await run();
    keep(name, step, performance.now() - started, cpuMs() - cpu0);
  };
  for (let round = 0; round < rounds; round++) {
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      await reset(client, v.script);
      for (const phase of PHASES) await timed(v.name, phase, () => runPhase(client, w, phase));
      if (dialect === 'postgres') {
        await reset(client, v.script);
        for (const what of ['insert', 'update', 'delete'] as const) await timed(v.name, `loop ${what}`, () => runLoop(client, what));
      }
      await reset(client, v.script);
      await timed(v.name, 'bulk insert', () => insertGeneratedRows(client, 0, bulk));
      await timed(v.name, 'bulk update', () => updateAllRows(client));
      await timed(v.name, 'bulk delete', () => client.exec(`DELETE FROM ${client.dialect.sql.ident(TABLE)}`));
    }
  }

  console.log(
    `\n${dialect}: W with ${n} inserts, ${n} updates, ${w.deletes} deletes (single-row, 1,000 per transaction); bulk ${bulk} rows; best of ${rounds}`,
  );
  console.log(`µs per statement (W, loop) or per row (bulk): wall / ${cpuLabel}; capture = ${cpuLabel} minus "no capture"'s`);
  console.log(['variant'.padEnd(20), ...STEPS.map((s) => s.padStart(16))].join(''));
  const plain = best.get('no capture')!;
  const us = (ms: number, step: Step) => (ms * 1000) / countOf(step);
  for (const v of variants) {
    const t = best.get(v.name)!;
    console.log([v.name.padEnd(20), ...STEPS.map((s) => `${fmt(us(t[s].wall, s), 1)} / ${fmt(us(t[s].cpu, s), 1)}`.padStart(16))].join(''));
  }
  for (const v of variants.slice(1)) {
    const t = best.get(v.name)!;
    console.log([`  capture: ${v.name}`.padEnd(20), ...STEPS.map((s) => fmt(us(t[s].cpu - plain[s].cpu, s), 1).padStart(16))].join(''));
  }
} finally {
  await setup.close();
}
