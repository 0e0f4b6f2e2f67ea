/**
 * The SQL Server DbClient against a recording stand-in for `mssql`'s ConnectionPool:
 * URL parsing, parameter binding by name and type, row normalisation, row counts, the
 * transaction statements, and connection errors that name the node and never the password.
 */
import { describe, expect, it } from 'vitest';
import { ChangeError, ConnectionError, TransientError } from '../../src/core/errors.ts';
import { MssqlClient, explainConnectError, parseMssqlUrl } from '../../src/dialects/mssql/mssql-driver.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import { MssqlTypedParam } from '../../src/dialects/mssql/mssql-sql.ts';

interface Sent {
  kind: 'query' | 'batch';
  sql: string;
  inputs: Array<[string, unknown, unknown]>;
}

/** Types as plain tags, so tests can read what was declared. */
const driver = {
  ConnectionPool: class {},
  MAX: -1,
  NVarChar: (length: number) => `nvarchar(${length === -1 ? 'max' : length})`,
  VarBinary: (length: number) => `varbinary(${length === -1 ? 'max' : length})`,
  Int: 'int',
  BigInt: 'bigint',
  Float: 'float',
  Bit: 'bit',
  DateTime2: (scale: number) => `datetime2(${scale})`,
};

function fakePool(answer: (sent: Sent) => unknown = () => ({ rowsAffected: [] })) {
  const sent: Sent[] = [];
  let closed = false;
  const pool = {
    sent,
    get closed() {
      return closed;
    },
    connect: async () => pool,
    close: async () => {
      closed = true;
    },
    on: () => undefined,
    request() {
      const inputs: Sent['inputs'] = [];
      const run = async (kind: Sent['kind'], sql: string) => {
        const entry = { kind, sql, inputs };
        sent.push(entry);
        const result = answer(entry);
        if (result instanceof Error) throw result;
        return result;
      };
      const request = {
        input(name: string, type: unknown, value: unknown) {
          inputs.push([name, type, value]);
          return request;
        },
        query: (sql: string) => run('query', sql),
        batch: (sql: string) => run('batch', sql),
      };
      return request;
    },
  };
  return pool;
}

const xactState = (state: number) => ({ rowsAffected: [1], recordset: [{ state }] });

const client = (pool: ReturnType<typeof fakePool>) => new MssqlClient(mssqlDialect, driver as never, pool as never);

describe('mssql URL', () => {
  it('reads user, password (percent-decoded), host, port, database and flags', () => {
    const config = parseMssqlUrl('mssql://sa:p%40ss%3Aw%2Frd@db.example:14330/sales?encrypt=true&trustServerCertificate=true', 'ms');
    expect(config).toMatchObject({
      user: 'sa',
      password: 'p@ss:w/rd',
      server: 'db.example',
      port: 14330,
      database: 'sales',
      requestTimeout: 0,
      connectionTimeout: 15000,
      options: { encrypt: true, trustServerCertificate: true, appName: 'dsync' },
      pool: { min: 1, max: 1, acquireTimeoutMillis: 2_147_483_647 },
    });
  });

  it('defaults to port 1433, encryption on, certificate checked, the login default database', () => {
    const config = parseMssqlUrl('mssql://u:p@localhost', 'ms');
    expect(config.port).toBe(1433);
    expect(config.database).toBeUndefined();
    expect(config.options).toMatchObject({ encrypt: true, trustServerCertificate: false });
  });

  it('lets a named instance find its port, and takes timeouts in ms', () => {
    const config = parseMssqlUrl('mssql://u:p@host/db?instanceName=SQLEXPRESS&encrypt=no&connectTimeout=5000&requestTimeout=60000', 'ms');
    expect(config.port).toBeUndefined();
    expect(config.options).toMatchObject({ instanceName: 'SQLEXPRESS', encrypt: false });
    expect(config.connectionTimeout).toBe(5000);
    expect(config.requestTimeout).toBe(60000);
    expect(config.pool.acquireTimeoutMillis).toBe(60000);
  });

  it('reads an IPv6 host', () => {
    expect(parseMssqlUrl('mssql://u:p@[::1]:1433/db', 'ms').server).toBe('::1');
  });

  it('refuses what it does not understand, naming the node and the fix, never the password', () => {
    const cases = [
      'not a url',
      'postgres://u:secret@host/db',
      'mssql://u:secret@host/db?encrypt=maybe',
      'mssql://u:secret@host/db?requestTimeout=soon',
      'mssql://u:secret@host/db?pooling=true',
    ];
    for (const url of cases) {
      let error: unknown;
      try {
        parseMssqlUrl(url, 'ms1');
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(ConnectionError);
      const e = error as ConnectionError;
      expect(e.code).toBe('bad_url');
      expect(e.message).toContain('node ms1');
      expect(e.message).not.toContain('secret');
      expect(e.hint).toContain('nodes.ms1.url');
    }
  });
});

describe('mssql connection errors', () => {
  const url = 'mssql://sa:Sup3r$ecret@db:1433/sales';
  const explain = (error: object) => explainConnectError(error, url, 'ms1');

  it('explains a refused login without the password', () => {
    const e = explain({ code: 'ELOGIN', message: "Login failed for user 'sa'." });
    expect(e).toBeInstanceOf(ConnectionError);
    expect(e.code).toBe('connect_failed');
    expect(e.message).toMatch(/^node ms1: SQL Server refused the login for mssql:\/\/sa:\*\*\*@db:1433\/sales$/);
    expect(e.hint).toMatch(/password/);
    expect(`${e.message} ${e.hint}`).not.toContain('Sup3r');
  });

  it('explains a missing database', () => {
    const e = explain({ code: 'ELOGIN', message: 'Cannot open database "sales" requested by the login. The login failed.' });
    expect(e.message).toMatch(/no such database/);
    expect(e.hint).toMatch(/CREATE DATABASE/);
  });

  it('explains an unreachable server and a timeout', () => {
    for (const code of ['ESOCKET', 'ETIMEOUT', 'EINSTLOOKUP']) {
      const e = explain({ code, message: 'Failed to connect to db:1433 - connect ECONNREFUSED' });
      expect(e.message).toContain(`cannot reach SQL Server at mssql://sa:***@db:1433/sales (${code})`);
      expect(e.hint).toMatch(/start the server/);
    }
  });

  it('points a self-signed certificate at trustServerCertificate', () => {
    const e = explain({ code: 'ESOCKET', message: 'Failed to connect to db:1433 - self-signed certificate' });
    expect(e.message).toMatch(/TLS/);
    expect(e.hint).toContain('trustServerCertificate=true');
  });

  it('keeps the original error as the cause', () => {
    const original = { code: 'EOTHER', message: 'strange' };
    expect(explain(original).cause).toBe(original);
  });
});

describe('MssqlClient', () => {
  it('binds @p1, @p2 … by name with declared types', async () => {
    const pool = fakePool(() => ({ rowsAffected: [1] }));
    await client(pool).query('UPDATE t SET a = @p1 WHERE k = @p2', [
      'x',
      'y'.repeat(4001),
      null,
      true,
      7,
      2 ** 40,
      0.5,
      12n,
      Buffer.from([1, 2]),
      new MssqlTypedParam('varbinary(max)', null),
      new Date('2025-01-01T00:00:00Z'),
    ]);
    const [entry] = pool.sent;
    expect(entry.kind).toBe('query');
    expect(entry.inputs.map(([name, type]) => [name, type])).toEqual([
      ['p1', 'nvarchar(4000)'],
      ['p2', 'nvarchar(max)'],
      ['p3', 'nvarchar(4000)'],
      ['p4', 'bit'],
      ['p5', 'int'],
      ['p6', 'bigint'],
      ['p7', 'float'],
      ['p8', 'bigint'],
      ['p9', 'varbinary(max)'],
      ['p10', 'varbinary(max)'],
      ['p11', 'datetime2(7)'],
    ]);
    expect(entry.inputs[7][2]).toBe('12');
    expect(entry.inputs[9][2]).toBeNull();
  });

  it("returns rows with date/time values as the server's ISO text, and the statement's own row count", async () => {
    // As mssql returns it: the column metadata is a non-enumerable property of the recordset.
    const rows = Object.defineProperty(
      [
        {
          id: '9007199254740993',
          at: Object.defineProperty(new Date('2025-06-25T10:30:00.123Z'), 'nanosecondsDelta', { value: 0.0004 }),
          d: new Date('2025-06-25T00:00:00Z'),
          n: 'x',
        },
      ],
      'columns',
      {
        value: {
          id: { type: { declaration: 'bigint' } },
          at: { type: { declaration: 'datetime2' } },
          d: { type: { declaration: 'date' } },
          n: { type: { declaration: 'nvarchar' } },
        },
      },
    );
    const pool = fakePool(() => ({ recordset: rows, rowsAffected: [3, 1] }));
    const result = await client(pool).query('SELECT …');
    expect(result.rows).toEqual([{ id: '9007199254740993', at: '2025-06-25 10:30:00.123400', d: '2025-06-25', n: 'x' }]);
    expect(result.rowCount).toBe(1);
  });

  it('runs a script as one batch, without sp_executesql', async () => {
    const pool = fakePool();
    await client(pool).exec('CREATE OR ALTER VIEW v AS SELECT 1 AS one');
    expect(pool.sent).toEqual([{ kind: 'batch', sql: 'CREATE OR ALTER VIEW v AS SELECT 1 AS one', inputs: [] }]);
  });

  it('commits a transaction, and uses savepoints for nested ones', async () => {
    const pool = fakePool();
    const result = await client(pool).transaction(async (tx) => {
      await tx.query('SELECT 1');
      await tx.transaction(async (sp) => sp.query('SELECT 2'));
      await tx.transaction(async (sp) => sp.query('SELECT 3'));
      return 'done';
    });
    expect(result).toBe('done');
    expect(pool.sent.map((s) => s.sql)).toEqual([
      'BEGIN TRANSACTION',
      'SELECT 1',
      'SAVE TRANSACTION ds_sp_1_1',
      'SELECT 2',
      'SAVE TRANSACTION ds_sp_1_2',
      'SELECT 3',
      'COMMIT TRANSACTION',
    ]);
  });

  it('rolls back to the savepoint when a nested call throws, and the whole transaction when the outer one does', async () => {
    const pool = fakePool((s) =>
      s.sql === 'BOOM' ? new Error('constraint') : s.sql.includes('XACT_STATE') ? xactState(1) : { rowsAffected: [] },
    );
    await expect(
      client(pool).transaction(async (tx) => {
        await expect(tx.transaction(async (sp) => sp.query('BOOM'))).rejects.toThrow('constraint');
        await tx.query('SELECT after');
        throw new Error('outer');
      }),
    ).rejects.toThrow('outer');
    expect(pool.sent.map((s) => s.sql)).toEqual([
      'BEGIN TRANSACTION',
      'SAVE TRANSACTION ds_sp_1_1',
      'BOOM',
      'DECLARE @state int = XACT_STATE(); IF @state = 1 ROLLBACK TRANSACTION ds_sp_1_1; SELECT @state AS state',
      'SELECT after',
      'IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION',
    ]);
  });

  it('reports the original error when the server already ended a doomed transaction', async () => {
    const pool = fakePool((s) =>
      s.sql === 'BOOM' ? new Error('trigger failed') : s.sql.startsWith('IF') ? new Error('no transaction') : { rowsAffected: [] },
    );
    await expect(client(pool).transaction(async (tx) => tx.transaction(async (sp) => sp.query('BOOM')))).rejects.toThrow('trigger failed');
  });

  it('throws a transient transaction_doomed when a deadlock victim is caught in a savepoint (XACT_STATE() = -1), so the replay stops', async () => {
    const deadlock = Object.assign(new Error('chosen as deadlock victim'), { number: 1205 });
    const pool = fakePool((s) => (s.sql === 'BOOM' ? deadlock : s.sql.includes('XACT_STATE') ? xactState(-1) : { rowsAffected: [] }));
    let seen: unknown;
    await expect(
      client(pool).transaction(async (tx) => {
        await tx
          .transaction(async (sp) => sp.query('BOOM'))
          .catch((error) => {
            seen = error;
            throw error;
          });
        await tx.query('SELECT never');
      }),
    ).rejects.toThrow(/deadlock victim/);
    expect(seen).toBeInstanceOf(TransientError);
    expect(seen).toMatchObject({ code: 'transaction_doomed', cause: deadlock });
    expect(mssqlDialect.isTransient(seen)).toBe(true);
    expect(pool.sent.map((s) => s.sql)).not.toContain('SELECT never');
    expect(pool.sent.at(-1)!.sql).toBe('IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION');
  });

  it('names a change that dooms the transaction by itself (a trigger error) as a non-transient transaction_doomed', async () => {
    const trigger = Object.assign(new Error('raised in a trigger'), { number: 50000 });
    const pool = fakePool((s) => (s.sql === 'BOOM' ? trigger : s.sql.includes('XACT_STATE') ? xactState(-1) : { rowsAffected: [] }));
    const error = await client(pool)
      .transaction(async (tx) => tx.transaction(async (sp) => sp.query('BOOM')))
      .catch((e) => e);
    expect(error).toBeInstanceOf(ChangeError);
    expect(error).toMatchObject({ code: 'transaction_doomed' });
    expect(mssqlDialect.isTransient(error)).toBe(false);
  });

  it('classifies transient errors by number and code, never by text', () => {
    for (const number of [1205, 1222, 40501, -2]) expect(mssqlDialect.isTransient(Object.assign(new Error('x'), { number }))).toBe(true);
    expect(mssqlDialect.isTransient(Object.assign(new Error('x'), { code: 'ETIMEOUT' }))).toBe(true);
    expect(mssqlDialect.isTransient(Object.assign(new Error('deadlock timeout'), { number: 2627 }))).toBe(false);
    expect(mssqlDialect.isTransient(new Error('outer', { cause: Object.assign(new Error('inner'), { number: 1205 }) }))).toBe(true);
  });

  it('closes the pool only from the top-level client', async () => {
    const pool = fakePool();
    await client(pool).transaction(async (tx) => tx.close());
    expect(pool.closed).toBe(false);
    await client(pool).close();
    expect(pool.closed).toBe(true);
  });
});

describe('mssql connect, with the real driver and no server', () => {
  it('loads mssql on demand and explains a refused connection without the password', async () => {
    // Nothing listens on port 1 of the loopback: the real pool, config and error path run, no server needed.
    const error = await mssqlDialect.connect('mssql://sa:Sup3r$ecret@127.0.0.1:1/db?connectTimeout=3000', 'ms1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    const e = error as ConnectionError;
    expect(e.message).toMatch(
      /^node ms1: cannot reach SQL Server at mssql:\/\/sa:\*\*\*@127\.0\.0\.1:1\/db\?connectTimeout=3000 \(ESOCKET\)$/,
    );
    expect(e.hint).toMatch(/start the server/);
    expect(`${e.message} ${e.hint}`).not.toContain('Sup3r');
  });
});
