/**
 * The seed's test steps with testapp1's sales_order in capture mode query
 * (docs/capture-modes.md#query), through the real CLI: testapp1 has no capture triggers;
 * `dsync sync` (which runs a capture pass) brings the insert; the update and the delete
 * are captured by `dsync capture` (the delete only by its scan, `--deletes`), then
 * transport 1000 and import 1001. testapp2 (trigger mode) ends with the rows the trigger
 * walkthrough gives (seed-walkthrough.test.ts), and testapp1's outbox holds one row per
 * step. On PostgreSQL, SQLite and MariaDB as testapp1.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { SEED_ORDER, seedStatements } from '../helpers/seed-order.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'postgres'],
    ['sqlite', 'postgres'],
    ['mysql', 'sqlite'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

// Each step spawns several CLI processes; on a shared, loaded machine that takes more than the default minute.
describe.each(PAIRS)(
  'the seed walkthrough with testapp1 in capture mode query, %s → %s',
  { timeout: 240_000 },
  (fromDialect, toDialect) => {
    const dbs: TestDatabase[] = [];
    const clients: DbClient[] = [];
    let dir: string;
    let app1: DbClient;
    let app2: DbClient;
    let table1: TableSchema;
    let table2: TableSchema;

    const cli = async (...args: string[]) => {
      const r = await runCli(args, { cwd: dir });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return r.stdout;
    };
    /** One capture pass; what it captured. */
    const capture = async (...extra: string[]) => {
      const results = JSON.parse(await cli('capture', '--node', 'testapp1', '--json', ...extra)) as Array<Record<string, number>>;
      expect(results).toHaveLength(1);
      const [r] = results;
      return { inserted: r.inserted, updated: r.updated, deleted: r.deleted };
    };
    const move = async () => {
      await cli('transport', '--program', '1000');
      await cli('import', '--program', '1001');
    };
    const rows2 = () => selectAllRows(app2, table2);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'dsync-seed-query-'));
      dbs.push(await createTestDatabase(fromDialect, 'dsync_seedq1'), await createTestDatabase(toDialect, 'dsync_seedq2'));
      for (const [db, name] of [
        [dbs[0], 'testapp1'],
        [dbs[1], 'testapp2'],
      ] as const) {
        const dialect = await getDialect(db.dialect);
        const client = await dialect.connect(db.url, name);
        clients.push(client);
        for (const s of dialect.splitScript(readFileSync(join(FIXTURES, 'seed', `sales_order.${db.dialect}.sql`), 'utf8')))
          await client.exec(s);
      }
      [app1, app2] = clients;
      writeFileSync(
        join(dir, 'dsync.config.json'),
        JSON.stringify({
          nodes: {
            testapp1: { dialect: fromDialect, url: dbs[0].url, serverId: 'server1', capture: { sales_order: 'query' } },
            testapp2: { dialect: toDialect, url: dbs[1].url, serverId: 'server2' },
          },
          // No scan by schedule (every 10th pass by default): `dsync sync` runs a capture pass per round, and while
          // MariaDB's horizon holds rows back (other suites' open transactions) it runs enough rounds to make the
          // delete step's plain pass a scheduled scan, which then sees the delete.
          tables: [{ name: 'sales_order', updateTimeColumn: 'update_datetime', deleteScanEvery: 1000 }],
          programs: [
            { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2', intervalSeconds: 5 },
            { id: 1001, type: 'import', node: 'testapp2', intervalSeconds: 5 },
          ],
        }),
      );
      await cli('generate');
      await cli('apply');
      table1 = await app1.dialect.introspect(app1, 'sales_order');
      table2 = await app2.dialect.introspect(app2, 'sales_order');
    });

    afterAll(async () => {
      for (const c of clients) await c.close().catch(() => undefined);
      for (const db of dbs) await db.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('insert: dsync sync captures it (the first pass reads the table) and brings it to testapp2', async () => {
      const [insert] = seedStatements('steps.sql', fromDialect);
      await app1.exec(insert);
      const { rows } = await app1.query<Row>('SELECT count(*) AS n FROM ds_change_outbox');
      expect(Number(rows[0].n)).toBe(0);
      await cli('sync');
      expect(await rows2()).toEqual([SEED_ORDER]);
      expect(await rows2()).toEqual(await selectAllRows(app1, table1));
    });

    it('update: a capture pass sends only the description; a local edit at testapp2 survives', async () => {
      const [, update] = seedStatements('steps.sql', fromDialect);
      await app1.exec(update);
      await app2.exec("UPDATE sales_order SET customer_id = 'c-local' WHERE order_id = 'ord2'");
      // The seed's update leaves update_datetime alone: the window sees it while the row's time is the
      // newest (PostgreSQL, MariaDB); SQLite holds the seed's time as US-style text, which only the scan reads.
      const window = await capture();
      const scan = await capture('--deletes');
      expect(window.updated + scan.updated).toBe(1);
      expect(window.inserted + scan.inserted + window.deleted + scan.deleted).toBe(0);
      await move();
      expect(await rows2()).toEqual([{ ...SEED_ORDER, description: 'old order change1', customer_id: 'c-local' }]);
    });

    it('delete: a plain pass does not see it, the scan does; the row is gone from testapp2', async () => {
      const [, , remove] = seedStatements('steps.sql', fromDialect);
      await app1.exec(remove);
      expect(await capture()).toEqual({ inserted: 0, updated: 0, deleted: 0 });
      expect(await capture('--deletes')).toEqual({ inserted: 0, updated: 0, deleted: 1 });
      await move();
      expect(await rows2()).toEqual([]);
      expect(JSON.parse(await cli('errors', '--json'))).toEqual([]);
    });

    it("testapp1's outbox holds one row per step, only the changed column for the update", async () => {
      const { rows } = await app1.query<Row>('SELECT object_operation, object_attribute FROM ds_change_outbox ORDER BY id');
      expect(rows.map((r) => r.object_operation)).toEqual(['I', 'U', 'D']);
      expect(rows[1].object_attribute).toBe('description');
    });
  },
);
