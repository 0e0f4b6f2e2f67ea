/**
 * compareTables across brands: equal tables show no difference whatever the segment
 * size; one changed value, one missing row and one extra row show exactly those keys,
 * with segments small enough that the drill-down and the overflow path both run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { ColumnSchema } from '../../src/core/schema.ts';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { comparableEncoder, driverEncoder } from '../../src/verify/row-encoding.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { applyFixtureSchema } from '../helpers/fixtures.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
    ['postgres', 'postgres'],
    ['postgres', 'mysql'],
    ['mysql', 'sqlite'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

/** Keys that sort differently under a linguistic collation than by code point. */
const KEYS = ['A-1', 'a-1', 'B', '_x', 'Z', 'é', 'e', 'ord10', 'ord2', '😀', '~'];

const order = (id: string, i: number): ValueMap => ({
  order_id: id,
  order_type: i % 2 ? 'wholesale' : 'retail',
  description: `it's order ${i} ~ "q"`,
  product_type_name: 'desktop',
  customer_id: `c${i}`,
  quantity: i,
  order_date: '2025-05-25',
  update_datetime: `2025-06-25T10:30:${String(i % 60).padStart(2, '0')}.123456`,
  updated_by_user: i % 3 ? 'mtp' : null,
  updated_by_server: 'server1',
});

const ZOO: ValueMap = {
  id: 1,
  c_smallint: -32768,
  c_int: 2147483647,
  c_bigint: '9007199254740993',
  // 15 significant digits: SQLite stores DECIMAL as REAL, and more digits would really differ.
  c_decimal: '123456789.123456',
  c_float: 0.1,
  c_real: 1.5,
  c_bool: true,
  c_char: 'ab',
  c_varchar: `it's ~ "q" \`b\` ünïcødé 😀`,
  c_text: 'text',
  c_date: '1969-07-20',
  c_time: '10:30:00.123456',
  c_timestamp: '2025-06-25T10:30:00.500001',
  c_timestamptz: '2025-06-25T08:30:00.000000Z',
  c_bytea: Buffer.from([0, 255, 16, 39]).toString('base64'),
  c_json: '{"a":[1,2],"b":"x"}',
  c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
};

interface Side {
  db: TestDatabase;
  client: DbClient;
  tables: Record<string, TableSchema>;
}

async function openSide(dialectName: DialectName): Promise<Side> {
  const db = await createTestDatabase(dialectName, 'dsync_v');
  const dialect = await getDialect(dialectName);
  const client = await dialect.connect(db.url, `verify-${dialectName}`);
  await applyFixtureSchema(client);
  const tables: Record<string, TableSchema> = {};
  for (const name of ['sales_order', 'order_line', 'type_zoo']) tables[name] = await dialect.introspect(client, name);
  return { db, client, tables };
}

describe.each(PAIRS)('verify %s vs %s', (from, to) => {
  let a: Side;
  let b: Side;
  const side = (s: Side, table: string) => ({ client: s.client, table: s.tables[table] });
  const keysOf = (differences: Array<{ kind: string; key: ValueMap; columns: string[] }>) =>
    differences
      .map((d) => ({ kind: d.kind, key: d.key, columns: d.columns }))
      .sort((x, y) => JSON.stringify(x.key).localeCompare(JSON.stringify(y.key)));

  beforeAll(async () => {
    [a, b] = [await openSide(from), await openSide(to)];
    for (const s of [a, b]) {
      for (const [i, key] of KEYS.entries()) await insertRow(s.client, s.tables.sales_order, order(key, i));
      for (let i = 0; i < 40; i++) await insertRow(s.client, s.tables.sales_order, order(`o${String(i).padStart(4, '0')}`, i));
      for (const [i, id] of ['o1', 'o2', 'o10'].entries()) {
        for (let line = 1; line <= 4; line++) {
          await insertRow(s.client, s.tables.order_line, {
            order_id: id,
            line_no: line * (i + 1),
            product: `p${line}`,
            amount: `${line}.50`,
          });
        }
      }
      await insertRow(s.client, s.tables.type_zoo, ZOO);
      await insertRow(s.client, s.tables.type_zoo, { id: 2 });
    }
  });
  afterAll(async () => {
    for (const s of [a, b]) {
      await s?.client.close().catch(() => undefined);
      await s?.db.drop();
    }
  });

  it.each([1, 3, 7, 10_000])('finds no difference between equal tables (segments of %i rows)', async (segmentRows) => {
    for (const table of ['sales_order', 'order_line', 'type_zoo']) {
      const result = await compareTables(side(a, table), side(b, table), { segmentRows });
      expect(result.differences, table).toEqual([]);
      expect(hasDifferences(result)).toBe(false);
      expect(result.rowsA).toBe(result.rowsB);
      expect(result.rowsA).toBeGreaterThan(0);
    }
    const whole = await compareTables(side(a, 'sales_order'), side(b, 'sales_order'), { segmentRows });
    expect(whole.rowsA).toBe(KEYS.length + 40);
    expect(whole.segments).toBe(Math.floor(whole.rowsA / segmentRows) + 1);
  });

  it.each([1, 3, 10_000])('finds exactly one changed, one missing and one extra row (segments of %i rows)', async (segmentRows) => {
    const t = b.tables.sales_order;
    await updateRow(b.client, t, { order_id: 'é' }, { quantity: 999 });
    await deleteRow(b.client, t, { order_id: 'o0007' });
    await insertRow(b.client, t, order('o0007x', 7));
    try {
      const result = await compareTables(side(a, 'sales_order'), side(b, 'sales_order'), { segmentRows });
      expect(keysOf(result.differences)).toEqual(
        keysOf([
          { kind: 'changed', key: { order_id: 'é' }, columns: ['quantity'] },
          { kind: 'missing', key: { order_id: 'o0007' }, columns: [] },
          { kind: 'extra', key: { order_id: 'o0007x' }, columns: [] },
        ]),
      );
      expect(result.differenceCount).toBe(3);
      expect(result.rowsA).toBe(result.rowsB);
    } finally {
      await updateRow(b.client, t, { order_id: 'é' }, { quantity: KEYS.indexOf('é') });
      await deleteRow(b.client, t, { order_id: 'o0007x' });
      await insertRow(b.client, t, order('o0007', 7));
    }
  });

  it('finds many extra rows at the end and in the middle of a segment (the overflow path)', async () => {
    const t = b.tables.sales_order;
    const extra = ['o0003a', 'o0003b', 'o0003c', 'o0003d', 'zz1', 'zz2', 'zz3'];
    for (const [i, key] of extra.entries()) await insertRow(b.client, t, order(key, i));
    try {
      for (const segmentRows of [2, 3, 10_000]) {
        const result = await compareTables(side(a, 'sales_order'), side(b, 'sales_order'), { segmentRows });
        expect(keysOf(result.differences)).toEqual(keysOf(extra.map((key) => ({ kind: 'extra', key: { order_id: key }, columns: [] }))));
        expect(result.rowsB - result.rowsA).toBe(extra.length);
      }
      const reversed = await compareTables(side(b, 'sales_order'), side(a, 'sales_order'), { segmentRows: 2 });
      expect(keysOf(reversed.differences)).toEqual(keysOf(extra.map((key) => ({ kind: 'missing', key: { order_id: key }, columns: [] }))));
    } finally {
      for (const key of extra) await deleteRow(b.client, t, { order_id: key });
    }
  });

  it('reads a composite key in segments and finds a changed amount', async () => {
    await updateRow(b.client, b.tables.order_line, { order_id: 'o10', line_no: 9 }, { amount: '9.25' });
    try {
      const result = await compareTables(side(a, 'order_line'), side(b, 'order_line'), { segmentRows: 2 });
      expect(result.differences).toEqual([{ kind: 'changed', key: { order_id: 'o10', line_no: 9 }, columns: ['amount'] }]);
      expect(result.rowsA).toBe(12);
    } finally {
      await updateRow(b.client, b.tables.order_line, { order_id: 'o10', line_no: 9 }, { amount: '9.50' });
    }
  });

  it('lists at most maxListed differences and counts the rest', async () => {
    const result = await compareTables(side(a, 'sales_order'), side(b, 'order_line'), { segmentRows: 5, maxListed: 3 }).catch(
      (e: Error) => e,
    );
    // Different keys: refused rather than compared.
    expect(result).toBeInstanceOf(Error);
    const t = b.tables.sales_order;
    for (let i = 0; i < 5; i++) await updateRow(b.client, t, { order_id: `o${String(i).padStart(4, '0')}` }, { description: 'changed' });
    try {
      const capped = await compareTables(side(a, 'sales_order'), side(b, 'sales_order'), { segmentRows: 4, maxListed: 3 });
      expect(capped.differences).toHaveLength(3);
      expect(capped.differenceCount).toBe(5);
      expect(capped.truncated).toBe(true);
    } finally {
      for (let i = 0; i < 5; i++)
        await updateRow(b.client, t, { order_id: `o${String(i).padStart(4, '0')}` }, { description: order('', i).description });
    }
  });
});

describe('row encoding', () => {
  const column = (family: ColumnSchema['family'], nativeType: string = family): ColumnSchema => ({
    name: 'c',
    nativeType,
    family,
    nullable: true,
    default: null,
  });

  it('gives driver dates and timestamps the same text on the fast path as through fromDriver', async () => {
    const dialect = await getDialect('postgres');
    const samples: Array<[ColumnSchema, unknown[]]> = [
      [column('date'), ['2025-05-25', '1969-07-20', '0001-01-01', '2024-02-29', '2025-12-31', null]],
      [
        column('timestamp'),
        [
          '2025-06-25 10:30:00',
          '2025-06-25 10:30:00.5',
          '2025-06-25T10:30:00.123456',
          '1900-01-01 00:00:00.000001',
          '2025-06-25 10:30',
          null,
        ],
      ],
    ];
    for (const [c, values] of samples) {
      const fast = driverEncoder(dialect, c);
      const slow = comparableEncoder(c);
      for (const value of values) expect(fast(value), String(value)).toBe(slow(dialect.fromDriver(c, value)));
    }
  });

  it('makes equal values of other spellings equal and keeps texts self-delimiting', () => {
    expect(comparableEncoder(column('decimal'))('12.50')).toBe(comparableEncoder(column('decimal'))('12.5'));
    expect(comparableEncoder(column('float'))('1e3')).toBe(comparableEncoder(column('float'))(1000));
    expect(comparableEncoder(column('json'))('{"b": 1, "a": [1, 2]}')).toBe(comparableEncoder(column('json'))('{"a":[1,2],"b":1}'));
    expect(comparableEncoder(column('text', 'character(5)'))('ab   ')).toBe(comparableEncoder(column('text', 'character(5)'))('ab'));
    expect(comparableEncoder(column('text', 'varchar(5)'))('ab   ')).not.toBe(comparableEncoder(column('text', 'varchar(5)'))('ab'));
    const text = comparableEncoder(column('text'));
    expect(text('a') + text('bc')).not.toBe(text('ab') + text('c'));
    expect(text('null')).not.toBe(text(null));
  });
});

describe.runIf(live.includes('postgres') && live.includes('sqlite'))('verify with a linguistic collation on the key', () => {
  it('reads keys in code-point order on both sides (no false differences, no missed rows)', async () => {
    const pg = await createTestDatabase('postgres', 'dsync_v');
    const lite = await createTestDatabase('sqlite', 'dsync_v');
    const pgClient = await (await getDialect('postgres')).connect(pg.url, 'verify-pg');
    const liteClient = await (await getDialect('sqlite')).connect(lite.url, 'verify-lite');
    try {
      const { rows } = await pgClient.query(
        "SELECT collname FROM pg_collation WHERE collname IN ('en-x-icu', 'en_US.utf8', 'en_US') ORDER BY collname LIMIT 1",
      );
      if (rows.length === 0) return; // no linguistic collation on this server: nothing to try
      await pgClient.exec(`CREATE TABLE coll_keys (k varchar(20) COLLATE "${String(rows[0].collname)}" PRIMARY KEY, v integer)`);
      await liteClient.exec('CREATE TABLE coll_keys (k VARCHAR(20) PRIMARY KEY NOT NULL, v INTEGER)');
      const sides = [
        { client: pgClient, table: await pgClient.dialect.introspect(pgClient, 'coll_keys') },
        { client: liteClient, table: await liteClient.dialect.introspect(liteClient, 'coll_keys') },
      ];
      for (const s of sides) for (const [i, k] of KEYS.entries()) await insertRow(s.client, s.table, { k, v: i });
      await deleteRow(liteClient, sides[1].table, { k: 'B' });
      for (const segmentRows of [1, 2, 3, 1000]) {
        const result = await compareTables(sides[0], sides[1], { segmentRows });
        expect(result.differences).toEqual([{ kind: 'missing', key: { k: 'B' }, columns: [] }]);
        expect([result.rowsA, result.rowsB]).toEqual([KEYS.length, KEYS.length - 1]);
      }
    } finally {
      await pgClient.close();
      await liteClient.close();
      await pg.drop();
      await lite.drop();
    }
  });
});
