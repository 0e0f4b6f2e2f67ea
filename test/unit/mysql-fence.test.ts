/**
 * Which fence members still count as open on MySQL/MariaDB (mysql-dialect.ts stillOpen):
 * a prepared XA transaction changes its INNODB_TRX identity when its client leaves
 * (thread 0, same start) and after a server restart (thread 0, same trx_id, later start).
 */
import { describe, expect, it } from 'vitest';
import { stillOpen } from '../../src/dialects/mysql/mysql-dialect.ts';

const S = '2026-11-30 06:04:10';

describe('mysql fence members', () => {
  it('a member listed by its thread stays open as long as it shows', () => {
    expect(stillOpen(`329:${S}`, [`329:${S}`])).toBe(true);
    expect(stillOpen(`329:${S}`, [`330:${S}`])).toBe(false);
    expect(stillOpen(`329:${S}`, [])).toBe(false);
  });

  it('stays open when its client left a prepared XA transaction (thread 0, same start)', () => {
    expect(stillOpen(`329:${S}`, [`0:${S}:10916`])).toBe(true);
  });

  it('stays open after a restart recovered it (thread 0, later start), not for an older thread-less one', () => {
    expect(stillOpen(`329:${S}`, ['0:2026-11-30 07:00:00:10916'])).toBe(true);
    expect(stillOpen(`329:${S}`, ['0:2026-11-30 05:00:00:777'])).toBe(false);
  });

  it('a thread-less member is known by its trx_id', () => {
    expect(stillOpen(`0:${S}:10916`, [`0:${S}:10916`])).toBe(true);
    expect(stillOpen(`0:${S}:10916`, ['0:2026-11-30 07:00:00:10916'])).toBe(true);
    expect(stillOpen(`0:${S}:10916`, [`0:${S}:10917`, `329:${S}`])).toBe(false);
  });
});
