/**
 * The case table of docs/convergence.md, one test per case, on PostgreSQL ↔ SQLite and
 * PostgreSQL ↔ MariaDB: two nodes change the same row without having seen each other's
 * change, then sync both ways; both must end with exactly the rows the table promises.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName } from '../../src/core/dialect.ts';
import { deleteRow, insertRow, selectAllRows, updateRow } from '../../src/runtime/import/dml.ts';
import { listParked } from '../../src/runtime/import/parking.ts';
import { resolveParkedChange } from '../../src/runtime/import/resolve-parked.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['postgres', 'mysql'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

/** Clocks are read in microseconds on PostgreSQL and MariaDB but in milliseconds on SQLite: a "later" change waits a little. */
const later = () => new Promise((resolve) => setTimeout(resolve, 5));

describe.each(PAIRS)('convergence cases %s <-> %s', (from, to) => {
  let pair: SyncPair;
  let n = 0;
  const line = (values: Partial<ValueMap> = {}): ValueMap => ({
    order_id: `c${n}`,
    line_no: 1,
    product: 'start',
    amount: '1.00',
    ...values,
  });
  const key = () => ({ order_id: `c${n}`, line_no: 1 });
  const rowsOf = async (side: 'a' | 'b') =>
    (await selectAllRows(pair[side].client, pair.tables[side].order_line)).filter((r) => String(r.order_id) === `c${n}`);
  const both = async () => [await rowsOf('a'), await rowsOf('b')];
  /** A row both nodes have, as a start. */
  const shared = async (values: Partial<ValueMap> = {}) => {
    n++;
    await insertRow(pair.a.client, pair.tables.a.order_line, line(values));
    await pair.syncAll();
  };

  beforeAll(async () => {
    pair = await createSyncPair(from, to);
  });
  afterAll(async () => pair?.close());

  it('same column changed on both: the later change everywhere', async () => {
    await shared();
    await updateRow(pair.a.client, pair.tables.a.order_line, key(), { product: 'from a' });
    await later();
    await updateRow(pair.b.client, pair.tables.b.order_line, key(), { product: 'from b' });
    await pair.syncAll();
    expect(await both()).toEqual([[line({ product: 'from b' })], [line({ product: 'from b' })]]);
  });

  it('different columns of one row: both changes everywhere, no conflict', async () => {
    await shared();
    await updateRow(pair.a.client, pair.tables.a.order_line, key(), { product: 'from a' });
    await updateRow(pair.b.client, pair.tables.b.order_line, key(), { amount: '9.50' });
    await pair.syncAll();
    expect(await both()).toEqual([[line({ product: 'from a', amount: '9.50' })], [line({ product: 'from a', amount: '9.50' })]]);
  });

  it('delete on A, later update on B: deleted everywhere', async () => {
    await shared();
    await deleteRow(pair.a.client, pair.tables.a.order_line, key());
    await later();
    await updateRow(pair.b.client, pair.tables.b.order_line, key(), { product: 'late update' });
    await pair.syncAll();
    expect(await both()).toEqual([[], []]);
  });

  it('update on B, later delete on A: deleted everywhere', async () => {
    await shared();
    await updateRow(pair.b.client, pair.tables.b.order_line, key(), { product: 'early update' });
    await later();
    await deleteRow(pair.a.client, pair.tables.a.order_line, key());
    await pair.syncAll();
    expect(await both()).toEqual([[], []]);
  });

  it('delete on both: deleted, nothing parked', async () => {
    await shared();
    await deleteRow(pair.a.client, pair.tables.a.order_line, key());
    await deleteRow(pair.b.client, pair.tables.b.order_line, key());
    await pair.syncAll();
    expect(await both()).toEqual([[], []]);
    expect((await listParked(pair.a.client)).length + (await listParked(pair.b.client)).length).toBe(0);
  });

  it('insert of one key on both with other values: the later insert everywhere', async () => {
    n++;
    await insertRow(pair.a.client, pair.tables.a.order_line, line({ product: 'a insert', amount: '2.00' }));
    await later();
    await insertRow(pair.b.client, pair.tables.b.order_line, line({ product: 'b insert', amount: null }));
    await pair.syncAll();
    const expected = [line({ product: 'b insert', amount: null })];
    expect(await both()).toEqual([expected, expected]);
  });

  it('delete and re-insert on A while B updates: the new row everywhere', async () => {
    await shared();
    await updateRow(pair.b.client, pair.tables.b.order_line, key(), { product: 'b update' });
    await deleteRow(pair.a.client, pair.tables.a.order_line, key());
    await insertRow(pair.a.client, pair.tables.a.order_line, line({ product: 'reborn' }));
    await pair.syncAll();
    expect(await both()).toEqual([[line({ product: 'reborn' })], [line({ product: 'reborn' })]]);
  });

  it('key change on A while B updates the old key: the row under its new key, with A values, everywhere', async () => {
    await shared();
    await updateRow(pair.a.client, pair.tables.a.order_line, key(), { line_no: 2 });
    await later();
    await updateRow(pair.b.client, pair.tables.b.order_line, key(), { product: 'b update' });
    await pair.syncAll();
    const expected = [line({ line_no: 2 })];
    expect(await both()).toEqual([expected, expected]);
  });

  it('a change of a row whose earlier change is parked waits behind it, then applies in order', async () => {
    await shared();
    const table = pair.a.dialect.sql.table('order_line');
    await pair.a.client.exec(`ALTER TABLE ${table} ADD CONSTRAINT no_bad CHECK (product <> 'bad')`);
    try {
      await updateRow(pair.b.client, pair.tables.b.order_line, key(), { product: 'bad' });
      await pair.syncAll();
      await updateRow(pair.b.client, pair.tables.b.order_line, key(), { amount: '3.00' });
      await pair.syncAll();
      const parked = await listParked(pair.a.client);
      expect(parked.map((p) => p.status)).toEqual(['open', 'waiting']);
      expect(await rowsOf('a')).toEqual([line()]);
    } finally {
      await pair.a.client.exec(`ALTER TABLE ${table} DROP CONSTRAINT no_bad`);
    }
    const [head] = await listParked(pair.a.client);
    const result = await resolveParkedChange(pair.config, pair.a, head.id, 'retry');
    expect(result.released).toBe(1);
    await pair.syncAll();
    expect(await both()).toEqual([[line({ product: 'bad', amount: '3.00' })], [line({ product: 'bad', amount: '3.00' })]]);
  });
});

describe.each(PAIRS)('manual policy %s <-> %s: a decision reaches both nodes', (from, to) => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair(from, to, 'manual');
  });
  afterAll(async () => pair?.close());
  const key = { order_id: 'm1', line_no: 1 };
  const line = (product: string): ValueMap => ({ ...key, product, amount: '1.00' });

  it("both sides park the conflict; each takes the other side's value; the later decision wins on both", async () => {
    await insertRow(pair.a.client, pair.tables.a.order_line, line('start'));
    await pair.syncAll();
    await updateRow(pair.a.client, pair.tables.a.order_line, key, { product: 'from a' });
    await updateRow(pair.b.client, pair.tables.b.order_line, key, { product: 'from b' });
    await pair.syncAll();
    const [onA] = await listParked(pair.a.client);
    const [onB] = await listParked(pair.b.client);
    expect([onA?.kind, onB?.kind]).toEqual(['conflict_manual', 'conflict_manual']);
    // Two people decide differently: on a, take b's value; later, on b, take a's value.
    // Without decisions that travel, each node would keep the other's value.
    await resolveParkedChange(pair.config, pair.a, onA.id, 'retry');
    await later();
    await resolveParkedChange(pair.config, pair.b, onB.id, 'retry');
    await pair.syncAll();
    const rows = async (side: 'a' | 'b') =>
      (await selectAllRows(pair[side].client, pair.tables[side].order_line)).filter((r) => r.order_id === 'm1');
    expect(await rows('a')).toEqual([line('from a')]);
    expect(await rows('b')).toEqual([line('from a')]);
    expect((await listParked(pair.a.client)).length + (await listParked(pair.b.client)).length).toBe(0);
  });
});
