/**
 * How verify reads a key range in the same order on every brand. Segments are key
 * ranges chosen on one side and read on the other, so both sides must sort keys the
 * same way: numbers by value, text by code point (a binary collation). A text key whose
 * column already sorts that way is used as it is, so the primary-key index serves each
 * range; any other gets an explicit binary collation, which is right but makes the
 * database sort instead of walking the index.
 *
 * This is the one place outside src/dialects that knows brand spellings and catalogs;
 * it belongs in the Dialect port (a `keyOrder(client, table)` beside `introspect`) and
 * moves there when the dialect owners add it.
 */
import type { DbClient, DialectName, Row } from '../core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../core/schema.ts';

export interface KeyOrder {
  /** The key column's expression, compared and sorted in code-point order. */
  keyExpression(column: ColumnSchema): string;
  /** Appended after ORDER BY to read at most `n` rows. */
  limit(n: number): string;
}

const isText = (column: ColumnSchema) => column.family === 'text';
const LIMIT = (n: number) => `LIMIT ${n}`;

/** PostgreSQL collations that sort by code point: C/POSIX (bytes of UTF-8) and glibc's C.UTF-8. */
const PG_BINARY = /^(c|posix|ucs_basic|c\.utf-?8)$/i;

/**
 * The key columns whose collation (their own, or the database default) is not a binary one.
 * https://www.postgresql.org/docs/current/catalog-pg-collation.html
 */
async function postgresNonBinaryKeys(client: DbClient, table: TableSchema): Promise<Set<string>> {
  const bare = table.name.includes('.') ? table.name.slice(table.name.indexOf('.') + 1) : table.name;
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

/** https://dev.mysql.com/doc/refman/8.0/en/information-schema-columns-table.html */
async function mysqlNonBinaryKeys(client: DbClient, table: TableSchema): Promise<Set<string>> {
  const { rows } = await client.query<Row>(
    `SELECT COLUMN_NAME AS name, COLLATION_NAME AS coll FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLLATION_NAME IS NOT NULL`,
    [table.name],
  );
  return new Set(rows.filter((r) => !/_bin$/i.test(String(r.coll))).map((r) => String(r.name)));
}

/** How to read `table` on `client` in code-point key order. */
export async function keyOrderFor(client: DbClient, table: TableSchema): Promise<KeyOrder> {
  const { sql } = client.dialect;
  const name: DialectName = client.dialect.name;
  switch (name) {
    case 'postgres': {
      const nonBinary = await postgresNonBinaryKeys(client, table);
      return { keyExpression: (c) => (isText(c) && nonBinary.has(c.name) ? `${sql.ident(c.name)} COLLATE "C"` : sql.ident(c.name)), limit: LIMIT };
    }
    case 'mysql': {
      // utf8mb4_bin is PAD SPACE on MariaDB: keys that differ only by trailing spaces compare equal there.
      const nonBinary = await mysqlNonBinaryKeys(client, table);
      return {
        keyExpression: (c) => (isText(c) && nonBinary.has(c.name) ? `CONVERT(${sql.ident(c.name)} USING utf8mb4) COLLATE utf8mb4_bin` : sql.ident(c.name)),
        limit: LIMIT,
      };
    }
    case 'sqlite':
      // BINARY is memcmp of UTF-8; SQLite still uses an index whose collation is BINARY (https://www.sqlite.org/datatype3.html#collation).
      return { keyExpression: (c) => (isText(c) ? `${sql.ident(c.name)} COLLATE BINARY` : sql.ident(c.name)), limit: LIMIT };
    case 'mssql':
      // BIN2 sorts by code point (by UTF-16 code unit beyond the BMP).
      return {
        keyExpression: (c) => (isText(c) ? `${sql.ident(c.name)} COLLATE Latin1_General_100_BIN2` : sql.ident(c.name)),
        limit: (n) => `OFFSET 0 ROWS FETCH NEXT ${n} ROWS ONLY`,
      };
  }
}
