/**
 * Dialect.isTransient: deadlocks, timeouts, lost connections and full disks are told
 * apart from bad data by SQLSTATE / errno / result code, through wrapping causes, never
 * by message text.
 */
import { describe, expect, it } from 'vitest';
import { RuntimeError, TransientError } from '../../src/core/errors.ts';
import { mysqlDialect } from '../../src/dialects/mysql/mysql-dialect.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';

const err = (fields: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), fields);

describe('isTransient', () => {
  it('PostgreSQL: by SQLSTATE', () => {
    for (const code of ['40001', '40P01', '55P03', '57014', '53100', '08006', '08003', '57P01'])
      expect(postgresDialect.isTransient(err({ code })), code).toBe(true);
    for (const code of ['23505', '23502', '22001', 'P0001', '42P01'])
      expect(postgresDialect.isTransient(err({ code }, 'deadlock detected')), code).toBe(false);
  });

  it('MySQL/MariaDB: by errno and mysql2 code', () => {
    for (const errno of [1205, 1213, 1040, 2006, 2013, 1021, 1114, 1927])
      expect(mysqlDialect.isTransient(err({ errno })), String(errno)).toBe(true);
    expect(mysqlDialect.isTransient(err({ code: 'PROTOCOL_CONNECTION_LOST' }))).toBe(true);
    for (const errno of [1062, 1406, 1048, 1644])
      expect(mysqlDialect.isTransient(err({ errno }, 'Lock wait timeout')), String(errno)).toBe(false);
  });

  it('SQLite: by result code, extended codes included', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_IOERR_WRITE'])
      expect(sqliteDialect.isTransient(err({ code })), code).toBe(true);
    for (const code of ['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_NOTNULL', 'SQLITE_ERROR'])
      expect(sqliteDialect.isTransient(err({ code }, 'database is locked')), code).toBe(false);
  });

  it('looks through causes, and a TransientError is transient on every brand', () => {
    const wrapped = new RuntimeError('whatever', 'outer', {}, { cause: err({ code: '40P01' }) });
    expect(postgresDialect.isTransient(wrapped)).toBe(true);
    expect(mysqlDialect.isTransient(new Error('aborted', { cause: err({ errno: 1213 }) }))).toBe(true);
    const lost = new TransientError('connection_lost', 'gone');
    for (const d of [postgresDialect, mysqlDialect, sqliteDialect]) expect(d.isTransient(lost)).toBe(true);
    expect(postgresDialect.isTransient(new RuntimeError('x', 'y'))).toBe(false);
  });
});
