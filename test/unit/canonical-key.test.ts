/** The canonical key spelling (docs/convergence.md): one text per key, whatever spelling the value came in. */
import { describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../src/core/schema.ts';

const column = (name: string, family: TypeFamily): ColumnSchema => ({ name, nativeType: family, family, nullable: false, default: null });
const table = (...columns: ColumnSchema[]): TableSchema => ({ name: 't', schema: null, columns, primaryKey: columns.map((c) => c.name) });

describe('canonicalKeyText', () => {
  it('writes a one-column key as its JSON value', () => {
    expect(canonicalKeyText(table(column('id', 'text')), { id: 'ord2' })).toBe('"ord2"');
    expect(canonicalKeyText(table(column('id', 'integer')), { id: '42' })).toBe('42');
    expect(canonicalKeyText(table(column('id', 'bigint')), { id: '9007199254740993' })).toBe('"9007199254740993"');
    expect(canonicalKeyText(table(column('id', 'bigint')), { id: 9007199254740991 })).toBe('9007199254740991');
  });

  it('writes a composite key compactly in primary-key order, not in the order given', () => {
    const t = { ...table(column('order_id', 'text'), column('line_no', 'integer')) };
    expect(canonicalKeyText(t, { line_no: 1, order_id: 'ord2' })).toBe('{"order_id":"ord2","line_no":1}');
    const reordered = { ...t, primaryKey: ['line_no', 'order_id'] };
    expect(canonicalKeyText(reordered, { order_id: 'ord2', line_no: 1 })).toBe('{"line_no":1,"order_id":"ord2"}');
  });

  it('escapes strings as JSON.stringify does, and key names too', () => {
    const t = table(column('k"\\ey', 'text'), column('n', 'integer'));
    expect(canonicalKeyText(t, { 'k"\\ey': 'a"b\\c/d\u0001\u0008\n\u001f\u007f é😀\u2028', n: 1 })).toBe(
      '{"k\\"\\\\ey":"a\\"b\\\\c/d\\u0001\\b\\n\\u001f\u007f é😀\u2028","n":1}',
    );
  });

  it('spells decimals by value', () => {
    const t = table(column('d', 'decimal'));
    for (const [given, text] of [
      ['12.50', '"12.5"'],
      [12.5, '"12.5"'],
      ['100', '"100"'],
      ['100.000', '"100"'],
      ['-0.00', '"0"'],
      ['+007.10', '"7.1"'],
      ['1.5e3', '"1500"'],
      ['-2.50e-2', '"-0.025"'],
      ['.5', '"0.5"'],
      ['NaN', '"NaN"'],
    ] as const) {
      expect(canonicalKeyText(t, { d: given }), String(given)).toBe(text);
    }
  });

  it('spells floats as plain numbers with the shortest round-trip digits', () => {
    const t = table(column('f', 'float'));
    for (const [given, text] of [
      [1e21, '1000000000000000000000'],
      [1e-7, '0.0000001'],
      [0.1, '0.1'],
      [-0, '0'],
      ['1.5', '1.5'],
      [0.30000000000000004, '0.30000000000000004'],
      [-1.25e-10, '-0.000000000125'],
      ['NaN', '"NaN"'],
      ['Infinity', '"Infinity"'],
    ] as const) {
      expect(canonicalKeyText(t, { f: given }), String(given)).toBe(text);
    }
  });

  it('spells dates, times, uuids and booleans canonically', () => {
    const t = table(
      column('d', 'date'),
      column('ts', 'timestamp'),
      column('tz', 'timestamptz'),
      column('u', 'uuid'),
      column('b', 'boolean'),
    );
    expect(
      canonicalKeyText(t, {
        d: '5/25/2025',
        ts: '2025-06-25 10:30:00',
        tz: '2025-06-25T10:30:00+02:00',
        u: '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}',
        b: 't',
      }),
    ).toBe(
      '{"d":"2025-05-25","ts":"2025-06-25T10:30:00.000000","tz":"2025-06-25T08:30:00.000000Z","u":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","b":true}',
    );
  });

  it('refuses a key that lacks a column or holds NULL', () => {
    const t = table(column('a', 'text'), column('b', 'integer'));
    expect(() => canonicalKeyText(t, { a: 'x' })).toThrow(/lacks b/);
    expect(() => canonicalKeyText(t, { a: 'x', b: null })).toThrow(/NULL/);
  });
});
