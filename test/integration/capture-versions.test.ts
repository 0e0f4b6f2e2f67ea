/**
 * The capture contract of docs/convergence.md on live databases, pushed where it could
 * break: the causal length over insert → delete → re-insert → key change, column
 * versions over several updates, the hybrid clock when an entry is ahead of the wall
 * clock, several changes in one transaction and in one statement, composite and hostile
 * keys spelled exactly as canonicalKeyText spells them, and the seed's literal SQL.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { DSYNC_VERSION } from '../../src/core/version.ts';
import { captureTable } from '../../src/generate/context.ts';
import { rendererFor } from '../../src/generate/render.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { createSyncNode, lastOutboxId, outboxRows, type SyncNode } from '../helpers/sync-node.ts';
import { SEED_ORDER } from '../helpers/seed-order.ts';

/** Brands whose capture triggers follow the contract (the others join as their triggers do). */
const CONTRACT: DialectName[] = ['postgres'];
const dialects = (await liveDialects()).filter((d) => CONTRACT.includes(d));

/** A composite key of every family a key is likely to hold, for the spelling test (PostgreSQL DDL). */
const HOSTILE_TABLE: Partial<Record<DialectName, string>> = {
  postgres: `CREATE TABLE hostile_key (
    k_text text, k_dec numeric(20, 6), k_float double precision, k_real real, k_date date, k_ts timestamp,
    k_tz timestamptz, k_uuid uuid, k_big bigint, k_bool boolean, k_char char(4), note text,
    PRIMARY KEY (k_text, k_dec, k_float, k_real, k_date, k_ts, k_tz, k_uuid, k_big, k_bool, k_char))`,
};

const HOSTILE_TEXTS = [
  `it's "q" \\ \\" \\\\ / ~ \`b\` [x] ; --`,
  'ünïcødé 😀 \u2028\u2029 \u00a0 日本',
  'ctl \u0001\u0008\u0009\u000a\u000c\u000d\u001f\u007f end',
  '',
];

const HOSTILE_KEYS: ValueMap[] = [
  {
    k_text: HOSTILE_TEXTS[0],
    k_dec: '12.500000',
    k_float: 1e21,
    k_real: 0.1,
    k_date: '1969-07-20',
    k_ts: '2025-06-25T10:30:00.500001',
    k_tz: '2025-06-25T08:30:00.000000Z',
    k_uuid: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    k_big: '9007199254740993',
    k_bool: true,
    k_char: 'ab',
  },
  {
    k_text: HOSTILE_TEXTS[1],
    k_dec: '-0.000001',
    k_float: 1e-7,
    k_real: 1.5,
    k_date: '2000-02-29',
    k_ts: '1900-01-01T00:00:00.000000',
    k_tz: '1999-12-31T23:59:59.999999Z',
    k_uuid: '00000000-0000-0000-0000-000000000000',
    k_big: -5,
    k_bool: false,
    k_char: 'abcd',
  },
  {
    k_text: HOSTILE_TEXTS[2],
    k_dec: '100',
    k_float: 0.30000000000000004,
    k_real: -2.5,
    k_date: '2025-01-01',
    k_ts: '2025-01-01T00:00:00.000000',
    k_tz: '2025-01-01T00:00:00.000000Z',
    k_uuid: 'ffffffff-ffff-ffff-ffff-ffffffffffff',
    k_big: '-9223372036854775808',
    k_bool: true,
    k_char: 'x',
  },
  {
    k_text: HOSTILE_TEXTS[3],
    k_dec: '0.000000',
    k_float: -0,
    k_real: 1e30,
    k_date: '0001-01-01',
    k_ts: '2025-06-25T10:30:00.000000',
    k_tz: '2025-06-25T10:30:00.000000Z',
    k_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    k_big: 9007199254740991,
    k_bool: false,
    k_char: ' y',
  },
];

interface Entry {
  cl: number;
  maxVersion: number;
  baseVersion: number;
  baseServer: string;
  colVersions: Record<string, [number, string]>;
}

describe.each(dialects)('capture versions on %s', (dialectName) => {
  let node: SyncNode;
  const serverId = () => node.config.nodes[dialectName].serverId;
  const t = (name: string) => node.tables[name];
  const p = (i: number) => node.dialect.sql.param(i);
  const nowMicros = () => Date.now() * 1000;

  async function entry(table: string, rowKey: string): Promise<Entry | null> {
    const { rows } = await node.client.query<Row>(
      `SELECT cl, max_version, base_version, base_server, col_versions FROM ds_row_version WHERE table_name = ${p(1)} AND row_key = ${p(2)}`,
      [table, rowKey],
    );
    if (rows.length === 0) return null;
    const r = rows[0];
    const colVersions = JSON.parse(String(r.col_versions)) as Record<string, [unknown, string]>;
    return {
      cl: Number(r.cl),
      maxVersion: Number(r.max_version),
      baseVersion: Number(r.base_version),
      baseServer: String(r.base_server),
      colVersions: Object.fromEntries(Object.entries(colVersions).map(([c, [v, s]]) => [c, [Number(v), s]])),
    };
  }

  async function setMaxVersion(table: string, rowKey: string, version: number) {
    await node.client.query(`UPDATE ds_row_version SET max_version = ${p(1)} WHERE table_name = ${p(2)} AND row_key = ${p(3)}`, [
      version,
      table,
      rowKey,
    ]);
  }

  beforeAll(async () => {
    node = await createSyncNode(dialectName);
  });
  afterAll(async () => node?.close());

  it('counts the causal length over insert, delete, re-insert, update and key changes', async () => {
    const order = t('sales_order');
    const before = await lastOutboxId(node.client);
    const started = nowMicros();
    await insertRow(node.client, order, { ...SEED_ORDER, order_id: 'cl1' });
    await deleteRow(node.client, order, { order_id: 'cl1' });
    await insertRow(node.client, order, { ...SEED_ORDER, order_id: 'cl1', quantity: 5 });
    await updateRow(node.client, order, { order_id: 'cl1' }, { quantity: 6 });
    await updateRow(node.client, order, { order_id: 'cl1' }, { order_id: 'cl2' });
    await updateRow(node.client, order, { order_id: 'cl2' }, { order_id: 'cl1', description: 'back' });
    const rows = await outboxRows(node.client, before);
    expect(rows.map((r) => [r.op, r.key, r.keyOld, r.rowCl, r.rowClOld])).toEqual([
      ['I', 'cl1', null, 1, null],
      ['D', 'cl1', null, 2, null],
      ['I', 'cl1', null, 3, null],
      ['U', 'cl1', null, 3, null],
      ['U', 'cl2', 'cl1', 1, 4],
      ['U', 'cl1', 'cl2', 5, 2],
    ]);
    const versions = rows.map((r) => r.changeVersion!);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]);
    expect(versions[0]).toBeGreaterThanOrEqual(started - 5_000_000); // wall clock, in microseconds
    expect(versions[0]).toBeLessThan(nowMicros() + 5_000_000);

    // A key change carries every column of the new row; the changed ones only as attributes and old values.
    const [move, back] = rows.slice(4);
    expect(move.attributes).toEqual(['order_id']);
    expect(move.values).toEqual({ ...SEED_ORDER, order_id: 'cl2', quantity: 6 });
    expect(move.oldValues).toEqual({ order_id: 'cl1' });
    expect(back.attributes.sort()).toEqual(['description', 'order_id']);
    expect(back.values).toEqual({ ...SEED_ORDER, order_id: 'cl1', quantity: 6, description: 'back' });
    expect(back.oldValues).toEqual({ order_id: 'cl2', description: SEED_ORDER.description });

    // Both keys' entries carry the key change's one version as their base, with no column versions.
    const last = versions[5];
    expect(await entry('sales_order', '"cl1"')).toEqual({
      cl: 5,
      maxVersion: last,
      baseVersion: last,
      baseServer: serverId(),
      colVersions: {},
    });
    expect(await entry('sales_order', '"cl2"')).toEqual({
      cl: 2,
      maxVersion: last,
      baseVersion: last,
      baseServer: serverId(),
      colVersions: {},
    });
  });

  it('keeps a version per updated column', async () => {
    const order = t('sales_order');
    await insertRow(node.client, order, { ...SEED_ORDER, order_id: 'cv' });
    const before = await lastOutboxId(node.client);
    const inserted = (await entry('sales_order', '"cv"'))!;
    expect(inserted).toMatchObject({ cl: 1, baseServer: serverId(), colVersions: {} });
    expect(inserted.baseVersion).toBe(inserted.maxVersion);
    await updateRow(node.client, order, { order_id: 'cv' }, { description: 'd1', quantity: 1 });
    await updateRow(node.client, order, { order_id: 'cv' }, { quantity: 2, customer_id: 'c2' });
    await updateRow(node.client, order, { order_id: 'cv' }, { quantity: 2 }); // changes nothing: no version
    const [u1, u2, ...none] = await outboxRows(node.client, before);
    expect(none).toEqual([]);
    const s = serverId();
    expect(u2.changeVersion!).toBeGreaterThan(u1.changeVersion!);
    expect(u1.changeVersion!).toBeGreaterThan(inserted.maxVersion);
    expect([u1.rowCl, u2.rowCl, u1.rowClOld]).toEqual([1, 1, null]);
    expect(await entry('sales_order', '"cv"')).toEqual({
      ...inserted,
      maxVersion: u2.changeVersion,
      colVersions: { description: [u1.changeVersion, s], quantity: [u2.changeVersion, s], customer_id: [u2.changeVersion, s] },
    });

    // An update of a row the store never saw starts an entry with base (0, '').
    await node.client.query(`DELETE FROM ds_row_version WHERE table_name = ${p(1)} AND row_key = ${p(2)}`, ['sales_order', '"cv"']);
    await updateRow(node.client, order, { order_id: 'cv' }, { quantity: 3 });
    const [u3] = await outboxRows(node.client, u2.id);
    expect(u3.rowCl).toBe(1);
    expect(await entry('sales_order', '"cv"')).toEqual({
      cl: 1,
      maxVersion: u3.changeVersion,
      baseVersion: 0,
      baseServer: '',
      colVersions: { quantity: [u3.changeVersion, s] },
    });
  });

  it('runs the hybrid clock past an entry that is ahead of the wall clock', async () => {
    const order = t('sales_order');
    const future = 4_102_444_800_000_000; // 2100-01-01 in microseconds
    await insertRow(node.client, order, { ...SEED_ORDER, order_id: 'hlc' });
    await setMaxVersion('sales_order', '"hlc"', future);
    const before = await lastOutboxId(node.client);
    await updateRow(node.client, order, { order_id: 'hlc' }, { quantity: 1 });
    await updateRow(node.client, order, { order_id: 'hlc' }, { quantity: 2 });
    const [u1, u2] = await outboxRows(node.client, before);
    expect([u1.changeVersion, u2.changeVersion]).toEqual([future + 1, future + 2]);
    expect((await entry('sales_order', '"hlc"'))!.colVersions.quantity).toEqual([future + 2, serverId()]);

    // A key change: one version for both keys, above the old key's entry ...
    await updateRow(node.client, order, { order_id: 'hlc' }, { order_id: 'hlc2' });
    const [move] = await outboxRows(node.client, u2.id);
    expect(move.changeVersion).toBe(future + 3);
    expect((await entry('sales_order', '"hlc2"'))!).toMatchObject({ cl: 1, maxVersion: future + 3, baseVersion: future + 3 });
    expect((await entry('sales_order', '"hlc"'))!).toMatchObject({ cl: 2, maxVersion: future + 3, baseVersion: future + 3 });
    // ... and above the new key's entry when that one is ahead.
    await setMaxVersion('sales_order', '"hlc"', future + 100);
    await updateRow(node.client, order, { order_id: 'hlc2' }, { order_id: 'hlc' });
    const [moveBack] = await outboxRows(node.client, move.id);
    expect([moveBack.changeVersion, moveBack.rowCl, moveBack.rowClOld]).toEqual([future + 101, 3, 2]);
    expect((await entry('sales_order', '"hlc2"'))!.maxVersion).toBe(future + 101);
    await deleteRow(node.client, order, { order_id: 'hlc' });
    const [del] = await outboxRows(node.client, moveBack.id);
    expect([del.changeVersion, del.rowCl]).toEqual([future + 102, 4]);
  });

  it('gives two changes of one row in one transaction increasing versions', async () => {
    const order = t('sales_order');
    await insertRow(node.client, order, { ...SEED_ORDER, order_id: 'tx' });
    const before = await lastOutboxId(node.client);
    await node.client.transaction(async (tx) => {
      await updateRow(tx, order, { order_id: 'tx' }, { quantity: 1 });
      await updateRow(tx, order, { order_id: 'tx' }, { quantity: 2 });
      await updateRow(tx, order, { order_id: 'tx' }, { description: 'third' });
    });
    const rows = await outboxRows(node.client, before);
    expect(rows).toHaveLength(3);
    expect(rows[1].changeVersion!).toBeGreaterThan(rows[0].changeVersion!);
    expect(rows[2].changeVersion!).toBeGreaterThan(rows[1].changeVersion!);
    expect((await entry('sales_order', '"tx"'))!.colVersions).toEqual({
      quantity: [rows[1].changeVersion, serverId()],
      description: [rows[2].changeVersion, serverId()],
    });
  });

  it('orders two transactions that change one row concurrently: the later writer has the higher version', async () => {
    const order = t('sales_order');
    await insertRow(node.client, order, { ...SEED_ORDER, order_id: 'race' });
    const node2 = node.config.nodes[dialectName];
    const other = await node.dialect.connect(node2.url, node2.name);
    try {
      const before = await lastOutboxId(node.client);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let firstDone!: () => void;
      const firstWrote = new Promise<void>((resolve) => (firstDone = resolve));
      const first = node.client.transaction(async (tx) => {
        await updateRow(tx, order, { order_id: 'race' }, { description: 'first' });
        firstDone();
        await gate; // holds the row (and its entry) until the second writer waits on it
      });
      await firstWrote;
      const second = updateRow(other, order, { order_id: 'race' }, { quantity: 2 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      await Promise.all([first, second]);
      const [a, b] = await outboxRows(node.client, before);
      expect([a.values, b.values]).toEqual([{ description: 'first' }, { quantity: 2 }]);
      expect(b.changeVersion!).toBeGreaterThan(a.changeVersion!);
      expect((await entry('sales_order', '"race"'))!).toMatchObject({
        cl: 1,
        maxVersion: b.changeVersion,
        colVersions: { description: [a.changeVersion, serverId()], quantity: [b.changeVersion, serverId()] },
      });
    } finally {
      await other.close();
    }
  });

  it('versions every row of a statement that touches many rows', async () => {
    const n = 150;
    const ids = Array.from({ length: n }, (_, i) => `many-${String(i).padStart(3, '0')}`);
    const before = await lastOutboxId(node.client);
    await node.client.query(`INSERT INTO sales_order (order_id, quantity) VALUES ${ids.map((_, i) => `(${p(i + 1)}, 1)`).join(', ')}`, ids);
    await node.client.query(`UPDATE sales_order SET quantity = quantity + 1, description = 'many' WHERE order_id LIKE 'many-%'`);
    await node.client.query(`DELETE FROM sales_order WHERE order_id LIKE 'many-%'`);
    const rows = await outboxRows(node.client, before);
    expect(rows).toHaveLength(3 * n);
    const byKey = new Map<string, typeof rows>();
    for (const r of rows) byKey.set(String(r.key), [...(byKey.get(String(r.key)) ?? []), r]);
    expect([...byKey.keys()].sort()).toEqual(ids);
    for (const [key, [ins, upd, del]] of byKey) {
      expect([ins.op, upd.op, del.op, ins.rowCl, upd.rowCl, del.rowCl]).toEqual(['I', 'U', 'D', 1, 1, 2]);
      expect(upd.changeVersion!).toBeGreaterThan(ins.changeVersion!);
      expect(del.changeVersion!).toBeGreaterThan(upd.changeVersion!);
      expect((await entry('sales_order', JSON.stringify(key)))!).toMatchObject({ cl: 2, maxVersion: del.changeVersion, colVersions: {} });
    }
  });

  it('writes the same change for a statement of one row as for a statement of several', async () => {
    // PostgreSQL's capture takes a path of its own for one-row statements; a row changed alone
    // and its twin changed beside another row must give the same outbox row and entry.
    const future = 4_102_444_800_000_000; // entries ahead of the wall clock, so versions are known
    const cols = '(order_id, order_type, description, customer_id, quantity, order_date, update_datetime)';
    const values = (key: string) => `('${key}', 'retail', 'it''s "x"', NULL, 7, '0044-03-15 BC', '2025-01-01 12:00:00.5')`;
    const pairs = async (before: number) => {
      const rows = await outboxRows(node.client, before);
      const one = rows.filter((r) => JSON.stringify(r.key ?? r.keyOld).includes('alone'));
      const twin = rows.filter((r) => JSON.stringify(r.key ?? r.keyOld).includes('twin-a'));
      expect([one.length, twin.length, rows.length]).toEqual([1, 1, 3]);
      // Everything but the id, the key and the transaction's time.
      const strip = ({ id, key, time, values, oldValues, ...rest }: (typeof rows)[number]) => ({
        ...rest,
        values: values && { ...(values as object), order_id: undefined },
        oldValues: oldValues && { ...(oldValues as object), order_id: undefined },
      });
      return [strip(one[0]), strip(twin[0])];
    };
    let before = await lastOutboxId(node.client);
    await node.client.query(`INSERT INTO sales_order ${cols} VALUES ${values('alone')}`);
    await node.client.query(`INSERT INTO sales_order ${cols} VALUES ${values('twin-a')}, ${values('twin-b')}`);
    const [insOne, insTwin] = await pairs(before);
    expect(insOne).toEqual({ ...insTwin, changeVersion: insOne.changeVersion });
    expect(insOne).toMatchObject({ op: 'I', rowCl: 1 });

    for (const key of ['"alone"', '"twin-a"', '"twin-b"']) await setMaxVersion('sales_order', key, future);
    before = await lastOutboxId(node.client);
    const set = "SET quantity = quantity + 1, description = NULL, order_date = '2025-05-25'";
    await node.client.query(`UPDATE sales_order ${set} WHERE order_id = 'alone'`);
    await node.client.query(`UPDATE sales_order ${set} WHERE order_id IN ('twin-a', 'twin-b')`);
    const [updOne, updTwin] = await pairs(before);
    expect(updOne).toEqual(updTwin);
    expect(updOne).toMatchObject({ op: 'U', rowCl: 1, changeVersion: future + 1 });
    expect(updOne.attributes.sort()).toEqual(['description', 'order_date', 'quantity']);
    // The bases differ by the two inserts' times only.
    const { baseVersion: _one, ...entryOne } = (await entry('sales_order', '"alone"'))!;
    const { baseVersion: _twin, ...entryTwin } = (await entry('sales_order', '"twin-a"'))!;
    expect(entryOne).toEqual(entryTwin);
    expect(Object.keys(entryOne.colVersions).sort()).toEqual(['description', 'order_date', 'quantity']);

    before = await lastOutboxId(node.client);
    await node.client.query(`DELETE FROM sales_order WHERE order_id = 'alone'`);
    await node.client.query(`DELETE FROM sales_order WHERE order_id IN ('twin-a', 'twin-b')`);
    const [delOne, delTwin] = await pairs(before);
    expect(delOne).toEqual(delTwin);
    expect(delOne).toMatchObject({ op: 'D', rowCl: 2, changeVersion: future + 2 });
    expect((await entry('sales_order', '"alone"'))!).toEqual((await entry('sales_order', '"twin-a"'))!);
  });

  it('captures a key change and in-place updates made by one statement, each row as its own change', async () => {
    const ids = ['mv-1', 'mv-2', 'mv-3'];
    await node.client.query(`INSERT INTO sales_order (order_id, quantity) VALUES ${ids.map((_, i) => `(${p(i + 1)}, 1)`).join(', ')}`, ids);
    const before = await lastOutboxId(node.client);
    // An update that changes nothing writes nothing, even over many rows.
    await node.client.query(`UPDATE sales_order SET quantity = quantity WHERE order_id LIKE 'mv-%'`);
    expect(await outboxRows(node.client, before)).toEqual([]);
    await node.client.query(
      `UPDATE sales_order SET order_id = CASE WHEN order_id = 'mv-2' THEN 'mv-2b' ELSE order_id END, quantity = quantity + 1
       WHERE order_id LIKE 'mv-%'`,
    );
    const rows = await outboxRows(node.client, before);
    expect(rows).toHaveLength(3);
    const byKey = new Map(rows.map((r) => [String(r.key), r]));
    expect([...byKey.keys()].sort()).toEqual(['mv-1', 'mv-2b', 'mv-3']);
    for (const key of ['mv-1', 'mv-3']) {
      const r = byKey.get(key)!;
      expect([r.op, r.keyOld, r.attributes, r.values, r.oldValues, r.rowCl, r.rowClOld]).toEqual([
        'U',
        null,
        ['quantity'],
        { quantity: 2 },
        { quantity: 1 },
        1,
        null,
      ]);
      expect((await entry('sales_order', JSON.stringify(key)))!.colVersions).toEqual({ quantity: [r.changeVersion, serverId()] });
    }
    const moved = byKey.get('mv-2b')!;
    expect([moved.op, moved.keyOld, moved.attributes.sort(), moved.oldValues, moved.rowCl, moved.rowClOld]).toEqual([
      'U',
      'mv-2',
      ['order_id', 'quantity'],
      { order_id: 'mv-2', quantity: 1 },
      1,
      2,
    ]);
    expect(moved.values).toMatchObject({ order_id: 'mv-2b', quantity: 2 });
    expect(await entry('sales_order', '"mv-2"')).toMatchObject({ cl: 2, maxVersion: moved.changeVersion });
    expect(await entry('sales_order', '"mv-2b"')).toMatchObject({ cl: 1, maxVersion: moved.changeVersion });
    // Nothing matched: nothing written.
    const after = await lastOutboxId(node.client);
    await node.client.query(`DELETE FROM sales_order WHERE order_id = 'no-such-row'`);
    expect(await outboxRows(node.client, after)).toEqual([]);
  });

  it('captures a table whose columns are named like the triggers own aliases (n, o, ds_ord, ds_new_row, ds_old_row)', async () => {
    await node.client.exec(
      'CREATE TABLE alias_names (n integer PRIMARY KEY, o text, ds_ord integer, ds_new_row text, ds_old_row text, ds_new_row1 text)',
    );
    const schema: TableSchema = await node.dialect.introspect(node.client, 'alias_names');
    const context = {
      version: DSYNC_VERSION,
      node: { name: dialectName, dialect: dialectName, serverId: serverId() },
      tables: [],
      programs: [],
    };
    for (const statement of rendererFor(node.dialect).render('capture', { ...context, table: captureTable(schema) }))
      await node.client.exec(statement);
    const before = await lastOutboxId(node.client);
    await node.client.exec("INSERT INTO alias_names VALUES (1, 'a', 10, 'x', 'y', 'z'), (2, 'b', 20, 'x', 'y', 'z')");
    // In place and a key change in one statement, then a delete.
    await node.client.exec("UPDATE alias_names SET n = CASE WHEN n = 2 THEN 3 ELSE n END, o = o || '!', ds_ord = ds_ord + 1");
    await node.client.exec('DELETE FROM alias_names WHERE n = 1');
    const rows = await outboxRows(node.client, before);
    expect(rows.map((r) => [r.op, r.key, r.keyOld])).toEqual([
      ['I', 1, null],
      ['I', 2, null],
      ['U', 1, null],
      ['U', 3, 2],
      ['D', 1, null],
    ]);
    expect(rows[2].values).toEqual({ o: 'a!', ds_ord: 11 });
    expect(rows[3].values).toEqual({ n: 3, o: 'b!', ds_ord: 21, ds_new_row: 'x', ds_old_row: 'y', ds_new_row1: 'z' });
  });

  it('spells composite and hostile keys exactly as canonicalKeyText does', async () => {
    await node.client.exec(HOSTILE_TABLE[dialectName]!);
    const schema: TableSchema = await node.dialect.introspect(node.client, 'hostile_key');
    const context = {
      version: DSYNC_VERSION,
      node: { name: dialectName, dialect: dialectName, serverId: serverId() },
      tables: [],
      programs: [],
    };
    for (const statement of rendererFor(node.dialect).render('capture', { ...context, table: captureTable(schema) }))
      await node.client.exec(statement);

    const before = await lastOutboxId(node.client);
    for (const key of HOSTILE_KEYS) await insertRow(node.client, schema, { ...key, note: 'n' });
    const rows = await outboxRows(node.client, before);
    const { rows: texts } = await node.client.query<Row>(`SELECT object_id FROM ds_change_outbox WHERE id > ${p(1)} ORDER BY id`, [before]);
    expect(texts.map((r) => r.object_id)).toEqual(HOSTILE_KEYS.map((k) => canonicalKeyText(schema, k)));
    // Key order is the primary key's, not jsonb's, and nothing is padded.
    expect(String(texts[0].object_id).startsWith('{"k_text":"it\'s \\"q\\" \\\\ \\\\\\" ')).toBe(true);
    expect(String(texts[0].object_id)).toContain('"k_dec":"12.5","k_float":1000000000000000000000,"k_real":0.1,');
    expect(String(texts[1].object_id)).toContain('"k_dec":"-0.000001","k_float":0.0000001,');
    expect(String(texts[2].object_id)).toContain('ctl \\u0001\\b\\t\\n\\f\\r\\u001f\u007f end');
    expect(String(texts[3].object_id)).toContain('"k_dec":"0","k_float":0,');
    // The version store holds the same text, and so does the key as the import reads it back from the table.
    for (const row of texts) expect((await entry('hostile_key', String(row.object_id)))?.cl).toBe(1);
    const { rows: stored } = await node.client.query<Row>('SELECT * FROM hostile_key');
    const readBack = stored.map((r) =>
      node.dialect.keyJson(
        schema,
        Object.fromEntries(schema.primaryKey.map((k) => [k, node.dialect.fromDriver(schema.columns.find((c) => c.name === k)!, r[k])])),
      ),
    );
    expect(readBack.sort()).toEqual(texts.map((r) => String(r.object_id)).sort());

    // An update in place and a key change of a hostile row keep the spelling.
    const first = HOSTILE_KEYS[0];
    await updateRow(node.client, schema, first, { note: 'changed' });
    const moved = { ...first, k_text: `${HOSTILE_TEXTS[2]}${HOSTILE_TEXTS[1]}`, k_dec: '7.10' };
    await updateRow(node.client, schema, first, { k_text: moved.k_text, k_dec: moved.k_dec });
    const { rows: after } = await node.client.query<Row>(
      `SELECT object_id, object_id_old, row_cl, row_cl_old FROM ds_change_outbox WHERE id > ${p(1)} ORDER BY id`,
      [rows[rows.length - 1].id],
    );
    expect(after.map((r) => [r.object_id, r.object_id_old, Number(r.row_cl), r.row_cl_old === null ? null : Number(r.row_cl_old)])).toEqual(
      [
        [canonicalKeyText(schema, first), null, 1, null],
        [canonicalKeyText(schema, moved), canonicalKeyText(schema, first), 1, 2],
      ],
    );
  });

  it("still runs the seed's literal SQL, and its hand-written outbox rows carry no versions", async () => {
    const run = async (file: string) => {
      for (const statement of node.dialect.splitScript(readFileSync(join(FIXTURES, 'seed', file), 'utf8')))
        await node.client.exec(statement);
    };
    const before = await lastOutboxId(node.client);
    await run('steps.sql');
    const rows = await outboxRows(node.client, before);
    expect(rows.map((r) => [r.op, r.key, r.rowCl])).toEqual([
      ['I', 'ord2', 1],
      ['U', 'ord2', 1],
      ['D', 'ord2', 2],
    ]);
    expect(rows.every((r) => r.changeVersion !== null)).toBe(true);
    await run('outbox-rows.sql');
    const { rows: seeded } = await node.client.query<Row>(
      `SELECT row_cl, row_cl_old, change_version FROM ds_change_outbox WHERE id > ${p(1)} ORDER BY id`,
      [rows[2].id],
    );
    expect(seeded).toHaveLength(3);
    expect(seeded.every((r) => r.row_cl === null && r.row_cl_old === null && r.change_version === null)).toBe(true);
  });
});
