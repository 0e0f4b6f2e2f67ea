/**
 * PostgreSQL's capture function keeps the plans of its queries between statements
 * (PL/pgSQL caches a generic plan once a query has run a few times), planned for the
 * transition tables' size at that moment. After one- and two-row statements, that plan must not pair
 * a later bulk statement's old and new transition tables by a nested loop without an index
 * (quadratic in its rows: docs/performance.md, "Capture, issue 13 continued"). The plans are
 * read from auto_explain (JSON, nested statements), not timed: every nested loop of the
 * capture's queries must have an index scan on its inner side. Both kinds of node: with a version
 * store, and send-only (whose UPDATE pairs the two tables in one query).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';

const live = (await liveDialects()).includes('postgres');

interface PlanNode {
  'Node Type': string;
  Plans?: PlanNode[];
}

const contains = (node: PlanNode, type: RegExp): boolean =>
  type.test(node['Node Type']) || (node.Plans ?? []).some((p) => contains(p, type));

/** Nested loops whose inner side reads no index: each a scan of the inner input per outer row. */
function unindexedNestedLoops(node: PlanNode): PlanNode[] {
  const here = node['Node Type'] === 'Nested Loop' && !contains(node.Plans?.[1] ?? node, /^Index( Only)? Scan$/) ? [node] : [];
  return [...here, ...(node.Plans ?? []).flatMap(unindexedNestedLoops)];
}

describe.runIf(live).each([
  ['with a version store', false],
  ['send-only', true],
])('postgres capture plans after one-row statements, %s', (_kind, sendOnly) => {
  let node: SyncNode;
  let session: pg.Client;
  let embedded = false;
  beforeAll(async () => {
    node = await createSyncNode('postgres', { sendOnly });
    embedded = node.db.embedded;
    if (!embedded) {
      session = new pg.Client({ connectionString: node.db.url });
      await session.connect();
    }
  });
  afterAll(async () => {
    await session?.end();
    await node?.close();
  });

  it('pair a bulk UPDATE’s transition tables without a nested loop, and capture every row', async (context) => {
    if (embedded) context.skip();
    await session.query(
      "INSERT INTO sales_order (order_id, quantity) SELECT 'p' || lpad(g::text, 5, '0'), g FROM generate_series(1, 300) AS g",
    );
    // Past PL/pgSQL's five custom plans: the generic plans are made for tiny transition tables.
    // A one-row statement that keeps its key takes the capture's one-row path; a one-row key
    // change and a two-row statement take its set-based queries.
    const key = (i: number) => `p${String(i).padStart(5, '0')}`;
    for (let i = 1; i <= 10; i++) {
      await session.query('UPDATE sales_order SET quantity = -$1::int WHERE order_id = $2', [i, key(i)]);
      await session.query('UPDATE sales_order SET order_id = $1 WHERE order_id = $2', [`q${key(i + 10)}`, key(i + 10)]);
      await session.query('UPDATE sales_order SET quantity = -$1::int WHERE order_id IN ($2, $3)', [i, key(i + 20), key(i + 30)]);
    }
    try {
      await session.query("LOAD 'auto_explain'");
    } catch (error) {
      console.warn(`auto_explain is not available on this server (${(error as Error).message}): plan check skipped`);
      context.skip();
    }
    const plans: PlanNode[] = [];
    session.on('notice', (notice) => {
      const text = String(notice.message ?? '');
      const at = text.indexOf('plan:');
      if (at >= 0) plans.push((JSON.parse(text.slice(at + 5)) as { Plan: PlanNode }).Plan);
    });
    await session.query(
      "SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_format = 'json'; SET client_min_messages = log",
    );
    const before = Number((await session.query('SELECT coalesce(max(id), 0) AS id FROM ds_change_outbox')).rows[0].id);
    await session.query('UPDATE sales_order SET quantity = quantity + 1000');
    await session.query('SET client_min_messages = notice');

    const captured = await session.query("SELECT count(*)::int AS n FROM ds_change_outbox WHERE id > $1 AND object_operation = 'U'", [
      before,
    ]);
    expect(captured.rows[0].n).toBe(300);
    const tuplestorePlans = plans.filter((p) => contains(p, /^Named Tuplestore Scan$/));
    expect(tuplestorePlans.length).toBeGreaterThan(0);
    expect(tuplestorePlans.flatMap(unindexedNestedLoops).map((n) => JSON.stringify(n).slice(0, 300))).toEqual([]);
  });
});
