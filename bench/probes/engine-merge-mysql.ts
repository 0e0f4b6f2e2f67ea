/**
 * The MariaDB half of the engine-merge probe (engine-merge.ts): one import batch applied by the
 * server from the inbox's JSON, the common case only (as engine-merge-sqlite.ts says, the same
 * conditions). The batch is first read into a temporary table: one JSON_TABLE (10.6+) per side
 * gives each member's raw JSON (a column of type JSON: absent NULL, else its JSON text), from
 * which the typed value and the checks are made at once (a member whose typed value, spelled
 * back, is not its JSON text, such as a fraction cut, a bad date, a number for a text column,
 * makes the row refused; JSON_LENGTH catches members that are no column). MariaDB's JSON
 * functions parse the whole document at each call (~1.5-5 µs), and JSON_EQUALS costs ~19 µs on
 * an insert's object: each object is parsed twice here (JSON_TABLE, JSON_LENGTH), and no LONGTEXT
 * is copied into the temporary table. A text key that matches a row only under the column's
 * collation is refused. Values compare byte for byte (BINARY), as merge.ts's sameValue does.
 */
import type { ColumnSchema, TableSchema } from '../../src/core/schema.ts';
import type { EngineMergeSql } from './engine-merge-sqlite.ts';

const q = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const path = (name: string) => `'$.${JSON.stringify(name).replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
const at = (name: string, i: number) => `'$.${JSON.stringify(name).replace(/\\/g, '\\\\').replace(/'/g, "''")}[${i}]'`;

/** The staging type of a column's values: wide enough that the column's own type checks them on write (strict mode). */
function stagingType(column: ColumnSchema): string {
  switch (column.family) {
    case 'text':
      // Wide enough that the column's own length check (strict mode) is what refuses a longer value.
      return `VARCHAR(${(column.maxLength ?? 16000) + 1}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`;
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
  const r = (c: ColumnSchema, side: 'v' | 'o') => `j${side}.${q(`r_${columns.indexOf(c)}`)}`;
  const typedRef = (c: ColumnSchema, side: 'v' | 'o') => `j${side}.${q(`t_${columns.indexOf(c)}`)}`;
  // Each column twice: its raw JSON (absent NULL), and its value typed by JSON_TABLE itself (no JSON function per value after).
  const jsonColumns = () =>
    columns
      .map(
        (c) =>
          `${q(`r_${columns.indexOf(c)}`)} JSON PATH ${path(c.name)}, ${q(`t_${columns.indexOf(c)}`)} ${stagingType(c)} PATH ${path(c.name)}`,
      )
      .join(', ');
  /** True when the raw member reads as the column's type without a bend (its typed value spelled back is its text). */
  const fits = (c: ColumnSchema, side: 'v' | 'o') => {
    const raw = r(c, side);
    const back = spelledBack(c, typedRef(c, side));
    if (c.family === 'text') return `LEFT(${raw}, 1) = '"'`;
    if (c.family === 'integer' || c.family === 'bigint') return `${raw} REGEXP '^-?[0-9]+$' AND BINARY ${back} = BINARY ${raw}`;
    return `BINARY CONCAT('"', ${back}, '"') = BINARY ${raw}`;
  };
  const value = (c: ColumnSchema, side: 'v' | 'o') => `IF(${r(c, side)} = 'null', NULL, ${typedRef(c, side)})`;
  // Every member present is a column read as its type, and there is no other member: 1, else 0 (NULL for a side that is absent).
  const ok = (side: 'v' | 'o', raw: string) =>
    `IF(${raw} IS NULL, NULL, JSON_LENGTH(${raw}) = ${columns.map((c) => `(${r(c, side)} IS NOT NULL)`).join(' + ')} AND ${columns
      .map((c) => `(${r(c, side)} IS NULL OR ${r(c, side)} = 'null' OR (${fits(c, side)}))`)
      .join(' AND ')})`;
  const same = (c: ColumnSchema, side: 'v' | 'o') => `BINARY t.${q(c.name)} <=> BINARY b.${n(c, side)}`;
  const colTime = (c: ColumnSchema) => `COALESCE(JSON_VALUE(e.col_versions, ${at(c.name, 0)}) + 0, e.base_version, 0)`;
  const colServer = (c: ColumnSchema) => `COALESCE(JSON_VALUE(e.col_versions, ${at(c.name, 1)}), e.base_server, '')`;
  const newer = (c: ColumnSchema) => `(b.ver > ${colTime(c)} OR (b.ver = ${colTime(c)} AND BINARY b.srv > BINARY ${colServer(c)}))`;
  const pkT = `t.${q(pk.name)}`;
  const common = `b.plain = 1 AND b.cl IS NOT NULL AND b.ver IS NOT NULL AND (${pkT} IS NULL OR BINARY ${pkT} = BINARY b.k)`;
  const oldOk = `(b.ook IS NULL OR b.ook = 1)`;
  const insertOk = `b.cl % 2 = 1 AND ${pkT} IS NULL AND (e.cl IS NULL OR e.cl <= b.cl) AND b.vok = 1
    AND ${columns.map((c) => `b.${x(c, 'v')} = 1`).join(' AND ')} AND BINARY b.${n(pk, 'v')} = BINARY b.k`;
  const updateOk = `b.cl % 2 = 1 AND ${pkT} IS NOT NULL AND COALESCE(e.cl, 1) = b.cl AND b.vok = 1 AND b.${x(pk, 'v')} = 0 AND ${oldOk}
    AND (${others.map((c) => `b.${x(c, 'v')}`).join(' + ')}) > 0
    AND ${others.map((c) => `(b.${x(c, 'v')} = 0 OR (${newer(c)} AND (b.${x(c, 'o')} = 0 OR ${same(c, 'v')} OR ${same(c, 'o')})))`).join(' AND ')}`;
  const deleteOk = `b.cl % 2 = 0 AND COALESCE(e.cl, IF(${pkT} IS NULL, 0, 1)) < b.cl AND ${oldOk}
    AND (${pkT} IS NULL OR (${columns.map((c) => `(b.${x(c, 'o')} = 0 OR ${same(c, 'o')})`).join(' AND ')}))`;
  const guard = `SELECT
      (SELECT count(*) FROM em_batch b
         LEFT JOIN ${T} t ON ${pkT} = b.k
         LEFT JOIN ds_row_version e ON e.table_name = ${name} AND e.row_key = JSON_QUOTE(b.k)
       WHERE b.id BETWEEN ? AND ? AND NOT COALESCE((${common} AND CASE b.op WHEN 'I' THEN ${insertOk} WHEN 'U' THEN ${updateOk} WHEN 'D' THEN ${deleteOk} ELSE 0 END), 0)) AS bad,
      (SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')) AS parked,
      (SELECT count(*) FROM ds_change_pending) AS pending`;
  let versions = `COALESCE(e.col_versions, '{}')`;
  for (const c of others)
    versions = `IF(b.${x(c, 'v')} = 1, JSON_SET(${versions}, ${path(c.name)}, JSON_ARRAY(b.ver, b.srv)), ${versions})`;
  const keyType = `VARCHAR(${Math.max(pk.maxLength ?? 700, 1)}) CHARACTER SET utf8mb4 COLLATE ${pk.collation ?? 'utf8mb4_bin'}`;
  const stagedColumns = (['v', 'o'] as const).flatMap((side) => columns.flatMap((c) => [n(c, side), x(c, side)]));
  // plain: the synchronized table, no seed command, no key change, a text key spelled as the version store spells it.
  const stage = `INSERT INTO em_batch (id, op, plain, k, cl, ver, srv, vok, ook, ${stagedColumns.join(', ')})
     SELECT i.id, i.object_operation,
       COALESCE(i.object_table = ${name} AND i.object_operation_command IS NULL AND i.object_id_old IS NULL AND LEFT(i.object_id, 1) = '"'
         AND BINARY i.object_id = BINARY JSON_QUOTE(JSON_VALUE(i.object_id, '$')), 0),
       JSON_VALUE(i.object_id, '$'), i.row_cl, i.change_version, i.updated_by_server_id,
       ${ok('v', 'i.object_value')}, ${ok('o', 'i.object_value_old')},
       ${(['v', 'o'] as const).flatMap((side) => columns.flatMap((c) => [value(c, side), `${r(c, side)} IS NOT NULL`])).join(', ')}
     FROM ds_change_inbox i,
       JSON_TABLE(COALESCE(i.object_value, '{}'), '$' COLUMNS (${jsonColumns()})) jv,
       JSON_TABLE(COALESCE(i.object_value_old, '{}'), '$' COLUMNS (${jsonColumns()})) jo
     WHERE i.id BETWEEN ? AND ?`;
  const writes: EngineMergeSql['writes'] = [
    // Straight into the version store from a read of it (MariaDB materializes the SELECT first).
    `INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
     SELECT ${name}, JSON_QUOTE(b.k), IF(b.op = 'U', COALESCE(e.cl, 1), b.cl), GREATEST(COALESCE(e.max_version, 0), b.ver),
       IF(b.op = 'U', COALESCE(e.base_version, 0), b.ver), IF(b.op = 'U', COALESCE(e.base_server, ''), b.srv),
       IF(b.op = 'U', ${process.env.ENGINE_MERGE_BREAK ? versions : `JSON_COMPACT(${versions})`}, '{}')
     FROM em_batch b LEFT JOIN ds_row_version e ON e.table_name = ${name} AND e.row_key = JSON_QUOTE(b.k) WHERE b.id BETWEEN ? AND ?
     ON DUPLICATE KEY UPDATE cl = VALUES(cl), max_version = VALUES(max_version), base_version = VALUES(base_version),
       base_server = VALUES(base_server), col_versions = VALUES(col_versions)`,
    `DELETE t FROM ${T} t JOIN em_batch b ON ${pkT} = b.k WHERE b.op = 'D' AND b.id BETWEEN ? AND ?`,
    `UPDATE ${T} t JOIN em_batch b ON ${pkT} = b.k AND b.op = 'U' AND b.id BETWEEN ? AND ?
     SET ${others.map((c) => `t.${q(c.name)} = IF(b.${x(c, 'v')} = 1, b.${n(c, 'v')}, t.${q(c.name)})`).join(', ')}`,
    `INSERT INTO ${T} (${columns.map((c) => q(c.name)).join(', ')}) SELECT ${columns.map((c) => `b.${n(c, 'v')}`).join(', ')} FROM em_batch b WHERE b.op = 'I' AND b.id BETWEEN ? AND ? ORDER BY b.id`,
  ];
  return {
    setup: [
      // Fixed-width rows only (no text of the inbox is copied): a MEMORY table, emptied without redo or undo.
      'SET SESSION max_heap_table_size = 256 * 1024 * 1024',
      'DROP TEMPORARY TABLE IF EXISTS em_batch',
      `CREATE TEMPORARY TABLE em_batch (id BIGINT PRIMARY KEY, op VARCHAR(1), plain INT, k ${keyType}, cl BIGINT, ver BIGINT,
         srv VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, vok INT, ook INT,
         ${(['v', 'o'] as const).flatMap((side) => columns.map((c) => `${n(c, side)} ${stagingType(c)}, ${x(c, side)} INT`)).join(', ')},
         KEY (k)) ENGINE = MEMORY`,
    ],
    stage,
    repeats: `SELECT id, prev FROM (SELECT id, lag(id) OVER (PARTITION BY k ORDER BY id) AS prev FROM em_batch) r WHERE prev IS NOT NULL ORDER BY id`,
    guard,
    writes,
  };
}
