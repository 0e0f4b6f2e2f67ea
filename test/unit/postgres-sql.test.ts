import { describe, expect, it } from 'vitest';
import type { TableSchema } from '../../src/core/schema.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { postgresSql } from '../../src/dialects/postgres/postgres-sql.ts';
import { captureTable } from '../../src/generate/context.ts';
import { rendererFor } from '../../src/generate/render.ts';

const HOSTILE = ["it's", 'say "hi"', 'back`tick', '[bracket]', 'tilde~', 'semi;colon', 'dollar$dsync$x', 'Mixed Case', 'grant', 'emoji😀'];

describe('postgres quoting', () => {
  it('quotes identifiers only when needed, doubling double quotes', () => {
    expect(postgresSql.ident('sales_order')).toBe('sales_order');
    expect(postgresSql.ident('select')).toBe('"select"');
    expect(postgresSql.ident('MixedCase')).toBe('"MixedCase"');
    expect(postgresSql.ident('say "hi"')).toBe('"say ""hi"""');
  });
  it('doubles single quotes in literals and refuses NUL', () => {
    expect(postgresSql.literal("it's ~ \\")).toBe("'it''s ~ \\'");
    expect(() => postgresSql.literal('a\0b')).toThrow(/NUL/);
    expect(postgresSql.literal(null)).toBe('NULL');
  });
});

describe('postgres templates with hostile names', () => {
  const table: TableSchema = {
    name: 'it\'s "odd"',
    schema: 'public',
    primaryKey: ["it's"],
    columns: HOSTILE.map((name) => ({ name, family: 'text', nativeType: 'text', nullable: name !== "it's", default: null })),
  };
  const render = (t: TableSchema) =>
    rendererFor(postgresDialect).render('capture', {
      version: 'test',
      node: { name: "node'1", dialect: 'postgres', serverId: "srv'1" },
      tables: [],
      programs: [],
      table: captureTable(t),
    });
  const statements = render(table);

  it('renders the same statements however the names look (a name holding $dsync$ cannot end the body)', () => {
    expect(statements).toHaveLength(7);
    expect(statements[0]).toMatch(/AS \$dsync_1\$/);
  });

  it('puts every name in SQL only inside quotes', () => {
    const outsideQuotes = statements
      .join('\n')
      .replace(/^\s*--.*$/gm, '')
      // One pass, whichever quote opens first: a quoted name may hold ' and a literal may hold ".
      .replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"/g, (quoted) => (quoted[0] === "'" ? "''" : '""'));
    for (const name of HOSTILE.filter((n) => !/^[a-z_]+$/.test(n))) expect(outsideQuotes).not.toContain(name);
    // A reserved word as a column name (one the triggers never use as a keyword) stays quoted.
    expect(outsideQuotes).not.toMatch(/\bgrant\b/i);
    expect(statements.join('\n')).toContain("'srv''1'");
    expect(statements.join('\n')).toContain('"it\'s ""odd"""');
  });

  it('keeps a line break in a name from ending a comment', () => {
    const rendered = render({ ...table, name: 'x\nDROP TABLE sales_order; --' });
    expect(rendered).toHaveLength(7);
    expect(rendered[0].split('\n')[0]).toBe(
      '-- Capture for x?DROP TABLE sales_order; --: one outbox row per row change, only changed columns for an update.',
    );
  });
});
