/**
 * Probe: the import's CPU on a PostgreSQL target, its own process and the server's. The
 * drain-ab workload (N inserts, then an UPDATE of every row) plus a DELETE of every fifth
 * row (as W), moved by transportOnce, then imported; printed: the import's wall time, this
 * process's CPU seconds (process.cpuUsage) and the target connection's backend CPU seconds
 * (/proc/<pid>/stat of pg_backend_pid(), a server on this machine), `TRACE=1` adds the
 * statements by shape: `npx tsx bench/probes/import-cpu.ts [N] [postgres>postgres] [rounds]`.
 * Also printed: the main thread's CPU (/proc/self/task/<pid>/stat: the process's CPU less V8's
 * helper threads, its concurrent marking among them) and the collector's pauses during the import.
 * Also printed: the transport's wall time and its statements at the target (the inbox's write), and with TRACE=1 the
 * import's reads of the inbox: what a direct link, merging from the source's outbox, would not pay.
 * Run from two trees one after the other, alternating, to compare them under one load.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import type { DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { createDrainPair } from '../drain-pair.ts';
import { TABLE } from '../nodes.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';
import { countGcPauses, probeHeapFlags } from './gc-pauses.ts';

const n = Number(process.argv[2] ?? 20000);
// HEAP_FLAGS=1: the heap settings of the commands that move changes (src/runtime/heap.ts), as the bench's drain runs with;
// GROWING=<percent>: --heap-growing-percent at that instead.
probeHeapFlags();
if (process.env.GROWING) setFlagsFromString(`--heap-growing-percent=${process.env.GROWING}`);
const gc = countGcPauses();
const [from, to] = (process.argv[3] ?? 'postgres>postgres').split('>') as [DialectName, DialectName];
if (to !== 'postgres') throw new Error('import-cpu measures a PostgreSQL target');

/** A backend's CPU seconds (user + system) from /proc (clock ticks of 1/100 s). */
const backendCpu = (pid: number, file = `/proc/${pid}/stat`) => {
  const fields = readFileSync(file, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** Every thread of this process by name (comm) and id, and its CPU seconds so far (THREADS=1 prints those that worked). */
const threadCpus = () => {
  const out = new Map<string, number>();
  for (const tid of readdirSync('/proc/self/task'))
    out.set(`${readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()}#${tid}`, backendCpu(Number(tid), `/proc/self/task/${tid}/stat`));
  return out;
};

/** The seconds a trace's statements whose shape matches `shape` took. */
const secondsOf = (trace: StatementTrace, shape: RegExp) =>
  trace.top(1000).reduce((ms, t) => ms + (shape.test(t.shape) ? t.ms : 0), 0) / 1000;

/** This process's main thread's CPU seconds (its task's stat, whose id is the process's). */
const mainCpu = () => backendCpu(process.pid, `/proc/self/task/${process.pid}/stat`);

const { setup, src, tgt } = await createDrainPair(from, to, n);
try {
  await src.client.exec(`DELETE FROM ${TABLE} WHERE quantity % 5 = 0`);
  const total = Number((await src.client.query('SELECT count(*) AS n FROM ds_change_outbox')).rows[0].n);
  // The transport, timed, with the target's statements in it (the inbox write): the part of a drain a direct link would not pay.
  const sent = new StatementTrace();
  const ts0 = performance.now();
  let moved = 0;
  for (let pass = 0; moved < total && pass < 50; pass++)
    moved += (await transportOnce(setup.config.programs[0] as never, src, { ...tgt, client: traceClient(tgt.client, sent) })).moved;
  const transportSeconds = (performance.now() - ts0) / 1000;
  const inboxWrite = secondsOf(sent, /ds_change_inbox/);
  const pid = Number((await tgt.client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
  // NICE=-10 (as root): this process and its backend ahead of others' work during the import, so that
  // the wall time on a shared machine says more about the import than about the load.
  if (process.env.NICE) for (const p of [process.pid, pid]) setPriority(p, Number(process.env.NICE));
  // RT=1 (as root): both under SCHED_FIFO during the import (the kernel still leaves others 5 % of each second):
  // where other work shares the cores by autogroup, a nice value does not reach across groups, a real-time class does.
  const realTime = (p: number, priority: number) =>
    execFileSync('chrt', ['-a', '-p', ...(priority ? ['-f', String(priority)] : ['-o', '0']), String(p)]);
  if (process.env.RT) for (const p of [process.pid, pid]) realTime(p, 10);
  const trace = new StatementTrace(process.env.TRACE === 'timeline');
  // TRACE=1: statements by shape, timed; TRACE=cpu: by the backend's CPU during each (10 ms ticks).
  const clock = process.env.TRACE === 'cpu' ? () => backendCpu(pid) * 1000 : undefined;
  const target = process.env.TRACE ? { ...tgt, client: traceClient(tgt.client, trace, clock) } : tgt;
  const s0 = backendCpu(pid);
  const m0 = mainCpu();
  const t0s = threadCpus();
  Object.assign(gc, { minor: 0, minorMs: 0, major: 0, majorMs: 0 });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let done = 0;
  for (let pass = 0; done < total && pass < 50; pass++) {
    const r = await importOnce(setup.config, setup.config.programs[1] as never, target);
    done += r.applied + r.unchanged + r.parked + r.waiting;
  }
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const m1 = mainCpu();
  const t1s = threadCpus();
  const s1 = backendCpu(pid);
  const gcs = gc.take();
  if (process.env.RT) for (const p of [process.pid, pid]) realTime(p, 0);
  const compared = await compareTables(
    { client: src.client, table: setup.table('src') },
    { client: tgt.client, table: setup.table('tgt') },
  );
  const cpu = (c1.user - c0.user + c1.system - c0.system) / 1e6;
  console.log(
    `${from}>${to} ${total} changes: import ${((t1 - t0) / 1000).toFixed(2)} s, process CPU ${cpu.toFixed(2)} s (main thread ${(m1 - m0).toFixed(2)} s), backend CPU ${(s1 - s0).toFixed(2)} s, ` +
      `both ${(cpu + s1 - s0).toFixed(2)} s, peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MB, ${gcs}; ${hasDifferences(compared) ? 'TARGET DIFFERS' : 'target equals source'}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
  );
  console.log(
    `  transport ${transportSeconds.toFixed(2)} s, of it the inbox's write ${inboxWrite.toFixed(2)} s (its statements at the target)`,
  );
  // With TRACE=1: the import's reads of the inbox (what a direct link would read from the source's outbox instead).
  if (process.env.TRACE && process.env.TRACE !== 'timeline')
    console.log(`  the import's inbox reads ${secondsOf(trace, /FROM ds_change_inbox|^SELECT id, origin_change_id/).toFixed(2)} s`);
  if (process.env.THREADS)
    console.log(
      `  threads: ${[...t1s]
        .map(([name, cpu]) => [name, cpu - (t0s.get(name) ?? 0)] as const)
        .filter(([, cpu]) => cpu > 0)
        .map(([name, cpu]) => `${name} ${cpu.toFixed(2)} s`)
        .join(', ')}`,
    );
  // TRACE=timeline: every statement in order, with the time before it (this process's own work) and its own.
  if (process.env.TRACE === 'timeline') for (const line of trace.timelineLines(t0)) console.log(line);
  else if (process.env.TRACE) for (const t of trace.top(14)) console.log(`  ${t.count} × ${t.ms} ms  ${t.shape}`);
} finally {
  await setup.close();
}
