/**
 * The transport's COPY path (outbox-copy.ts) against the path that binds values
 * (toInboxValues): random outbox rows with odd text, written as PostgreSQL's COPY TO writes
 * them and cut into chunks at random places, come out as the same inbox values, echoes
 * skipped alike. Seeded: the seed is printed, DSYNC_TEST_SEED repeats a run.
 */
import { describe, expect, it } from 'vitest';
import { CHANGE_ROW_COLUMNS } from '../../src/core/change.ts';
import type { Row } from '../../src/core/dialect.ts';
import { copyBatchValues, copyFieldText, copyFieldValue, OutboxCopyReader } from '../../src/runtime/transport/outbox-copy.ts';
import { toInboxValues } from '../../src/runtime/transport/transport.ts';
import { oddText, random } from '../helpers/random.ts';

/** A value as PostgreSQL's COPY TO writes a text field (CopyAttributeOutText): these six control characters and backslash escaped. */
const COPY_OUT: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
const copyOut = (v: string | null) => (v === null ? '\\N' : v.replace(/[\\\b\f\n\r\t\v]/g, (c) => COPY_OUT[c]));

const text = (next: () => number, max = 12) => oddText(next, max);

function outboxRow(next: () => number, id: number): Row {
  const row: Row = { id: String(id) };
  for (const c of CHANGE_ROW_COLUMNS) row[c] = next() < 0.2 ? null : text(next);
  row.object_table = text(next) || 't';
  row.object_operation = 'IUD'[Math.floor(next() * 3)];
  const servers = [null, 'src', 'dst', 'other', text(next, 40), `${'x'.repeat(60)}😀😀`, 'a\tb\\c'];
  row.updated_by_server_id = servers[Math.floor(next() * servers.length)];
  const times = [
    null,
    '2026-12-01 03:04:05.123456',
    '2026-12-01 03:04:05.12',
    '2026-12-01 03:04:05',
    '1999-02-28 23:59:59.5',
    'infinity',
    'not a time',
  ];
  row.update_datetime = times[Math.floor(next() * times.length)];
  for (const c of ['row_cl', 'row_cl_old', 'change_version'] as const) row[c] = next() < 0.3 ? null : String(Math.floor(next() * 1e9));
  row.origin_change_id = next() < 0.5 ? null : String(Math.floor(next() * 1e12));
  return row;
}

const copyLine = (row: Row) =>
  `${['id', ...CHANGE_ROW_COLUMNS, 'origin_change_id'].map((c) => copyOut(row[c] as string | null)).join('\t')}\n`;

describe('unit: the transport COPY path', () => {
  it('reads a field as COPY TO writes it and writes it as COPY FROM reads it', () => {
    const b = Buffer.from('\\N|a\\tb\\\\c\\n\\r\\b\\f\\v|😀\\x|\\\\N', 'utf8');
    const fields = b.toString('utf8').split('|');
    let at = 0;
    const values = fields.map((f) => {
      const n = Buffer.byteLength(f);
      const v = copyFieldValue(b, at, at + n);
      at += n + 1;
      return v;
    });
    expect(values).toEqual([null, 'a\tb\\c\n\r\b\f\v', '😀x', '\\N']);
    expect(copyFieldText(null)).toBe('\\N');
    expect(copyFieldText('a\tb\\c\n\r\b')).toBe('a\\tb\\\\c\\n\\r\b');
  });

  it('turns random outbox rows cut anywhere into the same inbox values as toInboxValues, echoes skipped', () => {
    const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
    console.log(`outbox COPY randomized: seed ${seed} (DSYNC_TEST_SEED=${seed} repeats it)`);
    const next = random(seed);
    for (let round = 0; round < 40; round++) {
      const rows = Array.from({ length: 1 + Math.floor(next() * 60) }, (_, i) => outboxRow(next, 1000 * round + i + 1));
      const bytes = Buffer.from(rows.map(copyLine).join(''), 'utf8');
      const reader = new OutboxCopyReader('src', 'dst');
      // Chunks cut at random bytes (inside a row, inside a UTF-8 character), each a view the reader must not keep.
      for (let at = 0; at < bytes.length; ) {
        const n = 1 + Math.floor(next() * (next() < 0.5 ? 8 : 400));
        const chunk = Buffer.from(bytes.subarray(at, at + n));
        reader.add(chunk);
        chunk.fill(0);
        at += n;
      }
      const batch = reader.finish();
      const kept = rows.filter((r) => (r.updated_by_server_id ?? 'src') !== 'dst');
      const expected = kept.map((r) => toInboxValues(r, 'src'));
      expect({ seed, round, values: copyBatchValues(batch.text) }).toEqual({ seed, round, values: expected });
      expect(batch.length).toBe(rows.length);
      expect(batch.rows).toBe(kept.length);
      expect(batch.skippedEcho).toBe(rows.length - kept.length);
      expect(batch.utf8).toBe(true);
    }
  });

  it('refuses a row with a wrong number of fields, and bytes ending inside a row', () => {
    expect(() => new OutboxCopyReader('s', 't').add(Buffer.from('1\ta\n'))).toThrow(/2 fields, not 19/);
    const reader = new OutboxCopyReader('s', 't');
    reader.add(Buffer.from('1\ta'));
    expect(() => reader.finish()).toThrow(/inside a row/);
  });

  it('says when the bytes are not UTF-8', () => {
    const row: Row = Object.fromEntries(['id', ...CHANGE_ROW_COLUMNS, 'origin_change_id'].map((c) => [c, null]));
    Object.assign(row, { id: '1', object_table: 't', object_operation: 'I', object_value: 'x\u00ff' });
    const reader = new OutboxCopyReader('src', 'dst');
    reader.add(Buffer.from(copyLine(row), 'latin1'));
    const batch = reader.finish();
    expect([batch.rows, batch.utf8]).toEqual([1, false]);
  });
});
