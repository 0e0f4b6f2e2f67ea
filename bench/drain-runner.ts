/**
 * Runs drain-child.ts in its own Node process and watches it: the programs' pointers
 * (for progress), the process's peak RSS
 * (/proc/<pid>/status VmHWM), and a time budget. A drain that outlasts the budget is
 * stopped; its rate is then estimated from what it did (transport time plus the import's
 * rate so far), and marked as estimated.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { programHome } from '../src/config/config.ts';
import { countAbove } from '../src/runtime/transport/transport.ts';
import type { DrainJob } from './drain-child.ts';
import type { BenchSetup } from './nodes.ts';
import { BENCH_DIR, ROOT } from './paths.ts';
import { type ProfileSummary, summarizeProfile } from './profile-summary.ts';
import { progress } from './report.ts';
import type { TracedStatements } from './traced-client.ts';

export interface DrainOptions {
  setup: BenchSetup;
  transportProgram: number;
  importProgram: number;
  /** Changes in the backlog. */
  total: number;
  /** Most seconds for each of the two phases (transport, import) before the drain is stopped. */
  budgetSeconds: number;
  /** Count statements by shape and write a CPU profile into this directory. */
  profileDir?: string;
  label: string;
  /** Transport and import at the same time, as `dsync run` runs them (drain-child.ts). */
  concurrent?: boolean;
}

export interface DrainRun {
  completed: boolean;
  /** From the first change read to the last one applied (or to the stop). */
  elapsedMs: number;
  transportMs: number | null;
  importMs: number | null;
  /** Import passes it took (many small ones when the import runs beside the transport). */
  importPasses?: number;
  /** Changes applied at the target (the import's pointer when stopped). */
  applied: number;
  total: number;
  /** Changes per second, source outbox to target table; estimated when stopped by the budget. */
  rate: number;
  estimated: boolean;
  peakRssMb: number | null;
  /** The peak RSS when the transport had moved everything (with the import beside it in a concurrent drain): which phase sets the peak. */
  transportPeakRssMb: number | null;
  /** The drain process's memory at its highest RSS sampled (every 100 ms), MB: V8's heap used and reserved, and its external memory. */
  atHighestRss?: { rss: number; heapUsed: number; heapTotal: number; external: number };
  /** RSS when the drain started: Node, tsx's loader and the loaded modules, connections open. */
  startRssMb: number | null;
  /** V8 flags the drain process set for itself (src/runtime/heap.ts, as `dsync run`/`sync` do). */
  heapFlags: string[];
  statements?: TracedStatements & { perChange: number };
  profile?: ProfileSummary;
}

let bundled: string | null = null;

/**
 * The drain child as plain JavaScript, bundled once per run by esbuild (what tsx uses
 * inside), drivers left to node_modules: the drain then runs the way the compiled
 * package runs, without tsx's loader and its in-process compiler (~100 MB of RSS).
 * DSYNC_BENCH_DRAIN_TSX=1 runs the TypeScript through tsx instead.
 */
async function drainChildScript(): Promise<string[]> {
  if (process.env.DSYNC_BENCH_DRAIN_TSX === '1') return ['--import', 'tsx', join(BENCH_DIR, 'drain-child.ts')];
  if (!bundled) {
    const { build } = await import('esbuild');
    const dir = join(BENCH_DIR, 'results');
    mkdirSync(dir, { recursive: true });
    bundled = join(dir, `.drain-child-${process.pid}.mjs`);
    await build({
      entryPoints: [join(BENCH_DIR, 'drain-child.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile: bundled,
      logLevel: 'error',
    });
    const file = bundled;
    process.on('exit', () => rmSync(file, { force: true }));
  }
  return [bundled];
}

/** VmHWM (peak) or VmRSS (now) of a process, in kB (Linux). */
function rssKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function programPointer(setup: BenchSetup, nodeName: string, programId: number): Promise<number> {
  const { client } = await setup.handle(nodeName);
  const { rows } = await client.query(`SELECT last_pointer FROM ds_program_parameter WHERE id = ${client.dialect.sql.param(1)}`, [
    programId,
  ]);
  return Number(rows[0]?.last_pointer ?? 0);
}

export async function runDrain(options: DrainOptions): Promise<DrainRun> {
  const { setup, total } = options;
  const importer = setup.config.programs.find((p) => p.id === options.importProgram)!;
  const dir = mkdtempSync(join(tmpdir(), 'dsync-bench-drain-'));
  const jobFile = join(dir, 'job.json');
  const job: DrainJob = {
    config: setup.config,
    transportProgram: options.transportProgram,
    importProgram: options.importProgram,
    total,
    trace: Boolean(options.profileDir),
    concurrent: Boolean(options.concurrent),
  };
  writeFileSync(jobFile, JSON.stringify(job));
  const profileName = `${options.label.replace(/[^A-Za-z0-9]+/g, '-')}.cpuprofile`;
  // DSYNC_BENCH_DRAIN_NODE_OPTIONS: flags for the drain process only (e.g. --max-old-space-size=128), for experiments.
  const nodeArgs = [
    ...(process.env.DSYNC_BENCH_DRAIN_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean),
    ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${profileName}`] : []),
    ...(await drainChildScript()),
    jobFile,
  ];
  const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  let readyAt = 0;
  let startRss: number | null = null;
  let heapFlags: string[] = [];
  let transportedAt: number | null = null;
  let transportPeakKb: number | null = null;
  let done: Record<string, any> | null = null;
  let stoppedStatements: TracedStatements | undefined;
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const event = JSON.parse(line) as Record<string, any>;
      if (event.event === 'ready') {
        readyAt = performance.now();
        startRss = rssKb(child.pid!, 'VmRSS');
        heapFlags = (event.heapFlags as string[] | undefined) ?? [];
      }
      if (event.event === 'transported') {
        transportedAt = performance.now();
        transportPeakKb = typeof event.maxRssKb === 'number' ? event.maxRssKb : null;
        progress(`  ${options.label}: transport moved ${event.moved} in ${(event.ms / 1000).toFixed(1)} s`);
      }
      if (event.event === 'done') done = event;
      if (event.event === 'stopped') stoppedStatements = event.statements;
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let peak: number | null = null;
  let stopped = false;
  let applied = 0;
  let movedSoFar = 0;
  let lastReport = 0;
  const transporter = setup.config.programs.find((p) => p.id === options.transportProgram)!;
  // A program's pointer is an id, not a count: ids skip (MariaDB's auto-increment reserves them in blocks for a
  // bulk write such as the transport's LOAD DATA: a drain of 990,000 changes into MariaDB reached inbox id
  // ~1,470,000). Every change of the backlog is in the source's outbox, and once the transport is done in the
  // target's inbox, so what a program passed is the backlog less the rows above its pointer (counted at the stop
  // only, not while the drain is timed).
  const passed = async (nodeName: string, table: 'ds_change_outbox' | 'ds_change_inbox', pointer: number) => {
    const { client } = await setup.handle(nodeName);
    return total - (await countAbove(client, table, pointer));
  };
  const watch = setInterval(async () => {
    peak = Math.max(peak ?? 0, rssKb(child.pid!, 'VmHWM') ?? 0) || peak;
    if (!readyAt || stopped) return;
    const elapsed = performance.now() - readyAt;
    if (transportedAt !== null) applied = await programPointer(setup, programHome(importer), importer.id).catch(() => applied);
    else movedSoFar = await programPointer(setup, programHome(transporter), transporter.id).catch(() => movedSoFar);
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      progress(
        `  ${options.label}: ${transportedAt === null ? `transport at outbox id ${movedSoFar}` : `import at inbox id ${applied}`} (${total} changes) after ${(elapsed / 1000).toFixed(0)} s`,
      );
    }
    const phaseElapsed = performance.now() - (transportedAt ?? readyAt);
    if (phaseElapsed > options.budgetSeconds * 1000 && !done && !stopped) {
      stopped = true;
      progress(`  ${options.label}: budget of ${options.budgetSeconds} s reached, stopping the drain`);
      // SIGTERM first so that a CPU profile is written (the child exits on it); then SIGKILL.
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 5000).unref();
    }
  }, 250);
  const code = await exited;
  clearInterval(watch);
  const endedAt = performance.now();
  rmSync(dir, { recursive: true, force: true });
  const profile = options.profileDir ? summarizeProfile(join(options.profileDir, profileName)) : undefined;
  const result = done as Record<string, any> | null;
  if (result) {
    const elapsedMs = result.transportMs + result.importMs;
    const statements = result.statements as TracedStatements | undefined;
    return {
      completed: true,
      elapsedMs,
      transportMs: result.transportMs,
      importMs: result.importMs,
      importPasses: result.importPasses,
      applied: total,
      total,
      rate: (total * 1000) / elapsedMs,
      estimated: false,
      peakRssMb: Math.max(result.maxRssKb, peak ?? 0) / 1024,
      transportPeakRssMb: transportPeakKb === null ? null : transportPeakKb / 1024,
      atHighestRss: result.atHighestRss
        ? (Object.fromEntries(Object.entries(result.atHighestRss).map(([k, v]) => [k, Number(v) / 1048576])) as DrainRun['atHighestRss'])
        : undefined,
      startRssMb: startRss === null ? null : startRss / 1024,
      heapFlags,
      statements: statements ? { ...statements, perChange: statements.total / Math.max(1, total) } : undefined,
      profile,
    };
  }
  if (!stopped)
    throw new Error(`the drain process of ${options.label} failed (exit ${code}): ${stderr.trim().split('\n').slice(-5).join(' / ')}`);
  const importHome = programHome(importer);
  applied = transportedAt === null ? 0 : await passed(importHome, 'ds_change_inbox', await programPointer(setup, importHome, importer.id));
  if (transportedAt === null) movedSoFar = await passed(programHome(transporter), 'ds_change_outbox', movedSoFar);
  const elapsedMs = endedAt - readyAt;
  const transportMs = transportedAt === null ? null : transportedAt - readyAt;
  const importMs = transportMs === null ? null : elapsedMs - transportMs;
  // Estimated time to the end: the transport as measured, then the rest at the import's rate so far.
  // A transport stopped by the budget gives only a bound: its own time to the end, the import not counted.
  const estimatedMs =
    transportMs !== null
      ? applied > 0
        ? transportMs + (importMs! * total) / applied
        : Number.POSITIVE_INFINITY
      : movedSoFar > 0
        ? (elapsedMs * total) / movedSoFar
        : Number.POSITIVE_INFINITY;
  return {
    completed: false,
    elapsedMs,
    transportMs,
    importMs,
    applied,
    total,
    rate: (total * 1000) / estimatedMs,
    estimated: true,
    peakRssMb: peak === null ? null : peak / 1024,
    transportPeakRssMb: transportPeakKb === null ? null : transportPeakKb / 1024,
    startRssMb: startRss === null ? null : startRss / 1024,
    heapFlags,
    // Per change of what was applied by then (the transport's statements included).
    statements: stoppedStatements ? { ...stoppedStatements, perChange: stoppedStatements.total / Math.max(1, applied) } : undefined,
    profile,
  };
}
