/**
 * Changing a synchronized table while both sides keep writing (docs/onboarding.md
 * "Changing a synchronized table"): a column added on both sides mid-stream, one side
 * first, nothing lost.
 *
 * Per pair, two-way, a seeded writer on each side inserts, updates and deletes between
 * sync passes. Then: changes captured on both sides, ALTER TABLE ADD COLUMN on a, which
 * `dsync plan`, `dsync status` and `dsync apply` report as drift; `dsync generate &&
 * dsync apply` on a; the older changes still import on both sides; a's writes now name
 * the new column and are parked on b with the fix; then the same column on b, generate
 * and apply there, `dsync retry --all`; both sides keep writing, the new column too. At
 * the end every pair is equal and nothing is parked or waiting.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { driftOfNode, planForNode } from '../../src/migrate/drift.ts';
import { listParked } from '../../src/runtime/import/parking.ts';
import { skipParkedChange } from '../../src/runtime/parked.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import type { NodeHandle } from '../../src/runtime/nodes.ts';
import { compareTables } from '../../src/verify/compare-tables.ts';
import { runCli } from '../helpers/cli.ts';
import { writeConfigFile } from '../helpers/config-file.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['postgres', 'mysql'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));
const SEED = Number(process.env.DSYNC_SCHEMA_SEED ?? 20261130);
const KEYS = 60;
const ADD_NOTE = 'ALTER TABLE sales_order ADD COLUMN note varchar(100)';

const order = (id: string, i: number): ValueMap => ({
  order_id: id,
  order_type: i % 2 ? 'wholesale' : 'retail',
  description: `order ${i}`,
  product_type_name: 'desktop',
  customer_id: `c${i % 7}`,
  quantity: i,
  order_date: '2025-05-25',
  update_datetime: null,
  updated_by_user: null,
  updated_by_server: null,
});

/** A seeded writer on one node: `round(n, note)` makes n inserts, updates or deletes, writing column note when `note`. */
function writer(handle: NodeHandle, seed: number, side: string) {
  const rnd = random(seed);
  let ops = 0;
  let table: TableSchema | undefined;
  return {
    /** Reads the table's columns again (after an ALTER). */
    async refresh() {
      table = await handle.dialect.introspect(handle.client, 'sales_order');
    },
    async round(n: number, note: boolean) {
      table ??= await handle.dialect.introspect(handle.client, 'sales_order');
      for (let i = 0; i < n; i++) {
        const key = { order_id: `k${Math.floor(rnd() * KEYS)}` };
        const roll = rnd();
        const extra: ValueMap = note ? { note: `${side} note ${ops}` } : {};
        if (roll < 0.55) {
          const changed = await updateRow(handle.client, table, key, { quantity: 1000 + ops, description: `${side} ${ops}`, ...extra });
          if (changed === 0) await insertRow(handle.client, table, { ...order(key.order_id, ops), ...extra });
        } else if (roll < 0.8) {
          const changed = await updateRow(handle.client, table, key, note && rnd() < 0.5 ? extra : { customer_id: `${side}${ops}` });
          if (changed === 0) await insertRow(handle.client, table, { ...order(key.order_id, ops), ...extra });
        } else await deleteRow(handle.client, table, key);
        ops++;
      }
    },
  };
}

async function parkedCount(pair: SyncPair, handle: NodeHandle): Promise<number> {
  return pair.count(handle.client, "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')");
}

describe.each(PAIRS)('schema change %s ↔ %s', (from, to) => {
  const cleanup: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const step of cleanup) await step();
  });

  it(`add a column on both sides mid-stream, keep writing on both sides, keep syncing: nothing lost (seed ${SEED})`, async () => {
    const pair = await createSyncPair(from, to);
    const dir = mkdtempSync(join(tmpdir(), 'dsync-schema-'));
    cleanup.push(async () => {
      await pair.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const configFile = writeConfigFile(pair.config, dir);
    const started = Date.now();
    const cli = async (...args: string[]) => {
      const out = await runCli(['--config', configFile, ...args]);
      if (process.env.SCHEMA_DEBUG)
        console.log(((Date.now() - started) / 1000).toFixed(1), args.join(' '), out.code, out.stdout, out.stderr);
      return out;
    };
    const a = writer(pair.a, SEED, 'a');
    const b = writer(pair.b, SEED + 1, 'b');
    const sync = async () => {
      await pair.forward();
      await pair.backward();
    };

    // Both sides write and sync, old columns only.
    for (let r = 0; r < 4; r++) {
      await a.round(15, false);
      await b.round(15, false);
      await sync();
    }
    for (const node of ['a', 'b']) expect((await planForNode(pair.config, pair.nodes, node)).pending).toBe(false);

    // Changes captured on both sides before the schema change, not yet moved.
    await a.round(15, false);
    await b.round(15, false);

    // The column on a only: drift in plan, status and apply.
    await pair.a.client.exec(ADD_NOTE);
    const plan = await cli('plan', '--node', 'a');
    expect(plan.code, plan.stderr).toBe(1);
    expect(plan.stdout).toMatch(/table sales_order: capture triggers out of date \(column note added\)/);
    expect(plan.stdout).toContain('dsync generate --node a && dsync apply --node a');
    expect((await planForNode(pair.config, pair.nodes, 'a')).drift.map((d) => [d.table, d.columns])).toEqual([
      ['sales_order', { added: ['note'], dropped: [], retyped: [] }],
    ]);
    expect((await planForNode(pair.config, pair.nodes, 'b')).pending).toBe(false);
    // `dsync status` renders only the capture files: the same drift as the whole plan's.
    for (const node of ['a', 'b'])
      expect(await driftOfNode(pair.config, pair.nodes, node)).toEqual((await planForNode(pair.config, pair.nodes, node)).drift);
    const status = await cli('status');
    expect(status.stdout).toMatch(/node a: drift: table sales_order: capture triggers out of date \(column note added\)/);
    const refused = await cli('apply', '--node', 'a');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/0101_capture_sales_order\.sql out of date \(table sales_order: column note added\)/);
    // Writes go on between the ALTER and the new triggers (the old triggers capture the old columns).
    await a.round(10, false);

    // Regenerate and apply on a: nothing pending there any more.
    expect((await cli('generate', '--node', 'a')).code).toBe(0);
    const applied = await cli('apply', '--node', 'a');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/reapply\s+0101_capture_sales_order\.sql/);
    expect((await planForNode(pair.config, pair.nodes, 'a')).pending).toBe(false);
    // The changes captured before the schema change import on both sides.
    await sync();
    expect(await parkedCount(pair, pair.a)).toBe(0);
    expect(await parkedCount(pair, pair.b)).toBe(0);

    // a writes the new column; b does not have it yet: those changes park on b, with the fix.
    await a.refresh();
    for (let r = 0; r < 3; r++) {
      await a.round(15, true);
      await b.round(15, false);
      await sync();
    }
    expect(await parkedCount(pair, pair.b)).toBeGreaterThan(0);
    expect(await parkedCount(pair, pair.a)).toBe(0);
    const errors = await cli('errors', '--node', 'b');
    expect(errors.stdout).toMatch(/names column note, which is not a synchronized column of sales_order/);
    expect(errors.stdout).toContain('add column note to sales_order on this node');
    expect(errors.stdout).toContain('dsync retry');

    // The column on b too; regenerate, apply, retry what was parked; both keep writing.
    await pair.b.client.exec(ADD_NOTE);
    await b.round(10, false);
    expect((await planForNode(pair.config, pair.nodes, 'b')).drift.map((d) => d.summary)).toEqual(['column note added']);
    expect((await cli('generate')).code).toBe(0);
    const appliedB = await cli('apply');
    expect(appliedB.code, appliedB.stderr).toBe(0);
    const done = await cli('plan');
    expect(done.code, done.stdout).toBe(0);
    const retried = await cli('retry', '--all', '--node', 'b');
    expect(retried.code, retried.stdout + retried.stderr).toBe(0);
    expect(retried.stdout).toMatch(/parked change\(s\) retried, \d+ waiting change\(s\) applied after them, 0 failed again/);
    await b.refresh();
    for (let r = 0; r < 4; r++) {
      await a.round(15, true);
      await b.round(15, true);
      await sync();
    }

    // Equal, nothing parked, nothing waiting; the new column travelled both ways.
    await pair.syncAll();
    const tableA = await pair.a.dialect.introspect(pair.a.client, 'sales_order');
    const tableB = await pair.b.dialect.introspect(pair.b.client, 'sales_order');
    const result = await compareTables({ client: pair.a.client, table: tableA }, { client: pair.b.client, table: tableB });
    if (process.env.SCHEMA_DEBUG && result.differences.length) {
      const key = JSON.stringify(result.differences[0].key.order_id);
      for (const [n, c] of [
        ['a', pair.a.client],
        ['b', pair.b.client],
      ] as const) {
        console.log(
          n,
          'row',
          (await c.query(`SELECT order_id, note, quantity FROM sales_order WHERE order_id = ${key.replace(/"/g, "'")}`)).rows,
        );
        console.log(
          n,
          'outbox',
          (
            await c.query(
              `SELECT id, object_operation, object_value, row_cl, change_version FROM ds_change_outbox WHERE object_id = '${key}' ORDER BY id`,
            )
          ).rows,
        );
        console.log(
          n,
          'inbox',
          (
            await c.query(
              `SELECT id, object_operation, object_value, row_cl, change_version FROM ds_change_inbox WHERE object_id = '${key}' ORDER BY id`,
            )
          ).rows,
        );
        console.log(
          n,
          'errors',
          (
            await c.query(
              `SELECT inbox_id, status, kind FROM ds_change_error WHERE object_key LIKE '%${result.differences[0].key.order_id}"]'`,
            )
          ).rows,
        );
      }
    }
    expect(result.differences.slice(0, 5), `seed ${SEED}`).toEqual([]);
    expect(result.differenceCount, `seed ${SEED}`).toBe(0);
    expect(result.rowsA).toBeGreaterThan(10);
    expect(await parkedCount(pair, pair.a), `seed ${SEED}`).toBe(0);
    expect(await parkedCount(pair, pair.b), `seed ${SEED}`).toBe(0);
    expect(await pair.count(pair.a.client, "SELECT count(*) FROM sales_order WHERE note LIKE 'b note%'")).toBeGreaterThan(0);
    expect(await pair.count(pair.b.client, "SELECT count(*) FROM sales_order WHERE note LIKE 'a note%'")).toBeGreaterThan(0);
    const verify = await cli('verify', 'a', 'b', '--table', 'sales_order');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 600_000);

  it('a column dropped on the target: changes naming it are parked with the fix, not dropped; the others go on', async () => {
    const pair = await createSyncPair(from, to);
    cleanup.push(() => pair.close());
    const tableA = pair.tables.a.sales_order;
    await insertRow(pair.a.client, tableA, order('d1', 1));
    await insertRow(pair.a.client, tableA, order('d2', 2));
    await pair.forward();
    // SQLite refuses to drop a column its triggers name: the table's capture triggers go first.
    if (to === 'sqlite')
      for (const t of ['ins', 'upd', 'key', 'del']) await pair.b.client.exec(`DROP TRIGGER IF EXISTS ds_sales_order_${t}`);
    await pair.b.client.exec('ALTER TABLE sales_order DROP COLUMN product_type_name');
    expect((await planForNode(pair.config, pair.nodes, 'b')).drift.map((d) => d.summary)).toEqual(
      to === 'sqlite' ? [expect.stringMatching(/column product_type_name dropped/)] : ['column product_type_name dropped'],
    );
    const schemas = await introspectTables(pair.config, pair.b.dialect, pair.b.client);
    writeFiles(join(pair.config.generatedDir, 'b'), generateNode(pair.config, pair.b.node, pair.b.dialect, schemas));
    await applyNode(pair.config, pair.b.node, pair.b.dialect, pair.b.client);
    expect((await planForNode(pair.config, pair.nodes, 'b')).pending).toBe(false);

    await updateRow(pair.a.client, tableA, { order_id: 'd1' }, { product_type_name: 'laptop' });
    await updateRow(pair.a.client, tableA, { order_id: 'd2' }, { quantity: 42 });
    await pair.forward();
    const parked = await listParked(pair.b.client, false);
    expect(parked.map((p) => [p.key, p.status, p.kind])).toEqual([['["sales_order","d1"]', 'open', 'unknown_column']]);
    expect(parked[0].reason).toMatch(/names column product_type_name, which is not a synchronized column of sales_order/);
    expect(parked[0].reason).toContain('add column product_type_name to sales_order on this node');
    expect(await pair.count(pair.b.client, "SELECT quantity FROM sales_order WHERE order_id = 'd2'")).toBe(42);
    // Gone for good here: skipped, and the row's later changes apply.
    await skipParkedChange(pair.config, pair.nodes, parked[0].id, { node: 'b' });
    await updateRow(pair.a.client, tableA, { order_id: 'd1' }, { quantity: 7 });
    await pair.forward();
    expect(await pair.count(pair.b.client, "SELECT quantity FROM sales_order WHERE order_id = 'd1'")).toBe(7);
    expect(await parkedCount(pair, pair.b)).toBe(0);
  }, 300_000);
});
