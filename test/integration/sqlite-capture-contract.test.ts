/**
 * The SQLite capture triggers against the capture contract (docs/convergence.md): the
 * causal length over a row's lives, column versions, the hybrid clock when a version
 * from the future is on the row, statements that touch many rows at once, and keys
 * spelled exactly as canonicalKeyText spells them, whatever they hold.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.ts';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { REQUIRE_SERVERS } from '../helpers/databases.ts';
import { createSyncNode, lastOutboxId, type SyncNode } from '../helpers/sync-node.ts';

const SERVER = 'fixture-lite';
/** Ten years in µs: a version from a node whose clock runs far ahead. */
const TEN_YEARS = 10 * 365 * 86_400 * 1_000_000;

interface Entry {
  cl: number;
  max_version: number;
  base_version: number;
  base_server: string;
  col_versions: Record<string, [number, string]>;
}

interface Change {
  op: string;
  key: string;
  keyOld: string | null;
  cl: number;
  clOld: number | null;
  version: number;
  attributes: string;
  values: Record<string, unknown> | null;
}

describe('sqlite capture against the capture contract', () => {
  let node: SyncNode;

  beforeAll(async () => {
    node = await createSyncNode('sqlite');
  });
  afterAll(async () => node?.close());

  const run = (sql: string, params: unknown[] = []) => node.client.query(sql, params);

  /** The version store entry of `rowKey` (canonical key text), or null. */
  const entry = async (table: string, rowKey: string): Promise<Entry | null> => {
    const { rows } = await run(
      'SELECT cl, max_version, base_version, base_server, col_versions FROM ds_row_version WHERE table_name = ? AND row_key = ?',
      [table, rowKey],
    );
    if (rows.length === 0) return null;
    return { ...(rows[0] as unknown as Entry), col_versions: JSON.parse(String(rows[0].col_versions)) };
  };

  /** The outbox rows `fn` writes, with object_id as its raw text. */
  const changes = async (fn: () => Promise<unknown>): Promise<Change[]> => {
    const before = await lastOutboxId(node.client);
    await fn();
    const { rows } = await run(
      `SELECT object_operation, object_id, object_id_old, row_cl, row_cl_old, change_version, object_attribute, object_value
       FROM ds_change_outbox WHERE id > ? ORDER BY id`,
      [before],
    );
    return rows.map((r) => ({
      op: String(r.object_operation),
      key: String(r.object_id),
      keyOld: r.object_id_old as string | null,
      cl: Number(r.row_cl),
      clOld: r.row_cl_old === null ? null : Number(r.row_cl_old),
      version: Number(r.change_version),
      attributes: String(r.object_attribute),
      values: r.object_value === null ? null : JSON.parse(String(r.object_value)),
    }));
  };

  it("counts a row's lives in cl: insert, delete, re-insert, update, key change there and back, replace, delete", async () => {
    const steps: Array<[string, Partial<Change>]> = [
      ["INSERT INTO sales_order (order_id, quantity) VALUES ('life', 1)", { op: 'I', key: '"life"', cl: 1, clOld: null }],
      ["DELETE FROM sales_order WHERE order_id = 'life'", { op: 'D', key: '"life"', cl: 2 }],
      ["INSERT INTO sales_order (order_id, quantity) VALUES ('life', 2)", { op: 'I', key: '"life"', cl: 3 }],
      ["UPDATE sales_order SET quantity = 3 WHERE order_id = 'life'", { op: 'U', key: '"life"', keyOld: null, cl: 3, clOld: null }],
      ["UPDATE sales_order SET order_id = 'life2' WHERE order_id = 'life'", { op: 'U', key: '"life2"', keyOld: '"life"', cl: 1, clOld: 4 }],
      ["UPDATE sales_order SET order_id = 'life' WHERE order_id = 'life2'", { op: 'U', key: '"life"', keyOld: '"life2"', cl: 5, clOld: 2 }],
      // REPLACE deletes the live row without a delete trigger (recursive_triggers is off): the insert skips to the next odd cl.
      ["REPLACE INTO sales_order (order_id, quantity) VALUES ('life', 4)", { op: 'I', key: '"life"', cl: 7 }],
      ["DELETE FROM sales_order WHERE order_id = 'life'", { op: 'D', key: '"life"', cl: 8 }],
    ];
    let last = 0;
    for (const [sql, wanted] of steps) {
      const [change, ...more] = await changes(() => run(sql));
      expect(more).toEqual([]);
      expect([sql, change]).toEqual([sql, expect.objectContaining(wanted)]);
      expect(change.version).toBeGreaterThan(last);
      last = change.version;
      const now = await entry('sales_order', change.key);
      expect(now).toMatchObject({ cl: change.cl, max_version: change.version });
      if (change.op !== 'U' || change.keyOld !== null)
        expect(now).toMatchObject({ base_version: change.version, base_server: SERVER, col_versions: {} });
      if (change.keyOld !== null) {
        expect(await entry('sales_order', change.keyOld)).toEqual({
          cl: change.clOld,
          max_version: change.version,
          base_version: change.version,
          base_server: SERVER,
          col_versions: {},
        });
      }
    }
  });

  it('versions each updated column, keeps the base, and starts over at the next insert', async () => {
    const [insert] = await changes(() => run("INSERT INTO sales_order (order_id, quantity, description) VALUES ('cv', 1, 'a')"));
    const [u1] = await changes(() => run("UPDATE sales_order SET quantity = 2, description = 'b' WHERE order_id = 'cv'"));
    expect(u1.attributes).toBe('description,quantity');
    expect(await entry('sales_order', '"cv"')).toEqual({
      cl: 1,
      max_version: u1.version,
      base_version: insert.version,
      base_server: SERVER,
      col_versions: { description: [u1.version, SERVER], quantity: [u1.version, SERVER] },
    });
    const [u2] = await changes(() =>
      run("UPDATE sales_order SET quantity = 3, customer_id = 'c', description = NULL WHERE order_id = 'cv'"),
    );
    expect(await changes(() => run("UPDATE sales_order SET quantity = 3 WHERE order_id = 'cv'"))).toEqual([]);
    const [u3] = await changes(() => run("UPDATE sales_order SET order_type = 'x' WHERE order_id = 'cv'"));
    expect(u2.version).toBeGreaterThan(u1.version);
    expect(await entry('sales_order', '"cv"')).toEqual({
      cl: 1,
      max_version: u3.version,
      base_version: insert.version,
      base_server: SERVER,
      col_versions: {
        description: [u2.version, SERVER],
        quantity: [u2.version, SERVER],
        customer_id: [u2.version, SERVER],
        order_type: [u3.version, SERVER],
      },
    });
    const { rows } = await run('SELECT col_versions FROM ds_row_version WHERE row_key = \'"cv"\'');
    expect(String(rows[0].col_versions)).not.toMatch(/\s/);
    await run("DELETE FROM sales_order WHERE order_id = 'cv'");
    const [again] = await changes(() => run("INSERT INTO sales_order (order_id) VALUES ('cv')"));
    expect(await entry('sales_order', '"cv"')).toEqual({
      cl: 3,
      max_version: again.version,
      base_version: again.version,
      base_server: SERVER,
      col_versions: {},
    });
  });

  it('gives a row first seen by an update (inserted while capture was silenced) cl 1 and base (0, "")', async () => {
    await node.client.transaction(async (tx) => {
      await node.dialect.silenceCapture(tx, true);
      await tx.query("INSERT INTO sales_order (order_id) VALUES ('unseen')");
    });
    expect(await entry('sales_order', '"unseen"')).toBeNull();
    const [u] = await changes(() => run("UPDATE sales_order SET quantity = 1 WHERE order_id = 'unseen'"));
    expect(u).toMatchObject({ op: 'U', cl: 1 });
    expect(await entry('sales_order', '"unseen"')).toEqual({
      cl: 1,
      max_version: u.version,
      base_version: 0,
      base_server: '',
      col_versions: { quantity: [u.version, SERVER] },
    });
  });

  it('versions columns whose names need quoting in JSON', async () => {
    await run(`INSERT INTO "Odd Names" ("Key Col") VALUES (1)`);
    const [u] = await changes(() => run(`UPDATE "Odd Names" SET "it's" = 'x', "back\`tick" = 'y', "[bracket]" = 'z' WHERE "Key Col" = 1`));
    expect((await entry('Odd Names', '1'))!.col_versions).toEqual({
      "it's": [u.version, SERVER],
      'back`tick': [u.version, SERVER],
      '[bracket]': [u.version, SERVER],
    });
  });

  it('runs the clock past a version from the future (hybrid logical clock)', async () => {
    const [insert] = await changes(() => run("INSERT INTO sales_order (order_id) VALUES ('hlc')"));
    const future = insert.version + TEN_YEARS;
    await run("UPDATE ds_row_version SET max_version = ? WHERE table_name = 'sales_order' AND row_key = '\"hlc\"'", [future]);
    const [u1] = await changes(() => run("UPDATE sales_order SET quantity = 1 WHERE order_id = 'hlc'"));
    const [u2] = await changes(() => run("UPDATE sales_order SET quantity = 2 WHERE order_id = 'hlc'"));
    const [d] = await changes(() => run("DELETE FROM sales_order WHERE order_id = 'hlc'"));
    expect([u1.version, u2.version, d.version]).toEqual([future + 1, future + 2, future + 3]);
    expect(await entry('sales_order', '"hlc"')).toEqual({
      cl: 2,
      max_version: future + 3,
      base_version: future + 3,
      base_server: SERVER,
      col_versions: {},
    });

    // A key change onto a key whose tombstone is from the future: one v above both entries.
    await run("INSERT INTO sales_order (order_id) VALUES ('hlc-a')");
    await run("INSERT INTO ds_row_version VALUES ('sales_order', '\"hlc-b\"', 2, ?, ?, 'elsewhere', '{}')", [future + 50, future + 50]);
    const [k] = await changes(() => run("UPDATE sales_order SET order_id = 'hlc-b' WHERE order_id = 'hlc-a'"));
    expect(k).toMatchObject({ key: '"hlc-b"', keyOld: '"hlc-a"', cl: 3, clOld: 2, version: future + 51 });
    expect(await entry('sales_order', '"hlc-a"')).toMatchObject({ cl: 2, max_version: future + 51, base_version: future + 51 });
    expect(await entry('sales_order', '"hlc-b"')).toEqual({
      cl: 3,
      max_version: future + 51,
      base_version: future + 51,
      base_server: SERVER,
      col_versions: {},
    });
    // And the old key's entry from the future lifts the new key's version just the same.
    const [back] = await changes(() => run("UPDATE sales_order SET order_id = 'hlc-c' WHERE order_id = 'hlc-b'"));
    expect(back).toMatchObject({ key: '"hlc-c"', cl: 1, clOld: 4, version: future + 52 });
  });

  it("moves each row's own entry when one statement touches many rows", async () => {
    const n = 60;
    const inserted = await changes(() =>
      run(
        `WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ${n}) INSERT INTO sales_order (order_id, quantity) SELECT 'm' || n, n FROM i`,
      ),
    );
    expect(inserted.map((c) => [c.op, c.key, c.cl])).toEqual(Array.from({ length: n }, (_, i) => ['I', `"m${i + 1}"`, 1]));
    const updated = await changes(() =>
      run("UPDATE sales_order SET quantity = quantity * 10, description = 'many' WHERE order_id LIKE 'm%'"),
    );
    expect(updated).toHaveLength(n);
    for (const u of updated) {
      const e = await entry('sales_order', u.key);
      expect(e).toMatchObject({
        cl: 1,
        max_version: u.version,
        col_versions: { quantity: [u.version, SERVER], description: [u.version, SERVER] },
      });
    }
    const moved = await changes(() => run("UPDATE sales_order SET order_id = order_id || '-x' WHERE order_id LIKE 'm%'"));
    expect(moved).toHaveLength(n);
    for (const k of moved) {
      const i = Number(/^"m(\d+)-x"$/.exec(k.key)![1]);
      expect(k).toMatchObject({ keyOld: `"m${i}"`, cl: 1, clOld: 2, attributes: 'order_id' });
      expect(k.values).toMatchObject({ order_id: `m${i}-x`, quantity: i * 10, description: 'many', customer_id: null });
      expect(await entry('sales_order', k.keyOld!)).toMatchObject({ cl: 2, max_version: k.version });
    }
    const deleted = await changes(() => run("DELETE FROM sales_order WHERE order_id LIKE 'm%-x'"));
    expect(deleted.map((d) => [d.op, d.cl])).toEqual(Array.from({ length: n }, () => ['D', 2]));
    const { rows } = await run(
      "SELECT count(*) AS live FROM ds_row_version WHERE table_name = 'sales_order' AND row_key LIKE '\"m%' AND cl % 2 = 1",
    );
    expect(rows[0].live).toBe(0);
  });

  it('follows a chain of key moves inside one statement (a → c, then b → a)', async () => {
    await run("INSERT INTO sales_order (order_id, quantity) VALUES ('sw-a', 1), ('sw-b', 2)");
    const moved = await changes(() =>
      run("UPDATE sales_order SET order_id = CASE order_id WHEN 'sw-a' THEN 'sw-c' ELSE 'sw-a' END WHERE order_id IN ('sw-a', 'sw-b')"),
    );
    expect(moved.map((m) => [m.key, m.keyOld, m.cl, m.clOld, m.values!.quantity])).toEqual([
      ['"sw-c"', '"sw-a"', 1, 2, 1],
      ['"sw-a"', '"sw-b"', 3, 2, 2],
    ]);
    expect((await entry('sales_order', '"sw-a"'))!.cl).toBe(3);
  });
});

/**
 * Keys that are hard to spell: the triggers must write exactly canonicalKeyText of the
 * stored row, in object_id, object_id_old and ds_row_version.row_key.
 */
describe('sqlite capture spells every key as canonicalKeyText', () => {
  const TEXTS = [`it's "q" \\ \\" \n\t\r\b\f\u0001\u001f\u007f\u2028 ünïcødé 😀 </script>`, '', ' ', '\\', '"', '{"a":1}', 'null', '0'];
  /**
   * Doubles in a DECIMAL key (NUMERIC affinity keeps a REAL): spelled by value without
   * exponent. Each has at most 15 significant digits, the range the triggers spell exactly
   * and all a DECIMAL column keeps (float keys, which need 17 at times, are refused at
   * generation: see below). 5e-324 is subnormal: its 15-digit rounding is not its spelling.
   */
  const REALS = [
    1.5, 100, -0.25, 0.1, 1e21, 1e-7, 123456.789, 2.5e-300, -1e100, 0.333333333333333, 2e-7, 1e-6, 123e20, -0.01, 12345678.99, 1.5e308,
    5e-324, -123456789.012345,
  ];
  /** Decimals that fit NUMERIC(16, 4), so that object_value holds them unrounded (composite keys, key changes). */
  const FITTING = [1.5, 100, -0.25, 0.1, 12345678.99, 7, -3.125, 0.0625];
  const INTEGERS = [0n, -1n, 9007199254740993n, -(2n ** 63n), 2n ** 63n - 1n];
  const BLOBS = [
    Buffer.alloc(0),
    Buffer.from([0]),
    Buffer.from([255, 254]),
    Buffer.from('abc'),
    Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256)),
  ];
  let node: SyncNode;
  let tables: Record<string, TableSchema>;

  beforeAll(async () => {
    node = await createSyncNode('sqlite');
    await node.client.exec(`
      CREATE TABLE k_composite (t TEXT, i INTEGER, d NUMERIC(16, 4), b BLOB, v TEXT, PRIMARY KEY (t, i, d, b));
      CREATE TABLE k_text (t TEXT PRIMARY KEY, v TEXT);
      CREATE TABLE k_real (r NUMERIC PRIMARY KEY, v TEXT);
      CREATE TABLE k_char (c CHAR(6) PRIMARY KEY, v TEXT);
      CREATE TABLE k_when (d DATE, ts TIMESTAMP, tz TIMESTAMPTZ, tm TIME, v TEXT, PRIMARY KEY (d, ts, tz, tm));
      CREATE TABLE k_big (i BIGINT PRIMARY KEY, v TEXT);
      CREATE TABLE k_blob (b BLOB PRIMARY KEY, v TEXT);
      CREATE TABLE k_dec (d DECIMAL(10, 2) PRIMARY KEY, v TEXT);
      CREATE TABLE k_uuid (u UUID PRIMARY KEY, v TEXT);`);
    const names = ['k_composite', 'k_text', 'k_real', 'k_big', 'k_blob', 'k_dec', 'k_uuid', 'k_char', 'k_when'];
    const config = parseConfig(
      { nodes: { sqlite: { dialect: 'sqlite', url: node.db.url, serverId: SERVER } }, tables: names, generatedDir: node.generatedDir },
      node.generatedDir,
      null,
      {},
    );
    writeFiles(
      join(node.generatedDir, 'sqlite'),
      generateNode(config, config.nodes.sqlite, node.dialect, await introspectTables(config, node.dialect, node.client)),
    );
    await applyNode(config, config.nodes.sqlite, node.dialect, node.client);
    tables = Object.fromEntries((await introspectTables(config, node.dialect, node.client)).map((t) => [t.name, t]));
  });
  afterAll(async () => node?.close());

  /** Each stored row's key in TS (canonicalKeyText and the dialect's keyJson), beside the trigger's object_id and the entry's row_key. */
  async function spellings(table: string) {
    const schema = tables[table];
    const { rows } = await node.client.query<Row>(`SELECT * FROM ${table} ORDER BY rowid`);
    const { rows: ids } = await node.client.query<Row>(
      `SELECT object_id FROM ds_change_outbox WHERE object_table = ? AND object_operation = 'I' ORDER BY id`,
      [table],
    );
    const { rows: entries } = await node.client.query<Row>(`SELECT row_key FROM ds_row_version WHERE table_name = ? ORDER BY row_key`, [
      table,
    ]);
    const ts = rows.map((row) => {
      const key: ValueMap = Object.fromEntries(
        schema.primaryKey.map((k) => [k, node.dialect.fromDriver(schema.columns.find((c) => c.name === k)!, row[k])]),
      );
      expect(node.dialect.keyJson(schema, key)).toBe(canonicalKeyText(schema, key));
      return canonicalKeyText(schema, key);
    });
    return { ts, ids: ids.map((r) => String(r.object_id)), entries: entries.map((e) => String(e.row_key)) };
  }

  async function expectSameSpelling(table: string, count: number) {
    const { ts, ids, entries } = await spellings(table);
    expect(ts).toHaveLength(count);
    expect(ids).toEqual(ts);
    expect(entries).toEqual([...ts].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    for (const id of ids) expect(() => JSON.parse(id)).not.toThrow();
  }

  it('text, integer, decimal, char(n), date/time and binary keys, alone and composite', async () => {
    for (const t of TEXTS) await node.client.query('INSERT INTO k_text VALUES (?, ?)', [t, 'v']);
    for (const r of REALS) await node.client.query('INSERT INTO k_real VALUES (?, ?)', [r, 'v']);
    for (const i of INTEGERS) await node.client.query('INSERT INTO k_big VALUES (?, ?)', [i, 'v']);
    for (const b of BLOBS) await node.client.query('INSERT INTO k_blob VALUES (?, ?)', [b, 'v']);
    for (const d of ['10.5', '-0.01', '7', '12345678.99', '-0', '0.10', '9007199254740993', '-9223372036854775808'])
      await node.client.query('INSERT INTO k_dec VALUES (?, ?)', [d, 'v']);
    for (const c of ['ab    ', 'x', ' lead', '']) await node.client.query('INSERT INTO k_char VALUES (?, ?)', [c, 'v']);
    const WHEN = [
      ['2024-02-29', '2024-02-29 12:34:56.789', '2024-02-29 23:30:00+02:00', '08:00'],
      ['1999-12-31', '1999-12-31T23:59:59', '2000-01-01 00:00:00.123456Z', '23:59:59.999999'],
    ];
    for (const w of WHEN) await node.client.query('INSERT INTO k_when VALUES (?, ?, ?, ?, ?)', [...w, 'v']);
    let count = 0;
    for (const [i, t] of TEXTS.entries()) {
      await node.client.query('INSERT INTO k_composite VALUES (?, ?, ?, ?, ?)', [
        t,
        INTEGERS[i % INTEGERS.length],
        FITTING[i],
        BLOBS[i % BLOBS.length],
        'v',
      ]);
      count++;
    }
    await expectSameSpelling('k_text', TEXTS.length);
    await expectSameSpelling('k_real', REALS.length);
    await expectSameSpelling('k_big', INTEGERS.length);
    await expectSameSpelling('k_blob', BLOBS.length);
    await expectSameSpelling('k_dec', 8);
    await expectSameSpelling('k_char', 4);
    await expectSameSpelling('k_when', WHEN.length);
    await expectSameSpelling('k_composite', count);
    const { rows } = await node.client.query<Row>(
      "SELECT object_id FROM ds_change_outbox WHERE object_table = 'k_composite' ORDER BY id LIMIT 1",
    );
    expect(String(rows[0].object_id)).toMatch(/^\{"t":".*","i":0,"d":"1\.5","b":""\}$/s);
  });

  it('spells the old and the new key of a key change the same way', async () => {
    const schema = tables.k_composite;
    const before = await lastOutboxId(node.client);
    await node.client.query("UPDATE k_composite SET t = t || '\\\"x', d = d * 2 WHERE i = 0");
    const { rows } = await node.client.query<Row>(
      'SELECT object_id, object_id_old, object_value FROM ds_change_outbox WHERE id > ? ORDER BY id',
      [before],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const value = JSON.parse(String(row.object_value)) as ValueMap;
      expect(row.object_id).toBe(canonicalKeyText(schema, value));
      const old = JSON.parse(String(row.object_id_old)) as ValueMap;
      expect(row.object_id_old).toBe(canonicalKeyText(schema, old));
      expect(`${old.t}\\"x`).toBe(value.t);
    }
  });

  it('refuses a float key at generation rather than spell it wrong now and then', async () => {
    await node.client.exec('CREATE TABLE k_float (r DOUBLE PRECISION PRIMARY KEY, v TEXT)');
    const config = parseConfig(
      {
        nodes: { sqlite: { dialect: 'sqlite', url: node.db.url, serverId: SERVER } },
        tables: ['k_float'],
        generatedDir: node.generatedDir,
      },
      node.generatedDir,
      null,
      {},
    );
    const schemas = await introspectTables(config, node.dialect, node.client);
    expect(() => generateNode(config, config.nodes.sqlite, node.dialect, schemas)).toThrow(
      /key column r of table k_float cannot be captured on SQLite: it is DOUBLE PRECISION, a float/,
    );
  });

  it('treats a UUID key rewritten in another case as the same key: an update, not a key change', async () => {
    await node.client.query("INSERT INTO k_uuid VALUES ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'v')");
    const before = await lastOutboxId(node.client);
    await node.client.query('UPDATE k_uuid SET u = lower(u)');
    const { rows } = await node.client.query<Row>(
      'SELECT object_id, object_id_old, object_attribute, row_cl, row_cl_old FROM ds_change_outbox WHERE id > ?',
      [before],
    );
    expect(rows).toEqual([
      { object_id: '"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"', object_id_old: null, object_attribute: 'u', row_cl: 1, row_cl_old: null },
    ]);
  });

  it('spells keys the same in the sqlite3 shell (an older SQLite) when it is installed', async (context) => {
    if (spawnSync('sqlite3', ['--version']).error) {
      if (REQUIRE_SERVERS)
        throw new Error('DSYNC_REQUIRE_SERVERS is set and the sqlite3 command-line shell is not installed (apt-get install -y sqlite3)');
      console.warn(
        'skipping the sqlite3 shell key spellings: the sqlite3 command-line shell is not installed (apt-get install -y sqlite3)',
      );
      context.skip();
    }
    await node.client.query('DELETE FROM k_real');
    const before = await lastOutboxId(node.client);
    const sql = REALS.map((r) => `INSERT INTO k_real VALUES (${r}, 'v');`).join('\n');
    const shell = spawnSync('sqlite3', ['-bail', node.db.url], { input: sql, encoding: 'utf8' });
    expect(shell.stderr).toBe('');
    const { ts } = await spellings('k_real');
    const { rows } = await node.client.query<Row>(
      "SELECT object_id FROM ds_change_outbox WHERE id > ? AND object_operation = 'I' ORDER BY id",
      [before],
    );
    expect(rows.map((r) => r.object_id)).toEqual(ts);
  });
});
