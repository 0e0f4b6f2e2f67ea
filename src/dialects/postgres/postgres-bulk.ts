/**
 * Set-based writes on PostgreSQL. Inserts go by `COPY … FROM STDIN` where the connection
 * offers it (the inbox, the outbox, the version store and a synchronized table without
 * an always-identity column): the cheapest path into a table for client and server. An
 * inbox COPY that meets a resent change (a unique violation) is rolled back to its
 * savepoint and done again by the JSON path, which skips duplicates. Updates and deletes
 * (and inserts without COPY): a batch travels as one JSON parameter and
 * json_populate_recordset turns it into rows typed by the table itself, so one
 * statement writes thousands of rows without a parameter per value. Rows of a system table known
 * to exist (the version entries an import read under lock) are updated from one typed array per
 * column (updateRows), cheaper for the server than an upsert from JSON.
 * https://www.postgresql.org/docs/current/sql-copy.html
 * https://www.postgresql.org/docs/current/functions-json.html#FUNCTIONS-JSON-PROCESSING
 */
import type { ValueMap } from '../../core/change.ts';
import type { BulkWriter, DbClient } from '../../core/dialect.ts';
import { type ColumnSchema, columnByName, type TableSchema, type TypeFamily } from '../../core/schema.ts';
import { bracketed, postgresParam, postgresSql } from './postgres-sql.ts';
import { UNIQUE_VIOLATION } from './postgres-errors.ts';
import { tableRef } from '../../core/table-ref.ts';

const sql = postgresSql;

function tableName(table: TableSchema): string {
  return tableRef(sql, table);
}

/**
 * A canonical value as json_populate_recordset reads it for the column's type. A json
 * column's document travels as a JSON string of its text, read back by `columnValue`:
 * json_populate_recordset would turn a document that is JSON `null` into SQL NULL.
 * Other values go through postgresParam, so that what it refuses (a NUL in text, a
 * number a `real` would round) fails the batch here too and is parked by the slow path.
 */
function jsonValue(column: ColumnSchema, value: ValueMap[string]): unknown {
  if (value === null) return null;
  switch (column.family) {
    case 'binary':
      return `\\x${Buffer.from(String(value), 'base64').toString('hex')}`;
    case 'json':
      return String(value);
    default:
      return postgresParam(column, value);
  }
}

/**
 * The fields of `row` as JSON object members (`"name":value,…`) pushed onto `parts`, an object's
 * text begun with its `{`; each value through jsonValue; `skip` names members given already.
 */
function pushMembers(parts: string[], table: TableSchema, row: ValueMap, skip?: ValueMap): void {
  for (const name in row) {
    if (skip !== undefined && name in skip) continue;
    const value = jsonValue(columnByName(table, name)!, row[name]);
    if (value === undefined) continue;
    if (parts.length > 1) parts.push(',');
    parts.push(memberName(name), JSON.stringify(value));
  }
}

/** `"name":`, spelled once per column name (a batch spells the same few for each of its rows). */
const memberNames = new Map<string, string>();
function memberName(name: string): string {
  let spelled = memberNames.get(name);
  if (spelled === undefined) {
    spelled = `${JSON.stringify(name)}:`;
    if (memberNames.size < 10_000) memberNames.set(name, spelled);
  }
  return spelled;
}

/**
 * The rows as the JSON array json_populate_recordset reads (what JSON.stringify makes of
 * them), written out directly rather than through an object per row; a row of `rows` is
 * joined with its `more` (a key with its values), whose members win. Each object's text is
 * its parts joined once (appending to one growing text made a chain of pieces to flatten).
 */
function jsonRows(table: TableSchema, rows: readonly ValueMap[], more?: readonly ValueMap[]): string {
  const objects = new JsonObjects();
  const parts: string[] = [];
  for (let i = 0; i < rows.length; i++) {
    parts.length = 0;
    parts.push('{');
    pushMembers(parts, table, rows[i], more?.[i]);
    if (more) pushMembers(parts, table, more[i]);
    parts.push('}');
    objects.add(parts.join(''));
  }
  return objects.array();
}

/** Objects per piece of a JSON array's text (JsonObjects). */
const JSON_PIECE_OBJECTS = 256;

/**
 * A JSON array's text, its objects' texts joined a few hundred at a time: the texts of a whole
 * batch's objects (10,000, each a few hundred bytes) kept until one join outlived the young
 * generation and were promoted with the batch; a piece's lives only until its join.
 */
class JsonObjects {
  private readonly pieces: string[] = [];
  private readonly objects: string[] = [];
  add(object: string): void {
    this.objects.push(object);
    if (this.objects.length === JSON_PIECE_OBJECTS) {
      this.pieces.push(this.objects.join(','));
      this.objects.length = 0;
    }
  }
  /** `[`, the objects joined by commas, `]`: one flat text. */
  array(): string {
    if (this.objects.length > 0) this.pieces.push(this.objects.join(','));
    this.objects.length = 0;
    return bracketed(this.pieces, '[', ']');
  }
}

/**
 * Rows of values in `columns` order as json_populate_recordset's JSON array. A text value the
 * row before had in the same column (a table's name, a server's) is spelled once.
 */
function jsonArrayRows(columns: readonly string[], rows: readonly unknown[][]): string {
  const names = columns.map((c) => `${JSON.stringify(c)}:`);
  const lastValue = new Array<unknown>(names.length).fill(undefined);
  const lastText = new Array<string | undefined>(names.length).fill(undefined);
  const objects = new JsonObjects();
  const parts: string[] = [];
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    parts.length = 0;
    parts.push('{');
    for (let i = 0; i < names.length; i++) {
      const value = row[i];
      let text: string | undefined;
      if (typeof value === 'string' && value === lastValue[i]) text = lastText[i];
      else {
        text = JSON.stringify(value);
        lastValue[i] = value;
        lastText[i] = text;
      }
      if (text === undefined) continue;
      if (parts.length > 1) parts.push(',');
      parts.push(names[i], text);
    }
    parts.push('}');
    objects.add(parts.join(''));
  }
  return objects.array();
}

/** Column `name` of the source rows `s` as the table's type: a json document is unwrapped from its string (`jsonValue`). */
function columnValue(table: TableSchema, name: string, s: string): string {
  const column = columnByName(table, name)!;
  const ref = `${s}${sql.ident(name)}`;
  return column.family === 'json' ? `(${ref} #>> '{}')::${column.nativeType}` : ref;
}

/** A connection that can COPY (PostgresClient; a wrapper such as the bench's tracer may not). */
interface CopyClient extends DbClient {
  copyFrom(sql: string, data: Iterable<string | Buffer>): Promise<number>;
}

const canCopy = (tx: DbClient): tx is CopyClient => typeof (tx as Partial<CopyClient>).copyFrom === 'function';

/** One value in COPY's text format: `\N` for NULL, backslash, tab and line ends escaped, bytea as `\\x` hex. */
function copyField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'string') return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, escapeCopy) : value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (value instanceof Uint8Array) return `\\\\x${Buffer.from(value).toString('hex')}`;
  if (value instanceof Date) return value.toISOString();
  return copyField(String(value));
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeCopy = (c: string) => COPY_ESCAPES[c];

/** Rows per piece of COPY text: a piece is made when the socket can take it. */
const COPY_PIECE_ROWS = 500;

/** The rows in COPY's text format, a few hundred at a time; `convert` turns a row into its values as it goes. */
function* copyText<R>(rows: readonly R[], convert: (row: R) => readonly unknown[]): Generator<string> {
  // A piece is its fields and separators joined once: appending to a growing text made a chain of pieces to flatten.
  const parts: string[] = [];
  for (let start = 0; start < rows.length; start += COPY_PIECE_ROWS) {
    parts.length = 0;
    const end = Math.min(rows.length, start + COPY_PIECE_ROWS);
    for (let r = start; r < end; r++) {
      const row = convert(rows[r]);
      for (let i = 0; i < row.length; i++) {
        if (i) parts.push('\t');
        parts.push(copyField(row[i]));
      }
      parts.push('\n');
    }
    yield parts.join('');
  }
}

const asIs = (row: readonly unknown[]) => row;

const copySql = (name: string, columns: readonly string[]) => `COPY ${name} (${columns.map((c) => sql.ident(c)).join(', ')}) FROM STDIN`;

const keyMatch = (table: TableSchema) => table.primaryKey.map((k) => `d.${sql.ident(k)} = s.${sql.ident(k)}`).join(' AND ');

/**
 * The outbox has no notify trigger (templates/postgres/upgrade_notify.sql.hbs): each writer wakes the
 * daemon itself (LISTEN dsync_outbox in postgres-driver.ts), the capture functions in SQL and dsync's
 * own writers (library, query and log capture, the import's applied record) here. PostgreSQL sends it
 * at commit, once per transaction however often it is called.
 */
const NOTIFY_OUTBOX = "pg_notify('dsync_outbox', '')";

/**
 * The array types updateRows binds a column's values as, by family: the column's own type or one
 * that assigns to it without a cast (text to varchar). Arrays of texts and numbers are sent as
 * literals (postgres-driver.ts arrayLiteral), which the server parses cheaper than JSON: a 10,000-entry
 * update of the version store took ~30 % less of the server than the same rows upserted from JSON.
 */
const ARRAY_TYPES: Partial<Record<TypeFamily, string>> = { text: 'text', integer: 'integer', bigint: 'bigint' };

/** Below this many rows one INSERT … SELECT is fewer round trips than COPY (with its savepoint when duplicates are skipped). */
const COPY_MIN_ROWS = 64;

export const postgresBulk: BulkWriter = {
  /**
   * The transport's COPY text by one COPY, atomic by itself (no BEGIN, savepoint or COMMIT: one
   * round trip); a resent change fails it on the unique key.
   */
  async insertCopyText(client, table, columns, text) {
    if (!canCopy(client)) return false;
    try {
      await client.copyFrom(copySql(sql.ident(table), columns), text);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
      return false;
    }
  },

  async insertRows(tx: DbClient, table, columns, rows, ignoreDuplicates) {
    const notify = table === 'ds_change_outbox';
    if (canCopy(tx) && rows.length >= COPY_MIN_ROWS) {
      if (!ignoreDuplicates) {
        await tx.copyFrom(copySql(sql.ident(table), columns), copyText(rows, asIs));
        if (notify) await tx.query(`SELECT ${NOTIFY_OUTBOX}`);
        return;
      }
      try {
        await tx.transaction((sp) => (sp as CopyClient).copyFrom(copySql(sql.ident(table), columns), copyText(rows, asIs)));
        if (notify) await tx.query(`SELECT ${NOTIFY_OUTBOX}`);
        return;
      } catch (error) {
        if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION) throw error;
        // A resend: the rows already here are skipped by the statement below.
      }
    }
    const list = columns.map((c) => sql.ident(c)).join(', ');
    const insert = `INSERT INTO ${sql.ident(table)} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${sql.ident(table)}, $1)${ignoreDuplicates ? ' ON CONFLICT DO NOTHING' : ''}`;
    // The outbox's rows and the notification in one statement: one round trip.
    await tx.query(notify ? `WITH w AS (${insert}) SELECT ${NOTIFY_OUTBOX}` : insert, [jsonArrayRows(columns, rows)]);
  },

  async upsertRows(tx, table, columns, key, rows) {
    const list = columns.map((c) => sql.ident(c)).join(', ');
    const set = columns.filter((c) => !key.includes(c)).map((c) => `${sql.ident(c)} = EXCLUDED.${sql.ident(c)}`);
    await tx.query(
      `INSERT INTO ${sql.ident(table)} (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${sql.ident(table)}, $1) ON CONFLICT (${key.map((k) => sql.ident(k)).join(', ')}) DO UPDATE SET ${set.join(', ')}`,
      [jsonArrayRows(columns, rows)],
    );
  },

  async updateRows(tx, table, columns, families, key, rows, fixed) {
    const types = families.map((f) => ARRAY_TYPES[f]);
    if (types.some((t) => t === undefined)) return undefined;
    const s = (c: string) => `s.${sql.ident(c)}`;
    const set = columns.filter((c) => !key.includes(c)).map((c) => `${sql.ident(c)} = ${s(c)}`);
    // One array per column, each hidden from the planner in a sub-SELECT (as DialectSql.inArrays does):
    // seen, a custom plan would know how many rows they hold and might read the whole table instead
    // of probing its key once per row.
    const arrays = columns.map((_, i) => `(SELECT $${i + 1}::${types[i]}[])`).join(', ');
    const match = key.map((k) => `d.${sql.ident(k)} = ${s(k)}`);
    if (fixed) match.unshift(`d.${sql.ident(fixed.column)} = $${columns.length + 1}`);
    const params: unknown[] = columns.map((_, i) => rows.map((r) => r[i]));
    if (fixed) params.push(fixed.value);
    const { rowCount } = await tx.query(
      `UPDATE ${sql.ident(table)} AS d SET ${set.join(', ')} FROM unnest(${arrays}) AS s (${columns.map((c) => sql.ident(c)).join(', ')})
       WHERE ${match.join(' AND ')}`,
      params,
    );
    return rowCount;
  },

  async insertTableRows(tx, table, rows) {
    const columns = Object.keys(rows[0]);
    const schemas = columns.map((c) => columnByName(table, c)!);
    // COPY takes an always-identity column's value without OVERRIDING SYSTEM VALUE; keep such tables on the statement that says it.
    if (canCopy(tx) && rows.length >= COPY_MIN_ROWS && !schemas.some((c) => c.identity === 'always')) {
      const values = (row: ValueMap) =>
        schemas.map((c) => {
          const v = postgresParam(c, row[c.name]);
          return c.family === 'json' && v !== null ? String(v) : v;
        });
      await tx.copyFrom(copySql(tableName(table), columns), copyText(rows, values));
      return;
    }
    const list = columns.map((c) => sql.ident(c)).join(', ');
    const overriding = sql.identityInsert?.(table, columns).afterColumns ?? '';
    const name = tableName(table);
    const values = columns.map((c) => columnValue(table, c, '')).join(', ');
    await tx.query(`INSERT INTO ${name} (${list})${overriding} SELECT ${values} FROM json_populate_recordset(NULL::${name}, $1)`, [
      jsonRows(table, rows),
    ]);
  },

  async updateTableRows(tx, table, columns, rows) {
    const name = tableName(table);
    const set = columns.map((c) => `${sql.ident(c)} = ${columnValue(table, c, 's.')}`).join(', ');
    const { rowCount } = await tx.query(
      `UPDATE ${name} AS d SET ${set} FROM json_populate_recordset(NULL::${name}, $1) AS s WHERE ${keyMatch(table)}`,
      [
        jsonRows(
          table,
          rows.map((r) => r.key),
          rows.map((r) => r.values),
        ),
      ],
    );
    if (rowCount !== rows.length) throw new Error(`bulk update of ${table.name} matched ${rowCount} of ${rows.length} rows`);
  },

  async deleteTableRows(tx, table, keys) {
    const name = tableName(table);
    const { rowCount } = await tx.query(
      `DELETE FROM ${name} AS d USING json_populate_recordset(NULL::${name}, $1) AS s WHERE ${keyMatch(table)}`,
      [jsonRows(table, keys)],
    );
    if (rowCount !== keys.length) throw new Error(`bulk delete of ${table.name} matched ${rowCount} of ${keys.length} rows`);
  },
};
