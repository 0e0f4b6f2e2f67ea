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
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import { mysqlDialect } from '../../src/dialects/mysql/mysql-dialect.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { ARRAY_KEYS_ABOVE, inLists, rowsWithEntriesRead } from '../../src/runtime/import/dml.ts';

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

describe('inLists: the key lists of the capture passes, the shadow and the key notes', () => {
  const values = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`);

  it('names more than ARRAY_KEYS_ABOVE values in one array parameter on PostgreSQL, typed by the column where given', () => {
    const [only, ...rest] = inLists(postgresDialect, 'row_key', values(10_000), 2);
    expect(rest).toEqual([]);
    expect(only.sql).toBe('row_key = ANY(ARRAY(SELECT unnest($2::text[])))');
    expect(only.params).toEqual([values(10_000)]);
    const ids = inLists(postgresDialect, 'id', [1, 2, 3].concat(Array(ARRAY_KEYS_ABOVE).fill(4)), 1, col('id', 'bigint', 'bigint'));
    expect(ids[0].sql).toBe('id = ANY(ARRAY(SELECT unnest($1::bigint[])))');
  });

  it('keeps a list of parameters at ARRAY_KEYS_ABOVE values and below, numbered from the first', () => {
    const [only] = inLists(postgresDialect, 'row_key', values(3), 2);
    expect(only).toEqual({ sql: 'row_key IN ($2, $3, $4)', params: values(3) });
    expect(inLists(postgresDialect, 'row_key', values(ARRAY_KEYS_ABOVE), 2)[0].sql).not.toContain('ANY(');
  });

  it("cuts the list within the brand's parameters where it has no array, every value once and in order", () => {
    for (const dialect of [mysqlDialect, sqliteDialect]) {
      const many = values(dialect.capabilities.maxParameters * 2 + 5);
      const pieces = inLists(dialect, 'row_key', many, 2);
      expect(pieces.length, dialect.name).toBeGreaterThan(2);
      for (const piece of pieces) {
        expect(piece.params.length + 1, dialect.name).toBeLessThanOrEqual(dialect.capabilities.maxParameters);
        expect(piece.sql.match(/\?/g)?.length, dialect.name).toBe(piece.params.length);
      }
      expect(pieces.flatMap((p) => p.params)).toEqual(many);
    }
  });

  it('keeps SQL Server (no array parameter) within its 2,100 parameters, each piece numbered from the first', () => {
    const many = values(4005);
    const pieces = inLists(mssqlDialect, 'row_key', many, 2);
    expect(pieces.length).toBeGreaterThan(2);
    for (const piece of pieces) {
      expect(piece.params.length + 1).toBeLessThanOrEqual(mssqlDialect.capabilities.maxParameters);
      expect(piece.sql).toBe(`row_key IN (${piece.params.map((_, j) => mssqlDialect.sql.param(2 + j)).join(', ')})`);
    }
    expect(pieces.flatMap((p) => p.params)).toEqual(many);
  });
});
