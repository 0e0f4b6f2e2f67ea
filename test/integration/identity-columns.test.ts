/**
 * Identity columns take the origin's values at the target, through the one insert path
 * (dml.insertRow for one row, the bulk writer for many): PostgreSQL GENERATED ALWAYS needs
 * OVERRIDING SYSTEM VALUE, SQL Server SET IDENTITY_INSERT (checked on its SQL only: no
 * server here), MySQL AUTO_INCREMENT and SQLite AUTOINCREMENT take explicit values.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { mssqlSql } from '../../src/dialects/mssql/mssql-sql.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { syncAll } from '../../src/runtime/sync.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';

const live = await liveDialects();
const dir = mkdtempSync(join(tmpdir(), 'dsync-ident-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DDL: Partial<Record<DialectName, string>> = {
  postgres: 'CREATE TABLE ident_t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note varchar(40))',
  sqlite: 'CREATE TABLE ident_t (id INTEGER PRIMARY KEY AUTOINCREMENT, note VARCHAR(40))',
  mysql: 'CREATE TABLE ident_t (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40))',
};

const PAIRS = (
  [
    ['postgres', 'postgres'],
    ['sqlite', 'postgres'],
    ['postgres', 'mysql'],
    ['mysql', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

describe.each(PAIRS)('identity columns %s -> %s', (from, to) => {
  it('arrive with the origin values, one row alone and several in a batch', async () => {
    const dbs: TestDatabase[] = [await createTestDatabase(from, 'dsync_ida'), await createTestDatabase(to, 'dsync_idb')];
    const config = parseConfig(
      {
        nodes: { a: { dialect: from, url: dbs[0].url, serverId: 'sa' }, b: { dialect: to, url: dbs[1].url, serverId: 'sb' } },
        tables: ['ident_t'],
        links: [{ between: ['a', 'b'] }],
        generatedDir: join(dir, `${from}-${to}`),
      },
      dir,
      null,
    );
    const nodes = new NodeSet(config);
    try {
      for (const name of ['a', 'b']) {
        const h = await nodes.get(name);
        await h.client.exec(DDL[h.dialect.name]!);
        writeFiles(
          join(config.generatedDir, name),
          generateNode(config, h.node, h.dialect, await introspectTables(config, h.dialect, h.client)),
        );
        await applyNode(config, h.node, h.dialect, h.client);
      }
      const [a, b] = [await nodes.get('a'), await nodes.get('b')];
      // Skip some ids on the source so that the target's own counter would give others.
      for (const note of ['x', 'y', 'z']) await a.client.exec(`INSERT INTO ident_t (note) VALUES ('${note}')`);
      await a.client.exec("DELETE FROM ident_t WHERE note IN ('x', 'y')");
      await syncAll(config, nodes);
      const ids = async (client: typeof a.client) =>
        (await client.query<Row>('SELECT id, note FROM ident_t ORDER BY id')).rows.map((r) => [Number(r.id), r.note]);
      expect(await ids(b.client)).toEqual(await ids(a.client));
      for (const note of ['p', 'q', 'r', 's']) await a.client.exec(`INSERT INTO ident_t (note) VALUES ('${note}')`);
      await syncAll(config, nodes);
      expect(await ids(b.client)).toEqual(await ids(a.client));
      expect((await ids(b.client)).length).toBe(5);
    } finally {
      await nodes.closeAll();
      for (const db of dbs) await db.drop();
    }
  });
});

describe('SQL Server identity inserts (generated SQL only)', () => {
  const table: TableSchema = {
    name: 'ident_t',
    schema: 'dbo',
    primaryKey: ['id'],
    columns: [
      { name: 'id', nativeType: 'bigint', family: 'bigint', nullable: false, default: null, identity: 'always' },
      { name: 'note', nativeType: 'nvarchar(40)', family: 'text', nullable: true, default: null },
    ],
  };
  it('wraps an insert of the identity column in SET IDENTITY_INSERT, and only then', () => {
    expect(mssqlSql.identityInsert!(table, ['id', 'note'])).toEqual({
      before: 'SET IDENTITY_INSERT dbo.ident_t ON; ',
      after: '; SET IDENTITY_INSERT dbo.ident_t OFF',
    });
    expect(mssqlSql.identityInsert!(table, ['note'])).toEqual({});
  });
});
