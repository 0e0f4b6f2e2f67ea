/**
 * A large batch into PostgreSQL reads its rows and their version entries with the keys as one
 * array parameter (DialectSql.inArray; docs/performance.md). Keys that an array literal must
 * quote or escape (quotes, backslashes, commas, braces, spaces, `NULL`, non-ASCII) and whole
 * numbers at the ends of their range must find their rows and entries exactly as a list of
 * parameters does: a key missed there would turn an update into a conflict on a missing row
 * and leave the target different. Seeded; the seed is printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import { deleteRow, insertRow, selectAllRows, updateRow } from '../../src/runtime/import/dml.ts';
import type { ImportResult } from '../../src/runtime/import/import.ts';
import { runProgramSettled } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'postgres'],
    ['sqlite', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 100_000);
/** Pieces an array literal has to quote or escape, and ones it need not. */
const PIECES = ['"', '\\', ',', '{', '}', ' ', "'", 'NULL', 'ö', '€', '\t', 'a', 'b', 'Z', '0', '9', '-', '[', ']', '(', ')'];

/** `count` distinct keys of at most 20 characters (order_id is varchar(20)), a few plain ones among them. */
function trickyKeys(rnd: () => number, count: number): string[] {
  const keys = new Set<string>(['NULL', '"', '\\', '{}', ' ', 'a,b', 'null']);
  while (keys.size < count) {
    let key = '';
    const parts = 1 + Math.floor(rnd() * 6);
    for (let i = 0; i < parts; i++) key += PIECES[Math.floor(rnd() * PIECES.length)];
    keys.add(key.slice(0, 20));
  }
  return [...keys];
}

describe.each(PAIRS)('bulk import with keys as an array %s → %s', (from, to) => {
  let pair: SyncPair;
  const program = (id: number, batchSize: number) => ({ ...pair.config.programs.find((p) => p.id === id)!, batchSize });
  // One import batch of up to 1,000 changes: above the 126 keys from which the keys go as an array (ARRAY_KEYS_ABOVE).
  const forward = async () => {
    await runProgramSettled(pair.config, pair.nodes, program(1000, 100_000));
    return (await runProgramSettled(pair.config, pair.nodes, program(1001, 1000))) as ImportResult;
  };
  const equalTables = async () => {
    for (const name of ['sales_order', 'type_zoo'])
      expect(await selectAllRows(pair.b.client, pair.tables.b[name])).toEqual(await selectAllRows(pair.a.client, pair.tables.a[name]));
  };

  beforeAll(async () => {
    pair = await createSyncPair(from, to);
  });
  afterAll(async () => pair?.close());

  it(`finds every row and entry of quoted, escaped and extreme keys (seed ${SEED})`, async () => {
    console.log(`bulk-key-arrays seed ${SEED} (DSYNC_TEST_SEED=${SEED} replays it)`);
    const rnd = random(SEED);
    const orders = pair.tables.a.sales_order;
    const zoo = pair.tables.a.type_zoo;
    const keys = trickyKeys(rnd, 200);
    const ids = new Set<number>([2147483647, -2147483648, 0, -1, 1]);
    while (ids.size < 200) ids.add(Math.floor((rnd() - 0.5) * 2 ** 32));
    for (const [i, key] of keys.entries())
      await insertRow(pair.a.client, orders, { order_id: key, description: `d${i}`, quantity: i, order_type: 'retail' });
    for (const id of ids) await insertRow(pair.a.client, zoo, { id, c_int: id % 1000, c_text: `t${id}` });
    let result = await forward();
    expect([result.parked, result.conflicts, result.replayed]).toEqual([0, 0, 0]);
    await equalTables();

    // Rows changed here, then changed at the origin: a conflict each, which only a row found can give.
    const local = keys.filter(() => rnd() < 0.1);
    for (const key of local) await updateRow(pair.b.client, pair.tables.b.sales_order, { order_id: key }, { description: 'local' });
    for (const [i, key] of keys.entries()) {
      const values: ValueMap = local.includes(key) ? { quantity: i + 1000, description: `origin${i}` } : { quantity: i + 1000 };
      await updateRow(pair.a.client, orders, { order_id: key }, values);
    }
    for (const id of ids) await updateRow(pair.a.client, zoo, { id }, { c_int: (id % 1000) + 1 });
    result = await forward();
    expect([result.parked, result.replayed]).toEqual([0, 0]);
    const { rows } = await pair.b.client.query<Row>('SELECT object_key, kind FROM ds_change_conflict ORDER BY id');
    expect(rows.map((r) => r.kind)).toEqual(local.map(() => 'update_changed'));
    expect(rows).toHaveLength(local.length);
    await equalTables();

    for (const key of keys) await deleteRow(pair.a.client, orders, { order_id: key });
    for (const id of ids) await deleteRow(pair.a.client, zoo, { id });
    result = await forward();
    expect([result.parked, result.replayed]).toEqual([0, 0]);
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM sales_order')).toBe(0);
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM type_zoo')).toBe(0);
    // Every row's entry was found and moved on: none is left live (an odd causal length).
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_row_version WHERE cl % 2 = 1')).toBe(0);
  });
});
