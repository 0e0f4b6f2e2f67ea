/** What the numbers were measured on: printed with the results and kept in the JSON. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { DbClient, DialectName, Row } from '../src/core/dialect.ts';
import { getDialect } from '../src/dialects/registry.ts';
import { MYSQL_ADMIN_URL, PG_ADMIN_URL, unavailableReason } from './databases.ts';
import { ROOT } from './paths.ts';

export interface Machine {
  cores: number;
  cpu: string;
  memoryGb: number;
  node: string;
  postgres: string | null;
  mariadb: string | null;
  sqlite: string;
  /** The commit measured, with "+ local changes" when src/ or templates/ differ from it. */
  commit: string;
  /** Why a brand is not benchmarked here. */
  unavailable: Partial<Record<DialectName, string>>;
}

async function serverVersion(dialect: DialectName, url: string, sql: string): Promise<string> {
  const d = await getDialect(dialect);
  const client = await d.connect(url, `bench-${dialect}`);
  try {
    const { rows } = await client.query(sql);
    return String(Object.values(rows[0])[0]);
  } finally {
    await client.close();
  }
}

function commitMeasured(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'templates'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${head} + local changes` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export async function describeMachine(): Promise<Machine> {
  const unavailable: Machine['unavailable'] = {};
  for (const dialect of ['postgres', 'mysql'] as const) {
    const reason = await unavailableReason(dialect);
    if (reason) unavailable[dialect] = reason;
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: unavailable.postgres ? null : (await serverVersion('postgres', PG_ADMIN_URL, 'SHOW server_version')).split(' ')[0],
    mariadb: unavailable.mysql
      ? null
      : await serverVersion('mysql', MYSQL_ADMIN_URL, 'SELECT VERSION()').catch((e: Error) => `unknown (${e.message})`),
    sqlite: await serverVersion('sqlite', ':memory:', 'SELECT sqlite_version()'),
    commit: commitMeasured(),
    unavailable,
  };
}

export function machineLines(m: Machine): string[] {
  return [
    `machine: ${m.cores} cores, ${m.cpu}, ${m.memoryGb} GB, Node ${m.node}`,
    `dsync: commit ${m.commit}`,
    `databases: PostgreSQL ${m.postgres ?? '-'}, MariaDB ${m.mariadb ?? '-'}, SQLite ${m.sqlite} (better-sqlite3, in process)`,
    ...Object.entries(m.unavailable).map(([d, why]) => `  not benchmarked: ${d}: ${why}`),
  ];
}

/**
 * The MariaDB server's own CPU seconds (every thread), read from /proc, when it runs on this
 * machine; null when it does not (a remote server, another OS). For probes that price a
 * statement's server-side work beside the client's.
 */
export function mariadbCpuSeconds(): (() => number) | null {
  let pid: number;
  try {
    pid = Number(
      execFileSync('pgrep', ['-o', 'mariadbd'], { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim(),
    );
  } catch {
    return null;
  }
  if (!pid) return null;
  return () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
}

/**
 * The CPU seconds of one MariaDB session's own server thread (one-thread-per-connection,
 * MariaDB's default; PROCESSLIST's TID, MariaDB 10.5+), read from /proc: the server's work
 * for that connection's statements alone, which other sessions of a shared server (another
 * bench, a test suite) do not move. Not InnoDB's background threads (purge, page flushing).
 * Null when the server is not on this machine or does not say.
 * https://mariadb.com/kb/en/information-schema-processlist-table/
 */
export async function mariadbSessionCpuSeconds(client: DbClient): Promise<(() => number) | null> {
  if (client.dialect.name !== 'mysql' || mariadbCpuSeconds() === null) return null;
  const pid = execFileSync('pgrep', ['-o', 'mariadbd']).toString().trim();
  const { rows } = await client
    .query<Row>('SELECT TID AS tid FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()')
    .catch(() => ({ rows: [] as Row[] }));
  const tid = rows[0]?.tid;
  if (tid === undefined || tid === null) return null;
  const path = `/proc/${pid}/task/${Number(tid)}/stat`;
  return () => {
    const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
}
