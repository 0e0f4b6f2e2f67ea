/**
 * Set-based writes on MySQL/MariaDB: new rows (the transport's inbox, the version store,
 * a synchronized table's inserts) by LOAD DATA LOCAL where the server allows it and the
 * rows go in unchanged, else multi-row INSERTs; an UPDATE joined to a derived table of
 * the rows (`SELECT … UNION ALL SELECT …`), a DELETE by key list or join.
 * Not INSERT … ON DUPLICATE KEY UPDATE: in strict mode it fails on a NOT NULL column
 * without a default that the update does not set, and it could match another unique key.
 * https://mariadb.com/kb/en/update/#multiple-table-syntax
 */
import { type BulkWriter, type DbClient, queryArrays } from '../../core/dialect.ts';
import { type ColumnSchema, columnByName, type TableSchema } from '../../core/schema.ts';
import { tableRef } from '../../core/table-ref.ts';
import { multiRowBulk } from '../multirow-bulk.ts';
import type { LoadResult } from './mysql-driver.ts';
import { loadDataText } from './mysql-load-text.ts';
import { MysqlExactNumber, mysqlParam, mysqlSql } from './mysql-sql.ts';

const sql = mysqlSql;

/** `SELECT ? AS a, ? AS b UNION ALL SELECT ?, ? …`: `rowCount` rows of the named columns. */
function derivedRows(names: string[], rowCount: number): string {
  const first = `SELECT ${names.map((n) => `? AS ${sql.ident(n)}`).join(', ')}`;
  const rest = ` UNION ALL SELECT ${names.map(() => '?').join(', ')}`;
  return first + rest.repeat(rowCount - 1);
}

const keyMatch = (table: TableSchema) => table.primaryKey.map((k) => `d.${sql.ident(k)} = s.${sql.ident(k)}`).join(' AND ');

const multiRow = multiRowBulk({
  sql,
  maxParameters: 65535,
  maxRows: 2000,
  toParam: mysqlParam,
  updateFrom(table, set, rowCount) {
    const rows = derivedRows([...table.primaryKey, ...set], rowCount);
    const assign = set.map((c) => `d.${sql.ident(c)} = s.${sql.ident(c)}`).join(', ');
    return `UPDATE ${tableRef(sql, table)} AS d JOIN (${rows}) AS s ON ${keyMatch(table)} SET ${assign}`;
  },
  onDuplicate(columns, key) {
    const set = columns.filter((c) => !key.includes(c)).map((c) => `${sql.ident(c)} = VALUES(${sql.ident(c)})`);
    return `ON DUPLICATE KEY UPDATE ${set.join(', ')}`;
  },
  deleteComposite(table, rowCount) {
    return `DELETE d FROM ${tableRef(sql, table)} AS d JOIN (${derivedRows(table.primaryKey, rowCount)}) AS s ON ${keyMatch(table)}`;
  },
});

/** A connection that can LOAD DATA LOCAL (MysqlClient; a wrapper such as the bench's tracer may not). */
interface LoadClient extends DbClient {
  readonly inTransaction: boolean;
  loadData(sql: string, data: Iterable<string | Buffer>): Promise<LoadResult | null>;
}

const canLoad = (tx: DbClient): tx is LoadClient => typeof (tx as Partial<LoadClient>).loadData === 'function';

/** Below this many rows one INSERT is as few round trips as LOAD DATA with its savepoint. */
const LOAD_MIN_ROWS = 64;
/** Rows per piece of the file: a piece is a packet, made while the server reads the previous ones. */
const LOAD_PIECE_ROWS = 500;

/** What a field of the file can hold as text, read as an INSERT would read it; anything else (bytes) goes by INSERT. */
const loadable = (v: unknown) =>
  v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || v instanceof MysqlExactNumber;

const LOAD_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };
const escapeLoad = (c: string) => LOAD_ESCAPES[c];

/**
 * One field in LOAD DATA's default format (fields by tab, lines by newline, escapes by
 * backslash): `\N` for NULL, the characters that end a field or line escaped. A number is
 * its shortest round-trip text, as mysql2 writes it into an INSERT.
 */
function loadField(value: unknown): string {
  if (value === null) return '\\N';
  if (typeof value === 'string') return /[\\\t\n\r\0]/.test(value) ? value.replace(/[\\\t\n\r\0]/g, escapeLoad) : value;
  if (value instanceof MysqlExactNumber) return value.text;
  return String(value);
}

/**
 * The lines of the file, one per row, each made as its row's values are: the fields in a
 * reused array joined once, so that a row is one flat string, not a chain of pieces (the
 * import's LOAD text was a sixth of its garbage that way, docs/performance.md). `field(r, i)`
 * is row r's value of column i, driver-ready; null when one is not loadable (the caller
 * then INSERTs).
 */
function loadLines(rowCount: number, width: number, field: (r: number, i: number) => unknown): string[] | null {
  const lines = new Array<string>(rowCount);
  const fields = new Array<string>(width);
  for (let r = 0; r < rowCount; r++) {
    for (let i = 0; i < width; i++) {
      const value = field(r, i);
      if (!loadable(value)) return null;
      fields[i] = loadField(value);
    }
    lines[r] = fields.join('\t');
  }
  return lines;
}

/** The file in pieces of LOAD_PIECE_ROWS lines, each line ended by a newline. */
function* loadText(lines: readonly string[]): Generator<string> {
  for (let start = 0; start < lines.length; start += LOAD_PIECE_ROWS) {
    const piece = lines.slice(start, start + LOAD_PIECE_ROWS);
    piece.push('');
    yield piece.join('\n');
  }
}

/** Thrown inside the savepoint to undo a LOAD DATA that skipped or bent a row. */
class LoadNotClean extends Error {}

/** LOAD DATA LOCAL of `columns` into `into` (a quoted table name), in the default format: FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'. */
const loadStatement = (into: string, columns: readonly string[], replace = false) =>
  `LOAD DATA LOCAL INFILE 'dsync-rows'${replace ? ' REPLACE' : ''} INTO TABLE ${into} CHARACTER SET utf8mb4 (${columns.map((c) => sql.ident(c)).join(', ')})`;

/** A load's result: false when the connection could not load (null), LoadNotClean when it skipped, bent or lost a row of `expected`. */
function loadedClean(result: Awaited<ReturnType<LoadClient['loadData']>>, expected: number): boolean {
  if (result === null) return false;
  if (result.warnings > 0 || result.skipped !== 0 || result.records !== expected) throw new LoadNotClean();
  return true;
}

/**
 * The rows by LOAD DATA LOCAL into `into` (a quoted table name), in a savepoint: true
 * when every row went in as it is (no warning: LOCAL makes a duplicate, a value too long
 * or a bad date a warning and writes or skips the row anyway). Otherwise nothing stays
 * written and false says to INSERT them, which skips duplicates or fails as asked.
 * https://mariadb.com/kb/en/load-data-infile/#duplicate-unique-key-handling
 */
async function loadRows(
  tx: LoadClient,
  into: string,
  columns: readonly string[],
  lines: readonly string[] | null,
  replace = false,
): Promise<boolean> {
  // Outside a transaction the savepoint would be a transaction of its own: INSERT, as asked.
  if (!tx.inTransaction || lines === null) return false;
  try {
    return await tx.transaction(async (sp) =>
      loadedClean(await (sp as LoadClient).loadData(loadStatement(into, columns, replace), loadText(lines)), lines.length),
    );
  } catch (error) {
    if (error instanceof LoadNotClean) return false;
    throw error;
  }
}

/**
 * `rows` lines of COPY text (the transport's, mysql-load-text.ts) by LOAD DATA LOCAL into the
 * system table `table`, in a transaction of `client` after the fence read where the table has a
 * fence trigger: true when every line went in as it is, else nothing stays written (loadRows'
 * statement and checks, in a transaction of its own instead of the caller's savepoint).
 */
async function loadCopyText(
  client: LoadClient,
  table: string,
  columns: readonly string[],
  text: readonly Buffer[],
  rows: number,
): Promise<boolean> {
  try {
    return await client.transaction(async (tx) => {
      if (FENCED_TABLES.has(table)) await fenceTransaction(tx);
      return loadedClean(await (tx as LoadClient).loadData(loadStatement(sql.ident(table), columns), loadDataText(text)), rows);
    });
  } catch (error) {
    if (error instanceof LoadNotClean) return false;
    throw error;
  }
}

/**
 * Tables whose rows may go by LOAD DATA. Not the outbox: the application's capture
 * triggers write it, and LOAD DATA holds the table's AUTO-INC lock for the whole statement
 * (innodb_autoinc_lock_mode 1, MariaDB's default), where a multi-row INSERT takes it only
 * while it counts its ids. The inbox has an AUTO_INCREMENT id too, but only transports write it.
 * https://mariadb.com/kb/en/auto_increment-handling-in-innodb/
 */
const LOAD_SYSTEM_TABLES = new Set(['ds_change_inbox', 'ds_row_version']);

/**
 * A synchronized table whose new rows may go by LOAD DATA: none of its columns is
 * AUTO_INCREMENT (the lock above, which the application's inserts would wait for), nor a
 * BIT (LOAD DATA reads a field into a BIT column as bytes: '5' would be 0x35, without a warning).
 * https://mariadb.com/kb/en/load-data-infile/#description
 */
const loadableTable = (table: TableSchema) => table.columns.every((c) => !c.identity && !/^bit\b/i.test(c.nativeType));

/** The scratch table of a set-wise UPDATE (a temporary table: one per session, dropped after each use). */
const UPDATE_ROWS = sql.ident('ds_update_rows');
/** CREATE TEMPORARY TABLE refused inside a transaction (MySQL with enforce_gtid_consistency): the derived table then. */
const ER_GTID_UNSAFE_TEMPORARY = new Set([1786, 1787]);

/**
 * The rows' keys and new values by LOAD DATA into a temporary table with the target's
 * column types and its key as primary key, then one `UPDATE … JOIN` of it: per 20,000 rows
 * about a third less of the server's work than the derived table of `SELECT ? … UNION ALL`
 * blocks (docs/performance.md). A temporary table's CREATE and DROP do not end the transaction.
 * False when LOAD DATA would bend a value or the server refuses: the caller updates from
 * the derived table, which fails as it should.
 * https://mariadb.com/kb/en/create-table/#create-select
 */
async function updateByLoad(tx: LoadClient, table: TableSchema, columns: readonly string[], lines: readonly string[]): Promise<boolean> {
  const names = [...table.primaryKey, ...columns].map((n) => sql.ident(n));
  const target = tableRef(sql, table);
  await tx.query(`DROP TEMPORARY TABLE IF EXISTS ${UPDATE_ROWS}`);
  try {
    await tx.query(
      `CREATE TEMPORARY TABLE ${UPDATE_ROWS} (PRIMARY KEY (${names.slice(0, table.primaryKey.length).join(', ')})) ENGINE = InnoDB SELECT ${names.join(', ')} FROM ${target} LIMIT 0`,
    );
  } catch (error) {
    if (ER_GTID_UNSAFE_TEMPORARY.has((error as { errno?: number }).errno ?? 0)) return false;
    throw error;
  }
  try {
    if (!(await loadRows(tx, UPDATE_ROWS, [...table.primaryKey, ...columns], lines))) return false;
    const assign = columns.map((c) => `d.${sql.ident(c)} = s.${sql.ident(c)}`).join(', ');
    const { rowCount } = await tx.query(`UPDATE ${target} AS d JOIN ${UPDATE_ROWS} AS s ON ${keyMatch(table)} SET ${assign}`);
    if (rowCount !== lines.length) throw new Error(`bulk update of ${table.name} matched ${rowCount} of ${lines.length} rows`);
    return true;
  } finally {
    // After a deadlock the transaction is gone and this fails too: the next use drops it first.
    await tx.query(`DROP TEMPORARY TABLE IF EXISTS ${UPDATE_ROWS}`).catch(() => undefined);
  }
}

/** A connection that says whether its server reads `VALUES (…), (…)` as a table (MysqlClient). */
interface TableValuesClient extends DbClient {
  readonly tableValues: boolean;
}

const hasTableValues = (tx: DbClient): tx is TableValuesClient => (tx as Partial<TableValuesClient>).tableValues === true;

/**
 * selectByKeys on MariaDB: one statement, the keys as a table value constructor joined to
 * the table, the keys first (STRAIGHT_JOIN): each key is one look-up of the primary key,
 * in key order (sorted here, as the IN list's range scan goes), so the two lock in the same
 * order. The keys compare in the column's collation (a literal yields to a column). For
 * 10,000 keys of 110,000 entries of ds_row_version, the server's CPU for the IN list 70–110 ms,
 * for this 30–60 ms (docs/performance.md). What it locks, as the IN list's look-ups do under
 * REPEATABLE READ: each row found (FOR UPDATE), and for a key not found the gap before the
 * next row, so an insert of that key waits (mysql-locked-read.test.ts).
 * https://mariadb.com/kb/en/table-value-constructors/
 * https://mariadb.com/kb/en/innodb-lock-modes/#gap-locks
 */
async function selectByTableValues(tx: DbClient, read: Parameters<NonNullable<BulkWriter['selectByKeys']>>[1]): Promise<unknown[][]> {
  const key = sql.ident(read.keyColumn);
  const keys = [...read.keys].sort();
  return queryArrays(
    tx,
    `WITH k (${key}) AS (VALUES ${keys.map(() => '(?)').join(', ')}) SELECT STRAIGHT_JOIN ${read.columns.map((c) => `v.${sql.ident(c)}`).join(', ')} FROM k JOIN ${sql.ident(read.table)} AS v ON v.${sql.ident(read.fixed.column)} = ? AND v.${key} = k.${key}${read.lock ? ' FOR UPDATE' : ''}`,
    [...keys, read.fixed.value],
    read.columns,
  );
}

/** A connection that keeps user variables for its transaction (MysqlClient). */
interface FenceClient extends DbClient {
  readonly inTransaction: boolean;
  transactionVariable(name: string): unknown;
  setTransactionVariables(values: Record<string, unknown>): Promise<void>;
}

const canFence = (tx: DbClient): tx is FenceClient => typeof (tx as Partial<FenceClient>).transactionVariable === 'function';

/** The tables whose BEFORE INSERT trigger reads ds_change_fence for each row unless @dsync_fenced is set. */
const FENCED_TABLES = new Set(['ds_change_outbox', 'ds_change_inbox']);

/**
 * Reads ds_change_fence once for the transaction, as the outbox's and inbox's fence
 * triggers would for each row, and says so in @dsync_fenced: the triggers (upgrade step
 * 17) then skip their read. The read lists the transaction in INNODB_TRX before it holds
 * an id (readSafeHorizon, mysql-dialect.ts). The driver clears the variable when the
 * transaction ends and restores it when a savepoint taken before it is rolled back,
 * so it never speaks for a transaction that did not read. Outside a transaction the
 * triggers read as before.
 */
async function fenceTransaction(tx: DbClient): Promise<void> {
  if (!canFence(tx) || !tx.inTransaction || tx.transactionVariable('dsync_fenced') !== undefined) return;
  await tx.query('SELECT COUNT(*) AS n FROM ds_change_fence WHERE id = 1 LOCK IN SHARE MODE');
  await tx.setTransactionVariables({ dsync_fenced: 1 });
}

export const mysqlBulk: BulkWriter = {
  ...multiRow,
  /**
   * The transport's COPY text by LOAD DATA LOCAL (mysql-load-text.ts), in a transaction of its
   * own: a resent change (LOCAL skips a duplicate with a warning), a bent value or a refusal of
   * local files leaves nothing written, and the caller writes the rows by insertRows.
   */
  async insertCopyText(client, table, columns, text, rows) {
    if (rows < LOAD_MIN_ROWS || !LOAD_SYSTEM_TABLES.has(table) || !canLoad(client)) return false;
    return loadCopyText(client, table, columns, text, rows);
  },

  async insertRows(tx, table, columns, rows, ignoreDuplicates) {
    if (FENCED_TABLES.has(table)) await fenceTransaction(tx);
    if (
      rows.length >= LOAD_MIN_ROWS &&
      LOAD_SYSTEM_TABLES.has(table) &&
      canLoad(tx) &&
      (await loadRows(
        tx,
        sql.ident(table),
        columns,
        loadLines(rows.length, columns.length, (r, i) => rows[r][i]),
      ))
    )
      return;
    await multiRow.insertRows(tx, table, columns, rows, ignoreDuplicates);
  },

  /**
   * REPLACE of a row whose primary key exists is an update in place when the table has no
   * other unique key, no foreign key and no delete trigger (the version store): every
   * column is given, so it is the upsert's write.
   * https://mariadb.com/kb/en/replace/
   */
  async upsertRows(tx, table, columns, key, rows) {
    if (
      rows.length >= LOAD_MIN_ROWS &&
      LOAD_SYSTEM_TABLES.has(table) &&
      canLoad(tx) &&
      (await loadRows(
        tx,
        sql.ident(table),
        columns,
        loadLines(rows.length, columns.length, (r, i) => rows[r][i]),
        true,
      ))
    )
      return;
    await multiRow.upsertRows!(tx, table, columns, key, rows);
  },

  async updateTableRows(tx, table, columns, rows) {
    if (rows.length >= LOAD_MIN_ROWS && canLoad(tx) && tx.inTransaction) {
      const keys = table.primaryKey.map((n) => columnByName(table, n));
      const set = columns.map((n) => columnByName(table, n));
      // An unknown or generated column, a BIT (see loadableTable), a missing key value: the derived table's path.
      if (
        [...keys, ...set].every((c): c is ColumnSchema => c !== undefined && !c.generated && !/^bit\b/i.test(c.nativeType)) &&
        rows.every((r) => keys.every((k) => r.key[k!.name] !== undefined && r.key[k!.name] !== null))
      ) {
        const n = keys.length;
        const lines = loadLines(rows.length, n + set.length, (r, i) =>
          i < n ? mysqlParam(keys[i]!, rows[r].key[keys[i]!.name]) : mysqlParam(set[i - n]!, rows[r].values[set[i - n]!.name]),
        );
        if (lines !== null && (await updateByLoad(tx, table, columns, lines))) return;
      }
    }
    await multiRow.updateTableRows(tx, table, columns, rows);
  },

  async selectByKeys(tx, read) {
    // Below 64 keys the IN list: the latency path, where the server's work is small either way.
    if (read.keys.length < 64 || !hasTableValues(tx)) return undefined;
    return selectByTableValues(tx, read);
  },

  async insertTableRows(tx, table, rows) {
    if (rows.length >= LOAD_MIN_ROWS && loadableTable(table) && canLoad(tx)) {
      const names = Object.keys(rows[0]);
      const columns = names.map((n) => columnByName(table, n));
      // An unknown or generated column: the INSERT path names the error.
      if (columns.every((c): c is ColumnSchema => c !== undefined && !c.generated)) {
        const lines = loadLines(rows.length, columns.length, (r, i) => mysqlParam(columns[i], rows[r][columns[i].name]));
        if (await loadRows(tx, tableRef(sql, table), names, lines)) return;
      }
    }
    await multiRow.insertTableRows(tx, table, rows);
  },
};
