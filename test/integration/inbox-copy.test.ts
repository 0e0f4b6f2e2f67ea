/**
 * The import's batch read by COPY (inbox-copy.ts) against the driver's path it replaces
 * (inbox-batches.ts: queryArrays, batchInboxRow): inbox rows written by hand with random text
 * in every column the import reads (tabs, line ends, backslashes, COPY's escapes and `\N` as
 * text, other control characters, non-BMP text), NULLs wherever the table allows them, and
 * payloads holding a value of every type family as a source spells it, give the same InboxRows
 * value for value: read whole, batch by batch through inboxBatches, and cut into chunks at
 * random byte boundaries. Seeded: the seed is printed, DSYNC_TEST_SEED repeats a run. Needs a
 * PostgreSQL server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboxRow } from '../../src/core/change.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import { inboxBatches, inboxRowsOf } from '../../src/runtime/import/inbox-batches.ts';
import { InboxCopyReader, readInboxCopy } from '../../src/runtime/import/inbox-copy.ts';
import { liveDialects, postgresMode } from '../helpers/databases.ts';
import { oddText, random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const server = live.includes('postgres') && (await postgresMode()) === 'server';

/** The client without copyQueryOut: the batch read goes through the driver's arrays, as before the COPY path. */
const withoutCopyOut = (client: DbClient): DbClient =>
  new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'copyQueryOut') return undefined;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });

const MORE_ODD = ['\u001a', '\\0', '\\Z', 'f', 'v', '\\f', '\\v', '\f\v', 'NULL', '\\N', '\\\\N', '\u2028', '\ufeff'];
const text = (next: () => number, max = 16) => {
  const s = oddText(next, max);
  return next() < 0.3 ? s + MORE_ODD[Math.floor(next() * MORE_ODD.length)] + oddText(next, 4) : s;
};

/** A value of each type family as a source's payload spells it (JSON), odd text where a family holds text. */
const FAMILIES: Array<(next: () => number) => unknown> = [
  (next) => Math.floor((next() - 0.5) * 2 ** 31), // integer
  (next) => String(BigInt(Math.floor((next() - 0.5) * 2 ** 53)) * 1000n + 7n), // bigint as text
  (next) => `${Math.floor((next() - 0.5) * 1e9)}.${String(Math.floor(next() * 1e6)).padStart(6, '0')}`, // decimal
  (next) => (next() - 0.5) * 1e300, // float
  (next) => next() < 0.5, // boolean
  (next) => text(next, 40), // text
  (next) => Buffer.from(text(next, 20), 'utf8').toString('base64'), // binary
  (next) => `20${String(Math.floor(next() * 90) + 10)}-0${1 + Math.floor(next() * 9)}-1${Math.floor(next() * 9)}`, // date
  (next) => `23:5${Math.floor(next() * 10)}:59.${String(Math.floor(next() * 1e6)).padStart(6, '0')}`, // time
  (next) => `2026-12-01 03:04:0${Math.floor(next() * 10)}.${String(Math.floor(next() * 1e6)).padStart(6, '0')}`, // timestamp
  (next) => `2026-12-01T03:04:05.123456+0${Math.floor(next() * 10)}:00`, // timestamptz
  (next) => JSON.stringify({ a: text(next, 8), b: [1, null, text(next, 6)], c: { '\\': '"\t' } }), // json as text
  (next) => ({ nested: text(next, 8), n: next() }), // json as a document
  () => null,
];

function payload(next: () => number): string {
  const row: Record<string, unknown> = {};
  const n = 1 + Math.floor(next() * 12);
  for (let i = 0; i < n; i++) row[`c${i}${next() < 0.1 ? text(next, 3) : ''}`] = FAMILIES[Math.floor(next() * FAMILIES.length)](next);
  return JSON.stringify(row);
}

describe.skipIf(!server)('the import reads its inbox batch by COPY as the driver path does', () => {
  let pair: SyncPair;
  let ids: number[];
  const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
  const rows = 700;

  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
    console.log(`inbox COPY read randomized: seed ${seed} (DSYNC_TEST_SEED=${seed} repeats it)`);
    const next = random(seed);
    const maybe = (v: unknown) => (next() < 0.2 ? null : v);
    const servers = ['server-a', 'server-b', 'tab\there\\and\nline', `${'x'.repeat(50)}😀😀`, '\\N', 'N'];
    const tables = ['sales_order', 'sales_order', 'tab\tle', 'é\\t', 'line\nend'];
    const columns = [
      'object_table',
      'object_id',
      'object_id_old',
      'object_value',
      'object_value_old',
      'object_operation',
      'object_operation_command',
      'updated_by_server_id',
      'updated_by_user_id',
      'update_datetime',
      'origin_change_id',
      'row_cl',
      'row_cl_old',
      'change_version',
      'object_database',
      'note1',
    ];
    const values: unknown[] = [];
    for (let i = 0; i < rows; i++) {
      const id = next() < 0.5 ? JSON.stringify(Math.floor(next() * 1e6)) : JSON.stringify(text(next, 12));
      values.push(
        tables[Math.floor(next() * tables.length)],
        maybe(id),
        maybe(next() < 0.5 ? id : text(next)),
        maybe(next() < 0.8 ? payload(next) : text(next, 200)),
        maybe(payload(next)),
        'IUDX\\'[Math.floor(next() * 5)],
        maybe(next() < 0.8 ? '' : text(next)),
        servers[Math.floor(next() * servers.length)],
        maybe(text(next, 30)),
        maybe(
          ['2026-12-01 03:04:05.123456', '2026-12-01 03:04:05.12', '1999-02-28 23:59:59', 'infinity', '-infinity'][Math.floor(next() * 5)],
        ),
        1 + i + Math.floor(next() * 1e12),
        maybe(next() < 0.5 ? Math.floor(next() * 9) : Math.floor(next() * 1e15)),
        maybe(Math.floor(next() * 100)),
        maybe(next() < 0.5 ? 1 + Math.floor(next() * 9) : 2 ** 53 - Math.floor(next() * 1e6)),
        maybe(text(next)),
        maybe(text(next)),
      );
    }
    const tuple = (r: number) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`;
    for (let from = 0; from < rows; from += 200) {
      const n = Math.min(200, rows - from);
      await pair.b.client.query(
        `INSERT INTO ds_change_inbox (${columns.join(', ')}) VALUES ${Array.from({ length: n }, (_, r) => tuple(r)).join(', ')}`,
        values.slice(from * columns.length, (from + n) * columns.length),
      );
    }
    // Gaps in the ids, as rolled-back transports leave them.
    await pair.b.client.query('DELETE FROM ds_change_inbox WHERE id % 11 = 3');
    ids = (await pair.b.client.query<{ id: string }>('SELECT id FROM ds_change_inbox ORDER BY id')).rows.map((r) => Number(r.id));
  }, 120_000);

  afterAll(async () => {
    await pair?.close();
  });

  it('gives the rows of a range value for value', async () => {
    const last = ids[ids.length - 1];
    const byDriver = await inboxRowsOf(pair.b.client, ids, { from: 0, to: last });
    const byCopy = await readInboxCopy(pair.b.client, 0, last);
    expect(byCopy).not.toBeNull();
    expect({ seed, rows: byCopy }).toStrictEqual({ seed, rows: byDriver });
    const some = await readInboxCopy(pair.b.client, ids[40], ids[90]);
    expect({ seed, rows: some }).toStrictEqual({ seed, rows: byDriver.slice(41, 91) });
    expect(await readInboxCopy(pair.b.client, last, last + 10)).toStrictEqual([]);
  });

  it('gives the batches of inboxBatches as the driver path does', async () => {
    const all = async (client: DbClient, batch: number) => {
      const out: InboxRow[][] = [];
      for await (const b of inboxBatches(client, 0, ids[ids.length - 1], batch, true, async () => null)) {
        out.push(b.rows);
        if (b.prepared) await b.prepared;
      }
      return out;
    };
    for (const batch of [1, 37, 256, 1000]) {
      const byCopy = await all(pair.b.client, batch);
      const byDriver = await all(withoutCopyOut(pair.b.client), batch);
      expect({ seed, batch, rows: byCopy }).toStrictEqual({ seed, batch, rows: byDriver });
    }
  });

  it('gives the same rows whatever the chunks the COPY text comes in', async () => {
    const chunks: Buffer[] = [];
    const client = pair.b.client as DbClient & { copyQueryOut(select: string, onData: (b: Buffer) => void): Promise<number> };
    await client.copyQueryOut(
      `SELECT id, origin_change_id, object_table, object_id, object_id_old, object_value, object_value_old, object_operation,
        object_operation_command, updated_by_server_id, updated_by_user_id, update_datetime, row_cl, row_cl_old, change_version
       FROM ds_change_inbox ORDER BY id`,
      (b) => chunks.push(Buffer.from(b)),
    );
    const whole = Buffer.concat(chunks);
    const next = random(seed + 1);
    const reader = new InboxCopyReader();
    for (let at = 0; at < whole.length; ) {
      const n = 1 + Math.floor(next() * (next() < 0.5 ? 8 : 3000));
      reader.add(whole.subarray(at, at + n));
      at += n;
    }
    const byDriver = await inboxRowsOf(pair.b.client, ids, { from: 0, to: ids[ids.length - 1] });
    expect({ seed, rows: reader.finish() }).toStrictEqual({ seed, rows: byDriver });
  });
});
