/**
 * Cases 1 and 2, capture overhead: the same writes on two tables of the same brand in
 * the same run, one without dsync and one with its capture triggers; the ratio of
 * throughputs (with ÷ without). Phases alternate between the two databases, so that a
 * slow minute of a shared machine lands on both.
 */
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import { insertGeneratedRows, updateAllRows } from '../bulk-sql.ts';
import { capturePass } from '../../src/runtime/capture/capture-pass.ts';
import { createBenchSetup } from '../nodes.ts';
import { fmt, perSecond, progress, type ResultRow, seconds, verdict } from '../report.ts';
import { changeCount, PHASES, type PhaseTimes, phaseTimes, runPhase, type Workload } from '../workload.ts';

export const BRAND: Record<DialectName, string> = { postgres: 'PostgreSQL', sqlite: 'SQLite', mysql: 'MariaDB', mssql: 'SQL Server' };

/** Throughput ratio targets of W through a driver with bound parameters (issue 13). */
const APP_TARGET: Record<DialectName, number> = { postgres: 0.85, sqlite: 0.7, mysql: 0.7, mssql: 0.7 };

/**
 * W on `plain` (no triggers) and on `captured` (dsync's triggers), phase by phase,
 * alternating which goes first. Leaves W's backlog in `captured`'s outbox.
 */
export async function captureAppLike(
  dialect: DialectName,
  plain: DbClient | null,
  captured: DbClient,
  w: Workload,
): Promise<{ row: ResultRow | null; captured: PhaseTimes }> {
  const ms = { plain: { insert: 0, update: 0, delete: 0 }, captured: { insert: 0, update: 0, delete: 0 } };
  // The application's writes at better-sqlite3's own WAL setting (NORMAL), as this case always ran them: dsync's
  // connections commit at FULL, and an fsync per commit on both sides would measure the disk, not the triggers.
  if (dialect === 'sqlite') for (const client of [plain, captured]) await client?.exec('PRAGMA synchronous = NORMAL');
  for (const [i, phase] of PHASES.entries()) {
    const order =
      plain === null ? (['captured'] as const) : i % 2 === 0 ? (['plain', 'captured'] as const) : (['captured', 'plain'] as const);
    for (const which of order) {
      progress(`capture ${BRAND[dialect]}: W ${phase}s ${which === 'plain' ? 'without' : 'with'} triggers`);
      ms[which][phase] = await runPhase(which === 'plain' ? plain! : captured, w, phase);
    }
  }
  const withTriggers = phaseTimes(ms.captured, w);
  if (plain === null) return { row: null, captured: withTriggers };
  const without = phaseTimes(ms.plain, w);
  const ratio = without.totalMs / withTriggers.totalMs;
  const changes = changeCount(w);
  const perPhase = PHASES.map((p) => `${p} ${fmt(ms.plain[p] / ms.captured[p], 2)}`).join(', ');
  return {
    captured: withTriggers,
    row: {
      case: '1 capture, app-like',
      subject: BRAND[dialect],
      measured: `${fmt(perSecond(changes, withTriggers.totalMs))} changes/s with triggers (${seconds(withTriggers.totalMs)})`,
      baseline: `${fmt(perSecond(changes, without.totalMs))} changes/s without (${seconds(without.totalMs)})`,
      ratio,
      target: `≥ ${APP_TARGET[dialect]}`,
      verdict: verdict(ratio >= APP_TARGET[dialect]),
      note: `per phase (with ÷ without): ${perPhase}`,
      data: { without, with: withTriggers, changes },
    },
  };
}

/** Case 2: one INSERT … SELECT of n rows and one UPDATE of all of them, with triggers ÷ without. */
export async function captureBulk(dialect: DialectName, scale: number): Promise<ResultRow> {
  const n = Math.max(1, Math.round(100_000 * scale));
  const setup = await createBenchSetup([
    { name: 'plain', dialect, sync: false },
    { name: 'src', dialect, sync: true },
  ]);
  try {
    const plain = (await setup.handle('plain')).client;
    const captured = (await setup.handle('src')).client;
    const timed = async (what: string, fn: () => Promise<void>) => {
      progress(`bulk ${BRAND[dialect]}: ${what}`);
      const started = performance.now();
      await fn();
      return performance.now() - started;
    };
    const insertPlain = await timed(`INSERT … SELECT of ${n} rows without triggers`, () => insertGeneratedRows(plain, 0, n));
    const insertCaptured = await timed(`INSERT … SELECT of ${n} rows with triggers`, () => insertGeneratedRows(captured, 0, n));
    const updateCaptured = await timed('UPDATE of every row with triggers', () => updateAllRows(captured));
    const updatePlain = await timed('UPDATE of every row without triggers', () => updateAllRows(plain));
    const without = insertPlain + updatePlain;
    const withTriggers = insertCaptured + updateCaptured;
    const ratio = without / withTriggers;
    const rows = 2 * n;
    return {
      case: '2 capture, bulk',
      subject: BRAND[dialect],
      measured: `${fmt(perSecond(rows, withTriggers))} rows/s with triggers (${seconds(withTriggers)})`,
      baseline: `${fmt(perSecond(rows, without))} rows/s without (${seconds(without)})`,
      ratio,
      target: dialect === 'postgres' ? '≥ 0.4' : 'report',
      verdict: dialect === 'postgres' ? verdict(ratio >= 0.4) : 'INFO',
      note: `INSERT … SELECT ${fmt(insertPlain / insertCaptured, 2)} (${seconds(insertCaptured)} vs ${seconds(insertPlain)}), UPDATE ${fmt(updatePlain / updateCaptured, 2)} (${seconds(updateCaptured)} vs ${seconds(updatePlain)})`,
      data: {
        rows: n,
        insertPlainMs: insertPlain,
        insertCapturedMs: insertCaptured,
        updatePlainMs: updatePlain,
        updateCapturedMs: updateCaptured,
      },
    };
  } finally {
    await setup.close();
  }
}

/**
 * Case 2q, capture mode query: the bulk writes of case 2 on a table with triggers, and on
 * one without where capture passes find the changes instead (the inserts by the first
 * pass, the UPDATE, which leaves update_datetime alone, by a scan pass). Ratio: time of
 * writes + passes ÷ time of the writes with triggers. The passes run after the writes, so
 * this is the cost of catching up n changes, not of the application's own writes.
 */
export async function captureQuery(dialect: DialectName, scale: number): Promise<ResultRow> {
  const n = Math.max(1, Math.round(20_000 * scale));
  const setup = await createBenchSetup([
    { name: 'src', dialect, sync: true },
    { name: 'q', dialect, sync: true, capture: 'query' },
  ]);
  try {
    const captured = (await setup.handle('src')).client;
    const queried = (await setup.handle('q')).client;
    const timed = async (what: string, fn: () => Promise<unknown>) => {
      progress(`query ${BRAND[dialect]}: ${what}`);
      const started = performance.now();
      await fn();
      return performance.now() - started;
    };
    const insertTriggers = await timed(`INSERT … SELECT of ${n} rows with triggers`, () => insertGeneratedRows(captured, 0, n));
    const insertPlain = await timed(`INSERT … SELECT of ${n} rows, no triggers`, () => insertGeneratedRows(queried, 0, n));
    const insertPass = await timed('first capture pass (every row an insert)', () => capturePass(setup.config, setup.nodes, 'q'));
    const updateTriggers = await timed('UPDATE of every row with triggers', () => updateAllRows(captured));
    const updatePlain = await timed('UPDATE of every row, no triggers', () => updateAllRows(queried));
    const updatePass = await timed('scan pass (every row an update)', () => capturePass(setup.config, setup.nodes, 'q', { deletes: true }));
    const idlePass = await timed('a pass with nothing to capture (window only)', () => capturePass(setup.config, setup.nodes, 'q'));
    const { rows } = await queried.query<{ n: unknown }>('SELECT count(*) AS n FROM ds_change_outbox');
    if (Number(rows[0].n) !== 2 * n) throw new Error(`query capture wrote ${String(rows[0].n)} outbox rows for ${2 * n} changes`);
    const withTriggers = insertTriggers + updateTriggers;
    const byQuery = insertPlain + insertPass + updatePlain + updatePass;
    const ratio = withTriggers / byQuery;
    return {
      case: '2q capture, query mode',
      subject: BRAND[dialect],
      measured: `${fmt(perSecond(2 * n, insertPass + updatePass))} changes/s captured by passes (${seconds(insertPass + updatePass)})`,
      baseline: `${fmt(perSecond(2 * n, withTriggers))} rows/s written with triggers (${seconds(withTriggers)})`,
      ratio,
      target: 'report',
      verdict: 'INFO',
      note: `writes + passes vs writes with triggers; passes: inserts ${seconds(insertPass)}, updates (scan) ${seconds(updatePass)}, idle ${seconds(idlePass)}; writes without triggers ${seconds(insertPlain + updatePlain)}`,
      data: { rows: n, insertTriggers, insertPlain, insertPass, updateTriggers, updatePlain, updatePass, idlePass },
    };
  } finally {
    await setup.close();
  }
}
