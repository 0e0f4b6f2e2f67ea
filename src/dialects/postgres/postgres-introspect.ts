/**
 * Reads a table from pg_catalog into the neutral TableSchema.
 * Catalogs: https://www.postgresql.org/docs/current/catalog-pg-attribute.html
 */
import { IntrospectionError } from '../../core/errors.ts';
import type { DbClient } from '../../core/dialect.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../core/schema.ts';

const FAMILY_BY_TYPE: Record<string, TypeFamily> = {
  int2: 'integer',
  int4: 'integer',
  int8: 'bigint',
  numeric: 'decimal',
  float4: 'float',
  float8: 'float',
  bool: 'boolean',
  date: 'date',
  time: 'time',
  timetz: 'time',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  bytea: 'binary',
  json: 'json',
  jsonb: 'json',
  uuid: 'uuid',
};

/** `schema.table` or `table` (then the first schema on the search_path that has it). */
function splitName(name: string): { schema: string | null; table: string } {
  const dot = name.indexOf('.');
  return dot > 0 ? { schema: name.slice(0, dot), table: name.slice(dot + 1) } : { schema: null, table: name };
}

const FIND_TABLE = `
  SELECT c.oid, n.nspname AS schema,
         c.relkind = 'p' OR c.relispartition OR EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid)
           AS inherits
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relname = $1 AND c.relkind IN ('r', 'p')
    AND (n.nspname = $2 OR ($2::text IS NULL AND n.nspname = ANY (current_schemas(false))))
  ORDER BY array_position(current_schemas(false), n.nspname::text)
  LIMIT 1`;

const COLUMNS = `
  SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS native_type,
         coalesce(bt.typname, t.typname) AS type_name, NOT a.attnotnull AS nullable,
         pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attidentity AS identity,
         a.attgenerated AS generated,
         information_schema._pg_char_max_length(a.atttypid, a.atttypmod) AS max_length,
         information_schema._pg_numeric_precision(a.atttypid, a.atttypmod) AS precision,
         information_schema._pg_numeric_scale(a.atttypid, a.atttypmod) AS scale,
         co.collname AS collation, NOT co.collisdeterministic AS nondeterministic
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

const PRIMARY_KEY = `
  SELECT a.attname AS name
  FROM pg_index i
  JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
  WHERE i.indrelid = $1 AND i.indisprimary
  ORDER BY k.ord`;

export async function introspectPostgres(client: DbClient, name: string): Promise<TableSchema> {
  const { schema, table } = splitName(name);
  const found = await client.query<{ oid: number; schema: string; inherits: boolean }>(FIND_TABLE, [table, schema]);
  if (found.rows.length === 0) {
    throw new IntrospectionError('table_missing', `table ${name} does not exist`, {
      hint: 'create it first, or correct its name in "tables" of the config',
    });
  }
  const { oid } = found.rows[0];
  const columns = await client.query<Record<string, any>>(COLUMNS, [oid]);
  const key = await client.query<{ name: string }>(PRIMARY_KEY, [oid]);
  if (key.rows.length === 0) {
    throw new IntrospectionError('no_primary_key', `table ${name} has no primary key`, {
      hint: `dsync identifies rows by their key: ALTER TABLE ${name} ADD PRIMARY KEY (…)`,
    });
  }
  return {
    name,
    schema: found.rows[0].schema,
    columns: columns.rows.map(
      (c): ColumnSchema => ({
        name: c.name,
        nativeType: c.native_type,
        family: FAMILY_BY_TYPE[c.type_name] ?? 'text',
        nullable: c.nullable,
        default: c.default_expr,
        maxLength: c.max_length ?? null,
        precision: c.precision ?? null,
        scale: c.scale ?? null,
        identity: c.identity === 'a' ? 'always' : c.identity === 'd' ? 'default' : null,
        generated: c.generated === 's',
        // Only a nondeterministic (ICU) collation can call two different strings equal.
        // https://www.postgresql.org/docs/current/collation.html#COLLATION-NONDETERMINISTIC
        ...(c.collation ? { collation: c.collation, caseInsensitive: c.nondeterministic === true } : {}),
      }),
    ),
    primaryKey: key.rows.map((r) => r.name),
    // Statement-level capture would miss rows written through another table of the tree.
    // https://www.postgresql.org/docs/current/sql-createtrigger.html (transition tables, partitions)
    ...(found.rows[0].inherits ? { inherits: true } : {}),
  };
}

export async function postgresTableExists(client: DbClient, name: string): Promise<boolean> {
  const { schema, table } = splitName(name);
  const { rows } = await client.query<{ found: string | null }>(
    `SELECT to_regclass(CASE WHEN $1::text IS NULL THEN quote_ident($2) ELSE quote_ident($1) || '.' || quote_ident($2) END)::text AS found`,
    [schema, table],
  );
  return rows[0].found !== null;
}
