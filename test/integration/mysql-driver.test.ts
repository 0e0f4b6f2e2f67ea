/**
 * The MySQL/MariaDB driver and catalog against a live server: connection errors that
 * name the node and the fix (never the password), the pinned session, parameters that
 * survive quotes and backslashes, row counts, transactions with savepoints (a deadlock
 * included), and introspection of every type family.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { ConnectionError, IntrospectionError } from '../../src/core/errors.ts';
import { mysqlBulk } from '../../src/dialects/mysql/mysql-bulk.ts';
import { mysqlDialect } from '../../src/dialects/mysql/mysql-dialect.ts';
import { insertRow, selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { createTestDatabase, liveDialects, MYSQL_ADMIN_URL, type TestDatabase } from '../helpers/databases.ts';
import { applyFixtureSchema } from '../helpers/fixtures.ts';

const live = await liveDialects();

describe.skipIf(!live.includes('mysql'))('mysql connection errors', () => {
  const connectError = (url: string) =>
    mysqlDialect.connect(url, 'my-node').then(
      () => expect.fail('connected'),
      (e: unknown) => e as ConnectionError,
    );
  const server = new URL(MYSQL_ADMIN_URL);

  it('names the node and the fix, and never the password', async () => {
    const cases: Array<[string, RegExp, RegExp]> = [
      [
        'mysql://u:s3cret@127.0.0.1:1/db',
        /cannot reach MySQL\/MariaDB at mysql:\/\/u:\*\*\*@127\.0\.0\.1:1\/db \(ECONNREFUSED\)/,
        /start the server/,
      ],
      [`mysql://dsync_nobody:s3cret@${server.host}/mysql`, /refused the login/, /check the user and password/],
      [
        `mysql://${server.username}@${server.host}/dsync_no_such_db`,
        /has no such database/,
        /CREATE DATABASE `dsync_no_such_db` CHARACTER SET utf8mb4/,
      ],
      ['mysql://u:s3cret@127.0.0.1:3306/', /names no database/, /mysql:\/\/user:password@host:3306\/database/],
      [
        'mysql://u:s3cret@127.0.0.1:3306/db?multipleStatements=true',
        /unknown parameter "multipleStatements"/,
        /ssl, socketPath, connectTimeout/,
      ],
      ['not a url s3cret', /the url is not a valid URL/, /nodes\.my-node\.url/],
      ['mysql://u:s3%cret@127.0.0.1/db', /the url is not a valid URL/, /percent-encode/],
    ];
    for (const [url, message, hint] of cases) {
      const error = await connectError(url);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.message).toMatch(/^node my-node: /);
      expect(error.message).toMatch(message);
      expect(error.hint).toMatch(hint);
      expect(`${error.message} ${error.hint}`).not.toContain('s3cret');
    }
  });
});

describe.skipIf(!live.includes('mysql'))('mysql session, parameters and transactions', () => {
  let db: TestDatabase;
  let client: DbClient;
  let other: DbClient;

  beforeAll(async () => {
    db = await createTestDatabase('mysql');
    client = await mysqlDialect.connect(db.url, 'mysql');
    other = await mysqlDialect.connect(db.url, 'mysql');
    await client.exec('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50), n INT);\nCREATE TABLE u (a VARCHAR(10), b INT, UNIQUE (a, b));');
  });
  afterAll(async () => {
    await client?.close();
    await other?.close();
    await db?.drop();
  });

  it('pins UTC, strict mode with backslash escapes, and utf8mb4', async () => {
    const { rows } = await client.query<Row>(
      'SELECT @@session.time_zone AS tz, @@session.sql_mode AS mode, @@session.character_set_client AS cs',
    );
    expect(rows[0].tz).toBe('+00:00');
    expect(String(rows[0].mode).split(',')).toEqual(expect.arrayContaining(['STRICT_ALL_TABLES', 'NO_AUTO_VALUE_ON_ZERO', 'NO_ZERO_DATE']));
    expect(String(rows[0].mode)).not.toMatch(/NO_BACKSLASH_ESCAPES|ANSI_QUOTES/);
    expect(rows[0].cs).toBe('utf8mb4');
  });

  it('carries quotes, backslashes, ? and emoji in values and names unchanged', async () => {
    const nasty = `it's \\' \\\\ "q" \`b\` ? ; ~ 😀 \u0000 \n`;
    await client.query(`INSERT INTO t (id, v) VALUES (?, ?)`, [1, nasty]);
    const { rows } = await client.query<Row>(`SELECT v AS ${mysqlDialect.sql.ident('wh?t `x` \\')} FROM t WHERE v = ?`, [nasty]);
    expect(rows).toEqual([{ 'wh?t `x` \\': nasty }]);
    const literal = await client.query<Row>(`SELECT ${mysqlDialect.sql.literal(nasty)} AS v`);
    expect(literal.rows[0].v).toBe(nasty);
  });

  it('reads rows as arrays with the values query gives, in select-list order, duplicate names kept', async () => {
    await client.query('INSERT INTO t (id, v, n) VALUES (?, ?, ?), (?, ?, ?)', [71, 'x', null, 72, 'y\u0000😀', 5]);
    const sql = 'SELECT id, v, n, v, 9007199254740993 AS big, CAST(1.50 AS DECIMAL(5,2)) AS d FROM t WHERE id IN (?, ?) ORDER BY id';
    const arrays = await client.queryArrays!(sql, [71, 72]);
    const { rows } = await client.query<Row>(sql, [71, 72]);
    expect(arrays).toEqual(rows.map((r) => [r.id, r.v, r.n, r.v, r.big, r.d]));
    expect(arrays[1]).toEqual([72, 'y\u0000😀', 5, 'y\u0000😀', '9007199254740993', '1.50']);
    await client.query('DELETE FROM t WHERE id IN (71, 72)');
  });

  it('counts rows like the other brands: matched by an update, skipped duplicates not inserted', async () => {
    expect((await client.query('UPDATE t SET v = v WHERE id = 1')).rowCount).toBe(1);
    const insert = (n: number) => mysqlDialect.sql.insertIgnoringDuplicates('u', ['a', 'b'], n);
    expect((await client.query(insert(2), ['x', 1, 'x', 2])).rowCount).toBe(2);
    expect((await client.query(insert(3), ['x', 1, 'y', 1, 'x', 2])).rowCount).toBe(1);
    expect((await client.query(insert(1), ['x', 1])).rowCount).toBe(0);
    // Only a duplicate is skipped: any other error still fails the statement.
    await expect(client.query(insert(1), ['far too long for ten', 1])).rejects.toThrow(/too long/i);
  });

  it('runs a script with DELIMITER lines statement by statement', async () => {
    await client.exec(
      "CREATE TABLE s (id INT PRIMARY KEY);\nDELIMITER $$\nCREATE TRIGGER s_ins BEFORE INSERT ON s FOR EACH ROW BEGIN SET @s_seen = 'a;b'; END$$\nDELIMITER ;\nINSERT INTO s VALUES (1);",
    );
    expect((await client.query<Row>('SELECT @s_seen AS seen')).rows[0].seen).toBe('a;b');
  });

  it('nests transactions with savepoints', async () => {
    await client.transaction(async (tx) => {
      await tx.query('INSERT INTO t (id, n) VALUES (10, 1)');
      await tx
        .transaction(async (sp) => {
          await sp.query('INSERT INTO t (id, n) VALUES (11, 1)');
          throw new Error('undo the savepoint');
        })
        .catch(() => undefined);
    });
    await expect(
      client.transaction(async (tx) => {
        await tx.query('INSERT INTO t (id, n) VALUES (12, 1)');
        throw new Error('undo all');
      }),
    ).rejects.toThrow('undo all');
    const { rows } = await client.query<Row>('SELECT id FROM t WHERE id >= 10 ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([10]);
  });

  it('writes many rows by LOAD DATA LOCAL exactly, and by INSERT where LOAD DATA would skip or bend a row', async () => {
    // A stand-in with the inbox's name (this database has no sync objects): LOAD DATA is used for the inbox, not for the outbox.
    await client.exec(
      'CREATE TABLE ds_change_inbox (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k VARCHAR(10) NOT NULL UNIQUE, v LONGTEXT, n BIGINT)',
    );
    // The writer reads the fence once per transaction (mysql-bulk.ts): its table too.
    await client.exec('CREATE TABLE ds_change_fence (id INT NOT NULL PRIMARY KEY) ENGINE = InnoDB');
    await client.exec('INSERT INTO ds_change_fence (id) VALUES (1)');
    const loads = async () => Number((await client.query<Row>("SHOW SESSION STATUS LIKE 'Com_load'")).rows[0].Value);
    const nasty = ['a\tb', 'line\nnext\r', '\\N', '\\', 'NULL', '', '😀 é', '\u0000z', 'it\'s "q"', null];
    const rows = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => [
        `k${from + i}`,
        nasty[(from + i) % nasty.length],
        from + i === 7 ? 2 ** 53 - 1 : 100 - (from + i),
      ]);
    const read = async () =>
      (await client.query<Row>('SELECT k, v, n FROM ds_change_inbox ORDER BY id')).rows.map((r) => [r.k, r.v, Number(r.n)]);
    const write = (batch: unknown[][], ignoreDuplicates: boolean) =>
      client.transaction((tx) => mysqlBulk.insertRows(tx, 'ds_change_inbox', ['k', 'v', 'n'], batch, ignoreDuplicates));

    const before = await loads();
    await write(rows(0, 100), false);
    expect(await loads()).toBe(before + 1);
    expect(await read()).toEqual(rows(0, 100));
    // A resend with new rows: LOAD DATA would skip the duplicates with a warning; INSERT skips them.
    await write(rows(50, 100), true);
    expect(await read()).toEqual(rows(0, 150));
    // A duplicate that is not to be skipped, a value too long: the statement fails, nothing of the batch stays.
    await expect(write(rows(140, 70), false)).rejects.toThrow(/duplicate/i);
    await expect(write([...rows(150, 70), ['far too long', 'x', 1]], true)).rejects.toThrow(/too long/i);
    expect(await read()).toEqual(rows(0, 150));
  });

  it('upserts version-store rows by LOAD DATA LOCAL … REPLACE, and by INSERT … ON DUPLICATE KEY UPDATE where it would bend a row', async () => {
    // A stand-in with the version store's name and key (this database has no sync objects).
    await client.exec(
      'CREATE TABLE ds_row_version (table_name VARCHAR(64) NOT NULL, row_key VARCHAR(700) NOT NULL, cl BIGINT NOT NULL, base_server VARCHAR(8) NOT NULL, col_versions LONGTEXT NOT NULL, PRIMARY KEY (table_name, row_key))',
    );
    const columns = ['table_name', 'row_key', 'cl', 'base_server', 'col_versions'];
    const entries = (from: number, count: number, cl: number) =>
      Array.from({ length: count }, (_, i) => ['t', `["k\\t${from + i}"]`, cl, 'srv', `{"c": [${from + i}, "s\\n"]}`]);
    const upsert = (rows: unknown[][]) =>
      client.transaction((tx) => mysqlBulk.upsertRows!(tx, 'ds_row_version', columns, ['table_name', 'row_key'], rows));
    const read = async () =>
      (
        await client.query<Row>('SELECT table_name, row_key, cl, base_server, col_versions FROM ds_row_version ORDER BY cl, row_key')
      ).rows.map((r) => [r.table_name, r.row_key, Number(r.cl), r.base_server, r.col_versions]);
    const loads = async () => Number((await client.query<Row>("SHOW SESSION STATUS LIKE 'Com_load'")).rows[0].Value);
    const before = await loads();
    await upsert(entries(0, 100, 1));
    await upsert(entries(50, 100, 3));
    expect(await loads()).toBe(before + 2);
    const sorted = (rows: unknown[][]) => rows.sort((a, b) => Number(a[2]) - Number(b[2]) || String(a[1]).localeCompare(String(b[1])));
    expect(await read()).toEqual(sorted([...entries(0, 50, 1), ...entries(50, 100, 3)]));
    // A value too long: LOAD DATA would cut it with a warning; the upsert fails and nothing of the batch stays.
    await expect(upsert([...entries(0, 80, 5), ['t', 'x', 5, 'far too long', '{}']])).rejects.toThrow(/too long/i);
    expect(await read()).toEqual(sorted([...entries(0, 50, 1), ...entries(50, 100, 3)]));
  });

  it("writes a table's new rows by LOAD DATA LOCAL exactly as INSERT writes them, every type family", async () => {
    const columns = `id INT PRIMARY KEY, c_smallint SMALLINT, c_bigint BIGINT, c_decimal DECIMAL(20, 6), c_float DOUBLE, c_real FLOAT,
      c_bool BOOLEAN, c_char CHAR(5), c_text LONGTEXT, c_date DATE, c_time TIME(6), c_timestamp DATETIME(6),
      c_timestamptz TIMESTAMP(6) NULL, c_json JSON, c_uuid UUID`;
    await client.exec(`CREATE TABLE zoo_load (${columns});\nCREATE TABLE zoo_insert (${columns});`);
    const [loadTable, insertTable] = await Promise.all([
      mysqlDialect.introspect(client, 'zoo_load'),
      mysqlDialect.introspect(client, 'zoo_insert'),
    ]);
    const texts = ['a\tb', 'x\ny\r', '\\N', '\\', 'NULL', '', '😀', "it's", null];
    const rows = Array.from({ length: 90 }, (_, i) => ({
      id: i,
      c_smallint: i % 2 ? -32768 : 32767,
      c_bigint: i % 3 ? '9223372036854775807' : -(2 ** 53) + 1,
      c_decimal: i % 2 ? '12345678901234.123456' : '-0.000001',
      c_float: i % 2 ? 0.1 + i : 1.7976931348623157e308,
      c_real: i % 2 ? 0.5 : 3.4028234663852886e38,
      c_bool: i % 2 === 0,
      c_char: texts[i % texts.length]?.slice(0, 5) ?? null,
      c_text: texts[i % texts.length],
      c_date: i % 2 ? '0001-01-01' : '9999-12-31',
      c_time: i % 2 ? '23:59:59.999999' : '00:00:00.000001',
      c_timestamp: '2025-02-28T23:59:59.123456',
      c_timestamptz: '2025-06-30T12:00:00.000001Z',
      c_json: i % 2 ? '{"a": [1, "\\t"]}' : null,
      c_uuid: i % 2 ? '123e4567-e89b-12d3-a456-426614174000' : null,
    }));
    const loadsBefore = Number((await client.query<Row>("SHOW SESSION STATUS LIKE 'Com_load'")).rows[0].Value);
    await client.transaction((tx) => mysqlBulk.insertTableRows(tx, loadTable, rows));
    expect(Number((await client.query<Row>("SHOW SESSION STATUS LIKE 'Com_load'")).rows[0].Value)).toBe(loadsBefore + 1);
    await client.transaction(async (tx) => {
      for (const row of rows) await insertRow(tx, insertTable, row);
    });
    const read = async (table: string) => (await client.query<Row>(`SELECT * FROM ${table} ORDER BY id`)).rows;
    expect(await read('zoo_load')).toEqual(await read('zoo_insert'));
    // A key that exists: the LOAD is undone and the INSERT fails, leaving nothing of the batch.
    await expect(
      client.transaction((tx) =>
        mysqlBulk.insertTableRows(tx, loadTable, [...rows.slice(0, 80).map((r) => ({ ...r, id: r.id + 1000 })), rows[0]]),
      ),
    ).rejects.toThrow(/duplicate/i);
    expect((await read('zoo_load')).length).toBe(90);

    // Updates: by LOAD DATA into a temporary table and UPDATE … JOIN on one table, row by row on the other.
    const changed = rows.map((r, i) => ({ ...rows[(i + 1) % rows.length], id: r.id }));
    const set = Object.keys(rows[0]).filter((c) => c !== 'id');
    const updates = changed.map(({ id, ...values }) => ({ key: { id }, values }));
    const loadsBeforeUpdate = Number((await client.query<Row>("SHOW SESSION STATUS LIKE 'Com_load'")).rows[0].Value);
    await client.transaction((tx) => mysqlBulk.updateTableRows(tx, loadTable, set, updates));
    expect(Number((await client.query<Row>("SHOW SESSION STATUS LIKE 'Com_load'")).rows[0].Value)).toBe(loadsBeforeUpdate + 1);
    await client.transaction(async (tx) => {
      for (const u of updates) await updateRow(tx, insertTable, u.key, u.values);
    });
    expect(await read('zoo_load')).toEqual(await read('zoo_insert'));
    expect((await read('zoo_load')).map((r) => r.c_text)).toEqual(changed.map((r) => r.c_text));
    // A key that is not there: the update fails whole (the count is checked), nothing of it stays.
    const missing = [
      ...updates.slice(0, 80).map((u) => ({ ...u, values: { ...u.values, c_text: 'no' } })),
      { key: { id: 5000 }, values: updates[0].values },
    ];
    await expect(client.transaction((tx) => mysqlBulk.updateTableRows(tx, loadTable, set, missing))).rejects.toThrow(/matched 80 of 81/);
    expect(await read('zoo_load')).toEqual(await read('zoo_insert'));
    // A value LOAD DATA would bend (too long for CHAR(5)): the derived table's UPDATE fails on it instead.
    const bent = updates.slice(0, 80).map((u, i) => ({ ...u, values: { ...u.values, c_char: i === 40 ? 'far too long' : 'ok' } }));
    await expect(client.transaction((tx) => mysqlBulk.updateTableRows(tx, loadTable, set, bent))).rejects.toThrow(/too long/i);
    expect(await read('zoo_load')).toEqual(await read('zoo_insert'));
  });

  it('after a deadlock the whole transaction fails, instead of going on in autocommit', async () => {
    await client.exec('CREATE TABLE dl (id INT PRIMARY KEY, v INT)');
    await client.query('INSERT INTO dl SELECT seq, 0 FROM seq_1_to_101');
    // The other session holds rows 2..101 (heavier, so InnoDB picks ours as the victim).
    await other.exec('START TRANSACTION');
    await other.query('UPDATE dl SET v = 1 WHERE id >= 2');
    let later: unknown = null;
    const ours = client.transaction(async (tx) => {
      await tx.query('UPDATE dl SET v = 2 WHERE id = 1');
      await tx
        .transaction(async (sp) => {
          await sp.query('UPDATE dl SET v = 2 WHERE id = 2'); // waits for the other session, then deadlocks
        })
        .catch(() => undefined); // as the import does with a failing change
      later = await tx.query('UPDATE dl SET v = 3 WHERE id = 1').catch((e: unknown) => e);
    });
    const outcome = ours.then(
      () => null,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    await other.query('UPDATE dl SET v = 1 WHERE id = 1'); // closes the cycle
    await other.exec('COMMIT');
    expect(String(await outcome)).toMatch(/deadlock/i);
    expect(String(later)).toMatch(/already rolled back by the server/);
    const { rows } = await client.query<Row>('SELECT v FROM dl WHERE id = 1');
    expect(rows[0].v).toBe(1); // ours left nothing behind
  });
});

describe.skipIf(!live.includes('mysql'))('mysql introspection', () => {
  let db: TestDatabase;
  let client: DbClient;

  beforeAll(async () => {
    db = await createTestDatabase('mysql');
    client = await mysqlDialect.connect(db.url, 'mysql');
    await applyFixtureSchema(client);
    await client.exec(`CREATE TABLE extra (
      id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
      flag BIT(1), bits BIT(10), kind ENUM('a', 'b') NOT NULL DEFAULT 'a', yr YEAR, note VARCHAR(10) DEFAULT 'x',
      n INT, twice BIGINT AS (n * 2) VIRTUAL, stored_twice BIGINT AS (n * 2) STORED, fixed BINARY(4), d DATETIME
    );
    CREATE TABLE nokey (a INT);
    CREATE TABLE shapes (id INT PRIMARY KEY, p POINT);
    CREATE VIEW v_extra AS SELECT id FROM extra;`);
  });
  afterAll(async () => {
    await client?.close();
    await db?.drop();
  });

  it('maps every fixture column to the family of its PostgreSQL twin', async () => {
    const zoo = await mysqlDialect.introspect(client, 'type_zoo');
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
    expect(zoo).toMatchObject({ name: 'type_zoo', schema: null, primaryKey: ['id'] });
    expect(zoo.columns.find((c) => c.name === 'c_decimal')).toMatchObject({ precision: 20, scale: 6, nullable: true, default: null });
    expect(zoo.columns.find((c) => c.name === 'c_timestamp')).toMatchObject({ nativeType: 'datetime(6)', precision: 6 });
    const line = await mysqlDialect.introspect(client, 'order_line');
    expect(line.primaryKey).toEqual(['order_id', 'line_no']);
    const odd = await mysqlDialect.introspect(client, 'Odd Names');
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

  it('reads bits, enums, years, defaults, identity and generated columns', async () => {
    const extra = await mysqlDialect.introspect(client, 'extra');
    const by = Object.fromEntries(extra.columns.map((c) => [c.name, c]));
    expect(by.id).toMatchObject({ family: 'bigint', identity: 'default', nullable: false });
    expect(by.flag.family).toBe('boolean');
    expect(by.bits.family).toBe('bigint');
    expect(by.kind).toMatchObject({ family: 'text', default: "'a'" });
    expect(by.yr.family).toBe('integer');
    expect(by.note.default).toBe("'x'");
    expect(by.d).toMatchObject({ family: 'timestamp', precision: 0, default: null });
    expect([by.twice.generated, by.stored_twice.generated, by.note.generated]).toEqual([true, true, false]);
    await insertRow(client, extra, {
      id: 1,
      flag: true,
      bits: 513,
      kind: 'b',
      yr: 2024,
      n: 4,
      fixed: Buffer.from('abcd').toString('base64'),
    });
    expect(await selectRow(client, extra, { id: 1 })).toEqual({
      id: 1,
      flag: true,
      bits: 513,
      kind: 'b',
      yr: 2024,
      note: 'x',
      n: 4,
      fixed: 'YWJjZA==',
      d: null,
    });
  });

  it('refuses a missing table, a table without a key, and spatial columns, saying what to do', async () => {
    const failure = (name: string) =>
      mysqlDialect.introspect(client, name).then(
        () => expect.fail(name),
        (e: unknown) => e as IntrospectionError,
      );
    for (const [name, code, hint] of [
      ['no_such_table', 'table_missing', /create it first/],
      ['Sales_Order', 'table_missing', /case-sensitive/],
      ['v_extra', 'table_missing', /create it first/],
      ['nokey', 'no_primary_key', /ALTER TABLE nokey ADD PRIMARY KEY/],
      ['shapes', 'unsupported_type', /leave shapes out/],
    ] as const) {
      const error = await failure(name);
      expect(error).toBeInstanceOf(IntrospectionError);
      expect(error.code).toBe(code);
      expect(error.hint).toMatch(hint);
    }
    expect(await mysqlDialect.tableExists(client, 'v_extra')).toBe(true);
    expect(await mysqlDialect.tableExists(client, 'sales_order')).toBe(true);
    expect(await mysqlDialect.tableExists(client, 'no_such_table')).toBe(false);
    const qualified = await mysqlDialect.introspect(client, `${new URL(db.url).pathname.slice(1)}.sales_order`);
    expect(qualified.schema).toBe(new URL(db.url).pathname.slice(1));
  });
});
