/**
 * The PostgreSQL driver sends a transaction's BEGIN with its first statement when that one
 * has no parameters (postgres-driver.ts PendingBegin; one round trip less on the import's
 * path). Here the transaction must behave as one that sent BEGIN first: its statements are
 * one transaction (a second session sees nothing before COMMIT), a failure rolls all back,
 * savepoints and parameterized first statements still work, and an empty one costs nothing.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';

const live = (await liveDialects()).includes('postgres');

describe.runIf(live)('postgres: BEGIN sent with the first statement', () => {
  let db: TestDatabase;
  let client: DbClient;
  let other: pg.Client | undefined;
  const count = async () => Number((await client.query('SELECT count(*) AS n FROM t')).rows[0].n);
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    client = await (await getDialect('postgres')).connect(db.url, 'a');
    await client.exec('CREATE TABLE t (id int PRIMARY KEY, v text)');
    if (!db.embedded) {
      other = new pg.Client({ connectionString: db.url });
      await other.connect();
    }
  });
  afterAll(async () => {
    await other?.end();
    await client?.close();
    await db?.drop();
  });

  it('a first statement without parameters opens the transaction: nothing is visible to another session before COMMIT', async () => {
    await client.transaction(async (tx) => {
      const { rowCount } = await tx.query("INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b')");
      expect(rowCount).toBe(2);
      expect(Number((await tx.query('SELECT count(*) AS n FROM t')).rows[0].n)).toBe(2);
      expect((await tx.query<{ s: boolean }>('SELECT now() = statement_timestamp() AS s')).rows[0].s).toBe(false);
      if (other) expect(Number((await other.query('SELECT count(*) AS n FROM t')).rows[0].n)).toBe(0);
    });
    expect(await count()).toBe(2);
    await client.exec('DELETE FROM t');
  });

  it('a failure after the first statement rolls back all of it', async () => {
    await expect(
      client.transaction(async (tx) => {
        await tx.query("INSERT INTO t (id, v) VALUES (1, 'a')");
        await tx.query('INSERT INTO t (id, v) VALUES ($1, $2)', [1, 'again']);
      }),
    ).rejects.toThrow();
    expect(await count()).toBe(0);
  });

  it('a failing first statement rolls back too, and the connection goes on', async () => {
    await expect(client.transaction((tx) => tx.query('INSERT INTO nowhere VALUES (1)'))).rejects.toThrow();
    expect(await count()).toBe(0);
    expect((await client.query<{ n: number }>('SELECT 1 AS n')).rows[0].n).toBe(1);
  });

  it('a parameterized first statement, a savepoint as first step, a rolled-back savepoint', async () => {
    await client.transaction(async (tx) => {
      await tx.query('INSERT INTO t (id, v) VALUES ($1, $2)', [1, 'a']);
      await expect(tx.transaction((sp) => sp.query('INSERT INTO t (id, v) VALUES ($1, $2)', [1, 'dup']))).rejects.toThrow();
      await tx.query('INSERT INTO t (id, v) VALUES ($1, $2)', [2, 'b']);
    });
    await client.transaction(async (tx) => {
      await tx.transaction((sp) => sp.query("INSERT INTO t (id, v) VALUES (3, 'c')"));
      await expect(tx.transaction((sp) => sp.query("INSERT INTO t (id, v) VALUES (3, 'dup')"))).rejects.toThrow();
    });
    expect((await client.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows.map((r) => r.id)).toEqual([1, 2, 3]);
    await client.exec('DELETE FROM t');
  });

  it('an empty transaction sends nothing; the next one works', async () => {
    await client.transaction(async () => undefined);
    await expect(
      client.transaction(async () => {
        throw new Error('before any statement');
      }),
    ).rejects.toThrow('before any statement');
    await client.transaction((tx) => tx.query("INSERT INTO t (id, v) VALUES (9, 'z')"));
    expect(await count()).toBe(1);
    // Outside a transaction block again: a statement commits by itself.
    expect((await client.query<{ s: string }>("SELECT current_setting('transaction_isolation') AS s")).rows[0].s).toBeTruthy();
    if (other) expect(Number((await other.query('SELECT count(*) AS n FROM t')).rows[0].n)).toBe(1);
  });
});
