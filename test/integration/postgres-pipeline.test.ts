/**
 * Pipelined statements with bound parameters (postgres-driver.ts `pipeline`, DbClient.defer):
 * several statements in one round trip, one Sync. Here: each statement's results come back in
 * order and convert exactly as pg's own Query converts them, for values of every type family;
 * deferred writes go with the next statement or the COMMIT; a failing second write (or one that
 * touches the wrong number of rows) rolls all of it back and the caller gets its SQLSTATE.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { pipeline } from '../../src/dialects/postgres/postgres-driver.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { insertRow, selectAllRows } from '../../src/runtime/import/dml.ts';
import { createTestDatabase, liveDialects, postgresMode, type TestDatabase } from '../helpers/databases.ts';
import { createSyncPair } from '../helpers/sync-pair.ts';

/** Runs `fn`, returning the texts pg's Client.query got meanwhile (a Submittable as `[submittable]`). */
async function sentDuring(fn: () => Promise<void>): Promise<string[]> {
  const query = pg.Client.prototype.query;
  const texts: string[] = [];
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const q = args[0] as { text?: string; submit?: unknown } | string;
    texts.push(typeof q === 'string' ? q : (q.text ?? (q.submit ? '[submittable]' : '?')));
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    await fn();
  } finally {
    pg.Client.prototype.query = query;
  }
  return texts;
}

const live = (await liveDialects()).includes('postgres') && (await postgresMode()) === 'server';

const COLUMNS = `id int PRIMARY KEY, c_smallint int2, c_int int4, c_bigint int8, c_decimal numeric(20,6), c_float float8,
  c_real float4, c_bool bool, c_char char(5), c_varchar varchar(100), c_text text, c_date date, c_time time(6),
  c_timetz timetz, c_timestamp timestamp(6), c_timestamptz timestamptz(6), c_interval interval, c_bytea bytea,
  c_json json, c_jsonb jsonb, c_uuid uuid, c_ints int[], c_texts text[]`;

const ROWS = `(1, -32768, -2147483648, -9223372036854775808, -99999999999999.999999, -1.7976931348623157e308, -0.25, false, '',
  '', '', '1000-01-01', '00:00:00', '00:00:00+14', '1000-01-01 00:00:00', '1970-01-01 00:00:01Z', '-1 day 00:00:01', '',
  '[]', '{}', '00000000-0000-0000-0000-000000000000', '{}', '{}'),
 (2, 32767, 2147483647, 9223372036854775807, 99999999999999.999999, 1e300, 1.5, true, 'abcde', 'xx😀é', 'trailing   ',
  '9999-12-31', '23:59:59.999999', '23:59:59.999999-12', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999Z',
  '1 year 2 mons 3 days 04:05:06.789', '\\x00ff5c27', '{"a":{"b":[1,2.5,"x",null,true]}}', '{"k": "v\\"q"}',
  'ffffffff-ffff-4fff-bfff-ffffffffffff', '{1,NULL,-3}', '{"a b","c,d","\\"q\\"",NULL}'),
 (3, NULL, NULL, NULL, NULL, 'NaN', '-Infinity', NULL, NULL, 'it''s ~ \\ "q" ünï ☃', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, '"just a string"', 'null', NULL, NULL, NULL)`;

describe.runIf(live)('postgres: pipelined statements', () => {
  let db: TestDatabase;
  let client: DbClient;
  let raw: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    client = await (await getDialect('postgres')).connect(db.url, 'a');
    raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    await client.exec(`CREATE TABLE src (${COLUMNS}); CREATE TABLE dst (${COLUMNS}); INSERT INTO src VALUES ${ROWS}`);
  });
  afterAll(async () => {
    await client?.close();
    await raw?.end();
    await db?.drop();
  });

  it('returns each statement its results, in order, converted as a query converts them', async () => {
    const statements = [
      { text: 'SELECT * FROM src WHERE id = $1', values: [2] },
      { text: 'SELECT * FROM src WHERE id <> $1 ORDER BY id', values: [2] },
      { text: 'UPDATE src SET c_int = c_int WHERE id >= $1', values: [2] },
      {
        text: 'SELECT $1::int AS a, $2::text AS b, $3::bytea AS c, $4::timestamptz AS d',
        values: [7, null, Buffer.from([0, 255]), new Date(0)],
      },
    ];
    const piped = await pipeline(raw, statements);
    expect(piped).toHaveLength(4);
    for (let i = 0; i < statements.length; i++) {
      const alone = await raw.query(statements[i].text, statements[i].values as unknown[]);
      expect(piped[i].rows).toEqual(alone.rows);
      expect(piped[i].rowCount).toBe(alone.rowCount);
      expect(piped[i].command).toBe(alone.command);
    }
    expect(piped[0].rows[0].c_bytea).toEqual(Buffer.from([0x00, 0xff, 0x5c, 0x27]));
    expect(piped[1].rows.map((r) => r.id)).toEqual([1, 3]);
    expect(piped[2].rowCount).toBe(2);
  });

  it('deferred writes of every type family bind their values exactly, and the next statement sees them', async () => {
    const { rows } = await client.query<Row>('SELECT * FROM src ORDER BY id');
    const names = Object.keys(rows[0]);
    const insert = `INSERT INTO dst (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`;
    const seen = await client.transaction(async (tx) => {
      for (const row of rows)
        tx.defer!(
          insert,
          names.map((n) => row[n]),
          1,
        );
      return (await tx.query<Row>('SELECT * FROM dst WHERE id > $1 ORDER BY id', [0])).rows;
    });
    expect(seen).toEqual(rows);
    expect((await client.query<Row>('SELECT * FROM dst ORDER BY id')).rows).toEqual(rows);
    // Text forms, compared on the server: nothing bent on the way.
    const differing = await client.query<Row>(
      `SELECT s.id FROM src s FULL JOIN dst d USING (id) WHERE (s.*)::text IS DISTINCT FROM (d.*)::text`,
    );
    expect(differing.rows).toEqual([]);
    await client.exec('DELETE FROM dst');
  });

  it('writes deferred to the COMMIT go with it; a second write that fails rolls all of it back with its SQLSTATE', async () => {
    // One round trip for BEGIN, both writes and the COMMIT: one message exchange on the connection.
    const sent = await sentDuring(() =>
      client.transaction(async (tx) => {
        tx.defer!('INSERT INTO dst (id, c_text) VALUES ($1, $2)', [10, 'ten'], 1);
        tx.defer!('INSERT INTO dst (id, c_text) VALUES ($1, $2)', [11, 'eleven'], 1);
      }),
    );
    expect(sent).toEqual(['[submittable]']);
    expect((await client.query<Row>('SELECT id, c_text FROM dst ORDER BY id')).rows).toEqual([
      { id: 10, c_text: 'ten' },
      { id: 11, c_text: 'eleven' },
    ]);
    const failed = await client
      .transaction(async (tx) => {
        await tx.query('UPDATE dst SET c_text = $1 WHERE id = $2', ['changed', 10]);
        tx.defer!('INSERT INTO dst (id, c_text) VALUES ($1, $2)', [12, 'twelve'], 1);
        tx.defer!('INSERT INTO dst (id, c_text) VALUES ($1, $2)', [11, 'again'], 1);
      })
      .then(
        () => null,
        (error: { code?: string }) => error.code,
      );
    expect(failed).toBe('23505');
    expect((await client.query<Row>('SELECT id, c_text FROM dst ORDER BY id')).rows).toEqual([
      { id: 10, c_text: 'ten' },
      { id: 11, c_text: 'eleven' },
    ]);
  });

  it('a write that touches another number of rows than it must fails on the server, before the COMMIT', async () => {
    const failed = await client
      .transaction(async (tx) => {
        tx.defer!('INSERT INTO dst (id, c_text) VALUES ($1, $2)', [13, 'thirteen'], 1);
        tx.defer!('UPDATE dst SET c_text = $1 WHERE id = $2', ['none', 999], 1);
      })
      .then(
        () => null,
        (error: { code?: string }) => error.code,
      );
    expect(failed).toBe('22P02');
    expect((await client.query<Row>('SELECT count(*)::int AS n FROM dst WHERE id = 13')).rows).toEqual([{ n: 0 }]);
    // The connection goes on.
    expect((await client.query<Row>('SELECT $1::int AS one', [1])).rows).toEqual([{ one: 1 }]);
  });

  it('a savepoint rolled back drops its deferred writes; those before it are kept', async () => {
    await client.transaction(async (tx) => {
      tx.defer!('INSERT INTO dst (id, c_text) VALUES ($1, $2)', [20, 'kept'], 1);
      await tx
        .transaction(async (sp) => {
          sp.defer!('INSERT INTO dst (id, c_text) VALUES ($1, $2)', [21, 'dropped'], 1);
          throw new Error('undo');
        })
        .catch(() => undefined);
    });
    expect((await client.query<Row>('SELECT id FROM dst WHERE id >= 20 ORDER BY id')).rows).toEqual([{ id: 20 }]);
  });

  it('statements with parameters are named once per connection: twice in one pipeline, after a failed one, and after query', async () => {
    const send = client.queryPipelined!.bind(client);
    const read = { sql: 'SELECT c_int FROM src WHERE id = $1', params: [2] };
    const failing = { sql: 'SELECT 1 / $1::int AS x', params: [0] };
    // Named at the second sighting; a pipeline that fails after naming a text must leave no name that cannot be used.
    for (let i = 0; i < 3; i++) {
      await expect(send([read, read, failing])).rejects.toMatchObject({ code: '22012' });
      const results = await send([read, read]);
      expect(results.map((r) => r.rows)).toEqual([[{ c_int: 2147483647 }], [{ c_int: 2147483647 }]]);
    }
    const other = { sql: 'SELECT c_text FROM src WHERE id = $1', params: [2] };
    await client.query(other.sql, other.params);
    await client.query(other.sql, other.params);
    expect((await send([other]))[0].rows).toEqual([{ c_text: 'trailing   ' }]);
    // The server holds them as prepared statements of this session.
    const named = await client.query<Row>('SELECT count(*) AS n FROM pg_prepared_statements WHERE statement IN ($1, $2)', [
      read.sql,
      other.sql,
    ]);
    expect(Number(named.rows[0].n)).toBeGreaterThanOrEqual(2);
  });

  it("the import's fast path sends its row write, entry write and COMMIT in one round trip", async () => {
    const pair = await createSyncPair('postgres', 'postgres');
    try {
      await insertRow(pair.a.client, pair.tables.a.order_line, { order_id: 'piped', line_no: 1, product: 'x', amount: '1.00' });
      const sent = await sentDuring(() => pair.forward());
      expect(await selectAllRows(pair.b.client, pair.tables.b.order_line)).toEqual(
        await selectAllRows(pair.a.client, pair.tables.a.order_line),
      );
      // No COMMIT of its own, nor a lone write of the row or its entry: they went in a pipeline.
      const importWrites = sent.filter(
        (t) => t === 'COMMIT' || /^INSERT INTO (public\.)?"?order_line|^INSERT INTO "?ds_row_version/.test(t),
      );
      expect(importWrites).toEqual([]);
      expect(sent).toContain('[submittable]');
    } finally {
      await pair.close();
    }
  });
});
