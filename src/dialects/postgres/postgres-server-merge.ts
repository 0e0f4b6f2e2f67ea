/**
 * The import's common case merged by the server (docs/performance.md, "the server merges the
 * common case"): the changes of an inbox id range that the merge planner (runtime/import/merge.ts)
 * would apply without a conflict, decided and written set-wise by two statements over the inbox
 * rows the server already holds, so that neither their payloads nor the rows they touch travel to
 * the client. Everything else is left for the planner: the statements apply a change only when
 * every condition below holds, and the planner would then write exactly the same rows and entries.
 *
 * A change is taken when it is a trigger change (a clock, a causal length, no old causal length, no seed command) of this
 * table, its key's spelling is the canonical one (canonical-key.ts, as the triggers spell it), its
 * key and old key occur in no other change of the batch (so same-row order is the planner's), it
 * names only the table's columns and every value reads here as the client would read it (checked
 * per type family below), and:
 * - an insert: no row with the key, the whole row named, its causal length odd and not below the
 *   entry's (merge.ts insertSide: a fresh entry);
 * - an update (no key change): the row is here, the change's causal length is the entry's (the
 *   row's incarnation), every changed column holds the change's old value, takes a new value, and
 *   the change's clock is above the column's version (updateSide with no conflict: every column won);
 * - a delete: the row is here, its causal length above the entry's, every old value the row's
 *   (deleteSide without a conflict).
 * Each JSON object is decoded once as a row of the table and taken only when it spells exactly what
 * was decoded (canonicalCheck: no value rounded or cut by the column's type, no spelling the client
 * would read otherwise), so comparing the decoded values is comparing what the planner compares.
 * Tables with a column of another family (binary, json, floats, times with zones, fixed-length or
 * non-deterministic text, …), a composite key, a foreign key, or triggers of their own are not
 * merged here at all. Changes decoded by the server cost it ~10–20 µs of CPU each
 * (bench/probes/server-merge.ts); the planner's path costs ~40 µs in the client and ~15 in the server.
 * https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING
 */
import type { Row, ServerMerge } from '../../core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../../core/schema.ts';
import { tableRef } from '../../core/table-ref.ts';
import { postgresSql } from './postgres-sql.ts';

const sql = postgresSql;
const lit = (v: string) => sql.literal(v);

/** The column's base type where its family is merged here (the spellings canonicalCheck knows), else null. */
function baseType(column: ColumnSchema): string | null {
  const t = column.nativeType.toLowerCase();
  switch (column.family) {
    case 'integer':
    case 'bigint':
      return /^(smallint|integer|bigint)$/.test(t) ? 'bigint' : null;
    case 'decimal':
      return /^numeric(\(\d+(,\s*\d+)?\))?$/.test(t) ? 'numeric' : null;
    case 'boolean':
      return t === 'boolean' ? 'boolean' : null;
    case 'text':
      if (!/^(text|character varying(\(\d+\))?)$/.test(t)) return null;
      if (column.caseInsensitive || (column.collation && column.collation !== 'default' && column.collation !== 'C')) return null;
      return 'text';
    case 'date':
      return t === 'date' ? 'date' : null;
    case 'timestamp':
      return /^timestamp(\(\d\))?( without time zone)?$/.test(t) ? 'timestamp' : null;
    default:
      return null;
  }
}

/**
 * True when JSON object `j` holds only canonical spellings (canonical.ts, as the capture triggers
 * spell them) of the values decoded from it as a row of the table, `r`: the client reads such a
 * change to the same values (decode-change.ts), and no value was rounded or cut by the column's
 * type, and no member outside `columns` (the schema the import read). Most members are compared at once with the row as jsonb (`to_jsonb(r)`: text, booleans,
 * integers and dates spell as canonically there); decimals (canonically strings) and timestamps
 * (canonically with six fraction digits) one by one. A year beyond 9999 or before 1, an integer
 * beyond 2^53 (which the client reads as a double), a number for a decimal, another spelling of a
 * time: the change is the planner's. A member the table cannot read at all (`"1.5"` for an
 * integer) fails the statement: the batch is the planner's.
 */
function canonicalCheck(columns: ColumnSchema[], j: string, r: string): string {
  const apart = columns.filter((c) => c.family === 'decimal' || c.family === 'timestamp');
  const checks = [
    // Only columns the import knows: `r` has the table's columns as they are now, which may be more (one just added).
    `${j} - ARRAY[${columns.map((c) => lit(c.name)).join(', ')}]::text[] = '{}'::jsonb`,
    apart.length === 0 ? `${j} <@ to_jsonb(${r})` : `(${j} - ARRAY[${apart.map((c) => lit(c.name)).join(', ')}]::text[]) <@ to_jsonb(${r})`,
  ];
  for (const c of columns) {
    const x = `(${r}).${sql.ident(c.name)}`;
    const text = `(${j} ->> ${lit(c.name)})`;
    if (c.family === 'decimal') checks.push(`(${x} IS NULL OR (jsonb_typeof(${j} -> ${lit(c.name)}) = 'string' AND ${text} = ${x}::text))`);
    else if (c.family === 'timestamp')
      checks.push(
        `(${x} IS NULL OR (${text} LIKE '____-__-__T__:__:__.______' AND rtrim(rtrim(${text}, '0'), '.') = replace(${x}::text, ' ', 'T')))`,
      );
    else if (c.family === 'date') checks.push(`(${x} IS NULL OR ${x} < '10000-01-01')`);
    else if (c.nativeType.toLowerCase() === 'bigint') checks.push(`(${x} IS NULL OR abs(${x}) <= 9007199254740991)`);
  }
  return checks.join('\n      AND ');
}

export interface ServerMergeStatements {
  /** Locks the rows, then the entries, of every key of the batch's changes of this table (the planner's read order). $1, $2: the id range (from, to]; $3: inbox ids left out. */
  lock: string;
  /** Decides and writes; returns one row `applied` (the inbox ids it applied, an array). $1, $2, $3: as `lock`. */
  merge: string;
}

/** The two statements for `table`, or null when a column's type is not one merged here (the planner does all of its changes). */
export function serverMergeStatements(table: TableSchema): ServerMergeStatements | null {
  const columns = table.columns;
  if (table.inherits || table.primaryKey.length !== 1) return null;
  if (columns.some((c) => c.generated || c.identity === 'always' || /^[0-9]+$/.test(c.name))) return null;
  if (columns.some((c) => baseType(c) === null)) return null;
  const pk = columns.find((c) => c.name === table.primaryKey[0])!;
  if (pk.family !== 'text' && pk.family !== 'integer' && pk.family !== 'bigint') return null;
  const t = tableRef(sql, table);
  const name = lit(table.name);
  const id = (c: ColumnSchema) => sql.ident(c.name);
  const names = `ARRAY[${columns.map((c) => lit(c.name)).join(', ')}]::text[]`;
  // Each JSON object is decoded once, as a row of the table (nr: new values, orow: old values). The table's own types
  // may round or refuse a value (a scale, a length): a value that does not read back as it was spelled is the planner's.
  const member = (j: 'v' | 'o', c: ColumnSchema, row = 's') => `(${row}.${j === 'v' ? 'nr' : 'orow'}).${id(c)}`;
  const decoded = (j: string) => `jsonb_populate_record(NULL::${t}, CASE WHEN jsonb_typeof(${j}) = 'object' THEN ${j} ELSE '{}' END)`;
  // The key as the planner reads object_id, and the check that object_id is its canonical spelling.
  const keyIn = (rk: string) =>
    pk.family === 'text'
      ? `(CASE WHEN jsonb_typeof(${rk}::jsonb) = 'string' THEN ${rk}::jsonb #>> '{}' END)`
      : `(CASE WHEN ${rk} ~ '^-?[0-9]{1,15}$' THEN ${rk}::bigint END)`;
  // The key spelled canonically (what the triggers write and ds_row_version.row_key holds).
  const canonical = (rk: string) =>
    pk.family === 'text'
      ? `(jsonb_typeof(${rk}::jsonb) = 'string' AND to_jsonb(${rk}::jsonb #>> '{}')::text = ${rk})`
      : `(${rk} ~ '^-?[1-9][0-9]{0,14}$|^0$')`;
  const batch = `SELECT i.id, i.object_id AS rk, i.object_id_old, i.object_operation AS op, i.object_operation_command AS cmd,
      i.row_cl AS cl, i.row_cl_old AS clo, i.change_version AS ver, i.updated_by_server_id AS srv, i.object_value, i.object_value_old
    FROM ds_change_inbox i WHERE i.id > $1 AND i.id <= $2 AND i.object_table = ${name} AND i.id <> ALL ($3::bigint[])`;
  const lock = `WITH b AS (${batch}),
  r AS MATERIALIZED (SELECT 1 FROM ${t} t WHERE t.${id(pk)} IN (SELECT ${keyIn('b.rk')} FROM b
      UNION SELECT ${keyIn('b.object_id_old')} FROM b) FOR UPDATE OF t),
  e AS MATERIALIZED (SELECT 1 FROM ds_row_version v WHERE v.table_name = ${name}
      AND v.row_key IN (SELECT rk COLLATE "C" FROM b UNION SELECT object_id_old COLLATE "C" FROM b) FOR UPDATE OF v)
SELECT (SELECT count(*) FROM r) AS rows, (SELECT count(*) FROM e) AS entries`;

  // A column's version here (merge.ts columnVersion): its own, else the entry's base.
  const columnTime = (c: ColumnSchema) => `coalesce((s.ecols::jsonb -> ${lit(c.name)} ->> 0)::numeric, s.ebase, 0)`;
  const insertOk = `s.op = 'I' AND NOT s.has_row AND s.cl % 2 = 1 AND s.cl >= coalesce(s.ecl, 0) AND s.v ?& ${names}
      AND ${member('v', pk)} = s.k`;
  const updateOk = `s.op = 'U' AND s.has_row AND NOT (s.v ? ${lit(pk.name)}) AND s.cl = coalesce(s.ecl, 1) AND s.o IS NOT NULL
      AND s.v <> '{}'::jsonb
      AND ${columns
        .map(
          (c) => `(NOT (s.v ? ${lit(c.name)}) OR (s.o ? ${lit(c.name)} AND (s.cur).${id(c)} IS NOT DISTINCT FROM ${member('o', c)}
        AND (s.cur).${id(c)} IS DISTINCT FROM ${member('v', c)} AND s.ver > ${columnTime(c)}))`,
        )
        .join('\n      AND ')}`;
  const deleteOk = `s.op = 'D' AND s.has_row AND s.cl % 2 = 0 AND s.cl > coalesce(s.ecl, 1)
      AND ${columns.map((c) => `(s.o IS NULL OR NOT (s.o ? ${lit(c.name)}) OR (s.cur).${id(c)} IS NOT DISTINCT FROM ${member('o', c)})`).join('\n      AND ')}`;
  const setColumns = columns
    .filter((c) => c.name !== pk.name)
    .map((c) => `${id(c)} = CASE WHEN m.v ? ${lit(c.name)} THEN ${member('v', c, 'm')} ELSE t.${id(c)} END`)
    .join(', ');
  const merge = `WITH b AS MATERIALIZED (${batch}),
  -- Nothing of the batch is taken when a change of the table spells a key otherwise (two spellings of one row could
  -- then take two paths), carries a seed command (its key is in the command), or the table has a foreign key or a
  -- trigger of its own (a cascade or a trigger would see the writes in another order than the planner's).
  whole AS (SELECT bool_and(b.rk IS NOT NULL AND ${canonical('b.rk')} AND (b.object_id_old IS NULL OR ${canonical('b.object_id_old')})
      AND b.cmd IS NULL) AS ok FROM b),
  alone AS (SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND ${lit(t)}::regclass IN (conrelid, confrelid))
      AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = ${lit(t)}::regclass AND NOT tgisinternal AND tgname NOT LIKE 'ds\\_%')
      AND NOT EXISTS (SELECT 1 FROM pg_rules WHERE ${lit(t)}::regclass = format('%I.%I', schemaname, tablename)::regclass) AS ok),
  twice AS (SELECT k FROM (SELECT rk AS k FROM b UNION ALL SELECT object_id_old FROM b WHERE object_id_old IS NOT NULL) AS a GROUP BY k HAVING count(*) > 1),
  j0 AS MATERIALIZED (
    SELECT b.id, b.op, b.rk, b.cl, b.ver, b.srv, ${keyIn('b.rk')} AS k,
      CASE WHEN b.op <> 'D' THEN b.object_value::jsonb END AS v, b.object_value_old::jsonb AS o
    FROM b
    WHERE (SELECT ok FROM whole) AND (SELECT ok FROM alone) AND b.object_id_old IS NULL AND b.clo IS NULL AND b.cl BETWEEN 1 AND 9007199254740991
      AND b.ver BETWEEN 0 AND 9007199254740991 AND b.cl % 2 = CASE WHEN b.op = 'D' THEN 0 ELSE 1 END
      AND b.op IN ('I', 'U', 'D') AND b.rk IS NOT NULL AND b.rk NOT IN (SELECT k FROM twice)),
  j AS MATERIALIZED (SELECT j0.*, ${decoded('j0.v')} AS nr, ${decoded('j0.o')} AS orow FROM j0 WHERE j0.k IS NOT NULL),
  -- Every member of each JSON object names a column the import knows and spells canonically what was decoded (canonicalCheck).
  c AS MATERIALIZED (
    SELECT j.* FROM j
    WHERE (j.v IS NULL OR (jsonb_typeof(j.v) = 'object' AND ${canonicalCheck(columns, 'j.v', 'j.nr')}))
      AND (j.o IS NULL OR (jsonb_typeof(j.o) = 'object' AND ${canonicalCheck(columns, 'j.o', 'j.orow')}))),
  s AS MATERIALIZED (
    SELECT c.*, t AS cur, t.${id(pk)} IS NOT NULL AS has_row, e.row_key IS NOT NULL AS has_entry, e.cl AS ecl,
      e.max_version AS emax, e.base_version AS ebase, e.col_versions AS ecols
    FROM c LEFT JOIN ${t} t ON t.${id(pk)} = c.k
      LEFT JOIN ds_row_version e ON e.table_name = ${name} AND e.row_key = c.rk COLLATE "C"),
  m AS MATERIALIZED (
    SELECT s.* FROM s
    WHERE (${insertOk}) OR (${updateOk}) OR (${deleteOk})),
  ins AS (INSERT INTO ${t} (${columns.map(id).join(', ')})
    SELECT ${columns.map((c) => member('v', c, 'm')).join(', ')} FROM m WHERE m.op = 'I'),
  upd AS (UPDATE ${t} AS t SET ${setColumns} FROM m WHERE m.op = 'U' AND t.${id(pk)} = m.k),
  del AS (DELETE FROM ${t} AS t USING m WHERE m.op = 'D' AND t.${id(pk)} = m.k),
  -- The entries (merge.ts freshEntry for inserts and deletes, advanced for updates); a row without one gets it inserted, never upserted (version-store.ts EntryWrite.isNew).
  fresh AS (INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
    SELECT ${name}, m.rk, m.cl, m.ver, CASE WHEN m.op = 'U' THEN 0 ELSE m.ver END, CASE WHEN m.op = 'U' THEN '' ELSE m.srv END,
      CASE WHEN m.op = 'U' THEN (SELECT jsonb_object_agg(n, jsonb_build_array(m.ver, m.srv)) FROM jsonb_object_keys(m.v) AS n)::text ELSE '{}' END
    FROM m WHERE NOT m.has_entry),
  kept AS (UPDATE ds_row_version AS e SET cl = m.cl, max_version = greatest(m.emax, m.ver),
      base_version = CASE WHEN m.op = 'U' THEN e.base_version ELSE m.ver END,
      base_server = CASE WHEN m.op = 'U' THEN e.base_server ELSE m.srv END,
      col_versions = CASE WHEN m.op = 'U' THEN (coalesce(nullif(m.ecols, ''), '{}')::jsonb
        || (SELECT jsonb_object_agg(n, jsonb_build_array(m.ver, m.srv)) FROM jsonb_object_keys(m.v) AS n))::text ELSE '{}' END
    FROM m WHERE m.has_entry AND e.table_name = ${name} AND e.row_key = m.rk COLLATE "C")
SELECT coalesce(array_agg(m.id ORDER BY m.id), '{}') AS applied FROM m`;
  return { lock, merge };
}

const statementsOf = new WeakMap<TableSchema, ServerMergeStatements | null>();

function statementsFor(table: TableSchema): ServerMergeStatements | null {
  let known = statementsOf.get(table);
  if (known === undefined) {
    known = serverMergeStatements(table);
    statementsOf.set(table, known);
  }
  return known;
}

export const postgresServerMerge: ServerMerge = {
  // The backend merges alone what the client decoded beside its writes: less CPU in all, not a shorter drain.
  byDefault: false,
  supports: (table) => statementsFor(table) !== null,
  async apply(tx, table, { from, to }, exclude, keepsVersions) {
    const statements = statementsFor(table);
    // Off by default here; on a receive-only node its statements would decide by entries that are not kept: the planner does all.
    if (statements === null || !keepsVersions) return [];
    const params = [from, to, `{${exclude.join(',')}}`];
    await tx.query(statements.lock, params);
    const { rows } = await tx.query<Row>(statements.merge, params);
    return (rows[0].applied as Array<string | number>).map(Number);
  },
};
