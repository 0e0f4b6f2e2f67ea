/**
 * The load case (bench/cases/load.ts) with every statement of the load and of the bare
 * copy counted and timed by shape, on both nodes: where a load's chunk spends its round
 * trips. Rounds alternate copy and load on fresh target tables so the two share the
 * machine's load.
 *
 *   npx tsx bench/probes/load-trace.ts [rows] [rounds]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { DbClient } from '../../src/core/dialect.ts';
import { insertTableRows } from '../../src/runtime/load/load-chunk.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { RangeReader } from '../../src/verify/range-reader.ts';
import { createLoadSetup } from '../cases/load.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';

/** Times the target's entry reads in order (does the read slow down as the target fills?). */
function timeEntryReads(client: DbClient, out: number[]): DbClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'transaction') return <T>(fn: (tx: DbClient) => Promise<T>) => target.transaction((tx) => fn(timeEntryReads(tx, out)));
      if (prop === 'query')
        return async (sql: string, params?: readonly unknown[]) => {
          const started = performance.now();
          try {
            return await target.query(sql, params);
          } finally {
            if (sql.includes('FROM ds_row_version')) out.push(performance.now() - started);
          }
        };
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const n = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 2);
const CHUNK = Number(process.env.CHUNK ?? 1000);

const { setup, src, tgt, base } = await createLoadSetup(n);
try {
  const table = setup.table('src');
  const columns = table.columns.map((c) => c.name);
  for (let round = 0; round < rounds; round++) {
    const copyTrace = new StatementTrace();
    const srcC = traceClient(src.client, copyTrace);
    const baseC = traceClient(base.client, copyTrace);
    await base.client.exec('TRUNCATE sales_order');
    const reader = await RangeReader.open({ client: srcC, table }, columns, table.primaryKey);
    let started = performance.now();
    const copyCpu0 = process.cpuUsage();
    for (let lo = null as ReturnType<typeof reader.keyOf> | null; ; ) {
      const { rows, lastKey } = await reader.fetch(lo, null, CHUNK);
      if (rows.length === 0) break;
      const values = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, src.dialect.fromDriver(table.columns[i], row[c])])));
      await baseC.transaction((tx) => insertTableRows(tx, setup.table('base'), values));
      lo = lastKey;
    }
    const copyMs = performance.now() - started;
    const copyCpu = process.cpuUsage(copyCpu0);

    const loads: string[] = [];
    const entryReads: number[] = [];
    const loadTrace = new StatementTrace();
    const targetTrace = new StatementTrace();
    let loadMs = 0;
    let cpu = { user: 0, system: 0 };
    for (const noOverlap of process.env.OVERLAP === 'both' ? [false, true] : [process.env.OVERLAP === 'no']) {
      await tgt.client.exec('TRUNCATE sales_order; DELETE FROM ds_row_version; DELETE FROM ds_load_state');
      entryReads.length = 0;
      const s = { ...src, client: traceClient(src.client, loadTrace) };
      const t = { ...tgt, client: traceClient(timeEntryReads(tgt.client, entryReads), targetTrace) };
      started = performance.now();
      const cpu0 = process.cpuUsage();
      const profiler = process.env.PROFILE ? new Session() : null;
      if (profiler) {
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
      }
      await loadNodes(setup.config, s, t, ['sales_order'], { chunkRows: CHUNK, noOverlap });
      if (profiler) {
        const { profile } = await profiler.post('Profiler.stop');
        writeFileSync(process.env.PROFILE!, JSON.stringify(profile));
        profiler.disconnect();
      }
      cpu = process.cpuUsage(cpu0);
      loadMs = performance.now() - started;
      loads.push(`${noOverlap ? 'one chunk at a time' : 'overlapped'} ${loadMs.toFixed(0)} ms (ratio ${(copyMs / loadMs).toFixed(2)})`);
    }
    const sum = (tr: StatementTrace) => tr.top(100).reduce((a, x) => a + x.ms, 0);
    console.log(
      `round ${round}: copy ${copyMs.toFixed(0)} ms (${copyTrace.statements} statements, ${sum(copyTrace)} ms in them, cpu ${((copyCpu.user + copyCpu.system) / 1000).toFixed(0)} ms); load ${loads.join(', ')}; last: ${loadTrace.statements + targetTrace.statements} statements traced (the overlap's second connection is not), cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms`,
    );
    const tenth = Math.ceil(entryReads.length / 10);
    const means = [];
    for (let i = 0; i < entryReads.length; i += tenth)
      means.push((entryReads.slice(i, i + tenth).reduce((a, b) => a + b, 0) / tenth).toFixed(1));
    console.log(`  target entry reads, mean ms by tenth of the load: ${means.join(' ')}`);
    if (round === rounds - 1) {
      console.log('copy:');
      for (const x of copyTrace.top(8)) console.log(`  ${String(x.count).padStart(6)} ${String(x.ms).padStart(6)} ms  ${x.shape}`);
      console.log('load, target:');
      for (const x of targetTrace.top(10)) console.log(`  ${String(x.count).padStart(6)} ${String(x.ms).padStart(6)} ms  ${x.shape}`);
      console.log('load, source:');
      for (const x of loadTrace.top(4)) console.log(`  ${String(x.count).padStart(6)} ${String(x.ms).padStart(6)} ms  ${x.shape}`);
    }
  }
} finally {
  await setup.close();
}
