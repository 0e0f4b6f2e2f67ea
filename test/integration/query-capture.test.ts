/**
 * Capture mode query (docs/capture-modes.md#query) on every live brand: node a's
 * sales_order has no triggers and is captured by passes that read its update_datetime;
 * node b keeps its triggers. A pass sends inserts and only the changed columns with their
 * old values; deletes and updates that left the time alone are found by the scan; what
 * the import writes is not sent back; a pass that fails midway leaves nothing behind; a
 * table without the column is refused at generate and at capture. Then a seeded random
 * workload in mode query ends with the same target rows as in trigger mode.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig, queryCaptureSettings } from '../../src/config/config.ts';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { generateNode } from '../../src/generate/generate.ts';
import { capturePass } from '../../src/runtime/capture/capture-pass.ts';
import { queryCapturePass, timeMinus } from '../../src/runtime/capture/query-capture.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { generateMssqlOffline, mssqlFixtureConfig } from '../helpers/mssql-offline.ts';
import { createSyncPair, daemonDelivers, pairRows, type SyncPair } from '../helpers/sync-pair.ts';
import { type Write, workload, writeRow } from '../helpers/workload.ts';

const live = await liveDialects();
const SEED = Number(process.env.DSYNC_SEED ?? 20261130);
const OPS = 120;
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
    ['mysql', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const outboxRows = async (client: DbClient) =>
  (
    await client.query<Row>(
      'SELECT object_operation, object_id, object_attribute, object_value, object_value_old, origin_change_id, row_cl FROM ds_change_outbox ORDER BY id',
    )
  ).rows;

describe('generated SQL in capture mode query (SQL Server offline)', () => {
  it("drops the triggers, adds the upgrade step, and reads the view's time from the table", () => {
    const raw = mssqlFixtureConfig();
    const config: Config = { ...raw, nodes: { ...raw.nodes, mssql: { ...raw.nodes.mssql, capture: { sales_order: 'query' } } } };
    const files = generateMssqlOffline(config);
    const capture = files.find((f) => f.object === 'capture_sales_order')!.content;
    expect(capture).toContain('no capture triggers (query capture) of sales_order');
    expect(capture).not.toMatch(/CREATE\s+(OR\s+ALTER\s+)?TRIGGER/i);
    expect(capture).toMatch(/DROP TRIGGER IF EXISTS/);
    const view = files.find((f) => f.object === 'view_recordlevel_update_datetime')!.content;
    expect(view).toMatch(/WHERE\s+object_table NOT IN \(N?'sales_order'\)/);
    expect(view).toMatch(/CAST\(s\.\[?update_datetime\]? AS datetime2\(6\)\)/);
    expect(files.some((f) => f.fileName === '0015_upgrade_query_capture.sql')).toBe(true);
    // Other tables keep their triggers and their files as committed.
    const committed = readFileSync(join(raw.generatedDir, 'mssql', '0102_capture_order_line.sql'), 'utf8');
    expect(files.find((f) => f.fileName === '0102_capture_order_line.sql')!.content).toBe(committed);
  });
});

describe('timeMinus', () => {
  it('moves a canonical time back, keeping its shape', () => {
    expect(timeMinus('2030-01-01T00:01:00.123456', 60, 'timestamp')).toBe('2030-01-01T00:00:00.123000');
    expect(timeMinus('2030-01-01T00:00:00.000000Z', 1, 'timestamptz')).toBe('2029-12-31T23:59:59.000000Z');
    expect(timeMinus('2030-01-02', 60, 'date')).toBe('2030-01-01');
  });
});

describe.each(PAIRS)('capture mode query, %s → %s', (from, to) => {
  let pair: SyncPair;
  const capture = (deletes = false) => capturePass(pair.config, pair.nodes, 'a', { deletes });
  const sum = (results: Awaited<ReturnType<typeof capture>>) => {
    const query = results.flatMap((r) => (r.mode === 'query' ? [r] : []));
    return {
      inserted: query.reduce((n, r) => n + r.inserted, 0),
      updated: query.reduce((n, r) => n + r.updated, 0),
      deleted: query.reduce((n, r) => n + r.deleted, 0),
    };
  };
  const exec = (client: DbClient, sql: string, params: unknown[] = []) => client.query(sql, params);
  const p = (i: number) => pair.a.dialect.sql.param(i);

  beforeAll(async () => {
    pair = await createSyncPair(from, to, 'latest-wins', { queryTables: ['sales_order'] });
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('captures inserts, changed columns only, and deletes on the scan', async () => {
    const a = pair.a.client;
    await exec(
      a,
      `INSERT INTO sales_order (order_id, description, quantity, update_datetime) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}), (${p(5)}, ${p(6)}, ${p(7)}, ${p(8)})`,
      ['q1', 'first', 1, '2030-01-01 00:00:00', 'q2', 'second', 2, '2030-01-01 00:00:01'],
    );
    expect(sum(await capture())).toEqual({ inserted: 2, updated: 0, deleted: 0 });
    expect(sum(await capture())).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    await exec(a, `UPDATE sales_order SET description = ${p(1)}, update_datetime = ${p(2)} WHERE order_id = ${p(3)}`, [
      'first changed',
      '2030-01-01 00:00:05',
      'q1',
    ]);
    expect(sum(await capture())).toEqual({ inserted: 0, updated: 1, deleted: 0 });
    const rows = await outboxRows(a);
    expect(rows.map((r) => r.object_operation)).toEqual(['I', 'I', 'U']);
    expect(rows[2].object_id).toBe('"q1"');
    expect(rows[2].object_attribute).toBe('description,update_datetime');
    expect(JSON.parse(String(rows[2].object_value))).toEqual({
      description: 'first changed',
      update_datetime: '2030-01-01T00:00:05.000000',
    });
    expect(JSON.parse(String(rows[2].object_value_old))).toEqual({ description: 'first', update_datetime: '2030-01-01T00:00:00.000000' });
    expect(rows.every((r) => r.origin_change_id === null && Number(r.row_cl) === 1)).toBe(true);

    // q3's time is far below the watermark, so only the scan sees it; q1's delete too. q2 is in the window.
    await exec(a, `INSERT INTO sales_order (order_id, description, update_datetime) VALUES (${p(1)}, ${p(2)}, ${p(3)})`, [
      'q3',
      'old',
      '2020-01-01 00:00:00',
    ]);
    await exec(a, `UPDATE sales_order SET quantity = 7 WHERE order_id = ${p(1)}`, ['q2']);
    await exec(a, `DELETE FROM sales_order WHERE order_id = ${p(1)}`, ['q1']);
    expect(sum(await capture())).toEqual({ inserted: 0, updated: 1, deleted: 0 });
    expect(sum(await capture(true))).toEqual({ inserted: 1, updated: 0, deleted: 1 });
    expect(sum(await capture(true))).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    const deleted = (await outboxRows(a)).at(-1)!;
    expect(deleted.object_operation).toBe('D');
    expect(JSON.parse(String(deleted.object_value_old))).toMatchObject({ order_id: 'q1', description: 'first changed' });

    await pair.forward();
    expect(await selectAllRows(pair.b.client, pair.tables.b.sales_order)).toEqual(await selectAllRows(a, pair.tables.a.sales_order));
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_error')).toBe(0);

    // The view takes sales_order's records from the table itself: one per row, with its own time.
    const { rows: view } = await a.query<Row>(
      "SELECT object_id, last_update_datetime, last_operation FROM view_recordlevel_update_datetime WHERE object_table = 'sales_order' ORDER BY object_id",
    );
    expect(view.map((r) => r.object_id)).toEqual(['"q2"', '"q3"']);
    expect(
      pair.a.dialect.fromDriver(pair.tables.a.sales_order.columns.find((c) => c.name === 'update_datetime')!, view[1].last_update_datetime),
    ).toBe('2020-01-01T00:00:00.000000');
    expect(view.map((r) => r.last_operation)).toEqual(['U', 'I']);
  });

  it('does not send back what the import wrote, and still captures a local change beside it', async () => {
    const a = pair.a.client;
    const b = pair.b.client;
    const before = (await outboxRows(a)).length;
    await exec(b, `UPDATE sales_order SET customer_id = ${pair.b.dialect.sql.param(1)} WHERE order_id = ${pair.b.dialect.sql.param(2)}`, [
      'from-b',
      'q2',
    ]);
    await exec(
      b,
      `INSERT INTO sales_order (order_id, description, update_datetime) VALUES (${pair.b.dialect.sql.param(1)}, ${pair.b.dialect.sql.param(2)}, ${pair.b.dialect.sql.param(3)})`,
      ['q9', 'made on b', '2031-01-01 00:00:00'],
    );
    // A local change on a, not yet captured, to another column of the row the import changes:
    // the import captures it first (captureBeforeMerge), alone, and the pass then finds nothing.
    await exec(a, `UPDATE sales_order SET description = ${p(1)} WHERE order_id = ${p(2)}`, ['local on a', 'q2']);
    await pair.backward();
    expect((await selectAllRows(a, pair.tables.a.sales_order)).find((r) => r.order_id === 'q9')).toBeTruthy();
    const local = () => outboxRows(a).then((rows) => rows.slice(before).filter((r) => r.origin_change_id === null));
    expect((await local()).map((r) => r.object_attribute)).toEqual(['description']);
    expect(sum(await capture(true))).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    expect(await local()).toHaveLength(1);
    await pair.forward();
    await pair.backward();
    expect(await selectAllRows(b, pair.tables.b.sales_order)).toEqual(await selectAllRows(a, pair.tables.a.sales_order));
  });

  it('a pass that fails midway leaves no outbox row and no shadow behind', async () => {
    const a = pair.a.client;
    const settings = queryCaptureSettings(pair.config, 'sales_order');
    await exec(a, `UPDATE sales_order SET quantity = 99, update_datetime = ${p(1)} WHERE order_id = ${p(2)}`, [
      '2032-01-01 00:00:00',
      'q2',
    ]);
    const before = (await outboxRows(a)).length;
    const failing = queryCapturePass(pair.a, 'sales_order', settings, {
      afterOutbox: async () => {
        throw new Error('killed between the outbox and the shadow');
      },
    });
    await expect(failing).rejects.toThrow(/killed/);
    expect((await outboxRows(a)).length).toBe(before);
    const result = await queryCapturePass(pair.a, 'sales_order', settings);
    expect(result.updated).toBe(1);
    expect((await outboxRows(a)).length).toBe(before + 1);
  });

  it('does not send back the rows a load brought', async () => {
    const b = pair.b.client;
    const q = pair.b.dialect.sql.param;
    // Rows b holds that a never had: as before they were synchronized (b's outbox rows dropped).
    await b.query(`INSERT INTO sales_order (order_id, description, update_datetime) VALUES (${q(1)}, ${q(2)}, ${q(3)})`, [
      'l1',
      'loaded',
      '2033-01-01 00:00:00',
    ]);
    await b.query('DELETE FROM ds_change_outbox WHERE object_id = \'"l1"\'');
    await loadNodes(pair.config, pair.b, pair.a, ['sales_order']);
    expect((await selectAllRows(pair.a.client, pair.tables.a.sales_order)).some((r) => r.order_id === 'l1')).toBe(true);
    expect(sum(await capture(true))).toEqual({ inserted: 0, updated: 0, deleted: 0 });
  });

  it('dsync run captures the table at its interval and delivers the change', async () => {
    const a = pair.a.client;
    await a.query(`INSERT INTO sales_order (order_id, description, update_datetime) VALUES (${p(1)}, ${p(2)}, ${p(3)})`, [
      'r1',
      'by the daemon',
      '2034-01-01 00:00:00',
    ]);
    const arrived = async () => (await selectAllRows(pair.b.client, pair.tables.b.sales_order)).some((r) => r.order_id === 'r1');
    expect(await daemonDelivers(pair, arrived)).toBe(true);
  }, 180_000);

  it('refuses a table without the update-time column, at generate and at capture', async () => {
    const config = parseConfig({ ...structuredCloneConfig(pair), tables: [{ name: 'order_line', capture: 'query' }] }, FIXTURES, null);
    expect(() => generateNode(config, pair.a.node, pair.a.dialect, [pair.tables.a.order_line])).toThrow(
      /^node a: table order_line has no column update_datetime, which capture mode query reads changes by$/,
    );
    await expect(queryCapturePass(pair.a, 'order_line', queryCaptureSettings(config, 'order_line'))).rejects.toThrow(
      /^node a: table order_line has no column update_datetime/,
    );
  });
});

/** The pair's config as raw JSON (nodes and generatedDir), for a variant of it. */
function structuredCloneConfig(pair: SyncPair) {
  const nodes = Object.fromEntries(
    Object.values(pair.config.nodes).map((n) => [n.name, { dialect: n.dialect, url: n.url, serverId: n.serverId }]),
  );
  return { nodes, generatedDir: pair.config.generatedDir };
}

/**
 * The workload of api-mode-workload.test.ts with the application setting sales_order's
 * update_datetime on every insert and update (a logical clock, the same in both runs).
 */
function stamped(seed: number): Array<Write | 'sync'> {
  let tick = 0;
  return workload(seed, OPS).map((step) => {
    if (step === 'sync' || step.table !== 'sales_order' || step.operation === 'D') return step;
    tick++;
    const at = new Date(Date.UTC(2030, 0, 1) + tick * 1000).toISOString().slice(0, 19).replace('T', ' ');
    return { ...step, values: { ...step.values, update_datetime: at } };
  });
}

describe.each(PAIRS)('a random workload in capture mode query and in trigger mode, %s → %s', (from, to) => {
  const pairs: SyncPair[] = [];
  afterAll(async () => {
    for (const pair of pairs) await pair.close();
  });

  const run = async (mode: 'trigger' | 'query') => {
    const pair = await createSyncPair(
      from,
      to,
      'latest-wins',
      mode === 'query' ? { queryTables: ['sales_order'], tableSettings: { sales_order: { deleteScanEvery: 3 } } } : {},
    );
    pairs.push(pair);
    const sync = async (deletes = false) => {
      if (mode === 'query') await capturePass(pair.config, pair.nodes, 'a', { deletes });
      await pair.forward();
    };
    for (const step of stamped(SEED)) {
      if (step === 'sync') await sync();
      else await pair.a.client.transaction((tx) => writeRow(tx, step));
    }
    await sync(true);
    const errors = await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_error');
    const rows = (side: 'a' | 'b') => pairRows(pair, side, ['sales_order', 'order_line']);
    return { errors, source: await rows('a'), target: await rows('b') };
  };

  // Two full runs on a shared, loaded machine: more than the default minute (no timing is asserted).
  it(`seed ${SEED}: the same rows at the target`, { timeout: 300_000 }, async () => {
    const byTrigger = await run('trigger');
    const byQuery = await run('query');
    expect(byQuery.errors).toBe(0);
    expect(byTrigger.errors).toBe(0);
    expect(byQuery.source).toEqual(byTrigger.source);
    expect(byQuery.target).toEqual(byTrigger.target);
    expect(byQuery.target).toEqual(byQuery.source);
    expect(byQuery.target.sales_order.length).toBeGreaterThan(0);
  });
});

// Both ways: the stamped workload's writes land on node a (mode query) or node b (trigger mode) at
// random, on the same keys, while a's passes and both directions run at random in between. The
// import into a captures first what a's passes have not read yet of the rows it merges; after a
// last pass with the delete scan and a sync until nothing moves, both nodes hold the same rows.
describe.each(PAIRS)('capture mode query both ways, %s ↔ %s', (from, to) => {
  let pair: SyncPair;
  afterAll(async () => {
    await pair?.close();
  });

  it(`seed ${SEED}: both nodes end with the same rows`, { timeout: 300_000 }, async () => {
    pair = await createSyncPair(from, to, 'latest-wins', {
      queryTables: ['sales_order'],
      tableSettings: { sales_order: { deleteScanEvery: 3 } },
    });
    const rnd = random(SEED + 1);
    for (const step of stamped(SEED)) {
      if (step === 'sync') {
        if (rnd() < 0.5) await capturePass(pair.config, pair.nodes, 'a', { deletes: rnd() < 0.3 });
        if (rnd() < 0.5) await pair.forward();
        if (rnd() < 0.5) await pair.backward();
        continue;
      }
      const side = rnd() < 0.5 ? pair.a : pair.b;
      // A duplicate key, or a key change onto a taken one: the application would get the same error.
      await side.client.transaction((tx) => writeRow(tx, step)).catch(() => undefined);
    }
    await capturePass(pair.config, pair.nodes, 'a', { deletes: true });
    const report = await pair.syncAll();
    expect(report.heldBack).toBe(0);
    for (const handle of [pair.a, pair.b])
      expect(await pair.count(handle.client, 'SELECT count(*) FROM ds_change_error'), `seed ${SEED}: parked on ${handle.node.name}`).toBe(
        0,
      );
    const rows = (side: 'a' | 'b') => pairRows(pair, side, ['sales_order', 'order_line']);
    const a = await rows('a');
    expect(a.sales_order.length, `seed ${SEED}`).toBeGreaterThan(0);
    expect(await rows('b'), `seed ${SEED}`).toEqual(a);
  });
});
