/**
 * SQLite's insertRows (the transport's inbox write, and every system table's rows): chunks of a
 * fixed row count and a power-of-two rest put exactly the rows, types and bytes that the
 * multi-row INSERTs of up to 1,000 rows it replaced put (multiRowBulk's insertRows), duplicates
 * skipped the same way; outside a transaction the rows go in together or not at all. Seeded:
 * the seed is printed, DSYNC_TEST_SEED repeats it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DbClient } from '../../src/core/dialect.ts';
import { multiRowBulk } from '../../src/dialects/multirow-bulk.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { sqliteSql } from '../../src/dialects/sqlite/sqlite-sql.ts';
import { INBOX_COLUMNS } from '../../src/runtime/transport/transport.ts';
import { random } from '../helpers/random.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsync-sqlite-rows-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The insertRows this path replaced: multi-row INSERTs of as many rows as 32,766 parameters and 1,000 rows allow. */
const before = multiRowBulk({
  sql: sqliteSql,
  maxParameters: 32766,
  maxRows: 1000,
  toParam: () => null,
  updateFrom: () => '',
  deleteComposite: () => '',
}).insertRows;

/** A table of the inbox's shape (NOT NULL columns, a unique origin key, a default), without the other sync objects. */
const TABLE = `CREATE TABLE ds_change_inbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ${INBOX_COLUMNS.filter((c) => c !== 'origin_change_id')
    .map(
      (c) =>
        `${c} ${['row_cl', 'row_cl_old', 'change_version'].includes(c) ? 'INTEGER' : 'TEXT'}${c === 'object_table' ? ' NOT NULL' : ''}`,
    )
    .join(',\n  ')},
  origin_change_id INTEGER NOT NULL,
  received_at TEXT NOT NULL DEFAULT 'r',
  CONSTRAINT ds_change_inbox_origin UNIQUE (updated_by_server_id, origin_change_id)
)`;

const CONTENT = `SELECT ${['id', ...INBOX_COLUMNS, 'received_at'].map((c) => `typeof(${c}) || ':' || quote(${c}) AS ${c}`).join(', ')} FROM ds_change_inbox ORDER BY id`;

async function open(name: string): Promise<DbClient> {
  const client = await sqliteDialect.connect(join(dir, `${name}.db`), 'lite1');
  await client.exec(TABLE);
  return client;
}

function value(next: () => number, column: string): unknown {
  const pick = next();
  if (column === 'object_table') return ['a', 't\u00e9', '\u{1f600}x', "o'q"][Math.floor(pick * 4)];
  if (pick < 0.15) return null;
  if (pick < 0.25) return Math.floor(next() * 2 ** 53) * (next() < 0.5 ? -1 : 1);
  if (pick < 0.3) return (next() - 0.5) * 1e6;
  if (pick < 0.35) return BigInt(Math.floor(next() * 2 ** 30)) * 2n ** 33n;
  if (pick < 0.4) return Buffer.from([0, 255, Math.floor(next() * 256)]);
  if (pick < 0.45) return next() < 0.5;
  const chars = ['a', '\t', '\n', '\\', "'", '"', '\u00e9', '\u{10348}', '0', ' ', '\u0000'];
  let text = '';
  for (let i = Math.floor(next() * 12); i > 0; i--) text += chars[Math.floor(next() * chars.length)];
  return next() < 0.1 ? String(Math.floor(next() * 1000)) : text;
}

describe('SQLite insertRows', () => {
  it('writes what the 1,000-row INSERTs wrote, for any row count, duplicates skipped alike (seeded)', async () => {
    const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
    console.log(`sqlite insertRows randomized: seed ${seed} (DSYNC_TEST_SEED=${seed} repeats it)`);
    const next = random(seed);
    const ours = await open(`ours-${seed}`);
    const theirs = await open(`theirs-${seed}`);
    try {
      let origin = 0;
      for (let batch = 0; batch < 12; batch++) {
        const count = [0, 1, 2, 15, 16, 17, 33, 100, 1000, 1500][Math.floor(next() * 10)] + Math.floor(next() * 3);
        const rows: unknown[][] = [];
        for (let r = 0; r < count; r++) {
          // Some rows repeat an origin key written before (a resend), some one of this batch.
          const repeat = next() < 0.2 && origin > 0;
          const row = INBOX_COLUMNS.map((c) => value(next, c));
          row[INBOX_COLUMNS.indexOf('updated_by_server_id')] = next() < 0.5 ? 'p' : 'q';
          row[INBOX_COLUMNS.indexOf('origin_change_id')] = repeat ? 1 + Math.floor(next() * origin) : ++origin;
          rows.push(row);
        }
        const ignore = true;
        await ours.transaction((tx) => sqliteDialect.bulk!.insertRows(tx, 'ds_change_inbox', INBOX_COLUMNS, rows, ignore));
        await theirs.transaction((tx) => before(tx, 'ds_change_inbox', INBOX_COLUMNS, rows, ignore));
      }
      // Without duplicates skipped: the same rows, or the same failure.
      const plain = Array.from({ length: 40 }, () =>
        INBOX_COLUMNS.map((c) => (c === 'origin_change_id' ? ++origin : c === 'updated_by_server_id' ? 'p' : value(next, c))),
      );
      await ours.transaction((tx) => sqliteDialect.bulk!.insertRows(tx, 'ds_change_inbox', INBOX_COLUMNS, plain, false));
      await theirs.transaction((tx) => before(tx, 'ds_change_inbox', INBOX_COLUMNS, plain, false));
      const dup = [plain[0]];
      await expect(
        ours.transaction((tx) => sqliteDialect.bulk!.insertRows(tx, 'ds_change_inbox', INBOX_COLUMNS, dup, false)),
      ).rejects.toThrow(/UNIQUE/);
      const a = (await ours.query(CONTENT)).rows;
      const b = (await theirs.query(CONTENT)).rows;
      expect(a.length).toBeGreaterThan(0);
      expect({ seed, rows: a }).toEqual({ seed, rows: b });
    } finally {
      await ours.close();
      await theirs.close();
    }
  });

  it('outside a transaction, rows of several statements go in together or not at all', async () => {
    const client = await open('atomic');
    try {
      const row = (i: number, table: string | null) =>
        INBOX_COLUMNS.map((c) => (c === 'origin_change_id' ? i : c === 'object_table' ? table : 'v'));
      const rows = Array.from({ length: 40 }, (_, i) => row(i, 't'));
      rows.push(row(99, null));
      await expect(sqliteDialect.bulk!.insertRows(client, 'ds_change_inbox', INBOX_COLUMNS, rows, true)).rejects.toThrow(/NOT NULL/);
      expect((await client.query('SELECT count(*) AS n FROM ds_change_inbox')).rows).toEqual([{ n: 0 }]);
      await sqliteDialect.bulk!.insertRows(client, 'ds_change_inbox', INBOX_COLUMNS, rows.slice(0, 40), true);
      expect((await client.query('SELECT count(*) AS n FROM ds_change_inbox')).rows).toEqual([{ n: 40 }]);
    } finally {
      await client.close();
    }
  });
});
