/**
 * Probe (issue 13, capture mode keys): how fast capture passes turn a table's noted keys into
 * outbox rows, by batch size. One node per batch size with sales_order in mode keys; the same
 * writes on each (n inserted rows, then an UPDATE of every row by key one statement at a time),
 * then passes until no note is left, timed, with this process's CPU beside the wall time.
 * Not a benchmark case: evidence for docs/performance.md.
 *
 *   npx tsx bench/probes/keys-pass.ts [postgres|sqlite|mysql] [n=20000] [batch sizes=500,2000]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { DialectName } from '../../src/core/dialect.ts';
import { capturePass } from '../../src/runtime/capture/capture-pass.ts';
import { keysCapturePass } from '../../src/runtime/capture/query-capture.ts';
import { insertGeneratedRows } from '../bulk-sql.ts';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { summarizeProfile } from '../profile-summary.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';
import { fmt } from '../report.ts';
import { orderId } from '../workload.ts';

const dialect = (process.argv[2] ?? 'postgres') as DialectName;
const n = Number(process.argv[3] ?? 20_000);
const sizes = (process.argv[4] ?? '500,2000').split(',').map(Number);
const setup = await createBenchSetup(sizes.map((_, i) => ({ name: `k${i}`, dialect, sync: true, capture: 'keys' as const })));
try {
  for (const [i, batchRows] of sizes.entries()) {
    const handle = await setup.handle(`k${i}`);
    const { client } = handle;
    await capturePass(setup.config, setup.nodes, `k${i}`); // the first pass's scan, over an empty table
    await insertGeneratedRows(client, 0, n);
    const p = client.dialect.sql.param;
    await client.transaction(async (tx) => {
      for (let r = 0; r < n; r++) await tx.query(`UPDATE ${TABLE} SET quantity = quantity + 1 WHERE order_id = ${p(1)}`, [orderId(r)]);
    });
    // PROFILE=file: a V8 CPU profile of the passes alone, summarized after (and written to `file`).
    const session = process.env.PROFILE ? new Session() : null;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    // TRACE=1: the passes' statements by shape, timed (each with the driver's work on its result).
    const trace = new StatementTrace();
    const traced = process.env.TRACE ? { ...handle, client: traceClient(client, trace) } : handle;
    const cpu = process.cpuUsage();
    const started = performance.now();
    let notes = 0;
    for (;;) {
      const result = await keysCapturePass(traced, TABLE, { batchRows });
      if (result.read === 0) break;
      notes += result.read;
    }
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(process.env.PROFILE!, JSON.stringify(profile));
      const summary = summarizeProfile(process.env.PROFILE!, 30)!;
      for (const f of summary.functions) console.log(`  ${fmt(f.ms)} ms ${f.pct.toFixed(1)} % ${f.name}`);
    }
    if (process.env.TRACE) for (const t of trace.top(12)) console.log(`  ${t.count} × ${t.ms} ms  ${t.shape}`);
    console.log(
      `${dialect} batch ${batchRows}: ${fmt(notes)} notes (${fmt(n)} rows) in ${fmt(ms / 1000, 2)} s, ${fmt((notes * 1000) / ms)} notes/s; this process's CPU ${fmt((used.user + used.system) / 1e6, 2)} s`,
    );
  }
} finally {
  await setup.close();
}
