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
import { changeCount, PHASES, type PhaseTimes, phaseTimes, runPhase, type Workload, workloadW } from '../workload.ts';

export const BRAND: Record<DialectName, string> = { postgres: 'PostgreSQL', sqlite: 'SQLite', mysql: 'MariaDB', mssql: 'SQL Server' };

/** Throughput ratio targets of W through a driver with bound parameters (issue 13). */
const APP_TARGET: Record<DialectName, number> = { postgres: 0.85, sqlite: 0.7, mysql: 0.7, mssql: 0.7 };

/** An SQLite application's connection: better-sqlite3's WAL commits (NORMAL) and SQLite's own automatic checkpoint. */
const SQLITE_APP_SETTINGS = 'PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 1000';

/** The databases W runs on in case 1: without dsync, with its triggers, and with a send-only node's triggers. */
const APP_KINDS = ['plain', 'captured', 'sendOnly'] as const;
type AppKind = (typeof APP_KINDS)[number];
const APP_LABEL: Record<AppKind, string> = {
  plain: 'without triggers',
  captured: 'with triggers',
  sendOnly: "with a send-only node's triggers",
};

/**
 * W on `plain` (no triggers), on `captured` (dsync's triggers) and on `sendOnly` (the triggers of a
 * node that only sends: no version store), phase by phase, each phase in a rotated order so that
 * none always goes first. Leaves W's backlog in `captured`'s outbox. Rows: `captured` ÷ `plain`,
 * and `sendOnly` ÷ `plain` when that node is given.
 */
export async function captureAppLike(
  dialect: DialectName,
  plain: DbClient | null,
  captured: DbClient,
  w: Workload,
  sendOnly: DbClient | null = null,
): Promise<{ rows: ResultRow[]; captured: PhaseTimes }> {
  const clients: Record<AppKind, DbClient | null> = { plain, captured, sendOnly };
  const kinds = APP_KINDS.filter((k) => clients[k] !== null);
  const ms = Object.fromEntries(kinds.map((k) => [k, { insert: 0, update: 0, delete: 0 }])) as Record<
    AppKind,
    Record<(typeof PHASES)[number], number>
  >;
  // The application's writes at better-sqlite3's own WAL setting (NORMAL), as this case always ran them: dsync's
  // connections commit at FULL, and an fsync per commit on both sides would measure the disk, not the triggers. And
  // with SQLite's own automatic checkpoint, as an application's connection has (dsync's run theirs off the commit).
  if (dialect === 'sqlite') for (const k of kinds) await clients[k]!.exec(SQLITE_APP_SETTINGS);
  for (const [i, phase] of PHASES.entries()) {
    for (const which of [...kinds.slice(i % kinds.length), ...kinds.slice(0, i % kinds.length)]) {
      progress(`capture ${BRAND[dialect]}: W ${phase}s ${APP_LABEL[which]}`);
      ms[which][phase] = await runPhase(clients[which]!, w, phase);
    }
  }
  const withTriggers = phaseTimes(ms.captured, w);
  if (plain === null) return { rows: [], captured: withTriggers };
  const without = phaseTimes(ms.plain, w);
  const changes = changeCount(w);
  const row = (kind: 'captured' | 'sendOnly', caseName: string): ResultRow => {
    const times = phaseTimes(ms[kind], w);
    const ratio = without.totalMs / times.totalMs;
    return {
      case: caseName,
      subject: BRAND[dialect],
      measured: `${fmt(perSecond(changes, times.totalMs))} changes/s ${APP_LABEL[kind]} (${seconds(times.totalMs)})`,
      baseline: `${fmt(perSecond(changes, without.totalMs))} changes/s without (${seconds(without.totalMs)})`,
      ratio,
      target: `≥ ${APP_TARGET[dialect]}`,
      verdict: verdict(ratio >= APP_TARGET[dialect]),
      note: `per phase (with ÷ without): ${PHASES.map((p) => `${p} ${fmt(ms.plain[p] / ms[kind][p], 2)}`).join(', ')}`,
      data: { without, with: times, changes },
    };
  };
  const rows = [row('captured', '1 capture, app-like')];
  if (sendOnly) rows.push(row('sendOnly', '1 capture, app-like, send-only node'));
  return { captured: withTriggers, rows };
}

/**
 * Case 2: one INSERT … SELECT of n rows and one UPDATE of all of them, with triggers ÷ without; and the
 * same on a send-only node (no version store) and on a table in capture mode keys (key triggers only: its
 * changes reach the outbox by passes, priced in case 1k). The captured tables take turns going first.
 */
export async function captureBulk(dialect: DialectName, scale: number): Promise<ResultRow[]> {
  const n = Math.max(1, Math.round(100_000 * scale));
  const setup = await createBenchSetup([
    { name: 'plain', dialect, sync: false },
    { name: 'src', dialect, sync: true },
    { name: 'so', dialect, sync: true, sendOnly: true },
    { name: 'k', dialect, sync: true, capture: 'keys' },
  ]);
  try {
    const client = async (name: string) => (await setup.handle(name)).client;
    const [plain, captured, sendOnly, keyed] = [await client('plain'), await client('src'), await client('so'), await client('k')];
    const timed = async (what: string, fn: () => Promise<void>) => {
      progress(`bulk ${BRAND[dialect]}: ${what}`);
      const started = performance.now();
      await fn();
      return performance.now() - started;
    };
    const insertPlain = await timed(`INSERT … SELECT of ${n} rows without triggers`, () => insertGeneratedRows(plain, 0, n));
    const insertCaptured = await timed(`INSERT … SELECT of ${n} rows with triggers`, () => insertGeneratedRows(captured, 0, n));
    const insertSendOnly = await timed(`INSERT … SELECT of ${n} rows, send-only node`, () => insertGeneratedRows(sendOnly, 0, n));
    const insertKeys = await timed(`INSERT … SELECT of ${n} rows, key triggers`, () => insertGeneratedRows(keyed, 0, n));
    const updateKeys = await timed('UPDATE of every row, key triggers', () => updateAllRows(keyed));
    const updateSendOnly = await timed('UPDATE of every row, send-only node', () => updateAllRows(sendOnly));
    const updateCaptured = await timed('UPDATE of every row with triggers', () => updateAllRows(captured));
    const updatePlain = await timed('UPDATE of every row without triggers', () => updateAllRows(plain));
    const without = insertPlain + updatePlain;
    const row = (caseName: string, label: string, insertMs: number, updateMs: number): ResultRow => {
      const ratio = without / (insertMs + updateMs);
      return {
        case: caseName,
        subject: BRAND[dialect],
        measured: `${fmt(perSecond(2 * n, insertMs + updateMs))} rows/s ${label} (${seconds(insertMs + updateMs)})`,
        baseline: `${fmt(perSecond(2 * n, without))} rows/s without (${seconds(without)})`,
        ratio,
        target: dialect === 'postgres' ? '≥ 0.4' : 'report',
        verdict: dialect === 'postgres' ? verdict(ratio >= 0.4) : 'INFO',
        note: `INSERT … SELECT ${fmt(insertPlain / insertMs, 2)} (${seconds(insertMs)} vs ${seconds(insertPlain)}), UPDATE ${fmt(updatePlain / updateMs, 2)} (${seconds(updateMs)} vs ${seconds(updatePlain)})`,
        data: { rows: n, insertPlainMs: insertPlain, insertCapturedMs: insertMs, updatePlainMs: updatePlain, updateCapturedMs: updateMs },
      };
    };
    return [
      row('2 capture, bulk', 'with triggers', insertCaptured, updateCaptured),
      row('2 capture, bulk, send-only node', "with a send-only node's triggers", insertSendOnly, updateSendOnly),
      row('2 capture, bulk, keys mode', 'with key triggers (the outbox rows by passes, case 1k)', insertKeys, updateKeys),
    ];
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

/**
 * Case 1k, capture mode keys: W through the driver (as case 1) on a table without dsync and on one
 * whose triggers only note the written rows' keys (docs/capture-modes.md#keys), phases alternating;
 * ratio = time without ÷ time in mode keys, against case 1's targets. Then capture passes turn the
 * noted keys into outbox rows, one after another until none is left (the pass's rate is reported
 * beside W's with triggers, as for mode log: a write rate above it grows the backlog). The outbox
 * must then hold one row per change W left visible: the changes of one row between two passes are
 * one, so fewer than W's 220,000 (here every row's insert and update fall between passes, and the
 * deleted rows' inserts and updates are never seen).
 */
export async function captureKeysMode(dialect: DialectName, scale: number): Promise<ResultRow[]> {
  const w = workloadW(scale);
  const setup = await createBenchSetup([
    { name: 'plain', dialect, sync: false },
    { name: 'k', dialect, sync: true, capture: 'keys' },
  ]);
  try {
    const plain = (await setup.handle('plain')).client;
    const keyed = (await setup.handle('k')).client;
    // The first pass scans the (empty) table: its one-time cost is not the mode's rate.
    await capturePass(setup.config, setup.nodes, 'k');
    const clients = { plain, keys: keyed };
    if (dialect === 'sqlite') for (const c of Object.values(clients)) await c.exec(SQLITE_APP_SETTINGS);
    const ms = { plain: { insert: 0, update: 0, delete: 0 }, keys: { insert: 0, update: 0, delete: 0 } };
    for (const [i, phase] of PHASES.entries()) {
      for (const kind of i % 2 === 0 ? (['plain', 'keys'] as const) : (['keys', 'plain'] as const)) {
        progress(`keys ${BRAND[dialect]}: W ${phase}s ${kind === 'plain' ? 'without triggers' : 'with key triggers'}`);
        ms[kind][phase] = await runPhase(clients[kind], w, phase);
      }
    }
    const without = phaseTimes(ms.plain, w);
    const withKeys = phaseTimes(ms.keys, w);
    const changes = changeCount(w);
    progress(`keys ${BRAND[dialect]}: capture passes over the noted keys`);
    const started = performance.now();
    let captured = 0;
    for (let pass = 0; ; pass++) {
      const results = await capturePass(setup.config, setup.nodes, 'k');
      const n = results.reduce((sum, r) => sum + (r.mode === 'keys' ? r.read : 0), 0);
      if (n === 0 || pass > 1000) break;
      captured += n;
    }
    const passMs = performance.now() - started;
    const { rows } = await keyed.query<{ n: unknown }>('SELECT count(*) AS n FROM ds_change_outbox');
    const outboxRows = Number(rows[0].n);
    const expected = w.inserts - w.deletes;
    if (outboxRows !== expected) throw new Error(`keys capture wrote ${outboxRows} outbox rows; W leaves ${expected} rows to send`);
    const ratio = without.totalMs / withKeys.totalMs;
    return [
      {
        case: '1k capture, app-like, keys mode',
        subject: BRAND[dialect],
        measured: `${fmt(perSecond(changes, withKeys.totalMs))} changes/s with key triggers (${seconds(withKeys.totalMs)})`,
        baseline: `${fmt(perSecond(changes, without.totalMs))} changes/s without (${seconds(without.totalMs)})`,
        ratio,
        target: `≥ ${APP_TARGET[dialect]}`,
        verdict: verdict(ratio >= APP_TARGET[dialect]),
        note: `per phase (without ÷ keys): ${PHASES.map((p) => `${p} ${fmt(ms.plain[p] / ms.keys[p], 2)}`).join(', ')}; the changes reach the outbox by the passes (next row)`,
        data: { without, with: withKeys, changes },
      },
      {
        case: '1k keys mode, pass rate',
        subject: BRAND[dialect],
        measured: `${fmt(perSecond(captured, passMs))} noted keys/s turned into ${fmt(outboxRows)} outbox rows (${seconds(passMs)})`,
        baseline: `${fmt(perSecond(changes, withKeys.totalMs))} changes/s written with key triggers`,
        ratio: perSecond(captured, passMs) / perSecond(changes, withKeys.totalMs),
        target: 'report',
        verdict: 'INFO',
        note: `${fmt(captured)} notes read; one outbox row per row W left (its insert and update fell between two passes, so they are one change); a write rate above the pass rate grows the backlog`,
        data: { captured, passMs, outboxRows },
      },
    ];
  } finally {
    await setup.close();
  }
}
