/**
 * `dsync load` to a target that takes a second writer (PostgreSQL) runs two chunks at a
 * time: one reads while the other writes. A chunk that fails there takes the one after it
 * down too; the load goes on from the last chunk that committed, one chunk at a time with
 * its retries, then two at a time again. Here the target's version store refuses one key's
 * entry twice (a trigger that counts with a sequence, which a rollback does not undo), and
 * another session holds the load's state row for a while (the later chunk gives up waiting
 * for the earlier one): every row is copied exactly once and the two nodes end equal.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { insertTableRows } from '../../src/runtime/load/load-chunk.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { compareTables } from '../../src/verify/compare-tables.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { numberedOrder } from '../helpers/seed-order.ts';

const ROWS = 3000;
const live = await liveDialects();
const keyOf = (n: number) => `L${String(n).padStart(7, '0')}`;
const order = (i: number) => numberedOrder(keyOf(i), i, `order ${i}`);

async function seedBeforeTriggers(client: DbClient, table: TableSchema): Promise<void> {
  await client.transaction(async (tx) => {
    await tx.dialect.silenceCapture(tx, true);
    await insertTableRows(
      tx,
      table,
      Array.from({ length: ROWS }, (_, i) => order(i)),
    );
    await tx.dialect.silenceCapture(tx, false);
  });
}

async function expectCopiedOnce(pair: SyncPair): Promise<void> {
  const { rows } = await pair.b.client.query('SELECT rows_copied, status FROM ds_load_state');
  expect(rows.map((r) => [Number(r.rows_copied), r.status])).toEqual([[ROWS, 'done']]);
  expect(await pair.count(pair.b.client, 'SELECT count(*) FROM sales_order')).toBe(ROWS);
  expect(await pair.count(pair.b.client, "SELECT count(*) FROM ds_row_version WHERE table_name = 'sales_order'")).toBe(ROWS);
  await pair.syncAll();
  const result = await compareTables(
    { client: pair.a.client, table: pair.tables.a.sales_order },
    { client: pair.b.client, table: pair.tables.b.sales_order },
  );
  expect(result.differences.slice(0, 5)).toEqual([]);
  expect(result.rowsA).toBe(ROWS);
}

describe.skipIf(!live.includes('postgres'))('load postgres → postgres, two chunks at a time', () => {
  const pairs: SyncPair[] = [];
  afterAll(async () => {
    for (const pair of pairs) await pair.close();
  });

  it('a chunk that fails in the overlap (twice) is done again alone; every row copied once', async () => {
    const pair = await createSyncPair('postgres', 'postgres');
    pairs.push(pair);
    await seedBeforeTriggers(pair.a.client, pair.tables.a.sales_order);
    const rowKey = canonicalKeyText(pair.tables.b.sales_order, { order_id: keyOf(1500) });
    await pair.b.client.exec(`
      CREATE SEQUENCE load_fault;
      CREATE FUNCTION load_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.row_key = ${pair.b.dialect.sql.literal(rowKey)} AND nextval('load_fault') <= 2 THEN
          RAISE EXCEPTION 'injected fault';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER load_fault BEFORE INSERT ON ds_row_version FOR EACH ROW EXECUTE FUNCTION load_fault();`);
    const report = await loadNodes(pair.config, pair.a, pair.b, ['sales_order'], { chunkRows: 200 });
    expect(report.tables[0].status).toBe('done');
    expect(report.tables[0].rowsRead).toBe(ROWS);
    expect(report.tables[0].inserted).toBe(ROWS);
    // The fault struck twice and then let the key through: two failed chunks, a third try that committed.
    expect(await pair.count(pair.b.client, 'SELECT last_value FROM load_fault')).toBe(3);
    await expectCopiedOnce(pair);
  }, 120_000);

  it('a tombstone the import stores after the load began, in a range the target has no row of, wins over the row', async () => {
    // A fresh target (no entry of the table when the load begins) skips the entry look-up
    // of a range without target rows and counts on the entry's INSERT failing for a key
    // that has one all the same. Here the target's version store gets a tombstone (cl 2:
    // the row was deleted at the target) for a key of a later range while an early chunk
    // writes (a trigger, in that chunk's transaction): the load must not bring the row back.
    const pair = await createSyncPair('postgres', 'postgres');
    pairs.push(pair);
    await seedBeforeTriggers(pair.a.client, pair.tables.a.sales_order);
    const early = canonicalKeyText(pair.tables.b.sales_order, { order_id: keyOf(100) });
    const late = canonicalKeyText(pair.tables.b.sales_order, { order_id: keyOf(2500) });
    const lit = pair.b.dialect.sql.literal;
    await pair.b.client.exec(`
      CREATE FUNCTION load_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.row_key = ${lit(early)} THEN
          INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
          VALUES ('sales_order', ${lit(late)}, 2, 7, 7, 'b', '{}') ON CONFLICT DO NOTHING;
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER load_tombstone AFTER INSERT ON ds_row_version FOR EACH ROW EXECUTE FUNCTION load_tombstone();`);
    const report = await loadNodes(pair.config, pair.a, pair.b, ['sales_order'], { chunkRows: 200 });
    expect(report.tables[0].status).toBe('done');
    expect(report.tables[0].rowsRead).toBe(ROWS);
    expect(report.tables[0].inserted).toBe(ROWS - 1);
    expect(report.tables[0].existing).toEqual({ 'deleted-at-target': 1 });
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM sales_order')).toBe(ROWS - 1);
    expect(await pair.count(pair.b.client, `SELECT count(*) FROM sales_order WHERE order_id = ${lit(keyOf(2500))}`)).toBe(0);
    const { rows } = await pair.b.client.query(`SELECT cl, max_version FROM ds_row_version WHERE row_key = ${lit(late)}`);
    expect(rows.map((r) => [Number(r.cl), Number(r.max_version)])).toEqual([[2, 7]]);
    expect(await pair.count(pair.b.client, "SELECT count(*) FROM ds_row_version WHERE table_name = 'sales_order'")).toBe(ROWS);
  }, 120_000);

  it('a chunk that waits long for the one before gives up and is done again; every row copied once', async () => {
    const pair = await createSyncPair('postgres', 'postgres');
    pairs.push(pair);
    await seedBeforeTriggers(pair.a.client, pair.tables.a.sales_order);
    const holder = await pair.b.dialect.connect(pair.config.nodes.b.url, 'b');
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let held = false;
      let holding: Promise<void> | null = null;
      const report = loadNodes(pair.config, pair.a, pair.b, ['sales_order'], {
        chunkRows: 200,
        // After the third chunk: hold the state row (the next chunk's state write waits on it) past the wait's limit.
        onProgress: ({ rows }) => {
          if (held || rows < 600) return;
          held = true;
          holding = holder.transaction(async (tx) => {
            await tx.query('SELECT * FROM ds_load_state FOR UPDATE');
            await released;
          });
          setTimeout(release, 3000);
        },
      });
      const { tables } = await report;
      await holding;
      expect(held).toBe(true);
      expect(tables[0].rowsRead).toBe(ROWS);
      expect(tables[0].inserted).toBe(ROWS);
    } finally {
      await holder.close();
    }
    await expectCopiedOnce(pair);
  }, 120_000);
});
