/**
 * SQL Server connection on `mssql` (tedious), behind the DbClient port. Loaded only when
 * an mssql node is used. One pooled connection (min = max = 1): a session, so that
 * BEGIN TRANSACTION, SAVE TRANSACTION and the session context stay on it, and requests
 * issued while it is busy queue in the pool as they would on one `pg` client.
 * Date/time values come back as the server's ISO text, like the PostgreSQL driver's.
 * https://github.com/tediousjs/node-mssql#connection-pools
 */
import { ChangeError, type ConnectionError, describeError, DsyncError, redactUrl, TransientError } from '../../core/errors.ts';
import {
  badUrl,
  type ConnectProblem,
  type ConnectTarget,
  explainConnectError as explainCommon,
  unreachable,
} from '../../core/connect-error.ts';
import type { DbClient, Dialect, QueryResult, Row } from '../../core/dialect.ts';
import { runTransaction, savepointName, type TransactionPrimitives } from '../../core/transaction.ts';
import { MssqlTypedParam, mssqlTemporalText } from './mssql-sql.ts';

/** The few parts of `mssql` we call (the package ships no types; @types/mssql is not a dependency). */
interface MssqlType {
  declaration?: string;
}
interface MssqlColumn {
  type?: MssqlType;
}
interface MssqlResult {
  recordset?: Row[] & { columns?: Record<string, MssqlColumn> };
  rowsAffected: number[];
}
interface MssqlRequest {
  input(name: string, type: unknown, value: unknown): MssqlRequest;
  query(sql: string): Promise<MssqlResult>;
  batch(sql: string): Promise<MssqlResult>;
}
interface MssqlPool {
  connect(): Promise<MssqlPool>;
  request(): MssqlRequest;
  close(): Promise<void>;
  on(event: 'error', listener: (error: unknown) => void): void;
}
interface MssqlModule {
  ConnectionPool: new (config: object) => MssqlPool;
  MAX: number;
  NVarChar(length: number): unknown;
  VarBinary(length: number): unknown;
  Int: unknown;
  BigInt: unknown;
  Float: unknown;
  Bit: unknown;
  DateTime2(scale: number): unknown;
}

/** What `mssql://user:password@host:port/database?encrypt=true&trustServerCertificate=true` means. */
export interface MssqlConnectionConfig {
  user?: string;
  password?: string;
  server: string;
  port?: number;
  database?: string;
  connectionTimeout: number;
  requestTimeout: number;
  options: { encrypt: boolean; trustServerCertificate: boolean; instanceName?: string; appName: string };
  pool: { min: number; max: number; idleTimeoutMillis: number; acquireTimeoutMillis: number };
}

const BOOLEAN = /^(true|false|yes|no|1|0)$/i;
/** The longest timer Node accepts (about 24.8 days): "no timeout" for the pool. */
const FOREVER = 2_147_483_647;

/**
 * Parses our URL form into the `mssql` config. Query parameters: encrypt (default true),
 * trustServerCertificate (default false), instanceName, connectTimeout and requestTimeout
 * in ms (requestTimeout 0 = none, the default: an apply or an import batch may take long).
 * Throws ConnectionError naming the node; the message never holds the password.
 */
export function parseMssqlUrl(url: string, nodeName: string): MssqlConnectionConfig {
  const bad = (why: string) =>
    badUrl(
      nodeName,
      `${why} in ${redactUrl(url)}`,
      `write nodes.${nodeName}.url as mssql://user:password@host:1433/database?encrypt=true&trustServerCertificate=true`,
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('not a URL');
  }
  if (parsed.protocol !== 'mssql:' && parsed.protocol !== 'sqlserver:') throw bad(`the scheme is ${parsed.protocol} instead of mssql:`);
  if (!parsed.hostname) throw bad('no host');
  const flag = (name: string, fallback: boolean) => {
    const value = parsed.searchParams.get(name);
    if (value === null) return fallback;
    if (!BOOLEAN.test(value)) throw bad(`${name}=${value} is not true or false`);
    return /^(true|yes|1)$/i.test(value);
  };
  const millis = (name: string, fallback: number) => {
    const value = parsed.searchParams.get(name);
    if (value === null) return fallback;
    if (!/^\d+$/.test(value)) throw bad(`${name}=${value} is not a number of milliseconds`);
    return Number(value);
  };
  const known = new Set(['encrypt', 'trustServerCertificate', 'instanceName', 'connectTimeout', 'requestTimeout']);
  for (const key of parsed.searchParams.keys()) if (!known.has(key)) throw bad(`unknown parameter ${key}`);
  const instanceName = parsed.searchParams.get('instanceName') ?? undefined;
  const requestTimeout = millis('requestTimeout', 0);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return {
    user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    server: parsed.hostname.replace(/^\[|\]$/g, ''),
    // With an instance name, the SQL Browser service tells the port unless one is given.
    port: parsed.port ? Number(parsed.port) : instanceName ? undefined : 1433,
    database: database || undefined,
    connectionTimeout: millis('connectTimeout', 15_000),
    requestTimeout,
    options: {
      encrypt: flag('encrypt', true),
      trustServerCertificate: flag('trustServerCertificate', false),
      instanceName,
      appName: 'dsync',
    },
    // The one connection is kept (never reaped as idle); a request queued behind a long one waits as long as a request may run.
    pool: { min: 1, max: 1, idleTimeoutMillis: FOREVER, acquireTimeoutMillis: requestTimeout || FOREVER },
  };
}

/** Binds a JavaScript value with a declared type, so that plans are reused and nothing is guessed wrong. */
function bind(driver: MssqlModule, request: MssqlRequest, name: string, value: unknown): void {
  if (value instanceof MssqlTypedParam) request.input(name, driver.VarBinary(driver.MAX), value.value);
  else if (value === null || value === undefined) request.input(name, driver.NVarChar(4000), null);
  else if (typeof value === 'string') request.input(name, driver.NVarChar(value.length > 4000 ? driver.MAX : 4000), value);
  else if (typeof value === 'boolean') request.input(name, driver.Bit, value);
  else if (typeof value === 'bigint') request.input(name, driver.BigInt, value.toString());
  else if (typeof value === 'number') {
    if (Number.isInteger(value) && Math.abs(value) <= 2_147_483_647) request.input(name, driver.Int, value);
    else if (Number.isSafeInteger(value)) request.input(name, driver.BigInt, value);
    else request.input(name, driver.Float, value);
  } else if (value instanceof Uint8Array) request.input(name, driver.VarBinary(driver.MAX), Buffer.from(value));
  else if (value instanceof Date) request.input(name, driver.DateTime2(7), value);
  else request.input(name, driver.NVarChar(driver.MAX), typeof value === 'object' ? JSON.stringify(value) : String(value));
}

/** Date/time values as ISO text by their declared type (see mssqlTemporalText). */
function normalizeRows(recordset: NonNullable<MssqlResult['recordset']>): Row[] {
  const columns = recordset.columns ?? {};
  const temporal = Object.entries(columns).filter(([, c]) =>
    ['date', 'time', 'datetime', 'datetime2', 'smalldatetime', 'datetimeoffset'].includes(c.type?.declaration ?? ''),
  );
  if (temporal.length === 0) return recordset;
  for (const row of recordset) {
    for (const [name, column] of temporal) {
      const value = row[name];
      if (value instanceof Date) row[name] = mssqlTemporalText(value, column.type!.declaration!);
    }
  }
  return recordset;
}

export class MssqlClient implements DbClient {
  private savepoints = 0;

  constructor(
    readonly dialect: Dialect,
    private readonly driver: MssqlModule,
    private readonly pool: MssqlPool,
    private readonly depth = 0,
  ) {}

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const request = this.pool.request();
    params.forEach((value, i) => bind(this.driver, request, `p${i + 1}`, value));
    const result = await request.query(sql);
    // The last count is the statement's own: counts of triggers without NOCOUNT come before it.
    const rowCount = result.rowsAffected.length ? result.rowsAffected[result.rowsAffected.length - 1] : 0;
    return { rows: (result.recordset ? normalizeRows(result.recordset) : []) as T[], rowCount };
  }

  /** One batch as is (no sp_executesql), so CREATE TRIGGER/VIEW can open it. No GO inside: apply splits on GO. */
  async exec(script: string): Promise<void> {
    await this.pool.request().batch(script);
  }

  /**
   * BEGIN TRANSACTION, and SAVE TRANSACTION for a nested call. Errors raised in a trigger
   * doom the whole transaction (triggers run with XACT_ABORT ON): then rolling back to the
   * savepoint fails, and the original error goes up for the outer level to roll back.
   * https://learn.microsoft.com/sql/t-sql/language-elements/save-transaction-transact-sql
   */
  async transaction<T>(fn: (tx: DbClient) => Promise<T>): Promise<T> {
    const primitives: TransactionPrimitives = {
      begin: () => this.exec('BEGIN TRANSACTION'),
      commit: () => this.exec('COMMIT TRANSACTION'),
      rollback: () => this.exec('IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION').catch(() => undefined),
      savepoint: (name) => this.exec(`SAVE TRANSACTION ${name}`),
      release: async () => undefined, // T-SQL has no RELEASE: a savepoint simply stays until the transaction ends
      rollbackTo: (name, error) => this.rollbackToSavepoint(name, error),
    };
    return runTransaction(
      primitives,
      this.depth,
      () => savepointName(this.depth, ++this.savepoints),
      () => fn(new MssqlClient(this.dialect, this.driver, this.pool, this.depth + 1)),
    );
  }

  /**
   * XACT_STATE() = -1: the error doomed the transaction (a deadlock victim, a trigger under
   * XACT_ABORT). Only a full rollback is possible, so the caller must not go on with the
   * rest of the batch as if the savepoint had undone just this part: throw instead.
   */
  private async rollbackToSavepoint(name: string, error: unknown): Promise<void> {
    if (error instanceof DsyncError && error.code === 'transaction_doomed') throw error; // a deeper level found it
    const state = await this.query<{ state: number }>(
      `DECLARE @state int = XACT_STATE(); IF @state = 1 ROLLBACK TRANSACTION ${name}; SELECT @state AS state`,
    ).then(
      (r) => Number(r.rows[0]?.state),
      () => NaN,
    );
    if (state === 1) return;
    // A transient cause (deadlock victim) is retried; a change that dooms it by itself
    // (a trigger's error) is named, so the import can park it without running it again.
    const message = `the SQL Server transaction can only be rolled back (XACT_STATE() = ${Number.isNaN(state) ? 'unknown' : state}): ${describeError(error)}`;
    const Doomed = this.dialect.isTransient(error) ? TransientError : ChangeError;
    throw new Doomed('transaction_doomed', message, { hint: 'the whole batch is rolled back and tried again' }, { cause: error });
  }

  async close(): Promise<void> {
    if (this.depth === 0) await this.pool.close();
  }
}

export async function connectMssql(dialect: Dialect, url: string, nodeName: string): Promise<DbClient> {
  const config = parseMssqlUrl(url, nodeName);
  const specifier = 'mssql'; // a variable: the package has no type declarations
  const loaded = (await import(specifier)) as { default?: MssqlModule } & MssqlModule;
  const driver = loaded.default ?? loaded;
  const pool = new driver.ConnectionPool(config);
  pool.on('error', () => undefined); // a dropped idle connection surfaces on the next request instead
  try {
    await pool.connect();
    // XACT_ABORT OFF: a failed statement leaves the transaction usable, so a savepoint can undo just it.
    await pool.request().batch('SET XACT_ABORT OFF; SET NOCOUNT OFF;');
  } catch (error) {
    await pool.close().catch(() => undefined);
    throw explainConnectError(error, url, nodeName);
  }
  return new MssqlClient(dialect, driver, pool);
}

/** mssql ConnectionError codes: https://github.com/tediousjs/node-mssql#connectionerror */
export function explainConnectError(error: unknown, url: string, nodeName: string): ConnectionError {
  const e = error as { code?: string; message?: string };
  const target: ConnectTarget = { brand: 'SQL Server', where: redactUrl(url), nodeName };
  const { where } = target;
  const message = e.message ?? String(error);
  const tls = /certificate|self[- ]signed|SSL|TLS/i.test(message);
  const problem: ConnectProblem | null =
    e.code === 'ELOGIN' && /Cannot open database/i.test(message)
      ? { message: `SQL Server has no such database (or the login may not open it): ${where}`, hint: 'create it (CREATE DATABASE)' }
      : e.code === 'ELOGIN'
        ? {
            message: `SQL Server refused the login for ${where}`,
            hint: 'check the user and password (use ${MSSQL_PASSWORD} in the url) and that SQL authentication is enabled',
          }
        : tls
          ? {
              message: `TLS to SQL Server at ${where} failed: ${message}`,
              hint: 'add ?trustServerCertificate=true for a self-signed certificate (test servers), or ?encrypt=false',
            }
          : e.code === 'ESOCKET' || e.code === 'ETIMEOUT' || e.code === 'EINSTLOOKUP'
            ? unreachable(target, e.code, 'check host, port (1433) and firewall')
            : null;
  return explainCommon(error, target, problem);
}
