/**
 * Dialect.isTransient: deadlocks, timeouts, lost connections and full disks are told
 * apart from bad data by SQLSTATE / errno / result code, through wrapping causes, never
 * by message text.
 */
import { describe, expect, it } from 'vitest';
import { RuntimeError, TransientError } from '../../src/core/errors.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
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

// A write refused on a taken key is planned again on a fresh read before it parks (import.ts
// KEY_COLLISION_ATTEMPTS); other constraint failures park at once, and neither is transient.
describe('isKeyCollision', () => {
  it("knows each brand's primary and unique key refusals, through causes, and nothing else", () => {
    const cases: Array<[typeof postgresDialect, Record<string, unknown>[], Record<string, unknown>[]]> = [
      [postgresDialect, [{ code: '23505' }], [{ code: '23503' }, { code: '23502' }, { code: '40P01' }]],
      [mysqlDialect, [{ errno: 1062 }, { errno: 1022 }], [{ errno: 1452 }, { errno: 1048 }, { errno: 1213 }]],
      [
        sqliteDialect,
        [{ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' }, { code: 'SQLITE_CONSTRAINT_UNIQUE' }],
        [{ code: 'SQLITE_CONSTRAINT_NOTNULL' }, { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' }, { code: 'SQLITE_BUSY' }],
      ],
      [mssqlDialect, [{ number: 2627 }, { number: 2601 }], [{ number: 547 }, { number: 515 }, { number: 1205 }]],
    ];
    for (const [dialect, taken, other] of cases) {
      for (const fields of taken) {
        expect(dialect.isKeyCollision(err(fields)), `${dialect.name} ${JSON.stringify(fields)}`).toBe(true);
        expect(dialect.isKeyCollision(new RuntimeError('x', 'outer', {}, { cause: err(fields) })), dialect.name).toBe(true);
        expect(dialect.isTransient(err(fields)), dialect.name).toBe(false);
      }
      for (const fields of other)
        expect(dialect.isKeyCollision(err(fields, 'duplicate key')), `${dialect.name} ${JSON.stringify(fields)}`).toBe(false);
    }
  });
});
