/** Code-point key order for verify on PostgreSQL (see KeyOrder in core/dialect.ts). */
import type { DbClient, KeyOrder, Row } from '../../core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../../core/schema.ts';
import { bareName } from '../../core/table-ref.ts';

const isText = (column: ColumnSchema) => column.family === 'text';

/** PostgreSQL collations that sort by code point: C/POSIX (bytes of UTF-8) and glibc's C.UTF-8. */
const PG_BINARY = /^(c|posix|ucs_basic|c\.utf-?8)$/i;

/**
 * The key columns whose collation (their own, or the database default) is not a binary one.
 * https://www.postgresql.org/docs/current/catalog-pg-collation.html
 */
async function postgresNonBinaryKeys(client: DbClient, table: TableSchema): Promise<Set<string>> {
  const bare = bareName(table);
  const { rows } = await client.query<Row>(
    `SELECT a.attname AS name, co.collname AS coll_name, co.collcollate AS coll_collate, d.datcollate AS db_collate, d.datlocprovider AS db_provider
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_collation co ON co.oid = a.attcollation
     JOIN pg_database d ON d.datname = current_database()
     WHERE c.relname = $1 AND n.nspname = coalesce($2, current_schema()) AND a.attnum > 0 AND a.attcollation <> 0`,
    [bare, table.schema],
  );
  const nonBinary = new Set<string>();
  for (const row of rows) {
    const name = String(row.coll_name);
    const binary =
      name === 'default'
        ? row.db_provider === 'c' && PG_BINARY.test(String(row.db_collate))
        : PG_BINARY.test(name) || (row.coll_collate !== null && PG_BINARY.test(String(row.coll_collate)));
    if (!binary) nonBinary.add(String(row.name));
  }
  return nonBinary;
}

/** Keys with a non-binary collation are read with COLLATE "C". */
export async function postgresKeyOrder(client: DbClient, table: TableSchema): Promise<KeyOrder> {
  const { sql } = client.dialect;
  const nonBinary = await postgresNonBinaryKeys(client, table);
  return {
    keyExpression: (c) => (isText(c) && nonBinary.has(c.name) ? `${sql.ident(c.name)} COLLATE "C"` : sql.ident(c.name)),
  };
}
