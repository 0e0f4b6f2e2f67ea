/**
 * The import's locked read of a large batch (its rows and their version entries, the keys as
 * one array: DialectSql.inArray) must find each key through the primary key's index on
 * PostgreSQL, before the tables were ever analyzed and after: a plan that reads the whole
 * table (a Seq Scan, or the version store's entries of the table by table_name alone) makes
 * every batch cost as much as the table is large, and a 1,000,000-change drain slower per
 * change than a 100,000 one (docs/performance.md, "2026-12-01, branch scale"). The plans are
 * read from EXPLAIN (JSON), not timed. The read also returns exactly the rows and entries
 * that exist, the keys random (seeded; the seed is printed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import { queryArrays, type Row } from '../../src/core/dialect.ts';
import { rowsWithEntriesRead } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';

const live = (await liveDialects()).includes('postgres');
const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 100_000);
const ROWS = 30_000;
const BATCH = 10_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Plans?: PlanNode[];
}

const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];
const key = (i: number) => `k${String(i).padStart(6, '0')}`;

describe.runIf(live)('postgres locked read of a large batch', () => {
  let node: SyncNode;
  beforeAll(async () => {
    node = await createSyncNode('postgres');
    // Through the capture triggers: every row has its version entry.
    await node.client.exec(
      `INSERT INTO sales_order (order_id, quantity) SELECT 'k' || lpad(g::text, 6, '0'), g FROM generate_series(0, ${ROWS - 1}) AS g;
       INSERT INTO order_line (order_id, line_no, product) SELECT 'k' || lpad((g / 3)::text, 6, '0'), g % 3, 'p' FROM generate_series(0, ${ROWS - 1}) AS g`,
    );
  }, 120_000);
  afterAll(async () => node?.close());

  // sales_order's key is one column (one array, DialectSql.inArray); order_line's is two (one array
  // each, inArrays: before, 10,000 ORs).
  it.each([
    ['sales_order', (i: number): ValueMap => ({ order_id: key(i) })],
    ['order_line', (i: number): ValueMap => ({ order_id: key(Math.floor(i / 3)), line_no: i % 3 })],
  ] as const)(
    `finds each key of %s by the index, before and after ANALYZE, and reads what exists (seed ${SEED})`,
    async (name, keyOf) => {
      const rnd = random(SEED);
      const { client } = node;
      const table = node.tables[name];
      const canonical = (k: ValueMap) => canonicalKeyText(table, k);
      // A row key as the capture stores it.
      const stored = new Set(
        (await client.query<Row>('SELECT row_key FROM ds_row_version WHERE table_name = $1', [name])).rows.map((r) => String(r.row_key)),
      );
      expect(stored.size).toBe(ROWS);
      // Half of the batch's keys exist (updates), half do not (inserts past the end), in random order.
      const ids = new Set<number>();
      while (ids.size < BATCH / 2) ids.add(Math.floor(rnd() * ROWS));
      const present = [...ids].map(keyOf);
      const all = [...present, ...Array.from({ length: BATCH / 2 }, (_, i) => keyOf(ROWS + i))].sort(() => rnd() - 0.5);
      const rowKey = canonical;
      expect(present.every((k) => stored.has(rowKey(k)))).toBe(true);
      const read = rowsWithEntriesRead(client.dialect, table, all, canonical, all.map(rowKey), true)!;
      expect(read).toBeDefined();
      expect(read.sql).not.toContain(' OR ');

      for (const stage of ['never analyzed', 'analyzed']) {
        if (stage === 'analyzed') await client.exec(`ANALYZE ${name}; ANALYZE ds_row_version`);
        const { rows } = await client.query<Row>(`EXPLAIN (FORMAT JSON) ${read.sql}`, read.params);
        const raw = Object.values(rows[0])[0];
        const plan = nodes((typeof raw === 'string' ? JSON.parse(raw) : raw)[0].Plan as PlanNode);
        const scans = plan.filter((n) => n['Relation Name'] === name || n['Relation Name'] === 'ds_row_version');
        expect(
          scans.filter((n) => n['Node Type'] === 'Seq Scan'),
          `${stage}: a Seq Scan`,
        ).toEqual([]);
        for (const relation of [name, 'ds_row_version']) {
          const index = plan.find(
            (n) => /Index/.test(n['Node Type']) && (n['Index Cond'] ?? '').includes(relation === name ? 'order_id' : 'row_key'),
          );
          expect(index, `${stage}: ${relation} read by its key through the index`).toBeDefined();
        }
        // Run inside a transaction, as the import does (FOR UPDATE).
        const found = await client.transaction(async (tx) => read.parse(await queryArrays(tx, read.sql, read.params, read.names)));
        expect([...found.rows.keys()].sort()).toEqual(present.map(canonical).sort());
        expect(found.entries.map((e) => String(e.row_key)).sort()).toEqual(present.map(rowKey).sort());
      }
    },
    120_000,
  );
});
