/**
 * `npm run bench [-- --scale 0.1] [--cases capture,drain] [--drains postgres>sqlite] [--budget 60] [--profile]`.
 * Each flag also reads from the environment (DSYNC_BENCH_SCALE, DSYNC_BENCH_CASES,
 * DSYNC_BENCH_DRAINS, DSYNC_BENCH_BUDGET, DSYNC_BENCH_PROFILE=1, DSYNC_BENCH_LATENCY_INTERVAL, DSYNC_BENCH_LATENCY_WATCH,
 * DSYNC_BENCH_LATENCY_IDLE).
 */
import { parseArgs } from 'node:util';

export const CASES = ['capture', 'bulk', 'query', 'keys', 'log', 'drain', 'latency', 'scale', 'verify', 'startup', 'load'] as const;
export type CaseName = (typeof CASES)[number];

export interface BenchOptions {
  /** Multiplies every row count (1 = the sizes). */
  scale: number;
  cases: Set<CaseName>;
  /**
   * Most seconds one drain may take before it is stopped and measured on what it did.
   * A drain that meets its target finishes far inside it (220,000 changes at 70,000/s
   * take 3 s), so the budget only shortens drains that miss anyway.
   */
  budgetSeconds: number;
  /** CPU profiles and per-statement counts of the drain processes. */
  profile: boolean;
  /** intervalSeconds of the programs under `dsync run` in the latency case. */
  latencyInterval: number;
  /**
   * How the latency case sees the change at the target: `notify` (a trigger on the target table
   * notifies at commit, a connection LISTENs) or `poll` (a connection looks every millisecond).
   */
  latencyWatch: 'notify' | 'poll';
  /** Seconds the latency case watches the idle daemon's CPU after its samples (0: not watched). */
  latencyIdleSeconds: number;
  /** Changes the latency case times, each committed alone. */
  latencySamples: number;
  /** Changes moved/applied per transaction in the drains (program batchSize). */
  batchSize: number;
  /** The drain pairs to run (DRAIN_PAIRS' names, `postgres>sqlite`…); undefined: every pair. */
  drains?: Set<DrainPairName>;
}

/**
 * Every drain pair case 3 runs, by name: `run` is PostgreSQL → PostgreSQL as `dsync run` (transport and import at once);
 * `replica`, the target a receive-only node (`nodes.<n>.receiveOnly`: its import keeps no version entries);
 * `direct`, a receive-only node whose transport applies the changes itself (`nodes.<n>.directApply`);
 * `any-direct`, a node that keeps versions (as the plain pair's) whose transport applies the changes itself.
 */
export const DRAIN_PAIRS = [
  'postgres>postgres',
  'postgres>postgres:run',
  'postgres>sqlite',
  'postgres>mysql',
  'sqlite>postgres',
  'mysql>postgres',
  'postgres>postgres:replica',
  'postgres>sqlite:replica',
  'postgres>mysql:replica',
  'sqlite>postgres:replica',
  'mysql>postgres:replica',
  'postgres>postgres:direct',
  'postgres>sqlite:direct',
  'postgres>mysql:direct',
  'sqlite>postgres:direct',
  'mysql>postgres:direct',
  'postgres>postgres:any-direct',
  'postgres>sqlite:any-direct',
  'postgres>mysql:any-direct',
  'sqlite>postgres:any-direct',
  'mysql>postgres:any-direct',
] as const;
export type DrainPairName = (typeof DRAIN_PAIRS)[number];

const USAGE = `usage: npm run bench -- [--scale N] [--cases ${CASES.join(',')}] [--drains ${DRAIN_PAIRS.join(',')}] [--budget SECONDS] [--batch-size N] [--latency-interval SECONDS] [--latency-watch notify|poll] [--latency-idle SECONDS] [--latency-samples N] [--profile]`;

export function parseOptions(argv: string[], env = process.env): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string' },
      cases: { type: 'string' },
      drains: { type: 'string' },
      budget: { type: 'string' },
      'batch-size': { type: 'string' },
      'latency-interval': { type: 'string' },
      'latency-watch': { type: 'string' },
      'latency-idle': { type: 'string' },
      'latency-samples': { type: 'string' },
      profile: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const number = (flag: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} must be a positive number, got "${raw}"\n${USAGE}`);
    return n;
  };
  const caseList = (values.cases ?? env.DSYNC_BENCH_CASES ?? CASES.join(','))
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const watch = values['latency-watch'] ?? env.DSYNC_BENCH_LATENCY_WATCH ?? 'notify';
  if (watch !== 'notify' && watch !== 'poll') throw new Error(`--latency-watch must be notify or poll, got "${watch}"\n${USAGE}`);
  const idle = values['latency-idle'] ?? env.DSYNC_BENCH_LATENCY_IDLE ?? '60';
  if (!(Number(idle) >= 0)) throw new Error(`--latency-idle must be a number of seconds (0 or more), got "${idle}"\n${USAGE}`);
  for (const c of caseList) if (!(CASES as readonly string[]).includes(c)) throw new Error(`unknown case "${c}"\n${USAGE}`);
  const drainList = (values.drains ?? env.DSYNC_BENCH_DRAINS)
    ?.split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  for (const d of drainList ?? [])
    if (!(DRAIN_PAIRS as readonly string[]).includes(d))
      throw new Error(`unknown drain pair "${d}" (name one of ${DRAIN_PAIRS.join(', ')})\n${USAGE}`);
  return {
    scale: number('scale', values.scale ?? env.DSYNC_BENCH_SCALE, 1),
    cases: new Set(caseList as CaseName[]),
    budgetSeconds: number('budget', values.budget ?? env.DSYNC_BENCH_BUDGET, 60),
    batchSize: Math.round(number('batch-size', values['batch-size'] ?? env.DSYNC_BENCH_BATCH_SIZE, 10_000)),
    latencyInterval: number('latency-interval', values['latency-interval'] ?? env.DSYNC_BENCH_LATENCY_INTERVAL, 0.05),
    latencyWatch: watch,
    latencyIdleSeconds: Number(idle),
    latencySamples: Math.round(number('latency-samples', values['latency-samples'] ?? env.DSYNC_BENCH_LATENCY_SAMPLES, 50)),
    profile: values.profile ?? env.DSYNC_BENCH_PROFILE === '1',
    drains: drainList?.length ? new Set(drainList as DrainPairName[]) : undefined,
  };
}
