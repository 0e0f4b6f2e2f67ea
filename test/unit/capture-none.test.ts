/**
 * capture_none, the file of a table in capture mode api: on every brand it drops exactly
 * the triggers (and on PostgreSQL the function) that the brand's capture template
 * creates for the same table, creates nothing, and keeps hostile names quoted.
 */
import { describe, expect, it } from 'vitest';
import type { Dialect } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import { mysqlDialect } from '../../src/dialects/mysql/mysql-dialect.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { captureTable } from '../../src/generate/context.ts';
import { rendererFor } from '../../src/generate/render.ts';

const dialects: Array<[string, Dialect, string | null]> = [
  ['postgres', postgresDialect, 'public'],
  ['sqlite', sqliteDialect, null],
  ['mysql', mysqlDialect, null],
  ['mssql', mssqlDialect, 'dbo'],
];

describe.each(dialects)('capture_none on %s', (_, dialect, schema) => {
  const table: TableSchema = {
    name: 'it\'s "odd" order',
    schema,
    primaryKey: ['id'],
    columns: [
      { name: 'id', family: 'integer', nativeType: 'integer', nullable: false, default: null },
      {
        name: 'note',
        family: 'text',
        nativeType: dialect === mssqlDialect ? 'nvarchar' : 'text',
        nullable: true,
        default: null,
        ...(dialect === mssqlDialect ? { length: 100 } : {}),
      },
    ] as TableSchema['columns'],
  };
  const render = (template: string, t = table) =>
    rendererFor(dialect).render(template, {
      version: 'test',
      node: { name: 'n1', dialect: dialect.name, serverId: 's1' },
      tables: [],
      programs: [],
      table: captureTable(t),
    });
  const code = (statements: string[]) => statements.map((s) => s.replace(/^\s*--.*$/gm, '').trim());
  const triggerNames = (statements: string[], pattern: RegExp) =>
    [...new Set(code(statements).flatMap((s) => [...s.matchAll(pattern)].map((m) => m[1])))].sort();

  it('drops every trigger the capture template creates, and creates nothing', () => {
    const created = triggerNames(render('capture'), /CREATE\s+(?:OR\s+ALTER\s+)?TRIGGER\s+(\S+)\s+(?:AFTER|ON)\b/gi);
    const none = render('capture_none');
    expect(created.length).toBeGreaterThanOrEqual(3);
    expect(triggerNames(none, /DROP\s+TRIGGER\s+IF\s+EXISTS\s+(\S+?)(?:\s+ON\b|;|$)/gim)).toEqual(created);
    for (const statement of code(none)) expect(statement).toMatch(/^DROP (TRIGGER|FUNCTION) IF EXISTS /);
  });

  it('keeps the table name quoted and a line break in it inside the comment', () => {
    const none = render('capture_none', { ...table, name: 'x\nDROP TABLE sales_order; --' });
    const outsideQuotes = code(none)
      .join('\n')
      .replace(/"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[(?:[^\]]|\]\])*\]|'(?:[^']|'')*'/g, 'Q');
    expect(outsideQuotes).not.toMatch(/DROP TABLE/);
    expect(none[0].split('\n')[0]).toMatch(/^-- x\?DROP TABLE sales_order; -- is captured by the application/);
  });
});

describe('capture_none on postgres', () => {
  it('drops the trigger function too', () => {
    const none = rendererFor(postgresDialect).render('capture_none', {
      version: 'test',
      node: { name: 'n1', dialect: 'postgres', serverId: 's1' },
      tables: [],
      programs: [],
      table: captureTable({
        name: 'sales_order',
        schema: 'public',
        primaryKey: ['id'],
        columns: [{ name: 'id', family: 'integer', nativeType: 'integer', nullable: false, default: null }],
      } as TableSchema),
    });
    expect(none.at(-1)).toMatch(/DROP FUNCTION IF EXISTS ds_capture_sales_order\(\)$/);
  });
});
