/**
 * The seed's test steps exactly as written, through the real CLI: insert → transport
 * 1000 → import 1001 → the row is in testapp2; update description → only that column
 * changes; delete → the row is gone. Then the seed's three hand-written outbox rows.
 * On every live pair of brands (the seed's `public.` prefix is dropped on brands
 * without schemas, as the seed allows: "depending upon the database brand").
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
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
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
    ['mysql', 'postgres'],
    ['postgres', 'mysql'],
    ['mysql', 'sqlite'],
    ['sqlite', 'mysql'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const ORD2: ValueMap = { ...SEED_ORDER };

describe.each(PAIRS)('the seed walkthrough, %s → %s', (fromDialect, toDialect) => {
  const dbs: TestDatabase[] = [];
  const clients: DbClient[] = [];
  let dir: string;
  let app1: DbClient;
  let app2: DbClient;
  let table2: TableSchema;
  let table1: TableSchema;

  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  const move = async () => {
    const t = await cli('transport', '--program', '1000');
    expect(t.stderr).toBe('');
    expect(t.code).toBe(0);
    const i = await cli('import', '--program', '1001');
    expect(i.stderr).toBe('');
    expect(i.code).toBe(0);
    return i.stdout;
  };
  const rows2 = () => selectAllRows(app2, table2);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dsync-seed-'));
    const [db1, db2] = [await createTestDatabase(fromDialect, 'dsync_seed1'), await createTestDatabase(toDialect, 'dsync_seed2')];
    dbs.push(db1, db2);
    for (const [db, name] of [
      [db1, 'testapp1'],
      [db2, 'testapp2'],
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
          testapp1: { dialect: fromDialect, url: db1.url, serverId: 'server1' },
          testapp2: { dialect: toDialect, url: db2.url, serverId: 'server2' },
        },
        tables: ['sales_order'],
        programs: [
          { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2', intervalSeconds: 5 },
          { id: 1001, type: 'import', node: 'testapp2', intervalSeconds: 5 },
        ],
      }),
    );
    const generated = await cli('generate');
    expect(generated.stderr).toBe('');
    expect(generated.code).toBe(0);
    const applied = await cli('apply');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    table1 = await app1.dialect.introspect(app1, 'sales_order');
    table2 = await app2.dialect.introspect(app2, 'sales_order');
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const db of dbs) await db.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('steps 1-5, insert: the row arrives in testapp2 as it is in testapp1', async () => {
    const [insert] = seedStatements('steps.sql', fromDialect);
    await app1.exec(insert);
    expect(await rows2()).toEqual([]);
    await move();
    expect(await rows2()).toEqual([ORD2]);
    expect(await rows2()).toEqual(await selectAllRows(app1, table1));
  });

  it('update: only the description changes in testapp2', async () => {
    const [, update] = seedStatements('steps.sql', fromDialect);
    await app1.exec(update);
    // A local edit of another column at the target survives: the change carries only description.
    await app2.exec("UPDATE sales_order SET customer_id = 'c-local' WHERE order_id = 'ord2'");
    await move();
    expect(await rows2()).toEqual([{ ...ORD2, description: 'old order change1', customer_id: 'c-local' }]);
  });

  it('delete: the row is gone from testapp2', async () => {
    const [, , remove] = seedStatements('steps.sql', fromDialect);
    await app1.exec(remove);
    await move();
    expect(await rows2()).toEqual([]);
    expect(await selectAllRows(app1, table1)).toEqual([]);
  });

  it("the seed's three hand-written outbox rows give the same results", async () => {
    const [insertRow, updateRow, deleteRow] = seedStatements('outbox-rows.sql', fromDialect);
    await app1.exec(insertRow);
    await move();
    expect(await rows2()).toEqual([ORD2]);
    await app1.exec(updateRow);
    await move();
    expect(await rows2()).toEqual([{ ...ORD2, description: 'old order change' }]);
    await app1.exec(deleteRow);
    const out = await move();
    expect(out).toContain('applied 1');
    expect(await rows2()).toEqual([]);
    const errors = await cli('errors', '--json');
    expect(JSON.parse(errors.stdout)).toEqual([]);
  });

  it('status shows both pointers at the end of the outbox and inbox', async () => {
    const status = await cli('status', '--json');
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout);
    expect(report.programs.map((p: { id: number; backlog: number; status: string }) => [p.id, p.backlog, p.status])).toEqual([
      [1000, 0, 'ok'],
      [1001, 0, 'ok'],
    ]);
  });
});
