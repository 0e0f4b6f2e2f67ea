/**
 * The daemon's Prometheus metrics (prom-client), one registry per daemon so that two
 * daemons in one process (tests) never share counters. Labels: `program` (its id),
 * `type` (transport or import) and `node` (the node holding the program's pointer);
 * per-node gauges carry `node` alone. Rates are Prometheus's job: counters only count.
 */
import type * as PromClient from 'prom-client';
import { type ProgramConfig, programHome } from '../../config/config.ts';
import { lazyRequire } from '../../core/lazy-require.ts';

const lazyProm = lazyRequire<typeof PromClient>('prom-client');

const PROGRAM_LABELS = ['program', 'type', 'node'] as const;
type ProgramLabels = Record<(typeof PROGRAM_LABELS)[number], string>;

export const programLabels = (program: ProgramConfig): ProgramLabels => ({
  program: String(program.id),
  type: program.type,
  node: programHome(program),
});

/** What the gauges read at scrape time. */
export interface MetricsSource {
  healthy(): boolean;
  /** Per program: seconds it has been failing (0 when its last pass succeeded). */
  failingSeconds(program: ProgramConfig): number;
}

export class DaemonMetrics {
  readonly registry: PromClient.Registry;
  private readonly runs: PromClient.Counter<string>;
  private readonly errors: PromClient.Counter<string>;
  private readonly moved: PromClient.Counter<string>;
  private readonly applied: PromClient.Counter<string>;
  private readonly parkedChanges: PromClient.Counter<string>;
  private readonly conflictsMet: PromClient.Counter<string>;
  private readonly passSeconds: PromClient.Histogram<string>;
  private readonly lastPassSeconds: PromClient.Gauge<string>;
  private readonly pointer: PromClient.Gauge<string>;
  private readonly lastRun: PromClient.Gauge<string>;
  private readonly backlog: PromClient.Gauge<string>;
  private readonly lag: PromClient.Gauge<string>;
  private readonly parkedOpen: PromClient.Gauge<string>;
  private readonly conflictsRecorded: PromClient.Gauge<string>;

  constructor(programs: ProgramConfig[], source: MetricsSource) {
    const prom = lazyProm();
    const registry = (this.registry = new prom.Registry());
    const labelNames = [...PROGRAM_LABELS];
    const counter = (name: string, help: string) => new prom.Counter({ name, help, labelNames, registers: [registry] });
    const gauge = (name: string, help: string, names: string[] = labelNames) =>
      new prom.Gauge({ name, help, labelNames: names, registers: [registry] });
    this.runs = counter('dsync_program_runs_total', 'Passes run (successful or not).');
    this.errors = counter('dsync_program_errors_total', 'Passes that failed (each is retried with backoff).');
    this.moved = counter('dsync_changes_moved_total', 'Changes written to an inbox by a transport program.');
    this.applied = counter('dsync_changes_applied_total', 'Changes applied by an import program.');
    this.parkedChanges = counter(
      'dsync_changes_parked_total',
      'Changes an import program parked (ds_change_error) or held waiting behind a parked one.',
    );
    this.conflictsMet = counter('dsync_conflicts_total', 'Conflicts an import program met.');
    this.passSeconds = new prom.Histogram({
      name: 'dsync_pass_duration_seconds',
      help: 'Duration of a pass.',
      labelNames,
      registers: [registry],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.lastPassSeconds = gauge('dsync_last_pass_duration_seconds', 'Duration of the latest pass.');
    this.pointer = gauge('dsync_program_pointer', "The program's pointer (last outbox/inbox id it handled).");
    this.lastRun = gauge('dsync_program_last_run_seconds', 'Unix time of the last successful pass.');
    this.backlog = gauge(
      'dsync_backlog_rows',
      'Rows past the pointer: outbox rows not yet sent (transport), inbox rows not yet applied (import). Sampled.',
    );
    this.lag = gauge('dsync_lag_seconds', 'Seconds since the oldest change past the pointer was captured; 0 with no backlog. Sampled.');
    this.parkedOpen = gauge(
      'dsync_parked_changes',
      'Rows of ds_change_error on a node, by status (open: parked; waiting: behind a parked change). Sampled.',
      ['node', 'status'],
    );
    this.conflictsRecorded = gauge('dsync_conflicts_recorded', 'Rows of ds_change_conflict on a node. Sampled.', ['node']);
    new prom.Gauge({
      name: 'dsync_program_failing_seconds',
      help: 'How long the program has been failing; 0 when its latest pass succeeded.',
      labelNames,
      registers: [registry],
      collect() {
        for (const program of programs) this.set(programLabels(program), source.failingSeconds(program));
      },
    });
    new prom.Gauge({
      name: 'dsync_up',
      help: '1 while no program has been failing past its failAfterSeconds (the /healthz verdict).',
      registers: [registry],
      collect() {
        this.set(source.healthy() ? 1 : 0);
      },
    });
    // The event-loop lag histogram samples with a timer: every 10 ms by default, 100 wake-ups a second of an idle daemon.
    prom.collectDefaultMetrics({ register: registry, prefix: 'dsync_process_', eventLoopMonitoringPrecision: 100 });
    // Every program's series exist from the start, at 0, so that rate() and alerts see them before the first change.
    for (const program of programs) {
      const labels = programLabels(program);
      for (const c of [this.runs, this.errors]) c.inc(labels, 0);
      if (program.type === 'transport') this.moved.inc(labels, 0);
      else for (const c of [this.applied, this.parkedChanges, this.conflictsMet]) c.inc(labels, 0);
    }
  }

  passDone(
    program: ProgramConfig,
    seconds: number,
    counts: { moved?: number; applied?: number; parked?: number; conflicts?: number; pointer: number | null },
  ): void {
    const labels = programLabels(program);
    this.runs.inc(labels);
    this.passSeconds.observe(labels, seconds);
    this.lastPassSeconds.set(labels, seconds);
    this.lastRun.set(labels, Date.now() / 1000);
    if (counts.pointer !== null) this.pointer.set(labels, counts.pointer);
    if (counts.moved !== undefined) this.moved.inc(labels, counts.moved);
    if (counts.applied !== undefined) this.applied.inc(labels, counts.applied);
    if (counts.parked !== undefined) this.parkedChanges.inc(labels, counts.parked);
    if (counts.conflicts !== undefined) this.conflictsMet.inc(labels, counts.conflicts);
  }

  passFailed(program: ProgramConfig, seconds: number): void {
    const labels = programLabels(program);
    this.runs.inc(labels);
    this.errors.inc(labels);
    this.passSeconds.observe(labels, seconds);
    this.lastPassSeconds.set(labels, seconds);
  }

  sampled(program: ProgramConfig, backlog: number, lagSeconds: number): void {
    const labels = programLabels(program);
    this.backlog.set(labels, backlog);
    this.lag.set(labels, lagSeconds);
  }

  parked(node: string, open: number, waiting: number, conflicts: number): void {
    this.parkedOpen.set({ node, status: 'open' }, open);
    this.parkedOpen.set({ node, status: 'waiting' }, waiting);
    this.conflictsRecorded.set({ node }, conflicts);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
