/**
 * `dsync apply` as a migration tool: idempotent through the ledger, a dry run that
 * changes nothing, drift reported (a hand-edited file, a table that gained a column),
 * and a failing statement that names the file and leaves the database as it was.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config, NodeConfig } from '../../src/config/config.ts';
import type { DbClient, Dialect, Row } from '../../src/core/dialect.ts';
import { ApplyError, DriftError } from '../../src/core/errors.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { insertRow } from '../../src/runtime/import/dml.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { applyFixtureSchema, fixtureConfig } from '../helpers/fixtures.ts';
import { lastOutboxId, outboxRows } from '../helpers/sync-node.ts';

const dialects = (await liveDialects()).filter((d) => d !== 'mssql');

const ADD_COLUMN: Record<string, string> = {
  postgres: 'ALTER TABLE sales_order ADD COLUMN note varchar(100)',
  sqlite: 'ALTER TABLE sales_order ADD COLUMN note VARCHAR(100)',
  mysql: 'ALTER TABLE sales_order ADD COLUMN note varchar(100)',
};

describe.each(dialects)('apply on %s', (dialectName) => {
  let db: TestDatabase;
  let dir: string;
  let config: Config;
  let dialect: Dialect;
  let client: DbClient;
  let node: NodeConfig;
  const nodeDir = () => join(dir, node.name);
  const generate = async () => writeFiles(nodeDir(), generateNode(config, node, dialect, await introspectTables(config, dialect, client)));
  const ledger = async () => (await client.query<Row>('SELECT file, checksum FROM ds_schema_migrations ORDER BY file')).rows;

  beforeEach(async () => {
    db = await createTestDatabase(dialectName);
    dir = mkdtempSync(join(tmpdir(), 'dsync-apply-'));
    config = fixtureConfig({ [dialectName]: db.url }, dir);
    node = config.nodes[dialectName];
    dialect = await getDialect(dialectName);
    client = await dialect.connect(node.url, node.name);
    await applyFixtureSchema(client);
    await generate();
  });
  afterEach(async () => {
    await client.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies everything once; a second run is a no-op', async () => {
    const first = await applyNode(config, node, dialect, client);
    expect(first.steps.every((s) => s.action === 'apply' && s.status === 'applied')).toBe(true);
    const recorded = await ledger();
    expect(recorded.map((r) => r.file)).toEqual(first.steps.map((s) => s.file));
    const second = await applyNode(config, node, dialect, client);
    expect(second.steps.every((s) => s.action === 'skip')).toBe(true);
    expect(await ledger()).toEqual(recorded);
  });

  it('--dry-run plans without changing anything', async () => {
    const plan = await applyNode(config, node, dialect, client, { dryRun: true });
    expect(plan.steps.length).toBeGreaterThan(6);
    expect(plan.steps.every((s) => s.action === 'apply' && s.status === undefined)).toBe(true);
    expect(await dialect.tableExists(client, 'ds_change_outbox')).toBe(false);
  });

  it('reports a hand-edited generated file as drift, naming the fix', async () => {
    await applyNode(config, node, dialect, client);
    appendFileSync(join(nodeDir(), '0101_capture_sales_order.sql'), '\n-- a quick fix by hand\n');
    const error = await applyNode(config, node, dialect, client).catch((e) => e);
    expect(error).toBeInstanceOf(DriftError);
    expect(error.message).toMatch(/0101_capture_sales_order\.sql was edited by hand/);
    expect(error.hint).toMatch(/dsync generate --node/);
  });

  it('reports a table that gained a column as drift, and regenerating captures it', async () => {
    await applyNode(config, node, dialect, client);
    await client.exec(ADD_COLUMN[dialectName]);
    const error = await applyNode(config, node, dialect, client).catch((e) => e);
    expect(error).toBeInstanceOf(DriftError);
    expect(error.message).toMatch(/0101_capture_sales_order\.sql out of date/);
    await generate();
    const result = await applyNode(config, node, dialect, client);
    expect(result.steps.filter((s) => s.action !== 'skip').map((s) => [s.file, s.action])).toEqual([
      ['0101_capture_sales_order.sql', 'reapply'],
    ]);
    const before = await lastOutboxId(client);
    const table = await dialect.introspect(client, 'sales_order');
    await insertRow(client, table, { order_id: 'n1', note: 'new column' });
    const [row] = await outboxRows(client, before);
    expect(row.values).toMatchObject({ order_id: 'n1', note: 'new column' });
  });

  it('a failing statement names the file and statement and leaves the database as it was', async () => {
    // A table of the same name without the expected columns: the index on it fails.
    await client.exec('CREATE TABLE ds_change_error (x integer)');
    const error = await applyNode(config, node, dialect, client).catch((e) => e);
    expect(error).toBeInstanceOf(ApplyError);
    expect(error.message).toMatch(/0004_ds_change_error\.sql statement 2 \(CREATE INDEX/);
    if (dialect.capabilities.transactionalDdl) {
      expect(await dialect.tableExists(client, 'ds_change_outbox')).toBe(false);
      expect(await ledger()).toEqual([]);
    } else {
      expect((await ledger()).map((r) => r.file)).toEqual([
        '0001_ds_change_outbox.sql',
        '0002_ds_change_inbox.sql',
        '0003_ds_program_parameter.sql',
      ]);
    }
  });

  it('refuses to run without generated files, naming the command', async () => {
    rmSync(nodeDir(), { recursive: true });
    const error = await applyNode(config, node, dialect, client).catch((e) => e);
    expect(error).toBeInstanceOf(ApplyError);
    expect(error.hint).toMatch(/dsync generate --node/);
  });
});
