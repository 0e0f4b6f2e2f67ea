import { describe, expect, it } from 'vitest';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../src/core/schema.ts';
import { mysqlDialect } from '../../src/dialects/mysql/mysql-dialect.ts';
import { type MysqlExactNumber, mysqlFromDriver, mysqlParam, mysqlSql } from '../../src/dialects/mysql/mysql-sql.ts';
import { captureTable } from '../../src/generate/context.ts';
import { rendererFor } from '../../src/generate/render.ts';

const HOSTILE = [
  "it's",
  'say "hi"',
  'back`tick',
  '[bracket]',
  'tilde~',
  'semi;colon',
  'back\\slash',
  'Mixed Case',
  'select',
  'what?',
  'ünï',
];

const col = (family: TypeFamily, nativeType: string, extra: Partial<ColumnSchema> = {}): ColumnSchema => ({
  name: 'c',
  family,
  nativeType,
  nullable: true,
  default: null,
  ...extra,
});

describe('mysql quoting', () => {
  it('backticks every identifier, doubling backticks', () => {
    expect(mysqlSql.ident('sales_order')).toBe('`sales_order`');
    expect(mysqlSql.ident('back`tick')).toBe('`back``tick`');
    expect(mysqlSql.ident('it\'s "x" [y] ~;\\')).toBe('`it\'s "x" [y] ~;\\`');
    expect(mysqlSql.table('t', 'db')).toBe('`db`.`t`');
  });
  it('refuses names MySQL cannot hold: empty, NUL, and characters beyond the BMP such as emoji', () => {
    expect(() => mysqlSql.ident('')).toThrow(/empty or NUL/);
    expect(() => mysqlSql.ident('a\0b')).toThrow(/empty or NUL/);
    expect(() => mysqlSql.ident('emoji😀')).toThrow(/Basic Multilingual Plane/);
    expect(mysqlSql.ident('snow☃')).toBe('`snow☃`');
  });
  it('doubles single quotes, and writes text holding a backslash or NUL as hex that no sql_mode reads differently', () => {
    expect(mysqlSql.literal('it\'s ~ "q" `b` [x] ; 😀')).toBe("'it''s ~ \"q\" `b` [x] ; 😀'");
    expect(mysqlSql.literal('a\\b')).toBe("_utf8mb4 X'615C62'");
    expect(mysqlSql.literal("\\'")).toBe("_utf8mb4 X'5C27'");
    expect(mysqlSql.literal('a\0b')).toBe("_utf8mb4 X'610062'");
    expect(mysqlSql.literal(null)).toBe('NULL');
    expect(mysqlSql.literal(true)).toBe('TRUE');
    expect(mysqlSql.literal(1.5)).toBe('1.5');
    expect(() => mysqlSql.literal(Number.NaN)).toThrow();
  });
  it('uses ? placeholders and skips only duplicate keys (never INSERT IGNORE)', () => {
    expect(mysqlSql.param(3)).toBe('?');
    const sql = mysqlSql.insertIgnoringDuplicates('ds_change_inbox', ['updated_by_server_id', 'origin_change_id'], 2);
    expect(sql).toBe(
      'INSERT INTO `ds_change_inbox` (`updated_by_server_id`, `origin_change_id`) VALUES (?, ?), (?, ?) ON DUPLICATE KEY UPDATE `updated_by_server_id` = `updated_by_server_id`',
    );
    expect(sql).not.toMatch(/IGNORE/);
  });
  it('splits scripts with DELIMITER lines and backslash escapes', () => {
    expect(
      mysqlDialect.splitScript(
        "SELECT 'a\\';b';\nDELIMITER $$\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @x = 1; END$$\nDELIMITER ;\nSELECT 2;",
      ),
    ).toEqual(["SELECT 'a\\';b'", 'CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @x = 1; END', 'SELECT 2']);
  });
});

describe('mysql parameters', () => {
  it('binds exact numbers: safe integers as numbers, larger ones as bigint, decimals as unquoted exact literals', () => {
    expect(mysqlParam(col('integer', 'int(11)'), 42)).toBe(42);
    expect(mysqlParam(col('bigint', 'bigint(20)'), '9007199254740993')).toBe(9007199254740993n);
    const decimal = mysqlParam(col('decimal', 'decimal(20,6)', { scale: 6 }), '12345678901234.123456') as MysqlExactNumber;
    expect(decimal.toSqlString()).toBe('12345678901234.123456');
    expect((mysqlParam(col('decimal', 'decimal(20,6)', { scale: 6 }), '1.5e3') as MysqlExactNumber).toSqlString()).toBe('1500');
    expect((mysqlParam(col('decimal', 'decimal(20,6)', { scale: 6 }), '-2.5E-4') as MysqlExactNumber).toSqlString()).toBe('-0.00025');
  });
  it('rejects what MySQL would round, pad or cannot hold, instead of letting it change silently', () => {
    expect(() => mysqlParam(col('decimal', 'decimal(12,2)', { scale: 2 }), '1.005')).toThrow(/more than 2 decimal places/);
    expect((mysqlParam(col('decimal', 'decimal(12,2)', { scale: 2 }), '1.500') as MysqlExactNumber).toSqlString()).toBe('1.5');
    expect(() => mysqlParam(col('decimal', 'decimal(12,2)', { scale: 2 }), 'NaN')).toThrow(/NaN/);
    expect(() => mysqlParam(col('float', 'double'), 'Infinity')).toThrow(/infinity/);
    expect(() => mysqlParam(col('time', 'time', { precision: 0 }), '10:30:00.5')).toThrow(/fractional-second/);
    expect(() => mysqlParam(col('binary', 'binary(4)'), Buffer.from([1, 2]).toString('base64'))).toThrow(/pad/);
    expect(() => mysqlParam(col('integer', 'int(11)'), 'x')).toThrow(/not an integer/);
  });
  it('writes dates and times the way strict MySQL accepts them: no T, no Z, timestamptz in UTC', () => {
    expect(mysqlParam(col('timestamp', 'datetime(6)', { precision: 6 }), '2025-06-25T10:30:00.500001')).toBe('2025-06-25 10:30:00.500001');
    expect(mysqlParam(col('timestamptz', 'timestamp(6)', { precision: 6 }), '2025-06-25T10:30:00+02:00')).toBe(
      '2025-06-25 08:30:00.000000',
    );
    expect(mysqlParam(col('timestamp', 'datetime', { precision: 0 }), '2025-06-25T10:30:00')).toBe('2025-06-25 10:30:00.000000');
    expect(mysqlParam(col('time', 'time(6)', { precision: 6 }), '10:30:00.123456')).toBe('10:30:00.123456');
    expect(mysqlParam(col('date', 'date'), '1969-07-20')).toBe('1969-07-20');
  });
  it('binds booleans as 1/0, binary as bytes, NULL as null', () => {
    expect(mysqlParam(col('boolean', 'tinyint(1)'), true)).toBe(1);
    expect(mysqlParam(col('boolean', 'tinyint(1)'), false)).toBe(0);
    expect(mysqlParam(col('binary', 'blob'), Buffer.from([0, 255]).toString('base64'))).toEqual(Buffer.from([0, 255]));
    expect(mysqlParam(col('text', 'text'), null)).toBeNull();
  });
  it('reads driver values canonically: BIT as numbers, any non-zero TINYINT(1) as true', () => {
    expect(mysqlFromDriver(col('boolean', 'bit(1)'), Buffer.from([1]))).toBe(true);
    expect(mysqlFromDriver(col('boolean', 'tinyint(1)'), 2)).toBe(true);
    expect(mysqlFromDriver(col('boolean', 'tinyint(1)'), 0)).toBe(false);
    expect(mysqlFromDriver(col('bigint', 'bit(10)'), Buffer.from([0x02, 0x01]))).toBe(513);
    expect(mysqlFromDriver(col('timestamptz', 'timestamp(6)'), '2025-06-25 08:30:00.000000')).toBe('2025-06-25T08:30:00.000000Z');
    expect(mysqlFromDriver(col('bigint', 'bigint(20)'), '9007199254740993')).toBe('9007199254740993');
  });
});

describe('mysql templates with hostile names', () => {
  const table: TableSchema = {
    name: 'it\'s "odd"',
    schema: null,
    primaryKey: ["it's"],
    columns: HOSTILE.map((name) => ({ name, family: 'text', nativeType: 'text', nullable: name !== "it's", default: null })),
  };
  const render = (t: TableSchema, serverId = "srv'1\\x") =>
    rendererFor(mysqlDialect).render('capture', {
      version: 'test',
      node: { name: "node'1", dialect: 'mysql', serverId },
      tables: [],
      programs: [],
      table: captureTable(t),
    });
  const statements = render(table);

  it('renders lock, three triggers with their drops, unlock', () => {
    expect(statements).toHaveLength(8);
    expect(statements[0]).toMatch(/^LOCK TABLES `it's "odd"` WRITE$/m);
    expect(
      statements.map((s) =>
        s
          .split('\n')
          .filter((l) => !l.startsWith('--'))[0]
          .split(' ')
          .slice(0, 2)
          .join(' '),
      ),
    ).toEqual([
      'LOCK TABLES',
      'DROP TRIGGER',
      'CREATE TRIGGER',
      'DROP TRIGGER',
      'CREATE TRIGGER',
      'DROP TRIGGER',
      'CREATE TRIGGER',
      'UNLOCK TABLES',
    ]);
  });

  it('puts every name in SQL only inside quotes or backticks; a `;` outside them only ends a line of a trigger body', () => {
    const text = statements.join('\n');
    // One pass, so that a quote inside backticks (`it's`) does not open a string.
    const unquote = (sql: string) => sql.replace(/^\s*--.*$/gm, '').replace(/'(?:[^']|'')*'|`(?:[^`]|``)*`/g, (m) => m[0].repeat(2));
    const outsideQuotes = unquote(text);
    for (const name of HOSTILE.filter((n) => !/^[a-z_]+$/.test(n))) expect(outsideQuotes).not.toContain(name);
    expect(outsideQuotes).not.toMatch(/\bselect\b/); // the column; the keyword SELECT is upper case
    expect(outsideQuotes).not.toMatch(/;(?!\n|$)/);
    for (const statement of statements) expect(unquote(statement).includes(';')).toBe(/\bFOR EACH ROW\s+BEGIN\b/.test(statement));
    expect(text).toContain('COALESCE(@dsync_origin_server, _utf8mb4 X');
    expect(text).toContain("'node''1'");
  });

  it('wraps compound trigger bodies in DELIMITER lines that split back into the same statements', () => {
    const end = mysqlDialect.statementEnd as (statement: string) => string;
    const file = statements.map(end).join('\n');
    expect(file.match(/^DELIMITER \$\$$/gm)).toHaveLength(3);
    expect(mysqlDialect.splitScript(file)).toEqual(statements);
    // apply hands exec one statement at a time, without its DELIMITER lines.
    for (const statement of statements) expect(mysqlDialect.splitScript(statement)).toEqual([statement]);
  });

  it('keeps a line break in a name from ending a comment', () => {
    const rendered = render({ ...table, name: 'x\nDROP TABLE sales_order; --' });
    expect(rendered).toHaveLength(8);
    expect(rendered[0].split('\n')[0]).toBe(
      '-- Capture for x?DROP TABLE sales_order; --: one outbox row per row change, only changed columns for an update,',
    );
  });

  it('refuses an emoji in a name with a clear message', () => {
    expect(() =>
      render({
        ...table,
        columns: [...table.columns, { name: 'smile😀', family: 'text', nativeType: 'text', nullable: true, default: null }],
      }),
    ).toThrow(/Basic Multilingual Plane/);
  });
});

describe('mysql update trigger pieces', () => {
  const key = { ...col('text', 'varchar(20)'), name: 'k', isKey: true };
  const qty = { ...col('integer', 'int'), name: 'q', isKey: false };
  const steps = mysqlDialect.templateHelpers.changedColumnSteps([key, qty]) as string;

  it('tests each column once, in its own step, and gives only non-key columns a version stamp', () => {
    expect(steps.match(/<=>/g)).toHaveLength(2);
    expect(steps.match(/\bIF NOT \(/g)).toHaveLength(2);
    expect(steps.match(/dsync_patch = /g)).toHaveLength(1);
    expect(steps).toContain(`dsync_patch = CONCAT(dsync_patch, ',"q":', CHAR(1 USING utf8mb4))`);
  });

  it('fixes a text key only in a step taken when its plain JSON text holds \\u; a number key has no such step', () => {
    const text = mysqlDialect.templateHelpers.keySteps('dsync_key', [key], 'NEW') as string;
    expect(text.split('\n')[0]).not.toContain('REGEXP');
    expect(text).toMatch(/IF INSTR\(dsync_key, _utf8mb4 X'5C75'\) > 0 THEN\n\s+SET dsync_key = .*REGEXP/);
    const number = mysqlDialect.templateHelpers.keySteps('dsync_key', [{ ...qty, isKey: true }], 'NEW') as string;
    expect(number).not.toContain('IF ');
  });
});
