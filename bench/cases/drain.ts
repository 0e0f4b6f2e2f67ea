/**
 * Case 3, drain: W's whole backlog moved from a source's outbox into a target's table
 * (transport + import, in a child process), against the physical baseline: the very
 * same changes applied to a plain copy of the table on the target's brand with
 * multi-row statements of 1,000 rows from one client. After a complete drain the
 * target is compared with the source (src/verify), so a fast wrong drain cannot pass.
 */
import type { DialectName } from '../../src/core/dialect.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { applyWorkloadMultiRow } from '../bulk-sql.ts';
import { type DrainRun, runDrain } from '../drain-runner.ts';
import { type BenchNodeSpec, type BenchProgram, type BenchSetup, createBenchSetup } from '../nodes.ts';
import { fmt, perSecond, progress, type ResultRow, seconds, type Verdict, verdict } from '../report.ts';
import type { Workload } from '../workload.ts';
import { BRAND } from './capture.ts';

/** A drain to run: the target's brand, and whether transport and import run at once (as `dsync run`). */
export interface DrainSpec {
  dialect: DialectName;
  concurrent?: boolean;
  /** The target is a receive-only node (`nodes.<n>.receiveOnly`). */
  replica?: boolean;
  /** The target's transport applies the changes itself (`nodes.<n>.directApply`). */
  direct?: boolean;
}

export interface DrainTarget extends Required<DrainSpec> {
  /** The synchronized target node, and the plain node of the same brand for the baseline. */
  node: string;
  base: string;
  transport: number;
  import: number;
}

/** A source node with W's backlog, its targets, and (for case 1) a plain twin of the source. */
export interface SourceGroup {
  source: DialectName;
  setup: BenchSetup;
  targets: DrainTarget[];
  hasPlain: boolean;
}

export async function createSourceGroup(
  source: DialectName,
  targets: DrainSpec[],
  options: { batchSize: number; withPlain: boolean },
): Promise<SourceGroup> {
  const specs: BenchNodeSpec[] = [{ name: 'src', dialect: source, sync: true }];
  // Case 1's other two databases: W without dsync, and W on a node that only sends.
  if (options.withPlain)
    specs.unshift({ name: 'plain', dialect: source, sync: false }, { name: 'so', dialect: source, sync: true, sendOnly: true });
  const programs: BenchProgram[] = [];
  const drainTargets: DrainTarget[] = targets.map(({ dialect, concurrent = false, replica = false, direct = false }, i) => {
    const optional = dialect === 'mysql';
    // Each drain has its own target and its own plain twin for the baseline.
    const suffix = `${dialect}${concurrent ? '_run' : ''}${replica ? '_ro' : ''}${direct ? '_direct' : ''}`;
    specs.push(
      { name: `t_${suffix}`, dialect, sync: true, optional, receiveOnly: replica, directApply: direct },
      { name: `base_${suffix}`, dialect, sync: false, optional },
    );
    const target = {
      dialect,
      concurrent,
      replica,
      direct,
      node: `t_${suffix}`,
      base: `base_${suffix}`,
      transport: 1000 + 2 * i,
      import: 1001 + 2 * i,
    };
    programs.push(
      { id: target.transport, type: 'transport', from: 'src', to: target.node, batchSize: options.batchSize },
      { id: target.import, type: 'import', node: target.node, batchSize: options.batchSize },
    );
    return target;
  });
  const setup = await createBenchSetup(specs, programs);
  return { source, setup, targets: drainTargets, hasPlain: options.withPlain };
}

export const pairName = (source: DialectName, target: DrainSpec) =>
  `${BRAND[source]} → ${BRAND[target.dialect]}${target.concurrent ? ', transport and import at once (as dsync run)' : ''}${target.direct ? (target.replica ? ' (receive-only, direct apply)' : ' (direct apply)') : target.replica ? ' (receive-only)' : ''}`;

function describeRun(run: DrainRun, concurrent: boolean): string {
  if (run.completed && concurrent)
    return `${fmt(run.rate)} changes/s (${fmt(run.total)} in ${seconds(run.elapsedMs)}: the transport done after ${seconds(run.transportMs!)}, the import ${seconds(run.importMs!)} later)`;
  if (run.completed)
    return `${fmt(run.rate)} changes/s (${fmt(run.total)} in ${seconds(run.elapsedMs)}: transport ${seconds(run.transportMs!)}, import ${seconds(run.importMs!)})`;
  if (run.transportMs === null)
    return `≈ ${fmt(run.rate)} changes/s, estimated (stopped in the transport after ${seconds(run.elapsedMs)}; the import not counted)`;
  if (run.applied === 0)
    return `< ${fmt(run.total / ((run.elapsedMs || 1) / 1000))} changes/s (transport ${seconds(run.transportMs)}, then nothing applied in ${seconds(run.importMs!)})`;
  return `≈ ${fmt(run.rate)} changes/s, estimated (transport ${seconds(run.transportMs)}, then ${fmt(run.applied)} of ${fmt(run.total)} applied in ${seconds(run.importMs!)})`;
}

/**
 * MySQL/MariaDB's safe horizon waits for every transaction open on the server when it
 * takes a fence, other databases' included: on a shared server, a long transaction of
 * someone else's stalls the import. Said in the note when a MariaDB drain is stopped.
 */
async function openTransactionsNote(group: SourceGroup, target: DrainTarget): Promise<string> {
  const { client } = await group.setup.handle(target.base);
  const { rows } = await client.query(
    'SELECT count(*) AS n, max(TIMESTAMPDIFF(SECOND, trx_started, NOW())) AS oldest FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> CONNECTION_ID()',
  );
  const n = Number(rows[0].n);
  return n
    ? `${n} other transaction(s) open on the MariaDB server when stopped (oldest ${rows[0].oldest} s): the horizon waits for them`
    : 'no other transaction open on the MariaDB server when stopped';
}

export async function drainCase(
  group: SourceGroup,
  target: DrainTarget,
  w: Workload,
  options: { budgetSeconds: number; profileDir?: string },
): Promise<ResultRow> {
  const subject = pairName(group.source, target);
  const missing = group.setup.unavailable.get(target.node) ?? group.setup.unavailable.get(target.base);
  const isPgPg = group.source === 'postgres' && target.dialect === 'postgres';
  // Issue 13: PostgreSQL → PostgreSQL as fast as a well-written multi-row client; every other pair half of its own.
  const minRatio = isPgPg ? 1.0 : 0.5;
  const targetText = `≥ ${minRatio.toFixed(1)}`;
  if (missing)
    return {
      case: '3 drain',
      subject,
      measured: 'not measured',
      baseline: '',
      ratio: null,
      target: targetText,
      verdict: 'SKIP',
      note: missing,
    };
  const src = await group.setup.handle('src');
  const { rows } = await src.client.query('SELECT count(*) AS n FROM ds_change_outbox');
  const total = Number(rows[0].n);
  progress(`drain ${subject}: ${total} changes (budget ${options.budgetSeconds} s per phase)`);
  const run = await runDrain({
    setup: group.setup,
    transportProgram: target.transport,
    importProgram: target.import,
    total,
    budgetSeconds: options.budgetSeconds,
    profileDir: options.profileDir,
    label: `drain ${subject}`,
    concurrent: target.concurrent,
  });
  progress(
    `drain ${subject}: ${describeRun(run, target.concurrent)}; baseline: multi-row statements on a plain ${BRAND[target.dialect]} table`,
  );
  const base = await group.setup.handle(target.base);
  const baseline = await applyWorkloadMultiRow(base.client, w);
  const baseRate = perSecond(baseline.changes, baseline.totalMs);
  const ratio = run.rate / baseRate;
  const notes: string[] = [];
  let equal: boolean | null = null;
  if (run.completed) {
    const tgt = await group.setup.handle(target.node);
    const compared = await compareTables(
      { client: src.client, table: group.setup.table('src') },
      { client: tgt.client, table: group.setup.table(target.node) },
    );
    equal = !hasDifferences(compared);
    notes.push(
      equal
        ? `target equals source (${fmt(compared.rowsA)} rows, verified)`
        : `TARGET DIFFERS from source: ${compared.differenceCount} rows`,
    );
  } else {
    notes.push(`stopped by the budget of ${options.budgetSeconds} s per phase; rate estimated`);
    if (target.dialect === 'mysql') notes.push(await openTransactionsNote(group, target));
  }
  if (run.importPasses !== undefined) notes.push(`${fmt(run.importPasses)} import passes`);
  if (run.peakRssMb !== null)
    notes.push(
      `drain process RSS ${fmt(run.startRssMb ?? 0)} MB at start, ${fmt(run.peakRssMb)} MB peak${run.transportPeakRssMb === null ? '' : ` (${fmt(run.transportPeakRssMb)} MB when the transport ended)`}`,
    );
  if (run.atHighestRss) {
    const m = run.atHighestRss;
    notes.push(
      `at its highest sampled RSS (${fmt(m.rss)} MB): V8's heap ${fmt(m.heapUsed)} MB used of ${fmt(m.heapTotal)} reserved, ${fmt(m.external)} MB external, ${fmt(m.rss - m.heapTotal)} MB of the RSS beyond the heap V8 reserved`,
    );
  }
  if (run.statements) {
    const done = run.completed ? total : run.applied;
    notes.push(
      `${fmt(run.statements.total)} statements for ${fmt(done)} changes ${run.completed ? '' : 'applied when stopped '}(${done ? fmt(run.statements.perChange, 3) : '-'} per change)`,
    );
    const rises = run.statements.peakRises;
    if (rises.length > 0)
      notes.push(
        `the peak RSS rose ${fmt(run.statements.peakRiseKb / 1024)} MB inside SQLite's statements, most inside ${rises
          .map((s) => `${s.shape.slice(0, 50)}… (+${fmt(s.peakRiseKb / 1024)} MB, ${fmt(s.count)} statements)`)
          .join('; ')}`,
      );
  }
  let result: Verdict = verdict(ratio >= minRatio, equal !== false);
  if (!run.completed && result === 'PASS') result = 'MISS';
  return {
    case: '3 drain',
    subject,
    measured: describeRun(run, target.concurrent),
    baseline: `${fmt(baseRate)} changes/s (multi-row, ${seconds(baseline.totalMs)})`,
    ratio,
    target: targetText,
    verdict: result,
    note: notes.join('; '),
    data: { run, baseline, equal },
  };
}
