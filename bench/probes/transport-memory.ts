/**
 * Probe: the transport's memory alone. The drain-ab workload (N inserts, then an UPDATE of every row)
 * moved by transportOnce passes; `process.memoryUsage()` sampled every 50 ms, and printed before the
 * transport and at its highest RSS (V8's heap used and reserved, memory outside it): which part of a
 * drain's peak the transport holds, and whether in V8's heap or outside it. With the drain's heap flag:
 * `HEAP_FLAGS=1 npx tsx bench/probes/transport-memory.ts [N] [postgres>sqlite]` (as the other probes; the same
 * as `node --heap-growing-percent=10 --import tsx …`).
 * SNAPSHOT_AT=<ms>: a heap snapshot that far into the transport (V8 collects first: what is live), summed
 * by kind and constructor, written to SNAPSHOT_DIR (default the working directory).
 */
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import type { DialectName } from '../../src/core/dialect.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { probeHeapFlags } from './gc-pauses.ts';
import { summarizeHeapSnapshot } from './heap-summary.ts';

probeHeapFlags();
const n = Number(process.argv[2] ?? 200000);
const [from, to] = (process.argv[3] ?? 'postgres>sqlite').split('>') as [DialectName, DialectName];
const mb = (bytes: number) => Math.round(bytes / 1048576);
const shown = (m: NodeJS.MemoryUsage) =>
  `RSS ${mb(m.rss)} MB, V8 heap ${mb(m.heapUsed)} MB used of ${mb(m.heapTotal)}, external ${mb(m.external)} MB (array buffers ${mb(m.arrayBuffers)})`;

const { setup, src, tgt } = await createDrainPair(from, to, n);
try {
  const before = process.memoryUsage();
  let highest = before;
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    if (now.rss > highest.rss) highest = now;
  }, 50);
  let snapshot = '';
  const snapshotAt = process.env.SNAPSHOT_AT;
  const timer = snapshotAt
    ? setTimeout(() => {
        snapshot = writeHeapSnapshot(join(process.env.SNAPSHOT_DIR ?? '.', 'transport-live.heapsnapshot'));
      }, Number(snapshotAt))
    : undefined;
  let moved = 0;
  for (let pass = 0; moved < 2 * n && pass < 50; pass++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  clearInterval(sampler);
  clearTimeout(timer);
  console.log(`${from}>${to}: ${moved} changes moved; before: ${shown(before)}; at the highest RSS: ${shown(highest)}`);
  if (snapshot) for (const line of summarizeHeapSnapshot(snapshot)) console.log(line);
  else if (snapshotAt) console.log('the transport ended before the snapshot');
} finally {
  await setup.close();
}
