/** Code-point key order for verify on MySQL/MariaDB (see KeyOrder in core/dialect.ts). */
import type { DbClient, KeyOrder, Row } from '../../core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../../core/schema.ts';

const isText = (column: ColumnSchema) => column.family === 'text';

/** https://dev.mysql.com/doc/refman/8.0/en/information-schema-columns-table.html */
async function mysqlNonBinaryKeys(client: DbClient, table: TableSchema): Promise<Set<string>> {
  const { rows } = await client.query<Row>(
    `SELECT COLUMN_NAME AS name, COLLATION_NAME AS coll FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLLATION_NAME IS NOT NULL`,
    [table.name],
  );
  return new Set(rows.filter((r) => !/_bin$/i.test(String(r.coll))).map((r) => String(r.name)));
}

/** utf8mb4_bin is PAD SPACE on MariaDB: keys that differ only by trailing spaces compare equal there. */
export async function mysqlKeyOrder(client: DbClient, table: TableSchema): Promise<KeyOrder> {
  const { sql } = client.dialect;
  const nonBinary = await mysqlNonBinaryKeys(client, table);
  return {
    keyExpression: (c) =>
      isText(c) && nonBinary.has(c.name) ? `CONVERT(${sql.ident(c.name)} USING utf8mb4) COLLATE utf8mb4_bin` : sql.ident(c.name),
  };
}
