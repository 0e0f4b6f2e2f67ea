/**
 * The import's common case merged by SQLite itself (Dialect.serverMerge; docs/performance.md,
 * "SQLite merges the common case"): the changes of an inbox id range that the merge planner
 * (runtime/import/merge.ts) would apply without a conflict, decided by one statement over the
 * inbox rows (each JSON object parsed once, as JSONB) into a temporary table, then written
 * set-wise (the entries, deletes, one UPDATE per set of named columns, inserts), so that neither
 * the payloads nor the rows they touch are read, decoded and planned in JavaScript. Everything
 * else is left for the planner: a change is taken only when the planner would write exactly the
 * same rows (the same values, the same storage classes) and entries for it.
 *
 * A change is taken when it is a trigger change (a clock and a causal length of the right parity,
 * no old causal length, no seed command, no key change) of this table, its key spelled canonically
 * (else nothing of the table's batch is taken: two spellings of one row could take two paths) and
 * touched by no other change of the batch (same-row order stays the planner's), every member of
 * its objects a distinct column of the schema the import read, and every value one that
 * decode-change.ts reads to a canonical value that toParam (sqlite-dialect.ts) stores as the SQL
 * stores it (checked per family below; anything else, e.g. a timestamp of another precision,
 * 2025-02-30, a number for a text column, an integer beyond 2^53 spelled as a JSON number, a
 * string escaping NUL or a surrogate, is the planner's), and:
 * - an insert: no row with the key, the whole row named, its key member the key, its causal
 *   length not below the entry's (merge.ts insertSide: a fresh entry);
 * - an update: the row is here, the causal length is the entry's, every named column (not the
 *   key) holds the change's old value, takes a new one, and the clock is above its version
 *   (updateSide with no conflict: every policy writes every column);
 * - a delete: the row is here, its causal length above the entry's, every old value the row's.
 * Values compare byte for byte in their stored forms (`IS … COLLATE BINARY`): those forms are one
 * per canonical value for the values taken, so equal here is equal to the planner (sameValue).
 * Tables with a column of another family (decimal, float, binary, json, uuid, time, timestamptz,
 * text without TEXT affinity), a composite or padded key, a key collation other than BINARY, a
 * generated column, a UNIQUE index besides the key, a foreign key either way or triggers of their
 * own are not merged here.
 * https://www.sqlite.org/json1.html#jeach, https://www.sqlite.org/datatype3.html
 */
import type { DbClient, Row, ServerMerge } from '../../core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../../core/schema.ts';
import { sqliteSql } from './sqlite-sql.ts';

const MAX_SAFE = '9007199254740991';
/** Columns a walk counts by bits (`walk` in statements): 2^51 is the highest bit a double's sum keeps exact. */
const BITS = 52;
const q = (name: string) => sqliteSql.ident(name);
const lit = (text: string) => `'${text.replace(/'/g, "''")}'`;
/** A JSON path to a member: `'$."name"'` (names needing a JSON escape are not merged here). */
const path = (name: string) => lit(`$."${name}"`);

/** The declared type's affinity is TEXT (SQLite's rules: INT first, then CHAR, CLOB or TEXT). */
const textAffinity = (declared: string) => {
  const t = declared.toUpperCase();
  return !t.includes('INT') && (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT'));
};

/** True when the column's family and declared type are spelled here. */
function merged(column: ColumnSchema): boolean {
  switch (column.family) {
    case 'integer':
    case 'bigint':
    case 'boolean':
    case 'date':
    case 'timestamp':
      return true;
    case 'text':
      return textAffinity(column.nativeType);
    default:
      return false;
  }
}

/**
 * True when JSON member `x` of json_each type `t` is one the planner reads to the canonical value
 * that `stored` spells: the same value, stored in the same class, for the column.
 */
function typed(column: ColumnSchema, t: string, x: string): string {
  switch (column.family) {
    case 'integer':
    case 'bigint':
      // A JSON number within 2^53 (JSON.parse reads it exactly), or a decimal string of an int64 in its one spelling.
      return `(${t} = 'null' OR (${t} = 'integer' AND ${x} BETWEEN -${MAX_SAFE} AND ${MAX_SAFE}) OR (${t} = 'text' AND CAST(CAST(${x} AS INTEGER) AS TEXT) = ${x}))`;
    case 'boolean':
      return `${t} IN ('true', 'false', 'null')`;
    case 'date':
      // date() spells a valid date as itself; 2025-02-30 becomes 2025-03-02.
      return `(${t} = 'null' OR (${t} = 'text' AND date(${x}) IS ${x}))`;
    case 'timestamp':
      // The capture triggers' spelling only (six fraction digits, no zone), a valid date and time of day.
      return `(${t} = 'null' OR (${t} = 'text' AND ${x} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]'
        AND substr(${x}, 12, 2) < '24' AND date(substr(${x}, 1, 10)) IS substr(${x}, 1, 10)))`;
    default:
      return `${t} IN ('text', 'null')`;
  }
}

/** The stored form of a member (json_extract's or json_each's value) checked by `typed`: what toParam binds for it. */
function stored(column: ColumnSchema, x: string): string {
  switch (column.family) {
    case 'integer':
    case 'bigint':
      return `CAST(${x} AS INTEGER)`;
    case 'timestamp':
      return `replace(${x}, 'T', ' ')`;
    default:
      // Text and dates as they are; JSON true and false come out of SQLite's JSON functions as 1 and 0.
      return x;
  }
}

/**
 * A JSON text the planner parses as SQLite does: valid RFC 8259 JSON (json_valid without flags
 * refuses JSON5, which JSON.parse refuses too) with no escaped NUL or surrogate (which SQLite
 * and JavaScript decode to different text).
 */
const plainJson = (x: string) =>
  `(json_valid(${x}) AND (instr(${x}, '\\u') = 0 OR (instr(${x}, '\\u0000') = 0 AND ${x} NOT GLOB '*\\u[dD][89abcdefABCDEF]*')))`;

interface Statements {
  /** Whether anything of the table may be merged here now (its triggers, indexes and foreign keys as they are). */
  alone: string;
  /** Fills temp.ds_sm_take with the changes taken. Its parameters: the id range (from, to] and the inbox ids left out (a JSON array). */
  take: string;
  /** `take` on a receive-only node: as if no row had an entry (its import reads none, and drops the changes' clocks). */
  takeVersionless: string;
  entries: string;
  deletes: string;
  inserts: string;
  /** One UPDATE per set of named columns (a JSON array of their names, the update's shape). */
  update(shape: string): string;
}

const SETUP = [
  `CREATE TEMP TABLE IF NOT EXISTS ds_sm_take (id INTEGER NOT NULL, op TEXT, k, rk TEXT, v BLOB, shape TEXT,
     cl INTEGER, max_version INTEGER, base_version INTEGER, base_server TEXT, col_versions TEXT)`,
  'DELETE FROM temp.ds_sm_take',
];

function statements(table: TableSchema): Statements | null {
  const columns = table.columns;
  if (table.primaryKey.length !== 1 || columns.length === 0) return null;
  if (columns.some((c) => c.generated || !merged(c))) return null;
  // Names JSON spells without an escape, not ordered first by JavaScript (an integer-like name), not __proto__.
  if (columns.some((c) => /^[0-9]+$/.test(c.name) || JSON.stringify(c.name) !== `"${c.name}"` || c.name === '__proto__')) return null;
  const pk = columns.find((c) => c.name === table.primaryKey[0])!;
  const textKey = pk.family === 'text';
  if (textKey) {
    if (/^(n?char|character|bpchar)\b(?!\s+varying)/i.test(pk.nativeType)) return null;
    if (pk.collation && pk.collation.toUpperCase() !== 'BINARY') return null;
  } else if (pk.family !== 'integer' && pk.family !== 'bigint') return null;
  const others = columns.filter((c) => c !== pk);
  /** A column's bit for the walks (`walk`): 2^(its place in the table). */
  const bit = (c: ColumnSchema) => String(2 ** columns.indexOf(c));
  const T = q(table.name);
  const name = lit(table.name);
  const pkT = `t.${q(pk.name)}`;
  // The key in object_id's canonical spelling (canonical-key.ts): a JSON string with nothing escaped, or an integer within 2^53.
  const canonical = (rk: string) =>
    textKey
      ? `(json_valid(${rk}) AND json_type(${rk}) = 'text' AND instr(${rk}, '\\') = 0)`
      : `(CAST(CAST(${rk} AS INTEGER) AS TEXT) = ${rk} AND CAST(${rk} AS INTEGER) BETWEEN -${MAX_SAFE} AND ${MAX_SAFE})`;
  const keyOf = (rk: string) => (textKey ? `substr(${rk}, 2, length(${rk}) - 2)` : `CAST(${rk} AS INTEGER)`);
  const batch = `SELECT id, object_operation AS op, object_id AS rk, object_id_old AS rk_old, object_operation_command AS cmd,
      row_cl AS cl, row_cl_old AS clo, change_version AS ver, updated_by_server_id AS srv,
      CASE WHEN object_value IS NOT NULL AND ${plainJson('object_value')} THEN jsonb(object_value) END AS v,
      CASE WHEN object_value_old IS NOT NULL AND ${plainJson('object_value_old')} THEN jsonb(object_value_old) END AS o,
      object_value_old IS NULL AS no_old
    FROM ds_change_inbox WHERE id > ? AND id <= ? AND object_table = ${name} AND id NOT IN (SELECT value FROM json_each(?))
    ORDER BY ${textKey ? 'object_id' : 'CAST(object_id AS INTEGER)'}`;
  /** A CASE on a json_each member's name: `each(c)` (1 or 0) times `weight(c)` for a column's member, 0 for any other name. */
  const byMember = (cols: ColumnSchema[], each: (c: ColumnSchema) => string, weight: (c: ColumnSchema) => string) =>
    `CASE j.key ${cols.map((c) => `WHEN ${lit(c.name)} THEN (${each(c)}) * ${weight(c)}`).join(' ')} ELSE 0 END`;
  /**
   * One walk of object `x`: at least `least` members, each a distinct one of `cols` for which `each` holds.
   * Up to 52 columns, each member that holds adds its column's bit (2^i, exact in total()'s double), and the sum
   * has as many bits set as the object has members only when every member held and no column came twice (a
   * column counted twice carries into another bit): no temporary b-tree per object as count(DISTINCT) builds.
   */
  const walk = (x: string, cols: ColumnSchema[], each: (c: ColumnSchema) => string, least: number) => {
    if (columns.length > BITS) {
      return `(json_type(${x}) = 'object' AND (SELECT count(*) >= ${least} AND count(*) = count(DISTINCT j.key) AND count(*) = total(${byMember(cols, each, () => '1')}) FROM json_each(${x}) j))`;
    }
    const bits = columns.map((_, i) => `((s >> ${i}) & 1)`).join(' + ');
    return `(json_type(${x}) = 'object' AND (SELECT n >= ${least} AND s < ${2 ** columns.length} AND ${bits} = n
      FROM (SELECT count(*) AS n, CAST(total(${byMember(cols, each, bit)}) AS INTEGER) AS s FROM json_each(${x}) j)))`;
  };
  const member = (c: ColumnSchema) => typed(c, 'j.type', 'j.value');
  const same = (c: ColumnSchema, x: string) => `t.${q(c.name)} IS ${x} COLLATE BINARY`;
  const colPath = (c: ColumnSchema, i: number) => lit(`$."${c.name}"[${i}]`);
  // A column's version here (merge.ts columnVersion): its own, else the entry's base; the clock above it wins under every policy.
  const newer = (c: ColumnSchema) => `b.ver > coalesce(json_extract(e.col_versions, ${colPath(c, 0)}), e.base_version, 0)`;
  const insertOk = `b.op = 'I' AND ${pkT} IS NULL AND b.cl >= coalesce(e.cl, 0) AND b.v IS NOT NULL
      AND ${walk('b.v', columns, member, columns.length)} AND json_extract(b.v, ${path(pk.name)}) IS b.k`;
  const updateOk = `b.op = 'U' AND ${pkT} IS NOT NULL AND b.cl = coalesce(e.cl, 1) AND b.v IS NOT NULL AND b.o IS NOT NULL
      AND (e.col_versions IS NULL OR instr(e.col_versions, '\\') = 0)
      AND ${walk(
        'b.v',
        others,
        (c) =>
          `(${member(c)} AND json_type(b.o, ${path(c.name)}) IS NOT NULL AND ${same(c, stored(c, `json_extract(b.o, ${path(c.name)})`))}
            AND NOT ${same(c, stored(c, 'j.value'))} AND ${newer(c)})`,
        1,
      )}
      AND ${walk('b.o', columns, member, 0)}`;
  const deleteOk = `b.op = 'D' AND ${pkT} IS NOT NULL AND b.cl > coalesce(e.cl, 1)
      AND ((b.o IS NULL AND b.no_old) OR (b.o IS NOT NULL AND ${walk('b.o', columns, (c) => `(${member(c)} AND ${same(c, stored(c, 'j.value'))})`, 0)}))`;
  const patch = `(SELECT json_group_object(j.key, json_array(b.ver, b.srv)) FROM json_each(b.v) j)`;
  /** `entry`: how a row's entry is found, or null on a receive-only node (none read, none to write: the take's entry columns stay NULL). */
  const taking = (entry: string | null) => `WITH b0 AS MATERIALIZED (${batch}),
  -- A seed command (its key is in the command) or a key spelled otherwise anywhere in the table's batch: nothing is taken.
  whole AS (SELECT coalesce(min(b0.rk IS NOT NULL AND ${canonical('b0.rk')} AND (b0.rk_old IS NULL OR ${canonical('b0.rk_old')})
      AND b0.cmd IS NULL), 1) AS ok FROM b0),
  twice AS (SELECT k FROM (SELECT rk AS k FROM b0 UNION ALL SELECT rk_old FROM b0 WHERE rk_old IS NOT NULL) GROUP BY k HAVING count(*) > 1),
  b AS (SELECT b0.*, ${keyOf('b0.rk')} AS k FROM b0
    WHERE (SELECT ok FROM whole) AND b0.rk_old IS NULL AND b0.clo IS NULL AND b0.op IN ('I', 'U', 'D')
      AND typeof(b0.cl) = 'integer' AND b0.cl BETWEEN 1 AND ${MAX_SAFE} AND b0.cl % 2 = (b0.op <> 'D')
      AND typeof(b0.ver) = 'integer' AND b0.ver BETWEEN 0 AND ${MAX_SAFE}
      AND typeof(b0.srv) = 'text' AND json_quote(b0.srv) = '"' || b0.srv || '"'
      AND b0.rk NOT IN (SELECT k FROM twice))
INSERT INTO temp.ds_sm_take (id, op, k, rk, v, shape, cl, max_version, base_version, base_server, col_versions)
SELECT b.id, b.op, b.k, b.rk, b.v, CASE WHEN b.op = 'U' THEN (SELECT json_group_array(j.key) FROM json_each(b.v) j) END,
  ${
    entry === null
      ? 'NULL, NULL, NULL, NULL, NULL'
      : `b.cl, max(coalesce(e.max_version, 0), b.ver),
  CASE WHEN b.op = 'U' THEN coalesce(e.base_version, 0) ELSE b.ver END,
  CASE WHEN b.op = 'U' THEN coalesce(e.base_server, '') ELSE b.srv END,
  CASE WHEN b.op = 'U' THEN json_patch(coalesce(nullif(e.col_versions, ''), '{}'), ${patch}) ELSE '{}' END`
  }
FROM b LEFT JOIN ${T} t ON ${pkT} = b.k
  LEFT JOIN ds_row_version e ON ${entry ?? 'false'}
WHERE (${insertOk}) OR (${updateOk}) OR (${deleteOk})`;
  const value = (c: ColumnSchema) => stored(c, `json_extract(m.v, ${path(c.name)})`);
  return {
    alone: `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ${name} COLLATE NOCASE AND name NOT LIKE 'ds\\_%' ESCAPE '\\')
      OR EXISTS (SELECT 1 FROM pragma_index_list(${name}) WHERE "unique" AND origin <> 'pk')
      OR EXISTS (SELECT 1 FROM pragma_foreign_key_list(${name}))
      OR EXISTS (SELECT 1 FROM sqlite_schema s, pragma_foreign_key_list(s.name) f WHERE s.type = 'table' AND f."table" = ${name} COLLATE NOCASE) AS busy`,
    take: taking(`e.table_name = ${name} AND e.row_key = b.rk`),
    // With no entry, the clocks decide nothing the planner's newest-on-arrival would not: an insert of an absent row, an
    // update of a row whose old values match (cl 1 only), a delete (cl > 1) of one whose old values match.
    takeVersionless: taking(null),
    // The entries (merge.ts freshEntry for inserts and deletes, advanced for updates), upserted straight.
    entries: `INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
      SELECT ${name}, rk, cl, max_version, base_version, base_server, col_versions FROM temp.ds_sm_take WHERE true
      ON CONFLICT (table_name, row_key) DO UPDATE SET cl = excluded.cl, max_version = excluded.max_version,
        base_version = excluded.base_version, base_server = excluded.base_server, col_versions = excluded.col_versions`,
    // Deletes, updates, inserts: row-writer.ts's order (no key comes twice, no other unique index).
    deletes: `DELETE FROM ${T} WHERE ${q(pk.name)} IN (SELECT k FROM temp.ds_sm_take WHERE op = 'D')`,
    inserts: `INSERT INTO ${T} (${columns.map((c) => q(c.name)).join(', ')})
      SELECT ${columns.map(value).join(', ')} FROM temp.ds_sm_take m WHERE m.op = 'I' ORDER BY m.id`,
    update(shape) {
      const named = (JSON.parse(shape) as string[]).map((n) => others.find((c) => c.name === n)!);
      return `UPDATE ${T} AS t SET ${named.map((c) => `${q(c.name)} = ${value(c)}`).join(', ')}
        FROM temp.ds_sm_take m WHERE m.op = 'U' AND m.shape = ? AND ${pkT} = m.k`;
    },
  };
}

/**
 * Every statement of the merge that writes runs with a statement journal (a function call or a capture trigger may
 * abort it halfway: sqlite3MayAbort), and with temp_store = MEMORY that journal is a copy of each page the statement
 * changes, kept in 1 KiB blocks from malloc and freed when the statement ends: tens of MB per statement when an
 * update or delete batch touches every page of a table and its version entries. glibc's malloc gives the free top of
 * its heap back to the kernel past M_TRIM_THRESHOLD (128 KiB until it adapts), so the next statement takes the same
 * memory back page fault by page fault: ~80,000 faults per import of the bench's W (220,000 changes), about a sixth
 * of its CPU on a virtual machine. glibc raises that threshold to twice the size of the largest block it had mapped
 * on its own and has freed, up to 32 MiB (mallopt(3), "M_MMAP_THRESHOLD": the dynamic threshold): one such block of
 * HEAP_KEPT bytes, made and freed by SQLite once per process before the first merge, keeps up to 2 × HEAP_KEPT of
 * freed heap for the next statement. Peak memory is unchanged (the journal is as large as before, while the
 * statement runs); between statements the process keeps that much. Other allocators: one allocation, nothing else.
 * https://man7.org/linux/man-pages/man3/mallopt.3.html, https://www.sqlite.org/tempfiles.html#stmtjrnl
 */
const HEAP_KEPT = 16_000_000;
let heapKept = false;

const statementsOf = new WeakMap<TableSchema, Statements | null>();

function statementsFor(table: TableSchema): Statements | null {
  let known = statementsOf.get(table);
  if (known === undefined) {
    known = statements(table);
    statementsOf.set(table, known);
  }
  return known;
}

export const sqliteServerMerge: ServerMerge = {
  // SQLite runs in dsync's process: what it merges is work the planner no longer does, a shorter import.
  byDefault: true,
  supports: (table) => statementsFor(table) !== null,
  async apply(tx: DbClient, table, { from, to }, exclude, keepsVersions) {
    const s = statementsFor(table);
    if (s === null) return [];
    if (Number((await tx.query<Row>(s.alone)).rows[0].busy)) return [];
    if (!heapKept) {
      heapKept = true;
      // zeroblob() alone allocates nothing; its CAST writes the HEAP_KEPT bytes out, then frees them.
      await tx.query(`SELECT length(CAST(zeroblob(${HEAP_KEPT}) AS BLOB)) AS n`);
    }
    for (const sql of SETUP) await tx.query(sql);
    const { rowCount } = await tx.query(keepsVersions ? s.take : s.takeVersionless, [from, to, JSON.stringify(exclude)]);
    if (rowCount === 0) return [];
    if (keepsVersions) await tx.query(s.entries);
    await tx.query(s.deletes);
    const shapes = await tx.query<Row>("SELECT DISTINCT shape FROM temp.ds_sm_take WHERE op = 'U'");
    for (const { shape } of shapes.rows) await tx.query(s.update(String(shape)), [shape]);
    await tx.query(s.inserts);
    // One JSON text: a batch's ids are neither sorted nor made into 10,000 values by the driver (the caller keeps a Set).
    const { rows } = await tx.query<Row>('SELECT json_group_array(id) AS ids FROM temp.ds_sm_take');
    return JSON.parse(String(rows[0].ids)) as number[];
  },
};
