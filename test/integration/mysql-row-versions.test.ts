/**
 * The MySQL/MariaDB capture triggers against the capture contract (docs/convergence.md):
 * causal lengths over insert, delete, re-insert and key changes; column versions; the
 * hybrid clock ahead of the wall clock and in other session time zones; several changes
 * of a row in one transaction and many rows in one statement; keys spelled exactly as
 * canonicalKeyText spells them, hostile ones and case-only differences included; and
 * two sessions inserting new rows side by side without a deadlock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { generateNode } from '../../src/generate/generate.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncNode, lastOutboxId, type SyncNode } from '../helpers/sync-node.ts';

const live = await liveDialects();
const SERVER = 'fixture-my';

interface Entry {
  cl: number;
  max_version: number;
  base_version: number;
  base_server: string;
  col_versions: Record<string, [number, string]>;
}

interface Captured {
  op: string;
  key: string;
  keyOld: string | null;
  value: Record<string, unknown> | null;
  cl: number;
  clOld: number | null;
  version: number;
}

const micros = () => Date.now() * 1000;

describe.skipIf(!live.includes('mysql'))('mysql capture, the version store (ds_row_version)', () => {
  let node: SyncNode;
  let other: DbClient;
  let hostile: TableSchema;
  const t = (name: string) => (name === 'hostile_key' ? hostile : node.tables[name]);

  async function entry(table: string, rowKey: string): Promise<Entry | null> {
    const { rows } = await node.client.query<Row>(
      'SELECT cl, max_version, base_version, base_server, col_versions FROM ds_row_version WHERE table_name = ? AND row_key = ?',
      [table, rowKey],
    );
    if (rows.length === 0) return null;
    const r = rows[0];
    return {
      cl: Number(r.cl),
      max_version: Number(r.max_version),
      base_version: Number(r.base_version),
      base_server: String(r.base_server),
      col_versions: JSON.parse(String(r.col_versions)),
    };
  }

  async function captured(afterId: number): Promise<Captured[]> {
    const { rows } = await node.client.query<Row>('SELECT * FROM ds_change_outbox WHERE id > ? ORDER BY id', [afterId]);
    return rows.map((r) => ({
      op: String(r.object_operation),
      key: String(r.object_id),
      keyOld: r.object_id_old === null ? null : String(r.object_id_old),
      value: r.object_value === null ? null : JSON.parse(String(r.object_value)),
      cl: Number(r.row_cl),
      clOld: r.row_cl_old === null ? null : Number(r.row_cl_old),
      version: Number(r.change_version),
    }));
  }

  beforeAll(async () => {
    node = await createSyncNode('mysql');
    other = await node.dialect.connect(node.db.url, 'mysql');
    // A composite key of text (case-blind collation), decimal and bigint, captured like the fixtures.
    await node.client.exec(`CREATE TABLE hostile_key (
      k_text VARCHAR(60) COLLATE utf8mb4_general_ci NOT NULL, k_dec DECIMAL(12, 3) NOT NULL, k_big BIGINT NOT NULL, v INT,
      PRIMARY KEY (k_text, k_dec, k_big))`);
    hostile = await node.dialect.introspect(node.client, 'hostile_key');
    const files = generateNode(node.config, node.config.nodes.mysql, node.dialect, [hostile]);
    await node.client.exec(files.find((f) => f.fileName.includes('capture_hostile_key'))!.content);
  });
  afterAll(async () => {
    await other?.close();
    await node?.close();
  });

  it('causal length over insert, update, delete, re-insert and a key change; one version above both keys', async () => {
    const so = t('sales_order');
    const before = await lastOutboxId(node.client);
    const start = micros();
    await insertRow(node.client, so, { order_id: 'cl1', quantity: 1 });
    await updateRow(node.client, so, { order_id: 'cl1' }, { quantity: 2 });
    await deleteRow(node.client, so, { order_id: 'cl1' });
    await insertRow(node.client, so, { order_id: 'cl1', quantity: 3 });
    await updateRow(node.client, so, { order_id: 'cl1' }, { order_id: 'cl1b' });
    await insertRow(node.client, so, { order_id: 'cl1', quantity: 4 });
    const rows = await captured(before);
    expect(rows.map((r) => [r.op, r.key, r.keyOld, r.cl, r.clOld])).toEqual([
      ['I', '"cl1"', null, 1, null],
      ['U', '"cl1"', null, 1, null],
      ['D', '"cl1"', null, 2, null],
      ['I', '"cl1"', null, 3, null],
      ['U', '"cl1b"', '"cl1"', 1, 4],
      ['I', '"cl1"', null, 5, null],
    ]);
    // Each version is later than the one before it and close to the wall clock.
    rows.forEach((r, i) => expect(r.version).toBeGreaterThan(i === 0 ? start - 2_000_000 : rows[i - 1].version));
    expect(rows[5].version).toBeLessThan(micros() + 2_000_000);
    // The key change: both entries have its one version as base and max, no column versions.
    const change = rows[4].version;
    expect(await entry('sales_order', '"cl1b"')).toEqual({
      cl: 1,
      max_version: change,
      base_version: change,
      base_server: SERVER,
      col_versions: {},
    });
    expect(await entry('sales_order', '"cl1"')).toEqual({
      cl: 5,
      max_version: rows[5].version,
      base_version: rows[5].version,
      base_server: SERVER,
      col_versions: {},
    });
    expect(rows[4].value).toMatchObject({ order_id: 'cl1b', quantity: 3, description: null });
    expect(Object.keys(rows[4].value!)).toEqual(so.columns.map((c) => c.name));
  });

  it("column versions: each changed column gets the update's version; base stays the insert's", async () => {
    const so = t('sales_order');
    const before = await lastOutboxId(node.client);
    await insertRow(node.client, so, { order_id: 'cv1', quantity: 1, description: 'a' });
    await updateRow(node.client, so, { order_id: 'cv1' }, { quantity: 2, description: 'b' });
    await updateRow(node.client, so, { order_id: 'cv1' }, { description: 'c', customer_id: 'x', quantity: 2 });
    await updateRow(node.client, so, { order_id: 'cv1' }, { description: 'c' }); // no change: no row, no version
    const [ins, u1, u2] = await captured(before);
    expect((await captured(before)).length).toBe(3);
    expect(await entry('sales_order', '"cv1"')).toEqual({
      cl: 1,
      max_version: u2.version,
      base_version: ins.version,
      base_server: SERVER,
      col_versions: { quantity: [u1.version, SERVER], description: [u2.version, SERVER], customer_id: [u2.version, SERVER] },
    });
    // A delete clears the column versions into a new base.
    await deleteRow(node.client, so, { order_id: 'cv1' });
    const [del] = await captured(before + 3);
    expect(await entry('sales_order', '"cv1"')).toEqual({
      cl: 2,
      max_version: del.version,
      base_version: del.version,
      base_server: SERVER,
      col_versions: {},
    });
  });

  it('an update of a row with no entry, or with a deleted one, starts or revives it', async () => {
    const so = t('sales_order');
    await node.client.transaction(async (tx) => {
      await node.dialect.silenceCapture(tx, true); // as the import writes: no entry from the trigger
      await insertRow(tx, so, { order_id: 'ne1', quantity: 1 });
      await insertRow(tx, so, { order_id: 'ne2', quantity: 1 });
    });
    expect(await entry('sales_order', '"ne1"')).toBeNull();
    await node.client.query("INSERT INTO ds_row_version VALUES ('sales_order', '\"ne2\"', 2, 5, 5, 'elsewhere', '{}')");
    const before = await lastOutboxId(node.client);
    await updateRow(node.client, so, { order_id: 'ne1' }, { quantity: 2 });
    await updateRow(node.client, so, { order_id: 'ne2' }, { quantity: 2 });
    const [u1, u2] = await captured(before);
    expect([u1.cl, u2.cl]).toEqual([1, 3]);
    expect(await entry('sales_order', '"ne1"')).toEqual({
      cl: 1,
      max_version: u1.version,
      base_version: 0,
      base_server: '',
      col_versions: { quantity: [u1.version, SERVER] },
    });
    expect(await entry('sales_order', '"ne2"')).toEqual({
      cl: 3,
      max_version: u2.version,
      base_version: 5,
      base_server: 'elsewhere',
      col_versions: { quantity: [u2.version, SERVER] },
    });
  });

  it('the hybrid clock: a version seen far in the future is passed by one; the session time zone does not count', async () => {
    const so = t('sales_order');
    await insertRow(node.client, so, { order_id: 'hlc1', quantity: 1 });
    const future = micros() + 3600 * 1_000_000 * 24 * 365; // a year ahead: a node whose clock runs fast
    await node.client.query('UPDATE ds_row_version SET max_version = ? WHERE table_name = ? AND row_key = ?', [
      future,
      'sales_order',
      '"hlc1"',
    ]);
    const before = await lastOutboxId(node.client);
    await updateRow(node.client, so, { order_id: 'hlc1' }, { quantity: 2 });
    await updateRow(node.client, so, { order_id: 'hlc1' }, { order_id: 'hlc2' });
    await deleteRow(node.client, so, { order_id: 'hlc2' });
    expect((await captured(before)).map((r) => r.version)).toEqual([future + 1, future + 2, future + 3]);
    expect((await entry('sales_order', '"hlc1"'))!.max_version).toBe(future + 2);

    for (const zone of ['+05:30', '-08:00', 'SYSTEM']) {
      await other.exec(`SET time_zone = '${zone}'`);
      const from = micros();
      await insertRow(other, so, { order_id: `tz ${zone}` });
      const [row] = await captured((await lastOutboxId(node.client)) - 1);
      expect(row.version, zone).toBeGreaterThanOrEqual(from - 1_000_000);
      expect(row.version, zone).toBeLessThanOrEqual(micros() + 1_000_000);
    }
    await other.exec("SET time_zone = '+00:00'");
  });

  it('two updates of one row in one transaction, and an insert, delete and re-insert in another', async () => {
    const so = t('sales_order');
    await insertRow(node.client, so, { order_id: 'tx1', quantity: 1 });
    const before = await lastOutboxId(node.client);
    await node.client.transaction(async (tx) => {
      await updateRow(tx, so, { order_id: 'tx1' }, { quantity: 2 });
      await updateRow(tx, so, { order_id: 'tx1' }, { quantity: 3, description: 'd' });
    });
    await node.client.transaction(async (tx) => {
      await insertRow(tx, so, { order_id: 'tx2' });
      await deleteRow(tx, so, { order_id: 'tx2' });
      await insertRow(tx, so, { order_id: 'tx2' });
    });
    const rows = await captured(before);
    expect(rows.map((r) => [r.key, r.cl])).toEqual([
      ['"tx1"', 1],
      ['"tx1"', 1],
      ['"tx2"', 1],
      ['"tx2"', 2],
      ['"tx2"', 3],
    ]);
    expect(rows[1].version).toBeGreaterThan(rows[0].version);
    expect(rows[4].version).toBeGreaterThan(rows[3].version);
    expect((await entry('sales_order', '"tx1"'))!.col_versions).toEqual({
      quantity: [rows[1].version, SERVER],
      description: [rows[1].version, SERVER],
    });
  });

  it('one statement over many rows: an entry and a version per row', async () => {
    const n = 300;
    const before = await lastOutboxId(node.client);
    const values = Array.from({ length: n }, (_, i) => `('many${i}', ${i})`).join(', ');
    await node.client.exec(`INSERT INTO sales_order (order_id, quantity) VALUES ${values}`);
    await node.client.exec("UPDATE sales_order SET quantity = quantity + 1 WHERE order_id LIKE 'many%'");
    const rows = await captured(before);
    expect(rows.length).toBe(2 * n);
    expect(rows.every((r) => r.cl === 1)).toBe(true);
    const { rows: entries } = await node.client.query<Row>(
      "SELECT row_key, cl, max_version, col_versions FROM ds_row_version WHERE table_name = 'sales_order' AND row_key LIKE '\"many%'",
    );
    expect(entries.length).toBe(n);
    const updates = new Map(rows.slice(n).map((r) => [r.key, r.version]));
    for (const e of entries) {
      expect(Number(e.max_version)).toBe(updates.get(String(e.row_key)));
      expect(JSON.parse(String(e.col_versions))).toEqual({ quantity: [updates.get(String(e.row_key)), SERVER] });
    }
  });

  const HOSTILE_TEXTS = [
    `it's "q" \`b\``,
    'back\\slash \\\\ \\"',
    '\\u001F as text, \\u001f too', // a backslash and u001F, not a control character
    'ctl \u0001\u0008\u000b\u000c\u000e\u001a\u001f\n\r\t\u007f',
    'ünïcødé 😀 \u2028 \u00a0',
    '\u001f\\\u001F',
    'trailing ',
  ];

  it('keys with quotes, backslashes, control characters, unicode, decimals and big integers spell as canonicalKeyText', async () => {
    const so = t('sales_order');
    const hk = t('hostile_key');
    const keys: [TableSchema, ValueMap][] = [
      ...HOSTILE_TEXTS.map((text): [TableSchema, ValueMap] => [so, { order_id: text.slice(0, 20) }]),
      ...HOSTILE_TEXTS.map((text, i): [TableSchema, ValueMap] => [
        hk,
        {
          k_text: text,
          k_dec: ['12.500', '0.000', '-1.250', '100.000', '7', '0.001', '-0.5'][i],
          k_big: [9223372036854775807n.toString(), '-9007199254740993', 0, 42, -1, '9007199254740992', 1][i],
        },
      ]),
    ];
    const before = await lastOutboxId(node.client);
    for (const [table, key] of keys) await insertRow(node.client, table, key);
    const rows = await captured(before);
    const expected = keys.map(([table, key]) => canonicalKeyText(table, key));
    expect(rows.map((r) => r.key)).toEqual(expected);
    expect(expected[HOSTILE_TEXTS.length]).toBe(`{"k_text":"it's \\"q\\" \`b\`","k_dec":"12.5","k_big":"9223372036854775807"}`);
    for (const [i, [table]] of keys.entries()) {
      expect(await entry(table.name, expected[i]), expected[i]).toMatchObject({ cl: 1 });
    }
    // Key changes and deletes spell the old key the same way.
    const afterInserts = await lastOutboxId(node.client);
    const [, first] = keys[HOSTILE_TEXTS.length];
    await updateRow(node.client, hk, first, { k_dec: '12.25' });
    await deleteRow(node.client, hk, { ...first, k_dec: '12.25' });
    const [change, del] = await captured(afterInserts);
    expect([change.key, change.keyOld, change.cl, change.clOld]).toEqual([
      canonicalKeyText(hk, { ...first, k_dec: '12.250' }),
      expected[HOSTILE_TEXTS.length],
      1,
      2,
    ]);
    expect(del.key).toBe(change.key);
  });

  it('keys differing only in case are two entries, under a case-blind collation too', async () => {
    const so = t('sales_order');
    const before = await lastOutboxId(node.client);
    await insertRow(node.client, so, { order_id: 'abc' });
    // 'abc' = 'ABC' for the column's collation, but the key changed: a delete and an insert.
    await updateRow(node.client, so, { order_id: 'abc' }, { order_id: 'ABC' });
    await deleteRow(node.client, so, { order_id: 'ABC' });
    await insertRow(node.client, t('hostile_key'), { k_text: 'abc', k_dec: '1', k_big: 1 });
    await deleteRow(node.client, t('hostile_key'), { k_text: 'abc', k_dec: '1', k_big: 1 });
    await insertRow(node.client, t('hostile_key'), { k_text: 'ABC', k_dec: '1', k_big: 1 });
    expect((await captured(before)).map((r) => [r.key, r.cl, r.clOld])).toEqual([
      ['"abc"', 1, null],
      ['"ABC"', 1, 2],
      ['"ABC"', 2, null],
      ['{"k_text":"abc","k_dec":"1","k_big":1}', 1, null],
      ['{"k_text":"abc","k_dec":"1","k_big":1}', 2, null],
      ['{"k_text":"ABC","k_dec":"1","k_big":1}', 1, null],
    ]);
    expect((await entry('sales_order', '"abc"'))!.cl).toBe(2);
    expect((await entry('sales_order', '"ABC"'))!.cl).toBe(2);
    expect((await entry('hostile_key', '{"k_text":"abc","k_dec":"1","k_big":1}'))!.cl).toBe(2);
    expect((await entry('hostile_key', '{"k_text":"ABC","k_dec":"1","k_big":1}'))!.cl).toBe(1);
  });

  it('two sessions inserting new rows side by side do not deadlock on the version store', async () => {
    const so = t('sales_order');
    await other.exec('SET SESSION innodb_lock_wait_timeout = 5');
    let firstInserted!: () => void;
    let secondInserted!: () => void;
    const first = new Promise<void>((resolve) => (firstInserted = resolve));
    const second = new Promise<void>((resolve) => (secondInserted = resolve));
    // Neighbouring new keys: a locking read of a missing entry would lock the gap both fall in.
    await Promise.all([
      node.client.transaction(async (tx) => {
        await insertRow(tx, so, { order_id: 'gap-b' });
        firstInserted();
        await second;
        await updateRow(tx, so, { order_id: 'gap-b' }, { quantity: 1 });
      }),
      other.transaction(async (tx) => {
        await first;
        await insertRow(tx, so, { order_id: 'gap-c' });
        secondInserted();
        await updateRow(tx, so, { order_id: 'gap-c' }, { quantity: 1 });
      }),
    ]);
    expect((await entry('sales_order', '"gap-b"'))!.cl).toBe(1);
    expect((await entry('sales_order', '"gap-c"'))!.cl).toBe(1);
  });

  it('writes no entry while the import silences capture', async () => {
    await node.client.transaction(async (tx) => {
      await node.dialect.silenceCapture(tx, true);
      await insertRow(tx, t('sales_order'), { order_id: 'quiet' });
      await updateRow(tx, t('sales_order'), { order_id: 'quiet' }, { quantity: 5 });
    });
    expect(await entry('sales_order', '"quiet"')).toBeNull();
  });
});
