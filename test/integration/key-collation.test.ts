/**
 * Keys under a case- or accent-insensitive collation: introspection marks the column
 * (ColumnSchema.caseInsensitive, with its collation), and `dsync apply` warns, naming
 * node, table, column, collation and the consequence (docs/types.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config, NodeConfig } from '../../src/config/config.ts';
import type { DbClient, Dialect, DialectName } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { applyFixtureSchema, fixtureConfig } from '../helpers/fixtures.ts';

const live = await liveDialects();

/** Makes sales_order.order_id compare case-insensitively; null where the brand is not checked here. */
const MAKE_CASE_INSENSITIVE: Partial<Record<DialectName, string[]>> = {
  mysql: ['ALTER TABLE sales_order MODIFY order_id VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL'],
  postgres: [
    "CREATE COLLATION ds_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    'ALTER TABLE sales_order ALTER COLUMN order_id TYPE varchar(20) COLLATE ds_ci',
  ],
  // SQLite cannot alter a column: the same table again, its key under NOCASE.
  sqlite: [
    'DROP TABLE sales_order',
    `CREATE TABLE sales_order (order_id VARCHAR(20) COLLATE NOCASE PRIMARY KEY NOT NULL, order_type VARCHAR(20), description VARCHAR(200),
       product_type_name VARCHAR(50), customer_id VARCHAR(20), quantity INTEGER, order_date DATE, update_datetime TIMESTAMP,
       updated_by_user VARCHAR(50), updated_by_server VARCHAR(50))`,
  ],
};
const COLLATION: Partial<Record<DialectName, string>> = { mysql: 'utf8mb4_general_ci', postgres: 'ds_ci', sqlite: 'NOCASE' };

describe.each(live.filter((d) => d in MAKE_CASE_INSENSITIVE))('key collation on %s', (dialectName) => {
  let db: TestDatabase;
  let dir: string;
  let config: Config;
  let dialect: Dialect;
  let client: DbClient;
  let node: NodeConfig;
  const generate = async () =>
    writeFiles(join(dir, node.name), generateNode(config, node, dialect, await introspectTables(config, dialect, client)));

  beforeEach(async () => {
    db = await createTestDatabase(dialectName);
    dir = mkdtempSync(join(tmpdir(), 'dsync-collation-'));
    config = fixtureConfig({ [dialectName]: db.url }, dir);
    node = config.nodes[dialectName];
    dialect = await getDialect(dialectName);
    client = await dialect.connect(node.url, node.name);
    await applyFixtureSchema(client);
  });
  afterEach(async () => {
    await client.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('warns at apply when a key column compares case-insensitively, and only then', async () => {
    await generate();
    const sensitive = await applyNode(config, node, dialect, client, { dryRun: true });
    expect(sensitive.warnings).toEqual([]);
    expect((await dialect.introspect(client, 'sales_order')).columns[0]).toMatchObject({ name: 'order_id', caseInsensitive: false });

    for (const statement of MAKE_CASE_INSENSITIVE[dialectName]!) await client.exec(statement);
    const column = (await dialect.introspect(client, 'sales_order')).columns[0];
    expect(column).toMatchObject({ name: 'order_id', collation: COLLATION[dialectName], caseInsensitive: true });
    await generate();
    const result = await applyNode(config, node, dialect, client);
    expect(result.steps.every((s) => s.status === 'applied')).toBe(true);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(
      new RegExp(
        `^node ${dialectName}: table sales_order, key column order_id has collation ${COLLATION[dialectName]}, which compares case- or accent-insensitively: .*'abc', 'ABC'.* one row here`,
      ),
    );
  });
});
