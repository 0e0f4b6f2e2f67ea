/**
 * PostgreSQL's capture builds a row's JSON (object_value, object_value_old) as text
 * (postgresJsonObject, postgresChangedObject) instead of jsonb_build_object, for speed
 * (docs/performance.md, "Issue 13, capture cost of the generated triggers"). The text must hold
 * the very JSON the jsonb form held: here both are computed over seeded random rows of every
 * type family (NULLs, bigints past 2^53, floats' NaN and infinities, BC and infinite dates,
 * strings with quotes, backslashes, control characters and emoji, odd column names) and
 * compared as jsonb text, which keeps every member and each number's own digits. The seed is
 * printed; DSYNC_TEST_SEED=<seed> replays it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ColumnSchema, TableSchema } from '../../src/core/schema.ts';
import {
  postgresChanged,
  postgresChangedObject,
  postgresJsonObject,
  postgresJsonValue,
  postgresSql,
} from '../../src/dialects/postgres/postgres-sql.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';

const live = (await liveDialects()).includes('postgres');
const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 100_000);
const ROWS = 300;

/** The jsonb form the capture used before (jsonb_build_object of postgresJsonValue, per changed column). */
const jsonbObject = (columns: ColumnSchema[], row: string) =>
  `jsonb_build_object(${columns.map((c) => `${postgresSql.literal(c.name)}, ${postgresJsonValue(c, row)}`).join(', ')})`;
const jsonbChanged = (columns: ColumnSchema[], row: string, old: string, side: string) =>
  columns
    .map(
      (c) =>
        `CASE WHEN ${postgresChanged(c, row, old)} THEN jsonb_build_object(${postgresSql.literal(c.name)}, ${postgresJsonValue(c, side)}) ELSE '{}'::jsonb END`,
    )
    .join(' || ');

describe.runIf(live)('postgres capture JSON as text', () => {
  let node: SyncNode;
  beforeAll(async () => {
    node = await createSyncNode('postgres');
  }, 120_000);
  afterAll(async () => node?.close());

  it(`gives the JSON of the jsonb form for every family, whole rows and changed columns (seed ${SEED})`, async () => {
    const rnd = random(SEED);
    const pick = <T>(items: T[]) => items[Math.floor(rnd() * items.length)];
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const chars = ['a', 'Z', ' ', '"', '\\', "'", '\n', '\t', '\u0001', '\u001f', '\u007f', 'é', '😀', '/', '<', '\u2028'];
    const str = (max: number) => Array.from({ length: int(0, max) }, () => pick(chars)).join('');
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const date = () =>
      rnd() < 0.15
        ? pick(['infinity', '-infinity', '0044-03-15 BC', '0001-01-01 BC', '10000-01-01', '200000-06-15', '4713-01-01 BC'])
        : `${pad(int(1, 9999), 4)}-${pad(int(1, 12), 2)}-${pad(int(1, 28), 2)}`;
    const clock = () =>
      `${pad(int(0, 23), 2)}:${pad(int(0, 59), 2)}:${pad(int(0, 59), 2)}${rnd() < 0.5 ? `.${pad(int(0, 999999), 6)}` : ''}`;
    const stamp = () => {
      const d = date();
      return d.includes('infinity') ? d : d.endsWith(' BC') ? `${d.slice(0, -3)} ${clock()} BC` : `${d} ${clock()}`;
    };
    const values: Record<string, () => string> = {
      c_smallint: () => String(int(-32768, 32767)),
      c_int: () => String(int(-2147483648, 2147483647)),
      c_bigint: () =>
        pick([
          '9007199254740991',
          '9007199254740992',
          '-9007199254740991',
          '-9007199254740992',
          '9223372036854775807',
          '-9223372036854775808',
          String(int(-1e9, 1e9)),
        ]),
      c_decimal: () => `${int(-99999999, 99999999)}.${pad(int(0, 999999), int(0, 6))}`.replace(/\.$/, ''),
      c_float: () => pick(['NaN', 'Infinity', '-Infinity', '0', '-0', '1e300', '1e-300', '0.1', String(rnd() * 1e6 - 5e5), String(rnd())]),
      c_real: () => pick(['NaN', 'Infinity', '-Infinity', '0', '3.4e38', '1.5e-40', String(rnd() * 1000)]),
      c_bool: () => pick(['true', 'false']),
      c_char: () => str(5),
      c_varchar: () => str(20),
      c_text: () => str(60),
      c_date: date,
      c_time: clock,
      c_timestamp: stamp,
      c_timestamptz: () => {
        const s = stamp();
        return s.includes('infinity') ? s : `${s}${pick(['+00', '-05:30', '+14'])}`.replace(/ BC(.*)$/, '$1 BC');
      },
      c_bytea: () => `\\x${Array.from({ length: int(0, 80) }, () => int(0, 255).toString(16).padStart(2, '0')).join('')}`,
      c_json: () => JSON.stringify(pick([{ a: [1, 2], b: 'x' }, 'text', 1.5, null, [], { 'k"': '\u0001' }])),
      c_uuid: () => pick(['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00000000-0000-0000-0000-000000000000']),
      select: () => str(10),
      "it's": () => str(10),
      MixedCase: () => str(10),
    };
    const { client } = node;
    await client.exec("SELECT set_config('dsync.capture', 'off', false)");
    const tables: TableSchema[] = [node.tables.type_zoo, node.tables['Odd Names']];
    let compared = 0;
    for (const table of tables) {
      const q = postgresSql.ident(table.name);
      const key = table.columns[0];
      const others = table.columns.slice(1);
      for (let id = 1; id <= ROWS; id++) {
        const row = others.map((c) => (rnd() < 0.2 ? null : (values[c.name] ?? (() => str(10)))()));
        const params = [String(id), ...row];
        await client.query(
          `INSERT INTO ${q} (${table.columns.map((c) => postgresSql.ident(c.name)).join(', ')}) VALUES (${params.map((_, i) => `$${i + 1}`).join(', ')})`,
          params,
        );
      }
      const cols = table.columns;
      const whole = await client.query<{ id: number; text: string; b: string; a: string }>(
        `SELECT t.${postgresSql.ident(key.name)} AS id, ${postgresJsonObject(cols, 't')} AS text, (${postgresJsonObject(cols, 't')})::jsonb::text AS a, (${jsonbObject(cols, 't')})::text AS b FROM ${q} AS t`,
      );
      for (const r of whole.rows) {
        expect(r.a, `${table.name} row ${r.id}: ${r.text}`).toBe(r.b);
        compared++;
      }
      // Pairs of rows as old and new images: some columns differ, some are equal (the same value on both).
      await client.exec(`UPDATE ${q} AS t SET ${others.map((c) => `${postgresSql.ident(c.name)} = u.${postgresSql.ident(c.name)}`).join(', ')}
        FROM ${q} AS u WHERE u.${postgresSql.ident(key.name)} = t.${postgresSql.ident(key.name)} + 1 AND t.${postgresSql.ident(key.name)} % 3 = 0`);
      const changed = await client.query<{ id: number; an: string; bn: string; ao: string; bo: string }>(
        `SELECT t.${postgresSql.ident(key.name)} AS id,
           (${postgresChangedObject(others, 't', 'u', 't')})::jsonb::text AS an, (${jsonbChanged(others, 't', 'u', 't')})::text AS bn,
           (${postgresChangedObject(others, 't', 'u', 'u')})::jsonb::text AS ao, (${jsonbChanged(others, 't', 'u', 'u')})::text AS bo
         FROM ${q} AS t JOIN ${q} AS u ON u.${postgresSql.ident(key.name)} = t.${postgresSql.ident(key.name)} + 1`,
      );
      for (const r of changed.rows) {
        expect(r.an, `${table.name} new side of ${r.id}`).toBe(r.bn);
        expect(r.ao, `${table.name} old side of ${r.id}`).toBe(r.bo);
        compared++;
      }
      expect(changed.rows.some((r) => r.bn === '{}')).toBe(true);
    }
    expect(compared).toBeGreaterThan(4 * ROWS - 10);
  }, 120_000);
});
