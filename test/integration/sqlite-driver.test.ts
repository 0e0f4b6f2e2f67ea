/**
 * The SQLite driver and catalog on real database files: connection failures explained,
 * session settings, exact integers, transactions and savepoints, the safe horizon, and
 * introspection of the fixture tables and of tables dsync cannot synchronize.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { ConnectionError, IntrospectionError } from '../../src/core/errors.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { applyFixtureSchema } from '../helpers/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsync-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function connectError(url: string): Promise<ConnectionError> {
  const error = await sqliteDialect.connect(url, 'lite1').then(
    async (client) => {
      await client.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectionError);
  return error as ConnectionError;
}

describe('sqlite connection', () => {
  it('explains a missing directory, a file that is not a database and a directory', async () => {
    const missing = await connectError(join(dir, 'nope', 'x.db'));
    expect(missing.message).toMatch(/^node lite1: the directory of SQLite database .*nope\/x\.db does not exist/);
    expect(missing.hint).toMatch(/mkdir -p .*nope.*nodes\.lite1\.url/);
    writeFileSync(join(dir, 'junk.db'), 'not a database, just text long enough to look like a header'.repeat(4));
    const junk = await connectError(join(dir, 'junk.db'));
    expect(junk.message).toMatch(/junk\.db is not an SQLite database/);
    expect(junk.hint).toMatch(/nodes\.lite1\.url/);
    mkdirSync(join(dir, 'adir'));
    expect((await connectError(join(dir, 'adir'))).message).toMatch(/cannot open SQLite database/);
  });

  it.skipIf(process.getuid?.() === 0)('explains a read-only file (root ignores file modes, so not as root)', async () => {
    const path = join(dir, 'ro.db');
    const client = await sqliteDialect.connect(path, 'lite1');
    await client.exec('CREATE TABLE t (a)');
    await client.close();
    chmodSync(path, 0o444);
    const error = await connectError(path);
    expect(error.message).toMatch(/is read-only/);
    expect(error.hint).toMatch(/write access/);
  });

  it('opens :memory:, with WAL on files, commits on the disk (synchronous FULL), foreign keys on, a busy timeout and a 2 MB page cache', async () => {
    const memory = await sqliteDialect.connect(':memory:', 'lite1');
    expect((await memory.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await memory.close();
    const client = await sqliteDialect.connect(join(dir, 'settings.db'), 'lite1');
    expect((await client.query('PRAGMA journal_mode')).rows).toEqual([{ journal_mode: 'wal' }]);
    // FULL (2), not the NORMAL better-sqlite3's build gives WAL connections by default.
    expect((await client.query('PRAGMA synchronous')).rows).toEqual([{ synchronous: 2 }]);
    expect((await client.query('PRAGMA foreign_keys')).rows).toEqual([{ foreign_keys: 1 }]);
    expect((await client.query('PRAGMA busy_timeout')).rows).toEqual([{ timeout: 5000 }]);
    // SQLite's own 2 MB, not the 16 MB of better-sqlite3's build (docs/performance.md, "the SQLite page cache").
    expect((await client.query('PRAGMA cache_size')).rows).toEqual([{ cache_size: -2000 }]);
    await client.close();
  });
});

describe('sqlite client', () => {
  let client: DbClient;
  beforeAll(async () => {
    client = await sqliteDialect.connect(join(dir, 'client.db'), 'lite1');
    await client.exec(
      'CREATE TABLE t (id INTEGER PRIMARY KEY, v, s TEXT); CREATE TABLE ds_change_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, x)',
    );
  });
  afterAll(async () => client.close());

  it('keeps integers beyond 2^53 exact as bigint and gives numbers below', async () => {
    await client.query('INSERT INTO t (id, v, s) VALUES (?, ?, ?), (?, ?, ?)', [1, 2n ** 62n + 1n, 42, 2, -(2n ** 63n), true]);
    const { rows } = await client.query<Row>('SELECT id, v, s, typeof(v) AS tv FROM t ORDER BY id');
    expect(rows).toEqual([
      { id: 1, v: 2n ** 62n + 1n, s: '42', tv: 'integer' },
      { id: 2, v: -(2n ** 63n), s: '1', tv: 'integer' },
    ]);
  });

  it('builds rows as better-sqlite3 would: a repeated name keeps its last value, __proto__ is an own column', async () => {
    const { rows } = await client.query<Row>('SELECT 1 AS a, 2 AS a, 3 AS "__proto__", NULL AS n, x\'00ff\' AS b');
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0])).toEqual(['a', '__proto__', 'n', 'b']);
    expect(rows[0].a).toBe(2);
    expect(Object.getOwnPropertyDescriptor(rows[0], '__proto__')?.value).toBe(3);
    expect(Object.getPrototypeOf(rows[0])).toBe(Object.prototype);
    expect(rows[0].n).toBeNull();
    expect(rows[0].b).toEqual(Buffer.from([0, 255]));
    // A statement that returns rows only sometimes (RETURNING) is a reader too.
    expect((await client.query('INSERT INTO t (id, v, s) VALUES (?, ?, ?) RETURNING id, s', [3, 0, 'r'])).rows).toEqual([
      { id: 3, s: 'r' },
    ]);
    expect((await client.query('DELETE FROM t WHERE id = ? RETURNING id', [3])).rows).toEqual([{ id: 3 }]);
  });

  it('binds every value where it stands, whatever comes before it, and leaves the caller its parameters (seeded)', async () => {
    // The driver copies the parameters only from the first one it must change (a whole
    // number, a boolean, undefined): a value after any run of others must still bind as
    // an INTEGER (42 into a TEXT column is '42', not '42.0'), 1/0, NULL.
    const seed = Number(process.env.SEED ?? Date.now() % 100000);
    console.log(`sqlite bind seed ${seed}`);
    let s = seed;
    const next = () => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    };
    const pool: unknown[] = [
      'text',
      '',
      'nul\u0000inside',
      '😀é',
      42,
      -0,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
      1.5,
      2 ** 60,
      true,
      false,
      null,
      undefined,
      2n ** 62n + 1n,
      Buffer.from([0, 255]),
    ];
    /** What each value binds as: the driver's own rule, spelled out (better-sqlite3 binds a number as a REAL). */
    const expected = (v: unknown) =>
      typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : typeof v === 'boolean' ? (v ? 1n : 0n) : v === undefined ? null : v;
    await client.exec('CREATE TABLE bind_mix (a TEXT, b, c TEXT, d, e TEXT, f, k TEXT PRIMARY KEY)');
    const insert = 'INSERT INTO bind_mix (a, b, c, d, e, f, k) VALUES (?, ?, ?, ?, ?, ?, ?)';
    for (let n = 1; n <= 200; n++) {
      // The key (a text) last: the values before it decide where the copy starts, if anywhere.
      const params = [...Array.from({ length: 6 }, () => pool[Math.floor(next() * pool.length)]), `r${n}`];
      const copy = [...params];
      await client.query(insert, params);
      expect(params).toEqual(copy);
      // The same row bound from values the driver has nothing to change in.
      await client.query(insert, [...params.slice(0, 6).map(expected), `x${n}`]);
    }
    const cols = ['a', 'b', 'c', 'd', 'e', 'f'].map((c) => `typeof(${c}) || ':' || coalesce(quote(${c}), '')`).join(" || '|' || ");
    const { rows } = await client.query<Row>(`SELECT k, ${cols} AS stored FROM bind_mix`);
    const byKey = new Map(rows.map((r) => [String(r.k), r.stored]));
    for (let n = 1; n <= 200; n++) expect(byKey.get(`r${n}`), `row ${n}, seed ${seed}`).toBe(byKey.get(`x${n}`));
    expect(rows.some((r) => String(r.stored).includes('integer:42'))).toBe(true);
  });

  it('counts changed rows and reuses prepared statements', async () => {
    expect((await client.query('UPDATE t SET s = ? WHERE id > ?', ['x', 0])).rowCount).toBe(2);
    for (let i = 0; i < 250; i++) expect((await client.query(`SELECT ${i} AS n`)).rows[0].n).toBe(i);
    expect((await client.query('UPDATE t SET s = ? WHERE id > ?', ['y', 0])).rowCount).toBe(2);
  });

  it('commits, rolls back on a throw, and keeps the outer work when a savepoint rolls back', async () => {
    await client.transaction(async (tx) => {
      await tx.query('INSERT INTO t (id) VALUES (10)');
      await expect(
        tx.transaction(async (sp) => {
          await sp.query('INSERT INTO t (id) VALUES (11)');
          throw new Error('inner');
        }),
      ).rejects.toThrow('inner');
      await tx.transaction(async (sp) => sp.query('INSERT INTO t (id) VALUES (12)'));
    });
    await expect(
      client.transaction(async (tx) => {
        await tx.query('INSERT INTO t (id) VALUES (13)');
        throw new Error('outer');
      }),
    ).rejects.toThrow('outer');
    const { rows } = await client.query<Row>('SELECT id FROM t WHERE id >= 10 ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([10, 12]);
  });

  it('reads the safe horizon as the committed max(id), 0 when empty', async () => {
    expect(await sqliteDialect.readSafeHorizon(client, 'ds_change_outbox')).toBe(0);
    await client.query('INSERT INTO ds_change_outbox (x) VALUES (1), (2), (3)');
    await client.query('DELETE FROM ds_change_outbox WHERE id = 3');
    expect(await sqliteDialect.readSafeHorizon(client, 'ds_change_outbox')).toBe(2);
    await client.query('INSERT INTO ds_change_outbox (x) VALUES (4)');
    // AUTOINCREMENT never hands out 3 again.
    expect(await sqliteDialect.readSafeHorizon(client, 'ds_change_outbox')).toBe(4);
  });
});

describe('sqlite introspection', () => {
  let client: DbClient;
  beforeAll(async () => {
    client = await sqliteDialect.connect(join(dir, 'catalog.db'), 'lite1');
    await applyFixtureSchema(client);
  });
  afterAll(async () => client.close());

  it('reads the fixture tables into the same families as the PostgreSQL fixture', async () => {
    const zoo = await sqliteDialect.introspect(client, 'type_zoo');
    expect(zoo.primaryKey).toEqual(['id']);
    expect(Object.fromEntries(zoo.columns.map((c) => [c.name, c.family]))).toEqual({
      id: 'integer',
      c_smallint: 'integer',
      c_int: 'integer',
      c_bigint: 'bigint',
      c_decimal: 'decimal',
      c_float: 'float',
      c_real: 'float',
      c_bool: 'boolean',
      c_char: 'text',
      c_varchar: 'text',
      c_text: 'text',
      c_date: 'date',
      c_time: 'time',
      c_timestamp: 'timestamp',
      c_timestamptz: 'timestamptz',
      c_bytea: 'binary',
      c_json: 'json',
      c_uuid: 'uuid',
    });
    expect(zoo.columns.find((c) => c.name === 'c_decimal')).toMatchObject({ nativeType: 'DECIMAL(20, 6)', precision: 20, scale: 6 });
    expect(zoo.columns.find((c) => c.name === 'c_varchar')).toMatchObject({ maxLength: 100, nullable: true });
    const line = await sqliteDialect.introspect(client, 'order_line');
    expect(line).toMatchObject({ name: 'order_line', schema: null, primaryKey: ['order_id', 'line_no'] });
    expect(line.columns.map((c) => c.nullable)).toEqual([false, false, false, true]);
    const odd = await sqliteDialect.introspect(client, 'Odd Names');
    expect(odd.columns.map((c) => c.name)).toEqual([
      'Key Col',
      'select',
      "it's",
      'MixedCase',
      'back`tick',
      'tilde~col',
      '[bracket]',
      'semi;colon',
    ]);
  });

  it('marks generated columns, and reads key order and WITHOUT ROWID tables', async () => {
    await client.exec(`CREATE TABLE gen (b TEXT NOT NULL, a INTEGER NOT NULL, doubled INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL,
      stored TEXT AS (upper(b)) STORED, PRIMARY KEY (a, b)) WITHOUT ROWID`);
    const gen = await sqliteDialect.introspect(client, 'GEN');
    expect(gen.name).toBe('GEN');
    expect(gen.primaryKey).toEqual(['a', 'b']);
    expect(gen.columns.map((c) => [c.name, c.generated])).toEqual([
      ['b', false],
      ['a', false],
      ['doubled', true],
      ['stored', true],
    ]);
  });

  it('refuses a missing table and a table without a primary key, with a hint', async () => {
    await expect(sqliteDialect.introspect(client, 'nope')).rejects.toMatchObject({
      code: 'table_missing',
      message: 'table nope does not exist',
    });
    await client.exec('CREATE TABLE keyless (a TEXT)');
    const error = await sqliteDialect.introspect(client, 'keyless').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntrospectionError);
    expect(error).toMatchObject({ code: 'no_primary_key', message: 'table keyless has no primary key' });
    expect((error as IntrospectionError).hint).toMatch(/PRIMARY KEY/);
  });

  it('knows which tables and views exist', async () => {
    await client.exec('CREATE VIEW v_orders AS SELECT * FROM sales_order');
    expect(await sqliteDialect.tableExists(client, 'sales_order')).toBe(true);
    expect(await sqliteDialect.tableExists(client, 'Odd Names')).toBe(true);
    expect(await sqliteDialect.tableExists(client, 'v_orders')).toBe(true);
    expect(await sqliteDialect.tableExists(client, 'nope')).toBe(false);
  });
});
