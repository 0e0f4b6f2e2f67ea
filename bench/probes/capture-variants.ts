/**
 * Capture trigger variants priced against each other on workload W (single-row statements
 * through the driver, 1,000 per transaction, as case 1 writes them) and on one bulk
 * INSERT … SELECT and UPDATE: each variant is a capture script for sales_order (the
 * generated 0101_capture_sales_order.sql of some template revision), applied in turn to
 * the same database, rounds alternating the order. On PostgreSQL the backend's own CPU
 * time (/proc/<pid>/stat; on MariaDB the session's server thread) is reported next to wall time, on SQLite (in process) this
 * process's own CPU: on a shared machine it is the steadier of the two. Not a benchmark case: evidence for docs/performance.md.
 *
 *   npx tsx bench/probes/capture-variants.ts DIALECT N ROUNDS name=file.sql [name=file.sql …]
 *   (name=- is the table without triggers)
 */
import { readFileSync } from 'node:fs';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import { insertGeneratedRows, updateAllRows } from '../bulk-sql.ts';
import { mariadbSessionCpuSeconds } from '../machine.ts';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { fmt } from '../report.ts';
import { PHASES, type Phase, runPhase, type Workload } from '../workload.ts';

const [dialect, nArg, roundsArg, ...variantArgs] = process.argv.slice(2) as [DialectName, string, string, ...string[]];
const n = Number(nArg);
const rounds = Number(roundsArg);
const variants = variantArgs.map((arg) => {
  const [name, file] = arg.split('=');
  return { name, script: file === '-' ? null : readFileSync(file, 'utf8') };
});
const w: Workload = { inserts: n, updates: n, deletes: Math.round(n / 5), perTransaction: 1000 };

/** The backend's CPU on PostgreSQL, the session's server thread on MariaDB; on SQLite (in process) this process's own. */
let mariadbSession: (() => number) | null = null;
function backendCpuMs(pid: number | null): number {
  if (mariadbSession) return mariadbSession() * 1000;
  if (dialect === 'sqlite') {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  }
  if (pid === null) return 0;
  // schedstat's first field is the task's time on a CPU in ns (stat's utime/stime tick every 10 ms).
  if (dialect === 'postgres') return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function dropCaptureTriggers(client: DbClient): Promise<void> {
  if (dialect === 'postgres') {
    const { rows } = await client.query<{ tgname: string }>(
      "SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.sales_order'::regclass AND NOT tgisinternal",
    );
    for (const r of rows) await client.exec(`DROP TRIGGER ${client.dialect.sql.ident(r.tgname)} ON public.sales_order`);
  } else if (dialect === 'sqlite') {
    const { rows } = await client.query<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'sales_order'",
    );
    for (const r of rows) await client.exec(`DROP TRIGGER ${client.dialect.sql.ident(r.name)}`);
  } else {
    const { rows } = await client.query<{ TRIGGER_NAME: string }>(
      "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'sales_order'",
    );
    for (const r of rows) await client.exec(`DROP TRIGGER ${client.dialect.sql.ident(r.TRIGGER_NAME)}`);
  }
}

async function reset(client: DbClient, script: string | null): Promise<void> {
  await dropCaptureTriggers(client);
  for (const t of [TABLE, 'ds_row_version', 'ds_change_outbox']) await client.exec(`DELETE FROM ${client.dialect.sql.ident(t)}`);
  if (script) for (const statement of client.dialect.splitScript(script)) await client.exec(statement);
}

const setup = await createBenchSetup([{ name: 'src', dialect, sync: true }]);
try {
  const { client } = await setup.handle('src');
  const pid =
    dialect === 'sqlite'
      ? process.pid
      : dialect === 'postgres'
        ? Number((await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid)
        : (mariadbSession = await mariadbSessionCpuSeconds(client)) === null
          ? null
          : 0;
  type Times = Record<Phase | 'bulk insert' | 'bulk update', { wall: number; cpu: number }>;
  const best = new Map<string, Times>();
  const keep = (name: string, what: keyof Times, wall: number, cpu: number) => {
    const times = best.get(name) ?? ({} as Times);
    const prev = times[what];
    times[what] = { wall: Math.min(wall, prev?.wall ?? Infinity), cpu: Math.min(cpu, prev?.cpu ?? Infinity) };
    best.set(name, times);
  };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      await reset(client, v.script);
      for (const phase of PHASES) {
        const cpu0 = backendCpuMs(pid);
        const wall = await runPhase(client, w, phase);
        keep(v.name, phase, wall, backendCpuMs(pid) - cpu0);
      }
      await reset(client, v.script);
      for (const [what, run] of [
        ['bulk insert', () => insertGeneratedRows(client, 0, n * 5)],
        ['bulk update', () => updateAllRows(client)],
      ] as const) {
        const cpu0 = backendCpuMs(pid);
        const started = performance.now();
        await run();
        keep(v.name, what, performance.now() - started, backendCpuMs(pid) - cpu0);
      }
    }
  }
  const cols = [...PHASES, 'bulk insert', 'bulk update'] as const;
  console.log(`\n${dialect}: W with ${n} inserts, ${n} updates, ${w.deletes} deletes; bulk ${n * 5} rows; best of ${rounds}`);
  console.log(`µs per change, wall${pid !== null ? ' / backend CPU' : ''}`);
  console.log(['variant'.padEnd(24), ...cols.map((c) => c.padStart(18))].join(''));
  for (const v of variants) {
    const t = best.get(v.name)!;
    const rowsOf = (c: (typeof cols)[number]) => (c === 'insert' || c === 'update' ? n : c === 'delete' ? w.deletes : n * 5);
    const cell = (c: (typeof cols)[number]) =>
      `${fmt((t[c].wall * 1000) / rowsOf(c), 1)}${pid !== null ? ` / ${fmt((t[c].cpu * 1000) / rowsOf(c), 1)}` : ''}`.padStart(18);
    console.log([v.name.padEnd(24), ...cols.map(cell)].join(''));
  }
} finally {
  await setup.close();
}
