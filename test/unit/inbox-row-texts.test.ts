/**
 * The import's inbox rows keep one string per run of equal small texts (inbox-batches.ts
 * LastTexts) and one normalized origin time per run of equal times (decode-change.ts
 * normalizeChangeTime): on seeded random inbox rows (runs of equal and of differing texts,
 * NULLs, numbers and Dates where a driver gives them, odd and invalid times), the rows and
 * the times must be those of the path before, spelled out here as it was (6f6fde0).
 */
import { describe, expect, it } from 'vitest';
import { parseDateTime, plainDateTime } from '../../src/core/canonical.ts';
import type { InboxRow } from '../../src/core/change.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { normalizeChangeTime } from '../../src/runtime/import/decode-change.ts';
import { inboxBatches, inboxRowsOf } from '../../src/runtime/import/inbox-batches.ts';

const text = (value: unknown): string | null =>
  typeof value === 'string' ? value : value === null || value === undefined ? null : String(value);

/** batchInboxRow before LastTexts: a new string per row and column. */
const oldRow = (v: readonly unknown[]): InboxRow => ({
  id: Number(v[0]),
  origin_change_id: Number(v[1]),
  object_database: null,
  object_table: text(v[2]),
  object_pk_attribute: null,
  object_attribute: null,
  object_id: text(v[3]),
  object_id_old: text(v[4]),
  object_value: text(v[5]),
  object_value_old: text(v[6]),
  object_operation: text(v[7]),
  object_operation_command: text(v[8]),
  updated_by_server_id: text(v[9]),
  updated_by_user_id: text(v[10]),
  update_datetime: text(v[11]),
  note1: null,
  row_cl: text(v[12]),
  row_cl_old: text(v[13]),
  change_version: text(v[14]),
});

/** normalizeChangeTime before its memo of the last time. */
function oldTime(value: unknown): string | null {
  if (typeof value === 'string') {
    const plain = plainDateTime(value, ' ');
    if (plain !== null) return plain;
  }
  const parts = parseDateTime(value instanceof Date ? value : value === null || value === undefined ? null : String(value));
  if (!parts) return null;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(parts.year, 4)}-${p(parts.month)}-${p(parts.day)} ${p(parts.hour)}:${p(parts.minute)}:${p(parts.second)}.${p(parts.micro, 6)}`;
}

describe('inbox rows with repeated texts kept once', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  let s = seed;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
  const TIMES = [
    '2026-12-01 08:30:15.379733',
    '2026-12-01 08:30:15.544739',
    '2026-12-01T08:30:15.5Z',
    '2026-12-01 08:30:15+00',
    '2026-12-01',
    '2026-02-30 00:00:00',
    '2026-12-01 25:00:00',
    'not a time',
    '',
    null,
    new Date(Date.UTC(2026, 11, 1, 8, 30, 15, 379)),
    1796113815,
  ] as const;
  // Pools per column (by BATCH_COLUMNS index): few values, so that runs of equal ones come often.
  const pools: Record<number, readonly unknown[]> = {
    2: ['sales_order', 'Odd Names', 'sales_order ', null],
    7: ['I', 'U', 'D', 'X'],
    8: [null, '', 'INSERT INTO t (a) VALUES (1)'],
    9: ['bench-src', 'bench-tgt', '', null, 7],
    10: ['postgres', 'root@localhost', null],
    11: TIMES,
    12: ['1', '3', '2', null, 5],
    13: [null, '2', '1'],
    14: ['1796113815404736', '1796113815574370', null, 1796113815574371],
  };
  const rowAt = (id: number, keep: unknown[] | null): unknown[] => {
    const v: unknown[] = [String(id), pick([String(1000 + id), 1000 + id, null])];
    for (let c = 2; c < 15; c++) {
      const pool = pools[c];
      if (!pool) v.push(pick([null, `"k${id}"`, `{"a":${id},"b":"x"}`, 'é😀']));
      // Mostly the value of the row before, as one statement's changes give them.
      else v.push(keep && rnd() < 0.7 ? keep[c] : pick(pool));
    }
    return v;
  };

  it(`gives the rows the path before gave, by batch, by range and by ids (seed ${seed})`, async () => {
    for (let round = 0; round < 40; round++) {
      const count = 1 + Math.floor(rnd() * 300);
      const raw: unknown[][] = [];
      for (let id = 1; id <= count; id++) raw.push(rowAt(id, raw.at(-1) ?? null));
      const client = {
        dialect: postgresDialect,
        async queryArrays(sql: string, params: readonly unknown[] = []) {
          if (sql.includes(' IN (')) return raw.filter((v) => params.includes(Number(v[0])));
          const [from, to] = params as number[];
          return raw.filter((v) => Number(v[0]) > from && Number(v[0]) <= to);
        },
      } as unknown as DbClient;
      const expected = raw.map(oldRow);
      const batched: InboxRow[] = [];
      const size = 1 + Math.floor(rnd() * 60);
      for await (const b of inboxBatches(client, 0, count, size, false, async (rows) => rows.length)) batched.push(...b.rows);
      expect(batched).toEqual(expected);
      const ids = expected.map((r) => r.id);
      expect(await inboxRowsOf(client, ids, { from: 0, to: count })).toEqual(expected);
      const some = ids.filter(() => rnd() < 0.5);
      expect(await inboxRowsOf(client, some)).toEqual(expected.filter((r) => some.includes(r.id)));
    }
  });

  it(`normalizes origin times as before, runs of one time and changes of it alike (seed ${seed})`, () => {
    let last: unknown = null;
    for (let i = 0; i < 20000; i++) {
      const value = rnd() < 0.6 ? last : pick(TIMES);
      expect(normalizeChangeTime(value)).toBe(oldTime(value));
      last = value;
    }
  });
});
