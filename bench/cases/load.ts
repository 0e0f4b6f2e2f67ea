/**
 * Case 7, load: `dsync load` of 100,000 rows that predate the triggers (written with
 * capture silenced), PostgreSQL to PostgreSQL, through src/runtime/load (what the CLI
 * runs), against a same-run baseline: the same rows read in the same 1,000-row keyset
 * chunks (the load's default `--chunk-rows` too) and written to a plain table with the
 * same bulk writer (COPY on PostgreSQL), one transaction per chunk, without version
 * entries, load state or merge. The ratio is what onboarding safety costs over a bare
 * copy. The load may use a second target connection (two chunks at a time); the copy
 * is one connection per side, as a bare copy is. Three rounds on fresh databases, in
 * alternating order; the medians are compared.
 */
import type { DbClient } from '../../src/core/dialect.ts';
import { insertTableRows } from '../../src/runtime/load/load-chunk.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { RangeReader } from '../../src/verify/range-reader.ts';
import { insertGeneratedRows } from '../bulk-sql.ts';
import { createBenchSetup } from '../nodes.ts';
import { fmt, perSecond, progress, type ResultRow, seconds, verdict } from '../report.ts';

const CHUNK = 1000;
/** Rounds of copy and load, each on fresh databases, in alternating order; the medians are compared (one round of a second or two swings by ±30 % on a busy machine). */
const ROUNDS = 3;

interface Round {
  loadMs: number;
  baseMs: number;
  problem: string | null;
}

export async function loadCase(scale: number): Promise<ResultRow> {
  const n = Math.max(1000, Math.round(100_000 * scale));
  const rounds: Round[] = [];
  for (let round = 0; round < ROUNDS; round++) rounds.push(await loadRound(n, round % 2 === 0 ? 'copy first' : 'load first'));
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const [loadMs, baseMs] = [median(rounds.map((r) => r.loadMs)), median(rounds.map((r) => r.baseMs))];
  const problem = rounds.find((r) => r.problem !== null)?.problem ?? null;
  const [rate, baseRate] = [perSecond(n, loadMs), perSecond(n, baseMs)];
  return {
    case: '7 load',
    subject: `PostgreSQL → PostgreSQL, ${fmt(n)} existing rows`,
    measured: `${fmt(rate)} rows/s (${seconds(loadMs)}, median of ${ROUNDS})`,
    baseline: `${fmt(baseRate)} rows/s (${seconds(baseMs)}), bare chunked copy`,
    ratio: baseRate > 0 ? rate / baseRate : null,
    target: '≥ 0.5 × baseline',
    verdict: verdict(rate >= 0.5 * baseRate, problem === null),
    note:
      problem === null
        ? `${CHUNK}-row chunks, entries and resumable state included; rounds in alternating order`
        : `UNEXPECTED: ${problem}`,
    data: { rows: n, loadMs, baseMs, rounds },
  };
}

/**
 * Three PostgreSQL nodes for a load: src holding `n` rows that predate the triggers
 * (written with capture silenced), tgt synchronized and empty, base a plain database
 * for the bare copy. Shared with bench/probes/load-trace.ts.
 */
export async function createLoadSetup(n: number) {
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
    await src.client.transaction(async (tx: DbClient) => {
      await tx.dialect.silenceCapture(tx, true);
      await insertGeneratedRows(tx, 0, n, 50_000);
      await tx.dialect.silenceCapture(tx, false);
    });
    await src.client.exec('VACUUM ANALYZE sales_order');
    return { setup, src, tgt, base };
  } catch (error) {
    await setup.close();
    throw error;
  }
}

async function loadRound(n: number, order: 'copy first' | 'load first'): Promise<Round> {
  progress(`load: ${fmt(n)} rows in PostgreSQL, written with capture silenced (they predate the triggers); ${order}`);
  const { setup, src, tgt, base } = await createLoadSetup(n);
  try {
    const copy = async () => {
      const table = setup.table('src');
      const columns = table.columns.map((c) => c.name);
      const reader = await RangeReader.open({ client: src.client, table }, columns, table.primaryKey);
      const started = performance.now();
      let copied = 0;
      for (let lo = null as ReturnType<typeof reader.keyOf> | null; ; ) {
        const { rows, lastKey } = await reader.fetch(lo, null, CHUNK);
        if (rows.length === 0) break;
        const values = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, src.dialect.fromDriver(table.columns[i], row[c])])));
        await base.client.transaction((tx) => insertTableRows(tx, setup.table('base'), values));
        copied += rows.length;
        lo = lastKey;
      }
      return { ms: performance.now() - started, copied };
    };
    const load = async () => {
      const started = performance.now();
      const report = await loadNodes(setup.config, src, tgt, ['sales_order'], { chunkRows: CHUNK });
      return { ms: performance.now() - started, loaded: report.tables[0].rowsRead };
    };
    let copied: Awaited<ReturnType<typeof copy>>;
    let loaded: Awaited<ReturnType<typeof load>>;
    if (order === 'copy first') {
      copied = await copy();
      loaded = await load();
    } else {
      loaded = await load();
      copied = await copy();
    }
    const { rows } = await tgt.client.query('SELECT count(*) AS n FROM sales_order');
    const ok = loaded.loaded === n && copied.copied === n && Number(rows[0].n) === n;
    return {
      loadMs: loaded.ms,
      baseMs: copied.ms,
      problem: ok ? null : `loaded ${loaded.loaded}, copied ${copied.copied}, target holds ${rows[0].n} of ${n}`,
    };
  } finally {
    await setup.close();
  }
}
