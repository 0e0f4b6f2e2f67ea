/**
 * inboxRowsOf, inboxRowsIn and inboxKeysIn (inbox-batches.ts): the rows of a light batch read
 * back whole after the server's merge, by id (in statements of IDS_PER_READ ids) or by the
 * batch's range, in id order, the same as the batch read gives them; a row missing below the
 * horizon is a fault named as such.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { BATCH_COLUMNS, inboxBatchSelect, inboxKeysIn, inboxRowsIn, inboxRowsOf } from '../../src/runtime/import/inbox-batches.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';

const live = (await liveDialects()).includes('sqlite');

describe.skipIf(!live)('inboxRowsOf reads the rows of a batch back whole', () => {
  let db: TestDatabase;
  let client: DbClient;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite', 'dsync_irows');
    client = await (await getDialect('sqlite')).connect(db.url, 'b');
    await client.exec(`CREATE TABLE ds_change_inbox (id INTEGER PRIMARY KEY, ${BATCH_COLUMNS.slice(1).join(' , ')})`);
    // 2,486 rows with gaps in their ids (every seventh id missing), each with a payload of its own.
    await client.exec(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2900)
       INSERT INTO ds_change_inbox (id, origin_change_id, object_table, object_id, object_value, object_operation, row_cl, change_version)
       SELECT i, 1000 + i, 't', json_quote('k' || i), json_object('v', i), 'I', 1, i FROM n WHERE i % 7 <> 0`,
    );
  });

  afterAll(async () => {
    await client?.close();
    await db?.drop();
  });

  it('gives every other row, all of them or none, in id order, with the values the batch read gives', async () => {
    const p = client.dialect.sql.param;
    const all = (await client.query(inboxBatchSelect(false)(p(1), p(2)), [0, 2900])).rows.map((r) => Number(r.id));
    expect((await inboxKeysIn(client, { from: 0, to: 2900 }, { size: all.length, tables: new Set(['t']) })).map((r) => r.id)).toEqual(all);
    const keys = await inboxKeysIn(client, { from: 6, to: 13 }, { size: 6, tables: new Set(['t']) });
    expect(keys.map((r) => [r.id, r.object_table, r.object_id, r.object_value])).toEqual(
      [8, 9, 10, 11, 12, 13].map((id) => [id, 't', `"k${id}"`, null]),
    );
    const whole = await inboxRowsIn(client, { from: 0, to: 2900 }, { size: all.length, tables: new Set(['t']) });
    expect(whole.map((r) => r.id)).toEqual(all);
    const everyOther = all.filter((_, i) => i % 2 === 1);
    const some = await inboxRowsOf(client, everyOther);
    expect(some.map((r) => r.id)).toEqual(everyOther);
    expect(some).toEqual(whole.filter((_, i) => i % 2 === 1));
    expect(some[0].object_value).toBe(`{"v":${everyOther[0]}}`);
    expect(await inboxRowsOf(client, all)).toEqual(whole);
    expect(await inboxRowsOf(client, [])).toEqual([]);
  });

  it('names a row missing below the horizon instead of skipping it', async () => {
    await expect(inboxRowsOf(client, [1, 7, 8])).rejects.toMatchObject({ code: 'inbox_changed' });
    // A range the census counted seven rows in (ids 1..7) that holds six now (id 7 is missing).
    const counted = { size: 7, tables: new Set(['t']) };
    await expect(inboxRowsIn(client, { from: 0, to: 7 }, counted)).rejects.toMatchObject({ code: 'inbox_changed' });
    await expect(inboxKeysIn(client, { from: 0, to: 7 }, counted)).rejects.toMatchObject({ code: 'inbox_changed' });
  });
});
