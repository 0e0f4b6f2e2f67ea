import { describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../src/core/schema.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { sqliteTypeFacts } from '../../src/dialects/sqlite/sqlite-introspect.ts';
import { sqliteSql } from '../../src/dialects/sqlite/sqlite-sql.ts';
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
  'end',
  'emoji😀',
  '-- not a comment',
];

const col = (family: TypeFamily, extra: Partial<ColumnSchema> = {}): ColumnSchema => ({
  name: 'c',
  family,
  nativeType: family.toUpperCase(),
  nullable: true,
  default: null,
  ...extra,
});

describe('sqlite quoting', () => {
  it('leaves plain lowercase names bare and double-quotes the rest, doubling quotes', () => {
    expect(sqliteSql.ident('sales_order')).toBe('sales_order');
    expect(sqliteSql.ident('SalesOrder')).toBe('"SalesOrder"');
    expect(sqliteSql.ident('say "hi"')).toBe('"say ""hi"""');
    expect(sqliteSql.ident("it's `b` [x] ~;")).toBe('"it\'s `b` [x] ~;"');
    expect(sqliteSql.ident('emoji😀')).toBe('"emoji😀"');
    expect(sqliteSql.ident('1st')).toBe('"1st"');
    expect(sqliteSql.table('t', 'main')).toBe('main.t');
    expect(sqliteSql.table('Odd Names', null)).toBe('"Odd Names"');
  });

  it('quotes every SQLite keyword, and TRUE/FALSE', () => {
    for (const word of ['select', 'order', 'begin', 'end', 'case', 'autoincrement', 'returning', 'window', 'true', 'false', 'rowid_no']) {
      expect(sqliteSql.ident(word)).toBe(word === 'rowid_no' ? word : `"${word}"`);
    }
  });

  it('writes literals with doubled single quotes, 1/0 for booleans, and refuses what SQL text cannot hold', () => {
    expect(sqliteSql.literal('it\'s ~ "q" `b` [x] ; -- 😀 \\')).toBe("'it''s ~ \"q\" `b` [x] ; -- 😀 \\'");
    expect(sqliteSql.literal(null)).toBe('NULL');
    expect(sqliteSql.literal(true)).toBe('1');
    expect(sqliteSql.literal(false)).toBe('0');
    expect(sqliteSql.literal(-1.5)).toBe('-1.5');
    expect(() => sqliteSql.literal(Number.POSITIVE_INFINITY)).toThrow(/no literal/);
    expect(() => sqliteSql.literal('a\0b')).toThrow(/NUL/);
    expect(() => sqliteSql.ident('a\0b')).toThrow(/NUL/);
  });

  it('numbers parameters in order with ? and skips duplicates with ON CONFLICT DO NOTHING (not INSERT OR IGNORE)', () => {
    expect(sqliteSql.param(1)).toBe('?');
    expect(sqliteSql.param(7)).toBe('?');
    const sql = sqliteSql.insertIgnoringDuplicates('ds_change_inbox', ['a', 'order'], 2);
    expect(sql).toBe('INSERT INTO ds_change_inbox (a, "order") VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING');
    expect(sql).not.toMatch(/OR IGNORE/);
  });
});

describe('sqlite declared types', () => {
  it.each([
    ['INTEGER', 'integer'],
    ['int', 'integer'],
    ['SMALLINT', 'integer'],
    ['TINYINT', 'integer'],
    ['BIGINT', 'bigint'],
    ['INT8', 'bigint'],
    ['DECIMAL(20, 6)', 'decimal'],
    ['numeric(12,2)', 'decimal'],
    ['REAL', 'float'],
    ['DOUBLE PRECISION', 'float'],
    ['FLOAT', 'float'],
    ['BOOLEAN', 'boolean'],
    ['bool', 'boolean'],
    ['DATE', 'date'],
    ['TIME', 'time'],
    ['DATETIME', 'timestamp'],
    ['TIMESTAMP', 'timestamp'],
    ['TIMESTAMPTZ', 'timestamptz'],
    ['timestamp with time zone', 'timestamptz'],
    ['TIMESTAMP WITHOUT TIME ZONE', 'timestamp'],
    ['BLOB', 'binary'],
    ['BYTEA', 'binary'],
    ['VARBINARY(16)', 'binary'],
    ['JSON', 'json'],
    ['JSONB', 'json'],
    ['UUID', 'uuid'],
    ['TEXT', 'text'],
    ['VARCHAR(100)', 'text'],
    ['', 'text'],
    ['SOMETHING ELSE', 'text'],
  ])('%s is %s', (declared, family) => {
    expect(sqliteTypeFacts(declared).family).toBe(family);
  });

  it('reads lengths, precision and scale', () => {
    expect(sqliteTypeFacts('VARCHAR(100)')).toEqual({ family: 'text', maxLength: 100, precision: null, scale: null });
    expect(sqliteTypeFacts('char( 5 )').maxLength).toBe(5);
    expect(sqliteTypeFacts('DECIMAL(20, 6)')).toEqual({ family: 'decimal', maxLength: null, precision: 20, scale: 6 });
    expect(sqliteTypeFacts('NUMERIC(10)')).toMatchObject({ precision: 10, scale: 0 });
    expect(sqliteTypeFacts('DECIMAL')).toMatchObject({ precision: null, scale: null });
    expect(sqliteTypeFacts('TEXT').maxLength).toBeNull();
  });
});

describe('sqlite values', () => {
  const { toParam, fromDriver } = sqliteDialect;

  it('binds canonical values in the documented stored forms', () => {
    expect(toParam(col('boolean'), true)).toBe(1n);
    expect(toParam(col('boolean'), false)).toBe(0n);
    expect(toParam(col('bigint'), '9007199254740993')).toBe(9007199254740993n);
    expect(toParam(col('integer'), 5)).toBe(5n);
    expect(() => toParam(col('bigint'), '9223372036854775808')).toThrow(/64-bit/);
    expect(toParam(col('decimal', { scale: 6 }), '12.500000')).toBe('12.500000');
    expect(toParam(col('decimal', { scale: 6 }), '-9007199254740993.000000')).toBe(-9007199254740993n);
    expect(toParam(col('decimal', { scale: 2 }), '7.00')).toBe(7n);
    expect(() => toParam(col('decimal'), '1e400')).toThrow(/range/);
    expect(toParam(col('float'), 'Infinity')).toBe(Number.POSITIVE_INFINITY);
    expect(() => toParam(col('float'), 'NaN')).toThrow(/NULL/);
    expect(toParam(col('binary'), Buffer.from([0, 255]).toString('base64'))).toEqual(Buffer.from([0, 255]));
    expect(toParam(col('date'), '2024-01-02')).toBe('2024-01-02');
    expect(toParam(col('time'), '10:11:12.000005')).toBe('10:11:12.000005');
    expect(toParam(col('timestamp'), '2024-01-02T03:04:05.000006')).toBe('2024-01-02 03:04:05.000006');
    expect(toParam(col('timestamptz'), '2024-01-02T03:04:05.000006Z')).toBe('2024-01-02 03:04:05.000006Z');
    expect(toParam(col('uuid'), 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(toParam(col('text'), null)).toBeNull();
  });

  it('binds whole numbers as the same bigint whether they come as numbers or as text', () => {
    for (const n of [0, -0, 1, -1, 42, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      expect(toParam(col('integer'), n)).toBe(BigInt(String(n)));
      expect(toParam(col('bigint'), String(n))).toBe(BigInt(String(n)));
    }
    expect(toParam(col('bigint'), '9007199254740992')).toBe(9007199254740992n);
    expect(toParam(col('bigint'), '-9223372036854775808')).toBe(-(2n ** 63n));
  });

  it('refuses text a numeric affinity would change, column by declared type, asked again and again', () => {
    const declared = (nativeType: string): ColumnSchema => ({ ...col('text'), nativeType });
    // Alternating declared types: the affinity of one is never taken for the other's.
    for (let round = 0; round < 3; round++) {
      expect(toParam(declared('VARCHAR(10)'), '007')).toBe('007');
      expect(() => toParam(declared('NUMERIC'), '007')).toThrow(/NUMERIC affinity/);
      expect(toParam(declared('NUMERIC'), '7')).toBe('7');
      expect(() => toParam(declared('real'), '7')).toThrow(/REAL affinity/);
      expect(toParam(declared('text'), '1.0')).toBe('1.0');
      expect(() => toParam(declared('Int'), '1.0')).toThrow(/INTEGER affinity/);
      expect(toParam(declared(''), '1.0')).toBe('1.0');
      expect(toParam(declared('CLOB'), ' 12 ')).toBe(' 12 ');
      expect(() => toParam(declared('JSON'), ' 12 ')).toThrow(/NUMERIC affinity/);
    }
  });

  it('reads what the driver returns, bigint, Buffer and 0/1 included, as the triggers encode it', () => {
    expect(fromDriver(col('bigint'), 9007199254740993n)).toBe('9007199254740993');
    expect(fromDriver(col('integer'), 42)).toBe(42);
    expect(fromDriver(col('boolean'), 1)).toBe(true);
    expect(fromDriver(col('boolean'), 0n)).toBe(false);
    expect(fromDriver(col('binary'), Buffer.from('hi'))).toBe(Buffer.from('hi').toString('base64'));
    expect(fromDriver(col('binary'), 'hi')).toBe(Buffer.from('hi').toString('base64'));
    expect(fromDriver(col('decimal', { scale: 6 }), 12.5)).toBe('12.500000');
    expect(fromDriver(col('decimal', { scale: 2 }), 7)).toBe('7.00');
    expect(fromDriver(col('timestamp'), '2024-01-02 03:04:05.000006')).toBe('2024-01-02T03:04:05.000006');
    expect(fromDriver(col('timestamptz'), '2024-01-02 03:04:05.000006Z')).toBe('2024-01-02T03:04:05.000006Z');
    expect(fromDriver(col('date'), '2024-01-02')).toBe('2024-01-02');
    expect(fromDriver(col('json'), 123)).toBe('123');
    expect(fromDriver(col('text'), null)).toBeNull();
  });

  it('spells keys as the triggers write object_id', () => {
    const table: TableSchema = {
      name: 't',
      schema: null,
      columns: [
        col('text', { name: 'a' }),
        col('integer', { name: 'b' }),
        col('decimal', { name: 'd', nativeType: 'DECIMAL(10,2)', scale: 2 }),
        col('text', { name: 'c', nativeType: 'CHAR(5)' }),
      ],
      primaryKey: ['a', 'b'],
    };
    const keyJson = sqliteDialect.keyJson;
    const keys: Array<[string[], ValueMap, string]> = [
      [['a', 'b'], { a: 'x"y', b: 5 }, '{"a":"x\\"y","b":5}'],
      [['a'], { a: 'ord2' }, '"ord2"'],
      // Integers beyond ±2^53 are strings in a key, as in object_value (canonicalKeyText).
      [['b'], { b: '9007199254740993' }, '"9007199254740993"'],
      [['b'], { b: '9007199254740991' }, '9007199254740991'],
      // Decimals by value, never padded to the column's scale.
      [['d'], { d: '10.50' }, '"10.5"'],
      [['d'], { d: 7 }, '"7"'],
      [['d'], { d: 2e-7 }, '"0.0000002"'],
      [['c'], { c: 'ab   ' }, '"ab"'],
    ];
    for (const [primaryKey, key, spelled] of keys) {
      expect(keyJson({ ...table, primaryKey }, key)).toBe(spelled);
      expect(keyJson({ ...table, primaryKey }, key)).toBe(canonicalKeyText({ ...table, primaryKey }, key));
    }
  });

  it('refuses a float key at generation, naming the table and the column', () => {
    const render = rendererFor(sqliteDialect);
    const readings: TableSchema = {
      name: 'readings',
      schema: null,
      columns: [col('float', { name: 'r', nativeType: 'DOUBLE' }), col('text', { name: 'v' })],
      primaryKey: ['r'],
    };
    const floatKeyed = captureTable(readings);
    const context = {
      version: 'test',
      node: { name: 'n', dialect: 'sqlite', serverId: 's' },
      tables: [floatKeyed],
      programs: [],
      table: floatKeyed,
    };
    expect(() => render.render('capture', context)).toThrow(
      /^template sqlite\/capture failed: key column r of table readings cannot be captured on SQLite: it is DOUBLE, a float, [^\n]*$/,
    );
    // A float column that is not part of the key is captured as usual.
    const valueOnly = captureTable({ ...readings, primaryKey: ['v'] });
    expect(render.render('capture', { ...context, tables: [valueOnly], table: valueOnly }).length).toBe(8);
  });
});

describe('sqlite templates', () => {
  const render = rendererFor(sqliteDialect);
  const hostileTable = captureTable({
    name: 'Odd "Table" ~;\n[x]',
    schema: null,
    columns: HOSTILE.map((name, i) => col(i % 2 ? 'timestamp' : 'text', { name })).concat([col('integer', { name: 'id' })]),
    primaryKey: ['id'],
  });
  const context = {
    version: 'test',
    node: { name: "n'1", dialect: 'sqlite', serverId: "srv'~" },
    tables: [hostileTable],
    programs: [],
    table: hostileTable,
  };

  it('renders each trigger as one statement whatever the names hold (sanitize)', () => {
    const statements = render.render('capture', context);
    expect(statements.map((s) => /^(?:--[^\n]*\n)*(\w+ \w+)/.exec(s)?.[1])).toEqual([
      'DROP TRIGGER',
      'CREATE TRIGGER',
      'DROP TRIGGER',
      'CREATE TRIGGER',
      'DROP TRIGGER',
      'CREATE TRIGGER',
      'DROP TRIGGER',
      'CREATE TRIGGER',
    ]);
    const text = statements.join('\n');
    // The table's name reaches SQL only quoted or as a literal, and the comment line stays one line.
    expect(text).toContain('ON "Odd ""Table"" ~;\n[x]"');
    expect(text).toContain('\'Odd "Table" ~;\n[x]\'');
    expect(text).toMatch(/^-- Capture for Odd "Table" ~;\?\[x\]:/);
    for (const name of HOSTILE) {
      expect(text).toContain(`NEW.${sqliteSql.ident(name)}`);
      expect(text).toContain(sqliteSql.literal(`,${JSON.stringify(name)}:`));
    }
    expect(text).toContain("COALESCE(s.origin_server, 'srv''~')");
    // The server id in col_versions: JSON inside an SQL literal.
    expect(text).toContain(`'[' || v || ',"srv''~"]'`);
    expect(statements.every((s) => !s.trimEnd().endsWith(';'))).toBe(true);
  });

  it('keeps every statement of every template apart when split again', () => {
    for (const name of ['outbox', 'inbox', 'program_parameter', 'error', 'conflict', 'view', 'capture', 'ledger']) {
      const statements = render.render(name, context);
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) expect(sqliteDialect.splitScript(statement)).toEqual([statement]);
    }
  });
});
