/**
 * Case 6, verify: 1,000,000 equal rows in PostgreSQL and in SQLite, compared with
 * src/verify/compare-tables.ts (what `dsync verify` runs). Both tables are filled by
 * INSERT … SELECT with the same values, then compared once, timed.
 */
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { insertGeneratedRows } from '../bulk-sql.ts';
import { createBenchSetup } from '../nodes.ts';
import { fmt, perSecond, progress, type ResultRow, seconds, verdict } from '../report.ts';

export async function verifyCase(scale: number): Promise<ResultRow> {
  const n = Math.max(1000, Math.round(1_000_000 * scale));
  const limitMs = 15_000 * (n / 1_000_000);
  const setup = await createBenchSetup([
    { name: 'a', dialect: 'postgres', sync: false },
    { name: 'b', dialect: 'sqlite', sync: false },
  ]);
  try {
    const [a, b] = [await setup.handle('a'), await setup.handle('b')];
    progress(`verify: filling ${fmt(n)} rows in PostgreSQL and SQLite`);
    await insertGeneratedRows(a.client, 0, n, 250_000);
    await insertGeneratedRows(b.client, 0, n, 250_000);
    await a.client.exec('VACUUM ANALYZE sales_order');
    progress('verify: comparing');
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const started = performance.now();
    const result = await compareTables(
      { client: a.client, table: setup.table('a') },
      { client: b.client, table: setup.table('b') },
      { onProgress: () => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)) },
    );
    const ms = performance.now() - started;
    const equal = !hasDifferences(result) && result.rowsA === n && result.rowsB === n;
    return {
      case: '6 verify',
      subject: `PostgreSQL vs SQLite, ${fmt(n)} equal rows`,
      measured: `${seconds(ms)}, ${fmt(perSecond(n, ms))} rows/s`,
      baseline: '',
      ratio: null,
      target: `≤ ${fmt(limitMs / 1000, limitMs < 10_000 ? 1 : 0)} s`,
      verdict: verdict(ms <= limitMs, equal),
      note: `${equal ? 'no differences found' : `UNEXPECTED: ${result.differenceCount} differences`}; ${result.segments} segments; process RSS ${fmt(rssBefore / 2 ** 20)} → ${fmt(rssPeak / 2 ** 20)} MB during the compare`,
      data: { rows: n, ms, segments: result.segments, rssBefore, rssPeak },
    };
  } finally {
    await setup.close();
  }
}
