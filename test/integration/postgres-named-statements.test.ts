/**
 * The PostgreSQL driver names a parameterized statement the second time a connection sends it
 * (a prepared statement: parsed and planned once; postgres-driver.ts StatementNames). Here: the
 * name is used from then on, a rolled-back transaction does not lose it, and a statement whose
 * result columns changed type under it (ALTER TABLE … TYPE) fails at most once, then runs again;
 * a statement with more than 16 parameters (a long key list, whose generic plan would scan the
 * whole table) is never named, sent alone or in a pipeline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { createTestDatabase, liveDialects, postgresMode, type TestDatabase } from '../helpers/databases.ts';

const live = (await liveDialects()).includes('postgres') && (await postgresMode()) === 'server';

describe.runIf(live)('postgres: named statements', () => {
  let db: TestDatabase;
  let client: DbClient;
  const prepared = async () =>
    (await client.query<Row>('SELECT statement FROM pg_prepared_statements ORDER BY name')).rows.map((r) => String(r.statement));
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    client = await (await getDialect('postgres')).connect(db.url, 'a');
    await client.exec("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, '10'), (2, '20')");
  });
  afterAll(async () => {
    await client?.close();
    await db?.drop();
  });

  it('names a statement the second time it is sent, and keeps it through a rollback', async () => {
    const read = 'SELECT id, v FROM t WHERE id = $1';
    expect((await client.query<Row>(read, [1])).rows).toEqual([{ id: 1, v: '10' }]);
    expect(await prepared()).toEqual([]);
    expect((await client.query<Row>(read, [2])).rows).toEqual([{ id: 2, v: '20' }]);
    expect(await prepared()).toEqual([read]);
    await expect(
      client.transaction(async (tx) => {
        expect((await tx.query<Row>(read, [1])).rows).toEqual([{ id: 1, v: '10' }]);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await client.query<Row>(read, [2])).rows).toEqual([{ id: 2, v: '20' }]);
    expect(await prepared()).toEqual([read]);
  });

  it('a statement whose result changed type fails at most once, then runs again', async () => {
    const read = 'SELECT id, v FROM t WHERE id > $1 ORDER BY id';
    await client.query(read, [0]);
    await client.query(read, [0]);
    await client.exec('ALTER TABLE t ALTER COLUMN v TYPE int USING v::int');
    const first = await client.query<Row>(read, [0]).then(
      (r) => r.rows,
      (error: { code?: string }) => error.code,
    );
    if (typeof first === 'string') expect(first).toBe('0A000');
    expect((await client.query<Row>(read, [0])).rows).toEqual([
      { id: 1, v: 10 },
      { id: 2, v: 20 },
    ]);
  });

  it('never names a statement of more than 16 parameters, alone or pipelined; 16 are named', async () => {
    const inList = (n: number) =>
      `SELECT id FROM t WHERE id IN (${Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', ')}) ORDER BY id`;
    const keys = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    const long = inList(17);
    const short = inList(16);
    for (let round = 0; round < 7; round++) {
      expect((await client.query<Row>(long, keys(17))).rows).toEqual([{ id: 1 }, { id: 2 }]);
      expect((await client.query<Row>(short, keys(16))).rows).toEqual([{ id: 1 }, { id: 2 }]);
    }
    const pipelinedLong = `${inList(40)} -- pipelined`;
    for (let round = 0; round < 7; round++) {
      const [result] = await client.transaction((tx) => tx.queryPipelined!([{ sql: pipelinedLong, params: keys(40) }]));
      expect(result.rows).toEqual([{ id: 1 }, { id: 2 }]);
    }
    const named = await prepared();
    expect(named).toContain(short);
    expect(named).not.toContain(long);
    expect(named).not.toContain(pipelinedLong);
  });
});
