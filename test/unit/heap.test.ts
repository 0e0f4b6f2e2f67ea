/** The heap settings of the commands that move changes (src/runtime/heap.ts): set, skipped when asked, and the user's own flags win. */
import { describe, expect, it } from 'vitest';
import { boundHeap, DRAIN_HEAP_FLAGS } from '../../src/runtime/heap.ts';

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
});
