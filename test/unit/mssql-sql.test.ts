/**
 * SQL Server quoting, the inbox's dedupe insert, and every value conversion between the
 * canonical encoding and what `mssql`/tedious binds and returns. No server: these check
 * the SQL text and the JavaScript values we hand to the driver.
 */
import { describe, expect, it } from 'vitest';
import { ChangeError } from '../../src/core/errors.ts';
import type { ColumnSchema, TypeFamily } from '../../src/core/schema.ts';
import {
  MssqlTypedParam,
  isPaddedChar,
  mssqlFromDriver,
  mssqlParam,
  mssqlSql,
  mssqlTemporalText,
} from '../../src/dialects/mssql/mssql-sql.ts';

const col = (family: TypeFamily, nativeType: string, extra: Partial<ColumnSchema> = {}): ColumnSchema => ({
  name: `c_${family}`,
  family,
  nativeType,
  nullable: true,
  default: null,
  ...extra,
});

/** A tedious Date: UTC instant plus the sub-millisecond part in seconds. */
const tediousDate = (iso: string, nanosecondsDelta = 0) =>
  Object.defineProperty(new Date(iso), 'nanosecondsDelta', { value: nanosecondsDelta });

describe('mssql identifiers', () => {
  it('leaves plain names bare and brackets the rest, doubling ]', () => {
    expect(mssqlSql.ident('sales_order')).toBe('sales_order');
    expect(mssqlSql.ident('MixedCase')).toBe('MixedCase');
    expect(mssqlSql.ident('_x1')).toBe('_x1');
    expect(mssqlSql.ident('select')).toBe('[select]');
    expect(mssqlSql.ident('File')).toBe('[File]');
    expect(mssqlSql.ident('Key Col')).toBe('[Key Col]');
    expect(mssqlSql.ident('[bracket]')).toBe('[[bracket]]]');
    expect(mssqlSql.ident('a]]b')).toBe('[a]]]]b]');
    expect(mssqlSql.ident('1abc')).toBe('[1abc]');
    expect(mssqlSql.ident('#temp')).toBe('[#temp]');
    expect(mssqlSql.ident('@var')).toBe('[@var]');
  });

  it('keeps every hostile character inside the brackets', () => {
    for (const name of ["it's", 'say "hi"', 'back`tick', 'tilde~col', 'semi;colon', '-- comment', '/* c */', 'emoji😀', 'ünïcødé']) {
      const quoted = mssqlSql.ident(name);
      expect(quoted).toBe(`[${name}]`);
    }
  });

  it('refuses NUL and line breaks: generated scripts are cut into batches at GO lines', () => {
    expect(() => mssqlSql.ident('a\0b')).toThrow(/NUL/);
    for (const brk of ['\n', '\r', '\u2028', '\u2029']) expect(() => mssqlSql.ident(`x${brk}GO${brk}y`)).toThrow(/line break/);
  });

  it('qualifies a table with its schema', () => {
    expect(mssqlSql.table('sales_order', 'dbo')).toBe('dbo.sales_order');
    expect(mssqlSql.table('Odd Names', 'my schema')).toBe('[my schema].[Odd Names]');
    expect(mssqlSql.table('t', null)).toBe('t');
  });

  it('numbers parameters @p1, @p2, …', () => {
    expect(mssqlSql.param(1)).toBe('@p1');
    expect(mssqlSql.param(2000)).toBe('@p2000');
  });
});

describe('mssql literals', () => {
  it("writes N'…' with ' doubled, and nothing else escaped", () => {
    expect(mssqlSql.literal('it\'s ~ \\ " ` [x] ; -- 😀')).toBe("N'it''s ~ \\ \" ` [x] ; -- 😀'");
    expect(mssqlSql.literal('')).toBe("N''");
    expect(mssqlSql.literal("''")).toBe("N''''''");
  });

  it('writes numbers, booleans as bits, and NULL', () => {
    expect(mssqlSql.literal(1000)).toBe('1000');
    expect(mssqlSql.literal(0.5)).toBe('0.5');
    expect(mssqlSql.literal(-3)).toBe('-3');
    expect(mssqlSql.literal(true)).toBe('1');
    expect(mssqlSql.literal(false)).toBe('0');
    expect(mssqlSql.literal(null)).toBe('NULL');
    expect(() => mssqlSql.literal(Number.NaN)).toThrow(/no literal/);
    expect(() => mssqlSql.literal(Number.POSITIVE_INFINITY)).toThrow(/no literal/);
  });

  it('splices NUL and line breaks in with NCHAR, so no literal holds a line of its own', () => {
    expect(mssqlSql.literal('a\0b')).toBe("(N'a' + NCHAR(0) + N'b')");
    expect(mssqlSql.literal("x\nGO\ny'")).toBe("(N'x' + NCHAR(10) + N'GO' + NCHAR(10) + N'y''')");
    expect(mssqlSql.literal('\r\n')).toBe("(N'' + NCHAR(13) + NCHAR(10))");
    expect(mssqlSql.literal('a\u2028b')).toBe("(N'a' + NCHAR(8232) + N'b')");
    expect(mssqlSql.literal('x\nGO\ny')).not.toMatch(/^\s*GO\s*$/m);
  });
});

describe('mssql insertIgnoringDuplicates', () => {
  it('inserts from a derived VALUES table (no 1000-row limit), parameters row by row', () => {
    expect(mssqlSql.insertIgnoringDuplicates('ds_change_inbox', ['object_table', 'file'], 2)).toBe(
      'INSERT INTO ds_change_inbox (object_table, [file]) SELECT object_table, [file] FROM (VALUES (@p1, @p2), (@p3, @p4)) AS v (object_table, [file])',
    );
  });

  it('stays under the parameter limit for the inbox batch the transport sends', () => {
    const columns = Array.from({ length: 15 }, (_, i) => `c${i}`);
    const rows = Math.floor(2000 / columns.length);
    const sql = mssqlSql.insertIgnoringDuplicates('ds_change_inbox', columns, rows);
    expect(sql).toContain(`@p${rows * columns.length})`);
    expect(sql).not.toContain(`@p${rows * columns.length + 1}`);
  });
});

describe('mssql toParam', () => {
  it('passes integers as numbers, and integers beyond 2^53 as bigint', () => {
    expect(mssqlParam(col('integer', 'int'), 42)).toBe(42);
    expect(mssqlParam(col('integer', 'int'), '42')).toBe(42);
    expect(mssqlParam(col('bigint', 'bigint'), '9007199254740993')).toBe(9007199254740993n);
    expect(mssqlParam(col('bigint', 'bigint'), '-9223372036854775808')).toBe(-9223372036854775808n);
  });

  it('passes decimals as strings, digits intact', () => {
    expect(mssqlParam(col('decimal', 'decimal(20,6)'), '12345678901234.123456')).toBe('12345678901234.123456');
    expect(mssqlParam(col('decimal', 'money'), 12.5)).toBe('12.5');
    expect(() => mssqlParam(col('decimal', 'decimal(10,2)'), 'NaN')).toThrow(ChangeError);
  });

  it('passes floats as numbers and refuses what SQL Server cannot store', () => {
    expect(mssqlParam(col('float', 'float'), 0.1)).toBe(0.1);
    expect(() => mssqlParam(col('float', 'float'), 'NaN')).toThrow(/cannot store NaN/);
    expect(() => mssqlParam(col('float', 'real'), 'Infinity')).toThrow(ChangeError);
  });

  it('passes booleans as booleans (bit), however they were spelled', () => {
    expect(mssqlParam(col('boolean', 'bit'), true)).toBe(true);
    expect(mssqlParam(col('boolean', 'bit'), 'f')).toBe(false);
    expect(mssqlParam(col('boolean', 'bit'), 1)).toBe(true);
  });

  it('binds binary as a typed varbinary(max), NULL included (nvarchar NULL does not convert to varbinary)', () => {
    const param = mssqlParam(col('binary', 'varbinary(max)'), Buffer.from([0, 255, 39]).toString('base64'));
    expect(param).toBeInstanceOf(MssqlTypedParam);
    expect((param as MssqlTypedParam).value).toEqual(Buffer.from([0, 255, 39]));
    expect(mssqlParam(col('binary', 'varbinary(max)'), null)).toEqual(new MssqlTypedParam('varbinary(max)', null));
    expect(() => mssqlParam(col('binary', 'varbinary(10)'), 'not base64!')).toThrow(ChangeError);
  });

  it('writes date/time values in the ISO forms that do not depend on DATEFORMAT', () => {
    expect(mssqlParam(col('date', 'date'), '5/25/2025')).toBe('2025-05-25');
    expect(mssqlParam(col('time', 'time(6)'), '10:30')).toBe('10:30:00.000000');
    expect(mssqlParam(col('timestamp', 'datetime2(6)'), '06/25/2025 10:30:00 AM')).toBe('2025-06-25T10:30:00.000000');
    expect(mssqlParam(col('timestamptz', 'datetimeoffset(6)'), '2025-06-25 10:30:00+02:00')).toBe('2025-06-25T08:30:00.000000Z');
  });

  it('cuts fractions to what legacy datetime and smalldatetime accept (more digits are error 241), refusing what they would round', () => {
    expect(mssqlParam(col('timestamp', 'datetime'), '2025-06-25T10:30:00.123000')).toBe('2025-06-25T10:30:00.123');
    expect(mssqlParam(col('timestamp', 'datetime'), '2025-06-25T10:30:00.007000')).toBe('2025-06-25T10:30:00.007');
    expect(mssqlParam(col('timestamp', 'smalldatetime'), '2025-06-25T10:30:00.000000')).toBe('2025-06-25T10:30:00');
    expect(() => mssqlParam(col('timestamp', 'datetime'), '2025-06-25T10:30:00.123456')).toThrow(
      /c_timestamp \(datetime\).*1\/300 s.*datetime2/,
    );
    expect(() => mssqlParam(col('timestamp', 'datetime'), '2025-06-25T10:30:00.125000')).toThrow(ChangeError);
    expect(() => mssqlParam(col('timestamp', 'smalldatetime'), '2025-06-25T10:30:01.000000')).toThrow(/whole minutes/);
  });

  it('parks endless and BC dates and years past 9999, which SQL Server cannot store', () => {
    expect(() => mssqlParam(col('date', 'date'), 'infinity')).toThrow(
      /c_date \(date\): infinity is an endless date.*SQL Server cannot store/,
    );
    expect(() => mssqlParam(col('timestamp', 'datetime2(6)'), '-infinity')).toThrow(ChangeError);
    expect(() => mssqlParam(col('timestamptz', 'datetimeoffset(6)'), '-0043-03-15T00:00:00.000000Z')).toThrow(/44 BC/);
    expect(() => mssqlParam(col('date', 'date'), '0000-01-01')).toThrow(/1 BC/);
    expect(() => mssqlParam(col('date', 'date'), '+10000-01-01')).toThrow(/past the year 9999/);
    expect(mssqlParam(col('date', 'date'), '0001-01-01')).toBe('0001-01-01');
  });

  it('passes text, json and uuid as strings, and NULL as null', () => {
    expect(mssqlParam(col('text', 'nvarchar(max)'), "it's 😀")).toBe("it's 😀");
    expect(mssqlParam(col('text', 'nvarchar(10)'), 12)).toBe('12');
    expect(mssqlParam(col('json', 'json'), '{"a":1}')).toBe('{"a":1}');
    expect(mssqlParam(col('uuid', 'uniqueidentifier'), '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}')).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    expect(mssqlParam(col('text', 'nvarchar(10)'), null)).toBeNull();
    expect(mssqlParam(col('integer', 'int'), null)).toBeNull();
  });

  it('refuses values that are not of the column type, naming the column', () => {
    expect(() => mssqlParam(col('integer', 'int'), 'twelve')).toThrow(/c_integer/);
    expect(() => mssqlParam(col('date', 'date'), '2025-02-30')).toThrow(ChangeError);
  });
});

describe('mssql temporal text (driver rows)', () => {
  it('spells each type as the server would, microseconds from nanosecondsDelta', () => {
    const value = tediousDate('2025-06-25T10:30:00.123Z', 0.0004567);
    expect(mssqlTemporalText(value, 'datetime2')).toBe('2025-06-25 10:30:00.123456');
    expect(mssqlTemporalText(value, 'datetimeoffset')).toBe('2025-06-25 10:30:00.123456+00:00');
    expect(mssqlTemporalText(tediousDate('1970-01-01T10:30:00.123Z', 0.000456), 'time')).toBe('10:30:00.123456');
    expect(mssqlTemporalText(tediousDate('1969-07-20T00:00:00Z'), 'date')).toBe('1969-07-20');
    expect(mssqlTemporalText(new Date('2025-06-25T10:30:00.007Z'), 'datetime')).toBe('2025-06-25 10:30:00.007000');
  });

  it('does not lose a microsecond to floating point (4560 hundred-nanoseconds is 456 µs)', () => {
    expect(mssqlTemporalText(tediousDate('2025-01-01T00:00:00.000Z', 4560 / 1e7), 'datetime2')).toBe('2025-01-01 00:00:00.000456');
    expect(mssqlTemporalText(tediousDate('2025-01-01T00:00:00.999Z', 9999 / 1e7), 'datetime2')).toBe('2025-01-01 00:00:00.999999');
  });

  it('writes years below 1000 with four digits', () => {
    expect(mssqlTemporalText(new Date('0001-01-01T00:00:00Z'), 'date')).toBe('0001-01-01');
  });
});

describe('mssql fromDriver', () => {
  it('reads tedious Dates per family, UTC for datetimeoffset', () => {
    const value = tediousDate('2025-06-25T08:30:00.500Z', 0.000001);
    expect(mssqlFromDriver(col('timestamp', 'datetime2(6)'), value)).toBe('2025-06-25T08:30:00.500001');
    expect(mssqlFromDriver(col('timestamptz', 'datetimeoffset(6)'), value)).toBe('2025-06-25T08:30:00.500001Z');
    expect(mssqlFromDriver(col('date', 'date'), tediousDate('2025-06-25T00:00:00Z'))).toBe('2025-06-25');
    expect(mssqlFromDriver(col('time', 'time(6)'), tediousDate('1970-01-01T10:30:00.123Z', 0.000456))).toBe('10:30:00.123456');
  });

  it('reads the driver text of date/time values (what MssqlClient rows hold)', () => {
    expect(mssqlFromDriver(col('timestamp', 'datetime2(6)'), '2025-06-25 10:30:00.123456')).toBe('2025-06-25T10:30:00.123456');
    expect(mssqlFromDriver(col('timestamptz', 'datetimeoffset(6)'), '2025-06-25 08:30:00.000000+00:00')).toBe(
      '2025-06-25T08:30:00.000000Z',
    );
    expect(mssqlFromDriver(col('time', 'time(6)'), '10:30:00.123456')).toBe('10:30:00.123456');
  });

  it('recovers the exact decimal from a number below 15 digits, and refuses one that may have lost digits', () => {
    expect(mssqlFromDriver(col('decimal', 'decimal(12,2)', { scale: 2 }), 10.5)).toBe('10.50');
    expect(mssqlFromDriver(col('decimal', 'decimal(20,6)', { scale: 6 }), -0.000001)).toBe('-0.000001');
    expect(mssqlFromDriver(col('decimal', 'decimal(20,6)', { scale: 6 }), 0)).toBe('0.000000');
    expect(mssqlFromDriver(col('decimal', 'decimal(38,20)', { scale: 20 }), 1e-20)).toBe('0.00000000000000000001');
    expect(mssqlFromDriver(col('decimal', 'money', { scale: 4 }), 922337203.5807)).toBe('922337203.5807');
    expect(mssqlFromDriver(col('decimal', 'decimal(18,0)', { scale: 0 }), 123456789012345)).toBe('123456789012345');
    expect(mssqlFromDriver(col('decimal', 'decimal(10,2)', { scale: 2 }), '12.50')).toBe('12.50');
    expect(() => mssqlFromDriver(col('decimal', 'decimal(20,6)', { scale: 6 }), 12345678901234.123)).toThrow(/may have lost digits/);
    // 0.1 at scale 20 is 10^19 units: more than a double holds exactly, so it cannot be vouched for either.
    expect(() => mssqlFromDriver(col('decimal', 'decimal(38,20)', { scale: 20 }), 0.1)).toThrow(ChangeError);
  });

  it('reads bigint strings, bits, Buffers, uppercase GUIDs and floats canonically', () => {
    expect(mssqlFromDriver(col('bigint', 'bigint'), '9007199254740993')).toBe('9007199254740993');
    expect(mssqlFromDriver(col('bigint', 'bigint'), '42')).toBe(42);
    expect(mssqlFromDriver(col('boolean', 'bit'), false)).toBe(false);
    expect(mssqlFromDriver(col('binary', 'varbinary(max)'), Buffer.from([0, 255]))).toBe('AP8=');
    expect(mssqlFromDriver(col('uuid', 'uniqueidentifier'), 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    expect(mssqlFromDriver(col('float', 'real'), 0.10000000149011612)).toBe(0.10000000149011612);
    expect(mssqlFromDriver(col('integer', 'int'), null)).toBeNull();
  });

  it("drops a char(n) pad, as PostgreSQL's char(n)::text does, and keeps varchar spaces", () => {
    expect(isPaddedChar({ nativeType: 'nchar(5)' })).toBe(true);
    expect(isPaddedChar({ nativeType: 'nvarchar(5)' })).toBe(false);
    expect(mssqlFromDriver(col('text', 'nchar(5)'), 'ab   ')).toBe('ab');
    expect(mssqlFromDriver(col('text', 'char(5)'), ' a   ')).toBe(' a');
    expect(mssqlFromDriver(col('text', 'nvarchar(5)'), 'ab  ')).toBe('ab  ');
  });
});

describe('row locks on the reads that plan a write', () => {
  it('fetchRows and the version store read with UPDLOCK, ROWLOCK on SQL Server', async () => {
    const { fetchRows } = await import('../../src/runtime/import/dml.ts');
    const { readEntries } = await import('../../src/runtime/import/version-store.ts');
    const { mssqlDialect } = await import('../../src/dialects/mssql/mssql-dialect.ts');
    const seen: string[] = [];
    // No SQL Server here: a client that records the statements it is given.
    const client = {
      dialect: mssqlDialect,
      async query(sql: string) {
        seen.push(sql);
        return { rows: [], rowCount: 0 };
      },
      exec: async () => undefined,
      transaction: async () => undefined,
      close: async () => undefined,
    } as never;
    const table = {
      name: 'sales_order',
      schema: 'dbo',
      primaryKey: ['order_id'],
      columns: [{ name: 'order_id', nativeType: 'nvarchar(20)', family: 'text', nullable: false, default: null }],
    } as never;
    await fetchRows(client, table, [{ order_id: 'a' }], (k) => String(k.order_id));
    await readEntries(client, 'sales_order', ['"a"']);
    expect(seen[0]).toMatch(/FROM dbo\.sales_order WITH \(UPDLOCK, ROWLOCK\) WHERE/);
    expect(seen[1]).toMatch(/FROM ds_row_version WITH \(UPDLOCK, ROWLOCK\)\s+WHERE/);
  });
});
