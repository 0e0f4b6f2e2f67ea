/**
 * The SQL Server dialect's runtime duties without a server: the safe horizon's arithmetic
 * and SQL (DESIGN rule 1), the origin flag (rule 4), capability flags and the GO splitter.
 * The same behaviours against a real server are in test/integration/mssql-live.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { DbClient, QueryResult, Row } from '../../src/core/dialect.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../src/core/schema.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { mssqlDialect, setOrigin } from '../../src/dialects/mssql/mssql-dialect.ts';

function answering(row: Row): DbClient & { calls: Array<{ sql: string; params: readonly unknown[] }> } {
  const calls: Array<{ sql: string; params: readonly unknown[] }> = [];
  return {
    dialect: mssqlDialect,
    calls,
    async query<T extends Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      calls.push({ sql, params });
      return { rows: [row as T], rowCount: 1 };
    },
    exec: async () => undefined,
    transaction: async (fn) => fn(undefined as never),
    close: async () => undefined,
  };
}

describe('mssql safe horizon', () => {
  const horizon = (row: Row) => mssqlDialect.readSafeHorizon(answering(row), 'ds_change_outbox');

  it('is the highest id when no fence or row is in flight', async () => {
    expect(await horizon({ last_id: '42', fenced: null, in_flight: null })).toBe(42);
  });

  it('is 0 for an empty table', async () => {
    expect(await horizon({ last_id: null, fenced: null, in_flight: null })).toBe(0);
  });

  it('stops at the last id before an open transaction fenced, even when its own row is not visible yet', async () => {
    // A transaction fenced at last_id 99 and holds id 100 (no row yet); 101 committed.
    expect(await horizon({ last_id: '101', fenced: '99', in_flight: null })).toBe(99);
  });

  it('stops below a row still in flight (a writer that skipped the fence trigger)', async () => {
    expect(await horizon({ last_id: '101', fenced: null, in_flight: '100' })).toBe(99);
    expect(await horizon({ last_id: '101', fenced: '98', in_flight: '100' })).toBe(98);
    expect(await horizon({ last_id: '5', fenced: null, in_flight: '1' })).toBe(0);
  });

  it('reads max id, then MIN_ACTIVE_ROWVERSION, then the fences, all dirty so an open transaction never blocks it', async () => {
    const client = answering({ last_id: '1', fenced: null, in_flight: null });
    await mssqlDialect.readSafeHorizon(client, 'ds_change_inbox');
    const [{ sql, params }] = client.calls;
    expect(params).toEqual(['ds_change_inbox']);
    const at = (s: string) => sql.indexOf(s);
    expect(at('SELECT MAX(id) FROM dbo.ds_change_inbox WITH (READUNCOMMITTED)')).toBeGreaterThan(-1);
    expect(at('MIN_ACTIVE_ROWVERSION()')).toBeGreaterThan(at('MAX(id)'));
    expect(at('FROM dbo.ds_change_fence AS f WITH (READUNCOMMITTED, INDEX(0))')).toBeGreaterThan(at('MIN_ACTIVE_ROWVERSION()'));
    expect(sql).toContain('f.rv >= @active');
    expect(sql).toContain('FROM dbo.ds_change_inbox AS x WITH (READUNCOMMITTED) WHERE x.rv >= @active');
  });
});

describe('mssql origin flag', () => {
  it('stores the origin in the session context, bound to the current transaction', async () => {
    const client = answering({});
    await setOrigin(client, { serverId: 'elsewhere', changeId: 77, userId: 'u1', updatedAt: '2025-01-02 03:04:05.000006' });
    const [{ sql, params }] = client.calls;
    expect(params).toEqual(['elsewhere', 77, 'u1', '2025-01-02T03:04:05.000006']);
    expect(sql).toContain('CURRENT_TRANSACTION_ID()');
    expect(sql).toContain('CONVERT(datetime2(6), @p4, 126)');
    for (const key of ['origin_server', 'origin_change_id', 'origin_user', 'origin_time', 'origin_txn']) {
      expect(sql).toContain(`EXEC sys.sp_set_session_context @key = N'dsync.${key}'`);
    }
  });

  it('reads an origin time in any spelling the decoder accepts, as UTC', async () => {
    const client = answering({});
    await setOrigin(client, { serverId: 's', changeId: 1, userId: null, updatedAt: '06/25/2025 10:30:00 AM' });
    await setOrigin(client, { serverId: 's', changeId: 1, userId: null, updatedAt: '2025-06-25T12:30:00+02:00' });
    await setOrigin(client, { serverId: 's', changeId: 1, userId: null, updatedAt: null });
    expect(client.calls.map((c) => c.params[3])).toEqual(['2025-06-25T10:30:00.000000', '2025-06-25T10:30:00.000000', null]);
  });

  it('clears every key with null', async () => {
    const client = answering({});
    await setOrigin(client, null);
    expect(client.calls[0].params).toEqual([null, null, null, null]);
  });
});

describe('mssql capture silence', () => {
  it('binds the silence to the current transaction, and lifts it with false', async () => {
    const client = answering({});
    await mssqlDialect.silenceCapture(client, true);
    await mssqlDialect.silenceCapture(client, false);
    expect(client.calls.map((c) => c.params)).toEqual([[true], [false]]);
    expect(client.calls[0].sql).toContain('CASE WHEN @p1 = 1 THEN CURRENT_TRANSACTION_ID() END');
    expect(client.calls[0].sql).toContain("EXEC sys.sp_set_session_context @key = N'dsync.capture_off', @value = @txn");
  });
});

describe('mssql object_id spelling', () => {
  const column = (name: string, family: TypeFamily, nativeType: string, scale: number | null = null): ColumnSchema => ({
    name,
    family,
    nativeType,
    nullable: false,
    default: null,
    scale,
  });
  const table = (...columns: ColumnSchema[]): TableSchema => ({
    name: 't',
    schema: 'dbo',
    columns,
    primaryKey: columns.map((c) => c.name),
  });

  it('spells a one-column key canonically (core/canonical-key.ts), as the trigger does', () => {
    expect(mssqlDialect.keyJson(table(column('id', 'integer', 'int')), { id: 5 })).toBe('5');
    expect(mssqlDialect.keyJson(table(column('id', 'bigint', 'bigint')), { id: '9007199254740993' })).toBe('"9007199254740993"');
    expect(mssqlDialect.keyJson(table(column('id', 'text', 'nvarchar(20)')), { id: 'a/b "c"' })).toBe('"a/b \\"c\\""');
    expect(mssqlDialect.keyJson(table(column('id', 'text', 'nchar(5)')), { id: 'ab   ' })).toBe('"ab"');
    expect(mssqlDialect.keyJson(table(column('id', 'decimal', 'decimal(12,2)', 2)), { id: '10.50' })).toBe('"10.5"');
    expect(mssqlDialect.keyJson(table(column('id', 'decimal', 'decimal(12,0)', 0)), { id: '-7' })).toBe('"-7"');
    expect(mssqlDialect.keyJson(table(column('id', 'uuid', 'uniqueidentifier')), { id: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' })).toBe(
      '"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"',
    );
    expect(mssqlDialect.keyJson(table(column('id', 'timestamp', 'datetime2(6)')), { id: '2025-06-25T10:30:00.000000' })).toBe(
      '"2025-06-25T10:30:00.000000"',
    );
    expect(mssqlDialect.keyJson(table(column('id', 'float', 'float')), { id: 0.1 })).toBe('0.1');
    expect(mssqlDialect.keyJson(table(column('id', 'float', 'float')), { id: -1500 })).toBe('-1500');
  });

  it('spells a composite key as a compact object in key order', () => {
    const t = table(column('order_id', 'text', 'nvarchar(20)'), column('line_no', 'integer', 'int'));
    expect(mssqlDialect.keyJson(t, { line_no: 1, order_id: 'o1' })).toBe('{"order_id":"o1","line_no":1}');
  });
});

describe('mssql dialect', () => {
  it('is what the registry loads for "mssql"', async () => {
    expect(await getDialect('mssql')).toBe(mssqlDialect);
  });

  it('declares transactional DDL and a parameter limit with headroom under 2100', () => {
    expect(mssqlDialect.name).toBe('mssql');
    expect(mssqlDialect.capabilities).toEqual({
      transactionalDdl: true,
      concurrentWriters: true,
      insteadOfInsertFence: true,
      maxParameters: 2000,
    });
    expect(mssqlDialect.formatterLanguage).toBe('transactsql');
  });

  it('splits scripts on GO lines only', () => {
    const script =
      "-- header\nCREATE TABLE a (x int);\nGO\n\nCREATE OR ALTER TRIGGER t ON a AFTER INSERT AS\nBEGIN\n  SELECT N'GO;';\nEND\ngo\n";
    expect(mssqlDialect.splitScript(script)).toEqual([
      '-- header\nCREATE TABLE a (x int);',
      "CREATE OR ALTER TRIGGER t ON a AFTER INSERT AS\nBEGIN\n  SELECT N'GO;';\nEND",
    ]);
  });

  it('loads the driver only on connect (nothing imported at module load)', async () => {
    const source = await import('node:fs').then((fs) =>
      fs.readFileSync(new URL('../../src/dialects/mssql/mssql-driver.ts', import.meta.url), 'utf8'),
    );
    expect(source).not.toMatch(/^import .* from 'mssql'/m);
    expect(source).toContain('await import(specifier)');
  });
});
