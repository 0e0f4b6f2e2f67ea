/** A fresh database with the fixture tables and the sync objects applied, for one dialect. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, NodeConfig } from '../../src/config/config.ts';
import type { DbClient, Dialect, DialectName, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { type GeneratedFile, generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { applyFixtureSchema, fixtureConfig } from './fixtures.ts';

export interface SyncNode {
  db: TestDatabase;
  config: Config;
  dialect: Dialect;
  client: DbClient;
  tables: Record<string, TableSchema>;
  generatedDir: string;
  close(): Promise<void>;
}

/**
 * On `client`, node `node` of `config`: the fixture tables (then `extraDdl`), and its sync objects
 * generated into `generatedDir/<node>` and applied, as `dsync generate` and `dsync apply` would.
 */
export async function setUpFixtureNode(
  config: Config,
  node: NodeConfig,
  dialect: Dialect,
  client: DbClient,
  generatedDir: string,
  extraDdl: readonly string[] = [],
): Promise<{ schemas: TableSchema[]; files: GeneratedFile[] }> {
  await applyFixtureSchema(client);
  for (const statement of extraDdl) await client.exec(statement);
  const schemas = await introspectTables(config, dialect, client);
  const files = generateNode(config, node, dialect, schemas);
  writeFiles(join(generatedDir, node.name), files);
  await applyNode(config, node, dialect, client);
  return { schemas, files };
}

/** Creates the database, the fixture tables, generates into a temp dir and applies; `sendOnly` marks the node so. */
export async function createSyncNode(dialectName: DialectName, options: { sendOnly?: boolean } = {}): Promise<SyncNode> {
  const db = await createTestDatabase(dialectName);
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-gen-'));
  const config = fixtureConfig({ [dialectName]: db.url }, generatedDir);
  if (options.sendOnly) config.nodes[dialectName] = { ...config.nodes[dialectName], sendOnly: true };
  const dialect = await getDialect(dialectName);
  const node = config.nodes[dialectName];
  const client = await dialect.connect(node.url, node.name);
  const { schemas } = await setUpFixtureNode(config, node, dialect, client, generatedDir);
  return {
    db,
    config,
    dialect,
    client,
    tables: Object.fromEntries(schemas.map((s) => [s.name, s])),
    generatedDir,
    async close() {
      await client.close().catch(() => undefined);
      await db.drop();
      rmSync(generatedDir, { recursive: true, force: true });
    },
  };
}

export interface OutboxRow {
  id: number;
  op: string;
  table: string;
  pk: string | null;
  attributes: string[];
  key: unknown;
  keyOld: unknown;
  values: Record<string, unknown> | null;
  oldValues: Record<string, unknown> | null;
  server: string | null;
  user: string | null;
  time: string | null;
  originChangeId: number | null;
  /** Causal length of the row after the change, of the old key after a key change, and the change's version (docs/convergence.md). */
  rowCl: number | null;
  rowClOld: number | null;
  changeVersion: number | null;
}

const numberOrNull = (value: unknown) => (value === null || value === undefined ? null : Number(value));
const parse = (text: unknown) => (text === null || text === undefined ? null : JSON.parse(String(text)));

/** Outbox rows after `afterId`, decoded. */
export async function outboxRows(client: DbClient, afterId = 0): Promise<OutboxRow[]> {
  const { rows } = await client.query<Row>(
    `SELECT id, object_operation, object_table, object_pk_attribute, object_attribute, object_id, object_id_old,
            object_value, object_value_old, updated_by_server_id, updated_by_user_id, update_datetime, origin_change_id,
            row_cl, row_cl_old, change_version
     FROM ds_change_outbox WHERE id > ${client.dialect.sql.param(1)} ORDER BY id`,
    [afterId],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    op: String(r.object_operation),
    table: String(r.object_table),
    pk: r.object_pk_attribute as string | null,
    attributes: r.object_attribute ? String(r.object_attribute).split(',') : [],
    key: parse(r.object_id),
    keyOld: parse(r.object_id_old),
    values: parse(r.object_value),
    oldValues: parse(r.object_value_old),
    server: r.updated_by_server_id as string | null,
    user: r.updated_by_user_id as string | null,
    time: r.update_datetime === null ? null : String(r.update_datetime),
    originChangeId: r.origin_change_id === null ? null : Number(r.origin_change_id),
    rowCl: numberOrNull(r.row_cl),
    rowClOld: numberOrNull(r.row_cl_old),
    changeVersion: numberOrNull(r.change_version),
  }));
}

export async function lastOutboxId(client: DbClient): Promise<number> {
  const { rows } = await client.query<Row>('SELECT max(id) AS id FROM ds_change_outbox');
  return Number(rows[0].id ?? 0);
}
