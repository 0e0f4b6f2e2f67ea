/**
 * The SQLite half of the engine-merge probe (engine-merge.ts): one import batch of inbox rows
 * applied by SQLite itself from the JSON it already holds, for the common case only. A batch
 * that is not wholly common (guard) is left to the client path, untouched.
 *
 * The common case, every row of the batch: the synchronized table, no seed command, no key
 * change, causal length and version present; no key twice in the batch; an insert of an
 * absent row (its entry, if any, not ahead) naming every column, typed; an update of a present
 * row of the same incarnation whose every named column is newer than its version here and
 * either holds the change's old value or its new one already (no conflict); a delete whose
 * causal length is ahead of the row's and whose old values are the row's (no conflict).
 * Values are stored in the forms sqlite-dialect.ts's toParam gives them (text, integer and
 * date as the JSON has them, a timestamp with a space for its `T`); only the families of the
 * seed's sales_order are spelled (text, integer, date, timestamp).
 */
import type { DbClient } from '../../src/core/dialect.ts';
import type { ColumnSchema, TableSchema } from '../../src/core/schema.ts';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
/** A JSON path to a member, quoted: `'$."name"'`. */
const path = (name: string) => `'$.${JSON.stringify(name).replace(/'/g, "''")}'`;

/** The stored form of a JSON value (json_extract's result) of `column`. */
function stored(column: ColumnSchema, value: string): string {
  switch (column.family) {
    case 'text':
    case 'integer':
    case 'bigint':
    case 'date':
      return value;
    case 'timestamp':
    case 'timestamptz':
      // ENGINE_MERGE_BREAK=1: a wrong spelling on purpose, to see the probe's comparison catch it.
      return process.env.ENGINE_MERGE_BREAK ? value : `replace(${value}, 'T', ' ')`;
    default:
      throw new Error(`engine-merge probe: family ${column.family} of ${column.name} is not spelled`);
  }
}

/** True when a member of `column` (its json_each type `t` and value `x`) reads as the column's type, as decodeChange + toParam would take it. */
function typed(column: ColumnSchema, t: string, x: string): string {
  // ENGINE_MERGE_GUARD=untyped: no type checks, to price them (the results may then bend).
  if (process.env.ENGINE_MERGE_GUARD === 'untyped') return '1';
  switch (column.family) {
    case 'text':
      return `${t} IN ('text', 'null')`;
    case 'integer':
    case 'bigint':
      return `${t} IN ('integer', 'null')`;
    case 'date':
      return `(${t} = 'null' OR (${t} = 'text' AND date(${x}) IS ${x}))`;
    case 'timestamp':
    case 'timestamptz':
      // Only the spelling the capture triggers give (six fraction digits, no zone); anything else goes to the client path.
      return `(${t} = 'null' OR (${t} = 'text' AND ${x} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]' AND datetime(${x}) IS NOT NULL))`;
    default:
      throw new Error(`engine-merge probe: family ${column.family} of ${column.name} is not spelled`);
  }
}

export interface EngineMergeSql {
  /** Statements run once per connection, outside any transaction (temporary tables em_batch and em_entry). */
  setup: string[];
  /** Reads the inbox rows of ids ? to ? into em_batch (emptied before). */
  stage: string;
  /** (id, prev): the staged rows whose key came before in the batch, and the id of that change. */
  repeats: string;
  /** Counts (bad, parked, pending) for the staged ids ? to ?: any above 0 sends them to the client path. */
  guard: string;
  /** The writes of the staged ids ? to ? (statements with that `?` pair, or steps of their own). */
  writes: Array<string | ((tx: DbClient, a: number, b: number) => Promise<void>)>;
}

/**
 * Ids lo..hi cut where a key comes again (repeats' pairs): within a part no row comes twice, so
 * set-wise writes keep each row's order; the parts go in id order, each seeing the one before.
 */
export function parts(lo: number, hi: number, repeats: Array<{ id: number; prev: number }>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = lo;
  for (const { id, prev } of repeats)
    if (prev >= start) {
      out.push([start, id - 1]);
      start = id;
    }
  out.push([start, hi]);
  return out;
}

/** One batch by the engine: staged, cut, each part guarded then written. Null, or why a part goes to the client path (in the probe: stops). */
export async function applyStaged(
  tx: DbClient,
  m: EngineMergeSql,
  lo: number,
  hi: number,
  /** Milliseconds by statement (the first words of its text), when asked. */
  times?: Map<string, number>,
): Promise<{ why: string | null; parts: number }> {
  const run = async (sql: string, params: readonly unknown[] = []) => {
    const t0 = performance.now();
    const result = await tx.query(sql, params);
    if (times) {
      const shape = sql.replace(/\s+/g, ' ').slice(0, 40);
      times.set(shape, (times.get(shape) ?? 0) + performance.now() - t0);
    }
    return result;
  };
  await run('DELETE FROM em_batch');
  await run(m.stage, [lo, hi]);
  const repeats = (await run(m.repeats)).rows.map((r) => ({ id: Number(r.id), prev: Number(r.prev) }));
  const cut = parts(lo, hi, repeats);
  for (const [a, b] of cut) {
    const g = (await run(m.guard, [a, b])).rows[0];
    const why = ['bad', 'parked', 'pending'].filter((k) => Number(g[k]) > 0).map((k) => `${k} ${g[k]}`);
    if (why.length) return { why: `ids ${a}..${b}: ${why.join(', ')}`, parts: cut.length };
    for (const w of m.writes) {
      if (typeof w === 'string') await run(w, w.includes('?') ? [a, b] : []);
      else await w({ dialect: tx.dialect, query: (sql: string, params?: readonly unknown[]) => run(sql, params) } as DbClient, a, b);
    }
  }
  return { why: null, parts: cut.length };
}

export function sqliteEngineMerge(table: TableSchema): EngineMergeSql {
  if (table.primaryKey.length !== 1) throw new Error('engine-merge probe: one-column keys only');
  const columns = table.columns.filter((c) => !c.generated);
  const pk = columns.find((c) => c.name === table.primaryKey[0])!;
  if (pk.family !== 'text') throw new Error('engine-merge probe: a text key only');
  const others = columns.filter((c) => c !== pk);
  const T = q(table.name);
  const name = `'${table.name.replace(/'/g, "''")}'`;
  const value = (json: string, c: ColumnSchema) => stored(c, `json_extract(${json}, ${path(c.name)})`);
  const lit = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const colPath = (c: ColumnSchema, i: number) => lit(`$.${JSON.stringify(c.name)}[${i}]`);
  const colTime = (c: ColumnSchema) => `coalesce(json_extract(e.col_versions, ${colPath(c, 0)}), e.base_version, 0)`;
  const newer = (c: ColumnSchema) =>
    `(b.ver > ${colTime(c)} OR (b.ver = ${colTime(c)} AND b.srv > coalesce(json_extract(e.col_versions, ${colPath(c, 1)}), e.base_server, '')))`;
  /** A CASE on a json_each member's key: `each(c)` for a column's member, false for any other name. */
  const byMember = (cols: ColumnSchema[], each: (c: ColumnSchema) => string) =>
    `CASE j.key ${cols.map((c) => `WHEN ${lit(c.name)} THEN ${each(c)}`).join(' ')} ELSE 0 END`;
  // Its member count when every member of `json` is a distinct synchronized column read as its type, else -1: one walk of the object.
  const shape = (json: string) =>
    `(SELECT CASE WHEN count(*) = count(DISTINCT j.key) AND count(*) = total(${byMember(columns, (c) => typed(c, 'j.type', 'j.value'))}) THEN count(*) ELSE -1 END
      FROM json_each(${json}) j)`;
  const pkT = `t.${q(pk.name)}`;
  const common = `b.tbl = ${name} AND b.cmd IS NULL AND b.id_old IS NULL AND b.cl IS NOT NULL AND b.ver IS NOT NULL
    AND json_valid(b.oid) AND json_type(b.oid, '$') = 'text' AND b.row_key = json_quote(b.k)`;
  const oldOk = `((b.o IS NULL AND b.obad = 0) OR (json_type(b.o) = 'object' AND ${shape('b.o')} >= 0))`;
  /** One walk of `json`: every member a distinct column for which `each` holds (and at least `least` members). */
  const walk = (json: string, cols: ColumnSchema[], each: (c: ColumnSchema) => string, least = 0) =>
    `(SELECT count(*) >= ${least} AND count(*) = count(DISTINCT j.key) AND count(*) = total(${byMember(cols, each)}) FROM json_each(${json}) j)`;
  const insertOk = `b.cl % 2 = 1 AND ${pkT} IS NULL AND (e.cl IS NULL OR e.cl <= b.cl)
    AND b.v IS NOT NULL AND json_type(b.v) = 'object' AND ${walk('b.v', columns, (c) => typed(c, 'j.type', 'j.value'), columns.length)}
    AND json_extract(b.v, ${path(pk.name)}) IS b.k`;
  // Each named column typed, newer here, and holding its old value or its new one already (no conflict): one walk of the change.
  const updateOk = `b.cl % 2 = 1 AND ${pkT} IS NOT NULL AND coalesce(e.cl, 1) = b.cl AND b.v IS NOT NULL AND json_type(b.v) = 'object' AND ${oldOk}
    AND ${walk(
      'b.v',
      others,
      (c) =>
        `${typed(c, 'j.type', 'j.value')} AND ${newer(c)} AND (t.${q(c.name)} IS ${stored(c, 'j.value')} OR json_type(b.o, ${path(c.name)}) IS NULL OR t.${q(c.name)} IS ${stored(c, `json_extract(b.o, ${path(c.name)})`)})`,
      1,
    )}`;
  // The old values typed, and the row's (when it is here): one walk.
  const deleteOk = `b.cl % 2 = 0 AND coalesce(e.cl, CASE WHEN ${pkT} IS NULL THEN 0 ELSE 1 END) < b.cl
    AND ((b.o IS NULL AND b.obad = 0) OR (json_type(b.o) = 'object' AND ${walk('b.o', columns, (c) => `${typed(c, 'j.type', 'j.value')} AND (${pkT} IS NULL OR t.${q(c.name)} IS ${stored(c, 'j.value')})`)}))`;
  // ENGINE_MERGE_GUARD=none: no guard at all, to price the writes alone (the floor; nothing is checked).
  const guard =
    process.env.ENGINE_MERGE_GUARD === 'none'
      ? 'SELECT 0 AS bad, 0 AS parked, 0 AS pending WHERE ? IS NOT NULL AND ? IS NOT NULL'
      : `SELECT
      (SELECT count(*) FROM em_batch b
         LEFT JOIN ${T} t ON ${pkT} = b.k
         LEFT JOIN ds_row_version e ON e.table_name = ${name} AND e.row_key = b.row_key
       WHERE b.id BETWEEN ? AND ? AND NOT coalesce((${common} AND CASE b.op WHEN 'I' THEN ${insertOk} WHEN 'U' THEN ${updateOk} WHEN 'D' THEN ${deleteOk} ELSE 0 END), 0)) AS bad,
      (SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')) AS parked,
      (SELECT count(*) FROM ds_change_pending) AS pending`;
  // The entry after each change (merge.ts freshEntry for inserts and deletes, advanced for updates: every named column takes
  // the version, by a merge patch made in one walk of the change), upserted straight from a read of the version store.
  const versions = `json_patch(coalesce(e.col_versions, '{}'), (SELECT json_group_object(j.key, json_array(b.ver, b.srv)) FROM json_each(b.v) j))`;
  const stage = `INSERT INTO em_batch (id, op, tbl, cmd, oid, id_old, row_key, k, cl, ver, srv, v, o, obad, shape)
     SELECT id, object_operation, object_table, object_operation_command, object_id, object_id_old, object_id,
       CASE WHEN json_valid(object_id) THEN json_extract(object_id, '$') END, row_cl, change_version, updated_by_server_id,
       CASE WHEN json_valid(object_value) THEN jsonb(object_value) END, CASE WHEN json_valid(object_value_old) THEN jsonb(object_value_old) END,
       object_value_old IS NOT NULL AND NOT json_valid(object_value_old),
       -- An update's named columns, in its order (the guard refuses members that are no column, so the shape names columns only).
       CASE WHEN object_operation = 'U' AND json_valid(object_value) THEN (SELECT group_concat(key, ',') FROM json_each(object_value)) END
     FROM ds_change_inbox WHERE id BETWEEN ? AND ?`;
  const writes: EngineMergeSql['writes'] = [
    `INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions)
     SELECT ${name}, b.row_key, CASE WHEN b.op = 'U' THEN coalesce(e.cl, 1) ELSE b.cl END, max(coalesce(e.max_version, 0), b.ver),
       CASE WHEN b.op = 'U' THEN coalesce(e.base_version, 0) ELSE b.ver END,
       CASE WHEN b.op = 'U' THEN coalesce(e.base_server, '') ELSE b.srv END,
       CASE WHEN b.op = 'U' THEN ${versions} ELSE '{}' END
     FROM em_batch b LEFT JOIN ds_row_version e ON e.table_name = ${name} AND e.row_key = b.row_key WHERE b.id BETWEEN ? AND ?
     ON CONFLICT (table_name, row_key) DO UPDATE SET cl = excluded.cl, max_version = excluded.max_version,
       base_version = excluded.base_version, base_server = excluded.base_server, col_versions = excluded.col_versions`,
    // Deletes, then updates, then inserts (row-writer.ts's wave order; no key comes twice).
    `DELETE FROM ${T} WHERE ${q(pk.name)} IN (SELECT k FROM em_batch WHERE op = 'D' AND id BETWEEN ? AND ?)`,
    // One UPDATE per set of named columns (staged as \`shape\`), naming only those.
    async (tx, a, b) => {
      const shapes = await tx.query(`SELECT DISTINCT shape FROM em_batch WHERE op = 'U' AND id BETWEEN ? AND ?`, [a, b]);
      for (const { shape } of shapes.rows) {
        const named = String(shape)
          .split(',')
          .map((n) => others.find((c) => c.name === n)!);
        await tx.query(
          `UPDATE ${T} AS t SET ${named.map((c) => `${q(c.name)} = ${value('b.v', c)}`).join(', ')}
           FROM em_batch b WHERE b.op = 'U' AND b.shape = ? AND ${pkT} = b.k AND b.id BETWEEN ? AND ?`,
          [shape, a, b],
        );
      }
    },
    `INSERT INTO ${T} (${columns.map((c) => q(c.name)).join(', ')}) SELECT ${columns.map((c) => value('b.v', c)).join(', ')} FROM em_batch b WHERE b.op = 'I' AND b.id BETWEEN ? AND ? ORDER BY b.id`,
  ];
  return {
    setup: [
      `CREATE TEMP TABLE IF NOT EXISTS em_batch (id INTEGER PRIMARY KEY, op TEXT, tbl TEXT, cmd TEXT, oid TEXT, id_old TEXT, row_key TEXT, k TEXT,
         cl INTEGER, ver INTEGER, srv TEXT, v BLOB, o BLOB, obad INTEGER, shape TEXT)`,
    ],
    stage,
    repeats: `SELECT id, prev FROM (SELECT id, lag(id) OVER (PARTITION BY k ORDER BY id) AS prev FROM em_batch) r WHERE prev IS NOT NULL ORDER BY id`,
    guard,
    writes,
  };
}
