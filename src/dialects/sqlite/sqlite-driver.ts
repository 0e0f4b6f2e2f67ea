/**
 * SQLite connection on better-sqlite3 (12.x: 13 crashes on Node 20), behind the async
 * DbClient port. Loaded only when a sqlite node is used. better-sqlite3 is synchronous;
 * the port's promises simply wrap its calls.
 * Settings: https://www.sqlite.org/pragma.html, https://www.sqlite.org/wal.html
 */
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { ConnectionError } from '../../core/errors.ts';
import { type ConnectProblem, explainConnectError as explainCommon } from '../../core/connect-error.ts';
import type { DbClient, Dialect, QueryResult, Row } from '../../core/dialect.ts';
import { runTransaction, savepointName, type TransactionPrimitives } from '../../core/transaction.ts';

/** Statements kept prepared per connection; the runtime uses a few dozen distinct texts. */
const STATEMENT_CACHE_SIZE = 200;

/** A prepared statement and, for a reader, its result's column names (rows are built from raw arrays). */
interface Prepared {
  statement: BetterSqlite3.Statement;
  columns: string[] | null;
}

/** State shared by a connection and the transaction clients made from it. */
interface Connection {
  db: BetterSqlite3.Database;
  statements: Map<string, Prepared>;
  savepoints: number;
  /** Set when ds_sync_state was written (origin, silence): it is cleared before the transaction commits. */
  syncStateSet: boolean;
  /** The WAL's checkpoints, run by this connection (afterWrite); absent without a WAL (:memory:) or before SQLite 3.51 (its own then). */
  checkpoints?: WalCheckpoints;
}

/** WAL frames (pages) past which a checkpoint is due: SQLite's own default for its automatic checkpoint. */
const CHECKPOINT_FRAMES = 1000;
/** Past this many, a transaction's commit checkpoints at once instead of at the next idle moment. */
const CHECKPOINT_NOW_FRAMES = 10 * CHECKPOINT_FRAMES;

interface WalCheckpoints {
  /** `PRAGMA wal_checkpoint(NOOP)`, as arrays: [busy, the WAL's frames, how many of them are checkpointed]; nothing done. */
  readonly status: BetterSqlite3.Statement;
  readonly passive: BetterSqlite3.Statement;
  /** A checkpoint is waiting for the next idle moment. */
  due: boolean;
}

/** `PRAGMA wal_checkpoint(NOOP)` came in SQLite 3.51.0; an older one reads the unknown mode as PASSIVE. */
export const reportsCheckpoints = (version: string) => {
  const [major, minor] = version.split('.').map(Number);
  return major > 3 || (major === 3 && minor >= 51);
};

/**
 * The WAL's checkpoints on dsync's connections, which SQLite would run inside the commit that takes the WAL past
 * CHECKPOINT_FRAMES (wal_autocheckpoint, off here): a statement outside a transaction still checkpoints as it ends,
 * as SQLite would, but a transaction's commit leaves the checkpoint to the next turn of the event loop, so that it
 * runs while the process waits for a server (the transport's next batch, its pointer's save) rather than in the
 * batch's path; past CHECKPOINT_NOW_FRAMES (~40 MB of WAL, when no such moment came) the commit checkpoints at once.
 * A checkpoint copies the WAL's pages into the database file; it is PASSIVE (it waits for no reader or writer, and
 * copies what it can). Another process's connections keep their own automatic checkpoint. The commits of a
 * PostgreSQL → SQLite drain of 220,000 changes took 1.4–1.9 s with SQLite's, ~half of it the checkpoints
 * (docs/performance.md, "the twenty-fourth session"). https://www.sqlite.org/wal.html#automatic_checkpoint,
 * https://www.sqlite.org/pragma.html#pragma_wal_checkpoint
 */
function afterWrite(connection: Connection, committed: boolean): void {
  const checkpoints = connection.checkpoints;
  if (!checkpoints) return;
  const [, frames, copied] = checkpoints.status.get() as [unknown, unknown, unknown];
  const waiting = Number(frames) - Number(copied);
  if (waiting < CHECKPOINT_FRAMES) return;
  // Looked at whether or not one is due already: commits that follow each other without an idle moment between
  // them (an import pass into SQLite alone) still meet the bound.
  if (!committed || waiting >= CHECKPOINT_NOW_FRAMES) {
    checkpoint(checkpoints);
    return;
  }
  if (checkpoints.due) return;
  checkpoints.due = true;
  setImmediate(() => {
    checkpoints.due = false;
    // Inside a transaction the next commit looks again.
    if (connection.db.open && !connection.db.inTransaction) checkpoint(checkpoints);
  });
}

/**
 * One PASSIVE checkpoint, best-effort as SQLite's automatic one: the write before it has committed, so a checkpoint
 * that fails (a busy or failing file) must not report that write as failed; the next write looks again, and it
 * copies nothing that must be copied now.
 */
function checkpoint(checkpoints: WalCheckpoints): void {
  try {
    checkpoints.passive.get();
  } catch {}
}

const CLEAR_SYNC_STATE =
  'UPDATE ds_sync_state SET origin_server = NULL, origin_change_id = NULL, origin_user = NULL, origin_time = NULL, capture = NULL';

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Integers come back as bigint (safeIntegers) so that none beyond 2^53 is rounded; the
 * ones a double holds exactly become numbers again, so rows print and compare as
 * usual (JSON.stringify cannot write a bigint).
 */
function readValue(value: unknown): unknown {
  return typeof value === 'bigint' && value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

/**
 * better-sqlite3 binds numbers, bigints, strings, buffers and null. It binds every
 * number as a REAL, so a whole number goes as a bigint (an INTEGER): 42 into a TEXT
 * column is then '42', not '42.0'. Booleans are SQLite's 1/0.
 */
export function bindValue(value: unknown): unknown {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'boolean') return value ? 1n : 0n;
  return value === undefined ? null : value;
}

/**
 * `params` as better-sqlite3 binds them (bindValue), by a plain loop (a statement may carry
 * 30,000); copied only from the first value that bindValue changes, else `params` itself
 * (better-sqlite3 only reads it): toParam's values (bigints, strings, buffers) need no change.
 */
function bindValues(params: readonly unknown[]): readonly unknown[] {
  let values: unknown[] | null = null;
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    const bound = bindValue(value);
    if (values === null) {
      if (bound === value) continue;
      values = new Array<unknown>(params.length);
      for (let j = 0; j < i; j++) values[j] = params[j];
    }
    values[i] = bound;
  }
  return values ?? params;
}

/**
 * A raw result row as an object, the way better-sqlite3 makes one: a column named twice
 * keeps its last value, and a column named __proto__ is an own property.
 */
function toRow(columns: string[], values: unknown[]): Row {
  const row: Row = {};
  for (let i = 0; i < columns.length; i++) {
    const name = columns[i];
    if (name === '__proto__')
      Object.defineProperty(row, name, { value: readValue(values[i]), enumerable: true, writable: true, configurable: true });
    else row[name] = readValue(values[i]);
  }
  return row;
}

export class SqliteClient implements DbClient {
  constructor(
    readonly dialect: Dialect,
    private readonly connection: Connection,
    private readonly depth = 0,
  ) {}

  private prepare(sql: string): Prepared {
    const { statements, db } = this.connection;
    let prepared = statements.get(sql);
    if (prepared) {
      statements.delete(sql); // re-insert: the Map's order is the least recently used first
    } else {
      const statement = db.prepare(sql);
      // Readers return arrays: better-sqlite3 builds a row object property by property in
      // C++, about twice the time of the array and the object made here (docs/performance.md).
      prepared = {
        statement: statement.reader ? statement.raw(true) : statement,
        columns: statement.reader ? statement.columns().map((c) => c.name) : null,
      };
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
    }
    statements.set(sql, prepared);
    return prepared;
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const { statement, columns } = this.prepare(sql);
    const values = bindValues(params);
    if (columns) {
      const raw = statement.all(...values) as unknown[][];
      this.wrote(statement);
      const rows = new Array<T>(raw.length);
      for (let r = 0; r < raw.length; r++) rows[r] = toRow(columns, raw[r]) as T;
      return { rows, rowCount: rows.length };
    }
    const result = statement.run(...values);
    this.wrote(statement);
    return { rows: [], rowCount: Number(result.changes) };
  }

  /** Rows as better-sqlite3's raw arrays (a reader), without the object per row of `query`. */
  async queryArrays(sql: string, params: readonly unknown[] = []): Promise<unknown[][]> {
    const { statement, columns } = this.prepare(sql);
    const values = bindValues(params);
    if (columns) {
      const rows = statement.all(...values) as unknown[][];
      this.wrote(statement);
      return rows;
    }
    statement.run(...values);
    this.wrote(statement);
    return [];
  }

  /** A statement that writes, outside a transaction, has committed: the WAL's checkpoint is looked at (afterWrite). */
  private wrote(statement: BetterSqlite3.Statement): void {
    if (!statement.readonly && !this.connection.db.inTransaction) afterWrite(this.connection, false);
  }

  async exec(script: string): Promise<void> {
    this.connection.db.exec(script);
    if (!this.connection.db.inTransaction) afterWrite(this.connection, false);
  }

  /** True while this connection is inside a transaction (writing ds_sync_state needs one). */
  get inTransaction(): boolean {
    return this.connection.db.inTransaction;
  }

  /** ds_sync_state was written: the outermost commit clears it first. */
  markSyncStateSet(): void {
    this.connection.syncStateSet = true;
  }

  async transaction<T>(fn: (tx: DbClient) => Promise<T>): Promise<T> {
    const { connection } = this;
    const { db } = connection;
    const primitives: TransactionPrimitives = {
      // IMMEDIATE takes the write lock now: a deferred transaction that reads first and
      // writes later fails with SQLITE_BUSY instead of waiting (https://www.sqlite.org/lang_transaction.html).
      begin: async () => {
        db.exec('BEGIN IMMEDIATE');
        connection.syncStateSet = false;
      },
      commit: async () => {
        // PostgreSQL's set_config(..., true) ends with the transaction; this row must too:
        // committed, it would mislabel (or silence) every later local change.
        if (connection.syncStateSet) db.exec(CLEAR_SYNC_STATE);
        db.exec('COMMIT');
        afterWrite(connection, true);
      },
      // Some errors (SQLITE_FULL, SQLITE_IOERR) have rolled back already.
      rollback: async () => {
        if (db.inTransaction) db.exec('ROLLBACK');
      },
      savepoint: async (name) => {
        db.exec(`SAVEPOINT ${name}`);
      },
      release: async (name) => {
        db.exec(`RELEASE ${name}`);
      },
      // ROLLBACK TO keeps the savepoint open; RELEASE closes it.
      rollbackTo: async (name) => {
        if (db.inTransaction) db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      },
      end: async () => {
        connection.syncStateSet = false;
      },
    };
    return runTransaction(
      primitives,
      this.depth,
      () => savepointName(this.depth, ++connection.savepoints),
      () => fn(new SqliteClient(this.dialect, connection, this.depth + 1)),
    );
  }

  async close(): Promise<void> {
    if (this.connection.db.open) this.connection.db.close();
  }
}

export async function connectSqlite(dialect: Dialect, url: string, nodeName: string): Promise<DbClient> {
  const { default: Database } = await import('better-sqlite3');
  let db: BetterSqlite3.Database | undefined;
  let checkpoints: WalCheckpoints | undefined;
  try {
    db = new Database(url);
    db.defaultSafeIntegers(true);
    db.pragma('busy_timeout = 5000');
    // WAL lets readers (transport) run while the application writes; :memory: stays in memory mode.
    const wal = db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
    // Every commit on the disk before it returns: better-sqlite3 builds SQLite with WAL commits at NORMAL
    // (SQLITE_DEFAULT_WAL_SYNCHRONOUS=1), where a power loss can take back inbox rows whose source pointer has moved on.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Temporary tables and sort spills in memory, not in a temporary file: the import's server merge stages up to a
    // batch of changes there (sqlite-server-merge.ts), ~400 MB of file writes per 220,000 changes otherwise. Nothing
    // temporary is ever durable, so no guarantee depends on it (https://www.sqlite.org/pragma.html#pragma_temp_store).
    db.pragma('temp_store = MEMORY');
    // SQLite's own page cache of 2 MB, not the 16 MB better-sqlite3 builds in (SQLITE_DEFAULT_CACHE_SIZE=-16000):
    // an import into SQLite ran ~25 % faster with it and a drain peaked ~25 MB lower; the OS's file cache serves
    // what it misses (docs/performance.md, "the SQLite page cache"). https://www.sqlite.org/pragma.html#pragma_cache_size
    db.pragma('cache_size = -2000');
    if (wal && reportsCheckpoints(String(db.prepare('SELECT sqlite_version()').pluck().get()))) {
      // The WAL's checkpoints are run by afterWrite, not inside the commit of a batch.
      db.pragma('wal_autocheckpoint = 0');
      checkpoints = {
        status: db.prepare('PRAGMA wal_checkpoint(NOOP)').raw(true),
        passive: db.prepare('PRAGMA wal_checkpoint(PASSIVE)'),
        due: false,
      };
    }
    // A read-only file opens without complaint (even BEGIN IMMEDIATE passes) and fails at
    // the first write: write the header's user_version unchanged, and roll it back.
    if (url !== ':memory:' && url !== '') {
      const version = Number(db.pragma('user_version', { simple: true }));
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(`PRAGMA user_version = ${version}`);
      } finally {
        db.exec('ROLLBACK');
      }
    }
  } catch (error) {
    if (db?.open) db.close();
    throw explainConnectError(error, url, nodeName);
  }
  return new SqliteClient(dialect, { db, statements: new Map(), savepoints: 0, syncStateSet: false, checkpoints });
}

/** Result codes: https://www.sqlite.org/rescode.html */
function explainConnectError(error: unknown, path: string, nodeName: string): ConnectionError {
  const e = error as { code?: string; message?: string };
  const code = e.code ?? '';
  const problem: ConnectProblem = /directory does not exist/i.test(e.message ?? '')
    ? { message: `the directory of SQLite database ${path} does not exist`, hint: `create it (mkdir -p ${dirname(path)})` }
    : code === 'SQLITE_NOTADB'
      ? {
          message: `${path} is not an SQLite database`,
          hint: 'point the url at an SQLite file (a path that does not exist yet creates one)',
        }
      : code.startsWith('SQLITE_READONLY')
        ? {
            message: `SQLite database ${path} is read-only`,
            hint: 'give this user write access to the file and its directory (SQLite writes -wal and -shm files beside it)',
          }
        : code.startsWith('SQLITE_CANTOPEN')
          ? { message: `cannot open SQLite database ${path}`, hint: 'check that the path names a file in a writable directory' }
          : code.startsWith('SQLITE_BUSY')
            ? {
                message: `SQLite database ${path} stayed locked by another connection for 5 s`,
                hint: 'finish or stop the program holding a write transaction, then retry',
                fixUrl: false,
              }
            : { message: `cannot open SQLite database ${path}: ${e.message ?? String(error)}` };
  return explainCommon(error, { brand: 'SQLite', where: path, nodeName }, problem);
}
