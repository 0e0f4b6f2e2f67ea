/**
 * Fresh databases for the benchmark: one per node of a case, dropped after it. Unlike
 * the test helper there is no embedded stand-in: a benchmark on PGlite would measure
 * something else, so a server that does not answer makes its cases skip with a note.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DialectName } from '../src/core/dialect.ts';
import { ROOT } from './paths.ts';

export const PG_ADMIN_URL = process.env.DSYNC_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_ADMIN_URL = process.env.DSYNC_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql';

export interface BenchDatabase {
  dialect: DialectName;
  url: string;
  drop(): Promise<void>;
}

function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

function withDatabase(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function createPostgres(name: string): Promise<BenchDatabase> {
  const { default: pg } = await import('pg');
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  return { dialect: 'postgres', url: withDatabase(PG_ADMIN_URL, name), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function createMysql(name: string): Promise<BenchDatabase> {
  const mysql = await import('mysql2/promise');
  const admin = async (sql: string) => {
    const conn = await mysql.createConnection({ uri: MYSQL_ADMIN_URL });
    try {
      await conn.query(sql);
    } finally {
      await conn.end();
    }
  };
  await admin(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  return { dialect: 'mysql', url: withDatabase(MYSQL_ADMIN_URL, name), drop: () => admin(`DROP DATABASE IF EXISTS \`${name}\``) };
}

function createSqlite(name: string): BenchDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'dsync-bench-'));
  return { dialect: 'sqlite', url: join(dir, `${name}.db`), drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

export async function createBenchDatabase(dialect: DialectName, prefix: string): Promise<BenchDatabase> {
  const name = uniqueName(`dsync_bench_${prefix}`);
  if (dialect === 'postgres') return createPostgres(name);
  if (dialect === 'mysql') return createMysql(name);
  if (dialect === 'sqlite') return createSqlite(name);
  throw new Error(`the benchmark has no database factory for ${dialect}`);
}

async function pgAnswers(): Promise<string | null> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return null;
  } catch (error) {
    return `PostgreSQL does not answer at ${PG_ADMIN_URL} (${(error as Error).message})`;
  }
}

async function mysqlAnswers(): Promise<string | null> {
  if (!existsSync(join(ROOT, 'src', 'dialects', 'mysql', 'mysql-dialect.ts')))
    return 'the mysql dialect (src/dialects/mysql/mysql-dialect.ts) does not exist yet';
  try {
    const mysql = await import('mysql2/promise');
    const conn = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 2000 });
    await conn.end();
    return null;
  } catch (error) {
    return `MariaDB/MySQL does not answer at ${MYSQL_ADMIN_URL} (${(error as Error).message})`;
  }
}

/** Why a dialect cannot be benchmarked here, or null when it can. */
export async function unavailableReason(dialect: DialectName): Promise<string | null> {
  if (dialect === 'postgres') return pgAnswers();
  if (dialect === 'mysql') return mysqlAnswers();
  if (dialect === 'sqlite') return null;
  return `${dialect} is not benchmarked`;
}
