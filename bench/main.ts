/**
 * `npm run bench`: the cases of issue 5, each against a baseline measured in the same
 * run on the same machine, with absolute numbers beside every ratio. Prints the table
 * (stdout), progress (stderr), and writes bench/results/<timestamp>.json.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DialectName } from '../src/core/dialect.ts';
import { BRAND, captureAppLike, captureBulk, captureKeysMode, captureQuery } from './cases/capture.ts';
import { captureLog } from './cases/capture-log.ts';
import { capturePsqlScript } from './cases/capture-psql.ts';
import { createSourceGroup, type DrainSpec, drainCase, pairName } from './cases/drain.ts';
import { latencyCase } from './cases/latency.ts';
import { loadCase } from './cases/load.ts';
import { scaleCase } from './cases/scale.ts';
import { startupCase } from './cases/startup.ts';
import { verifyCase } from './cases/verify.ts';
import { describeMachine, machineLines } from './machine.ts';
import { type BenchOptions, type DrainPairName, parseOptions } from './options.ts';
import { RESULTS_DIR } from './paths.ts';
import { printReport, progress, type ResultRow, type RunReport, writeReport } from './report.ts';
import { workloadW } from './workload.ts';
import { postgresBinDir } from '../test/helpers/private-postgres.ts';

/** Drain pairs per source brand (issues 5, 13): PostgreSQL to PostgreSQL, SQLite and MariaDB; SQLite and MariaDB to PostgreSQL. */
// PostgreSQL → PostgreSQL also as `dsync run` drains (transport and import at once), the
// way the peer benchmark (../shared/peer-bench) times every system's backlog drain.
// Each pair also into a receive-only node (a replica: docs/convergence.md#receive-only-nodes), which keeps no version entries,
// and into one whose transport applies the changes itself (directApply: docs/convergence.md#direct-apply), a replica
// and a node that keeps versions.
const DRAIN_TARGETS: Partial<Record<DialectName, DrainSpec[]>> = {
  postgres: [
    { dialect: 'postgres' },
    { dialect: 'postgres', concurrent: true },
    { dialect: 'sqlite' },
    { dialect: 'mysql' },
    { dialect: 'postgres', replica: true },
    { dialect: 'sqlite', replica: true },
    { dialect: 'mysql', replica: true },
    { dialect: 'postgres', replica: true, direct: true },
    { dialect: 'sqlite', replica: true, direct: true },
    { dialect: 'mysql', replica: true, direct: true },
    { dialect: 'postgres', direct: true },
    { dialect: 'sqlite', direct: true },
    { dialect: 'mysql', direct: true },
  ],
  sqlite: [
    { dialect: 'postgres' },
    { dialect: 'postgres', replica: true },
    { dialect: 'postgres', replica: true, direct: true },
    { dialect: 'postgres', direct: true },
  ],
  mysql: [
    { dialect: 'postgres' },
    { dialect: 'postgres', replica: true },
    { dialect: 'postgres', replica: true, direct: true },
    { dialect: 'postgres', direct: true },
  ],
};

/** A drain's name in `--drains` (DRAIN_PAIRS). */
const drainPairName = (source: DialectName, t: DrainSpec) =>
  `${source}>${t.dialect}${t.concurrent ? ':run' : t.direct ? (t.replica ? ':direct' : ':any-direct') : t.replica ? ':replica' : ''}` as DrainPairName;

/** Runs `fn`, turning a failure into a row that says so, so that one broken case does not lose the others. */
async function guarded(name: string, subject: string, fn: () => Promise<ResultRow[]>): Promise<ResultRow[]> {
  try {
    return await fn();
  } catch (error) {
    progress(`${name} ${subject} failed: ${(error as Error).stack ?? error}`);
    return [
      {
        case: name,
        subject,
        measured: 'failed',
        baseline: '',
        ratio: null,
        target: '',
        verdict: 'MISS',
        note: (error as Error).message.split('\n')[0],
      },
    ];
  }
}

async function sourceCases(
  source: DialectName,
  options: BenchOptions,
  available: Set<DialectName>,
  profileDir: string | undefined,
): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  const w = workloadW(options.scale);
  const drains = options.cases.has('drain')
    ? (DRAIN_TARGETS[source] ?? []).filter((t) => available.has(t.dialect) && (options.drains?.has(drainPairName(source, t)) ?? true))
    : [];
  if (!options.cases.has('capture') && drains.length === 0) return rows;
  progress(
    `${BRAND[source]}: fresh databases for W (${w.inserts} inserts, ${w.updates} updates, ${w.deletes} deletes)${drains.length ? ` and drains to ${drains.map((d) => pairName(source, d).slice(BRAND[source].length + 3)).join(', ')}` : ''}`,
  );
  const group = await createSourceGroup(source, drains, { batchSize: options.batchSize, withPlain: options.cases.has('capture') });
  try {
    const plain = group.hasPlain ? (await group.setup.handle('plain')).client : null;
    const sendOnly = group.hasPlain ? (await group.setup.handle('so')).client : null;
    rows.push(...(await captureAppLike(source, plain, (await group.setup.handle('src')).client, w, sendOnly)).rows);
    for (const target of group.targets) {
      rows.push(
        ...(await guarded('3 drain', pairName(source, target), async () => [
          await drainCase(group, target, w, { budgetSeconds: options.budgetSeconds, profileDir }),
        ])),
      );
    }
  } finally {
    await group.setup.close();
  }
  return rows;
}

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 2;
  }
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const machine = await describeMachine();
  for (const line of machineLines(machine)) progress(line);
  if (machine.unavailable.postgres) {
    console.error(`bench: PostgreSQL is needed for most cases: ${machine.unavailable.postgres}`);
    return 3;
  }
  const available = new Set<DialectName>(['postgres', 'sqlite']);
  if (!machine.unavailable.mysql) available.add('mysql');
  const profileDir = options.profile ? join(RESULTS_DIR, `${startedAt.replace(/[:.]/g, '-')}-profiles`) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const rows: ResultRow[] = [];
  const skipped = (caseName: string, subject: string, note: string): ResultRow => ({
    case: caseName,
    subject,
    measured: 'not measured',
    baseline: '',
    ratio: null,
    target: '',
    verdict: 'SKIP',
    note,
  });
  for (const source of ['postgres', 'sqlite', 'mysql'] as const) {
    if (!available.has(source)) {
      if (options.cases.has('capture'))
        rows.push(skipped('1 capture, app-like', BRAND[source], machine.unavailable[source] ?? 'unavailable'));
      continue;
    }
    rows.push(...(await guarded('1 capture, app-like', BRAND[source], () => sourceCases(source, options, available, profileDir))));
    if (source === 'postgres' && options.cases.has('capture'))
      rows.push(...(await guarded('1 capture, psql script', BRAND[source], () => capturePsqlScript(workloadW(options.scale)))));
  }
  if (options.cases.has('drain') && !available.has('mysql'))
    rows.push(skipped('3 drain', 'PostgreSQL → MariaDB', machine.unavailable.mysql ?? 'unavailable'));
  if (options.cases.has('bulk')) {
    for (const dialect of ['postgres', 'sqlite', 'mysql'] as const) {
      if (available.has(dialect))
        rows.push(...(await guarded('2 capture, bulk', BRAND[dialect], () => captureBulk(dialect, options.scale))));
      else rows.push(skipped('2 capture, bulk', BRAND[dialect], machine.unavailable[dialect] ?? 'unavailable'));
    }
  }
  if (options.cases.has('query')) {
    for (const dialect of ['postgres', 'sqlite', 'mysql'] as const) {
      if (available.has(dialect))
        rows.push(...(await guarded('2q capture, query mode', BRAND[dialect], async () => [await captureQuery(dialect, options.scale)])));
      else rows.push(skipped('2q capture, query mode', BRAND[dialect], machine.unavailable[dialect] ?? 'unavailable'));
    }
  }
  if (options.cases.has('keys')) {
    for (const dialect of ['postgres', 'sqlite', 'mysql'] as const) {
      if (available.has(dialect))
        rows.push(...(await guarded('1k capture, app-like, keys mode', BRAND[dialect], () => captureKeysMode(dialect, options.scale))));
      else rows.push(skipped('1k capture, app-like, keys mode', BRAND[dialect], machine.unavailable[dialect] ?? 'unavailable'));
    }
  }
  if (options.cases.has('log')) {
    // Mode log needs wal_level=logical, which the shared server does not have: a private cluster, from the server binaries.
    if (postgresBinDir()) rows.push(...(await guarded('2l capture, log mode (W slowdown)', 'PostgreSQL', () => captureLog(options.scale))));
    else
      rows.push(
        skipped(
          '2l capture, log mode (W slowdown)',
          'PostgreSQL',
          'needs the PostgreSQL server binaries (initdb) for a cluster with wal_level=logical',
        ),
      );
  }
  if (options.cases.has('latency')) {
    // At the production interval (wake on change carries it) and at the short poll the first wave measured.
    for (const interval of [...new Set([1, options.latencyInterval])]) {
      rows.push(
        ...(await guarded('4 latency', 'PostgreSQL → PostgreSQL', async () => [
          await latencyCase(interval, {
            watch: options.latencyWatch,
            idleSeconds: options.latencyIdleSeconds,
            samples: options.latencySamples,
          }),
        ])),
      );
    }
    // The same at the production interval into a replica, whose import reads no version entries.
    rows.push(
      ...(await guarded('4 latency', 'PostgreSQL → PostgreSQL (receive-only)', async () => [
        await latencyCase(1, { watch: options.latencyWatch, idleSeconds: 0, samples: options.latencySamples, replica: true }),
      ])),
      // And into one whose transport applies the changes itself.
      ...(await guarded('4 latency', 'PostgreSQL → PostgreSQL (receive-only, direct apply)', async () => [
        await latencyCase(1, { watch: options.latencyWatch, idleSeconds: 0, samples: options.latencySamples, direct: true }),
      ])),
    );
  }
  if (options.cases.has('scale')) {
    rows.push(
      ...(await guarded('5 scale', 'PostgreSQL → PostgreSQL', () =>
        scaleCase(options.scale, { batchSize: options.batchSize, budgetSeconds: options.budgetSeconds, profileDir }),
      )),
    );
  }
  if (options.cases.has('verify'))
    rows.push(...(await guarded('6 verify', 'PostgreSQL vs SQLite', async () => [await verifyCase(options.scale)])));
  if (options.cases.has('startup')) rows.push(...(await guarded('7 startup', 'dsync CLI and library', startupCase)));
  if (options.cases.has('load'))
    rows.push(...(await guarded('7 load', 'PostgreSQL → PostgreSQL', async () => [await loadCase(options.scale)])));

  const order = (r: ResultRow) => r.case;
  rows.sort((a, b) => order(a).localeCompare(order(b), 'en', { numeric: true }));
  const report: RunReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    seconds: (performance.now() - started) / 1000,
    options: { ...options, cases: [...options.cases] },
    machine,
    rows,
  };
  printReport(report);
  const file = writeReport(report);
  console.log(`\nresults: ${file}${profileDir ? `\nCPU profiles: ${profileDir}` : ''}`);
  return 0;
}
