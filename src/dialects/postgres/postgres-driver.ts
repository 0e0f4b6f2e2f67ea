/**
 * PostgreSQL connection on `pg`, behind the DbClient port. Loaded only when a
 * postgres node is used. Values that lose precision or depend on session settings
 * in JavaScript (int8, numeric, dates, times, json) come back as the server's text.
 */
import type pg from 'pg';
import { ConnectionError, redactUrl, TransientError } from '../../core/errors.ts';
import type { DbClient, Dialect, QueryResult, Row } from '../../core/dialect.ts';

/** OIDs read as text: int8, numeric, date, time, timestamp, timestamptz, timetz, interval, json, jsonb. */
const TEXT_OIDS = new Set([20, 1700, 1082, 1083, 1114, 1184, 1266, 1186, 114, 3802]);

// SQLSTATE codes we explain to people (https://www.postgresql.org/docs/current/errcodes-appendix.html)
const INVALID_PASSWORD = '28P01';
const INVALID_AUTHORIZATION = '28000';
const INVALID_CATALOG_NAME = '3D000';

/** Connections whose socket ended or failed: every later statement fails as transient. */
const lostClients = new WeakSet<pg.Client>();

export function watchConnection(client: pg.Client): void {
  client.on('error', () => lostClients.add(client)); // a dropped idle connection surfaces on the next query instead
  client.on('end', () => lostClients.add(client));
}

export class PostgresClient implements DbClient {
  private savepoints = 0;

  constructor(
    readonly dialect: Dialect,
    private readonly client: pg.Client,
    private readonly depth = 0,
  ) {}

  get lost(): boolean {
    return lostClients.has(this.client);
  }

  /** A statement on a connection that went away fails with the `connection_lost` code (transient), whatever pg says. */
  private async run<T>(statement: () => Promise<T>): Promise<T> {
    if (this.lost) throw new TransientError('connection_lost', 'the PostgreSQL connection was lost', { hint: 'the next pass reconnects' });
    try {
      return await statement();
    } catch (error) {
      if (this.lost) throw new TransientError('connection_lost', `the PostgreSQL connection was lost: ${(error as Error).message}`, { hint: 'the next pass reconnects' }, { cause: error });
      throw error;
    }
  }

  async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const result = await this.run(() => this.client.query({ text: sql, values: params as unknown[] }));
    return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
  }

  async exec(script: string): Promise<void> {
    await this.run(() => this.client.query(script));
  }

  async transaction<T>(fn: (tx: DbClient) => Promise<T>): Promise<T> {
    if (this.depth > 0) {
      const name = `ds_sp_${this.depth}_${++this.savepoints}`;
      await this.query(`SAVEPOINT ${name}`);
      try {
        const result = await fn(new PostgresClient(this.dialect, this.client, this.depth + 1));
        await this.query(`RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (error) {
        // A savepoint that cannot be rolled back (the connection is gone) leaves the original error to go up.
        await this.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
        throw this.lost && !(error instanceof TransientError) ? new TransientError('connection_lost', `the PostgreSQL connection was lost: ${(error as Error).message}`, {}, { cause: error }) : error;
      }
    }
    await this.query('BEGIN');
    try {
      const result = await fn(new PostgresClient(this.dialect, this.client, 1));
      await this.query('COMMIT');
      return result;
    } catch (error) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

export async function connectPostgres(dialect: Dialect, url: string, nodeName: string): Promise<DbClient> {
  const { default: driver } = await import('pg');
  const client = new driver.Client({
    connectionString: url,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        TEXT_OIDS.has(oid) ? (value: string) => value : driver.types.getTypeParser(oid, format)) as typeof driver.types.getTypeParser,
    },
  });
  watchConnection(client);
  try {
    await client.connect();
    // Fixed session settings: ISO dates whatever the server's default, UTC for zoned values.
    await client.query("SET DateStyle = 'ISO, MDY'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'");
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainConnectError(error, url, nodeName);
  }
  return new PostgresClient(dialect, client);
}

function explainConnectError(error: unknown, url: string, nodeName: string): ConnectionError {
  const e = error as { code?: string; message?: string };
  const where = redactUrl(url);
  const fixUrl = `fix nodes.${nodeName}.url in the config`;
  const [message, hint] =
    e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT' || e.code === 'EHOSTUNREACH'
      ? [`cannot reach PostgreSQL at ${where} (${e.code})`, `start the server, or ${fixUrl}`]
      : e.code === INVALID_PASSWORD
        ? [`PostgreSQL refused the password for ${where}`, `check the password (use \${PGPASSWORD} in the url), or ${fixUrl}`]
        : e.code === INVALID_AUTHORIZATION
          ? [`PostgreSQL refused the login for ${where}: ${e.message}`, `check the user and pg_hba.conf, or ${fixUrl}`]
          : e.code === INVALID_CATALOG_NAME
            ? [`PostgreSQL has no such database: ${where}`, `create it (createdb), or ${fixUrl}`]
            : [`cannot connect to PostgreSQL at ${where}: ${e.message ?? String(error)}`, fixUrl];
  return new ConnectionError('connect_failed', `node ${nodeName}: ${message}`, { hint, node: nodeName }, { cause: error });
}
