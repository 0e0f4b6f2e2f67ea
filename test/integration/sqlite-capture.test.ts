/**
 * The SQLite capture triggers, row by row: the exact outbox rows (every column, JSON
 * parsed) for the changes and values that are hard on SQLite: no types (dates, booleans
 * and decimals are text, 0/1 and REAL), no base64 function, integers beyond 2^53,
 * values written by other SQLite clients, the origin flag and the import's capture
 * switch with their transaction scope, and names that need quoting.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { REQUIRE_SERVERS } from '../helpers/databases.ts';
import { createSyncNode, lastOutboxId, type SyncNode } from '../helpers/sync-node.ts';
import { SEED_ORDER } from '../helpers/seed-order.ts';
import { setOriginFlag } from '../helpers/origin-flag.ts';

const ORDER: ValueMap = { ...SEED_ORDER, order_id: 'ord1' };
const ORDER_COLUMNS = Object.keys(ORDER).join(',');
const HOSTILE = `it's ~ "q" \`b\` [x] ; -- \\ \\' \n\t\u0001 ünïcødé 😀`;
const UTC_MICROS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/;

/** An outbox row with its JSON columns parsed. */
type OutboxRow = Row & { object_value: Record<string, unknown>; object_value_old: Record<string, unknown> | null };

/** Now in µs, at SQLite's millisecond precision. */
const nowMicros = () => Date.now() * 1000;

/**
 * Raw outbox rows after `afterId`, JSON columns parsed; id, update_datetime and
 * change_version checked apart (the version is the clock's, in µs, between `since` and now;
 * a few µs more when two changes of a row fall in one millisecond: max_version + 1).
 */
async function rawRows(client: DbClient, afterId: number, since = 0): Promise<OutboxRow[]> {
  const { rows } = await client.query<Row>('SELECT * FROM ds_change_outbox WHERE id > ? ORDER BY id', [afterId]);
  const parse = (v: unknown) => (v === null ? null : JSON.parse(String(v)));
  const until = nowMicros() + 1000;
  return rows.map((r) => {
    expect(String(r.update_datetime)).toMatch(UTC_MICROS);
    expect(Number.isSafeInteger(r.change_version)).toBe(true);
    expect(Number(r.change_version)).toBeGreaterThanOrEqual(since);
    expect(Number(r.change_version)).toBeLessThanOrEqual(until);
    return {
      ...r,
      id: undefined,
      object_id: parse(r.object_id),
      object_id_old: parse(r.object_id_old),
      object_value: parse(r.object_value),
      object_value_old: parse(r.object_value_old),
      update_datetime: undefined,
      change_version: undefined,
    };
  });
}

const local = (extra: Row): Row => ({
  object_database: 'sqlite',
  object_id_old: null,
  object_value_old: null,
  object_value: null,
  object_operation_command: null,
  updated_by_server_id: 'fixture-lite',
  updated_by_user_id: null,
  note1: null,
  origin_change_id: null,
  txn_id: null,
  id: undefined,
  update_datetime: undefined,
  change_version: undefined,
  row_cl: 1,
  row_cl_old: null,
  ...extra,
});

describe('sqlite capture, exact outbox rows', () => {
  let node: SyncNode;
  const t = (name: string) => node.tables[name];
  const after = async (fn: () => Promise<unknown>) => {
    const before = await lastOutboxId(node.client);
    const since = nowMicros() - 1000;
    await fn();
    return rawRows(node.client, before, since);
  };

  beforeAll(async () => {
    node = await createSyncNode('sqlite');
  });
  afterAll(async () => node?.close());

  it('applies a second time as a no-op', async () => {
    const node2 = node.config.nodes.sqlite;
    const again = await applyNode(node.config, node2, node.dialect, node.client);
    expect(again.steps.map((s) => s.status)).toEqual(again.steps.map(() => 'skipped'));
  });

  it('records an insert with every column', async () => {
    expect(await after(() => insertRow(node.client, t('sales_order'), ORDER))).toEqual([
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: ORDER_COLUMNS,
        object_id: 'ord1',
        object_value: { ...ORDER, update_datetime: '2025-06-25T10:30:00.000000' },
        object_operation: 'I',
      }),
    ]);
  });

  it('writes nothing for an update that changes nothing, and only the changed columns otherwise', async () => {
    expect(
      await after(() => updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { description: 'old order', quantity: 100 })),
    ).toEqual([]);
    expect(await after(() => node.client.query("UPDATE sales_order SET quantity = quantity WHERE order_id = 'ord1'"))).toEqual([]);
    expect(
      await after(() =>
        updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { description: 'change1', quantity: 7, order_type: 'wholesale' }),
      ),
    ).toEqual([
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: 'description,quantity',
        object_id: 'ord1',
        object_value: { description: 'change1', quantity: 7 },
        object_value_old: { description: 'old order', quantity: 100 },
        object_operation: 'U',
      }),
    ]);
  });

  it('records NULL to a value and back', async () => {
    const rows = await after(async () => {
      await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { customer_id: null });
      await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { customer_id: 'c9' });
    });
    expect(rows.map((r) => [r.object_attribute, r.object_value, r.object_value_old])).toEqual([
      ['customer_id', { customer_id: null }, { customer_id: 'c1' }],
      ['customer_id', { customer_id: 'c9' }, { customer_id: null }],
    ]);
  });

  it('records a key change with the old key, and a delete with the whole old row', async () => {
    expect(await after(() => updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { order_id: 'ord2' }))).toEqual([
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: 'order_id',
        object_id: 'ord2',
        object_id_old: 'ord1',
        object_value: {
          ...ORDER,
          order_id: 'ord2',
          description: 'change1',
          quantity: 7,
          customer_id: 'c9',
          update_datetime: '2025-06-25T10:30:00.000000',
        },
        object_value_old: { order_id: 'ord1' },
        object_operation: 'U',
        row_cl: 1,
        row_cl_old: 2,
      }),
    ]);
    expect(await after(() => deleteRow(node.client, t('sales_order'), { order_id: 'ord2' }))).toEqual([
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: ORDER_COLUMNS,
        object_id: 'ord2',
        object_operation: 'D',
        object_value_old: {
          ...ORDER,
          order_id: 'ord2',
          description: 'change1',
          quantity: 7,
          customer_id: 'c9',
          update_datetime: '2025-06-25T10:30:00.000000',
        },
        row_cl: 2,
      }),
    ]);
  });

  it('keeps hostile and large text exactly', async () => {
    const big = 'x'.repeat(50_000) + '😀'.repeat(12_500);
    const [row] = await after(() => insertRow(node.client, t('type_zoo'), { id: 1, c_text: big, c_varchar: HOSTILE, c_char: '' }));
    expect(row.object_value.c_text).toBe(big);
    expect(row.object_value.c_varchar).toBe(HOSTILE);
    expect(row.object_value.c_char).toBe('');
    const [upd] = await after(() => updateRow(node.client, t('type_zoo'), { id: 1 }, { c_varchar: 'ABC' }));
    expect(upd).toMatchObject({
      object_attribute: 'c_varchar',
      object_value: { c_varchar: 'ABC' },
      object_value_old: { c_varchar: HOSTILE },
    });
  });

  it('encodes binary as base64, in SQL, for every length and byte', async () => {
    const cases = [
      Buffer.alloc(0),
      Buffer.from([0]),
      Buffer.from([0, 1]),
      Buffer.from([255, 254, 253]),
      Buffer.from([1, 2, 3, 4]),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.from('x'.repeat(100_003)),
    ];
    for (const [i, bytes] of cases.entries()) {
      const [row] = await after(() => insertRow(node.client, t('type_zoo'), { id: 100 + i, c_bytea: bytes.toString('base64') }));
      expect(row.object_value.c_bytea).toBe(bytes.toString('base64'));
    }
    const [upd] = await after(() => updateRow(node.client, t('type_zoo'), { id: 103 }, { c_bytea: null }));
    expect(upd).toMatchObject({ object_value: { c_bytea: null }, object_value_old: { c_bytea: '//79' } });
  });

  it('encodes numbers, booleans, decimals and big integers canonically', async () => {
    const values: ValueMap = {
      id: 2,
      c_smallint: -32768,
      c_int: 2147483647,
      c_bigint: '9007199254740993',
      c_decimal: '-0.000001',
      c_float: 0.30000000000000004,
      c_real: -1.7976931348623157e308,
      c_bool: true,
    };
    const [row] = await after(() => insertRow(node.client, t('type_zoo'), values));
    expect(row.object_value).toMatchObject({ ...values, c_decimal: '-0.000001' });
    const [upd] = await after(() =>
      updateRow(
        node.client,
        t('type_zoo'),
        { id: 2 },
        { c_bigint: '-9223372036854775808', c_decimal: '12345.5', c_bool: false, c_float: 'Infinity' },
      ),
    );
    expect(upd.object_value).toEqual({ c_bigint: '-9223372036854775808', c_decimal: '12345.500000', c_bool: false, c_float: 'Infinity' });
    expect(upd.object_value_old).toEqual({
      c_bigint: '9007199254740993',
      c_decimal: '-0.000001',
      c_bool: true,
      c_float: 0.30000000000000004,
    });
    const [safe] = await after(() => updateRow(node.client, t('type_zoo'), { id: 2 }, { c_bigint: 9007199254740991, c_decimal: '7' }));
    expect(safe.object_value).toEqual({ c_bigint: 9007199254740991, c_decimal: '7.000000' });
  });

  it('encodes dates, times, timestamps, JSON and UUIDs canonically', async () => {
    const values: ValueMap = {
      id: 3,
      c_date: '1969-07-20',
      c_time: '20:17:40.000001',
      c_timestamp: '2025-06-25T10:30:00.500001',
      c_timestamptz: '2016-12-31T23:59:59.999999Z',
      c_json: '{"a":[1,2.5,"x",null,true]}',
      c_uuid: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    };
    const [row] = await after(() => insertRow(node.client, t('type_zoo'), values));
    expect(row.object_value).toMatchObject({ ...values, c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' });
    const stored = (await node.client.query<Row>('SELECT c_timestamp, c_timestamptz FROM type_zoo WHERE id = 3')).rows[0];
    expect(stored).toEqual({ c_timestamp: '2025-06-25 10:30:00.500001', c_timestamptz: '2016-12-31 23:59:59.999999Z' });
  });

  it('normalizes the date and time spellings applications write, and passes anything else through as text', async () => {
    const cases: Array<[string, unknown, unknown]> = [
      ['c_timestamp', '2024-01-02 03:04:05', '2024-01-02T03:04:05.000000'],
      ['c_timestamp', '2024-01-02T03:04:05.1234567', '2024-01-02T03:04:05.123456'],
      ['c_timestamp', '2024-01-02 03:04', '2024-01-02T03:04:00.000000'],
      ['c_timestamp', '2024-01-02', '2024-01-02T00:00:00.000000'],
      ['c_timestamp', '2024-01-02T03:04:05.000Z', '2024-01-02T03:04:05.000000'],
      ['c_timestamptz', '2024-01-02 03:04:05.5+0530', '2024-01-01T21:34:05.500000Z'],
      ['c_timestamptz', '2024-01-02 23:04:05-02', '2024-01-03T01:04:05.000000Z'],
      ['c_timestamptz', '2024-01-02 03:04:05 +01:00', '2024-01-02T02:04:05.000000Z'],
      ['c_timestamptz', '2024-01-02 03:04:05', '2024-01-02T03:04:05.000000Z'],
      ['c_date', '2024-01-02 10:00:00', '2024-01-02'],
      ['c_time', '10:11', '10:11:00.000000'],
      ['c_time', '10:11:12.5', '10:11:12.500000'],
      ['c_bool', 'true', true],
      ['c_bool', 'F', false],
      ['c_timestamp', '2024-02-30 03:04:05', '2024-02-30 03:04:05'],
      ['c_timestamp', 'now', 'now'],
      ['c_date', '2024-13-02', '2024-13-02'],
      ['c_bool', 2, '2'],
      ['c_int', 1.5, '1.5'],
      ['c_decimal', 'abc', 'abc'],
      // The spellings the fast path takes (one GLOB, then substr), and its edges, which fall to the full parse.
      ['c_timestamp', '2024-01-02T03:04:05', '2024-01-02T03:04:05.000000'],
      ['c_timestamp', '2024-01-02 03:04:05.123456', '2024-01-02T03:04:05.123456'],
      ['c_timestamp', '2024-02-30 03:04:05.123456', '2024-02-30 03:04:05.123456'],
      ['c_timestamp', '2024-01-02 03:04:05.12345', '2024-01-02T03:04:05.123450'],
      ['c_timestamp', '2024-01-02 03:04:05Z', '2024-01-02T03:04:05.000000'],
      ['c_date', '2024-01-02', '2024-01-02'],
      ['c_date', '2024-02-30', '2024-02-30'],
      ['c_time', '10:11:12', '10:11:12.000000'],
      ['c_time', '10:11:12.654321', '10:11:12.654321'],
      ['c_time', '10:71:12', '10:71:12'],
    ];
    for (const [i, [column, written, wanted]] of cases.entries()) {
      const [row] = await after(() => node.client.query(`INSERT INTO type_zoo (id, ${column}) VALUES (?, ?)`, [200 + i, written]));
      expect([column, written, row.object_value[column]]).toEqual([column, written, wanted]);
    }
  });

  it('captures writes of any SQLite client: the triggers need no function of dsync', async () => {
    const other = new Database(node.db.url);
    try {
      other
        .prepare('INSERT INTO type_zoo (id, c_bytea, c_bool, c_bigint) VALUES (?, ?, ?, ?)')
        .run(300, Buffer.from([9, 8, 7, 6]), 1, 2n ** 62n);
    } finally {
      other.close();
    }
    const { rows } = await node.client.query<Row>(
      'SELECT object_value FROM ds_change_outbox WHERE id = (SELECT max(id) FROM ds_change_outbox)',
    );
    expect(JSON.parse(String(rows[0].object_value))).toMatchObject({
      id: 300,
      c_bytea: 'CQgHBg==',
      c_bool: true,
      c_bigint: String(2n ** 62n),
    });
  });

  it('handles a composite key, and keyJson spells object_id as the triggers do', async () => {
    const rows = await after(async () => {
      await insertRow(node.client, t('order_line'), { order_id: 'o"1', line_no: 1, product: 'p', amount: '10.5' });
      await updateRow(node.client, t('order_line'), { order_id: 'o"1', line_no: 1 }, { line_no: 2 });
    });
    expect(rows[0]).toMatchObject({ object_id: { order_id: 'o"1', line_no: 1 }, object_value: { amount: '10.50' } });
    expect(rows[1]).toMatchObject({
      object_id: { order_id: 'o"1', line_no: 2 },
      object_id_old: { order_id: 'o"1', line_no: 1 },
      object_value: { line_no: 2 },
    });
    const { rows: ids } = await node.client.query<Row>('SELECT object_id FROM ds_change_outbox WHERE object_table = ? ORDER BY id', [
      'order_line',
    ]);
    expect(ids.at(-1)!.object_id).toBe(node.dialect.keyJson(t('order_line'), { order_id: 'o"1', line_no: 2 }));
    const [hostile] = await after(() => insertRow(node.client, t('sales_order'), { order_id: HOSTILE }));
    const { rows: last } = await node.client.query<Row>('SELECT object_id FROM ds_change_outbox ORDER BY id DESC LIMIT 1');
    expect(hostile.object_id).toBe(HOSTILE);
    expect(last[0].object_id).toBe(node.dialect.keyJson(t('sales_order'), { order_id: HOSTILE }));
  });

  it('records a key change made through the rowid, which names no key column', async () => {
    await node.client.exec("INSERT INTO type_zoo (id, c_text) VALUES (400, 'r')");
    const rows = await after(async () => {
      await node.client.exec('UPDATE type_zoo SET rowid = 401 WHERE id = 400');
      await node.client.exec('UPDATE type_zoo SET OID = 402 WHERE id = 401');
      await node.client.exec("UPDATE type_zoo SET _rowid_ = 403, c_text = 's' WHERE id = 402");
      await node.client.exec("UPDATE type_zoo SET c_text = 't' WHERE id = 403");
    });
    expect(rows.map((r) => [r.object_operation, r.object_id_old, r.object_id, r.object_value.id, r.object_value.c_text])).toEqual([
      ['U', 400, 401, 401, 'r'],
      ['U', 401, 402, 402, 'r'],
      ['U', 402, 403, 403, 's'],
      ['U', null, 403, undefined, 't'],
    ]);
  });

  it('records the origin set inside a transaction, and clears it at commit', async () => {
    const rows = await after(async () => {
      await node.client.transaction(async (tx) => {
        await setOriginFlag(tx, { serverId: 'elsewhere', changeId: 77, userId: 'u1', updatedAt: '2025-01-02T03:04:05.000006' });
        await insertRow(tx, t('sales_order'), { ...ORDER, order_id: 'from-elsewhere' });
      });
      await insertRow(node.client, t('sales_order'), { ...ORDER, order_id: 'local' });
    });
    expect(rows[0]).toMatchObject({
      object_id: 'from-elsewhere',
      updated_by_server_id: 'elsewhere',
      origin_change_id: 77,
      updated_by_user_id: 'u1',
    });
    const { rows: times } = await node.client.query<Row>(
      'SELECT update_datetime FROM ds_change_outbox WHERE object_id = \'"from-elsewhere"\'',
    );
    expect(times[0].update_datetime).toBe('2025-01-02 03:04:05.000006');
    expect(rows[1]).toMatchObject({
      object_id: 'local',
      updated_by_server_id: 'fixture-lite',
      origin_change_id: null,
      updated_by_user_id: null,
    });
    const state = await node.client.query<Row>(
      'SELECT origin_server, origin_change_id, origin_user, origin_time, capture FROM ds_sync_state',
    );
    expect(state.rows).toEqual([{ origin_server: null, origin_change_id: null, origin_user: null, origin_time: null, capture: null }]);
  });

  it('drops the origin with a rollback, and refuses to set it outside a transaction', async () => {
    await expect(
      node.client.transaction(async (tx) => {
        await setOriginFlag(tx, { serverId: 'x', changeId: 1, userId: null, updatedAt: null });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(setOriginFlag(node.client, { serverId: 'x', changeId: 1, userId: null, updatedAt: null })).rejects.toThrow(/transaction/);
    await expect(node.dialect.silenceCapture(node.client, true)).rejects.toThrow(/transaction/);
    await setOriginFlag(node.client, null);
    const [row] = await after(() => insertRow(node.client, t('sales_order'), { order_id: 'after-rollback' }));
    expect(row.updated_by_server_id).toBe('fixture-lite');
  });

  it('writes nothing while the import silences capture, for the rest of its transaction only', async () => {
    const rows = await after(async () => {
      await node.client.transaction(async (tx) => {
        await node.dialect.silenceCapture(tx, true);
        await insertRow(tx, t('sales_order'), { order_id: 'silent' });
        await tx.transaction(async (sp) => updateRow(sp, t('sales_order'), { order_id: 'silent' }, { quantity: 1 }));
      });
      await updateRow(node.client, t('sales_order'), { order_id: 'silent' }, { quantity: 2 });
    });
    expect(rows).toEqual([
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: 'quantity',
        object_id: 'silent',
        object_value: { quantity: 2 },
        object_value_old: { quantity: 1 },
        object_operation: 'U',
      }),
    ]);
  });
});

describe('sqlite capture of names that need quoting (sanitize)', () => {
  const NAMES = [
    "it's",
    'say "hi"',
    'back`tick',
    '[bracket]',
    'tilde~',
    'semi;colon',
    'back\\slash',
    'Mixed Case',
    'select',
    'end',
    'emoji😀',
  ];
  let node: SyncNode;

  beforeAll(async () => {
    node = await createSyncNode('sqlite');
  });
  afterAll(async () => node?.close());

  it('creates, captures and keeps every name exactly', async () => {
    const { ident } = node.dialect.sql;
    const table = 'Tricky "T" ~;😀';
    await node.client.exec(
      `CREATE TABLE ${ident(table)} (${ident('Key;Col')} INTEGER PRIMARY KEY, ${NAMES.map((n) => `${ident(n)} TEXT`).join(', ')})`,
    );
    const raw = {
      nodes: { sqlite: { dialect: 'sqlite', url: node.db.url, serverId: "srv'~" } },
      tables: [table],
      generatedDir: node.generatedDir,
    };
    const config = parseConfig(raw, node.generatedDir, null, {});
    const dialectNode = config.nodes.sqlite;
    writeFiles(
      join(node.generatedDir, 'sqlite'),
      generateNode(config, dialectNode, node.dialect, await introspectTables(config, node.dialect, node.client)),
    );
    await applyNode(config, dialectNode, node.dialect, node.client);
    const [schema] = await introspectTables(config, node.dialect, node.client);
    const values: ValueMap = Object.fromEntries([['Key;Col', 1], ...NAMES.map((n) => [n, `${n}=${n}'"`])]);
    const before = await lastOutboxId(node.client);
    await insertRow(node.client, schema, values);
    await updateRow(node.client, schema, { 'Key;Col': 1 }, { 'emoji😀': null, "it's": "it's" });
    const rows = await rawRows(node.client, before);
    expect(rows[0]).toMatchObject({
      object_table: table,
      object_pk_attribute: 'Key;Col',
      object_id: 1,
      object_value: values,
      updated_by_server_id: "srv'~",
    });
    expect(rows[1]).toMatchObject({ object_attribute: "it's,emoji😀", object_value: { "it's": "it's", 'emoji😀': null } });
  });
});

/**
 * Issue 9: the triggers must load and run in every SQLite from 3.35 (the README's floor),
 * not only in better-sqlite3's bundled one: an application that opens the file with an
 * older SQLite (Debian 12's sqlite3 is 3.40, and so is its Python) reads every trigger
 * when it loads the schema. The file is set up by dsync, then written by the CLI.
 */
describe('sqlite capture in the sqlite3 command-line shell (an older SQLite)', () => {
  const probe = spawnSync('sqlite3', ['--version'], { encoding: 'utf8' });
  const missing = probe.error ? 'the sqlite3 command-line shell is not installed (apt-get install -y sqlite3)' : null;
  if (missing && !REQUIRE_SERVERS) console.warn(`skipping the sqlite3 shell suite: ${missing}`);
  let node: SyncNode;

  beforeAll(async () => {
    if (missing) return;
    node = await createSyncNode('sqlite');
  });
  afterAll(async () => node?.close());

  const shell = (script: string) => {
    const run = spawnSync('sqlite3', ['-bail', node.db.url], { input: script, encoding: 'utf8' });
    return { status: run.status, stderr: run.stderr };
  };
  const order = (values: Row): Row => ({
    order_id: null,
    order_type: null,
    description: null,
    product_type_name: null,
    customer_id: null,
    quantity: null,
    order_date: null,
    update_datetime: null,
    updated_by_user: null,
    updated_by_server: null,
    ...values,
  });

  it.skipIf(missing !== null && !REQUIRE_SERVERS)('captures inserts, updates, key changes and deletes made by the shell', async () => {
    if (missing) throw new Error(`DSYNC_REQUIRE_SERVERS is set and ${missing}`);
    console.info(`sqlite3 shell ${probe.stdout.split(' ')[0]}`);
    const since = nowMicros() - 1000;
    const written = shell(`
      INSERT INTO sales_order (order_id, quantity, description) VALUES ('cli1', 1, 'x'), ('cli2', 2, 'it''s');
      UPDATE sales_order SET quantity = quantity + 1, description = 'y' WHERE order_id LIKE 'cli%';
      UPDATE sales_order SET order_id = 'cli3' WHERE order_id = 'cli1';
      DELETE FROM sales_order WHERE order_id = 'cli2';
      INSERT INTO order_line VALUES ('o"1', 7, 'p', 10.5);
      INSERT INTO type_zoo (id, c_bytea, c_json, c_bigint, c_float, c_date) VALUES (1, x'00ff10', '{"a":1}', 4611686018427387904, 1.5, '2024-01-02');
      UPDATE type_zoo SET c_bytea = x'01', c_json = '[]' WHERE id = 1;
    `);
    expect(written).toEqual({ status: 0, stderr: '' });
    const orderColumns = Object.keys(order({})).join(',');
    expect(await rawRows(node.client, 0, since)).toEqual([
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: orderColumns,
        object_id: 'cli1',
        object_operation: 'I',
        object_value: order({ order_id: 'cli1', quantity: 1, description: 'x' }),
      }),
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: orderColumns,
        object_id: 'cli2',
        object_operation: 'I',
        object_value: order({ order_id: 'cli2', quantity: 2, description: "it's" }),
      }),
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: 'description,quantity',
        object_id: 'cli1',
        object_operation: 'U',
        object_value: { description: 'y', quantity: 2 },
        object_value_old: { description: 'x', quantity: 1 },
      }),
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: 'description,quantity',
        object_id: 'cli2',
        object_operation: 'U',
        object_value: { description: 'y', quantity: 3 },
        object_value_old: { description: "it's", quantity: 2 },
      }),
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: 'order_id',
        object_id: 'cli3',
        object_id_old: 'cli1',
        object_operation: 'U',
        object_value: order({ order_id: 'cli3', quantity: 2, description: 'y' }),
        object_value_old: { order_id: 'cli1' },
        row_cl_old: 2,
      }),
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: orderColumns,
        object_id: 'cli2',
        object_operation: 'D',
        object_value_old: order({ order_id: 'cli2', quantity: 3, description: 'y' }),
        row_cl: 2,
      }),
      local({
        object_table: 'order_line',
        object_pk_attribute: 'order_id,line_no',
        object_attribute: 'order_id,line_no,product,amount',
        object_operation: 'I',
        object_id: { order_id: 'o"1', line_no: 7 },
        object_value: { order_id: 'o"1', line_no: 7, product: 'p', amount: '10.50' },
      }),
      expect.objectContaining({
        object_table: 'type_zoo',
        object_id: 1,
        object_operation: 'I',
        row_cl: 1,
        object_value: expect.objectContaining({
          c_bytea: 'AP8Q',
          c_json: '{"a":1}',
          c_bigint: '4611686018427387904',
          c_float: 1.5,
          c_date: '2024-01-02',
        }),
      }),
      expect.objectContaining({
        object_table: 'type_zoo',
        object_id: 1,
        object_operation: 'U',
        row_cl: 1,
        object_attribute: 'c_bytea,c_json',
        object_value: { c_bytea: 'AQ==', c_json: '[]' },
        object_value_old: { c_bytea: 'AP8Q', c_json: '{"a":1}' },
      }),
    ]);
    const { rows: ids } = await node.client.query<Row>("SELECT object_id FROM ds_change_outbox WHERE object_table = 'order_line'");
    expect(ids[0].object_id).toBe('{"order_id":"o\\"1","line_no":7}');
    const { rows: entries } = await node.client.query<Row>(
      'SELECT table_name, row_key, cl, base_server, col_versions FROM ds_row_version ORDER BY table_name, row_key',
    );
    const server = '"fixture-lite"]';
    expect(entries.map((e) => [e.table_name, e.row_key, e.cl, e.base_server, String(e.col_versions).replaceAll(/\[\d+,/g, '[')])).toEqual([
      ['order_line', '{"order_id":"o\\"1","line_no":7}', 1, 'fixture-lite', '{}'],
      ['sales_order', '"cli1"', 2, 'fixture-lite', '{}'],
      ['sales_order', '"cli2"', 2, 'fixture-lite', '{}'],
      ['sales_order', '"cli3"', 1, 'fixture-lite', '{}'],
      ['type_zoo', '1', 1, 'fixture-lite', `{"c_bytea":[${server},"c_json":[${server}}`],
    ]);
  });
});
