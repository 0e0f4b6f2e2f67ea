/**
 * MySQL 8 / MariaDB connection on `mysql2`, behind the DbClient port. Loaded only when a
 * mysql node is used. One connection, not a pool: the origin flag lives in session
 * variables and the horizon read needs its own transaction to stay on one session.
 */
import { Readable } from 'node:stream';
import type { Connection, ConnectionOptions, ResultSetHeader } from 'mysql2/promise';
import type { DbClient, Dialect, QueryResult, Row } from '../../core/dialect.ts';
import { runTransaction, savepointName, type TransactionPrimitives } from '../../core/transaction.ts';
import { type ConnectionError, redactUrl } from '../../core/errors.ts';
import {
  badUrl,
  type ConnectProblem,
  type ConnectTarget,
  explainConnectError as explainCommon,
  fixUrlHint,
  noSuchDatabase,
  unreachable,
  UNREACHABLE_CODES,
} from '../../core/connect-error.ts';

/**
 * Pinned for every session whatever the server's defaults:
 * - STRICT_ALL_TABLES: a too-long or out-of-range value is an error, never truncated;
 * - NO_AUTO_VALUE_ON_ZERO: an id 0 coming from another node stays 0 (as in mysqldump);
 * - NO_BACKSLASH_ESCAPES stays off, because mysql2 escapes parameters with backslashes.
 * Triggers keep the sql_mode they were created with, so capture runs strict too.
 * https://dev.mysql.com/doc/refman/8.0/en/sql-mode.html
 */
export const SESSION_SQL_MODE =
  'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO';

// Server error numbers we explain or act on (https://mariadb.com/kb/en/mariadb-error-code-reference/).
const ER_DBACCESS_DENIED = 1044;
const ER_ACCESS_DENIED = 1045;
const ER_BAD_DB = 1049;
const ER_HOST_NOT_PRIVILEGED = 1130;
const ER_LOCK_DEADLOCK = 1213;
/** LOAD DATA LOCAL refused: by the server (local_infile off; MariaDB, MySQL 5.7) or as MySQL 8 says it. */
const ER_NOT_ALLOWED_COMMAND = 1148;
const ER_CLIENT_LOCAL_FILES_DISABLED = 3948;

/** URL query parameters passed to mysql2; anything else is a config error rather than silently ignored. */
const URL_OPTIONS = ['ssl', 'socketPath', 'connectTimeout'] as const;

/** What the clients of one connection share. */
interface Session {
  conn: Connection;
  /** User variables set for the current transaction (origin flag, capture switch): cleared when it ends. */
  variables: Map<string, unknown>;
  /** LOCK TABLES is in effect (capture files): released if a later statement fails. */
  tablesLocked: boolean;
  /** The server rolled the whole transaction back (deadlock): later statements of it must fail too. */
  aborted: unknown;
  /** The connection failed or ended (killed, server gone): the holder opens a new one. */
  lost: boolean;
  /** The server refused LOAD DATA LOCAL once: not tried again on this connection. */
  localInfileRefused: boolean;
  /** The server reads `VALUES (…), (…)` as a table (MariaDB 10.3.3+; MySQL spells it `VALUES ROW(…)`). */
  tableValues: boolean;
}

/** What LOAD DATA reports: the lines it read, and its warnings (each a value bent or a row skipped). */
export interface LoadResult {
  /** Lines of the file read (the server's "Records: n"); a replaced row counts once. */
  records: number;
  /** Lines not written (a duplicate without REPLACE). */
  skipped: number;
  warnings: number;
}

export class MysqlClient implements DbClient {
  private savepoints = 0;

  constructor(
    readonly dialect: Dialect,
    private readonly session: Session,
    private readonly depth = 0,
  ) {}

  /**
   * Sets user variables (`@name`) for the rest of the current transaction, the way
   * PostgreSQL's set_config(..., true) works: a savepoint rolled back restores them, and
   * the end of the transaction clears them. A user variable itself outlives both.
   * https://dev.mysql.com/doc/refman/8.0/en/user-variables.html
   */
  async setTransactionVariables(values: Record<string, unknown>): Promise<void> {
    const names = Object.keys(values);
    if (names.length === 0) return;
    if (!names.every((n) => /^[a-z_]+$/.test(n))) throw new Error(`not a dsync variable name: ${names.join(', ')}`);
    await this.run(`SET ${names.map((n) => `@${n} = ?`).join(', ')}`, Object.values(values));
    for (const n of names) {
      if (values[n] === null) this.session.variables.delete(n);
      else this.session.variables.set(n, values[n]);
    }
  }

  /** A variable set by setTransactionVariables for the current transaction (undefined when not set or cleared). */
  transactionVariable(name: string): unknown {
    return this.depth > 0 ? this.session.variables.get(name) : undefined;
  }

  /** Puts the variables back as `saved` holds them (NULL for those it lacks). */
  private async restoreVariables(saved: Map<string, unknown>): Promise<void> {
    const names = new Set([...saved.keys(), ...this.session.variables.keys()]);
    if (names.size === 0) return;
    await this.session.conn.query(
      `SET ${[...names].map((n) => `@${n} = ?`).join(', ')}`,
      [...names].map((n) => saved.get(n) ?? null),
    );
    this.session.variables = new Map(saved);
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const [result] = await this.run(sql, params);
    if (Array.isArray(result)) return { rows: result as T[], rowCount: result.length };
    const header = result as ResultSetHeader;
    // FOUND_ROWS is off so that a skipped duplicate counts 0; an UPDATE still reports the
    // rows it matched, like the other brands, read from the server's info text.
    const matched = /Rows matched: (\d+)/.exec(header.info ?? '');
    return { rows: [], rowCount: matched ? Number(matched[1]) : header.affectedRows };
  }

  /**
   * Rows as arrays (mysql2's `rowsAsArray`): no object per row, for the import's reads of
   * 10,000-row batches (the inbox).
   * https://sidorares.github.io/node-mysql2/docs/examples/queries/simple-queries#rowsasarray
   */
  async queryArrays(sql: string, params: readonly unknown[] = []): Promise<unknown[][]> {
    const [result] = await this.run(sql, params, undefined, true);
    return result as unknown as unknown[][];
  }

  /**
   * The server reads `VALUES (…), (…)` as a table (a table value constructor): MariaDB
   * 10.3.3 and later. https://mariadb.com/kb/en/table-value-constructors/
   */
  get tableValues(): boolean {
    return this.session.tableValues;
  }

  /** True inside a transaction of this client (a savepoint can be taken). */
  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /**
   * `LOAD DATA LOCAL INFILE …` with `data` as the file (text, or bytes sent as they are), sent
   * piece by piece as it is made (mysql2's infileStreamFactory: the file name in `sql` is never
   * opened). Only inside a transaction: LOCAL turns every error (a duplicate key, a value too
   * long) into a warning and a skipped or bent row, so the caller checks the result and rolls
   * back (its savepoint or transaction). Null when local files are refused (local_infile off):
   * remembered, and the caller writes by INSERT.
   * https://mariadb.com/kb/en/load-data-infile/#load-data-local-infile
   */
  async loadData(sql: string, data: Iterable<string | Buffer>): Promise<LoadResult | null> {
    if (this.depth === 0) throw new Error('LOAD DATA LOCAL runs only inside a transaction');
    if (this.session.localInfileRefused) return null;
    try {
      const [result] = await this.run(sql, undefined, () => Readable.from(utf8Pieces(data)));
      const header = result as ResultSetHeader;
      // The counts LOAD DATA reports are in its info text only ("Records: 3  Deleted: 0  Skipped: 0  Warnings: 0").
      const count = (name: string) => Number(new RegExp(`${name}: (\\d+)`).exec(header.info ?? '')?.[1] ?? Number.NaN);
      return { records: count('Records'), skipped: count('Skipped'), warnings: header.warningStatus };
    } catch (error) {
      const errno = (error as { errno?: number }).errno;
      if (errno !== ER_NOT_ALLOWED_COMMAND && errno !== ER_CLIENT_LOCAL_FILES_DISABLED) throw error;
      this.session.localInfileRefused = true;
      return null;
    }
  }

  /** Statement by statement (DELIMITER lines understood), so the connection never needs multipleStatements. */
  async exec(script: string): Promise<void> {
    for (const statement of this.dialect.splitScript(script)) await this.run(statement, undefined);
  }

  async transaction<T>(fn: (tx: DbClient) => Promise<T>): Promise<T> {
    const { session } = this;
    const run = async (sql: string) => {
      await this.run(sql, undefined);
    };
    /** The transaction's user variables at each savepoint: rolling back to it restores them. */
    const variablesAt = new Map<string, typeof session.variables>();
    const primitives: TransactionPrimitives = {
      begin: () => run('START TRANSACTION'),
      commit: async () => {
        if (session.aborted) throw session.aborted;
        await run('COMMIT');
      },
      rollback: () =>
        session.conn.query('ROLLBACK').then(
          () => undefined,
          () => undefined,
        ),
      savepoint: async (name) => {
        variablesAt.set(name, new Map(session.variables));
        await run(`SAVEPOINT ${name}`);
      },
      release: (name) => run(`RELEASE SAVEPOINT ${name}`),
      rollbackTo: async (name, error) => {
        // After a deadlock (or a statement that commits implicitly) the savepoint is gone
        // with the transaction: the rest of it must fail rather than run in autocommit.
        if (session.aborted) return;
        await run(`ROLLBACK TO SAVEPOINT ${name}`).then(
          () => this.restoreVariables(variablesAt.get(name)!),
          () => {
            session.aborted = error;
          },
        );
      },
      end: async () => {
        session.aborted = undefined;
        await this.restoreVariables(new Map()).catch(() => undefined);
      },
    };
    return runTransaction(
      primitives,
      this.depth,
      () => savepointName(this.depth, ++this.savepoints),
      () => fn(new MysqlClient(this.dialect, session, this.depth + 1)),
    );
  }

  get lost(): boolean {
    return this.session.lost;
  }

  async close(): Promise<void> {
    await this.session.conn.end().catch(() => this.session.conn.destroy());
  }

  private async run(sql: string, params: readonly unknown[] | undefined, infileStreamFactory?: () => Readable, rowsAsArray = false) {
    if (this.depth > 0 && this.session.aborted) {
      throw new Error(`the transaction was already rolled back by the server: ${(this.session.aborted as Error).message}`, {
        cause: this.session.aborted,
      });
    }
    try {
      const result = infileStreamFactory
        ? await this.session.conn.query({ sql, infileStreamFactory })
        : rowsAsArray
          ? await this.session.conn.query({ sql, rowsAsArray }, params as unknown[] | undefined)
          : await this.session.conn.query(sql, params as unknown[] | undefined);
      if (/^\s*LOCK\s+TABLES?\b/i.test(sql)) this.session.tablesLocked = true;
      else if (/^\s*UNLOCK\s+TABLES?\b/i.test(sql)) this.session.tablesLocked = false;
      return result;
    } catch (error) {
      if (this.depth > 0 && (error as { errno?: number }).errno === ER_LOCK_DEADLOCK) this.session.aborted = error;
      if (this.session.tablesLocked) {
        this.session.tablesLocked = false;
        await this.session.conn.query('UNLOCK TABLES').catch(() => undefined);
      }
      throw error;
    }
  }
}

function* utf8Pieces(data: Iterable<string | Buffer>): Generator<Buffer> {
  for (const piece of data) yield typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
}

/** Connection options from a `mysql://user:password@host:port/database?ssl=true` URL. */
function connectionOptions(url: string, nodeName: string): ConnectionOptions {
  const bad = (why: string, hint = 'write mysql://user:password@host:3306/database') =>
    badUrl(nodeName, `${redactUrl(url)} ${why}`, `${hint}; ${fixUrlHint(nodeName)}`);
  let parsed: URL;
  let database: string;
  let user: string;
  let password: string;
  try {
    parsed = new URL(url);
    [database, user, password] = [parsed.pathname.replace(/^\//, ''), parsed.username, parsed.password].map(decodeURIComponent);
  } catch {
    // Not echoed: a URL that does not parse may still hold a password.
    throw badUrl(
      nodeName,
      'the url is not a valid URL',
      `write mysql://user:password@host:3306/database (percent-encode special characters); ${fixUrlHint(nodeName)}`,
    );
  }
  if (!/^(mysql|mariadb):$/.test(parsed.protocol)) throw bad('is not a mysql:// URL');
  if (!database) throw bad('names no database');
  const options: ConnectionOptions = {
    host: parsed.hostname || 'localhost',
    port: parsed.port ? Number(parsed.port) : 3306,
    user,
    password,
    database,
  };
  for (const [key, value] of parsed.searchParams) {
    if (key === 'ssl') {
      // ssl=true: TLS with the system's CAs; or mysql2's ssl object as JSON.
      try {
        options.ssl = value === 'true' ? {} : value === 'false' ? undefined : JSON.parse(value);
      } catch {
        throw bad(`has an ssl parameter that is neither true, false nor JSON`);
      }
    } else if (key === 'connectTimeout') options.connectTimeout = Number(value);
    else if (key === 'socketPath') options.socketPath = value;
    else throw bad(`has an unknown parameter "${key}"`, `use ${URL_OPTIONS.join(', ')}`);
  }
  return options;
}

export async function connectMysql(dialect: Dialect, url: string, nodeName: string): Promise<MysqlClient> {
  const options = connectionOptions(url, nodeName);
  const { default: mysql } = await import('mysql2/promise');
  let conn: Connection | undefined;
  try {
    conn = await mysql.createConnection({
      ...options,
      // Exact bigint and decimal values as strings; dates and JSON as the server's text,
      // so no JavaScript Date or time-zone conversion ever touches them.
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      jsonStrings: true,
      multipleStatements: false,
      flags: ['-FOUND_ROWS'],
    });
    // A connection the server drops while idle (wait_timeout, a restart) would otherwise
    // raise an unhandled 'error' event; the next query reports it instead.
    const session: Session = {
      conn,
      variables: new Map(),
      tablesLocked: false,
      aborted: undefined,
      lost: false,
      localInfileRefused: false,
      tableValues: false,
    };
    conn.on('error', () => {
      session.lost = true;
    });
    conn.on('end', () => {
      session.lost = true;
    });
    await conn.query('SET NAMES utf8mb4');
    await conn.query(`SET SESSION time_zone = '+00:00', SESSION sql_mode = '${SESSION_SQL_MODE}'`);
    const [rows] = await conn.query('SELECT VERSION() AS version');
    const version = String((rows as Row[])[0].version);
    const [major, minor, patch] = version.split(/[.-]/).map(Number);
    session.tableValues = /mariadb/i.test(version) && major * 1e6 + minor * 1e3 + patch >= 10_003_003;
    // MySQL 8 caches information_schema.TABLES (AUTO_INCREMENT among them) for a day by
    // default; the safe horizon needs the live value. MariaDB always reads it live.
    // https://dev.mysql.com/doc/refman/8.0/en/server-system-variables.html#sysvar_information_schema_stats_expiry
    if (!/mariadb/i.test(version) && Number(version.split('.')[0]) >= 8)
      await conn.query('SET SESSION information_schema_stats_expiry = 0');
    return new MysqlClient(dialect, session);
  } catch (error) {
    conn?.destroy();
    throw explainConnectError(error, url, nodeName);
  }
}

function explainConnectError(error: unknown, url: string, nodeName: string): ConnectionError {
  const e = error as { code?: string; errno?: number; message?: string };
  const target: ConnectTarget = { brand: 'MySQL/MariaDB', where: redactUrl(url), nodeName };
  const { where } = target;
  const database = decodeURIComponent(new URL(url).pathname.slice(1));
  const problem: ConnectProblem | null =
    e.code && (UNREACHABLE_CODES.has(e.code) || e.code === 'ENOENT')
      ? unreachable(target, e.code)
      : e.errno === ER_ACCESS_DENIED
        ? {
            message: `MySQL/MariaDB refused the login for ${where}: ${e.message}`,
            hint: 'check the user and password (use ${MYSQL_PASSWORD} in the url)',
          }
        : e.errno === ER_HOST_NOT_PRIVILEGED
          ? {
              message: `MySQL/MariaDB does not accept this host for ${where}: ${e.message}`,
              hint: "create the account for this host (CREATE USER 'user'@'host')",
            }
          : e.errno === ER_DBACCESS_DENIED
            ? {
                message: `MySQL/MariaDB denies the user access to database ${database}: ${e.message}`,
                hint: `GRANT ALL ON \`${database}\`.* TO the user`,
              }
            : e.errno === ER_BAD_DB
              ? noSuchDatabase(target, `CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`)
              : null;
  return explainCommon(error, target, problem);
}
