/**
 * Reads a table from SQLite's catalog into the neutral TableSchema. SQLite keeps the
 * declared type as written, so the family is decided from the declared name, the way
 * SQLite itself decides a column's affinity from it, but with the families dsync needs.
 * Catalog: https://www.sqlite.org/pragma.html#pragma_table_xinfo
 * Declared types and affinity: https://www.sqlite.org/datatype3.html#determination_of_column_affinity
 */
import { IntrospectionError } from '../../core/errors.ts';
import type { DbClient } from '../../core/dialect.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../core/schema.ts';

/** Base type names (upper case, without the parenthesized size) and their family. */
const FAMILY_BY_TYPE: Record<string, TypeFamily> = {
  INT: 'integer',
  INTEGER: 'integer',
  SMALLINT: 'integer',
  TINYINT: 'integer',
  MEDIUMINT: 'integer',
  INT2: 'integer',
  INT4: 'integer',
  BIGINT: 'bigint',
  INT8: 'bigint',
  'UNSIGNED BIG INT': 'bigint',
  DECIMAL: 'decimal',
  NUMERIC: 'decimal',
  NUMBER: 'decimal',
  REAL: 'float',
  DOUBLE: 'float',
  'DOUBLE PRECISION': 'float',
  FLOAT: 'float',
  FLOAT4: 'float',
  FLOAT8: 'float',
  BOOL: 'boolean',
  BOOLEAN: 'boolean',
  DATE: 'date',
  TIME: 'time',
  'TIME WITHOUT TIME ZONE': 'time',
  TIMETZ: 'time',
  'TIME WITH TIME ZONE': 'time',
  DATETIME: 'timestamp',
  TIMESTAMP: 'timestamp',
  'TIMESTAMP WITHOUT TIME ZONE': 'timestamp',
  TIMESTAMPTZ: 'timestamptz',
  'TIMESTAMP WITH TIME ZONE': 'timestamptz',
  DATETIMEOFFSET: 'timestamptz',
  BLOB: 'binary',
  BYTEA: 'binary',
  BINARY: 'binary',
  VARBINARY: 'binary',
  JSON: 'json',
  JSONB: 'json',
  UUID: 'uuid',
};

const LENGTH_TYPES = /^(VARCHAR|CHAR|CHARACTER|CHARACTER VARYING|NCHAR|NVARCHAR|NATIVE CHARACTER|VARYING CHARACTER|BINARY|VARBINARY)$/;

/** The family and size facts of a declared type such as `DECIMAL(20, 6)` or `varchar(100)`. */
export function sqliteTypeFacts(declared: string): Pick<ColumnSchema, 'family' | 'maxLength' | 'precision' | 'scale'> {
  const m = /^([^(]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$/.exec(declared.trim().toUpperCase().replace(/\s+/g, ' '));
  const base = m ? m[1] : declared.trim().toUpperCase();
  const first = m?.[2] !== undefined ? Number(m[2]) : null;
  const second = m?.[3] !== undefined ? Number(m[3]) : null;
  const family = FAMILY_BY_TYPE[base] ?? 'text';
  return {
    family,
    maxLength: LENGTH_TYPES.test(base) ? first : null,
    precision: family === 'decimal' ? first : null,
    scale: family === 'decimal' && first !== null ? (second ?? 0) : null,
  };
}

const FIND_TABLE = `SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE`;

// hidden: 0 plain, 1 hidden column of a virtual table, 2 and 3 generated (virtual, stored).
const COLUMNS = `SELECT name, type, "notnull" AS not_null, dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid`;

/**
 * The collations of the primary key's columns, read from its index (a rowid key has
 * none, and needs none: it is an integer). SQLite reports a column's collation nowhere
 * else. https://www.sqlite.org/pragma.html#pragma_index_xinfo
 */
const KEY_COLLATIONS = `
  SELECT x.name, x.coll FROM pragma_index_list(?) AS i, pragma_index_xinfo(i.name) AS x
  WHERE i.origin = 'pk' AND x.key = 1 AND x.cid >= 0`;

export async function introspectSqlite(client: DbClient, name: string): Promise<TableSchema> {
  const found = await client.query<{ name: string }>(FIND_TABLE, [name]);
  if (found.rows.length === 0) {
    throw new IntrospectionError('table_missing', `table ${name} does not exist`, {
      hint: 'create it first, or correct its name in "tables" of the config',
    });
  }
  const { rows } = await client.query<{
    name: string;
    type: string;
    not_null: number;
    dflt_value: string | null;
    pk: number;
    hidden: number;
  }>(COLUMNS, [found.rows[0].name]);
  const key = rows.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
  if (key.length === 0) {
    throw new IntrospectionError('no_primary_key', `table ${name} has no primary key`, {
      hint: `dsync identifies rows by their key, and SQLite cannot add one to a table: recreate ${name} with a PRIMARY KEY`,
    });
  }
  const collations = new Map(
    (await client.query<{ name: string; coll: string }>(KEY_COLLATIONS, [found.rows[0].name])).rows.map((r) => [r.name, r.coll]),
  );
  return {
    name,
    schema: null,
    columns: rows.map(
      (c): ColumnSchema => ({
        name: c.name,
        nativeType: c.type,
        ...sqliteTypeFacts(c.type),
        // SQLite lets a non-INTEGER key column of a rowid table hold NULL (a legacy quirk), but
        // a row without a key cannot be synchronized, so key columns are reported NOT NULL.
        nullable: !c.not_null && c.pk === 0,
        default: c.dflt_value,
        // An INTEGER PRIMARY KEY takes explicit values like any column: no identity handling needed.
        identity: null,
        generated: c.hidden !== 0,
        // NOCASE folds ASCII case: 'abc' and 'ABC' are one key (https://www.sqlite.org/datatype3.html#collation).
        ...(collations.has(c.name)
          ? { collation: collations.get(c.name)!, caseInsensitive: collations.get(c.name)!.toUpperCase() === 'NOCASE' }
          : {}),
      }),
    ),
    primaryKey: key.map((c) => c.name),
  };
}

export async function sqliteTableExists(client: DbClient, name: string): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE`, [name]);
  return rows.length > 0;
}
