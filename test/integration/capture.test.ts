/**
 * Capture, the same contract on every live dialect: one outbox row per row change,
 * only the changed columns of an update with their old values, nothing for an update
 * that changes nothing, the old key on a key change, canonical values, and the
 * origin flag of the import (DESIGN rule 4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDateTime, sameValue } from '../../src/core/canonical.ts';
import type { ValueMap } from '../../src/core/change.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncNode, lastOutboxId, outboxRows, type SyncNode } from '../helpers/sync-node.ts';
import { SEED_ORDER } from '../helpers/seed-order.ts';
import { setOriginFlag } from '../helpers/origin-flag.ts';

const dialects = (await liveDialects()).filter((d) => d !== 'mssql' || process.env.MSSQL_URL);

const ORDER: ValueMap = { ...SEED_ORDER };

/** Brands whose triggers follow docs/convergence.md's capture contract (row_cl, change_version, full row on a key change). */
const CONTRACT = new Set(['postgres', 'mssql']);

const HOSTILE = `it's ~ "q" \`b\` [x] ; -- \\ \\' ünïcødé 😀`;
const BIG_TEXT = 'x'.repeat(50_000) + '😀'.repeat(12_500); // 100 KB of UTF-8
const BYTES = Buffer.from([0, 255, 16, 39, 126, 92, 0, 1, 2, 3, 250]);

const ZOO: ValueMap = {
  id: 1,
  c_smallint: -32768,
  c_int: 2147483647,
  c_bigint: '9007199254740993',
  c_decimal: '123456789.123456', // 15 significant digits: exact on every brand (SQLite keeps DECIMAL as a double)
  c_float: 0.1,
  c_real: 1.5,
  c_bool: true,
  c_char: 'ab',
  c_varchar: HOSTILE,
  c_text: BIG_TEXT,
  c_date: '1969-07-20',
  c_time: '10:30:00.123456',
  c_timestamp: '2025-06-25T10:30:00.500001',
  c_timestamptz: '2025-06-25T08:30:00.000000Z',
  c_bytea: BYTES.toString('base64'),
  c_json: '{"a":[1,2],"b":"x"}',
  c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
};

/** Values compare by canonical value: `12.50` is `12.5`, JSON by structure; everything else exactly. */
function expectValues(node: SyncNode, table: string, actual: Record<string, unknown> | null, expected: ValueMap) {
  expect(actual).not.toBeNull();
  expect(Object.keys(actual!).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, value] of Object.entries(expected)) {
    const column = node.tables[table].columns.find((c) => c.name === name)!;
    const ok =
      sameValue(column, actual![name], value) &&
      (column.family === 'decimal' || column.family === 'json' || column.family === 'float' ? true : actual![name] === value);
    if (!ok)
      expect.fail(`${table}.${name}: got ${JSON.stringify(actual![name])?.slice(0, 80)}, want ${JSON.stringify(value)?.slice(0, 80)}`);
  }
}

describe.each(dialects)('capture on %s', (dialectName) => {
  let node: SyncNode;
  const serverId = () => node.config.nodes[dialectName].serverId;
  const t = (name: string) => node.tables[name];
  const versioned = CONTRACT.has(dialectName);

  beforeAll(async () => {
    node = await createSyncNode(dialectName);
  });
  afterAll(async () => node?.close());

  it('records an insert with every column, canonical', async () => {
    const before = await lastOutboxId(node.client);
    await insertRow(node.client, t('sales_order'), ORDER);
    const [row, ...rest] = await outboxRows(node.client, before);
    expect(rest).toEqual([]);
    expect(row).toMatchObject({
      op: 'I',
      table: 'sales_order',
      pk: 'order_id',
      key: 'ord2',
      keyOld: null,
      oldValues: null,
      server: serverId(),
      originChangeId: null,
    });
    expect(row.attributes.sort()).toEqual(Object.keys(ORDER).sort());
    expectValues(node, 'sales_order', row.values, ORDER);
    if (versioned) {
      expect([row.rowCl, row.rowClOld]).toEqual([1, null]);
      expect(Math.abs(row.changeVersion! - Date.now() * 1000)).toBeLessThan(120_000_000);
    }
    const time = parseDateTime(row.time);
    expect(time, `update_datetime ${row.time}`).not.toBeNull();
    expect(Math.abs(Date.UTC(time!.year, time!.month - 1, time!.day, time!.hour, time!.minute, time!.second) - Date.now())).toBeLessThan(
      120_000,
    );
  });

  it('writes no row for an update that changes nothing', async () => {
    const before = await lastOutboxId(node.client);
    expect(await updateRow(node.client, t('sales_order'), { order_id: 'ord2' }, { description: 'old order', quantity: 100 })).toBe(1);
    expect(await outboxRows(node.client, before)).toEqual([]);
  });

  it('records only the changed columns of an update, with their old values', async () => {
    const before = await lastOutboxId(node.client);
    await updateRow(
      node.client,
      t('sales_order'),
      { order_id: 'ord2' },
      { description: 'old order change1', quantity: 7, order_type: 'wholesale' },
    );
    const rows = await outboxRows(node.client, before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      op: 'U',
      key: 'ord2',
      keyOld: null,
      values: { description: 'old order change1', quantity: 7 },
      oldValues: { description: 'old order', quantity: 100 },
    });
    expect(rows[0].attributes.sort()).toEqual(['description', 'quantity']);
    if (versioned) expect([rows[0].rowCl, rows[0].rowClOld]).toEqual([1, null]);
  });

  it('records NULL to a value and back', async () => {
    const before = await lastOutboxId(node.client);
    await updateRow(node.client, t('sales_order'), { order_id: 'ord2' }, { customer_id: null });
    await updateRow(node.client, t('sales_order'), { order_id: 'ord2' }, { customer_id: 'c9' });
    const rows = await outboxRows(node.client, before);
    expect(rows.map((r) => [r.values, r.oldValues])).toEqual([
      [{ customer_id: null }, { customer_id: 'c1' }],
      [{ customer_id: 'c9' }, { customer_id: null }],
    ]);
  });

  it('records a key change with the old key', async () => {
    const before = await lastOutboxId(node.client);
    await updateRow(node.client, t('sales_order'), { order_id: 'ord2' }, { order_id: 'ord3' });
    const rows = await outboxRows(node.client, before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ op: 'U', key: 'ord3', keyOld: 'ord2', values: { order_id: 'ord3' }, oldValues: { order_id: 'ord2' } });
    if (versioned) {
      // A key change is a delete of the old key and an insert of the new one: every column of the new row.
      expect(rows[0]).toMatchObject({ attributes: ['order_id'], rowCl: 1, rowClOld: 2 });
      expectValues(node, 'sales_order', rows[0].values, {
        ...ORDER,
        order_id: 'ord3',
        description: 'old order change1',
        quantity: 7,
        customer_id: 'c9',
      });
    }
  });

  it('records a delete with the whole old row', async () => {
    const before = await lastOutboxId(node.client);
    await deleteRow(node.client, t('sales_order'), { order_id: 'ord3' });
    const rows = await outboxRows(node.client, before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ op: 'D', key: 'ord3', values: null });
    if (versioned) expect([rows[0].rowCl, rows[0].rowClOld]).toEqual([2, null]);
    expectValues(node, 'sales_order', rows[0].oldValues, {
      ...ORDER,
      order_id: 'ord3',
      description: 'old order change1',
      quantity: 7,
      customer_id: 'c9',
    });
  });

  it('encodes every type family canonically, edge values included', async () => {
    const before = await lastOutboxId(node.client);
    await insertRow(node.client, t('type_zoo'), ZOO);
    const [row] = await outboxRows(node.client, before);
    expect(row.key).toBe(1);
    expectValues(node, 'type_zoo', row.values, ZOO);
  });

  it('records type changes and NULLs of every family on update', async () => {
    const before = await lastOutboxId(node.client);
    const nulls = Object.fromEntries(
      Object.keys(ZOO)
        .filter((k) => k !== 'id')
        .map((k) => [k, null]),
    );
    await updateRow(node.client, t('type_zoo'), { id: 1 }, nulls);
    await updateRow(
      node.client,
      t('type_zoo'),
      { id: 1 },
      { c_bool: false, c_decimal: '-0.000001', c_bigint: '-9007199254740993', c_timestamp: '1900-01-01T00:00:00.000000' },
    );
    const rows = await outboxRows(node.client, before);
    expect(rows).toHaveLength(2);
    expect(rows[0].values).toEqual(nulls);
    expectValues(node, 'type_zoo', rows[0].oldValues, Object.fromEntries(Object.entries(ZOO).filter(([k]) => k !== 'id')));
    expectValues(node, 'type_zoo', rows[1].values, {
      c_bool: false,
      c_decimal: '-0.000001',
      c_bigint: '-9007199254740993',
      c_timestamp: '1900-01-01T00:00:00.000000',
    });
  });

  it('handles a composite key', async () => {
    const before = await lastOutboxId(node.client);
    await insertRow(node.client, t('order_line'), { order_id: 'o1', line_no: 1, product: 'p', amount: '10.50' });
    await updateRow(node.client, t('order_line'), { order_id: 'o1', line_no: 1 }, { line_no: 2 });
    const rows = await outboxRows(node.client, before);
    expect(rows[0].key).toEqual({ order_id: 'o1', line_no: 1 });
    expect(rows[1]).toMatchObject({ key: { order_id: 'o1', line_no: 2 }, keyOld: { order_id: 'o1', line_no: 1 }, values: { line_no: 2 } });
    if (versioned) {
      const { rows: texts } = await node.client.query<Record<string, unknown>>(
        `SELECT object_id, object_id_old FROM ds_change_outbox WHERE id > ${node.dialect.sql.param(1)} ORDER BY id`,
        [before],
      );
      expect(texts.map((r) => [r.object_id, r.object_id_old])).toEqual([
        ['{"order_id":"o1","line_no":1}', null],
        ['{"order_id":"o1","line_no":2}', '{"order_id":"o1","line_no":1}'],
      ]);
      expect(rows[1]).toMatchObject({
        values: { order_id: 'o1', line_no: 2, product: 'p' },
        oldValues: { line_no: 1 },
        attributes: ['line_no'],
        rowCl: 1,
        rowClOld: 2,
      });
    }
  });

  it('keeps names that need quoting exactly', async () => {
    const before = await lastOutboxId(node.client);
    const odd: ValueMap = {
      'Key Col': 5,
      select: HOSTILE,
      "it's": 'a',
      MixedCase: 'b',
      'back`tick': 'c',
      'tilde~col': '~~',
      '[bracket]': ']',
      'semi;colon': ';',
    };
    await insertRow(node.client, t('Odd Names'), odd);
    await updateRow(node.client, t('Odd Names'), { 'Key Col': 5 }, { "it's": "it's" });
    const rows = await outboxRows(node.client, before);
    expect(rows[0]).toMatchObject({ table: 'Odd Names', pk: 'Key Col', key: 5, values: odd });
    expect(rows[1]).toMatchObject({ values: { "it's": "it's" }, oldValues: { "it's": 'a' }, attributes: ["it's"] });
  });

  it('carries the origin of an applied change (the import sets the flag)', async () => {
    const before = await lastOutboxId(node.client);
    await node.client.transaction(async (tx) => {
      await setOriginFlag(tx, { serverId: 'elsewhere', changeId: 77, userId: 'u1', updatedAt: '2025-01-02 03:04:05.000006' });
      await insertRow(tx, t('sales_order'), { ...ORDER, order_id: 'from-elsewhere' });
      await setOriginFlag(tx, null);
    });
    await insertRow(node.client, t('sales_order'), { ...ORDER, order_id: 'local' });
    const rows = await outboxRows(node.client, before);
    expect(rows[0]).toMatchObject({ key: 'from-elsewhere', server: 'elsewhere', originChangeId: 77, user: 'u1' });
    expect(parseDateTime(rows[0].time)).toMatchObject({ year: 2025, month: 1, day: 2, hour: 3, minute: 4, second: 5, micro: 6 });
    expect(rows[1]).toMatchObject({ key: 'local', server: serverId(), originChangeId: null });
  });
});
