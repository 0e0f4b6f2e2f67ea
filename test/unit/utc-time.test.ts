/** dsync's own timestamps: one spelling, UTC, microseconds, no ISO T or Z. */
import { describe, expect, it } from 'vitest';
import { sqlTimestampText, utcNow, utcTimestamp } from '../../src/core/utc-time.ts';

describe('utc-time', () => {
  it('spells a Date in UTC with microseconds', () => {
    expect(utcTimestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 67)))).toBe('2026-01-02 03:04:05.067000');
    expect(utcNow()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
  });

  it('turns a canonical timestamp into the same spelling, zoned or not', () => {
    expect(sqlTimestampText('2026-01-02T03:04:05.000006Z')).toBe('2026-01-02 03:04:05.000006');
    expect(sqlTimestampText('2026-01-02T03:04:05.000006')).toBe('2026-01-02 03:04:05.000006');
  });
});
