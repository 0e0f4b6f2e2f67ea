/**
 * Case 4, latency: under the daemon (`dsync run`, a child process with its own config
 * file), one change committed alone on the source until it is visible at the target,
 * 50 times. The clock starts when the INSERT's autocommit returns and stops when the
 * target shows the row: by default when a connection of its own that LISTENs receives the
 * notification an AFTER INSERT trigger on the target table sends (PostgreSQL delivers it only
 * once the transaction that wrote the row has committed, so the row is visible then; the case
 * then checks that it is); with `watch: 'poll'`, when a target connection polling every
 * millisecond first sees the row (which adds up to ~1 ms, and ~1000 queries/s of load).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBenchSetup } from '../nodes.ts';
import { ROOT } from '../paths.ts';
import { fmt, progress, type ResultRow, verdict } from '../report.ts';
import { COLUMNS, orderRow } from '../workload.ts';

const SAMPLE_TIMEOUT_MS = 10_000;

/** Seconds of CPU the process has used (utime + stime from /proc/<pid>/stat), or null off Linux. */
function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; 100 per second on Linux
  } catch {
    return null;
  }
}

/** How long the daemon is watched doing nothing by default: wake on change must not poll busily. */
const IDLE_SECONDS = 60;

/** The channel of the target table's bench trigger (watch 'notify'). */
const SEEN_CHANNEL = 'dsync_bench_seen';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

export interface LatencyOptions {
  /** How the target is watched: a LISTEN on a trigger's notification at commit (default), or a poll every millisecond. */
  watch?: 'notify' | 'poll';
  /** Seconds the idle daemon's CPU is watched after the samples (default 60; 0: not watched). */
  idleSeconds?: number;
  /** Changes timed (default 50). */
  samples?: number;
  /** The target is a receive-only node (`nodes.<n>.receiveOnly`: docs/convergence.md#receive-only-nodes). */
  replica?: boolean;
  /** The receive-only target's transport applies the changes itself (`nodes.<n>.directApply`: docs/convergence.md#direct-apply). */
  direct?: boolean;
}

export async function latencyCase(intervalSeconds: number, options: LatencyOptions = {}): Promise<ResultRow> {
  const watch = options.watch ?? 'notify';
  const idleSeconds = options.idleSeconds ?? IDLE_SECONDS;
  const count = options.samples ?? 50;
  const direct = options.direct ?? false;
  const replica = (options.replica ?? false) || direct;
  const subject = `PostgreSQL → PostgreSQL${direct ? ' (receive-only, direct apply)' : replica ? ' (receive-only)' : ''}, dsync run`;
  // Wake on change makes the interval an upper bound: the goal holds at a production interval (1 s).
  const target = intervalSeconds >= 1 ? 'p50 ≤ 5 ms, p95 ≤ 20 ms' : 'p50 ≤ 15 ms, p95 ≤ 50 ms';
  const [p50Goal, p95Goal] = intervalSeconds >= 1 ? [5, 20] : [15, 50];
  const setup = await createBenchSetup(
    [
      { name: 'src', dialect: 'postgres', sync: true },
      { name: 'tgt', dialect: 'postgres', sync: true, receiveOnly: replica, directApply: direct },
    ],
    [
      { id: 1000, type: 'transport', from: 'src', to: 'tgt', intervalSeconds },
      { id: 1001, type: 'import', node: 'tgt', intervalSeconds },
    ],
  );
  const dir = mkdtempSync(join(tmpdir(), 'dsync-bench-latency-'));
  const configFile = join(dir, 'dsync.config.json');
  const { config } = setup;
  writeFileSync(
    configFile,
    JSON.stringify({
      nodes: Object.fromEntries(
        Object.values(config.nodes).map((n) => [
          n.name,
          {
            dialect: n.dialect,
            url: n.url,
            serverId: n.serverId,
            ...(n.receiveOnly ? { receiveOnly: true } : {}),
            ...(n.directApply ? { directApply: true } : {}),
          },
        ]),
      ),
      tables: config.tables,
      programs: config.programs.map((p) =>
        p.type === 'transport'
          ? { id: p.id, type: p.type, from: p.from, to: p.to, intervalSeconds: p.intervalSeconds }
          : { id: p.id, type: p.type, node: p.node, intervalSeconds: p.intervalSeconds },
      ),
      generatedDir: config.generatedDir,
    }),
  );
  const daemon = spawn(
    process.execPath,
    [
      ...(process.env.DSYNC_BENCH_DAEMON_NODE_OPTIONS?.split(' ').filter(Boolean) ?? []),
      join(ROOT, 'bin', 'dsync.js'),
      '--config',
      configFile,
      'run',
      '--port',
      '0',
    ],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  daemon.stdout.on('data', (c) => (output += c));
  daemon.stderr.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  const { default: pg } = await import('pg');
  let listener: InstanceType<typeof pg.Client> | null = null;
  try {
    const src = (await setup.handle('src')).client;
    const tgt = (await setup.handle('tgt')).client;
    const insert = `INSERT INTO sales_order (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;
    const visible = async (key: string) => (await tgt.query('SELECT 1 FROM sales_order WHERE order_id = $1', [key])).rows.length > 0;
    const exitedError = () => new Error(`dsync run exited (${daemon.exitCode}): ${output.trim().split('\n').slice(-3).join(' / ')}`);
    /** Keys whose notification came, with when it came, and who waits for which (watch 'notify'). */
    const seen = new Map<string, number>();
    const waiting = new Map<string, () => void>();
    if (watch === 'notify') {
      // The bench's own trigger on the target table: fires for the import's writes too (ENABLE ALWAYS), notifies at commit.
      await tgt.exec(
        `CREATE FUNCTION dsync_bench_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('${SEEN_CHANNEL}', NEW.order_id::text); RETURN NULL; END $$;
         CREATE TRIGGER dsync_bench_seen AFTER INSERT ON sales_order FOR EACH ROW EXECUTE FUNCTION dsync_bench_seen();
         ALTER TABLE sales_order ENABLE ALWAYS TRIGGER dsync_bench_seen;`,
      );
      listener = new pg.Client({ connectionString: config.nodes.tgt.url });
      listener.on('error', () => undefined);
      await listener.connect();
      listener.on('notification', (message) => {
        if (message.channel !== SEEN_CHANNEL || message.payload === undefined) return;
        seen.set(message.payload, performance.now());
        waiting.get(message.payload)?.();
      });
      await listener.query(`LISTEN ${SEEN_CHANNEL}`);
    }
    /** Resolves when the notification for `key` has come (or came already); false after the timeout. */
    const notified = (key: string) =>
      new Promise<boolean>((resolve, reject) => {
        if (seen.has(key)) return resolve(true);
        const done = (ok: boolean, error?: Error) => {
          clearTimeout(timer);
          clearInterval(alive);
          waiting.delete(key);
          if (error) reject(error);
          else resolve(ok);
        };
        const timer = setTimeout(() => done(false), SAMPLE_TIMEOUT_MS);
        const alive = setInterval(() => daemon.exitCode !== null && done(false, exitedError()), 100);
        waiting.set(key, () => done(true));
      });
    /**
     * Samples whose notification this process handled before the INSERT's answer: it was off the CPU
     * meanwhile, so the answer's time is late. Those are timed from the INSERT's send instead (an
     * upper bound: it adds the INSERT's own round trip), never as the near-zero the late answer gives.
     */
    let timedFromSend = 0;
    /** One change, committed alone; milliseconds until the target shows it (Infinity after the timeout). */
    const sample = async (i: number) => {
      const row = orderRow(9_000_000 + i);
      const key = String(row[0]);
      const sent = performance.now();
      await src.query(insert, row);
      const committed = performance.now();
      if (watch === 'notify') {
        const early = seen.has(key);
        if (!(await notified(key))) return Number.POSITIVE_INFINITY;
        if (early) timedFromSend++;
        const ms = seen.get(key)! - (early ? sent : committed);
        // Off the clock: the notification came after the commit, so the row must be there.
        if (!(await visible(key))) throw new Error(`latency: notified of ${key}, but the target does not show it`);
        return ms;
      }
      while (performance.now() - committed < SAMPLE_TIMEOUT_MS) {
        if (daemon.exitCode !== null) throw exitedError();
        if (await visible(key)) return performance.now() - committed;
        await sleep(1);
      }
      return Number.POSITIVE_INFINITY;
    };
    progress(`latency: dsync run started (interval ${intervalSeconds} s); one warm-up change`);
    await sample(-1);
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      samples.push(await sample(i));
      // A random pause, so that samples fall at every phase of the daemon's polling.
      await sleep(20 + Math.random() * 80);
    }
    let idle = '';
    if (intervalSeconds >= 1 && daemon.pid && idleSeconds > 0) {
      progress(`latency: watching the idle daemon for ${idleSeconds} s`);
      const before = cpuSeconds(daemon.pid);
      await sleep(idleSeconds * 1000);
      const after = cpuSeconds(daemon.pid);
      if (before !== null && after !== null) idle = `; idle daemon used ${fmt(after - before, 2)} s of CPU in ${idleSeconds} s`;
    }
    const sorted = [...samples].sort((x, y) => x - y);
    const [p50, p95] = [percentile(sorted, 50), percentile(sorted, 95)];
    const show = (ms: number) => (Number.isFinite(ms) ? `${fmt(ms, 1)} ms` : `> ${SAMPLE_TIMEOUT_MS / 1000} s`);
    return {
      case: '4 latency',
      subject,
      measured: `p50 ${show(p50)}, p95 ${show(p95)} (${count} samples, min ${show(sorted[0])}, max ${show(sorted[sorted.length - 1])})`,
      baseline: '',
      ratio: null,
      target,
      verdict: verdict(p50 <= p50Goal, p95 <= p95Goal),
      note: `programs at intervalSeconds ${intervalSeconds}; ${
        watch === 'notify'
          ? `seen at the target by a LISTEN on the notification an AFTER INSERT trigger on its table sends at commit${
              timedFromSend > 0 ? ` (${timedFromSend} sample(s) notified before the INSERT's answer was handled: timed from its send)` : ''
            }`
          : 'the target is polled every 1 ms, which adds up to ~1 ms'
      }; the clock starts when the source COMMIT is acknowledged${idle}`,
      data: { samples, intervalSeconds, watch, timedFromSend },
    };
  } finally {
    await listener?.end().catch(() => undefined);
    daemon.kill('SIGTERM');
    const stopped = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
    if (stopped === 'timeout') daemon.kill('SIGKILL');
    await setup.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
