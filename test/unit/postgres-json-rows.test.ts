/**
 * The PostgreSQL bulk writer's json_populate_recordset parameter (postgres-bulk.ts jsonArrayRows,
 * joined a few hundred objects at a time and bracketed as one flat text): exactly what
 * JSON.stringify makes of the rows as objects, on seeded random batches of 0 to 1,200 rows (across
 * the pieces' bounds) with odd text, NULLs, members left out (undefined) and numbers.
 */
import { describe, expect, it } from 'vitest';
import type { DbClient } from '../../src/core/dialect.ts';
import { postgresBulk } from '../../src/dialects/postgres/postgres-bulk.ts';
import { oddText, random } from '../helpers/random.ts';

describe('the bulk writer’s JSON rows', () => {
  it('are what JSON.stringify makes of the rows as objects', async () => {
    const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
    const next = random(seed);
    const columns = ['table_name', 'row_key', 'cl', 'odd "name"\\'];
    let sent: unknown = null;
    const query = async (_sql: string, params: unknown[]) => {
      sent = params[0];
      return { rows: [], rowCount: 0 };
    };
    const tx = { query } as unknown as DbClient;
    const value = (): unknown => {
      const r = next();
      if (r < 0.1) return null;
      if (r < 0.15) return undefined;
      if (r < 0.35) return Math.floor(next() * 2e15) - 1e15;
      if (r < 0.5) return 'sales_order';
      return oddText(next, 12);
    };
    for (const size of [0, 1, 255, 256, 257, 512, 513, 1200, Math.floor(next() * 1200)]) {
      const rows = Array.from({ length: size }, () => columns.map(value));
      await postgresBulk.upsertRows!(tx, 'ds_row_version', columns, ['table_name', 'row_key'], rows);
      const expected = JSON.stringify(rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]]))));
      expect(sent, `seed ${seed} (DSYNC_TEST_SEED repeats it), ${size} rows`).toBe(expected);
    }
  });
});
