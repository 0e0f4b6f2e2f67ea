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
          ran.every((f) => /^00(1\d)_upgrade_|^01\d\d_capture_|^0003_ds_program_parameter/.test(f)),
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
      } finally {
        await nodes.closeAll();
        await db.drop();
      }
    });
  },
);
