/**
 * Case 7, load: `dsync load` of 100,000 rows that predate the triggers (written with
 * capture silenced), PostgreSQL to PostgreSQL, through src/runtime/load (what the CLI
 * runs), against a same-run baseline: the same rows read in the same 1,000-row keyset
 * chunks (the load's default `--chunk-rows` too) and written to a plain table with the
 * same bulk writer (COPY on PostgreSQL), one transaction per chunk, without version
 * entries, load state or merge. The ratio is what onboarding safety costs over a bare
 * copy. The load may use a second target connection (two chunks at a time); the copy
 * is one connection per side, as a bare copy is.
 */
import type { DbClient } from '../../src/core/dialect.ts';
import { insertTableRows } from '../../src/runtime/load/load-chunk.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { RangeReader } from '../../src/verify/range-reader.ts';
import { insertGeneratedRows } from '../bulk-sql.ts';
import { createBenchSetup } from '../nodes.ts';
import { fmt, perSecond, progress, type ResultRow, seconds, verdict } from '../report.ts';

const CHUNK = 1000;

export async function loadCase(scale: number): Promise<ResultRow> {
  const n = Math.max(1000, Math.round(100_000 * scale));
  const setup = await createBenchSetup(
    [
      { name: 'src', dialect: 'postgres', sync: true },
      { name: 'tgt', dialect: 'postgres', sync: true },
      { name: 'base', dialect: 'postgres', sync: false },
    ],
    [{ id: 1000, type: 'transport', from: 'src', to: 'tgt' }],
  );
  try {
    const [src, tgt, base] = [await setup.handle('src'), await setup.handle('tgt'), await setup.handle('base')];
    progress(`load: ${fmt(n)} rows in PostgreSQL, written with capture silenced (they predate the triggers)`);
    await src.client.transaction(async (tx: DbClient) => {
      await tx.dialect.silenceCapture(tx, true);
      await insertGeneratedRows(tx, 0, n, 50_000);
      await tx.dialect.silenceCapture(tx, false);
    });
    await src.client.exec('VACUUM ANALYZE sales_order');

    progress('load: baseline, a bare chunked copy');
    const table = setup.table('src');
    const columns = table.columns.map((c) => c.name);
    const reader = await RangeReader.open({ client: src.client, table }, columns, table.primaryKey);
    let started = performance.now();
    let copied = 0;
    for (let lo = null as ReturnType<typeof reader.keyOf> | null; ; ) {
      const { rows, lastKey } = await reader.fetch(lo, null, CHUNK);
      if (rows.length === 0) break;
      const values = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, src.dialect.fromDriver(table.columns[i], row[c])])));
      await base.client.transaction((tx) => insertTableRows(tx, setup.table('base'), values));
      copied += rows.length;
      lo = lastKey;
    }
    const baseMs = performance.now() - started;

    progress('load: dsync load');
    started = performance.now();
    const report = await loadNodes(setup.config, src, tgt, ['sales_order'], { chunkRows: CHUNK });
    const loadMs = performance.now() - started;
    const loaded = report.tables[0].rowsRead;
    const { rows } = await tgt.client.query('SELECT count(*) AS n FROM sales_order');
    const ok = loaded === n && copied === n && Number(rows[0].n) === n;
    const [rate, baseRate] = [perSecond(n, loadMs), perSecond(n, baseMs)];
    return {
      case: '7 load',
      subject: `PostgreSQL → PostgreSQL, ${fmt(n)} existing rows`,
      measured: `${fmt(rate)} rows/s (${seconds(loadMs)})`,
      baseline: `${fmt(baseRate)} rows/s (${seconds(baseMs)}), bare chunked copy`,
      ratio: baseRate > 0 ? rate / baseRate : null,
      target: '≥ 0.5 × baseline',
      verdict: verdict(rate >= 0.5 * baseRate, ok),
      note: ok
        ? `${CHUNK}-row chunks, entries and resumable state included`
        : `UNEXPECTED: loaded ${loaded}, copied ${copied}, target holds ${rows[0].n}`,
      data: { rows: n, loadMs, baseMs },
    };
  } finally {
    await setup.close();
  }
}
