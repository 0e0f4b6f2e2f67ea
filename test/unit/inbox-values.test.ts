/**
 * The transport's inbox values from an outbox row read as an array (transport.ts inboxValuesOf)
 * against the object path it replaced, spelled out here as it was: on seeded random rows (NULLs,
 * numbers, bigints, text, timestamps as text and as Date, server ids absent, empty or beyond the
 * inbox's 64 characters, origin ids present or not), the same values in the same order.
 */
import { describe, expect, it } from 'vitest';
import { boundedServerId } from '../../src/core/bounded-text.ts';
import type { Row } from '../../src/core/dialect.ts';
import { normalizeChangeTime } from '../../src/runtime/import/decode-change.ts';
import { INBOX_COLUMNS, inboxValuesOf, toInboxValues } from '../../src/runtime/transport/transport.ts';

/** The object path before inboxValuesOf (c354bd2). */
function objectPath(row: Row, sourceServerId: string): unknown[] {
  const origin = boundedServerId((row.updated_by_server_id as string | null) ?? sourceServerId);
  return INBOX_COLUMNS.map((column) => {
    if (column === 'updated_by_server_id') return origin;
    if (column === 'origin_change_id') return row.origin_change_id === null ? Number(row.id) : Number(row.origin_change_id);
    if (column === 'update_datetime') return normalizeChangeTime(row.update_datetime);
    const value = row[column];
    return value === null || value === undefined ? null : String(value);
  });
}

describe('inboxValuesOf', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  it(`gives what the object path gave (seed ${seed})`, () => {
    let s = seed;
    const rnd = () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    };
    const pick = <T>(items: T[]): T => items[Math.floor(rnd() * items.length)];
    const value = (): unknown =>
      pick([null, 0, -1, 42.5, 9007199254740993n, '', 'x', "it's", '{"a":1}', 'é😀', String(Math.floor(rnd() * 1e9))]);
    const columns = ['id', ...INBOX_COLUMNS];
    for (let round = 0; round < 2000; round++) {
      const row: Row = {};
      for (const c of columns) row[c] = value();
      row.id = pick([1, 17, 123456789012, '99']);
      row.updated_by_server_id = pick([null, 'server1', '', 's'.repeat(64), 's'.repeat(65 + Math.floor(rnd() * 40))]);
      row.origin_change_id = pick([null, 5, '77', 12345678901234n]);
      row.update_datetime = pick([
        null,
        '2025-01-01 00:00:00',
        '2025-01-01 12:34:56.5',
        '2025-01-01T12:34:56.123456',
        '2024-02-29 23:59:59.999999+00',
        new Date(Date.UTC(2025, 4, 25, 1, 2, 3, 456)),
      ]);
      const source = pick(['src', 'a'.repeat(70)]);
      const expected = objectPath(row, source);
      const array = columns.map((c) => row[c]);
      expect(inboxValuesOf(array, source), `round ${round}, seed ${seed}`).toEqual(expected);
      expect(toInboxValues(row, source), `round ${round}, seed ${seed}`).toEqual(expected);
    }
  });
});
