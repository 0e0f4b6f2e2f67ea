/**
 * V8 heap settings for the commands that move changes (`dsync run`, `sync`, `transport`,
 * `import`), so that a drain's memory stays flat whatever the size of the backlog.
 *
 * A drain's live data is one or two batches (the transport reads one ahead; the import
 * holds one), but with Node's defaults V8 grows its heap with the allocation rate rather
 * than with what is live: a 100,000-change drain peaked at 314 MB of RSS while after a
 * full GC its heap held about 50 MB. Two settings keep the heap near the live set:
 * - `--semi-space-growth-factor=1`: the young generation keeps its starting size (1 MB
 *   semi-spaces) instead of doubling up to 16 MB each (48 MB of new space);
 * - `--heap-growing-percent=10`: after a full GC the old generation may grow by 10 %
 *   of what survived before the next one, instead of up to 100 %.
 * Neither caps the heap: a batch that needs more memory still gets it (a cap such as
 * `--max-old-space-size` would make it fail). Both are read by V8 at each GC, so setting
 * them after start-up takes effect (V8's heap limits, read once at start, would not).
 * Measured in docs/performance.md (memory). `DSYNC_V8_DEFAULTS=1` leaves V8's defaults;
 * a flag given in NODE_OPTIONS or on node's command line wins over these.
 */
import { setFlagsFromString } from 'node:v8';

export const DRAIN_HEAP_FLAGS = ['--semi-space-growth-factor=1', '--heap-growing-percent=10'] as const;

/** The flags set (none when V8's defaults were asked for, or each one the user gave already). */
export function boundHeap(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string[] {
  if (env.DSYNC_V8_DEFAULTS === '1') return [];
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].map((a) => a.replace(/^--/, '').replace(/_/g, '-').split('=')[0]);
  const set: string[] = [];
  for (const flag of DRAIN_HEAP_FLAGS) {
    const name = flag.slice(2).split('=')[0];
    if (given.includes(name)) continue;
    setFlagsFromString(flag);
    set.push(flag);
  }
  return set;
}
