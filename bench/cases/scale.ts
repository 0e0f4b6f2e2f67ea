/**
 * Case 5, scale: a backlog of 100,000 and one of 1,000,000 inserts drained PostgreSQL →
 * PostgreSQL in a child process; the rate at 1M against the rate at 100k, and the child's
 * peak RSS. The backlog is written by INSERT … SELECT through the capture triggers, in
 * statements of 100,000 rows.
 */
import { insertGeneratedRows } from '../bulk-sql.ts';
import { type DrainRun, runDrain } from '../drain-runner.ts';
import { createBenchSetup } from '../nodes.ts';
import { fmt, progress, type ResultRow, seconds, verdict } from '../report.ts';

const RSS_LIMIT_MB = 200;

async function drainBacklog(n: number, options: { batchSize: number; budgetSeconds: number; profileDir?: string }): Promise<DrainRun> {
  const setup = await createBenchSetup(
    [
      { name: 'src', dialect: 'postgres', sync: true },
      { name: 'tgt', dialect: 'postgres', sync: true },
    ],
    [
      { id: 1000, type: 'transport', from: 'src', to: 'tgt', batchSize: options.batchSize },
      { id: 1001, type: 'import', node: 'tgt', batchSize: options.batchSize },
    ],
  );
  try {
    progress(`scale: writing a backlog of ${fmt(n)} inserts through the triggers`);
    await insertGeneratedRows((await setup.handle('src')).client, 0, n, 100_000);
    return await runDrain({
      setup,
      transportProgram: 1000,
      importProgram: 1001,
      total: n,
      budgetSeconds: options.budgetSeconds,
      profileDir: options.profileDir,
      label: `scale ${fmt(n)}`,
    });
  } finally {
    await setup.close();
  }
}

const describe = (run: DrainRun) =>
  `${run.estimated ? '≈ ' : ''}${fmt(run.rate)} changes/s${run.estimated ? ' est.' : ''} (${run.completed ? `${fmt(run.total)} in ${seconds(run.elapsedMs)}` : `${fmt(run.applied)} of ${fmt(run.total)} applied when stopped`})`;

export async function scaleCase(
  scale: number,
  options: { batchSize: number; budgetSeconds: number; profileDir?: string },
): Promise<ResultRow[]> {
  const small = Math.max(1000, Math.round(100_000 * scale));
  const large = 10 * small;
  const runSmall = await drainBacklog(small, options);
  progress(`scale ${fmt(small)}: ${describe(runSmall)}`);
  // The large backlog's phases get proportionally more time, so that its import is measured at all.
  const runLarge = await drainBacklog(large, { ...options, budgetSeconds: options.budgetSeconds * 2.5 });
  progress(`scale ${fmt(large)}: ${describe(runLarge)}`);
  const ratio = runLarge.rate / runSmall.rate;
  const peak = Math.max(runSmall.peakRssMb ?? 0, runLarge.peakRssMb ?? 0);
  const partial = !runSmall.completed || !runLarge.completed;
  return [
    {
      case: '5 scale',
      subject: `PostgreSQL → PostgreSQL, ${fmt(large)} vs ${fmt(small)}`,
      measured: `${describe(runLarge)}`,
      baseline: `${describe(runSmall)}`,
      ratio,
      target: '≥ 0.9 (within 10 %)',
      verdict: partial ? 'MISS' : verdict(ratio >= 0.9),
      note: partial ? 'a drain was stopped by its budget: rates estimated from the part done (see drain case notes)' : undefined,
      data: { small: runSmall, large: runLarge },
    },
    {
      case: '5 scale',
      subject: `peak RSS of the drain process`,
      measured: `${fmt(runLarge.peakRssMb ?? 0)} MB at ${fmt(large)}`,
      baseline: `${fmt(runSmall.peakRssMb ?? 0)} MB at ${fmt(small)}`,
      ratio: null,
      target: `≤ ${RSS_LIMIT_MB} MB`,
      verdict: verdict(peak > 0 && peak <= RSS_LIMIT_MB),
      note: `RSS at the start of the drain (Node, the bundled library, connections): ${fmt(runSmall.startRssMb ?? 0)} MB${runLarge.completed ? '' : '; peak until the drain was stopped'}; V8 heap flags of the drain: ${runLarge.heapFlags.join(' ') || "none, V8's defaults (DSYNC_V8_DEFAULTS=1)"}`,
    },
  ];
}
