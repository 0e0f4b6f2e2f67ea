/**
 * The import's locked read of rows and entries names more than ARRAY_KEYS_ABOVE keys in one array
 * parameter on PostgreSQL (DialectSql.inArray), and never at or below it: a small batch (readAhead's,
 * at most 63 changes with a key and an old key each) keeps its list of parameters. Keys of a family
 * whose array spelling differs from the single value's, and composite keys, keep the list too.
 */
import { describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { ColumnSchema, TableSchema } from '../../src/core/schema.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { ARRAY_KEYS_ABOVE, rowsWithEntriesRead } from '../../src/runtime/import/dml.ts';

const col = (name: string, family: ColumnSchema['family'], nativeType: string): ColumnSchema => ({
  name,
  nativeType,
  family,
  nullable: false,
  default: null,
});

const table = (key: ColumnSchema[]): TableSchema => ({
  name: 't',
  schema: 'public',
  columns: [...key, col('v', 'text', 'text')],
  primaryKey: key.map((c) => c.name),
});

function read(t: TableSchema, keys: ValueMap[]) {
  const rowKeys = keys.map((k) => JSON.stringify(Object.values(k)));
  return rowsWithEntriesRead(postgresDialect, t, keys, (k) => JSON.stringify(Object.values(k)), rowKeys, true)!;
}

describe('rows and entries read with keys as an array', () => {
  const text = table([col('id', 'text', 'character varying(20)')]);
  const keys = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `k"${i}\\,` }));

  it('names the keys and row keys in two array parameters above ARRAY_KEYS_ABOVE keys', () => {
    const r = read(text, keys(ARRAY_KEYS_ABOVE + 1));
    expect(r.sql).toContain('WHERE id = ANY(ARRAY(SELECT unnest($1::text[])))');
    expect(r.sql).toContain('row_key = ANY(ARRAY(SELECT unnest($3::text[])))');
    expect(r.params).toHaveLength(3);
    expect(r.params[0]).toEqual(keys(ARRAY_KEYS_ABOVE + 1).map((k) => k.id));
    expect(r.params[1]).toBe('t');
  });

  it('keeps a list of parameters at ARRAY_KEYS_ABOVE keys and below (a small batch)', () => {
    const r = read(text, keys(ARRAY_KEYS_ABOVE));
    expect(r.sql).not.toContain('ANY(');
    expect(r.params).toHaveLength(2 * ARRAY_KEYS_ABOVE + 1);
    // readAhead's largest batch: 63 changes, each with a key and an old key.
    expect(read(text, keys(2 * 63)).sql).not.toContain('ANY(');
  });

  it('keeps the list for a binary or composite key, the row keys still as an array', () => {
    for (const t of [table([col('id', 'binary', 'bytea')]), table([col('a', 'text', 'text'), col('b', 'integer', 'integer')])]) {
      const many = Array.from(
        { length: ARRAY_KEYS_ABOVE + 1 },
        (_, i): ValueMap => (t.primaryKey.length === 1 ? { id: Buffer.from([i]).toString('base64') } : { a: `a${i}`, b: i }),
      );
      const r = read(t, many);
      expect(r.sql).not.toMatch(/WHERE (id|a) = ANY/);
      expect(r.sql).toMatch(/row_key = ANY\(ARRAY\(SELECT unnest\(\$\d+::text\[\]\)\)\)/);
    }
  });

  // The array goes in through a sub-SELECT, typed as the server would infer it for `= ANY($n)`:
  // never with a length (a varchar(20) cast would cut a longer key, a bare character one to one letter).
  it('types the array as the server infers it, and leaves a type it cannot name as a plain array parameter', () => {
    const many = (family: ColumnSchema['family']) =>
      Array.from({ length: ARRAY_KEYS_ABOVE + 1 }, (_, i): ValueMap => ({ id: family === 'text' ? `k${i}` : String(i) }));
    const cases: Array<[ColumnSchema['family'], string, string | null]> = [
      ['text', 'text', 'text'],
      ['text', 'character varying(20)', 'text'],
      ['text', 'character varying', 'text'],
      ['text', 'character(10)', 'bpchar'],
      ['integer', 'smallint', 'smallint'],
      ['integer', 'integer', 'integer'],
      ['bigint', 'bigint', 'bigint'],
      ['text', 'citext', null],
      ['text', 'mood', null],
    ];
    for (const [family, nativeType, element] of cases) {
      const r = read(table([col('id', family, nativeType)]), many(family));
      if (element === null) expect(r.sql, nativeType).toContain('WHERE id = ANY($1)');
      else expect(r.sql, nativeType).toContain(`WHERE id = ANY(ARRAY(SELECT unnest($1::${element}[])))`);
    }
  });
});
