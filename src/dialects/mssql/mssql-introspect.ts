/**
 * Reads a table from the SQL Server catalog views into the neutral TableSchema.
 * sys.columns: https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-columns-transact-sql
 * sys.types: https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-types-transact-sql
 * sys.indexes: https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-indexes-transact-sql
 * sys.index_columns: https://learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-index-columns-transact-sql
 */
import { IntrospectionError } from '../../core/errors.ts';
import type { DbClient } from '../../core/dialect.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../core/schema.ts';

/** By system type name. JSON kept in nvarchar(max) stays text; SQL Server 2025's json type is json. */
const FAMILY_BY_TYPE: Record<string, TypeFamily> = {
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
};

/** `schema.table` or `table` (then the caller's default schema, then dbo, as SQL Server resolves names). */
function splitName(name: string): { schema: string | null; table: string } {
  const dot = name.indexOf('.');
  return dot > 0 ? { schema: name.slice(0, dot), table: name.slice(dot + 1) } : { schema: null, table: name };
}

const FIND_TABLE = `
  SELECT TOP (1) t.object_id, s.name AS schema_name
  FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id
  WHERE t.name = @p1 AND (s.name = @p2 OR (@p2 IS NULL AND s.name IN (SCHEMA_NAME(), N'dbo')))
  ORDER BY CASE WHEN s.name = SCHEMA_NAME() THEN 0 ELSE 1 END`;

// Alias types report their base type through system_type_id; CLR types (hierarchyid, geography) keep their own name.
const COLUMNS = `
  SELECT c.name, CASE WHEN ty.is_user_defined = 1 AND ty.is_assembly_type = 0 THEN TYPE_NAME(c.system_type_id) ELSE ty.name END AS type_name,
         c.max_length, c.precision, c.scale, c.is_nullable, c.is_identity, c.is_computed, c.is_column_set,
         dc.definition AS default_expr, c.collation_name
  FROM sys.columns AS c
  JOIN sys.types AS ty ON ty.user_type_id = c.user_type_id
  LEFT JOIN sys.default_constraints AS dc ON dc.object_id = c.default_object_id
  WHERE c.object_id = @p1
  ORDER BY c.column_id`;

const PRIMARY_KEY = `
  SELECT c.name
  FROM sys.indexes AS i
  JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
  JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
  WHERE i.object_id = @p1 AND i.is_primary_key = 1 AND ic.key_ordinal > 0
  ORDER BY ic.key_ordinal`;

/** One row of COLUMNS as SQL Server returns it. */
export interface MssqlColumnRow {
  name: string;
  type_name: string;
  /** Bytes; -1 for (max). */
  max_length: number;
  precision: number;
  scale: number;
  is_nullable: boolean;
  is_identity: boolean;
  is_computed: boolean;
  is_column_set: boolean;
  default_expr: string | null;
  /** Text columns only; absent in rows written before it was read. */
  collation_name?: string | null;
}

/** The type as SQL Server spells it in DDL: `nvarchar(20)`, `decimal(12,2)`, `datetime2(6)`, `varbinary(max)`. */
function nativeType(row: MssqlColumnRow): string {
  const type = row.type_name.toLowerCase();
  const length = (bytesPerChar: number) => (row.max_length === -1 ? 'max' : String(row.max_length / bytesPerChar));
  if (type === 'char' || type === 'varchar' || type === 'binary' || type === 'varbinary') return `${type}(${length(1)})`;
  if (type === 'nchar' || type === 'nvarchar') return `${type}(${length(2)})`;
  if (type === 'decimal' || type === 'numeric') return `${type}(${row.precision},${row.scale})`;
  if (type === 'datetime2' || type === 'time' || type === 'datetimeoffset') return `${type}(${row.scale})`;
  return type;
}

/**
 * `_CI` (case-insensitive) or `_AI` (accent-insensitive) in a collation name:
 * SQL_Latin1_General_CP1_CI_AS, Latin1_General_100_CI_AS_SC_UTF8. `_CS_AS`, `_BIN` and `_BIN2` are sensitive.
 * https://learn.microsoft.com/sql/relational-databases/collations/collation-and-unicode-support
 */
const caseInsensitiveCollation = (name: string) => /_(CI|AI)(_|$)/i.test(name);

export function columnFromCatalog(row: MssqlColumnRow): ColumnSchema {
  const type = row.type_name.toLowerCase();
  const family = FAMILY_BY_TYPE[type] ?? 'text';
  const hasLength = ['char', 'varchar', 'nchar', 'nvarchar', 'binary', 'varbinary'].includes(type);
  const hasScale = family === 'decimal' || ['datetime2', 'time', 'datetimeoffset'].includes(type);
  return {
    name: row.name,
    nativeType: nativeType(row),
    family,
    nullable: Boolean(row.is_nullable),
    default: row.default_expr ?? null,
    maxLength: hasLength && row.max_length !== -1 ? row.max_length / (type.startsWith('n') ? 2 : 1) : null,
    precision: family === 'decimal' || family === 'float' ? row.precision : null,
    scale: hasScale ? row.scale : null,
    // SQL Server has only one kind: an explicit value needs SET IDENTITY_INSERT ON.
    identity: row.is_identity ? 'always' : null,
    // rowversion (spelled timestamp in the catalog), computed columns and sparse column sets are the server's.
    generated: Boolean(row.is_computed) || type === 'timestamp' || type === 'rowversion' || Boolean(row.is_column_set),
    ...(row.collation_name ? { collation: row.collation_name, caseInsensitive: caseInsensitiveCollation(row.collation_name) } : {}),
  };
}

export async function introspectMssql(client: DbClient, name: string): Promise<TableSchema> {
  const { schema, table } = splitName(name);
  const found = await client.query<{ object_id: number; schema_name: string }>(FIND_TABLE, [table, schema]);
  if (found.rows.length === 0) {
    throw new IntrospectionError('table_missing', `table ${name} does not exist`, {
      hint: 'create it first, or correct its name in "tables" of the config',
    });
  }
  const { object_id: objectId, schema_name: schemaName } = found.rows[0];
  const columns = await client.query<MssqlColumnRow & Record<string, unknown>>(COLUMNS, [objectId]);
  const key = await client.query<{ name: string }>(PRIMARY_KEY, [objectId]);
  if (key.rows.length === 0) {
    throw new IntrospectionError('no_primary_key', `table ${name} has no primary key`, {
      hint: `dsync identifies rows by their key: ALTER TABLE ${name} ADD PRIMARY KEY (…)`,
    });
  }
  return { name, schema: schemaName, columns: columns.rows.map(columnFromCatalog), primaryKey: key.rows.map((r) => r.name) };
}

/** True when the table or view exists (schema-qualified or by the default schema's resolution). */
export async function mssqlTableExists(client: DbClient, name: string): Promise<boolean> {
  const { schema, table } = splitName(name);
  const { rows } = await client.query<{ found: number }>(
    `SELECT CASE WHEN EXISTS (SELECT 1 FROM sys.objects WHERE type IN ('U', 'V')
       AND object_id = OBJECT_ID(CASE WHEN @p1 IS NULL THEN QUOTENAME(@p2) ELSE QUOTENAME(@p1) + N'.' + QUOTENAME(@p2) END)) THEN 1 ELSE 0 END AS found`,
    [schema, table],
  );
  return rows[0].found === 1;
}
