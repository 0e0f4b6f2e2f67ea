/**
 * Probe: one drain of the drain-ab workload (N inserts, then an UPDATE of every row) run three
 * ways: `seq` (transport passes, then import passes, as drain-child.ts one after the other),
 * `conc` (both loops at once on their own connections, as drain-child.ts `concurrent`), and
 * `daemon` (the real Daemon of `dsync run`, in this process, stopped when the import has
 * consumed the backlog). Printed per run: wall time, this process's CPU, the backends' CPU (the
 * source's and target's databases, /proc of every backend seen during the run), the import's
 * passes and their sizes: `npx tsx bench/probes/drain-run.ts [N] [seq,conc,daemon] [rounds]`.
 */
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { performance as nodePerformance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { ImportProgram, TransportProgram } from '../../src/config/config.ts';
import { Daemon } from '../../src/runtime/daemon/daemon.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { workDone } from '../../src/runtime/sync.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { createDrainPair } from '../drain-pair.ts';

const n = Number(process.argv[2] ?? 50000);
const modes = (process.argv[3] ?? 'seq,conc,daemon').split(',');
const rounds = Number(process.argv[4] ?? 1);

const procCpu = (pid: number): number | null => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
};
/** The main thread's CPU seconds (/proc/thread-self/stat). */
const threadCpu = () => {
  const f = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

// The worker's script bundled as plain JavaScript (a worker thread does not get tsx's loader).
const workerFile = fileURLToPath(new URL(`../results/.drain-run-transport-${process.pid}.mjs`, import.meta.url));
await build({
  entryPoints: [fileURLToPath(new URL('./drain-run-transport.ts', import.meta.url))],
  bundle: true,
  platform: 'node',
  format: 'esm',
  packages: 'external',
  outfile: workerFile,
  logLevel: 'error',
});
process.on('exit', () => rmSync(workerFile, { force: true }));

for (let round = 0; round < rounds; round++)
  for (const mode of modes) {
    const { setup, src, tgt } = await createDrainPair('postgres', 'postgres', n);
    const transport = setup.config.programs[0] as TransportProgram;
    const importer = setup.config.programs[1] as ImportProgram;
    const total = 2 * n;
    // Backends of the two databases, their CPU when first and last seen (a backend that ends keeps its last look).
    const dbs = [src.node.url, tgt.node.url].map((u) => new URL(u).pathname.slice(1));
    // The watcher's own connection, left out of the sums.
    const watch = await src.dialect.connect(src.node.url, 'watch');
    const own = new Set<number>([Number((await watch.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)]);
    /** Samples of what the backends wait for (state/wait_event), counted. */
    const waits = new Map<string, number>();
    const seen = new Map<number, { first: number; last: number; what: Set<string> }>();
    let watching = true;
    const look = async () => {
      const { rows } = await watch.query(
        "SELECT pid, datname, state, coalesce(wait_event_type || ':' || wait_event, 'cpu') AS w, left(query, 30) AS q FROM pg_stat_activity WHERE datname = ANY($1)",
        [dbs],
      );
      for (const r of rows) {
        const pid = Number(r.pid);
        if (own.has(pid)) continue;
        if (r.state === 'active') {
          const key = `${r.datname === dbs[0] ? 'src' : 'tgt'} ${r.w} ${String(r.q).replace(/\s+/g, ' ')}`;
          waits.set(key, (waits.get(key) ?? 0) + 1);
        }
        const c = procCpu(pid);
        if (c === null) continue;
        const s = seen.get(pid) ?? { first: c, last: c, what: new Set<string>() };
        seen.set(pid, s);
        s.last = c;
        if (s.what.size < 4) s.what.add(`${r.datname === dbs[0] ? 'src' : 'tgt'} ${String(r.q).replace(/\s+/g, ' ')}`);
      }
    };
    const watcher = (async () => {
      while (watching) {
        await look();
        await sleep(50);
      }
    })();
    const sizes: number[] = [];
    const e0 = nodePerformance.eventLoopUtilization();
    const c0 = process.cpuUsage();
    const mainThread0 = threadCpu();
    const t0 = performance.now();
    let tDone = 0;
    if (mode === 'daemon') {
      // NO_SAMPLER=1: the daemon without its backlog sampler (status chart, gauges), to see what it costs.
      if (process.env.NO_SAMPLER) (Daemon.prototype as unknown as { sampleLoop: () => Promise<void> }).sampleLoop = async () => {};
      const controller = new AbortController();
      let consumed = 0;
      const daemon = new Daemon(setup.config, {
        signal: controller.signal,
        onPass: (m, result) => {
          // PASSES=1: every pass of the daemon, as it ends.
          if (process.env.PASSES && result)
            console.log(
              `  ${((performance.now() - t0) / 1000).toFixed(2)} s: program ${m.program.id} pass ${m.runs}: ${workDone(result)}, pointer ${result.pointer}, horizon ${result.horizon}, held back ${result.heldBack}`,
            );
          if (!result || m.program.id !== importer.id) return;
          const w = workDone(result);
          if (w > 0) sizes.push(w);
          consumed += w;
          if (consumed >= total && !tDone) {
            tDone = performance.now();
            controller.abort();
          }
        },
      });
      await daemon.run();
    } else {
      // The import's own connection in `conc`, as drain-child.ts opens it.
      const tgt2 = mode !== 'seq' ? { ...tgt, client: await tgt.dialect.connect(tgt.node.url, tgt.node.name) } : tgt;
      let moved = 0;
      let consumed = 0;
      const until = async (pass: () => Promise<number>, enough: () => boolean) => {
        while (!enough()) if ((await pass()) === 0) await sleep(5);
      };
      // conc-fresh, conc-lazy: the transport on fresh connections, with lazy commits as the daemon opens them (NodeSet lazyCommits).
      const lazy = mode.startsWith('conc-') ? new NodeSet(setup.config, { lazyCommits: mode === 'conc-lazy' }) : null;
      const [tsrc, ttgt] = lazy ? [await lazy.get('src'), await lazy.get('tgt')] : [src, tgt];
      const tl = () =>
        until(
          async () => {
            const w = workDone(await transportOnce(transport, tsrc, ttgt));
            moved += w;
            return w;
          },
          () => moved >= total,
        );
      const il = () =>
        until(
          async () => {
            const w = workDone(await importOnce(setup.config, importer, tgt2));
            if (w > 0) sizes.push(w);
            consumed += w;
            return w;
          },
          () => consumed >= total,
        );
      // split: the transport loop in a worker thread (drain-run-transport.ts), the import here.
      const worker = () =>
        new Promise((resolve, reject) => {
          const w = new Worker(workerFile, { workerData: { config: setup.config, total } });
          w.once('message', (m) => {
            console.log(`  worker: moved ${m.moved}, its CPU ${m.cpu.toFixed(2)} s`);
            resolve(m);
          });
          w.once('error', reject);
        });
      if (mode.startsWith('conc')) await Promise.all([tl(), il()]);
      else if (mode === 'split') await Promise.all([worker(), il()]);
      else {
        await tl();
        await il();
      }
      tDone = performance.now();
      if (tgt2 !== tgt) await tgt2.client.close();
      await lazy?.closeAll();
    }
    const c1 = process.cpuUsage();
    const mainThread = threadCpu();
    const elu = nodePerformance.eventLoopUtilization(e0).utilization;
    watching = false;
    await watcher;
    let backend = 0;
    for (const s of seen.values()) backend += s.last - s.first;
    const compared = await compareTables(
      { client: src.client, table: setup.table('src') },
      { client: tgt.client, table: setup.table('tgt') },
    );
    const cpu = (c1.user - c0.user + c1.system - c0.system) / 1e6;
    const sorted = [...sizes].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    console.log(
      `${mode}: ${total} changes in ${((tDone - t0) / 1000).toFixed(2)} s (${((total * 1000) / (tDone - t0)).toFixed(0)}/s), process CPU ${cpu.toFixed(2)} s (main thread ${(mainThread - mainThread0).toFixed(2)} s, loop busy ${(elu * 100).toFixed(0)} %), backends ${backend.toFixed(2)} s; ` +
        `import passes ${sizes.length} (sizes min ${q(0)} p50 ${q(0.5)} max ${q(1)}); ${hasDifferences(compared) ? 'TARGET DIFFERS' : 'equal'}; peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; load ${load()}`,
    );
    if (process.env.BACKENDS)
      for (const [pid, b] of [...seen].sort((a, b) => b[1].last - b[1].first - (a[1].last - a[1].first)).slice(0, 6))
        console.log(`  backend ${pid}: ${(b.last - b.first).toFixed(2)} s  ${[...b.what].join(' | ').slice(0, 150)}`);
    if (process.env.WAITS) for (const [k, v] of [...waits].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${v} × ${k}`);
    await watch.close();
    await setup.close();
  }
