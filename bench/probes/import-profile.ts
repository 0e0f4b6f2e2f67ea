/**
 * Probe: the drain-ab workload (N inserts, then an UPDATE of every row) moved by
 * transportOnce, then the import alone profiled with the inspector (V8 CPU profile of
 * that phase only, written to `out`), with its CPU seconds:
 * `npx tsx bench/probes/import-profile.ts [N] [postgres>postgres] [out.cpuprofile]`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { summarizeProfile } from '../profile-summary.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';
import { probeHeapFlags } from './gc-pauses.ts';

// HEAP_FLAGS=1: the drain's heap settings (src/runtime/heap.ts).
probeHeapFlags();

const n = Number(process.argv[2] ?? 20000);
const [from, to] = (process.argv[3] ?? 'postgres>postgres').split('>') as [DialectName, DialectName];
const out = process.argv[4] ?? 'import.cpuprofile';
const { setup, src, tgt } = await createDrainPair(from, to, n);
try {
  let moved = 0;
  for (let pass = 0; moved < 2 * n && pass < 50; pass++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  // TRACE=1: the import's statements timed by shape (each includes the driver's parsing of its result).
  const trace = new StatementTrace();
  const target = process.env.TRACE ? { ...tgt, client: traceClient(tgt.client, trace) } : tgt;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  // HEAP=1: where the import allocates (sampled), by function, printed after the profile; HEAP=promoted: see below.
  if (process.env.HEAP)
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      // HEAP=promoted: only what outlives the young generation (what the full collections then mark and free).
      includeObjectsCollectedByMinorGC: process.env.HEAP !== 'promoted',
    });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let applied = 0;
  for (let pass = 0; applied < 2 * n && pass < 50; pass++) {
    const r = await importOnce(setup.config, setup.config.programs[1] as never, target);
    applied += r.applied + r.unchanged;
  }
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const { profile } = await session.post('Profiler.stop');
  if (process.env.HEAP) {
    const { profile: heap } = await session.post('HeapProfiler.stopSampling');
    const bySelf = new Map<string, number>();
    type HeapNode = { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: HeapNode[] };
    const walk = (node: HeapNode) => {
      const name = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}:${node.callFrame.lineNumber}`;
      bySelf.set(name, (bySelf.get(name) ?? 0) + node.selfSize);
      for (const c of node.children) walk(c);
    };
    walk(heap.head as HeapNode);
    let sum = 0;
    for (const v of bySelf.values()) sum += v;
    console.log(`heap allocated in all: ${(sum / 1e6).toFixed(0)} MB`);
    for (const [name, size] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, 40))
      console.log(`heap ${(size / 1e6).toFixed(1).padStart(7)} MB ${name}`);
  }
  writeFileSync(out, JSON.stringify(profile));
  console.log(`import ${((t1 - t0) / 1000).toFixed(2)} s, CPU ${((c1.user - c0.user + c1.system - c0.system) / 1e6).toFixed(2)} s`);
  const s = summarizeProfile(out, 40)!;
  console.log(JSON.stringify({ total: s.totalMs, idle: s.idleMs, gc: s.gcMs }));
  for (const f of s.functions.slice(0, 40)) console.log(`${f.ms.toFixed(0).padStart(6)} ${f.pct.toFixed(1).padStart(5)}% ${f.name}`);
  if (process.env.TRACE) for (const t of trace.top(14)) console.log(`  ${t.count} × ${t.ms} ms  ${t.shape}`);
  console.log('--- files');
  for (const f of s.files.slice(0, 20)) console.log(`${f.ms.toFixed(0).padStart(6)} ${f.pct.toFixed(1).padStart(5)}% ${f.name}`);
} finally {
  await setup.close();
}
