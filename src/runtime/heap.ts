/**
 * V8 heap settings for the commands that move changes (`dsync run`, `sync`, `transport`,
 * `import`), so that a drain's memory stays flat whatever the size of the backlog.
 *
 * A drain's live data is one or two batches (the transport reads one ahead; the import
 * holds one), but with Node's defaults V8 lets its old generation grow by up to 100 % of
 * what survived each full GC before it collects again, and a drain allocates fast: a
 * 100,000-change drain peaked at 302–314 MB of RSS while a 1,000-change one stayed near
 * 150 MB. `--heap-growing-percent=10` lets the old generation grow by 10 % instead
 * (173 MB at 100,000 changes, 1M measured in docs/performance.md), for about the same
 * share of time in GC (25 % in both profiles). V8 grows the limit by at least 8 MB plus the
 * young generation whatever the percent, so with the import's 45–65 MB live heap anything
 * under ~15 % collects as 10 % does. 30 % cut a probe's import CPU by ~16 % (fewer full
 * collections) but not the bench's drain time, in alternation, and raised the 1M peak by
 * 4–14 MB: not kept ("Issue 13, the import's live heap under the drain's heap flag").
 *
 * Not set, and why: a cap (`--max-old-space-size`) would make a batch that needs more
 * memory fail instead of slowing down, and V8 reads it only at start-up (as it does
 * `--max-semi-space-size`), so it cannot be set from here; `--semi-space-growth-factor=1`
 * (the young generation kept at 1 MB) brought the peak to 130 MB but doubled the time in
 * GC (53 % of the drain). `--heap-growing-percent` is read by V8 at each full GC, so
 * setting it after start-up takes effect. `DSYNC_V8_DEFAULTS=1` leaves V8's defaults; a
 * flag given on node's command line wins over this one (Node refuses this flag in NODE_OPTIONS).
 */
import { setFlagsFromString } from 'node:v8';

export const DRAIN_HEAP_FLAGS = ['--heap-growing-percent=10'] as const;

/** A node flag's name as V8 reads it: `--max_semi_space_size=8` is `max-semi-space-size`. */
export const flagName = (arg: string) => arg.replace(/^--/, '').replace(/_/g, '-').split('=')[0];

/** The flags given to this process: on node's command line, then in NODE_OPTIONS. */
export const givenFlags = (env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string[] =>
  [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].filter(Boolean);

/** The flags set (none when V8's defaults were asked for, or each one the user gave already). */
export function boundHeap(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string[] {
  if (env.DSYNC_V8_DEFAULTS === '1') return [];
  const given = givenFlags(env, execArgv).map(flagName);
  const set: string[] = [];
  for (const flag of DRAIN_HEAP_FLAGS) {
    const name = flag.slice(2).split('=')[0];
    if (given.includes(name)) continue;
    setFlagsFromString(flag);
    set.push(flag);
  }
  return set;
}
