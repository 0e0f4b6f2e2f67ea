/**
 * Introspection from the SQL Server catalog, fed the rows sys.columns / sys.types /
 * sys.indexes give for fixtures/schema/mssql.sql (typed here from the DDL, as no server
 * runs): the family mapping, identity/computed/rowversion columns, the error codes, and
 * that fixtures/schema/mssql.json (the offline snapshot's input) is what the code produces.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DbClient, QueryResult, Row } from '../../src/core/dialect.ts';
import { IntrospectionError } from '../../src/core/errors.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import { columnFromCatalog, introspectMssql, type MssqlColumnRow, mssqlTableExists } from '../../src/dialects/mssql/mssql-introspect.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

/** A sys.columns row: type, max_length in bytes, precision, scale, nullable. */
const c = (
  name: string,
  type: string,
  maxLength: number,
  precision = 0,
  scale = 0,
  nullable = true,
  extra: Partial<MssqlColumnRow> = {},
): MssqlColumnRow => ({
  name,
  type_name: type,
  max_length: maxLength,
  precision,
  scale,
  is_nullable: nullable,
  is_identity: false,
  is_computed: false,
  is_column_set: false,
  default_expr: null,
  ...extra,
});
const nv = (name: string, chars: number, nullable = true) => c(name, 'nvarchar', chars === -1 ? -1 : chars * 2, 0, 0, nullable);
const int = (name: string, nullable = true) => c(name, 'int', 4, 10, 0, nullable);

/** What the catalog holds for fixtures/schema/mssql.sql, table by table. */
const CATALOG: Record<string, { columns: MssqlColumnRow[]; key: string[] }> = {
  sales_order: {
    columns: [
      nv('order_id', 20, false),
      nv('order_type', 20),
      nv('description', 200),
      nv('product_type_name', 50),
      nv('customer_id', 20),
      int('quantity'),
      c('order_date', 'date', 3, 10),
      c('update_datetime', 'datetime2', 8, 26, 6),
      nv('updated_by_user', 50),
      nv('updated_by_server', 50),
    ],
    key: ['order_id'],
  },
  order_line: {
    columns: [nv('order_id', 20, false), int('line_no', false), nv('product', 50, false), c('amount', 'decimal', 9, 12, 2)],
    key: ['order_id', 'line_no'],
  },
  type_zoo: {
    columns: [
      int('id', false),
      c('c_smallint', 'smallint', 2, 5),
      int('c_int'),
      c('c_bigint', 'bigint', 8, 19),
      c('c_decimal', 'decimal', 13, 20, 6),
      c('c_float', 'float', 8, 53),
      c('c_real', 'real', 4, 24),
      c('c_bool', 'bit', 1, 1),
      c('c_char', 'nchar', 10),
      nv('c_varchar', 100),
      nv('c_text', -1),
      c('c_date', 'date', 3, 10),
      c('c_time', 'time', 5, 15, 6),
      c('c_timestamp', 'datetime2', 8, 26, 6),
      c('c_timestamptz', 'datetimeoffset', 10, 33, 6),
      c('c_bytea', 'varbinary', -1),
      nv('c_json', -1),
      c('c_uuid', 'uniqueidentifier', 16),
    ],
    key: ['id'],
  },
  'Odd Names': {
    columns: [
      int('Key Col', false),
      ...['select', "it's", 'MixedCase', 'back`tick', 'tilde~col', '[bracket]', 'semi;colon'].map((n) => nv(n, -1)),
    ],
    key: ['Key Col'],
  },
};

/** A DbClient that answers the three catalog queries from CATALOG (object_id = index + 1). */
function catalogClient(catalog = CATALOG, schemaName = 'dbo'): DbClient & { calls: Array<{ sql: string; params: readonly unknown[] }> } {
  const names = Object.keys(catalog);
  const calls: Array<{ sql: string; params: readonly unknown[] }> = [];
  return {
    dialect: mssqlDialect,
    calls,
    async query<T extends Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      calls.push({ sql, params });
      const rows = (r: unknown[]) => ({ rows: r as T[], rowCount: r.length });
      if (sql.includes('FROM sys.tables')) {
        const index = names.indexOf(String(params[0]));
        return rows(index < 0 ? [] : [{ object_id: index + 1, schema_name: schemaName }]);
      }
      const table = catalog[names[Number(params[0]) - 1]];
      if (sql.includes('FROM sys.columns')) return rows(table.columns);
      if (sql.includes('is_primary_key')) return rows(table.key.map((name) => ({ name })));
      if (sql.includes('sys.objects')) return rows([{ found: 1 }]);
      throw new Error(`unexpected query ${sql}`);
    },
    exec: async () => undefined,
    transaction: async (fn) => fn(undefined as never),
    close: async () => undefined,
  };
}

describe('mssql type families', () => {
  const family = (type: string, maxLength = 8, precision = 0, scale = 0) =>
    columnFromCatalog(c('x', type, maxLength, precision, scale)).family;

  it('maps every common SQL Server type to its family', () => {
    const expected: Record<string, string> = {
      tinyint: 'integer',
      smallint: 'integer',
      int: 'integer',
      bigint: 'bigint',
      decimal: 'decimal',
      numeric: 'decimal',
      money: 'decimal',
      smallmoney: 'decimal',
      float: 'float',
      real: 'float',
      bit: 'boolean',
      char: 'text',
      varchar: 'text',
      nchar: 'text',
      nvarchar: 'text',
      text: 'text',
      ntext: 'text',
      date: 'date',
      time: 'time',
      datetime: 'timestamp',
      datetime2: 'timestamp',
      smalldatetime: 'timestamp',
      datetimeoffset: 'timestamptz',
      binary: 'binary',
      varbinary: 'binary',
      image: 'binary',
      uniqueidentifier: 'uuid',
      json: 'json',
      xml: 'text',
      sql_variant: 'text',
      hierarchyid: 'text',
    };
    for (const [type, fam] of Object.entries(expected)) expect(family(type), type).toBe(fam);
  });

  it('spells native types as DDL does: lengths in characters, (max), precision and scale', () => {
    const native = (row: MssqlColumnRow) => columnFromCatalog(row).nativeType;
    expect(native(nv('a', 20))).toBe('nvarchar(20)');
    expect(native(nv('a', -1))).toBe('nvarchar(max)');
    expect(native(c('a', 'varchar', 100))).toBe('varchar(100)');
    expect(native(c('a', 'nchar', 10))).toBe('nchar(5)');
    expect(native(c('a', 'varbinary', -1))).toBe('varbinary(max)');
    expect(native(c('a', 'binary', 16))).toBe('binary(16)');
    expect(native(c('a', 'decimal', 13, 20, 6))).toBe('decimal(20,6)');
    expect(native(c('a', 'numeric', 5, 5, 0))).toBe('numeric(5,0)');
    expect(native(c('a', 'datetime2', 8, 27, 7))).toBe('datetime2(7)');
    expect(native(c('a', 'datetimeoffset', 10, 33, 6))).toBe('datetimeoffset(6)');
    expect(native(c('a', 'time', 5, 16, 7))).toBe('time(7)');
    expect(native(c('a', 'money', 8, 19, 4))).toBe('money');
    expect(native(c('a', 'DateTime', 8, 23, 3))).toBe('datetime');
  });

  it('gives length for text and binary, precision for decimal and float, scale for decimal and fractional seconds', () => {
    expect(columnFromCatalog(nv('a', 20))).toMatchObject({ maxLength: 20, precision: null, scale: null });
    expect(columnFromCatalog(c('a', 'varbinary', 10))).toMatchObject({ maxLength: 10 });
    expect(columnFromCatalog(nv('a', -1))).toMatchObject({ maxLength: null });
    expect(columnFromCatalog(c('a', 'money', 8, 19, 4))).toMatchObject({ precision: 19, scale: 4, maxLength: null });
    expect(columnFromCatalog(c('a', 'float', 8, 53))).toMatchObject({ precision: 53, scale: null });
    expect(columnFromCatalog(c('a', 'datetime2', 8, 26, 6))).toMatchObject({ precision: null, scale: 6 });
    expect(columnFromCatalog(int('a'))).toMatchObject({ precision: null, scale: null, maxLength: null });
    expect(columnFromCatalog({ ...nv('a', 20), collation_name: 'SQL_Latin1_General_CP1_CI_AS' })).toMatchObject({
      collation: 'SQL_Latin1_General_CP1_CI_AS',
      caseInsensitive: true,
    });
    expect(columnFromCatalog({ ...nv('a', 20), collation_name: 'Latin1_General_100_CS_AI_SC_UTF8' })).toMatchObject({
      caseInsensitive: true,
    });
    expect(columnFromCatalog({ ...nv('a', 20), collation_name: 'Latin1_General_100_CS_AS' })).toMatchObject({ caseInsensitive: false });
    expect(columnFromCatalog({ ...nv('a', 20), collation_name: 'Latin1_General_BIN2' })).toMatchObject({ caseInsensitive: false });
    expect(columnFromCatalog(int('a')).caseInsensitive).toBeUndefined();
  });

  it('marks identity columns (inserts need IDENTITY_INSERT) and what the server computes', () => {
    expect(columnFromCatalog(c('id', 'bigint', 8, 19, 0, false, { is_identity: true }))).toMatchObject({
      identity: 'always',
      generated: false,
    });
    expect(columnFromCatalog(c('total', 'decimal', 9, 12, 2, true, { is_computed: true }))).toMatchObject({ generated: true });
    expect(columnFromCatalog(c('rv', 'timestamp', 8, 0, 0, false))).toMatchObject({ generated: true, family: 'text' });
    expect(columnFromCatalog(c('sparse', 'xml', -1, 0, 0, true, { is_column_set: true }))).toMatchObject({ generated: true });
    expect(columnFromCatalog(c('d', 'int', 4, 10, 0, true, { default_expr: '((0))' }))).toMatchObject({
      default: '((0))',
      identity: null,
      generated: false,
    });
  });
});

describe('mssql introspection', () => {
  it('gives exactly fixtures/schema/mssql.json for the fixture tables (the offline snapshot is honest to the code)', async () => {
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'schema', 'mssql.json'), 'utf8')) as TableSchema[];
    const client = catalogClient();
    const actual = [];
    for (const name of Object.keys(CATALOG)) actual.push(await introspectMssql(client, name));
    expect(actual).toEqual(expected);
  });

  it('looks a plain name up in the default schema then dbo, a qualified one in its schema', async () => {
    const client = catalogClient({ sales_order: CATALOG.sales_order }, 'sales');
    const schema = await introspectMssql(client, 'sales.sales_order');
    expect(client.calls[0].params).toEqual(['sales_order', 'sales']);
    expect(schema).toMatchObject({ name: 'sales.sales_order', schema: 'sales' });
    await introspectMssql(client, 'sales_order');
    expect(client.calls[3].params).toEqual(['sales_order', null]);
    expect(client.calls[3].sql).toMatch(/SCHEMA_NAME\(\), N'dbo'/);
  });

  it('refuses a missing table and a table without a primary key, with the PostgreSQL codes', async () => {
    await expect(introspectMssql(catalogClient(), 'nope')).rejects.toMatchObject({ code: 'table_missing' });
    const keyless = catalogClient({ heap: { columns: [int('a')], key: [] } });
    const error = await introspectMssql(keyless, 'heap').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntrospectionError);
    expect(error).toMatchObject({ code: 'no_primary_key' });
    expect((error as IntrospectionError).hint).toMatch(/ADD PRIMARY KEY/);
  });

  it('checks existence through QUOTENAME, so any name is safe', async () => {
    const client = catalogClient();
    expect(await mssqlTableExists(client, "dbo.it's]")).toBe(true);
    expect(client.calls[0].params).toEqual(['dbo', "it's]"]);
    expect(client.calls[0].sql).toContain('QUOTENAME(@p1)');
    expect(client.calls[0].sql).toContain("type IN ('U', 'V')");
  });
});
