/**
 * Statements asked for at once on one PostgreSQL connection (postgres-driver.ts `inTurn`): a transport
 * reads its next batch ahead on the source's connection while it saves the source's pointer there
 * (transport.ts readAhead). Here: every kind of statement the client sends, asked for all at once,
 * runs once, statements of one kind in the order asked; one failing among them fails alone; and
 * node-postgres never has two waiting behind the one it runs (its DeprecationWarning, which says
 * pg 9 refuses a queue, is never emitted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import type { CopyOutClient } from '../../src/runtime/transport/outbox-copy.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { createTestDatabase, liveDialects, postgresMode, type TestDatabase } from '../helpers/databases.ts';

const live = (await liveDialects()).includes('postgres') && (await postgresMode()) === 'server';

describe.runIf(live)('postgres: statements asked for at once on one connection', () => {
  let db: TestDatabase;
  let client: DbClient & CopyOutClient;
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    client = (await (await getDialect('postgres')).connect(db.url, 'a')) as DbClient & CopyOutClient;
    await client.exec('CREATE TABLE asked (seq serial PRIMARY KEY, n int NOT NULL)');
    process.on('warning', onWarning);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await client?.close();
    await db?.drop();
  });

  it('runs every kind of statement asked for at once, a failing one alone failing, with no driver warning', async () => {
    const insert = (n: number) => `INSERT INTO asked (n) SELECT ${n} FROM pg_sleep(0.002)`;
    const copied: string[] = [];
    const asked: Array<Promise<unknown>> = [
      client.query(insert(0)),
      client.query('SELECT $1::int / 0 AS never', [1]),
      client.queryArrays!(`${insert(1)} RETURNING n`),
      client.copyQueryOut('SELECT count(*) FROM asked', (bytes) => copied.push(bytes.toString('utf8'))),
      client.queryMany!([insert(2), insert(3)]),
      client.queryPipelined!([{ sql: `${insert(4)} RETURNING $1::int AS p`, params: [4] }]),
      client.exec(insert(5)),
    ];
    const settled = await Promise.allSettled(asked);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(String((settled[1] as PromiseRejectedResult).reason)).toMatch(/division by zero/);
    expect(copied).toHaveLength(1);
    // Each statement ran once, outside any transaction (the failure aborted nothing else).
    const { rows } = await client.query<Row>('SELECT array_agg(n ORDER BY n) AS ns FROM asked');
    expect(rows[0].ns).toEqual([0, 1, 2, 3, 4, 5]);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    expect(warnings).toEqual([]);
  });

  it('runs statements of one kind in the order they were asked for', async () => {
    await client.exec('TRUNCATE asked');
    await Promise.all(Array.from({ length: 12 }, (_, n) => client.query(`INSERT INTO asked (n) SELECT $1 FROM pg_sleep(0.001)`, [n])));
    const { rows } = await client.query<Row>('SELECT array_agg(n ORDER BY seq) AS ns FROM asked');
    expect(rows[0].ns).toEqual(Array.from({ length: 12 }, (_, n) => n));
    expect(warnings).toEqual([]);
  });
});
