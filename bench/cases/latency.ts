/**
 * Case 4, latency: under the daemon (`dsync run`, a child process with its own config
 * file), one change committed alone on the source until it is visible at the target,
 * 50 times. The clock starts when the INSERT's autocommit returns and stops when a
 * separate target connection, polling every millisecond, first sees the row.
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

const SAMPLES = 50;
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

/** How long the daemon is watched doing nothing: wake on change must not poll busily. */
const IDLE_SECONDS = 60;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

export async function latencyCase(intervalSeconds: number): Promise<ResultRow> {
  const subject = 'PostgreSQL → PostgreSQL, dsync run';
  // Wake on change makes the interval an upper bound: the goal holds at a production interval (1 s).
  const target = intervalSeconds >= 1 ? 'p50 ≤ 5 ms, p95 ≤ 20 ms' : 'p50 ≤ 15 ms, p95 ≤ 50 ms';
  const [p50Goal, p95Goal] = intervalSeconds >= 1 ? [5, 20] : [15, 50];
  const setup = await createBenchSetup(
    [
      { name: 'src', dialect: 'postgres', sync: true },
      { name: 'tgt', dialect: 'postgres', sync: true },
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
      nodes: Object.fromEntries(Object.values(config.nodes).map((n) => [n.name, { dialect: n.dialect, url: n.url, serverId: n.serverId }])),
      tables: config.tables,
      programs: config.programs.map((p) =>
        p.type === 'transport'
          ? { id: p.id, type: p.type, from: p.from, to: p.to, intervalSeconds: p.intervalSeconds }
          : { id: p.id, type: p.type, node: p.node, intervalSeconds: p.intervalSeconds },
      ),
      generatedDir: config.generatedDir,
    }),
  );
  const daemon = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), '--config', configFile, 'run', '--port', '0'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  daemon.stdout.on('data', (c) => (output += c));
  daemon.stderr.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  try {
    const src = (await setup.handle('src')).client;
    const tgt = (await setup.handle('tgt')).client;
    const insert = `INSERT INTO sales_order (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;
    const visible = async (key: string) => (await tgt.query('SELECT 1 FROM sales_order WHERE order_id = $1', [key])).rows.length > 0;
    /** One change, committed alone; milliseconds until the target shows it (Infinity after the timeout). */
    const sample = async (i: number) => {
      const row = orderRow(9_000_000 + i);
      await src.query(insert, row);
      const committed = performance.now();
      while (performance.now() - committed < SAMPLE_TIMEOUT_MS) {
        if (daemon.exitCode !== null)
          throw new Error(`dsync run exited (${daemon.exitCode}): ${output.trim().split('\n').slice(-3).join(' / ')}`);
        if (await visible(String(row[0]))) return performance.now() - committed;
        await sleep(1);
      }
      return Number.POSITIVE_INFINITY;
    };
    progress(`latency: dsync run started (interval ${intervalSeconds} s); one warm-up change`);
    await sample(-1);
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      samples.push(await sample(i));
      // A random pause, so that samples fall at every phase of the daemon's polling.
      await sleep(20 + Math.random() * 80);
    }
    let idle = '';
    if (intervalSeconds >= 1 && daemon.pid) {
      progress(`latency: watching the idle daemon for ${IDLE_SECONDS} s`);
      const before = cpuSeconds(daemon.pid);
      await sleep(IDLE_SECONDS * 1000);
      const after = cpuSeconds(daemon.pid);
      if (before !== null && after !== null) idle = `; idle daemon used ${fmt(after - before, 2)} s of CPU in ${IDLE_SECONDS} s`;
    }
    const sorted = [...samples].sort((x, y) => x - y);
    const [p50, p95] = [percentile(sorted, 50), percentile(sorted, 95)];
    const show = (ms: number) => (Number.isFinite(ms) ? `${fmt(ms, 1)} ms` : `> ${SAMPLE_TIMEOUT_MS / 1000} s`);
    return {
      case: '4 latency',
      subject,
      measured: `p50 ${show(p50)}, p95 ${show(p95)} (${SAMPLES} samples, min ${show(sorted[0])}, max ${show(sorted[sorted.length - 1])})`,
      baseline: '',
      ratio: null,
      target,
      verdict: verdict(p50 <= p50Goal, p95 <= p95Goal),
      note: `programs at intervalSeconds ${intervalSeconds}; the target is polled every 1 ms, which adds up to ~1 ms${idle}`,
      data: { samples, intervalSeconds },
    };
  } finally {
    daemon.kill('SIGTERM');
    const stopped = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
    if (stopped === 'timeout') daemon.kill('SIGKILL');
    await setup.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
