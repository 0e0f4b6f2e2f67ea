/**
 * The MariaDB import's own ways of writing and reading rows against the plain ones, on random
 * rows of every type family (seeded: the seed is printed, DSYNC_SEED replays it): new rows by
 * LOAD DATA (lines made per row) against one INSERT per row, updates by LOAD DATA into a
 * temporary table against one UPDATE per row, and the locked read of a batch's rows (as arrays)
 * against one SELECT per key (row objects).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { mysqlBulk } from '../../src/dialects/mysql/mysql-bulk.ts';
import { mysqlDialect } from '../../src/dialects/mysql/mysql-dialect.ts';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import { fetchRows, insertRow, selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { oddText, random } from '../helpers/random.ts';

const live = await liveDialects();

const COLUMNS = `id INT PRIMARY KEY, c_bigint BIGINT, c_decimal DECIMAL(20, 6), c_float DOUBLE, c_bool BOOLEAN,
  c_text VARCHAR(300), c_date DATE, c_time TIME(6), c_timestamp DATETIME(6), c_ts3 DATETIME(3), c_timestamptz TIMESTAMP(6) NULL,
  c_json JSON`;

describe.skipIf(!live.includes('mysql'))('mysql: the import writes and reads values as the plain statements do', () => {
  let db: TestDatabase;
  let client: DbClient;
  const seed = Number(process.env.DSYNC_SEED ?? Date.now() % 1_000_000);
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const two = (lo: number, hi: number) => String(lo + Math.floor(rand() * (hi - lo + 1))).padStart(2, '0');
  const date = () => `${pick(['0001', '1970', '2024', '2025', '9999'])}-${pick(['02', two(1, 12)])}-${two(1, 28)}`;
  const clock = () => `${two(0, 23)}:${two(0, 59)}:${two(0, 59)}`;
  const micro = () => String(Math.floor(rand() * 1e6)).padStart(6, '0');

  /** A random row: each value null now and then, else a value of its column in a spelling the import takes. */
  function row(id: number): ValueMap {
    const maybe = <T>(v: () => T) => (rand() < 0.1 ? null : v());
    return {
      id,
      c_bigint: maybe(() => pick(['9223372036854775807', '-9223372036854775808', String(Math.floor(rand() * 2 ** 53)), 0])),
      c_decimal: maybe(() => `${pick(['-', ''])}${Math.floor(rand() * 1e12)}.${micro()}`),
      c_float: maybe(() => pick([0.1, -1.5e300, 2 ** -1074, rand() * 1e6])),
      c_bool: maybe(() => rand() < 0.5),
      c_text: maybe(() => (rand() < 0.2 ? pick(['\\N', '\\', 'a\\tb', 'x\\ny', '\t', '\n', '\r\n', '\0', 'NULL', '']) : oddText(rand, 40))),
      c_date: maybe(date),
      c_time: maybe(() => `${clock()}.${micro()}`),
      c_timestamp: maybe(() => `${date()}${pick(['T', ' '])}${clock()}.${micro()}`),
      c_ts3: maybe(() => `${date()}T${clock()}.${micro().slice(0, 3)}000`),
      c_timestamptz: maybe(() => `${pick(['2001', '2025', '2037'])}-${two(1, 12)}-${two(1, 28)}T${clock()}.${micro()}Z`),
      c_json: maybe(() => JSON.stringify({ a: [rand(), oddText(rand, 5)] })),
    };
  }

  let loaded: TableSchema;
  let inserted: TableSchema;
  beforeAll(async () => {
    db = await createTestDatabase('mysql');
    client = await mysqlDialect.connect(db.url, 'mysql');
    await client.exec(`CREATE TABLE zoo_load (${COLUMNS});\nCREATE TABLE zoo_plain (${COLUMNS});`);
    [loaded, inserted] = await Promise.all([mysqlDialect.introspect(client, 'zoo_load'), mysqlDialect.introspect(client, 'zoo_plain')]);
  });
  afterAll(async () => {
    await client?.close();
    await db?.drop();
  });

  const read = async (table: string) => (await client.query<Row>(`SELECT * FROM ${table} ORDER BY id`)).rows;
  const status = async (name: string) => Number((await client.query<Row>(`SHOW SESSION STATUS LIKE '${name}'`)).rows[0].Value);
  /**
   * LOAD DATA statements run, rolled back to their savepoint (one that bent a value is undone, then
   * INSERT or the derived table's UPDATE writes the rows), INSERTs and multi-table UPDATEs.
   */
  const loads = async () => ({
    load: await status('Com_load'),
    undone: await status('Com_rollback_to_savepoint'),
    insert: await status('Com_insert'),
    updateJoin: await status('Com_update_multi'),
  });

  it(`inserts, updates and reads back alike (seed ${seed})`, async () => {
    console.log(`mysql import values: seed ${seed} (DSYNC_SEED=${seed} replays it)`);
    for (let round = 0; round < 3; round++) {
      const rows = Array.from({ length: 200 }, (_, i) => row(round * 1000 + i));
      const before = await loads();
      await client.transaction((tx) => mysqlBulk.insertTableRows(tx, loaded, rows));
      expect(await loads()).toEqual({ ...before, load: before.load + 1 });
      await client.transaction(async (tx) => {
        for (const r of rows) await insertRow(tx, inserted, r);
      });
      expect(await read('zoo_load')).toEqual(await read('zoo_plain'));

      const set = ['c_text', 'c_timestamp', 'c_decimal', 'c_date'];
      const updates = rows.map((r) => {
        const next = row(Number(r.id));
        return { key: { id: r.id }, values: Object.fromEntries(set.map((c) => [c, next[c]])) as ValueMap };
      });
      const beforeUpdate = await loads();
      await client.transaction((tx) => mysqlBulk.updateTableRows(tx, loaded, set, updates));
      // One LOAD into the temporary table, then one UPDATE … JOIN.
      expect(await loads()).toEqual({ ...beforeUpdate, load: beforeUpdate.load + 1, updateJoin: beforeUpdate.updateJoin + 1 });
      await client.transaction(async (tx) => {
        for (const u of updates) await updateRow(tx, inserted, u.key, u.values);
      });
      expect(await read('zoo_load')).toEqual(await read('zoo_plain'));

      // The batch's locked read (rows as arrays) against one SELECT per key (a row object), canonical.
      const keys = [...rows.map((r) => ({ id: r.id })), { id: -1 }];
      const identity = (k: ValueMap) => canonicalKeyText(loaded, k);
      const found = await client.transaction((tx) => fetchRows(tx, loaded, keys, identity, true));
      for (const k of keys)
        expect({ key: k.id, row: found.get(identity(k)) ?? null }).toEqual({ key: k.id, row: await selectRow(client, loaded, k) });
    }
  });
});
