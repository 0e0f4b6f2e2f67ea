/**
 * The seed's test steps in capture mode api (docs/capture-modes.md), through the real CLI
 * on PostgreSQL: testapp1 has no capture triggers on sales_order, so after each of its data
 * operations the "application API" does what the seed says — "insert Step1 data operation
 * row in ds_outbox table" — with the seed's literal outbox INSERT; then transport 1000 and
 * import 1001. testapp2 (trigger mode) ends as the seed says, and nothing is captured twice:
 * testapp1's outbox holds exactly the three hand-written rows.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { SEED_ORDER } from '../helpers/seed-order.ts';

const live = await liveDialects();

/** The seed's statements, verbatim (PostgreSQL is the seed's own brand). */
const seedStatements = (file: string) =>
  readFileSync(join(FIXTURES, 'seed', file), 'utf8')
    .split(/;\s*\n\s*\n/)
    .map((s) => s.replace(/^(--[^\n]*\n)+/, '').trim())
    .filter(Boolean);

const triggerCount = async (client: DbClient) => {
  const { rows } = await client.query<Row>(
    "SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'public.sales_order'::regclass AND NOT tgisinternal",
  );
  return Number(rows[0].n);
};

describe.runIf(live.includes('postgres'))('the seed walkthrough in capture mode api, postgres → postgres', () => {
  const dbs: TestDatabase[] = [];
  const clients: DbClient[] = [];
  let dir: string;
  let app1: DbClient;
  let app2: DbClient;
  let table2: TableSchema;

  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  const move = async () => {
    for (const args of [
      ['transport', '--program', '1000'],
      ['import', '--program', '1001'],
    ]) {
      const r = await cli(...args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  };
  const rows2 = () => selectAllRows(app2, table2);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dsync-seed-api-'));
    dbs.push(await createTestDatabase('postgres', 'dsync_seedapi1'), await createTestDatabase('postgres', 'dsync_seedapi2'));
    const dialect = await getDialect('postgres');
    for (const [db, name] of [
      [dbs[0], 'testapp1'],
      [dbs[1], 'testapp2'],
    ] as const) {
      const client = await dialect.connect(db.url, name);
      clients.push(client);
      for (const s of dialect.splitScript(readFileSync(join(FIXTURES, 'seed', 'sales_order.postgres.sql'), 'utf8'))) await client.exec(s);
    }
    [app1, app2] = clients;
    writeFileSync(
      join(dir, 'dsync.config.json'),
      JSON.stringify({
        nodes: {
          // The application on testapp1 writes its own outbox rows; testapp2 keeps its triggers.
          testapp1: { dialect: 'postgres', url: dbs[0].url, serverId: 'server1', capture: { sales_order: 'api' } },
          testapp2: { dialect: 'postgres', url: dbs[1].url, serverId: 'server2' },
        },
        tables: ['sales_order'],
        programs: [
          { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2', intervalSeconds: 5 },
          { id: 1001, type: 'import', node: 'testapp2', intervalSeconds: 5 },
        ],
      }),
    );
    for (const command of ['generate', 'apply']) {
      const r = await cli(command);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    table2 = await app2.dialect.introspect(app2, 'sales_order');
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const db of dbs) await db.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('testapp1 has no capture triggers on sales_order, testapp2 has its three', async () => {
    expect(await triggerCount(app1)).toBe(0);
    expect(await triggerCount(app2)).toBe(3);
  });

  it('insert: data operation 1, its outbox row, transport 1000, import 1001', async () => {
    const [insert] = seedStatements('steps.sql');
    const [insertRow] = seedStatements('outbox-rows.sql');
    await app1.exec(insert);
    await app1.exec(insertRow);
    await move();
    expect(await rows2()).toEqual([SEED_ORDER]);
  });

  it("update: data operation 2, its outbox row; testapp2 takes the row's command", async () => {
    const [, update] = seedStatements('steps.sql');
    const [, updateRow] = seedStatements('outbox-rows.sql');
    await app1.exec(update);
    await app1.exec(updateRow);
    await move();
    // The seed's hand-written update row says `description=~old order change~` (its step 1 says "change1").
    expect(await rows2()).toEqual([{ ...SEED_ORDER, description: 'old order change' }]);
  });

  it('delete: data operation 3, its outbox row; the row is gone from testapp2', async () => {
    const [, , remove] = seedStatements('steps.sql');
    const [, , deleteRow] = seedStatements('outbox-rows.sql');
    await app1.exec(remove);
    await app1.exec(deleteRow);
    await move();
    expect(await rows2()).toEqual([]);
    const errors = await cli('errors', '--json');
    expect(JSON.parse(errors.stdout)).toEqual([]);
  });

  it("nothing was captured twice: testapp1's outbox holds exactly the three hand-written rows", async () => {
    const { rows } = await app1.query<Row>('SELECT object_operation, object_operation_command, note1 FROM ds_change_outbox ORDER BY id');
    expect(rows.map((r) => [r.object_operation, r.note1])).toEqual([
      ['I', 'tbd'],
      ['U', 'tbd'],
      ['D', 'tbd'],
    ]);
    expect(rows.every((r) => typeof r.object_operation_command === 'string')).toBe(true);
  });
});
