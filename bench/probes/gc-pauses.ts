/**
 * For the import probes (import-cpu.ts, import-rounds.ts): the heap flags asked for by the
 * environment, and the collector's pauses counted from here on.
 * HEAP_FLAGS=1: the drain commands' flags (boundHeap); V8_FLAGS='--a --b': more V8 flags (those
 * V8 reads at each collection take effect when set after start-up).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { boundHeap } from '../../src/runtime/heap.ts';

export function probeHeapFlags(): void {
  if (process.env.HEAP_FLAGS) boundHeap();
  for (const flag of (process.env.V8_FLAGS ?? '').split(/\s+/).filter(Boolean)) setFlagsFromString(flag);
}

/** The collector's pauses since the last take(): minor (scavenges) and the others (major, incremental marking steps), count and milliseconds. */
export function countGcPauses(): { take: () => string } {
  const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      // detail.kind: 1 minor (scavenge), 2 major, 4 incremental marking, 8 weak callbacks.
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === 1) {
        gc.minor++;
        gc.minorMs += e.duration;
      } else {
        gc.major++;
        gc.majorMs += e.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  return {
    take: () => {
      const out = `GC minor ${gc.minor} (${gc.minorMs.toFixed(0)} ms), other ${gc.major} (${gc.majorMs.toFixed(0)} ms)`;
      Object.assign(gc, { minor: 0, minorMs: 0, major: 0, majorMs: 0 });
      return out;
    },
  };
}
