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
      `INSERT INTO sales_order (order_id, quantity) SELECT 'k' || lpad(g::text, 6, '0'), g FROM generate_series(0, ${ROWS - 1}) AS g`,
    );
  }, 120_000);
  afterAll(async () => node?.close());

  it(`finds each key by the index, before and after ANALYZE, and reads what exists (seed ${SEED})`, async () => {
    const rnd = random(SEED);
    const { client } = node;
    const table = node.tables.sales_order;
    const stored = (await client.query<Row>("SELECT row_key FROM ds_row_version WHERE table_name = 'sales_order' LIMIT 1")).rows[0];
    // A row key as the capture stores it, for any order_id (the stored one names k000000 or another).
    const sample = String(stored.row_key);
    const sampleKey = /k\d{6}/.exec(sample)![0];
    const rowKey = (id: string) => sample.replace(sampleKey, id);
    // Half of the batch's keys exist (updates), half do not (inserts past the end), in random order.
    const ids = new Set<string>();
    while (ids.size < BATCH / 2) ids.add(key(Math.floor(rnd() * ROWS)));
    const present = [...ids];
    const all = [...present, ...Array.from({ length: BATCH / 2 }, (_, i) => key(ROWS + i))].sort(() => rnd() - 0.5);
    const keys: ValueMap[] = all.map((id) => ({ order_id: id }));
    const read = rowsWithEntriesRead(client.dialect, table, keys, (k) => String(k.order_id), all.map(rowKey), true)!;
    expect(read).toBeDefined();

    for (const stage of ['never analyzed', 'analyzed']) {
      if (stage === 'analyzed') await client.exec('ANALYZE sales_order; ANALYZE ds_row_version');
      const { rows } = await client.query<Row>(`EXPLAIN (FORMAT JSON) ${read.sql}`, read.params);
      const raw = Object.values(rows[0])[0];
      const plan = nodes((typeof raw === 'string' ? JSON.parse(raw) : raw)[0].Plan as PlanNode);
      const scans = plan.filter((n) => n['Relation Name'] === 'sales_order' || n['Relation Name'] === 'ds_row_version');
      expect(
        scans.filter((n) => n['Node Type'] === 'Seq Scan'),
        `${stage}: a Seq Scan`,
      ).toEqual([]);
      for (const relation of ['sales_order', 'ds_row_version']) {
        const index = plan.find(
          (n) => /Index/.test(n['Node Type']) && (n['Index Cond'] ?? '').includes(relation === 'sales_order' ? 'order_id' : 'row_key'),
        );
        expect(index, `${stage}: ${relation} read by its key through the index`).toBeDefined();
      }
      // Run inside a transaction, as the import does (FOR UPDATE).
      const found = await client.transaction(async (tx) => read.parse(await queryArrays(tx, read.sql, read.params, read.names)));
      expect([...found.rows.keys()].sort()).toEqual([...present].sort());
      expect(found.entries.map((e) => String(e.row_key)).sort()).toEqual(present.map(rowKey).sort());
    }
  }, 120_000);
});
