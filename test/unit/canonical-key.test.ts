/** canonicalKeyText: the one spelling of a key that every brand's triggers must match. */
import { describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../src/core/schema.ts';

const column = (name: string, family: TypeFamily): ColumnSchema => ({ name, family, nativeType: family, nullable: false, default: null });

describe('canonicalKeyText', () => {
  it('a one-column key is the JSON value itself', () => {
    const table: TableSchema = { name: 't', schema: null, primaryKey: ['id'], columns: [column('id', 'text')] };
    expect(canonicalKeyText(table, { id: 'ord2' })).toBe('"ord2"');
    expect(canonicalKeyText(table, { id: 'q"\\\u001f\u000b\n😀' })).toBe('"q\\"\\\\\\u001f\\u000b\\n😀"');
    const numbered: TableSchema = { ...table, columns: [column('id', 'bigint')] };
    expect(canonicalKeyText(numbered, { id: 42 })).toBe('42');
    expect(canonicalKeyText(numbered, { id: '9223372036854775807' })).toBe('9223372036854775807');
  });

  it('a composite key is a compact object in primary-key order, decimals without trailing zeros', () => {
    const table: TableSchema = {
      name: 'order_line',
      schema: null,
      primaryKey: ['order_id', 'line_no', 'amount'],
      columns: [column('amount', 'decimal'), column('line_no', 'integer'), column('order_id', 'text')],
    };
    expect(canonicalKeyText(table, { line_no: 1, amount: '12.50', order_id: 'ord2' })).toBe('{"order_id":"ord2","line_no":1,"amount":"12.5"}');
    expect(canonicalKeyText(table, { line_no: '-9007199254740993', amount: '100.000', order_id: 'x' })).toBe(
      '{"order_id":"x","line_no":-9007199254740993,"amount":"100"}',
    );
  });
});
