/**
 * Values that used to be bent on the way (issue "Never lose a change, never get stuck"):
 * PostgreSQL's endless and BC dates and timestamps, and a jsonb document that is JSON
 * null. Each arrives exactly where the target brand can hold it, through the bulk path
 * (several rows of one shape in a batch) and the single-row path alike, or is parked
 * with the reason where it cannot; verify reads and compares them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { listParked } from '../../src/runtime/import/parking.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const withPostgres = (to: DialectName) => live.includes('postgres') && live.includes(to);

/** PostgreSQL spellings written at the source, and their canonical (wire) form. */
const DATES = [
  { id: 1, pg: ['infinity', 'infinity', 'infinity'], canonical: ['infinity', 'infinity', 'infinity'] },
  { id: 2, pg: ['-infinity', '-infinity', '-infinity'], canonical: ['-infinity', '-infinity', '-infinity'] },
  {
    id: 3,
    pg: ['0044-03-15 BC', '0044-03-15 12:30:00.123456 BC', '0044-03-15 12:30:00.123456+00 BC'],
    canonical: ['-0043-03-15', '-0043-03-15T12:30:00.123456', '-0043-03-15T12:30:00.123456Z'],
  },
  {
    id: 4,
    pg: ['0001-12-31 BC', '4713-01-01 00:00:00 BC', '0001-01-01 00:00:00+00'],
    canonical: ['0000-12-31', '-4712-01-01T00:00:00.000000', '0001-01-01T00:00:00.000000Z'],
  },
  {
    id: 5,
    pg: ['10000-01-01', '294276-12-31 23:59:59.999999', '0044-03-15 23:59:59.999999'],
    canonical: ['+10000-01-01', '+294276-12-31T23:59:59.999999', '0044-03-15T23:59:59.999999Z'],
  },
];
const COLUMNS = ['c_date', 'c_timestamp', 'c_timestamptz'] as const;

async function insertDates(client: DbClient) {
  const rows = DATES.map((d) => `(${d.id}, '${d.pg[0]}', '${d.pg[1]}', '${d.pg[2]}')`).join(', ');
  // One statement: the rows reach the import in one batch, of one shape (the bulk path).
  await client.query(`INSERT INTO type_zoo (id, c_date, c_timestamp, c_timestamptz) VALUES ${rows}`);
}

async function pgTexts(client: DbClient): Promise<Row[]> {
  const { rows } = await client.query(
    'SELECT id, c_date::text AS d, c_timestamp::text AS t, c_timestamptz::text AS tz FROM type_zoo ORDER BY id',
  );
  return rows;
}

describe.runIf(withPostgres('postgres'))('endless and BC dates, postgres → postgres', () => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
  });
  afterAll(async () => pair?.close());

  it('arrive exactly, in a batch (bulk path) and alone (single-row path)', async () => {
    await insertDates(pair.a.client);
    await pair.forward();
    expect((await listParked(pair.b.client)).map((p) => p.reason)).toEqual([]);
    expect(await pgTexts(pair.b.client)).toEqual(await pgTexts(pair.a.client));
    expect((await pgTexts(pair.b.client))[2]).toEqual({
      id: 3,
      d: '0044-03-15 BC',
      t: '0044-03-15 12:30:00.123456 BC',
      tz: '0044-03-15 12:30:00.123456+00 BC',
    });

    // Two rows in one statement (bulk update), then one alone (single-row update).
    await pair.a.client.query("UPDATE type_zoo SET c_date = '0100-02-28 BC', c_timestamp = '-infinity' WHERE id IN (1, 2)");
    await pair.forward();
    await pair.a.client.query("UPDATE type_zoo SET c_timestamptz = 'infinity', c_date = '0044-03-16 BC' WHERE id = 3");
    await pair.forward();
    expect((await listParked(pair.b.client)).map((p) => p.reason)).toEqual([]);
    expect(await pgTexts(pair.b.client)).toEqual(await pgTexts(pair.a.client));
    expect((await pgTexts(pair.b.client))[0]).toMatchObject({ d: '0100-02-28 BC', t: '-infinity' });
  });

  it('are read by the import in canonical form', async () => {
    const row = await selectRow(pair.b.client, pair.tables.b.type_zoo, { id: 4 });
    expect(COLUMNS.map((c) => row![c])).toEqual(DATES[3].canonical);
  });

  it('are compared by verify, which tells 44 BC from AD 44', async () => {
    const side = (p: SyncPair['a']) => ({ client: p.client, table: pair.tables.a.type_zoo });
    const same = await compareTables(side(pair.a), side(pair.b), { segmentRows: 2 });
    expect(same.differences).toEqual([]);
    expect(hasDifferences(same)).toBe(false);
    await pair.b.client.query("UPDATE type_zoo SET c_date = '0044-03-16' WHERE id = 3");
    const differ = await compareTables(side(pair.a), side(pair.b), { segmentRows: 2 });
    expect(differ.differences).toEqual([{ kind: 'changed', key: { id: 3 }, columns: ['c_date'] }]);
  });
});

describe.runIf(withPostgres('sqlite'))('endless and BC dates, postgres ↔ sqlite', () => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'sqlite');
  });
  afterAll(async () => pair?.close());

  it('are stored in SQLite as their canonical text and come back exactly', async () => {
    await insertDates(pair.a.client);
    await pair.forward();
    expect((await listParked(pair.b.client)).map((p) => p.reason)).toEqual([]);
    for (const d of DATES) {
      const row = await selectRow(pair.b.client, pair.tables.b.type_zoo, { id: d.id });
      expect(
        COLUMNS.map((c) => row![c]),
        `row ${d.id}`,
      ).toEqual(d.canonical);
    }
    const stored = await pair.b.client.query('SELECT c_date, c_timestamp, c_timestamptz FROM type_zoo WHERE id = 3');
    expect(stored.rows[0]).toEqual({
      c_date: '-0043-03-15',
      c_timestamp: '-0043-03-15 12:30:00.123456',
      c_timestamptz: '-0043-03-15 12:30:00.123456Z',
    });

    // Written at SQLite, read back at PostgreSQL.
    await updateRow(
      pair.b.client,
      pair.tables.b.type_zoo,
      { id: 1 },
      { c_date: '-0099-02-28', c_timestamp: '-infinity', c_timestamptz: '0000-06-01T00:00:00.000000Z' },
    );
    await pair.backward();
    expect((await listParked(pair.a.client)).map((p) => p.reason)).toEqual([]);
    expect((await pgTexts(pair.a.client))[0]).toEqual({ id: 1, d: '0100-02-28 BC', t: '-infinity', tz: '0001-06-01 00:00:00+00 BC' });
  });
});

describe.runIf(withPostgres('mysql'))('endless and BC dates, postgres → mysql', () => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'mysql');
  });
  afterAll(async () => pair?.close());

  it.each([
    ['c_date', 'infinity', /c_date \(date\): infinity is an endless date.*MySQL\/MariaDB cannot store/],
    ['c_timestamp', '-infinity', /c_timestamp \(datetime\(6\)\): -infinity is an endless date/],
    ['c_date', '0044-03-15 BC', /c_date \(date\): -0043-03-15 is a date BC \(ISO year -43 is 44 BC\)/],
    ['c_timestamptz', '0044-03-15 12:00:00+00 BC', /c_timestamptz .*44 BC/],
    ['c_timestamp', '10000-01-01 00:00:00', /past the year 9999/],
  ])('parks %s = %s with the reason, the row untouched', async (column, value, reason) => {
    await pair.a.client.query('DELETE FROM type_zoo');
    await pair.a.client.query("INSERT INTO type_zoo (id, c_varchar) VALUES (10, 'before')");
    await pair.forward();
    const before = (await listParked(pair.b.client, true)).length;
    await pair.a.client.query(`UPDATE type_zoo SET ${column} = '${value}' WHERE id = 10`);
    await pair.forward();
    const parked = (await listParked(pair.b.client, true)).slice(before);
    expect(parked.map((p) => p.reason)).toEqual([expect.stringMatching(reason)]);
    expect(await selectRow(pair.b.client, pair.tables.b.type_zoo, { id: 10 })).toMatchObject({ c_varchar: 'before', [column]: null });
    await pair.b.client.query('DELETE FROM ds_change_error');
  });
});

describe.runIf(withPostgres('postgres'))('a jsonb document that is JSON null, postgres → postgres', () => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
  });
  afterAll(async () => pair?.close());

  const kinds = async (client: DbClient) =>
    (
      await client.query(
        "SELECT id, CASE WHEN c_json IS NULL THEN 'SQL NULL' ELSE jsonb_typeof(c_json) END AS kind FROM type_zoo ORDER BY id",
      )
    ).rows;

  it('stays the JSON value null, in a batch and alone, on insert and update', async () => {
    await pair.a.client.query("INSERT INTO type_zoo (id, c_json) VALUES (1, 'null'), (2, 'null'), (3, NULL)");
    await pair.forward();
    await pair.a.client.query("INSERT INTO type_zoo (id, c_json) VALUES (4, 'null')");
    await pair.forward();
    expect(await kinds(pair.b.client)).toEqual([
      { id: 1, kind: 'null' },
      { id: 2, kind: 'null' },
      { id: 3, kind: 'SQL NULL' },
      { id: 4, kind: 'null' },
    ]);
    await pair.a.client.query(`UPDATE type_zoo SET c_json = '"x"' WHERE id IN (1, 2, 4)`);
    await pair.forward();
    await pair.a.client.query(`UPDATE type_zoo SET c_json = 'null' WHERE id IN (1, 2)`);
    await pair.forward();
    await pair.a.client.query(`UPDATE type_zoo SET c_json = 'null' WHERE id = 4`);
    await pair.forward();
    await pair.a.client.query(`UPDATE type_zoo SET c_json = 'null' WHERE id = 3`);
    await pair.forward();
    expect((await listParked(pair.b.client)).map((p) => p.reason)).toEqual([]);
    expect(await kinds(pair.b.client)).toEqual([
      { id: 1, kind: 'null' },
      { id: 2, kind: 'null' },
      { id: 3, kind: 'null' },
      { id: 4, kind: 'null' },
    ]);
  });
});

describe.runIf(live.includes('mysql') && live.includes('postgres'))('a 4-byte float, mysql → postgres', () => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair('mysql', 'postgres');
  });
  afterAll(async () => pair?.close());

  it('arrives with all its digits (MySQL prints a FLOAT with 6) and verify finds both sides equal', async () => {
    await pair.a.client.query('INSERT INTO type_zoo (id, c_real) VALUES (1, 0.1234567), (2, 3.4028234663852886e38), (3, 0.1)');
    await pair.forward();
    expect((await listParked(pair.b.client)).map((p) => p.reason)).toEqual([]);
    const { rows } = await pair.b.client.query('SELECT id, c_real::text AS r FROM type_zoo ORDER BY id');
    expect(rows).toEqual([
      { id: 1, r: '0.1234567' },
      { id: 2, r: '3.4028235e+38' },
      { id: 3, r: '0.1' },
    ]);
    const result = await compareTables(
      { client: pair.a.client, table: pair.tables.a.type_zoo },
      { client: pair.b.client, table: pair.tables.b.type_zoo },
    );
    expect(result.differences).toEqual([]);
    await pair.b.client.query("UPDATE type_zoo SET c_real = '0.1234568' WHERE id = 1");
    const differ = await compareTables(
      { client: pair.a.client, table: pair.tables.a.type_zoo },
      { client: pair.b.client, table: pair.tables.b.type_zoo },
    );
    expect(differ.differences).toEqual([{ kind: 'changed', key: { id: 1 }, columns: ['c_real'] }]);
  });
});
