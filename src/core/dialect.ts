/**
 * The port every database brand implements. The runtime, generator and migrator talk
 * only to these interfaces; engine differences are capability flags and methods here,
 * never `if (dialect === …)` elsewhere.
 */
import type { ChangeLogReader } from './change-log.ts';
import type { CanonicalValue } from './canonical.ts';
import type { ValueMap } from './change.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from './schema.ts';

export const DIALECT_NAMES = ['postgres', 'sqlite', 'mysql', 'mssql'] as const;
export type DialectName = (typeof DIALECT_NAMES)[number];

export type Row = Record<string, unknown>;

export interface QueryResult<T extends Row = Row> {
  rows: T[];
  /** Rows inserted, updated or deleted by a DML statement. */
  rowCount: number;
}

/** The small connection port (docs/library.md). One connection, not a pool. */
export interface DbClient {
  readonly dialect: Dialect;
  /** The server's id of this connection's session, where the brand has one (PostgreSQL: its backend's process id). */
  readonly sessionId?: number;
  /** One statement with bound parameters written as `dialect.sql.param(i)`. */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /**
   * The same as `query`, each row as an array of its values in the select list's order
   * (duplicate names kept): no object per row, which the import's reads of 10,000-row
   * batches pay for in time and garbage. Optional: `queryArrays` (below) falls back to
   * `query` where a driver has no array rows.
   */
  queryArrays?(sql: string, params?: readonly unknown[]): Promise<unknown[][]>;
  /** A script of statements without parameters (DDL); see Dialect.splitScript for statement-wise runs. */
  exec(script: string): Promise<void>;
  /**
   * Statements without parameters in one round trip, their results in order; absent where the
   * driver cannot. Each runs as it would sent alone after the one before (in a transaction, as
   * its next statements), except that outside a transaction they commit or fail together.
   * PostgreSQL: one simple query (in READ COMMITTED every statement takes a fresh snapshot).
   */
  queryMany?(statements: readonly string[]): Promise<QueryResult[]>;
  /**
   * Statements with bound parameters in one round trip, their results in order, each run as it
   * would sent alone after the one before; inside a transaction they go with its pending BEGIN
   * and deferred writes (defer), and the first failure loses the transaction. Absent where the
   * driver cannot pipeline. PostgreSQL: the extended protocol's pipelining, one Sync for all.
   */
  queryPipelined?(statements: ReadonlyArray<{ sql: string; params: readonly unknown[] }>): Promise<QueryResult[]>;
  /**
   * Inside a transaction, sends the write `sql` later instead of now: with the connection's next
   * statement, or with the COMMIT, in one round trip with its parameters bound. `rows`: the
   * number of rows it must touch, else it fails (on the server: a COMMIT sent after it does not
   * happen). Its failure is thrown by the statement (or commit) that carried it, and the
   * transaction is lost then: only work that is rolled back whole on any failure may defer (an
   * import batch's fast path). Absent where the driver cannot pipeline. PostgreSQL: the extended
   * protocol's pipelining, one Sync for all.
   */
  defer?(sql: string, params: readonly unknown[], rows?: number): void;
  /** Runs `fn` in a transaction; nested calls use a savepoint. Rolls back when `fn` throws. */
  transaction<T>(fn: (tx: DbClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** True once the connection is gone (killed, server restarted): the holder opens a new one. */
  readonly lost?: boolean;
}

export interface DialectCapabilities {
  /** DDL can run inside a transaction and roll back (PostgreSQL, SQLite, SQL Server; not MySQL). */
  transactionalDdl: boolean;
  /** A second connection can work while a first holds a write transaction (false for SQLite files under load). */
  concurrentWriters: boolean;
  /**
   * A locking read of a key that is not there locks the gap around it, so that another
   * transaction's insert of a neighbouring key waits (MySQL/MariaDB InnoDB under REPEATABLE
   * READ, its default). `dsync load` then writes one chunk at a time.
   */
  lockingReadLocksGaps?: boolean;
  /** Capture silenced in a transaction comes back on by itself when it ends (PostgreSQL: a transaction-local setting). */
  silenceEndsWithTransaction?: boolean;
  /**
   * The outbox's and inbox's BEFORE INSERT triggers make an inserting transaction visible to
   * the horizon before it takes an id (MySQL/MariaDB: a read of ds_change_fence); upgrade
   * step 17 lets a writer that did that once in its transaction skip it per row.
   */
  transactionFence?: boolean;
  /**
   * The outbox's and inbox's INSTEAD OF INSERT triggers write the inserted rows themselves (SQL Server's
   * fence); upgrade step 19 makes them copy the version columns of step 11 too.
   */
  insteadOfInsertFence?: boolean;
  /** Most bound parameters one statement may carry (SQL Server: 2100). Batches are sized to stay below it. */
  maxParameters: number;
  /**
   * Statements given to one connection without waiting for the one before go to the server in
   * the order given, each as soon as the one before it ended (PostgreSQL: node-pg's queue). An
   * import batch then builds its version entries' statement while the server runs its table
   * writes.
   */
  queuesStatements?: boolean;
}

/** Identifier and literal quoting, and the parameter placeholder. */
export interface DialectSql {
  ident(name: string): string;
  /** A possibly schema-qualified table name, e.g. `public.sales_order`. */
  table(name: string, schema?: string | null): string;
  literal(value: string | number | boolean | null): string;
  /** Placeholder for the 1-based parameter `index`. */
  param(index: number): string;
  /** Appended after ORDER BY to read at most `n` rows. */
  limit(n: number): string;
  /**
   * A multi-row INSERT of `rowCount` rows into `table` (columns in order, parameters
   * numbered row by row) that silently skips rows whose unique key already exists, and
   * fails on any other error. Used for the inbox, where a resent change is a no-op.
   */
  insertIgnoringDuplicates(table: string, columns: readonly string[], rowCount: number): string;
  /**
   * insertIgnoringDuplicates that returns the rows it inserted (not the skipped duplicates), their
   * `returning` columns as a SELECT of the table reads them (PostgreSQL: RETURNING). Absent where
   * the brand cannot: the daemon's transport then hands nothing to its import (transportOnce).
   */
  insertIgnoringDuplicatesReturning?(table: string, columns: readonly string[], rowCount: number, returning: readonly string[]): string;
  /**
   * Explicit values for an identity column: the text around an INSERT into `table` of
   * `columns` that lets them in (PostgreSQL `OVERRIDING SYSTEM VALUE` after the column
   * list for GENERATED ALWAYS; SQL Server `SET IDENTITY_INSERT … ON/OFF` around it).
   * Absent, or empty parts: the brand takes explicit values as they are.
   */
  identityInsert?(table: TableSchema, columns: readonly string[]): { before?: string; afterColumns?: string; after?: string };
  /** Appended to a SELECT that reads rows the transaction will write (` FOR UPDATE`); absent where the brand locks otherwise. */
  forUpdate?: string;
  /**
   * Two locked SELECTs (each with forUpdate) as one statement that locks in order, the
   * first's rows before the second's (PostgreSQL: MATERIALIZED CTEs read by a UNION ALL);
   * each result row says which read it came from in the boolean column `marker` (true: the
   * second), the other read's columns NULL. The import then reads its rows and their
   * version entries in one round trip. Absent where the brand cannot.
   */
  /**
   * An UPDATE and a one-value SELECT as one statement returning one row: `updated` (the rows
   * the UPDATE changed) and `probe` (the SELECT's value) (PostgreSQL: a writable CTE). One
   * round trip for a write and a probe. Absent where the brand cannot.
   */
  updateWithProbe?(update: string, probe: string): string;
  lockedReadsInOneStatement?(
    first: { sql: string; columns: readonly string[] },
    second: { sql: string; columns: ReadonlyArray<{ name: string; alias: string }> },
    marker: string,
  ): string;
  /**
   * The driver sends a transaction's BEGIN with its first statement when that statement has no
   * parameters (PostgreSQL: one simple query): a statement that opens a transaction on the
   * import's path spells its values as literals to save the round trip.
   */
  beginRidesFirstStatement?: boolean;
  /**
   * `expr` equal to one of the elements of the array parameter `param` (PostgreSQL `= ANY($n)`,
   * the array's type inferred by the server from `expr`; the driver sends a JS array): a long
   * key list as one parameter, which client and server handle faster than thousands of them
   * (docs/performance.md, "Issue 13, the PostgreSQL target's bulk import"). Absent where the brand has none.
   * `column`: the column `expr` reads, as introspected (its type decides the array's); absent for
   * the version store's row_key (text). The read must find each key by the index whatever the
   * table's size and statistics (docs/performance.md, "2026-12-01, branch scale").
   */
  inArray?(expr: string, param: string, column?: ColumnSchema): string;
  /**
   * A composite key's columns `exprs` equal, together, to the elements at one position of the
   * array parameters `params` (one array per column, in the same order; PostgreSQL: a semi-join
   * with `unnest` of them), or null where a column's type cannot go into an array as its values go
   * alone: the keys then stay a list of parameters. Found by the primary key's index as inArray's.
   */
  inArrays?(exprs: readonly string[], params: readonly string[], columns: readonly ColumnSchema[]): string | null;
  /**
   * A composite key's keys, where inArrays is absent or refuses them, go as one row-value list,
   * `(a, b) IN ((?, ?), …)`, not as ORs of ANDs: MariaDB reads the list as ranges of the primary
   * key, and 10,000 ORs ~40 times slower (docs/performance.md, "a composite key's batch read").
   */
  rowValueIn?: boolean;
  /** After the table name in such a SELECT, where the brand locks by table hint (SQL Server ` WITH (UPDLOCK, ROWLOCK)`). */
  lockHint?: string;
  /**
   * The select-list item that reads `column` exactly, named as the column; absent (the
   * quoted name) where the brand's plain read is exact. MySQL prints a FLOAT with 6 digits.
   */
  selectColumn?(column: ColumnSchema): string;
}

/**
 * Set-based writes, for brands that can take many rows in one statement cheaply
 * (PostgreSQL: json_populate_recordset). Without it, the runtime writes multi-row
 * INSERTs and one statement per updated or deleted row.
 */
export interface BulkWriter {
  /** Rows of driver-ready values into a table (inbox, outbox); duplicates of a unique key skipped when asked. */
  insertRows(tx: DbClient, table: string, columns: readonly string[], rows: unknown[][], ignoreDuplicates: boolean): Promise<void>;
  /**
   * Rows of driver-ready values into a system table whose unique key is `key`: a row whose
   * key exists replaces the other columns (one write instead of a delete and an insert).
   * Absent: the runtime deletes the keys and inserts.
   */
  upsertRows?(tx: DbClient, table: string, columns: readonly string[], key: readonly string[], rows: unknown[][]): Promise<void>;
  /**
   * Rows of driver-ready values, each naming an existing row of a system table by `key`: the
   * other columns of that row set to them. `families` gives each column's family (text, integer
   * or bigint). `fixed`: a key column with one value for every row, given once instead of in each
   * row (not among `columns` or `key`). Returns how many rows it matched; the caller writes the rows
   * it did not match another way. Absent, or undefined for a column it cannot type: the caller upserts.
   */
  updateRows?(
    tx: DbClient,
    table: string,
    columns: readonly string[],
    families: readonly TypeFamily[],
    key: readonly string[],
    rows: unknown[][],
    fixed?: { column: string; value: string },
  ): Promise<number | undefined>;
  /**
   * `rows` rows given as COPY text (PostgreSQL's text format: fields by tab, rows by newline,
   * backslash escapes, `\N` for NULL; whole rows per piece, UTF-8) into a system table whose
   * unique key must refuse duplicates, as one atomic write of its own (the caller holds no
   * transaction): the transport's batches read by COPY pass through without a value made per
   * field (runtime/transport/outbox-copy.ts). True when every row went in as it is. False when
   * nothing stays written: a row's unique key exists (a resend), the brand's load would bend a
   * value, the connection cannot, or the batch is too small to pay; the caller then makes values
   * and writes them by insertRows, which skips the duplicates (guarantee 3, docs/guarantees.md).
   * The pieces are not changed. Absent: the caller always makes values.
   */
  insertCopyText?(client: DbClient, table: string, columns: readonly string[], text: readonly Buffer[], rows: number): Promise<boolean>;
  /** Rows of canonical values into a synchronized table; every row has the same columns. */
  insertTableRows(tx: DbClient, table: TableSchema, rows: ValueMap[]): Promise<void>;
  /** Sets `columns` of the rows found by key; no key column is among `columns`. */
  updateTableRows(tx: DbClient, table: TableSchema, columns: string[], rows: Array<{ key: ValueMap; values: ValueMap }>): Promise<void>;
  deleteTableRows(tx: DbClient, table: TableSchema, keys: ValueMap[]): Promise<void>;
  /**
   * `SELECT columns FROM table WHERE fixed.column = fixed.value AND keyColumn IN (keys)` of a
   * system table whose primary key is (fixed.column, keyColumn), with forUpdate when `lock`,
   * for key lists the brand reads faster another way (MariaDB: the keys as a table value
   * constructor, joined). It must lock what the IN list locks: each row found, and where the
   * brand's locking reads lock gaps (lockingReadLocksGaps), the gap of each key not found,
   * so that another transaction's insert of that key waits. Each row an array of the values
   * of `columns`, in that order (no object per row: the import reads 10,000 at a time).
   * Undefined: not done here (few keys, the connection cannot); the caller reads by IN list.
   * Absent: always the IN list.
   */
  selectByKeys?(
    tx: DbClient,
    read: {
      table: string;
      columns: readonly string[];
      fixed: { column: string; value: string };
      keyColumn: string;
      keys: readonly string[];
      lock: boolean;
    },
  ): Promise<unknown[][] | undefined>;
}

/** What the import tells the node's triggers while it applies a change (guarantee 4, docs/guarantees.md). */
export interface OriginFlag {
  serverId: string;
  changeId: number;
  userId: string | null;
  updatedAt: string | null;
}

/**
 * How verify reads key ranges in the same order on every brand: numbers by value, text
 * by code point (a binary collation), so segments chosen on one side match the other.
 */
export interface KeyOrder {
  /** The key column's expression, compared and sorted in code-point order. */
  keyExpression(column: ColumnSchema): string;
}

/**
 * Applies, in `tx`, the changes of one table among the inbox rows with ids in (from, to] that the
 * merge planner (runtime/import/merge.ts) would apply with no conflict and no forwarded record, and
 * writes what the planner would write for them (rows and version-store entries); the others are
 * left untouched for the planner, and so are the rows `exclude` names (inbox ids: changes that wait
 * behind a parked change of their row). Capture must be silenced. Returns the inbox ids it applied, in
 * id order. Throws when a statement fails (a value it cannot read, a constraint): the caller rolls
 * back to a savepoint and leaves the batch to the planner. `supports` false: no change of the
 * table is ever taken (a column type whose values the server would not read as the client does).
 */
export interface ServerMerge {
  /**
   * Whether the import uses it unless `DSYNC_SERVER_MERGE` says `on` or `off`: true where the
   * server is dsync's own process (SQLite), so the merge only saves time; false where it moves the
   * work to another process and a batch may take longer for it (docs/performance.md, 2026-12-01).
   */
  readonly byDefault: boolean;
  supports(table: TableSchema): boolean;
  /**
   * `keepsVersions` false (a receive-only node, ImportContext.keepsVersions): decide as if no row had an entry, and write
   * none, as the planner does there; a brand without such a variant takes nothing.
   */
  apply(
    tx: DbClient,
    table: TableSchema,
    range: { from: number; to: number },
    exclude: readonly number[],
    keepsVersions: boolean,
  ): Promise<number[]>;
}

export interface Dialect {
  readonly name: DialectName;
  readonly capabilities: DialectCapabilities;
  readonly sql: DialectSql;
  /** Opens one connection. Throws ConnectionError naming `nodeName` and the fix; never the password. */
  connect(url: string, nodeName: string): Promise<DbClient>;
  /** Reads one table from the catalog. Throws IntrospectionError when it is missing or has no primary key. */
  introspect(client: DbClient, table: string): Promise<TableSchema>;
  /** True when the table (or view) exists. */
  tableExists(client: DbClient, table: string): Promise<boolean>;
  /**
   * The highest id of `table` (ds_change_outbox or ds_change_inbox) at or below which
   * every row is final: committed, or never to appear. Reading `pointer < id <= horizon`
   * never skips a row whose transaction commits later (guarantee 1, docs/guarantees.md).
   */
  readSafeHorizon(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number>;
  /**
   * readSafeHorizon and the first batch of the pointer loop (runtime/program-state.ts
   * pointerBatches) in one round trip: `select(after, upTo)` is the batch's SELECT with its
   * bounds as SQL expressions (which may be bound parameters: `select` binds none of its own),
   * read for (pointer, min(horizon, pointer + batchSize)]. The
   * read must not share the horizon's snapshot (a writer that commits between the two would
   * be skipped for good): the brand runs it as a statement of its own after the horizon's.
   * `rows` null: the batch was not read (a writer still runs, see readSafeHorizon), the caller
   * reads it. Absent where the brand cannot.
   */
  readSafeHorizonWithBatch?(
    client: DbClient,
    table: 'ds_change_outbox' | 'ds_change_inbox',
    select: (after: string, upTo: string) => string,
    pointer: number,
    batchSize: number,
  ): Promise<{ horizon: number; rows: Row[] | null }>;
  /**
   * The highest id `table`'s counter (sequence, AUTO_INCREMENT, sqlite_sequence) has
   * handed out, committed or not; 0 before the first. A program's pointer above it means
   * the counter went back (TRUNCATE, a restored backup): see checkPointer in
   * runtime/program-state.ts. Absent where the brand cannot tell.
   */
  readIdCounter?(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number>;
  /** The statement that makes `table`'s next id `value + 1` (shown in hints, never run by dsync). */
  moveIdCounterSql?(table: 'ds_change_outbox' | 'ds_change_inbox', value: number): string;
  /**
   * Throws RuntimeError `sequence_cached` (with the fix) when the counters of the
   * outbox or inbox can hand out ids in an order the safe horizon does not cover
   * (PostgreSQL: a sequence with CACHE > 1). Missing tables are not an error here.
   * `dsync apply` calls it; readSafeHorizon enforces the same rule.
   */
  checkIdCounters?(client: DbClient): Promise<void>;
  /**
   * Silences (or with false re-enables) the capture triggers for the rest of the current
   * transaction of `tx`. The import silences them and records each applied change in the
   * outbox itself, with its origin (guarantee 4, docs/guarantees.md), which lets it write rows set-wise.
   * `lazyCommit` (with silent): the transaction's commit need not wait until it is on disk,
   * where the brand lets one transaction say so (PostgreSQL's synchronous_commit); the
   * import's batch asks for it: it applies rows the inbox holds durably and moves its
   * pointer in the same transaction, so a crash that loses the commit loses the whole batch,
   * which the next pass applies again (docs/performance.md "Latency"). Others ignore it.
   */
  silenceCapture(tx: DbClient, silent: boolean, options?: { lazyCommit?: boolean }): Promise<void>;
  /**
   * The statement silenceCapture(tx, true, options) sends, without parameters, for a message
   * of several statements (DbClient.queryMany): the import sends it with its batch's first
   * statements. Absent where silencing is more than one statement or needs parameters.
   */
  silenceCaptureStatement?(options?: { lazyCommit?: boolean }): string;
  /**
   * Lazy commits for the connections of a daemon's direct transport (NodeSet's `lazyCommits`):
   * `relax` makes a connection's commits stop waiting for the disk; `flush` returns once every
   * commit it made is on disk. The transport flushes the destination after writing its inbox
   * and before moving its pointer, so the import is woken without waiting for the disk, and a
   * crash of the destination before the flush leaves the pointer where the rows are sent
   * again (docs/performance.md "Latency"). Absent: commits wait for the disk as usual.
   */
  lazyCommits?: { relax(client: DbClient): Promise<void>; flush(client: DbClient): Promise<void> };
  /** The key as this brand's capture triggers spell it in object_id (so the view groups one record once). */
  keyJson(table: TableSchema, key: ValueMap): string;
  /**
   * Change notifications (PostgreSQL LISTEN/NOTIFY): calls `onChange` soon after a
   * transaction that wrote the outbox or the inbox commits, once per transaction. Its
   * own connection; `close` ends it. Absent: the daemon polls a cheap marker (the
   * table's highest id) instead. Present: `dsync generate` adds the objects that notify.
   * `session`: the committing session, where the brand says (DbClient.sessionId).
   */
  listenForChanges?(
    url: string,
    nodeName: string,
    onChange: (table: 'outbox' | 'inbox', session?: number) => void,
  ): Promise<{ close(): Promise<void> }>;
  /**
   * Capture mode log (docs/capture-modes.md#log): the brand's change log can be read
   * instead of triggers. Present: `dsync generate` adds the state tables and, for a node
   * with log-mode tables, the publication; the pass is runtime/capture/log-capture.ts.
   */
  readonly changeLog?: ChangeLogReader;
  /** Set-based writes, when the brand has a cheap form of them. */
  readonly bulk?: BulkWriter;
  /**
   * The import's common case merged by the server from the inbox rows it holds
   * (runtime/import/server-merge.ts, docs/performance.md): absent, the planner merges every change.
   */
  readonly serverMerge?: ServerMerge;
  /**
   * How to read `table` in code-point key order. A text key whose column already sorts
   * that way is used as it is (the primary-key index serves each range); any other gets
   * an explicit binary collation.
   */
  keyOrder(client: DbClient, table: TableSchema): Promise<KeyOrder>;
  /** A canonical value as a bound parameter for `column` of this brand. Throws ChangeError when it cannot hold it. */
  toParam(column: ColumnSchema, value: CanonicalValue): unknown;
  /** A value as the driver returned it, in canonical encoding. */
  fromDriver(column: ColumnSchema, raw: unknown): CanonicalValue;
  /** Splits a generated script into statements (dollar quotes, trigger bodies and GO lines understood). */
  splitScript(script: string): string[];
  /**
   * Ends each statement of a generated file: `;` by default, a `GO` line on SQL Server
   * (batches). A function returns the statement ended, when that depends on the statement:
   * MySQL wraps a compound trigger body (`BEGIN … END`, `;` inside) in `DELIMITER` lines.
   */
  readonly statementEnd?: string | ((statement: string) => string);
  /**
   * True when `error` (or one of its causes) is transient for this brand: a deadlock,
   * serialization failure, lock or statement timeout, lost connection or full disk. The
   * import rolls the batch back and tries again instead of parking a good change.
   * Decided by SQLSTATE / errno / result code, never by message text.
   */
  isTransient(error: unknown): boolean;
  /**
   * True when `error` (or one of its causes) is a write refused on a primary or unique key that
   * another row holds. In the import's slow path such a change is planned again on a fresh read
   * before it is parked: a local writer that inserted the row between the import's read and its
   * write (PostgreSQL locks no absent key) is a race, not bad data (import.ts KEY_COLLISION_ATTEMPTS).
   */
  isKeyCollision(error: unknown): boolean;
  /** Handlebars helpers for this brand's templates, beyond `ident` and `lit`. */
  readonly templateHelpers: Record<string, (...args: any[]) => unknown>;
  /** Turns a plain formatted statement through sql-formatter's language for this brand; null when the brand's objects are not formatted. */
  readonly formatterLanguage: string | null;
}

/**
 * Rows as arrays of the values of `columns`, in that order: through the driver's array
 * rows where it has them (DbClient.queryArrays; `columns` must then be the select list's
 * names, in order), else from `query`'s row objects.
 */
export async function queryArrays(
  client: DbClient,
  sql: string,
  params: readonly unknown[],
  columns: readonly string[],
): Promise<unknown[][]> {
  if (client.queryArrays) return client.queryArrays(sql, params);
  const { rows } = await client.query<Row>(sql, params);
  const out = new Array<unknown[]>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    const values = new Array<unknown>(columns.length);
    for (let i = 0; i < columns.length; i++) values[i] = row[columns[i]];
    out[r] = values;
  }
  return out;
}
