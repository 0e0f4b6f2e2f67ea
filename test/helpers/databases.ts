/**
 * Fresh databases for tests, one set per test file. PostgreSQL and MariaDB come from
 * the local servers; without a PostgreSQL server an embedded PGlite (one session at a
 * time) stands in. With DSYNC_REQUIRE_SERVERS=1 (CI) a server that does not answer is a
 * failure instead of a skip or a stand-in. SQL Server runs only when MSSQL_URL is set.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DialectName } from '../../src/core/dialect.ts';

export const PG_ADMIN_URL = process.env.DSYNC_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_ADMIN_URL = process.env.DSYNC_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql';
export const REQUIRE_SERVERS = process.env.DSYNC_REQUIRE_SERVERS === '1';

export const START_HINTS: Record<DialectName, string> = {
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  mysql: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
  sqlite: '(embedded)',
  mssql: 'set MSSQL_URL=mssql://user:password@host:1433/master (SQL Server 2019 or later)',
};

export interface TestDatabase {
  dialect: DialectName;
  url: string;
  /** True when this is PGlite: one session at a time, no concurrent transactions. */
  embedded: boolean;
  drop(): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

async function pgServerAnswers(): Promise<boolean> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

let pgMode: Promise<'server' | 'embedded'> | undefined;

/** 'server' when the local PostgreSQL answers; else the embedded stand-in (or a failure in CI). */
export function postgresMode(): Promise<'server' | 'embedded'> {
  pgMode ??= pgServerAnswers().then((up) => {
    if (up) return 'server';
    if (REQUIRE_SERVERS) throw new Error(`PostgreSQL does not answer at ${PG_ADMIN_URL}; start it: ${START_HINTS.postgres}`);
    console.warn(`PostgreSQL does not answer at ${PG_ADMIN_URL}: using embedded PGlite (start the server: ${START_HINTS.postgres})`);
    return 'embedded';
  });
  return pgMode;
}

async function createPostgres(name: string): Promise<TestDatabase> {
  if ((await postgresMode()) === 'server') {
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    return {
      dialect: 'postgres',
      url: url.toString(),
      embedded: false,
      async drop() {
        const a = new pg.Client({ connectionString: PG_ADMIN_URL });
        await a.connect();
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await a.end();
      },
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  // Several clients (the test and the CLI it runs) may connect; PGlite still runs one query at a time.
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: 16 });
  await server.start();
  const address = (server as unknown as { server: { address(): { port: number } } }).server.address();
  return {
    dialect: 'postgres',
    url: `postgres://postgres@127.0.0.1:${address.port}/postgres`,
    embedded: true,
    async drop() {
      await server.stop();
      await db.close();
    },
  };
}

function createSqlite(name: string): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'dsync-test-'));
  return {
    dialect: 'sqlite',
    url: join(dir, `${name}.db`),
    embedded: true,
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function mysqlServerAnswers(): Promise<boolean> {
  try {
    const mysql = await import('mysql2/promise');
    const conn = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 2000 });
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

async function createMysql(name: string): Promise<TestDatabase> {
  const mysql = await import('mysql2/promise');
  const admin = await mysql.createConnection({ uri: MYSQL_ADMIN_URL });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await admin.end();
  const url = new URL(MYSQL_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    dialect: 'mysql',
    url: url.toString(),
    embedded: false,
    async drop() {
      const a = await mysql.createConnection({ uri: MYSQL_ADMIN_URL });
      await a.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await a.end();
    },
  };
}

/** The dialects this run tests live: DSYNC_DIALECTS (default postgres,sqlite,mysql; mssql when MSSQL_URL is set). */
export async function liveDialects(): Promise<DialectName[]> {
  const wanted = (process.env.DSYNC_DIALECTS ?? `postgres,sqlite,mysql${process.env.MSSQL_URL ? ',mssql' : ''}`)
    .split(',')
    .map((d) => d.trim()) as DialectName[];
  const live: DialectName[] = [];
  for (const dialect of wanted) {
    if (dialect === 'postgres') {
      await postgresMode();
      live.push(dialect);
    } else if (dialect === 'sqlite') live.push(dialect);
    else if (dialect === 'mysql') {
      if (await mysqlServerAnswers()) live.push(dialect);
      else if (REQUIRE_SERVERS) throw new Error(`MariaDB does not answer at ${MYSQL_ADMIN_URL}; start it: ${START_HINTS.mysql}`);
      else console.warn(`skipping MySQL/MariaDB tests: no server at ${MYSQL_ADMIN_URL} (start it: ${START_HINTS.mysql})`);
    } else if (dialect === 'mssql' && process.env.MSSQL_URL) live.push(dialect);
  }
  return live;
}

/** SQL Server, only where MSSQL_URL points at a server (2019 or later) whose login may create databases. */
async function createMssql(name: string): Promise<TestDatabase> {
  const base = process.env.MSSQL_URL;
  if (!base) throw new Error(`SQL Server tests need MSSQL_URL (${START_HINTS.mssql})`);
  const { mssqlDialect } = await import('../../src/dialects/mssql/mssql-dialect.ts');
  const admin = await mssqlDialect.connect(base, 'mssql-admin');
  await admin.exec(`CREATE DATABASE ${mssqlDialect.sql.ident(name)}`);
  await admin.close();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    dialect: 'mssql',
    url: url.toString(),
    embedded: false,
    async drop() {
      const a = await mssqlDialect.connect(base, 'mssql-admin');
      const db = mssqlDialect.sql.ident(name);
      await a.exec(
        `IF DB_ID(${mssqlDialect.sql.literal(name)}) IS NOT NULL BEGIN ALTER DATABASE ${db} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE ${db}; END`,
      );
      await a.close();
    },
  };
}

export async function createTestDatabase(dialect: DialectName, prefix = 'dsync_t'): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  if (dialect === 'postgres') return createPostgres(name);
  if (dialect === 'sqlite') return createSqlite(name);
  if (dialect === 'mysql') return createMysql(name);
  return createMssql(name);
}
