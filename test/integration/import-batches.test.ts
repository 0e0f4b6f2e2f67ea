/**
 * The set-based import against a change-by-change reference: a seeded random workload
 * full of same-row sequences (insert, updates, key changes, delete, re-insert) must end
 * with the target equal to the source, in one fast batch or many, and the applied
 * changes must be recorded in the target's outbox as its own triggers would spell them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import { deleteRow, insertRow, selectAllRows, updateRow } from '../../src/runtime/import/dml.ts';
import type { ImportResult } from '../../src/runtime/import/import.ts';
import { runProgramSettled } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { random } from '../helpers/random.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'postgres'],
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
    ['postgres', 'mysql'],
    ['mysql', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

async function randomWorkload(pair: SyncPair, seed: number, steps: number) {
  const rnd = random(seed);
  const table = pair.tables.a.order_line;
  const rows = new Map<string, ValueMap>();
  const id = (r: ValueMap) => `${r.order_id}/${r.line_no}`;
  for (let i = 0; i < steps; i++) {
    const existing = [...rows.values()];
    const pickRow = () => existing[Math.floor(rnd() * existing.length)];
    const roll = rnd();
    if (existing.length < 5 || roll < 0.3) {
      const row = {
        order_id: `s${seed}o${Math.floor(rnd() * 8)}`,
        line_no: Math.floor(rnd() * 8),
        product: `p${i}`,
        amount: (rnd() * 1000).toFixed(2),
      };
      if (rows.has(id(row))) continue;
      await insertRow(pair.a.client, table, row);
      rows.set(id(row), row);
    } else if (roll < 0.75) {
      const row = pickRow();
      const values: ValueMap =
        rnd() < 0.5 ? { product: `p${i}` } : { amount: rnd() < 0.2 ? null : (rnd() * 1000).toFixed(2), product: `q${i}` };
      await updateRow(pair.a.client, table, { order_id: row.order_id, line_no: row.line_no }, values);
      rows.set(id(row), { ...row, ...values });
    } else if (roll < 0.85) {
      const row = pickRow();
      const moved = { ...row, line_no: 100 + i };
      await updateRow(pair.a.client, table, { order_id: row.order_id, line_no: row.line_no }, { line_no: moved.line_no });
      rows.delete(id(row));
      rows.set(id(moved), moved);
    } else {
      const row = pickRow();
      await deleteRow(pair.a.client, table, { order_id: row.order_id, line_no: row.line_no });
      rows.delete(id(row));
    }
  }
}

/** order_line's version entries (of one order, or all), in key order: the versions as values, whatever their spelling. */
async function orderLineEntries(client: SyncPair['a']['client'], order?: string) {
  const { rows } = await client.query<Row>(
    `SELECT row_key, cl, max_version, base_version, base_server, col_versions FROM ds_row_version WHERE table_name = 'order_line'`,
  );
  return rows
    .filter((r) => order === undefined || String(r.row_key).includes(`"${order}"`))
    .map((r) => [
      String(r.row_key),
      Number(r.cl),
      Number(r.max_version),
      Number(r.base_version),
      r.base_server,
      JSON.parse(String(r.col_versions)),
    ])
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

describe.each(PAIRS)('batched import %s → %s', (from, to) => {
  let pair: SyncPair;
  const program = (id: number, batchSize: number) => ({ ...pair.config.programs.find((p) => p.id === id)!, batchSize });
  // Settled passes, as the CLI runs them: rows a busy server holds back briefly still arrive.
  const transport = () => runProgramSettled(pair.config, pair.nodes, program(1000, 100_000));
  const importBatches = async (batchSize: number) =>
    (await runProgramSettled(pair.config, pair.nodes, program(1001, batchSize))) as ImportResult;

  beforeAll(async () => {
    pair = await createSyncPair(from, to);
  });
  afterAll(async () => pair?.close());

  it.each([
    [1, 400, 1000],
    [2, 400, 7],
    [3, 300, 1],
  ])('seed %i: %i random changes in batches of %i end equal, without a replay', async (seed, steps, batchSize) => {
    await randomWorkload(pair, seed, steps);
    await transport();
    const result = await importBatches(batchSize);
    expect(result.replayed).toBe(0);
    expect(result.parked + result.waiting).toBe(0);
    expect(await selectAllRows(pair.b.client, pair.tables.b.order_line)).toEqual(
      await selectAllRows(pair.a.client, pair.tables.a.order_line),
    );
    // And every row's version entry as its source has it (a large batch writes them beside its table writes).
    expect(await orderLineEntries(pair.b.client)).toEqual(await orderLineEntries(pair.a.client));
  });

  it('records applied changes in the outbox as its own triggers spell them, with the origin', async () => {
    await insertRow(pair.a.client, pair.tables.a.order_line, { order_id: 'spell', line_no: 1, product: 'x', amount: '1.00' });
    await pair.forward();
    await updateRow(pair.b.client, pair.tables.b.order_line, { order_id: 'spell', line_no: 1 }, { product: 'local' });
    const { rows } = await pair.b.client.query<Row>(
      "SELECT object_id, updated_by_server_id, origin_change_id FROM ds_change_outbox WHERE object_table = 'order_line' AND object_id LIKE '%spell%' ORDER BY id",
    );
    expect(rows).toHaveLength(2);
    expect(rows[0].object_id).toBe(rows[1].object_id);
    expect(rows.map((r) => [r.updated_by_server_id, r.origin_change_id === null])).toEqual([
      ['server-a', false],
      ['server-b', true],
    ]);
  });

  it('replays a batch change by change when a write fails, with the same end state', async () => {
    const p = pair.a.client.dialect.sql.param;
    await insertRow(pair.a.client, pair.tables.a.order_line, { order_id: 'rp', line_no: 1, product: 'x', amount: '1.00' });
    await pair.a.client.query(
      `INSERT INTO ds_change_outbox (object_database, object_table, object_pk_attribute, object_id, object_value, object_value_old, object_attribute, object_operation, updated_by_server_id)
       VALUES ('a', 'order_line', 'order_id,line_no', ${p(1)}, ${p(2)}, ${p(3)}, 'product', 'U', 'server-a')`,
      ['{"order_id":"rp","line_no":1}', '{"product":null}', '{"product":"x"}'],
    );
    await insertRow(pair.a.client, pair.tables.a.order_line, { order_id: 'rp', line_no: 2, product: 'y', amount: null });
    await transport();
    const result = await importBatches(1000);
    expect(result.replayed).toBe(1);
    expect([result.applied, result.parked]).toEqual([2, 1]);
    const rows = await selectAllRows(pair.b.client, pair.tables.b.order_line);
    expect(rows.filter((r) => r.order_id === 'rp').map((r) => [r.line_no, r.product])).toEqual([
      [1, 'x'],
      [2, 'y'],
    ]);
  });

  // A batch this large writes its version entries beside its table writes where the connection
  // queues statements (PostgreSQL): a table write that fails must still be the error the batch
  // fails with, and the replay must leave what a batch without the bad change would.
  it('replays a large batch whose table write fails among its other writes, with the same end state', async () => {
    const seed = Number(process.env.DSYNC_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`large replayed batch ${from} → ${to}: seed ${seed} (DSYNC_TEST_SEED replays it)`);
    const rnd = random(seed);
    const p = pair.a.client.dialect.sql.param;
    const table = pair.tables.a.order_line;
    const count = 70 + Math.floor(rnd() * 130);
    const bad = Math.floor(rnd() * count);
    for (let i = 0; i < count; i++) {
      const row = { order_id: `lb${seed % 1000}`, line_no: i, product: `p${i}`, amount: (rnd() * 100).toFixed(2) };
      await insertRow(pair.a.client, table, row);
      if (rnd() < 0.4) await updateRow(pair.a.client, table, { order_id: row.order_id, line_no: i }, { product: `u${i}` });
      if (i !== bad) continue;
      // A change that b cannot write (product is NOT NULL there), among the others.
      await pair.a.client.query(
        `INSERT INTO ds_change_outbox (object_database, object_table, object_pk_attribute, object_id, object_value, object_value_old, object_attribute, object_operation, updated_by_server_id)
         VALUES ('a', 'order_line', 'order_id,line_no', ${p(1)}, ${p(2)}, ${p(3)}, 'product', 'U', 'server-a')`,
        [JSON.stringify({ order_id: row.order_id, line_no: i }), '{"product":null}', JSON.stringify({ product: row.product })],
      );
    }
    await transport();
    const result = await importBatches(1000);
    expect(result.replayed).toBe(1);
    expect(result.parked).toBe(1);
    const mine = async (side: 'a' | 'b') =>
      (await selectAllRows(pair[side].client, pair.tables[side].order_line)).filter((r) => r.order_id === `lb${seed % 1000}`);
    expect(await mine('b')).toEqual(await mine('a'));
    expect((await mine('b')).length).toBe(count);
    // Every row's version entry as its source has it: the entries written beside the table writes were rolled back with them.
    expect(await orderLineEntries(pair.b.client, `lb${seed % 1000}`)).toEqual(await orderLineEntries(pair.a.client, `lb${seed % 1000}`));
  });
});
