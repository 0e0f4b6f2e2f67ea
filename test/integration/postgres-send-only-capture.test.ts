/**
 * PostgreSQL's capture on a send-only node (nodes.<n>.sendOnly, templates/postgres/capture.sql.hbs)
 * keeps no version store: it writes the outbox row alone, with row_cl, row_cl_old and
 * change_version NULL, and every other column as the capture with a version store writes it.
 * Two databases, one node each, both named alike with the same server id (so object_database and
 * updated_by_server_id agree): one normal, one sendOnly. The same seeded random statements run on
 * both (one-row and multi-row INSERT, UPDATE, DELETE; updates that change nothing, some rows, the
 * key, or a key and other rows; NULLs; some under another origin's flags) over the fixture tables
 * and a partitioned table (row-level triggers), and after each statement the new outbox rows must
 * agree column by column but for id, update_datetime, txn_id and the three version columns (as a
 * set: the order of one statement's rows is the table's scan order, which the two databases need
 * not share). The seed is printed; DSYNC_TEST_SEED=<seed> replays it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { setUpFixtureNode } from '../helpers/sync-node.ts';
import { oddText, random } from '../helpers/random.ts';

const live = (await liveDialects()).includes('postgres');
const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 100_000);
const STEPS = 600;

/** A partitioned table: PostgreSQL's capture takes row-level triggers for it. */
const PARTITIONED = [
  `CREATE TABLE part_row (id integer NOT NULL, region text NOT NULL, note text, amount numeric(10, 2),
     PRIMARY KEY (id, region)) PARTITION BY LIST (region)`,
  `CREATE TABLE part_row_n PARTITION OF part_row FOR VALUES IN ('n')`,
  `CREATE TABLE part_row_s PARTITION OF part_row FOR VALUES IN ('s')`,
];

/** Columns the two captures may write differently. */
const VERSION_COLUMNS = ['row_cl', 'row_cl_old', 'change_version'];
const SKIPPED = new Set(['id', 'update_datetime', 'txn_id', ...VERSION_COLUMNS]);

interface Node {
  db: TestDatabase;
  client: DbClient;
  close(): Promise<void>;
}

async function createNode(sendOnly: boolean): Promise<Node> {
  const db = await createTestDatabase('postgres', sendOnly ? 'dsync_so' : 'dsync_nv');
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-so-'));
  const config = parseConfig(
    {
      nodes: { pg: { dialect: 'postgres', url: db.url, serverId: 'so-pg', ...(sendOnly ? { sendOnly: true } : {}) } },
      tables: ['sales_order', 'order_line', 'type_zoo', 'Odd Names', 'part_row'],
      programs: [],
      generatedDir,
    },
    FIXTURES,
    null,
  );
  const dialect = await getDialect('postgres');
  const node = config.nodes.pg;
  const client = await dialect.connect(node.url, node.name);
  await setUpFixtureNode(config, node, dialect, client, generatedDir, PARTITIONED);
  return {
    db,
    client,
    async close() {
      await client.close().catch(() => undefined);
      await db.drop();
      rmSync(generatedDir, { recursive: true, force: true });
    },
  };
}

type Rnd = () => number;
type Value = string | number | boolean | null;

interface Column {
  name: string;
  value(rnd: Rnd): Value;
}

interface TableSpec {
  table: string;
  key: string[];
  columns: Column[];
  /** A key no row has had yet. */
  fresh(rnd: Rnd): Value[];
  /** Partitions by the value of the last key column (statements may name them). */
  partitions?: Record<string, string>;
}

const maybeNull = (rnd: Rnd, value: () => Value): Value => (rnd() < 0.15 ? null : value());
const pick = <T>(rnd: Rnd, items: T[]): T => items[Math.floor(rnd() * items.length)];
const intIn = (rnd: Rnd, lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
const digits = (rnd: Rnd, n: number) => Array.from({ length: n }, () => intIn(rnd, 0, 9)).join('');
const hex = (rnd: Rnd, n: number) => Array.from({ length: n }, () => intIn(rnd, 0, 15).toString(16)).join('');

function specs(): TableSpec[] {
  let next = 0;
  const text = (name: string, max: number): Column => ({ name, value: (r) => maybeNull(r, () => oddText(r, max)) });
  return [
    {
      table: 'sales_order',
      key: ['order_id'],
      columns: [
        text('order_type', 5),
        text('description', 12),
        text('product_type_name', 6),
        text('customer_id', 5),
        { name: 'quantity', value: (r) => maybeNull(r, () => intIn(r, -1000, 1000)) },
        { name: 'order_date', value: (r) => maybeNull(r, () => `20${intIn(r, 10, 40)}-0${intIn(r, 1, 9)}-1${intIn(r, 0, 9)}`) },
        {
          name: 'update_datetime',
          value: (r) => maybeNull(r, () => `2026-11-2${intIn(r, 0, 9)} 1${intIn(r, 0, 9)}:0${intIn(r, 0, 9)}:00.${digits(r, 6)}`),
        },
        text('updated_by_user', 5),
      ],
      fresh: () => [`so-${++next}`],
    },
    {
      table: 'order_line',
      key: ['order_id', 'line_no'],
      columns: [
        { name: 'product', value: (r) => oddText(r, 8) },
        {
          name: 'amount',
          value: (r) => maybeNull(r, () => pick(r, ['12.50', '0.00', '-3.1', '99999.99', `${intIn(r, 0, 999)}.${digits(r, 2)}`])),
        },
      ],
      fresh: (r) => [pick(r, ['a"1', 'b\\2', 'c']), ++next],
    },
    {
      table: 'type_zoo',
      key: ['id'],
      columns: [
        { name: 'c_smallint', value: (r) => maybeNull(r, () => intIn(r, -32768, 32767)) },
        { name: 'c_int', value: (r) => maybeNull(r, () => intIn(r, -2e9, 2e9)) },
        {
          name: 'c_bigint',
          value: (r) => maybeNull(r, () => pick(r, ['9007199254740993', '-9223372036854775808', String(intIn(r, -1e6, 1e6))])),
        },
        {
          name: 'c_decimal',
          value: (r) => maybeNull(r, () => pick(r, ['12.500000', '0', '-0.000001', `${intIn(r, 0, 1e6)}.${digits(r, 6)}`])),
        },
        { name: 'c_float', value: (r) => maybeNull(r, () => pick(r, ['0.1', '1e21', '1e-7', '-0', String(r() * 1e6)])) },
        { name: 'c_real', value: (r) => maybeNull(r, () => pick(r, ['0.1', '3.4e38', String(Math.fround(r()))])) },
        { name: 'c_bool', value: (r) => maybeNull(r, () => r() < 0.5) },
        { name: 'c_char', value: (r) => maybeNull(r, () => pick(r, ['ab', 'abcde', '', 'é'])) },
        text('c_varchar', 10),
        text('c_text', 20),
        { name: 'c_date', value: (r) => maybeNull(r, () => pick(r, ['2024-02-29', '0001-01-01', '9999-12-31'])) },
        { name: 'c_time', value: (r) => maybeNull(r, () => `${intIn(r, 10, 23)}:${intIn(r, 10, 59)}:0${intIn(r, 0, 9)}.${digits(r, 6)}`) },
        {
          name: 'c_timestamp',
          value: (r) => maybeNull(r, () => `2026-0${intIn(r, 1, 9)}-1${intIn(r, 0, 9)} 0${intIn(r, 0, 9)}:30:00.${digits(r, 6)}`),
        },
        {
          name: 'c_timestamptz',
          value: (r) => maybeNull(r, () => `2026-03-1${intIn(r, 0, 9)} 12:00:00.${digits(r, 6)}+0${intIn(r, 0, 9)}:30`),
        },
        { name: 'c_bytea', value: (r) => maybeNull(r, () => `\\x${hex(r, 2 * intIn(r, 0, 8))}`) },
        { name: 'c_json', value: (r) => maybeNull(r, () => JSON.stringify({ a: oddText(r, 4), n: intIn(r, 0, 9), z: [r() < 0.5] })) },
        { name: 'c_uuid', value: (r) => maybeNull(r, () => `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-8${hex(r, 3)}-${hex(r, 12)}`) },
      ],
      fresh: () => [++next],
    },
    {
      table: 'Odd Names',
      key: ['Key Col'],
      columns: ['select', "it's", 'MixedCase', 'back`tick', 'tilde~col', '[bracket]', 'semi;colon'].map((n) => text(n, 6)),
      fresh: () => [++next],
    },
    {
      table: 'part_row',
      key: ['id', 'region'],
      columns: [
        text('note', 10),
        { name: 'amount', value: (r) => maybeNull(r, () => pick(r, ['1.50', '-2', `${intIn(r, 0, 99)}.${digits(r, 2)}`])) },
      ],
      fresh: (r) => [++next, pick(r, ['n', 's'])],
      partitions: { n: 'part_row_n', s: 'part_row_s' },
    },
  ];
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** One random statement over `spec`, with its parameters; updates `present` as the statement will. */
function statement(rnd: Rnd, spec: TableSpec, present: Map<string, Value[]>): { sql: string; params: Value[] } {
  const params: Value[] = [];
  const p = (v: Value) => {
    params.push(v);
    return `$${params.length}`;
  };
  const keyTuple = `(${spec.key.map(q).join(', ')})`;
  const keyList = (keys: Value[][]) => `(${keys.map((k) => `(${k.map(p).join(', ')})`).join(', ')})`;
  const rows = [...present.values()];
  const some = (max: number) => {
    const copy = [...rows];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy.slice(0, intIn(rnd, 1, Math.min(max, copy.length)));
  };
  // A statement on a partitioned table may name the partition of its rows' region.
  const target = (keys: Value[][]) => {
    const regions = new Set(keys.map((k) => String(k[k.length - 1])));
    if (spec.partitions && regions.size === 1 && rnd() < 0.4) return q(spec.partitions[[...regions][0]]);
    return q(spec.table);
  };
  const roll = rnd();
  if (roll < 0.35 || rows.length === 0) {
    const keys = Array.from({ length: rnd() < 0.5 ? 1 : intIn(rnd, 2, 6) }, () => spec.fresh(rnd));
    const values = keys.map((k) => `(${[...k, ...spec.columns.map((c) => c.value(rnd))].map(p).join(', ')})`);
    for (const k of keys) present.set(JSON.stringify(k), k);
    return {
      sql: `INSERT INTO ${q(spec.table)} (${[...spec.key, ...spec.columns.map((c) => c.name)].map(q).join(', ')}) VALUES ${values.join(', ')}`,
      params,
    };
  }
  const keys = some(rnd() < 0.4 ? 1 : 6);
  if (roll < 0.7) {
    // Some columns of some rows: the other rows change nothing; now and then no row changes.
    const changed = keys.filter(() => rnd() < 0.7);
    const columns = spec.columns.filter(() => rnd() < 0.4);
    if (columns.length === 0) columns.push(pick(rnd, spec.columns));
    const set = columns.map((c) => {
      if (changed.length === 0 || rnd() < 0.2) return `${q(c.name)} = ${q(c.name)}`;
      return `${q(c.name)} = CASE WHEN ${keyTuple} IN ${keyList(changed)} THEN ${p(c.value(rnd))} ELSE ${q(c.name)} END`;
    });
    return { sql: `UPDATE ${target(keys)} SET ${set.join(', ')} WHERE ${keyTuple} IN ${keyList(keys)}`, params };
  }
  if (roll < 0.85) {
    // Some rows move to a key of their own, the others may change a column.
    const moving = keys.filter((_, i) => i === 0 || rnd() < 0.5);
    const moves = moving.map((k) => {
      const fresh = spec.fresh(rnd);
      // A composite key may keep its first or its last column (part_row: the region, else a move
      // to the other partition, which PostgreSQL captures as a delete and an insert).
      const keep = spec.key.length > 1 ? pick(rnd, [-1, 0, spec.key.length - 1]) : -1;
      const to = k.map((v, i) => (i === keep ? v : fresh[i]));
      present.delete(JSON.stringify(k));
      present.set(JSON.stringify(to), to);
      return { from: k, to };
    });
    const set = spec.key.map((col, i) => {
      const whens = moves.map((m) => `WHEN ${keyTuple} = (${m.from.map(p).join(', ')}) THEN ${p(m.to[i])}`);
      return `${q(col)} = CASE ${whens.join(' ')} ELSE ${q(col)} END`;
    });
    if (rnd() < 0.5) {
      const c = pick(rnd, spec.columns);
      set.push(`${q(c.name)} = ${p(c.value(rnd))}`);
    }
    // A row that moves to another partition leaves the one named: name the parent.
    return { sql: `UPDATE ${q(spec.table)} SET ${set.join(', ')} WHERE ${keyTuple} IN ${keyList(keys)}`, params };
  }
  for (const k of keys) present.delete(JSON.stringify(k));
  return { sql: `DELETE FROM ${target(keys)} WHERE ${keyTuple} IN ${keyList(keys)}`, params };
}

/** The outbox rows after `afterId`, in id order, every column as text. */
async function outbox(client: DbClient, afterId: number): Promise<Row[]> {
  const { rows } = await client.query<Row>('SELECT * FROM ds_change_outbox WHERE id > $1 ORDER BY id', [afterId]);
  return rows;
}

/** Each row's columns but the skipped ones, as JSON text, sorted. */
const sortedText = (rows: Row[]) => rows.map((row) => JSON.stringify(Object.entries(row).filter(([c]) => !SKIPPED.has(c)))).sort();

describe.runIf(live)('postgres capture on a send-only node', () => {
  let normal: Node;
  let sendOnly: Node;
  beforeAll(async () => {
    normal = await createNode(false);
    sendOnly = await createNode(true);
  }, 120_000);
  afterAll(async () => {
    await normal?.close();
    await sendOnly?.close();
  });

  it(`writes the outbox rows the normal capture writes, without versions and without ds_row_version (seed ${SEED})`, async () => {
    const rnd = random(SEED);
    const tables = specs();
    const present = new Map(tables.map((t) => [t.table, new Map<string, Value[]>()]));
    const last = { normal: 0, sendOnly: 0 };
    const seen = new Map<string, number>();
    const count = (what: string, n = 1) => seen.set(what, (seen.get(what) ?? 0) + n);
    for (let step = 0; step < STEPS; step++) {
      const spec = pick(rnd, tables);
      const st = statement(rnd, spec, present.get(spec.table)!);
      // Now and then under the flags the import sets for a change from elsewhere (DESIGN rule 4).
      const origin = rnd() < 0.15 ? ['peer-x', `user ${step}`, `2026-01-02 03:04:05.${String(step).padStart(6, '0')}`, String(step)] : null;
      const where = `step ${step} (seed ${SEED}): ${st.sql}`;
      const run = async (client: DbClient) => {
        await client.transaction(async (tx) => {
          if (origin) {
            await tx.query(
              `SELECT set_config('dsync.origin_server', $1, true), set_config('dsync.origin_user', $2, true),
                      set_config('dsync.origin_time', $3, true), set_config('dsync.origin_change_id', $4, true)`,
              origin,
            );
          }
          await tx.query(st.sql, st.params).catch((error: Error) => {
            throw new Error(`${where}: ${error.message}`);
          });
        });
      };
      await run(normal.client);
      await run(sendOnly.client);
      const a = await outbox(normal.client, last.normal);
      const b = await outbox(sendOnly.client, last.sendOnly);
      // The rows of one statement follow the order of its transition table, which is the table's
      // scan order: the two databases may differ there (autovacuum), so they are compared as sets.
      expect(sortedText(b), where).toEqual(sortedText(a));
      // Rows that moved to another key come after the statement's other updates (statement-level capture).
      if (!spec.partitions)
        for (const rows of [a, b]) {
          const moved = rows.map((r) => r.object_id_old !== null);
          expect(moved, `${where}: key changes last`).toEqual([...moved].sort((x, y) => Number(x) - Number(y)));
        }
      for (const row of a) expect([row.row_cl, row.change_version].includes(null), `${where}: normal capture versions`).toBe(false);
      for (const row of b)
        expect(
          VERSION_COLUMNS.map((c) => row[c]),
          `${where}: send-only versions`,
        ).toEqual([null, null, null]);
      if (a.length > 0) last.normal = Number(a[a.length - 1].id);
      if (b.length > 0) last.sendOnly = Number(b[b.length - 1].id);
      for (const row of a) {
        count(`${spec.table} ${row.object_operation}${row.object_id_old === null ? '' : ' key'}`);
        if (origin) count('origin');
      }
      if (a.length > 1) count('multi-row');
      if (a.some((r) => r.object_id_old !== null) && a.some((r) => r.object_operation === 'U' && r.object_id_old === null))
        count('key change among other updates');
    }
    const { rows: entries } = await sendOnly.client.query<Row>('SELECT count(*) AS n FROM ds_row_version');
    expect(Number(entries[0].n)).toBe(0);
    const { rows: kept } = await normal.client.query<Row>('SELECT count(*) AS n FROM ds_row_version');
    expect(Number(kept[0].n)).toBeGreaterThan(0);
    // Every kind of change was met, on the row-level table too.
    for (const what of [
      'sales_order U key',
      'order_line U key',
      'type_zoo U',
      'part_row I',
      'part_row U',
      'part_row U key',
      'part_row D',
      'origin',
      'multi-row',
      'key change among other updates',
    ])
      expect(seen.get(what) ?? 0, `${what} (seed ${SEED})`).toBeGreaterThan(2);
  }, 300_000);
});
