/**
 * The dialect registry: a dialect (and its driver) is loaded the first time a node of
 * that brand is used, so `pg`, `better-sqlite3`, `mysql2` and `mssql` stay unloaded otherwise.
 */
import { ConfigError } from '../core/errors.ts';
import { DIALECT_NAMES, type Dialect, type DialectName } from '../core/dialect.ts';

const loaders: Record<DialectName, () => Promise<Dialect>> = {
  postgres: async () => (await import('./postgres/postgres-dialect.ts')).postgresDialect,
  sqlite: async () => (await import('./sqlite/sqlite-dialect.ts')).sqliteDialect,
  mysql: async () => (await import('./mysql/mysql-dialect.ts')).mysqlDialect,
  mssql: async () => (await import('./mssql/mssql-dialect.ts')).mssqlDialect,
};

export async function getDialect(name: string): Promise<Dialect> {
  if (!(DIALECT_NAMES as readonly string[]).includes(name)) {
    throw new ConfigError('unknown_dialect', `unknown dialect "${name}"`, { hint: `use one of ${DIALECT_NAMES.join(', ')}` });
  }
  return loaders[name as DialectName]();
}
