/**
 * The MySQL/MariaDB capture triggers, row by row: the exact outbox rows (every column,
 * JSON parsed) for the changes and values that are hard on MySQL: case- and pad-blind
 * collations, writers in other time zones and sql_modes, TO_BASE64's line breaks,
 * integers beyond 2^53, decimals, booleans, JSON and UUID columns, the origin flag and
 * the import's capture switch with their transaction scope. The version store behind
 * row_cl and change_version is tried in mysql-row-versions.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { generateNode, introspectTables, listGeneratedFiles, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { deleteRow, insertRow, selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { createTestDatabase, liveDialects } from '../helpers/databases.ts';
import { applyFixtureSchema, fixtureConfig } from '../helpers/fixtures.ts';
import { createSyncNode, lastOutboxId, type SyncNode } from '../helpers/sync-node.ts';
import { SEED_ORDER } from '../helpers/seed-order.ts';
import { setOriginFlag } from '../helpers/origin-flag.ts';

const live = await liveDialects();

const ORDER: ValueMap = { ...SEED_ORDER, order_id: 'ord1' };
const ORDER_COLUMNS = Object.keys(ORDER).join(',');
const HOSTILE = `it's ~ "q" \`b\` [x] ; -- \\ \\' \n\t\u0001 ünïcødé 😀`;

/** Raw outbox rows after `afterId`, JSON columns parsed, times as the driver gives them. */
async function rawRows(client: DbClient, afterId: number): Promise<Row[]> {
  const { rows } = await client.query<Row>('SELECT * FROM ds_change_outbox WHERE id > ? ORDER BY id', [afterId]);
  const parse = (v: unknown) => (v === null ? null : JSON.parse(String(v)));
  return rows.map((r) => ({
    ...r,
    id: undefined,
    object_id: parse(r.object_id),
    object_id_old: parse(r.object_id_old),
    object_value: parse(r.object_value),
    object_value_old: parse(r.object_value_old),
    update_datetime: undefined,
    row_cl: r.row_cl === null ? null : Number(r.row_cl),
    row_cl_old: r.row_cl_old === null ? null : Number(r.row_cl_old),
    change_version: r.change_version === null ? null : Number(r.change_version),
  }));
}

const local = (extra: Row): Row => ({
  object_database: 'mysql',
  object_id_old: null,
  object_value_old: null,
  object_value: null,
  object_operation_command: null,
  updated_by_server_id: 'fixture-my',
  updated_by_user_id: expect.stringMatching(/^root@/),
  note1: null,
  origin_change_id: null,
  txn_id: null,
  id: undefined,
  update_datetime: undefined,
  row_cl_old: null,
  // A version in µs of this century; mysql-row-versions.test.ts checks the clock itself.
  change_version: expect.toSatisfy((v: number) => v > 1.7e15 && v < 4.1e15),
  ...extra,
});

describe.skipIf(!live.includes('mysql'))('mysql capture, exact outbox rows', () => {
  let node: SyncNode;
  let app: DbClient;
  const t = (name: string) => node.tables[name];

  beforeAll(async () => {
    node = await createSyncNode('mysql');
    app = await node.dialect.connect(node.db.url, 'mysql');
  });
  afterAll(async () => {
    await app?.close();
    await node?.close();
  });

  it('an insert: every column, canonical, this node as origin', async () => {
    const before = await lastOutboxId(node.client);
    await insertRow(node.client, t('sales_order'), ORDER);
    expect(await rawRows(node.client, before)).toEqual([
      local({
        object_table: 'sales_order',
        object_pk_attribute: 'order_id',
        object_attribute: ORDER_COLUMNS,
        object_id: 'ord1',
        object_value: ORDER,
        object_operation: 'I',
        row_cl: 1,
      }),
    ]);
  });

  it('an update that changes nothing writes no row; one of two columns, case only, or a trailing space does', async () => {
    // A case- and pad-insensitive collation: 'old order' = 'OLD ORDER ' for the comparison operators.
    await node.client.exec('ALTER TABLE sales_order MODIFY description VARCHAR(200) COLLATE utf8mb4_general_ci');
    const before = await lastOutboxId(node.client);
    expect(await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { description: 'old order', quantity: 100 })).toBe(1);
    expect(await rawRows(node.client, before)).toEqual([]);
    await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { description: 'OLD ORDER', quantity: 7 });
    await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { description: 'OLD ORDER ' });
    const common = { object_table: 'sales_order', object_pk_attribute: 'order_id', object_id: 'ord1', object_operation: 'U', row_cl: 1 };
    expect(await rawRows(node.client, before)).toEqual([
      local({
        ...common,
        object_attribute: 'description,quantity',
        object_value: { description: 'OLD ORDER', quantity: 7 },
        object_value_old: { description: 'old order', quantity: 100 },
      }),
      local({
        ...common,
        object_attribute: 'description',
        object_value: { description: 'OLD ORDER ' },
        object_value_old: { description: 'OLD ORDER' },
      }),
    ]);
  });

  it('NULL to a value and back, then a key change with every column and the old key, then a delete with the whole old row', async () => {
    const before = await lastOutboxId(node.client);
    await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { customer_id: null });
    await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { customer_id: 'c9' });
    await updateRow(node.client, t('sales_order'), { order_id: 'ord1' }, { order_id: 'ord2' });
    await deleteRow(node.client, t('sales_order'), { order_id: 'ord2' });
    const common = { object_table: 'sales_order', object_pk_attribute: 'order_id' };
    const ord2 = { ...ORDER, order_id: 'ord2', description: 'OLD ORDER ', quantity: 7, customer_id: 'c9' };
    expect(await rawRows(node.client, before)).toEqual([
      local({
        ...common,
        object_operation: 'U',
        object_id: 'ord1',
        object_attribute: 'customer_id',
        object_value: { customer_id: null },
        object_value_old: { customer_id: 'c1' },
        row_cl: 1,
      }),
      local({
        ...common,
        object_operation: 'U',
        object_id: 'ord1',
        object_attribute: 'customer_id',
        object_value: { customer_id: 'c9' },
        object_value_old: { customer_id: null },
        row_cl: 1,
      }),
      // A key change: a delete of ord1 (cl 2) and an insert of ord2 (cl 1) with the whole new row.
      local({
        ...common,
        object_operation: 'U',
        object_id: 'ord2',
        object_id_old: 'ord1',
        object_attribute: 'order_id',
        object_value: ord2,
        object_value_old: { order_id: 'ord1' },
        row_cl: 1,
        row_cl_old: 2,
      }),
      local({ ...common, object_operation: 'D', object_id: 'ord2', object_attribute: ORDER_COLUMNS, object_value_old: ord2, row_cl: 2 }),
    ]);
  });

  it('every type family, written by an application session in another time zone and a lax sql_mode', async () => {
    await app.exec("SET time_zone = '+05:30', sql_mode = ''");
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) % 256)); // base64 past 76 characters
    const text = `${'x'.repeat(50_000)}${'😀'.repeat(12_500)}`; // 100 KB of UTF-8
    await app.query(
      `INSERT INTO type_zoo (id, c_smallint, c_int, c_bigint, c_decimal, c_float, c_real, c_bool, c_char, c_varchar, c_text, c_date, c_time,
         c_timestamp, c_timestamptz, c_bytea, c_json, c_uuid)
       VALUES (1, -32768, 2147483647, 9223372036854775807, -0.000001, 0.1, 1.5, 2, 'ab', ?, ?, '1969-07-20', '10:30:00.123456',
         '2025-06-25 10:30:00.500001', '2025-06-25 14:00:00.000001', ?, '{"a": [1, 2], "b": "x"}', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')`,
      [HOSTILE, text, bytes],
    );
    const before = (await lastOutboxId(node.client)) - 1;
    const [row] = await rawRows(node.client, before);
    expect(row.object_value).toEqual({
      id: 1,
      c_smallint: -32768,
      c_int: 2147483647,
      c_bigint: '9223372036854775807',
      c_decimal: '-0.000001',
      c_float: 0.1,
      c_real: 1.5,
      c_bool: true,
      c_char: 'ab',
      c_varchar: HOSTILE,
      c_text: text,
      c_date: '1969-07-20',
      c_time: '10:30:00.123456',
      c_timestamp: '2025-06-25T10:30:00.500001',
      c_timestamptz: '2025-06-25T08:30:00.000001Z', // 14:00 at +05:30
      c_bytea: bytes.toString('base64'),
      c_json: '{"a": [1, 2], "b": "x"}',
      c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    });
    expect(row.updated_by_user_id).toMatch(/^root@/);
    // What the driver reads back is the same canonical value.
    expect(await selectRow(node.client, t('type_zoo'), { id: 1 })).toEqual({ ...(row.object_value as Row), c_bool: true });
  });

  it('integers around 2^53 and decimals keep every digit; booleans are true and false', async () => {
    const before = await lastOutboxId(node.client);
    for (const [c_bigint, c_bool] of [
      ['9007199254740991', false],
      ['9007199254740992', true],
      ['-9007199254740993', null],
    ] as const) {
      await updateRow(node.client, t('type_zoo'), { id: 1 }, { c_bigint, c_bool, c_decimal: '12345678901234.123456' });
    }
    const values = (await rawRows(node.client, before)).map((r) => r.object_value);
    expect(values).toEqual([
      { c_bigint: 9007199254740991, c_bool: false, c_decimal: '12345678901234.123456' },
      { c_bigint: '9007199254740992', c_bool: true },
      { c_bigint: '-9007199254740993', c_bool: null },
    ]);
  });

  it('records the origin of an applied change, and forgets it when the transaction ends', async () => {
    const before = await lastOutboxId(node.client);
    await node.client.transaction(async (tx) => {
      await setOriginFlag(tx, { serverId: 'elsewhere', changeId: 77, userId: 'u1', updatedAt: '2025-01-02T03:04:05.000006Z' });
      await insertRow(tx, t('order_line'), { order_id: 'o1', line_no: 1, product: 'p', amount: '10.50' });
      // no setOrigin(null): the end of the transaction clears it
    });
    await insertRow(node.client, t('order_line'), { order_id: 'o1', line_no: 2, product: 'q', amount: null });
    const { rows } = await node.client.query<Row>(
      'SELECT object_id, updated_by_server_id, updated_by_user_id, update_datetime, origin_change_id FROM ds_change_outbox WHERE id > ? ORDER BY id',
      [before],
    );
    expect(rows[0]).toEqual({
      object_id: '{"order_id":"o1","line_no":1}',
      updated_by_server_id: 'elsewhere',
      updated_by_user_id: 'u1',
      update_datetime: '2025-01-02 03:04:05.000006',
      origin_change_id: '77',
    });
    expect(rows[1]).toMatchObject({
      object_id: '{"order_id":"o1","line_no":2}',
      updated_by_server_id: 'fixture-my',
      origin_change_id: null,
    });
  });

  it('writes nothing while the import silences capture; a rolled-back savepoint restores the switch', async () => {
    const before = await lastOutboxId(node.client);
    await node.client.transaction(async (tx) => {
      await node.dialect.silenceCapture(tx, true);
      await updateRow(tx, t('order_line'), { order_id: 'o1', line_no: 1 }, { product: 'silent' });
      await tx
        .transaction(async (sp) => {
          await node.dialect.silenceCapture(sp, false);
          throw new Error('roll the savepoint back');
        })
        .catch(() => undefined);
      await updateRow(tx, t('order_line'), { order_id: 'o1', line_no: 1 }, { product: 'still silent' });
      await node.dialect.silenceCapture(tx, false);
      await updateRow(tx, t('order_line'), { order_id: 'o1', line_no: 1 }, { product: 'heard' });
      await node.dialect.silenceCapture(tx, true);
    });
    await updateRow(node.client, t('order_line'), { order_id: 'o1', line_no: 1 }, { product: 'heard again' });
    expect((await rawRows(node.client, before)).map((r) => r.object_value)).toEqual([{ product: 'heard' }, { product: 'heard again' }]);
  });

  it('keyJson spells a key exactly as the triggers do', async () => {
    const before = await lastOutboxId(node.client);
    const key = { order_id: `k ${HOSTILE}`.slice(0, 20), line_no: 3 };
    await insertRow(node.client, t('order_line'), { ...key, product: 'p', amount: '1' });
    await insertRow(node.client, t('sales_order'), { order_id: 'tab\there\u001f' });
    const { rows } = await node.client.query<Row>('SELECT object_id FROM ds_change_outbox WHERE id > ? ORDER BY id', [before]);
    expect(rows.map((r) => r.object_id)).toEqual([
      node.dialect.keyJson(t('order_line'), key),
      node.dialect.keyJson(t('sales_order'), { order_id: 'tab\there\u001f' }),
    ]);
  });

  it('refuses values the column cannot hold, rather than truncate or round them', async () => {
    await expect(insertRow(node.client, t('sales_order'), { order_id: 'x'.repeat(21) })).rejects.toThrow(/too long/i);
    await expect(insertRow(node.client, t('type_zoo'), { id: 2, c_smallint: 40000 })).rejects.toThrow(/out of range/i);
    await expect(insertRow(node.client, t('type_zoo'), { id: 2, c_decimal: '1.0000001' })).rejects.toThrow(/decimal places/);
    await expect(insertRow(node.client, t('type_zoo'), { id: 2, c_timestamptz: '2040-01-01T00:00:00Z' })).rejects.toThrow(
      /Incorrect datetime/i,
    );
    expect(await selectRow(node.client, t('type_zoo'), { id: 2 })).toBeNull();
  });

  it('applying again is a no-op', async () => {
    const again = await applyNode(node.config, node.config.nodes.mysql, node.dialect, node.client);
    expect(again.steps.every((s) => s.action === 'skip')).toBe(true);
  });
});

describe.skipIf(!live.includes('mysql'))('generated files in the mysql client', () => {
  const hasClient = () => new Promise<boolean>((resolve) => execFile('mysql', ['--version'], (error) => resolve(!error)));

  it('run as they are (compound trigger bodies between DELIMITER lines), and capture', async (context) => {
    if (!(await hasClient())) context.skip();
    const db = await createTestDatabase('mysql');
    const dir = mkdtempSync(join(tmpdir(), 'dsync-mysql-client-'));
    const config = fixtureConfig({ mysql: db.url }, dir);
    const dialect = await getDialect('mysql');
    const client = await dialect.connect(db.url, 'mysql');
    try {
      await applyFixtureSchema(client);
      const schemas = await introspectTables(config, dialect, client);
      writeFiles(join(dir, 'mysql'), generateNode(config, config.nodes.mysql, dialect, schemas));
      const url = new URL(db.url);
      for (const file of listGeneratedFiles(join(dir, 'mysql'))) {
        const stderr = await new Promise<string>((resolve) => {
          const args = [
            '-h',
            url.hostname,
            '-P',
            url.port || '3306',
            '-u',
            url.username,
            '--default-character-set=utf8mb4',
            url.pathname.slice(1),
          ];
          const child = execFile('mysql', args, (_error, _out, err) => resolve(`${file.fileName}: ${err}`));
          child.stdin!.end(file.content);
        });
        expect(stderr).toBe(`${file.fileName}: `);
      }
      await insertRow(client, schemas[3], { 'Key Col': 1, 'semi;colon': ';', "it's": HOSTILE });
      expect(await rawRows(client, 0)).toEqual([
        local({
          object_table: 'Odd Names',
          object_pk_attribute: 'Key Col',
          object_attribute: "Key Col,select,it's,MixedCase,back`tick,tilde~col,[bracket],semi;colon",
          object_id: 1,
          object_value: {
            'Key Col': 1,
            select: null,
            "it's": HOSTILE,
            MixedCase: null,
            'back`tick': null,
            'tilde~col': null,
            '[bracket]': null,
            'semi;colon': ';',
          },
          object_operation: 'I',
          row_cl: 1,
        }),
      ]);
    } finally {
      await client.close();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
