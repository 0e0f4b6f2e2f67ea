/** The heap settings of the commands that move changes (src/runtime/heap.ts): set, skipped when asked, and the user's own flags win. */
import { describe, expect, it } from 'vitest';
import { boundHeap, DRAIN_HEAP_FLAGS, flagName, givenFlags } from '../../src/runtime/heap.ts';

describe('boundHeap', () => {
  it('sets the flags by default', () => {
    expect(boundHeap({}, [])).toEqual([...DRAIN_HEAP_FLAGS]);
  });

  it('leaves V8 alone with DSYNC_V8_DEFAULTS=1', () => {
    expect(boundHeap({ DSYNC_V8_DEFAULTS: '1' }, [])).toEqual([]);
  });

  it('keeps a flag the user gave on the command line or in NODE_OPTIONS (either spelling)', () => {
    expect(boundHeap({}, ['--heap-growing-percent=50'])).toEqual([]);
    expect(boundHeap({ NODE_OPTIONS: '--max-old-space-size=512 --heap_growing_percent=50' }, [])).toEqual([]);
    expect(boundHeap({ NODE_OPTIONS: '--max-old-space-size=512' }, ['--stack-size=2000'])).toEqual(['--heap-growing-percent=10']);
  });

  it('reads the flags given on the command line, then in NODE_OPTIONS, by the name V8 reads', () => {
    expect(givenFlags({ NODE_OPTIONS: ' --max_semi_space_size=8  --import x.mjs ' }, ['--heap-growing-percent=50'])).toEqual([
      '--heap-growing-percent=50',
      '--max_semi_space_size=8',
      '--import',
      'x.mjs',
    ]);
    expect(givenFlags({}, [])).toEqual([]);
    expect(flagName('--max_semi_space_size=8')).toBe('max-semi-space-size');
    expect(flagName('--heap-growing-percent')).toBe('heap-growing-percent');
  });
});
