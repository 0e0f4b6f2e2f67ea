/**
 * The multi-row bulk writers (src/dialects/multirow-bulk.ts) as SQL text: what SQL Server
 * would get (no server here), and the chunking every brand shares. MariaDB and SQLite run
 * the same writers live in test/integration/import-batches.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { DbClient, Dialect } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import { mysqlDialect } from '../../src/dialects/mysql/mysql-dialect.ts';
import { paramTuples } from '../../src/dialects/multirow-bulk.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';

function recorder(dialect: Dialect, matched?: (sql: string, params: readonly unknown[]) => number) {
  const seen: Array<{ sql: string; params: readonly unknown[] }> = [];
  const client = {
    dialect,
    async query(sql: string, params: readonly unknown[] = []) {
      seen.push({ sql, params });
      return { rows: [], rowCount: matched ? matched(sql, params) : 0 };
    },
    exec: async () => undefined,
    transaction: async () => undefined,
    close: async () => undefined,
  } as unknown as DbClient;
  return { client, seen };
}

const table = (schema: string | null, key: string[]): TableSchema =>
  ({
    name: 'sales_order',
    schema,
    primaryKey: key,
    columns: [
      { name: 'order_id', nativeType: 'int', family: 'integer', nullable: false, default: null },
      { name: 'line', nativeType: 'int', family: 'integer', nullable: false, default: null },
      { name: 'quantity', nativeType: 'int', family: 'integer', nullable: true, default: null },
      { name: 'note', nativeType: 'nvarchar(20)', family: 'text', nullable: true, default: null },
    ],
  }) as unknown as TableSchema;

describe('SQL Server multi-row writes', () => {
  it('updates by a join to a VALUES row set and checks the rows matched', async () => {
    const { client, seen } = recorder(mssqlDialect, (_sql, params) => params.length / 3);
    const rows = [1, 2, 3].map((id) => ({ key: { order_id: id, line: 1 }, values: { quantity: id * 10 } }));
    await mssqlDialect.bulk!.updateTableRows(client, table('dbo', ['order_id', 'line']), ['quantity'], rows);
    expect(seen).toHaveLength(1);
    expect(seen[0].sql).toBe(
      'UPDATE d SET d.quantity = s.quantity FROM dbo.sales_order AS d JOIN (VALUES (@p1, @p2, @p3), (@p4, @p5, @p6), (@p7, @p8, @p9)) AS s (order_id, line, quantity) ON d.order_id = s.order_id AND d.line = s.line',
    );
    expect(seen[0].params).toHaveLength(9);
  });

  it('fails when an update matches fewer rows than it carries (the import replays the batch)', async () => {
    const { client } = recorder(mssqlDialect, () => 1);
    const rows = [1, 2].map((id) => ({ key: { order_id: id }, values: { quantity: 1 } }));
    await expect(mssqlDialect.bulk!.updateTableRows(client, table('dbo', ['order_id']), ['quantity'], rows)).rejects.toThrow(
      /matched 1 of 2 rows/,
    );
  });

  it('deletes a composite key by a join, a single key by IN, and stays under 2,000 parameters', async () => {
    const { client, seen } = recorder(mssqlDialect, (_sql, params) => params.length / 2);
    const keys = Array.from({ length: 2500 }, (_, i) => ({ order_id: i, line: 1 }));
    await mssqlDialect.bulk!.deleteTableRows(client, table('dbo', ['order_id', 'line']), keys);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const s of seen) {
      expect(s.params.length).toBeLessThanOrEqual(2000);
      expect(s.sql).toMatch(/^DELETE d FROM dbo\.sales_order AS d JOIN \(VALUES \(@p1, @p2\), /);
    }
    expect(seen.reduce((n, s) => n + s.params.length, 0)).toBe(5000);
    const single = recorder(mssqlDialect, (_sql, params) => params.length);
    await mssqlDialect.bulk!.deleteTableRows(single.client, table('dbo', ['order_id']), [{ order_id: 1 }, { order_id: 2 }]);
    expect(single.seen[0].sql).toBe('DELETE FROM dbo.sales_order WHERE order_id IN (@p1, @p2)');
  });

  it('inserts many rows per statement, under the parameter limit', async () => {
    const { client, seen } = recorder(mssqlDialect);
    const rows = Array.from({ length: 1200 }, (_, i) => ({ order_id: i, line: 1 }));
    await mssqlDialect.bulk!.insertTableRows(client, table('dbo', ['order_id', 'line']), rows);
    expect(seen.map((s) => s.params.length)).toEqual([1990, 410]);
    expect(seen[0].sql).toMatch(/^INSERT INTO dbo\.sales_order \(order_id, line\) VALUES \(@p1, @p2\), \(@p3, @p4\)/);
  });

  it('has no upsert: the version store deletes and inserts there', () => {
    expect(mssqlDialect.bulk!.upsertRows).toBeUndefined();
  });
});

describe('MariaDB and SQLite multi-row statements', () => {
  it('MariaDB updates through a derived table of the rows, never INSERT … ON DUPLICATE KEY for a table row', async () => {
    const { client, seen } = recorder(mysqlDialect, (_sql, params) => params.length / 2);
    const rows = [1, 2].map((id) => ({ key: { order_id: id }, values: { note: `n${id}` } }));
    await mysqlDialect.bulk!.updateTableRows(client, table(null, ['order_id']), ['note'], rows);
    expect(seen[0].sql).toBe(
      'UPDATE `sales_order` AS d JOIN (SELECT ? AS `order_id`, ? AS `note` UNION ALL SELECT ?, ?) AS s ON d.`order_id` = s.`order_id` SET d.`note` = s.`note`',
    );
    expect(seen[0].params).toEqual([1, 'n1', 2, 'n2']);
  });

  it('MariaDB and SQLite upsert the version store in one statement', async () => {
    const columns = ['table_name', 'row_key', 'cl'];
    const my = recorder(mysqlDialect);
    await mysqlDialect.bulk!.upsertRows!(my.client, 'ds_row_version', columns, ['table_name', 'row_key'], [['t', '1', 1]]);
    expect(my.seen[0].sql).toBe(
      'INSERT INTO `ds_row_version` (`table_name`, `row_key`, `cl`) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE `cl` = VALUES(`cl`)',
    );
    const lite = recorder(sqliteDialect);
    await sqliteDialect.bulk!.upsertRows!(lite.client, 'ds_row_version', columns, ['table_name', 'row_key'], [['t', '1', 1]]);
    expect(lite.seen[0].sql).toBe(
      'INSERT INTO ds_row_version (table_name, row_key, cl) VALUES (?, ?, ?) ON CONFLICT (table_name, row_key) DO UPDATE SET cl = excluded.cl',
    );
  });

  it('SQLite updates FROM a VALUES list named by a CTE and deletes a composite key by row-value IN', async () => {
    const { client, seen } = recorder(sqliteDialect, (_sql, params) => params.length / 3);
    await sqliteDialect.bulk!.updateTableRows(
      client,
      table(null, ['order_id', 'line']),
      ['quantity'],
      [{ key: { order_id: 1, line: 1 }, values: { quantity: 5 } }],
    );
    expect(seen[0].sql).toBe(
      'WITH ds_rows (order_id, line, quantity) AS (VALUES (?, ?, ?)) UPDATE sales_order AS d SET quantity = ds_rows.quantity FROM ds_rows WHERE d.order_id = ds_rows.order_id AND d.line = ds_rows.line',
    );
    const del = recorder(sqliteDialect, (_sql, params) => params.length / 2);
    await sqliteDialect.bulk!.deleteTableRows(del.client, table(null, ['order_id', 'line']), [{ order_id: 1, line: 2 }]);
    expect(del.seen[0].sql).toBe('DELETE FROM sales_order WHERE (order_id, line) IN (VALUES (?, ?))');
  });

  it('SQLite statement texts made once per shape never serve another shape (table, schema, key, columns, rows)', async () => {
    const { client, seen } = recorder(sqliteDialect, (_sql, params) => params.length / 3);
    const update = (t: TableSchema, set: string[], n: number) =>
      sqliteDialect.bulk!.updateTableRows(
        client,
        t,
        set,
        Array.from({ length: n }, (_, i) => ({ key: { order_id: i, line: i }, values: { quantity: i, note: `n${i}` } })),
      );
    await update(table(null, ['order_id', 'line']), ['quantity'], 2);
    await update(table(null, ['order_id', 'line']), ['quantity'], 2);
    await update(table(null, ['order_id', 'line']), ['quantity'], 3);
    await update(table(null, ['order_id', 'line']), ['note'], 2);
    await update(table('main', ['order_id', 'line']), ['quantity'], 2);
    expect(seen.map((s) => s.sql)).toEqual([
      'WITH ds_rows (order_id, line, quantity) AS (VALUES (?, ?, ?), (?, ?, ?)) UPDATE sales_order AS d SET quantity = ds_rows.quantity FROM ds_rows WHERE d.order_id = ds_rows.order_id AND d.line = ds_rows.line',
      'WITH ds_rows (order_id, line, quantity) AS (VALUES (?, ?, ?), (?, ?, ?)) UPDATE sales_order AS d SET quantity = ds_rows.quantity FROM ds_rows WHERE d.order_id = ds_rows.order_id AND d.line = ds_rows.line',
      'WITH ds_rows (order_id, line, quantity) AS (VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)) UPDATE sales_order AS d SET quantity = ds_rows.quantity FROM ds_rows WHERE d.order_id = ds_rows.order_id AND d.line = ds_rows.line',
      'WITH ds_rows (order_id, line, note) AS (VALUES (?, ?, ?), (?, ?, ?)) UPDATE sales_order AS d SET note = ds_rows.note FROM ds_rows WHERE d.order_id = ds_rows.order_id AND d.line = ds_rows.line',
      'WITH ds_rows (order_id, line, quantity) AS (VALUES (?, ?, ?), (?, ?, ?)) UPDATE main.sales_order AS d SET quantity = ds_rows.quantity FROM ds_rows WHERE d.order_id = ds_rows.order_id AND d.line = ds_rows.line',
    ]);
    // The parameters, flattened row by row, are each call's own.
    expect(seen[2].params).toEqual([0n, 0n, 0n, 1n, 1n, 1n, 2n, 2n, 2n]);
    expect(seen[3].params).toEqual([0n, 0n, 'n0', 1n, 1n, 'n1']);

    const ins = recorder(sqliteDialect);
    // Inside a transaction (SQLite's insertRows opens one for several statements outside).
    Object.assign(ins.client, { inTransaction: true });
    await sqliteDialect.bulk!.insertRows(
      ins.client,
      'ds_change_inbox',
      ['a', 'b'],
      [
        ['x', 1],
        ['y', null],
      ],
      true,
    );
    await sqliteDialect.bulk!.insertRows(
      ins.client,
      'ds_change_inbox',
      ['a', 'b'],
      [
        ['x', 1],
        ['y', null],
      ],
      false,
    );
    await sqliteDialect.bulk!.insertRows(ins.client, 'ds_change_inbox', ['a', 'c'], [['z', 2]], true);
    await sqliteDialect.bulk!.insertRows(ins.client, 'ds_change_outbox', ['a', 'c'], [['z', 2]], true);
    // Integers bound as SQLite binds them (bigints): the driver copies no parameter list.
    expect(ins.seen.map((s) => [s.sql, s.params])).toEqual([
      ['INSERT INTO ds_change_inbox (a, b) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING', ['x', 1n, 'y', null]],
      ['INSERT INTO ds_change_inbox (a, b) VALUES (?, ?), (?, ?)', ['x', 1n, 'y', null]],
      ['INSERT INTO ds_change_inbox (a, c) VALUES (?, ?) ON CONFLICT DO NOTHING', ['z', 2n]],
      ['INSERT INTO ds_change_outbox (a, c) VALUES (?, ?) ON CONFLICT DO NOTHING', ['z', 2n]],
    ]);
  });

  it('row-set texts stay right for any row count, past the number of texts kept', () => {
    for (let round = 0; round < 2; round++)
      for (let rows = 1; rows <= 150; rows++) {
        const text = paramTuples(sqliteDialect.sql, 2, rows);
        expect(text).toBe(Array.from({ length: rows }, () => '(?, ?)').join(', '));
      }
    expect(paramTuples(mssqlDialect.sql, 2, 2)).toBe('(@p1, @p2), (@p3, @p4)');
    expect(paramTuples(sqliteDialect.sql, 3, 1)).toBe('(?, ?, ?)');
  });
});
