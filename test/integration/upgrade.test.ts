/**
 * dsync's own tables can be upgraded: a node installed with the previous release's
 * generated SQL (fixtures/previous/<brand>/, as generated/ stood at e8c6fae) and holding
 * changes is refused by the runtime with the command that upgrades it; `dsync apply` of
 * the current files then runs only the upgrade steps and the capture files, and nothing
 * is lost: the rows, the outbox rows and their ids are as before, and the upgraded
 * triggers capture with versions.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { generateNode, introspectTables, readGeneratedFile, writeFiles } from '../../src/generate/generate.ts';
import { rendererFor } from '../../src/generate/render.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { insertRow, selectAllRows, updateRow } from '../../src/runtime/import/dml.ts';
import { NodeSet, requireSyncObjects } from '../../src/runtime/nodes.ts';
import { createTestDatabase, liveDialects } from '../helpers/databases.ts';
import { applyFixtureSchema, FIXTURES, fixtureConfig } from '../helpers/fixtures.ts';
import { random } from '../helpers/random.ts';

const live = await liveDialects();
const dir = mkdtempSync(join(tmpdir(), 'dsync-upgrade-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the previous release's files as its `dsync apply` did, ledger included. */
async function installPrevious(client: DbClient, dialect: DialectName): Promise<void> {
  const d = client.dialect;
  for (const statement of rendererFor(d).render('ledger', {})) await client.exec(statement);
  const folder = join(FIXTURES, 'previous', dialect);
  for (const name of readdirSync(folder).sort()) {
    const file = readGeneratedFile(name, readFileSync(join(folder, name), 'utf8'));
    for (const statement of d.splitScript(file.content)) await client.exec(statement);
    const p = d.sql.param;
    await client.query(
      `INSERT INTO ds_schema_migrations (${d.sql.ident('file')}, checksum, applied_at) VALUES (${p(1)}, ${p(2)}, ${p(3)})`,
      [name, file.actualHash, '2026-11-01 00:00:00'],
    );
  }
}

describe.each((['postgres', 'sqlite', 'mysql'] as DialectName[]).filter((d) => live.includes(d)))(
  'upgrade of the sync objects, %s',
  (dialect) => {
    it('refuses the old schema with the fix, upgrades through apply, loses nothing', async () => {
      const db = await createTestDatabase(dialect, 'dsync_up');
      const config = fixtureConfig({ [dialect]: db.url }, join(dir, dialect));
      const nodes = new NodeSet(config);
      try {
        const handle = await nodes.get(dialect);
        const { client } = handle;
        await applyFixtureSchema(client);
        await installPrevious(client, dialect);
        const tables = Object.fromEntries((await introspectTables(config, handle.dialect, client)).map((t) => [t.name, t]));
        await insertRow(client, tables.sales_order, { order_id: 'old1', description: 'before the upgrade', quantity: 3 });
        await updateRow(client, tables.sales_order, { order_id: 'old1' }, { description: 'changed before' });
        const outboxBefore = (
          await client.query<Row>('SELECT id, object_operation, object_id, object_value FROM ds_change_outbox ORDER BY id')
        ).rows;
        expect(outboxBefore).toHaveLength(2);

        const refused = await requireSyncObjects(handle, ['ds_change_outbox']).catch((error) => error);
        expect(refused.code).toBe('schema_outdated');
        expect(refused.hint).toMatch(/dsync apply --node/);

        const schemas = await introspectTables(config, handle.dialect, client);
        writeFiles(join(config.generatedDir, dialect), generateNode(config, handle.node, handle.dialect, schemas));
        const result = await applyNode(config, handle.node, handle.dialect, client);
        const ran = result.steps.filter((s) => s.action !== 'skip').map((s) => s.file);
        // Only upgrade steps and replaceable files (program rows, capture triggers) run again; released tables are never re-created.
        expect(
          ran.every((f) => /^00([12]\d)_upgrade_|^01\d\d_capture_|^0003_ds_program_parameter/.test(f)),
          ran.join(', '),
        ).toBe(true);
        expect(ran.some((f) => f.startsWith('0011_upgrade_row_versions'))).toBe(true);

        await nodes.closeAll();
        const fresh = await nodes.get(dialect);
        await expect(requireSyncObjects(fresh, ['ds_change_outbox', 'ds_row_version'])).resolves.toBeUndefined();
        const outboxAfter = (
          await fresh.client.query<Row>('SELECT id, object_operation, object_id, object_value, row_cl FROM ds_change_outbox ORDER BY id')
        ).rows;
        expect(outboxAfter.map(({ row_cl: _, ...rest }) => rest)).toEqual(outboxBefore);
        expect(outboxAfter.every((r) => r.row_cl === null)).toBe(true);
        expect((await selectAllRows(fresh.client, tables.sales_order)).map((r) => [r.order_id, r.description])).toEqual([
          ['old1', 'changed before'],
        ]);

        await updateRow(fresh.client, tables.sales_order, { order_id: 'old1' }, { description: 'after' });
        const last = (await fresh.client.query<Row>('SELECT row_cl, change_version FROM ds_change_outbox ORDER BY id DESC')).rows[0];
        expect(Number(last.row_cl)).toBe(1);
        expect(Number(last.change_version)).toBeGreaterThan(0);

        if (dialect === 'postgres') {
          // A fresh install of the current files ends with the very objects the upgrade left.
          const other = await createTestDatabase(dialect, 'dsync_fr');
          const freshConfig = fixtureConfig({ [dialect]: other.url }, join(dir, `${dialect}-fresh`));
          const freshNodes = new NodeSet(freshConfig);
          try {
            const f = await freshNodes.get(dialect);
            await applyFixtureSchema(f.client);
            const freshSchemas = await introspectTables(freshConfig, f.dialect, f.client);
            writeFiles(join(freshConfig.generatedDir, dialect), generateNode(freshConfig, f.node, f.dialect, freshSchemas));
            await applyNode(freshConfig, f.node, f.dialect, f.client);
            const upgraded = await postgresSyncObjects(fresh.client);
            expect(upgraded.join('\n')).toMatch(/object_operation ds_change_operation NOT NULL/);
            expect(upgraded.join('\n')).toMatch(/ds_row_version .*fillfactor=50/);
            expect(await postgresSyncObjects(f.client)).toEqual(upgraded);

            // Step 18 drops and re-creates the view that reads the column: what was granted on it survives.
            // The fresh node is put back as it stood before step 18, with a grant, and the step runs again.
            const view = "'view_recordlevel_update_datetime'::regclass";
            const definition = String((await f.client.query<Row>(`SELECT pg_get_viewdef(${view}) AS d`)).rows[0].d);
            await f.client.query('DROP VIEW view_recordlevel_update_datetime');
            await f.client.query('ALTER TABLE ds_change_outbox ALTER COLUMN object_operation TYPE varchar(1)');
            await f.client.query('DROP DOMAIN ds_change_operation');
            await f.client.query(`CREATE VIEW view_recordlevel_update_datetime AS ${definition}`);
            await f.client.query('GRANT SELECT ON view_recordlevel_update_datetime TO PUBLIC');
            const step18 = readdirSync(join(freshConfig.generatedDir, dialect)).find((n) => n.startsWith('0018_'))!;
            await f.client.query(readFileSync(join(freshConfig.generatedDir, dialect, step18), 'utf8'));
            const acl = (await f.client.query<Row>(`SELECT relacl::text AS acl FROM pg_class WHERE oid = ${view}`)).rows[0].acl;
            expect(String(acl)).toMatch(/(^|[{,])=r\//);
          } finally {
            await freshNodes.closeAll();
            await other.drop();
          }
          // Step 18: the outbox still refuses an operation other than I, U or D, and says which (seeded random characters).
          const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
          const next = random(seed);
          const pool = ['I', 'U', 'D', 'i', 'u', 'd', 'X', ' ', '-', 'Ü', '\t', '0'];
          for (let i = 0; i < 24; i++) {
            const op = pool[Math.floor(next() * pool.length)];
            const outcome = await fresh.client
              .transaction(async (tx) => {
                await tx.query("INSERT INTO ds_change_outbox (object_table, object_operation) VALUES ('sales_order', $1)", [op]);
                throw new Error('written');
              })
              .catch((e: unknown) => String((e as Error).message));
            const expected = ['I', 'U', 'D'].includes(op)
              ? /^written$/
              : /object_operation must be I \(insert\), U \(update\) or D \(delete\)/;
            expect(outcome, `seed ${seed}: operation ${JSON.stringify(op)}`).toMatch(expected);
          }
        }
      } finally {
        await nodes.closeAll();
        await db.drop();
      }
    });
  },
);

/**
 * What dsync made on a PostgreSQL node, as comparable lines: its tables' columns (type, null, default),
 * constraints, triggers and storage options, its functions, views and domains.
 */
async function postgresSyncObjects(client: DbClient): Promise<string[]> {
  const { rows } = await client.query<Row>(`
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') AS line
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v') AND (c.relname LIKE 'ds\\_%' OR c.relname LIKE 'view\\_%')
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
      WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text LIKE 'ds\\_%'
    UNION ALL
    SELECT 'domain ' || t.typname || ' ' || format_type(t.typbasetype, t.typtypmod) || ' ' || coalesce(co.conname || ' ' || pg_get_constraintdef(co.oid), '')
      FROM pg_type t LEFT JOIN pg_constraint co ON co.contypid = t.oid
      WHERE t.typnamespace = 'public'::regnamespace AND t.typtype = 'd'
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'ds\\_%'
    UNION ALL
    SELECT 'options ' || relname || ' ' || array_to_string(reloptions, ',') FROM pg_class
      WHERE relnamespace = 'public'::regnamespace AND relname LIKE 'ds\\_%' AND reloptions IS NOT NULL
    UNION ALL
    SELECT 'view ' || relname || ' ' || pg_get_viewdef(oid) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'v'
    UNION ALL
    SELECT 'function ' || proname || ' ' || md5(prosrc) || ' ' || coalesce(array_to_string(proconfig, ','), '') FROM pg_proc
      WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'ds\\_%'
    ORDER BY 1`);
  return rows.map((r) => String(r.line));
}
