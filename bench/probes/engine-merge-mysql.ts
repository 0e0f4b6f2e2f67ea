/**
 * The MariaDB half of the engine-merge probe (engine-merge.ts): one import batch applied by the
 * server from the inbox's JSON, the common case only (as engine-merge-sqlite.ts says, the same
 * conditions). The batch is first read into a temporary table with its values typed by
 * JSON_TABLE (10.6+); a value whose typed form does not give back the JSON's text (a conversion
 * JSON_TABLE would bend: a fraction cut, a bad date made NULL) sends the batch to the client
 * path, as does a text key that matches a row only under the column's collation. Values compare
 * byte for byte (BINARY), as merge.ts's sameValue does, not in the column's collation.
 */
import type { DbClient } from '../../src/core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../../src/core/schema.ts';
import type { EngineMergeSql } from './engine-merge-sqlite.ts';

const sqlString = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
const q = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const path = (name: string) => `'$.${JSON.stringify(name).replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
const at = (name: string, i: number) => `'$.${JSON.stringify(name).replace(/\\/g, '\\\\').replace(/'/g, "''")}[${i}]'`;

/** The staging type of a column's values: wide enough that the column's own type checks them on write (strict mode). */
function stagingType(column: ColumnSchema): string {
  switch (column.family) {
    case 'text':
      return 'LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin';
    case 'integer':
    case 'bigint':
      return 'BIGINT';
    case 'date':
      return 'DATE';
    case 'timestamp':
    case 'timestamptz':
      return 'DATETIME(6)';
    default:
      throw new Error(`engine-merge probe: family ${column.family} of ${column.name} is not spelled`);
  }
}

/** The typed value spelled back as the JSON has it, for the round-trip check (null for text: it is the JSON's text). */
function spelledBack(column: ColumnSchema, v: string): string | null {
  switch (column.family) {
    case 'text':
      return null;
    case 'integer':
    case 'bigint':
      return `CAST(${v} AS CHAR)`;
    case 'date':
      return `DATE_FORMAT(${v}, '%Y-%m-%d')`;
    default:
      return `DATE_FORMAT(${v}, '%Y-%m-%dT%H:%i:%s.%f')`;
  }
}

export function mysqlEngineMerge(table: TableSchema): EngineMergeSql {
  if (table.primaryKey.length !== 1) throw new Error('engine-merge probe: one-column keys only');
  const columns = table.columns.filter((c) => !c.generated);
  const pk = columns.find((c) => c.name === table.primaryKey[0])!;
  if (pk.family !== 'text') throw new Error('engine-merge probe: a text key only');
  const others = columns.filter((c) => c !== pk);
  const T = q(table.name);
  const name = `'${table.name.replace(/'/g, "''")}'`;
  const n = (c: ColumnSchema, side: 'v' | 'o') => q(`${side}_${columns.indexOf(c)}`);
  const x = (c: ColumnSchema, side: 'v' | 'o') => q(`${side}x_${columns.indexOf(c)}`);
  const jsonColumns = (side: 'v' | 'o') =>
    columns.map((c) => `${n(c, side)} ${stagingType(c)} PATH ${path(c.name)}, ${x(c, side)} INT EXISTS PATH ${path(c.name)}`).join(', ');
  const raw = (side: 'v' | 'o', c: ColumnSchema) => `JSON_EXTRACT(b.${side}, ${path(c.name)})`;
  // The staged typed values spelled back as JSON (the members present only): equal to the JSON
  // (JSON_EQUALS: the same members, types and values) when every member is a column read as its
  // type without a bend (a fraction cut, a date made NULL, a number rounded). One parse per row and side.
  const member = (c: ColumnSchema, side: 'v' | 'o') => {
    const v = `b.${n(c, side)}`;
    const text =
      c.family === 'text' ? `JSON_QUOTE(${v})` : c.family === 'integer' || c.family === 'bigint' ? `CAST(${v} AS CHAR)` : `JSON_QUOTE(${spelledBack(c, v)})`;
    return `IF(b.${x(c, side)} = 1, CONCAT(${sqlString(`${JSON.stringify(c.name)}:`)}, IF(${v} IS NULL, 'null', ${text})), NULL)`;
  };
  const known = (side: 'v' | 'o') =>
    `JSON_EQUALS(CONCAT('{', CONCAT_WS(',', ${columns.map((c) => member(c, side)).join(', ')}), '}'), b.${side})`;
  const same = (c: ColumnSchema, side: 'v' | 'o') => `BINARY t.${q(c.name)} <=> BINARY b.${n(c, side)}`;
  const colTime = (c: ColumnSchema) => `COALESCE(JSON_VALUE(e.col_versions, ${at(c.name, 0)}) + 0, e.base_version, 0)`;
  const colServer = (c: ColumnSchema) => `COALESCE(JSON_VALUE(e.col_versions, ${at(c.name, 1)}), e.base_server, '')`;
  const newer = (c: ColumnSchema) =>
    `(b.ver > ${colTime(c)} OR (b.ver = ${colTime(c)} AND BINARY b.srv > BINARY ${colServer(c)}))`;
  const pkT = `t.${q(pk.name)}`;
  const common = `b.tbl = ${name} AND b.cmd IS NULL AND b.id_old IS NULL AND b.cl IS NOT NULL AND b.ver IS NOT NULL
    AND JSON_TYPE(b.oid) = 'STRING' AND BINARY b.row_key = BINARY JSON_QUOTE(b.k) AND (${pkT} IS NULL OR BINARY ${pkT} = BINARY b.k)`;
  const insertOk = `b.cl % 2 = 1 AND ${pkT} IS NULL AND (e.cl IS NULL OR e.cl <= b.cl) AND b.v IS NOT NULL
    AND ${columns.map((c) => `b.${x(c, 'v')} = 1`).join(' AND ')} AND ${known('v')} AND BINARY b.${n(pk, 'v')} = BINARY b.k`;
  const updateOk = `b.cl % 2 = 1 AND ${pkT} IS NOT NULL AND COALESCE(e.cl, 1) = b.cl AND b.v IS NOT NULL AND b.${x(pk, 'v')} = 0 AND ${known('v')}
    AND (b.o IS NULL OR (${known('o')}))
    AND ${others.map((c) => `(b.${x(c, 'v')} = 0 OR (${newer(c)} AND (b.o IS NULL OR b.${x(c, 'o')} = 0 OR ${same(c, 'v')} OR ${same(c, 'o')})))`).join(' AND ')}`;
  const deleteOk = `b.cl % 2 = 0 AND COALESCE(e.cl, IF(${pkT} IS NULL, 0, 1)) < b.cl
    AND (b.o IS NULL OR ((${known('o')}) AND (${pkT} IS NULL OR (${columns.map((c) => `(b.${x(c, 'o')} = 0 OR ${same(c, 'o')})`).join(' AND ')}))))`;
  const guard = `SELECT
      (SELECT count(*) FROM em_batch b
         LEFT JOIN ${T} t ON ${pkT} = b.k
         LEFT JOIN ds_row_version e ON e.table_name = ${name} AND e.row_key = b.row_key
       WHERE b.id BETWEEN ? AND ? AND NOT COALESCE((${common} AND CASE b.op WHEN 'I' THEN ${insertOk} WHEN 'U' THEN ${updateOk} WHEN 'D' THEN ${deleteOk} ELSE 0 END), 0)) AS bad,
      (SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')) AS parked,
      (SELECT count(*) FROM ds_change_pending) AS pending`;
  let versions = `COALESCE(e.col_versions, '{}')`;
  for (const c of others) versions = `IF(b.${x(c, 'v')} = 1, JSON_SET(${versions}, ${path(c.name)}, JSON_ARRAY(b.ver, b.srv)), ${versions})`;
  const keyType = `VARCHAR(${Math.max(pk.maxLength ?? 700, 1)}) CHARACTER SET utf8mb4 COLLATE ${pk.collation ?? 'utf8mb4_bin'}`;
  const stage = `INSERT INTO em_batch
     SELECT i.id, i.object_operation, i.object_table, i.object_operation_command, i.object_id, i.object_id_old, i.object_id,
       JSON_VALUE(i.object_id, '$'), i.row_cl, i.change_version, i.updated_by_server_id, i.object_value, i.object_value_old, jv.*, jo.*
     FROM ds_change_inbox i,
       JSON_TABLE(COALESCE(i.object_value, '{}'), '$' COLUMNS (${jsonColumns('v')})) jv,
       JSON_TABLE(COALESCE(i.object_value_old, '{}'), '$' COLUMNS (${jsonColumns('o')})) jo
     WHERE i.id BETWEEN ? AND ?`;
  const writes = [
    'DELETE FROM em_entry',
    `INSERT INTO em_entry (row_key, cl, max_version, base_version, base_server, col_versions)
     SELECT b.row_key, IF(b.op = 'U', COALESCE(e.cl, 1), b.cl), GREATEST(COALESCE(e.max_version, 0), b.ver),
       IF(b.op = 'U', COALESCE(e.base_version, 0), b.ver), IF(b.op = 'U', COALESCE(e.base_server, ''), b.srv),
       IF(b.op = 'U', JSON_COMPACT(${versions}), '{}')
     FROM em_batch b LEFT JOIN ds_row_version e ON e.table_name = ${name} AND e.row_key = b.row_key WHERE b.id BETWEEN ? AND ?`,
    `DELETE t FROM ${T} t JOIN em_batch b ON ${pkT} = b.k WHERE b.op = 'D' AND b.id BETWEEN ? AND ?`,
    `UPDATE ${T} t JOIN em_batch b ON ${pkT} = b.k AND b.op = 'U' AND b.id BETWEEN ? AND ?
     SET ${others.map((c) => `t.${q(c.name)} = IF(b.${x(c, 'v')} = 1, b.${n(c, 'v')}, t.${q(c.name)})`).join(', ')}`,
    `INSERT INTO ${T} (${columns.map((c) => q(c.name)).join(', ')}) SELECT ${columns.map((c) => `b.${n(c, 'v')}`).join(', ')} FROM em_batch b WHERE b.op = 'I' AND b.id BETWEEN ? AND ? ORDER BY b.id`,
    `INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
     SELECT ${name}, row_key, cl, max_version, base_version, base_server, col_versions FROM em_entry
     ON DUPLICATE KEY UPDATE cl = VALUES(cl), max_version = VALUES(max_version), base_version = VALUES(base_version),
       base_server = VALUES(base_server), col_versions = VALUES(col_versions)`,
  ];
  return {
    setup: [
      'DROP TEMPORARY TABLE IF EXISTS em_batch',
      `CREATE TEMPORARY TABLE em_batch (id BIGINT PRIMARY KEY, op VARCHAR(1), tbl TEXT, cmd LONGTEXT, oid MEDIUMTEXT, id_old MEDIUMTEXT,
         row_key VARCHAR(700) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, k ${keyType}, cl BIGINT, ver BIGINT,
         srv VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, v LONGTEXT, o LONGTEXT,
         ${(['v', 'o'] as const).flatMap((side) => columns.map((c) => `${n(c, side)} ${stagingType(c)}, ${x(c, side)} INT`)).join(', ')},
         KEY (k), KEY (row_key)) ENGINE = InnoDB`,
      'DROP TEMPORARY TABLE IF EXISTS em_entry',
      `CREATE TEMPORARY TABLE em_entry (row_key VARCHAR(700) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY, cl BIGINT, max_version BIGINT,
         base_version BIGINT, base_server VARCHAR(64), col_versions LONGTEXT) ENGINE = InnoDB`,
    ],
    stage,
    repeats: `SELECT id, prev FROM (SELECT id, lag(id) OVER (PARTITION BY k ORDER BY id) AS prev FROM em_batch) r WHERE prev IS NOT NULL ORDER BY id`,
    guard,
    writes,
  };
}
