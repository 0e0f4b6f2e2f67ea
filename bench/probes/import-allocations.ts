/**
 * Probe: where the import allocates. The drain-ab workload (N inserts, then an UPDATE of every row)
 * moved once into the target's inbox, imported once to warm the code, the target reset, then imported
 * again under V8's sampling heap profiler with the objects the collector freed kept in the samples:
 * every allocation of the import, not only what is alive at its end. Printed: the bytes sampled per
 * change, the allocating functions (self), and for the built-ins (a String's replace, an Array's join,
 * a Map's set …) the function that called them:
 * `npx tsx bench/probes/import-allocations.ts [N] [postgres>postgres] [top]`.
 * The bytes a change allocates drive how often the young generation is collected (docs/performance.md,
 * "the import's live heap under the drain's heap flag").
 */
import { Session } from 'node:inspector/promises';
import type { DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair, resetTarget } from '../drain-pair.ts';
import { probeHeapFlags } from './gc-pauses.ts';

const n = Number(process.argv[2] ?? 50000);
const [from, to] = (process.argv[3] ?? 'postgres>postgres').split('>') as [DialectName, DialectName];
const top = Number(process.argv[4] ?? 25);
const IMPORT_ID = 1001;
/** Built-ins whose allocations are told by their caller. */
const BUILT_INS = new Set(['replace', 'join', 'set', 'add', 'push', 'slice', 'next', 'split', 'map', 'String', 'from']);

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SampleNode[];
}

const frameName = (node: SampleNode) =>
  `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').slice(-2).join('/')}`.trim();

/** Self bytes by function, and by built-in with its caller. */
function summarize(head: SampleNode): { total: number; byFunction: Map<string, number>; byCaller: Map<string, number> } {
  const byFunction = new Map<string, number>();
  const byCaller = new Map<string, number>();
  let total = 0;
  const walk = (node: SampleNode, caller: string) => {
    const name = frameName(node);
    total += node.selfSize;
    byFunction.set(name, (byFunction.get(name) ?? 0) + node.selfSize);
    if (BUILT_INS.has(node.callFrame.functionName)) {
      const key = `${node.callFrame.functionName} ← ${caller}`;
      byCaller.set(key, (byCaller.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, name);
  };
  walk(head, '');
  return { total, byFunction, byCaller };
}

const largest = (sums: Map<string, number>) => [...sums].sort((a, b) => b[1] - a[1]).slice(0, top);
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1).padStart(7)} MB`;

probeHeapFlags();
const { setup, src, tgt } = await createDrainPair(from, to, n);
try {
  let moved = 0;
  for (let pass = 0; moved < 2 * n && pass < 50; pass++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  const importAll = async () => {
    let applied = 0;
    for (let pass = 0; applied < moved && pass < 50; pass++) {
      const r = await importOnce(setup.config, setup.config.programs[1] as never, tgt);
      applied += r.applied + r.unchanged;
    }
    return applied;
  };
  await importAll();
  await resetTarget(tgt.client, IMPORT_ID);
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    // Freed objects kept in the samples (V8 ≥ 11.3): what the import allocates, not what it leaves alive.
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
    const applied = await importAll();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const { total, byFunction, byCaller } = summarize(profile.head as unknown as SampleNode);
    console.log(`${from}>${to}: ${applied} changes, ${mb(total).trim()} sampled, ${Math.round(total / applied)} bytes a change`);
    for (const [name, bytes] of largest(byFunction)) console.log(`  ${mb(bytes)}  ${name}`);
    console.log('built-ins by caller:');
    for (const [name, bytes] of largest(byCaller)) console.log(`  ${mb(bytes)}  ${name}`);
  } finally {
    session.disconnect();
  }
} finally {
  await setup.close();
}
