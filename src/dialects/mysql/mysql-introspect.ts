/**
 * Reads a table from information_schema into the neutral TableSchema.
 * Catalogs: https://dev.mysql.com/doc/refman/8.0/en/information-schema-columns-table.html,
 * https://dev.mysql.com/doc/refman/8.0/en/information-schema-statistics-table.html,
 * https://mariadb.com/kb/en/information-schema-check_constraints-table/
 */
import type { DbClient } from '../../core/dialect.ts';
import { IntrospectionError } from '../../core/errors.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../core/schema.ts';

const FAMILY_BY_TYPE: Record<string, TypeFamily> = {
  tinyint: 'integer',
  smallint: 'integer',
  mediumint: 'integer',
  int: 'integer',
  integer: 'integer',
  year: 'integer',
  bigint: 'bigint',
  decimal: 'decimal',
  numeric: 'decimal',
  float: 'float',
  double: 'float',
  real: 'float',
  bool: 'boolean',
  boolean: 'boolean',
  char: 'text',
  varchar: 'text',
  tinytext: 'text',
  text: 'text',
  mediumtext: 'text',
  longtext: 'text',
  enum: 'text',
  set: 'text',
  inet4: 'text',
  inet6: 'text',
  date: 'date',
  time: 'time',
  datetime: 'timestamp',
  // TIMESTAMP is stored in UTC and shown in the session's zone: an instant, like timestamptz.
  timestamp: 'timestamptz',
  binary: 'binary',
  varbinary: 'binary',
  tinyblob: 'binary',
  blob: 'binary',
  mediumblob: 'binary',
  longblob: 'binary',
  json: 'json',
  uuid: 'uuid',
};

/** Spatial values travel as WKB bytes with an SRID prefix that no other brand reads. */
const UNSUPPORTED = new Set([
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
]);

/** `database.table` or `table` (then the connection's database). */
function splitName(name: string): { schema: string | null; table: string } {
  const dot = name.indexOf('.');
  return dot > 0 ? { schema: name.slice(0, dot), table: name.slice(dot + 1) } : { schema: null, table: name };
}

// The `= ?` on TABLE_NAME lets the server open only that table; the exact (case-
// sensitive) match is picked in code, since information_schema compares case-blind.
const FIND_TABLE = `
  SELECT TABLE_SCHEMA AS table_schema, TABLE_NAME AS table_name, TABLE_TYPE AS table_type,
         @@lower_case_table_names AS lower_case_names
  FROM information_schema.TABLES
  WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`;

const COLUMNS = `
  SELECT COLUMN_NAME AS name, DATA_TYPE AS data_type, COLUMN_TYPE AS column_type, IS_NULLABLE AS nullable,
         COLUMN_DEFAULT AS default_expr, EXTRA AS extra, CHARACTER_MAXIMUM_LENGTH AS max_length,
         NUMERIC_PRECISION AS numeric_precision, NUMERIC_SCALE AS numeric_scale, DATETIME_PRECISION AS datetime_precision,
         COLLATION_NAME AS collation_name
  FROM information_schema.COLUMNS
  WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
  ORDER BY ORDINAL_POSITION`;

const PRIMARY_KEY = `
  SELECT COLUMN_NAME AS name
  FROM information_schema.STATISTICS
  WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY'
  ORDER BY SEQ_IN_INDEX`;

// MariaDB's JSON is LONGTEXT with a json_valid() check named after the column;
// MySQL has a real JSON type (and no TABLE_NAME column in CHECK_CONSTRAINTS).
const MARIADB_JSON_CHECKS = `
  SELECT CONSTRAINT_NAME AS name, CHECK_CLAUSE AS clause
  FROM information_schema.CHECK_CONSTRAINTS
  WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'`;

interface FoundTable {
  table_schema: string;
  table_name: string;
  table_type: string;
  lower_case_names: number | string;
}

async function findTable(client: DbClient, name: string, views: boolean): Promise<FoundTable | null> {
  const { schema, table } = splitName(name);
  const { rows } = await client.query<FoundTable & Record<string, unknown>>(FIND_TABLE, [schema, table]);
  const kinds = views ? ['BASE TABLE', 'SYSTEM VERSIONED', 'VIEW'] : ['BASE TABLE', 'SYSTEM VERSIONED'];
  const candidates = rows.filter((r) => kinds.includes(r.table_type));
  // With lower_case_table_names 1 or 2 names are case-blind, and the stored one may differ in case.
  return candidates.find((r) => r.table_name === table) ?? candidates.find((r) => Number(r.lower_case_names) !== 0) ?? null;
}

/**
 * A collation whose name carries `_ci` (case-insensitive) or `_ai` (accent-insensitive):
 * utf8mb4_general_ci, utf8mb4_0900_ai_ci, utf8mb4_uca1400_ai_ci, latin1_swedish_ci.
 * `_bin`, `_cs` and `_as_cs` ones compare case-sensitively.
 * https://dev.mysql.com/doc/refman/8.0/en/charset-collation-names.html
 */
const caseInsensitiveCollation = (name: string) => /_(ci|ai)(_|$)/i.test(name);

function familyOf(dataType: string, columnType: string, jsonColumn: boolean): TypeFamily {
  if (jsonColumn) return 'json';
  // BOOLEAN is TINYINT(1): MySQL 8 drops integer display widths but keeps this one.
  if (/^tinyint\(1\)/.test(columnType) || /^bit\(1\)/.test(columnType)) return 'boolean';
  if (dataType === 'bit') return 'bigint';
  return FAMILY_BY_TYPE[dataType] ?? 'text';
}

export async function introspectMysql(client: DbClient, name: string): Promise<TableSchema> {
  const found = await findTable(client, name, false);
  if (!found) {
    throw new IntrospectionError('table_missing', `table ${name} does not exist`, {
      hint: 'create it first, or correct its name in "tables" of the config (names are case-sensitive on most MySQL servers)',
    });
  }
  const where = [found.table_schema, found.table_name];
  const columns = await client.query<Record<string, any>>(COLUMNS, where);
  const key = await client.query<{ name: string }>(PRIMARY_KEY, where);
  if (key.rows.length === 0) {
    throw new IntrospectionError('no_primary_key', `table ${name} has no primary key`, {
      hint: `dsync identifies rows by their key: ALTER TABLE ${name} ADD PRIMARY KEY (…)`,
    });
  }
  const mariadb = (await client.query<{ v: string }>('SELECT VERSION() AS v')).rows[0].v.toLowerCase().includes('mariadb');
  const jsonChecks = mariadb ? (await client.query<{ name: string; clause: string }>(MARIADB_JSON_CHECKS, where)).rows : [];
  const isJson = (column: string) =>
    jsonChecks.some((c) => c.name === column && c.clause.replace(/\s/g, '') === `json_valid(\`${column.replace(/`/g, '``')}\`)`);
  return {
    name,
    schema: splitName(name).schema,
    columns: columns.rows.map((c): ColumnSchema => {
      const dataType = String(c.data_type).toLowerCase();
      const columnType = String(c.column_type).toLowerCase();
      if (UNSUPPORTED.has(dataType)) {
        throw new IntrospectionError(
          'unsupported_type',
          `column ${c.name} of ${name} has the spatial type ${dataType}, which dsync cannot carry`,
          {
            hint: `leave ${name} out of "tables", or store the value as WKT text or WKB bytes`,
          },
        );
      }
      const family = familyOf(dataType, columnType, isJson(c.name));
      const temporal = family === 'time' || family === 'timestamp' || family === 'timestamptz';
      return {
        name: c.name,
        nativeType: String(c.column_type),
        family,
        nullable: c.nullable === 'YES',
        // MariaDB writes a NULL default as the text NULL (and quotes string defaults).
        default: c.default_expr === null || (c.default_expr === 'NULL' && c.nullable === 'YES') ? null : String(c.default_expr),
        maxLength: c.max_length === null ? null : Number(c.max_length),
        // For times and timestamps: the digits of fractional seconds kept (TIME(6) → 6).
        // Floats in binary digits, as PostgreSQL and SQL Server report them (MySQL says 12 and 22 decimal digits).
        precision: temporal
          ? Number(c.datetime_precision ?? 0)
          : family === 'float'
            ? dataType === 'float'
              ? 24
              : 53
            : c.numeric_precision === null
              ? null
              : Number(c.numeric_precision),
        scale: c.numeric_scale === null ? null : Number(c.numeric_scale),
        identity: /\bauto_increment\b/i.test(c.extra) ? 'default' : null,
        generated: /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(c.extra),
        ...(c.collation_name
          ? { collation: String(c.collation_name), caseInsensitive: caseInsensitiveCollation(String(c.collation_name)) }
          : {}),
      };
    }),
    primaryKey: key.rows.map((r) => r.name),
  };
}

export async function mysqlTableExists(client: DbClient, name: string): Promise<boolean> {
  return (await findTable(client, name, true)) !== null;
}
