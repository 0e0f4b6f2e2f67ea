/**
 * The SQL Server templates and the helpers that build a trigger's canonical JSON, checked
 * as text (no server here): every name and value enters only inside [brackets] or N'…',
 * hostile names cannot break out or make a GO line, server-computed columns are not
 * captured, and the T-SQL is the 2019 dialect (no JSON_OBJECT, no IS DISTINCT FROM).
 */
import { describe, expect, it } from 'vitest';
import { Parser } from 'node-sql-parser';
import { parseConfig } from '../../src/config/config.ts';
import type { ColumnSchema, TableSchema, TypeFamily } from '../../src/core/schema.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import {
  mssqlChanged,
  mssqlChangedJson,
  mssqlChangedNames,
  mssqlJsonObject,
  mssqlJsonValue,
  mssqlKeyJsonExpression,
  mssqlKeyMatch,
} from '../../src/dialects/mssql/mssql-sql.ts';
import { keyNotesTable, safeName } from '../../src/core/safe-name.ts';
import { captureTable } from '../../src/generate/context.ts';
import { compareFiles, type GeneratedFile, generateNode } from '../../src/generate/generate.ts';
import { rendererFor } from '../../src/generate/render.ts';
import { generateMssqlOffline, mssqlFixtureConfig, mssqlFixtureSchemas, mssqlGeneratedDir } from '../helpers/mssql-offline.ts';

const col = (name: string, family: TypeFamily, nativeType: string, extra: Partial<ColumnSchema> = {}): ColumnSchema => ({
  name,
  family,
  nativeType,
  nullable: true,
  default: null,
  ...extra,
});

/**
 * Walks T-SQL the way the server's lexer does for what we generate: -- and block comments,
 * '…'/N'…' strings with '' and […] names with ]]. Returns the text outside all of them,
 * and fails when one is left open.
 */
function outsideQuotes(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const two = sql.slice(i, i + 2);
    if (two === '--') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
    } else if (two === '/*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`unclosed comment at ${i}`);
      i = end + 2;
    } else if (sql[i] === "'" || sql[i] === '[') {
      const close = sql[i] === "'" ? "'" : ']';
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) throw new Error(`unclosed ${sql[i]} at ${i}: ${sql.slice(i, i + 40)}`);
        if (sql[j] === close && sql[j + 1] === close) j += 2;
        else if (sql[j] === close) break;
        else j++;
      }
      out += sql[i] === "'" ? "''" : '[]';
      i = j + 1;
    } else {
      out += sql[i++];
    }
  }
  return out;
}

const HOSTILE = [
  "it's",
  'say "hi"',
  'back`tick',
  '[bracket]',
  'a]]b',
  'tilde~col',
  'semi;colon',
  '-- dash',
  '/* star',
  'Mixed Case',
  'select',
  'emoji😀',
  'GO',
];

const hostileTable: TableSchema = {
  name: "it's [odd] 😀",
  schema: 'my]schema',
  primaryKey: ["it's", 'select'],
  columns: [
    ...HOSTILE.map((name) => col(name, 'text', 'nvarchar(max)', { nullable: name !== "it's" })),
    col('select', 'integer', 'int', { nullable: false }),
  ].filter((c, i, all) => all.findIndex((o) => o.name === c.name) === i),
};

const context = (table: TableSchema, serverId = "srv'1 😀") => ({
  version: 'test',
  node: { name: "node'1", dialect: 'mssql', serverId },
  tables: [],
  programs: [],
  table: captureTable(table),
});

const renderCapture = (table: TableSchema, serverId?: string) => rendererFor(mssqlDialect).render('capture', context(table, serverId));

describe('mssql capture with hostile names', () => {
  const statements = renderCapture(hostileTable);
  const sql = statements.join('\nGO\n');

  it('renders the shared column-versions function and three triggers, each one batch', () => {
    expect(statements).toHaveLength(4);
    expect(statements[0]).toMatch(/^-- [\s\S]*\nCREATE OR ALTER FUNCTION dbo\.ds_col_versions\(/);
    const stem = safeName(hostileTable.name);
    expect(stem).toMatch(/^it_s_odd_[0-9a-f]{6}$/);
    expect(statements.slice(1).map((s) => /CREATE OR ALTER TRIGGER (\S+)/.exec(s)?.[1])).toEqual(
      ['ins', 'upd', 'del'].map((kind) => `[my]]schema].ds_${stem}_${kind}`),
    );
    for (const s of statements.slice(1)) expect(s).toContain("ON [my]]schema].[it's [odd]] 😀]");
  });

  it('puts every name and value only inside brackets or N-quotes', () => {
    const outside = statements.map(outsideQuotes).join('\n');
    for (const fragment of ["it's", '"hi"', '`', 'tilde~', 'semi;', 'dash', 'star', 'Mixed Case', '😀', '[odd]']) {
      expect(outside, fragment).not.toContain(fragment);
    }
    expect(outside).not.toMatch(/\bselect\s*=/i); // the column "select" is always [select]
    expect(sql).toContain("N'srv''1 😀'");
    expect(sql).toContain("N'node''1'");
    expect(sql).toContain('[[bracket]]]');
    expect(sql).toContain('[a]]]]b]');
  });

  it('never has a line of its own reading GO inside a batch', () => {
    for (const s of statements) expect(s).not.toMatch(/^\s*GO\s*;?\s*$/im);
    expect(mssqlDialect.splitScript(sql)).toHaveLength(4);
  });

  it('writes JSON keys as JSON.stringify does, inside N-quotes', () => {
    expect(sql).toContain(`N'{"it''s":'`);
    expect(sql).toContain(`N',"say \\"hi\\"":'`);
    expect(sql).toContain(`N',"emoji😀":'`);
  });

  it('refuses a name with a line break instead of generating a broken script', () => {
    expect(() => renderCapture({ ...hostileTable, name: 'x\nGO\nDROP TABLE t' })).toThrow(/line break/);
    expect(() =>
      renderCapture({ ...hostileTable, schema: 'dbo', columns: [...hostileTable.columns, col('a\r\nb', 'text', 'nvarchar(10)')] }),
    ).toThrow(/line break/);
  });

  it('keeps control characters of a name out of the leading comment', () => {
    const [, first] = renderCapture({ ...hostileTable, name: 'x\ty\u000bz' });
    expect(first.split('\n')[0]).toBe('-- Capture for x?y?z: one outbox row per row change, only the changed columns for an update.');
    expect(first).toContain('ON [my]]schema].[x\ty\u000bz]');
  });
});

describe('mssql capture of server-computed and unusual columns', () => {
  const table: TableSchema = {
    name: 'orders',
    schema: 'dbo',
    primaryKey: ['id'],
    columns: [
      col('id', 'bigint', 'bigint', { nullable: false, identity: 'always' }),
      col('total', 'decimal', 'decimal(12,2)', { generated: true }),
      col('rv', 'text', 'timestamp', { generated: true }),
      col('doc', 'text', 'xml'),
      col('price', 'decimal', 'money'),
      col('at', 'timestamp', 'datetime'),
      col('code', 'text', 'char(3)'),
    ],
  };
  const statements = renderCapture(table);
  const sql = statements.join('\n');

  it('captures identity columns but not computed or rowversion ones', () => {
    expect(sql).toContain(`N'id,doc,price,at,code'`);
    expect(sql).not.toMatch(/\.total\b|\.rv\b/);
  });

  it('encodes money with all four decimals, datetime at its millisecond, char without its pad, xml as text', () => {
    expect(sql).toContain('CONVERT(nvarchar(40), i.price, 2)');
    expect(sql).toContain('CAST(i.at AS datetime2(3))');
    expect(sql).toContain('CAST(RTRIM(i.code) AS nvarchar(max))');
    expect(sql).toContain('CAST(CAST(i.doc AS nvarchar(max)) AS varbinary(max))'); // xml has no `=`
  });

  it('refuses text, ntext and image, which triggers cannot read, naming the fix', () => {
    for (const [type, modern] of [
      ['ntext', 'nvarchar(max)'],
      ['text', 'varchar(max)'],
      ['image', 'varbinary(max)'],
    ]) {
      const legacy = { ...table, columns: [...table.columns, col('old', type === 'image' ? 'binary' : 'text', type)] };
      expect(() => renderCapture(legacy)).toThrow(new RegExp(`old is ${type}.*ALTER COLUMN old ${modern.replace(/[()]/g, '\\$&')}`));
    }
  });
});

describe('mssql JSON helpers', () => {
  it('spells each family canonically (SQL Server 2016+ functions only)', () => {
    const value = (family: TypeFamily, native: string) => mssqlJsonValue(col('v', family, native), 'i');
    expect(value('integer', 'int')).toBe("CASE WHEN i.v IS NULL THEN N'null' ELSE CAST(i.v AS nvarchar(20)) END");
    expect(value('bigint', 'bigint')).toContain(
      "BETWEEN -9007199254740991 AND 9007199254740991 THEN CAST(i.v AS nvarchar(20)) ELSE N'\"' + CAST(i.v AS nvarchar(20)) + N'\"'",
    );
    expect(value('decimal', 'decimal(12,2)')).toContain(`N'"' + CAST(i.v AS nvarchar(50)) + N'"'`);
    expect(value('float', 'float')).toContain('CONVERT(nvarchar(30), i.v, 3)');
    expect(value('float', 'real')).toContain('CONVERT(nvarchar(30), CAST(i.v AS float), 3)');
    expect(value('boolean', 'bit')).toContain("CASE WHEN i.v = 1 THEN N'true' ELSE N'false' END");
    expect(value('date', 'date')).toContain('CONVERT(nchar(10), i.v, 23)');
    expect(value('time', 'time(6)')).toContain(
      "CONVERT(nchar(8), i.v, 108) + N'.' + RIGHT(N'00000' + CAST(DATEPART(microsecond, i.v) AS nvarchar(6)), 6)",
    );
    expect(value('timestamp', 'datetime2(6)')).toContain("CONVERT(nchar(10), i.v, 23) + N'T' + CONVERT(nchar(8), i.v, 108)");
    expect(value('timestamptz', 'datetimeoffset(6)')).toContain("CAST(SWITCHOFFSET(i.v, N'+00:00') AS datetime2(7))");
    expect(value('timestamptz', 'datetimeoffset(6)')).toContain(`N'Z"'`);
    expect(value('binary', 'varbinary(max)')).toContain("FOR XML PATH(''), BINARY BASE64");
    expect(value('uuid', 'uniqueidentifier')).toContain('LOWER(CONVERT(nchar(36), i.v))');
    expect(value('text', 'nvarchar(max)')).toContain("REPLACE(STRING_ESCAPE(CAST(i.v AS nvarchar(max)), 'json'), N'\\/', N'/')");
    expect(value('json', 'json')).toContain("STRING_ESCAPE(CAST(i.v AS nvarchar(max)), 'json')");
    const all = (
      [
        'integer',
        'bigint',
        'decimal',
        'float',
        'boolean',
        'text',
        'date',
        'time',
        'timestamp',
        'timestamptz',
        'binary',
        'json',
        'uuid',
      ] as const
    )
      .map((f) => value(f, f === 'text' ? 'nvarchar(10)' : f))
      .join('\n');
    expect(all).not.toMatch(/JSON_OBJECT|IS DISTINCT FROM|FORMAT\(|JSON_ARRAY/);
  });

  it('builds whole objects with a flat CONCAT into nvarchar(max), in column order', () => {
    const object = mssqlJsonObject([col('a', 'integer', 'int'), col('b"c', 'text', 'nvarchar(5)')], 'd');
    expect(object.startsWith("CONCAT(CAST(N'' AS nvarchar(max)),")).toBe(true);
    expect(object).toContain(`N'{"a":' + CASE WHEN d.a IS NULL`);
    expect(object).toContain(`N',"b\\"c":' + CASE WHEN d.[b"c] IS NULL`);
    expect(object.endsWith("N'}')")).toBe(true);
  });

  it('nests CONCAT for tables wider than one CONCAT takes (254 arguments)', () => {
    const wide = Array.from({ length: 300 }, (_, i) => col(`c${i}`, 'integer', 'int'));
    const object = mssqlJsonObject(wide, 'i').replace(/N'(?:[^']|'')*'/g, "N''");
    expect(object.match(/CONCAT\(/g)!.length).toBeGreaterThan(1);
    for (const call of object.split('CONCAT(').slice(1)) {
      let depth = 1;
      let args = 1;
      for (const ch of call) {
        if (ch === '(') depth++;
        else if (ch === ')' && --depth === 0) break;
        else if (ch === ',' && depth === 1) args++;
      }
      expect(args).toBeLessThanOrEqual(254);
    }
  });

  it('gives a scalar key for one column and an object for a composite one', () => {
    expect(mssqlKeyJsonExpression([col('id', 'integer', 'int')], 'i')).toBe('CAST(i.id AS nvarchar(20))');
    expect(mssqlKeyJsonExpression([col('a', 'integer', 'int'), col('b', 'integer', 'int')], 'i')).toContain(`N'{"a":'`);
    expect(mssqlKeyMatch([col('a', 'integer', 'int'), col('Key Col', 'text', 'nvarchar(5)')], 'i', 'd')).toBe(
      'i.a = d.a AND i.[Key Col] = d.[Key Col]',
    );
  });

  it('detects changes NULL-safely, text and binary by their bytes (case and trailing spaces count)', () => {
    expect(mssqlChanged(col('n', 'integer', 'int'))).toBe(
      '(i.n <> d.n OR (i.n IS NULL AND d.n IS NOT NULL) OR (i.n IS NOT NULL AND d.n IS NULL))',
    );
    const text = mssqlChanged(col('t', 'text', 'nvarchar(20)'));
    expect(text).toContain('CAST(i.t AS varbinary(max)) <> CAST(d.t AS varbinary(max))');
    expect(text).toContain('DATALENGTH(CAST(i.t AS varbinary(max))) <> DATALENGTH(CAST(d.t AS varbinary(max)))');
    expect(mssqlChanged(col('b', 'binary', 'varbinary(max)'))).toContain('DATALENGTH');
    expect(mssqlChanged(col('j', 'json', 'json'))).toContain('CAST(CAST(i.j AS nvarchar(max)) AS varbinary(max))');
  });

  it('lists and encodes only the flagged columns of an update', () => {
    const columns = [col('a', 'integer', 'int'), col("it's", 'text', 'nvarchar(5)')];
    expect(mssqlChangedNames(columns)).toBe(
      "STUFF(CONCAT(CAST(N'' AS nvarchar(max)),\n      CASE WHEN ch.c0 = 1 THEN N',a' ELSE N'' END,\n      CASE WHEN ch.c1 = 1 THEN N',it''s' ELSE N'' END), 1, 1, N'')",
    );
    const json = mssqlChangedJson(columns, 'd');
    expect(json.startsWith("N'{' + STUFF(CONCAT(")).toBe(true);
    expect(json).toContain(`CASE WHEN ch.c1 = 1 THEN N',"it''s":' + CASE WHEN d.[it's] IS NULL`);
  });
});

describe('mssql update trigger', () => {
  const table: TableSchema = {
    name: 'order_line',
    schema: 'dbo',
    primaryKey: ['order_id', 'line_no'],
    columns: [
      col('order_id', 'text', 'nvarchar(20)', { nullable: false }),
      col('line_no', 'integer', 'int', { nullable: false }),
      col('amount', 'decimal', 'decimal(12,2)'),
    ],
  };
  const [, , update] = renderCapture(table);

  it('pairs rows by key, and a lone moved key as an update with the old key', () => {
    expect(update).toContain('IF UPDATE(order_id) OR UPDATE(line_no)');
    expect(update).toContain('FROM inserted AS i JOIN deleted AS d ON i.order_id = d.order_id AND i.line_no = d.line_no');
    expect(update).toContain('WHERE @moved_new = 1 AND @moved_old = 1');
    expect(update).toMatch(/'U', @server/);
  });

  it('writes a delete and an insert for moved keys it cannot pair', () => {
    expect(update).toContain('IF @moved_new + @moved_old > 0 AND NOT (@moved_new = 1 AND @moved_old = 1)');
    expect(update).toMatch(/'D', @server[\s\S]*'I', @server/);
  });

  it('writes nothing for an update that changes nothing', () => {
    expect(update).toContain('WHERE ch.c0 = 1 OR ch.c1 = 1 OR ch.c2 = 1;');
  });

  it('returns at once while the import has silenced capture in this transaction', () => {
    expect(update).toContain("IF CAST(SESSION_CONTEXT(N'dsync.capture_off') AS bigint) = CURRENT_TRANSACTION_ID() RETURN;");
  });

  it('takes the origin from the session context only inside the transaction that set it', () => {
    expect(update).toContain("IF CAST(SESSION_CONTEXT(N'dsync.origin_txn') AS bigint) = CURRENT_TRANSACTION_ID()");
    expect(update).toContain("SELECT @server = N'srv''1 😀', @user = ORIGINAL_LOGIN(), @time = SYSUTCDATETIME(), @origin_id = NULL;");
  });
});

describe('mssql capture keeps the version store (docs/convergence.md "Capture contract")', () => {
  const table: TableSchema = {
    name: 'order_line',
    schema: 'dbo',
    primaryKey: ['order_id', 'line_no', 'price'],
    columns: [
      col('order_id', 'text', 'nvarchar(20)', { nullable: false }),
      col('line_no', 'integer', 'int', { nullable: false }),
      col('price', 'decimal', 'decimal(12,2)', { nullable: false, scale: 2 }),
      col('amount', 'decimal', 'decimal(12,2)'),
    ],
  };
  const [fn, insert, update, del] = renderCapture(table);
  const hlc = (floor: string) => `CASE WHEN r.max_version >= ${floor} THEN r.max_version + 1 ELSE ${floor} END`;

  it('takes the wall clock in microseconds since 1970 UTC in every trigger', () => {
    for (const trigger of [insert, update, del]) {
      expect(trigger).toContain("@now bigint = DATEDIFF_BIG(MICROSECOND, '1970-01-01', SYSUTCDATETIME())");
      expect(trigger).toContain('MERGE dbo.ds_row_version WITH (HOLDLOCK) AS r');
    }
  });

  it('moves cl to the next odd number on insert and the next even one on delete, base = (v, server)', () => {
    expect(insert).toContain('WHEN MATCHED THEN UPDATE SET cl = r.cl + 1 + r.cl % 2');
    expect(insert).toContain("VALUES (@table, s.row_key, 1, s.min_version, s.min_version, @server, N'{}')");
    expect(del).toContain('WHEN MATCHED THEN UPDATE SET cl = r.cl + 2 - r.cl % 2');
    expect(del).toContain("VALUES (@table, s.row_key, 2, s.min_version, s.min_version, @server, N'{}')");
    for (const trigger of [insert, del]) {
      expect(trigger).toContain(`max_version = ${hlc('s.min_version')}`);
      expect(trigger).toContain(`base_version = ${hlc('s.min_version')}`);
      expect(trigger).toContain("base_server = @server, col_versions = N'{}'");
      expect(trigger).toContain('@now AS min_version');
    }
  });

  it("keeps cl odd on an update and gives each changed column [v, server]; a new entry has base (0, '')", () => {
    expect(update).toContain('WHEN MATCHED THEN UPDATE SET cl = r.cl + 1 - r.cl % 2');
    expect(update).toContain(`col_versions = dbo.ds_col_versions(r.col_versions, s.cols, ${hlc('@now')}, @server)`);
    expect(update).toContain("VALUES (@table, s.row_key, 1, @now, 0, N'', dbo.ds_col_versions(N'{}', s.cols, @now, @server))");
    expect(update).toContain(`N'[' + STUFF(CONCAT(CAST(N'' AS nvarchar(max)),\n      CASE WHEN ch.c0 = 1 THEN N',"order_id"' ELSE N'' END`);
    expect(fn).toContain("N'[' + CAST(@version AS nvarchar(20)) + N',\"' + STRING_ESCAPE(@server, 'json') + N'\"]'");
    expect(fn).toContain('FROM OPENJSON(@old) AS o');
  });

  it('turns a key change into an insert of the new key and a delete of the old one, one version for both', () => {
    expect(update).toContain('USING (SELECT n_key AS row_key, @now AS min_version FROM @pairs WHERE moved = 1) AS s');
    expect(update).toContain(
      'USING (SELECT p.o_key AS row_key, v.version AS min_version FROM @pairs AS p JOIN @v AS v ON v.row_key = p.n_key WHERE p.moved = 1) AS s',
    );
    expect(update).toContain('OUTPUT inserted.row_key, inserted.cl, inserted.max_version INTO @v_old;');
    expect(update).toMatch(/UPDATE v SET version = o\.version[\s\S]*WHERE o\.version > v\.version;/);
    expect(update).toContain('UPDATE r SET max_version = v.version, base_version = v.version');
    // every column of the new row when the key text changed, the changed ones otherwise
    expect(update).toMatch(
      /CASE WHEN k\.n_key = k\.o_key THEN N'\{' \+ STUFF\([\s\S]*ELSE CONCAT\(CAST\(N'' AS nvarchar\(max\)\),\n\s+N'\{"order_id":'/,
    );
  });

  it('writes row_cl, row_cl_old and change_version into every outbox row it writes', () => {
    const outboxInserts = [insert, update, del].join('\n').split('INSERT INTO dbo.ds_change_outbox').slice(1);
    expect(outboxInserts).toHaveLength(5);
    for (const statement of outboxInserts)
      expect(statement).toMatch(/row_cl, (row_cl_old, )?change_version\)[\s\S]*v\.cl, (o\.cl, )?v\.version/);
    expect(update).toContain('row_cl, row_cl_old, change_version)');
    expect(update).toContain('CASE WHEN p.moved = 1 THEN p.o_key END, p.new_json, p.old_json,');
  });

  it('spells the key canonically: compact object in key order, decimals by value; refuses a float key', () => {
    expect(insert).toContain(
      `N'{"order_id":' + N'"' + REPLACE(STRING_ESCAPE(CAST(i.order_id AS nvarchar(max)), 'json'), N'\\/', N'/') + N'"'`,
    );
    expect(insert).toContain(
      `N',"price":' + N'"' + CASE WHEN CHARINDEX(N'.', CAST(i.price AS nvarchar(50))) = 0 THEN CAST(i.price AS nvarchar(50)) ELSE LEFT(`,
    );
    expect(insert).toContain(`REPLACE(RTRIM(REPLACE(CAST(i.price AS nvarchar(50)), N'0', N' ')), N' ', N'0')`);
    expect(() => renderCapture({ ...table, primaryKey: ['f'], columns: [col('f', 'float', 'float', { nullable: false })] })).toThrow(
      /float key/,
    );
  });
});

describe('mssql sync objects', () => {
  const config = parseConfig(
    {
      nodes: {
        ms: { dialect: 'mssql', url: 'mssql://offline', serverId: 'ms-1' },
        pg: { dialect: 'postgres', url: 'postgres://offline', serverId: 'pg-1' },
      },
      tables: ['t'],
      programs: [
        { id: 1000, type: 'transport', from: 'ms', to: 'pg', name: "it's ms → pg", intervalSeconds: 0.5 },
        { id: 1003, type: 'import', node: 'ms' },
      ],
    },
    '/tmp',
    null,
    {},
  );
  const schema: TableSchema = { name: 't', schema: 'dbo', primaryKey: ['id'], columns: [col('id', 'integer', 'int', { nullable: false })] };
  const files = generateNode(config, config.nodes.ms, mssqlDialect, [schema]);

  it('upserts each program with MERGE, keeping last_pointer and status', () => {
    const file = files.find((f) => f.object === 'ds_program_parameter')!;
    const statements = mssqlDialect.splitScript(file.content);
    expect(statements).toHaveLength(3);
    const merge = statements[1];
    expect(merge).toMatch(/^-- Program 1000/);
    expect(merge).toContain("N'it''s ms → pg'");
    expect(merge).toContain('0.5');
    expect(merge).toMatch(/MERGE\s+dbo\.ds_program_parameter\s+WITH\s+\(HOLDLOCK\)/);
    const matched = merge.slice(merge.indexOf('WHEN MATCHED'), merge.indexOf('WHEN NOT MATCHED'));
    expect(matched).not.toMatch(/last_pointer|status/);
    expect(merge.trimEnd().endsWith(';')).toBe(true); // MERGE must end with a semicolon
    expect(statements[2]).toContain('1003');
  });

  it('makes every statement re-runnable', () => {
    for (const file of files) {
      for (const statement of mssqlDialect.splitScript(file.content)) {
        const body = statement.replace(/^--.*$/gm, '').trim();
        expect(body, `${file.fileName}: ${body.slice(0, 60)}`).toMatch(
          /^(IF OBJECT_ID\(|IF NOT EXISTS \(|IF COL_LENGTH\(|CREATE OR ALTER |MERGE\s)/,
        );
      }
    }
  });

  it('lexes cleanly: every quote, bracket and comment closed, no GO line inside a statement', () => {
    for (const file of files) {
      for (const statement of mssqlDialect.splitScript(file.content)) {
        expect(() => outsideQuotes(statement)).not.toThrow();
        expect(statement).not.toMatch(/^\s*GO\s*;?\s*$/im);
      }
    }
  });

  it('dedupes the inbox with IGNORE_DUP_KEY and fences every outbox and inbox insert', () => {
    const inbox = files.find((f) => f.object === 'ds_change_inbox')!.content;
    expect(inbox).toMatch(
      /CONSTRAINT ds_change_inbox_origin UNIQUE \(updated_by_server_id, origin_change_id\)\s+WITH\s+\(IGNORE_DUP_KEY = ON\)/,
    );
    expect(inbox).toContain('INSTEAD OF INSERT');
    const outbox = files.find((f) => f.object === 'ds_change_outbox')!.content;
    expect(outbox).toContain('rv rowversion NOT NULL');
    expect(outbox).toContain('CREATE TABLE dbo.ds_change_fence');
    expect(outbox).toContain('PRIMARY KEY NONCLUSTERED (table_name, session_id)');
    expect(outbox).toMatch(
      /INSTEAD OF INSERT AS[\s\S]*UPDATE dbo\.ds_change_fence WITH \(ROWLOCK\)[\s\S]*INSERT INTO dbo\.ds_change_outbox/,
    );
  });

  it('has each fence trigger, as the last file to define it leaves it, copy every column of its table (issue 13: step 19)', () => {
    for (const table of ['ds_change_outbox', 'ds_change_inbox']) {
      const created = files.find((f) => f.object === table)!.content;
      const columns = new Set(
        [
          ...(new RegExp(`CREATE TABLE dbo\\.${table} \\(([\\s\\S]*?)\\n\\);`).exec(created)?.[1] ?? '').matchAll(
            /^\s+([a-z_0-9]+) [a-z]/gm,
          ),
        ].map((m) => m[1]),
      );
      for (const file of files)
        for (const added of file.content.matchAll(new RegExp(`ALTER TABLE dbo\\.${table}\\s+ADD ([^;]*);`, 'g')))
          for (const column of added[1].split(',')) columns.add(column.trim().split(' ')[0]);
      // The identity and the rowversion are the server's to write.
      columns.delete('id');
      columns.delete('rv');
      const fences = files.filter((f) => f.content.includes(`TRIGGER dbo.${table}_fence`));
      const last = fences[fences.length - 1].content.split(`TRIGGER dbo.${table}_fence`)[1];
      const copied = /INSERT INTO dbo\.ds_change_(?:outbox|inbox) \(([^)]*)\)/
        .exec(last)![1]
        .split(',')
        .map((c) => c.trim());
      expect(columns.has('row_cl') && columns.has('origin_change_id'), table).toBe(true);
      expect(new Set(copied), `${table}: ${fences[fences.length - 1].fileName}`).toEqual(columns);
    }
  });

  it('quotes the ledger column that T-SQL reserves', () => {
    const [ledger] = rendererFor(mssqlDialect).render('ledger', {});
    expect(ledger).toContain('[file] nvarchar(255) NOT NULL');
  });
});

describe('mssql on a receive-only node (nodes.<n>.receiveOnly, issue 13)', () => {
  const normalConfig = mssqlFixtureConfig();
  const normal = generateMssqlOffline(normalConfig);
  const replicaConfig = { ...normalConfig, nodes: { mssql: { ...normalConfig.nodes.mssql, receiveOnly: true } } };
  const replica = generateNode(replicaConfig, replicaConfig.nodes.mssql, mssqlDialect, mssqlFixtureSchemas());

  it('gets capture files that drop the triggers and create none; every other file as before', () => {
    expect(replica.map((f) => f.fileName)).toEqual(normal.map((f) => f.fileName));
    for (const [i, file] of replica.entries()) {
      if (!/^01\d\d_capture_/.test(file.fileName)) {
        expect(file.content, file.fileName).toBe(normal[i].content);
        continue;
      }
      expect(normal[i].content, file.fileName).toMatch(/CREATE (OR ALTER )?TRIGGER/i);
      expect(file.content, file.fileName).toMatch(/is not captured here: node mssql is receive-only/);
      expect(file.content, file.fileName).not.toMatch(/CREATE (OR ALTER )?TRIGGER/i);
      expect(file.content, file.fileName).toMatch(/DROP TRIGGER/i);
    }
  });
});

describe('mssql capture on a send-only node (nodes.<n>.sendOnly, issue 13)', () => {
  const normalConfig = mssqlFixtureConfig();
  const normal = generateMssqlOffline(normalConfig);
  const sendOnlyConfig = { ...normalConfig, nodes: { mssql: { ...normalConfig.nodes.mssql, sendOnly: true } } };
  const sendOnly = generateNode(sendOnlyConfig, sendOnlyConfig.nodes.mssql, mssqlDialect, mssqlFixtureSchemas());
  const captures = (files: GeneratedFile[]) => files.filter((f) => /^01\d\d_capture_/.test(f.fileName));
  const outboxInserts = (sql: string) => sql.match(/INSERT INTO dbo\.ds_change_outbox \([\s\S]*?;\n/g) ?? [];
  const columnList = (insert: string) =>
    /^INSERT INTO dbo\.ds_change_outbox \(([^)]*)\)/
      .exec(insert)![1]
      .split(',')
      .map((c) => c.trim());
  const VERSION_COLUMNS = ['row_cl', 'row_cl_old', 'change_version'];

  it('is accepted by the config for a node with no program into it', () => {
    const config = parseConfig(
      {
        nodes: {
          ms: { dialect: 'mssql', url: 'mssql://offline', serverId: 'ms-1', sendOnly: true },
          pg: { dialect: 'postgres', url: 'postgres://offline', serverId: 'pg-1' },
        },
        tables: ['t'],
        programs: [
          { id: 1, type: 'transport', from: 'ms', to: 'pg' },
          { id: 2, type: 'import', node: 'pg' },
        ],
      },
      '/tmp',
      null,
      {},
    );
    expect(config.nodes.ms.sendOnly).toBe(true);
  });

  it('changes only the capture files; a node that is not send-only renders as before', () => {
    expect(sendOnly.map((f) => f.fileName)).toEqual(normal.map((f) => f.fileName));
    for (const [i, file] of sendOnly.entries()) {
      if (/^01\d\d_capture_/.test(file.fileName)) expect(file.content, file.fileName).not.toBe(normal[i].content);
      else expect(file.content, file.fileName).toBe(normal[i].content);
    }
    expect(compareFiles(mssqlGeneratedDir(normalConfig), normal)).toEqual([]);
  });

  it('keeps no version store: no ds_row_version, no ds_col_versions, one batch per trigger', () => {
    for (const file of captures(sendOnly)) {
      expect(file.content, file.fileName).not.toMatch(/ds_row_version|ds_col_versions|@now|@v\b|MERGE/);
      const statements = mssqlDialect.splitScript(file.content);
      expect(statements.map((s) => /CREATE OR ALTER TRIGGER \S+_(\w+) ON/.exec(s)?.[1])).toEqual(['ins', 'upd', 'del']);
      for (const s of statements) {
        expect(s.replace(/^--.*$/gm, '').trim()).toMatch(/^CREATE OR ALTER TRIGGER /);
        expect(() => outsideQuotes(s)).not.toThrow();
        expect(s).not.toMatch(/^\s*GO\s*;?\s*$/im);
      }
    }
  });

  it('writes the outbox rows of the normal capture with row_cl, row_cl_old and change_version left NULL', () => {
    for (const [i, file] of captures(sendOnly).entries()) {
      const lean = outboxInserts(file.content);
      const full = outboxInserts(captures(normal)[i].content);
      expect(lean, file.fileName).toHaveLength(5);
      expect(lean.map(columnList)).toEqual(full.map((insert) => columnList(insert).filter((c) => !VERSION_COLUMNS.includes(c))));
      const operations = (inserts: string[]) =>
        inserts.map((insert) => /'([IUD])', @server, @user, ISNULL\(@time, SYSUTCDATETIME\(\)\), @origin_id/.exec(insert)?.[1]);
      expect(operations(lean)).toEqual(['I', 'U', 'D', 'I', 'D']);
      expect(operations(lean)).toEqual(operations(full));
      // the origin flag is read as in the normal capture, only within the transaction that set it
      expect(file.content.match(/IF CAST\(SESSION_CONTEXT\(N'dsync\.origin_txn'\) AS bigint\) = CURRENT_TRANSACTION_ID\(\)/g)).toHaveLength(
        3,
      );
      expect(
        file.content.match(/IF CAST\(SESSION_CONTEXT\(N'dsync\.capture_off'\) AS bigint\) = CURRENT_TRANSACTION_ID\(\) RETURN;/g),
      ).toHaveLength(3);
    }
  });

  it('carries the old key and every new column on a key change, the changed ones otherwise (as the normal update trigger)', () => {
    const update = mssqlDialect.splitScript(captures(sendOnly)[1].content)[1];
    // key text compared byte for byte: a key equal only under a case-insensitive collation is a key change
    expect(update).toContain('k.n_key, CASE WHEN k.n_key <> k.o_key COLLATE Latin1_General_100_BIN2 THEN k.o_key END,');
    expect(update).toMatch(
      /CASE WHEN k\.n_key = k\.o_key COLLATE Latin1_General_100_BIN2 THEN N'\{' \+ STUFF\([\s\S]*ELSE CONCAT\(CAST\(N'' AS nvarchar\(max\)\),\n\s+N'\{"order_id":'/,
    );
    expect(update).toContain('WHERE @moved_new = 1 AND @moved_old = 1');
    expect(update).toContain('IF @moved_new + @moved_old > 0 AND NOT (@moved_new = 1 AND @moved_old = 1)');
    expect(update).toContain('WHERE ch.c0 = 1 OR ch.c1 = 1 OR ch.c2 = 1 OR ch.c3 = 1;');
  });

  it("writes outbox inserts that a T-SQL grammar parses (node-sql-parser's)", () => {
    const parser = new Parser();
    let parsed = 0;
    for (const file of captures(sendOnly)) {
      for (const statement of outboxInserts(file.content)) {
        const sql = statement
          .replace(/\[(?:[^\]]|\]\])*\]/g, (name) => (name.includes(']]') ? '[bracketed]' : name))
          .replace(/, BINARY BASE64/g, '');
        expect(() => parser.astify(sql, { database: 'transactsql' }), `${file.fileName}: ${sql.slice(0, 80)}`).not.toThrow();
        parsed++;
      }
    }
    expect(parsed).toBe(4 * 5);
  });

  it('puts every hostile name and value only inside brackets or N-quotes', () => {
    const statements = rendererFor(mssqlDialect).render('capture', {
      ...context(hostileTable),
      node: { name: "node'1", dialect: 'mssql', serverId: "srv'1 😀", sendOnly: true },
    });
    expect(statements).toHaveLength(3);
    const outside = statements.map(outsideQuotes).join('\n');
    for (const fragment of ["it's", '"hi"', '`', 'tilde~', 'semi;', 'dash', 'star', 'Mixed Case', '😀', '[odd]']) {
      expect(outside, fragment).not.toContain(fragment);
    }
    expect(statements.join('\n')).toContain("N'srv''1 😀'");
    expect(mssqlDialect.splitScript(statements.join('\nGO\n'))).toHaveLength(3);
  });
});

describe('mssql capture mode keys (capture_keys.sql.hbs): key-only triggers into the table’s notes, dbo.ds_key_<table>', () => {
  const keysConfig = mssqlFixtureConfig();
  keysConfig.nodes.mssql = {
    ...keysConfig.nodes.mssql,
    capture: Object.fromEntries(keysConfig.tables.map((t) => [t.name, 'keys' as const])),
  };
  const captureFiles = (files: GeneratedFile[]) => files.filter((f) => /^01\d\d_capture_/.test(f.fileName));
  const keyFiles = captureFiles(generateMssqlOffline(keysConfig));
  const triggerFiles = captureFiles(generateMssqlOffline());
  const schemas = mssqlFixtureSchemas();
  const triggersOf = (file: GeneratedFile) => mssqlDialect.splitScript(file.content).slice(1);

  it('creates the table’s notes when missing (an id and a key, no other index), then three triggers named as capture names them', () => {
    expect(keyFiles.map((f) => f.fileName)).toEqual(triggerFiles.map((f) => f.fileName));
    for (const [i, file] of keyFiles.entries()) {
      expect(file.content).toContain(`object: key triggers (keys capture) of ${schemas[i].name}`);
      const statements = mssqlDialect.splitScript(file.content);
      expect(statements).toHaveLength(4);
      const notes = keyNotesTable(schemas[i].name);
      expect(statements[0]).toContain(`IF OBJECT_ID(N'dbo.${notes}', N'U') IS NULL\nCREATE TABLE dbo.${mssqlDialect.sql.ident(notes)} (`);
      expect(statements[0]).toContain(`id bigint IDENTITY(1, 1) NOT NULL CONSTRAINT ${mssqlDialect.sql.ident(`${notes}_pk`)} PRIMARY KEY,`);
      expect(statements[0]).toContain('row_key nvarchar(max) COLLATE Latin1_General_100_BIN2 NOT NULL\n);');
      expect(statements[0]).not.toMatch(/INDEX|table_name/);
      const names = (statements: string[]) => statements.map((s) => /CREATE OR ALTER TRIGGER (\S+)/.exec(s)?.[1]);
      expect(names(triggersOf(file))).toEqual(names(mssqlDialect.splitScript(triggerFiles[i].content)).filter(Boolean));
    }
  });

  it('notes the key as capture spells object_id: its expression, a scalar for one column, an object for a composite key', () => {
    for (const [i, file] of keyFiles.entries()) {
      const { keyColumns } = captureTable(schemas[i]);
      const [insert, , remove] = triggersOf(file);
      const inserted = mssqlKeyJsonExpression(keyColumns, 'i');
      expect(insert).toContain(`SELECT ${inserted}\n  FROM inserted AS i;`);
      expect(remove).toContain(`SELECT ${mssqlKeyJsonExpression(keyColumns, 'd')}\n  FROM deleted AS d;`);
      expect(triggerFiles[i].content).toContain(inserted);
    }
    const [orderLine] = keyFiles.filter((f) => f.fileName.endsWith('_capture_order_line.sql'));
    expect(triggersOf(orderLine)[0]).toContain(`CONCAT(CAST(N'' AS nvarchar(max)),\n      N'{"order_id":'`);
    expect(triggersOf(orderLine)[0]).toContain(`N',"line_no":'`);
  });

  it('notes every new and every old key of an update once: a UNION under a binary collation, inserted and deleted never paired', () => {
    for (const file of keyFiles) {
      const update = triggersOf(file)[1];
      expect(update).toMatch(
        /COLLATE Latin1_General_100_BIN2 AS row_key FROM inserted AS i\n {4}UNION\n {4}SELECT [\s\S]* COLLATE Latin1_General_100_BIN2 FROM deleted AS d\n {2}\) AS u;/,
      );
      expect(update).not.toMatch(/\bJOIN\b|UNION ALL|EXISTS \(SELECT 1 FROM deleted/);
    }
  });

  it('returns at once while the import silences capture; writes no outbox row, no version entry, no origin', () => {
    for (const file of keyFiles) {
      for (const trigger of triggersOf(file)) {
        expect(trigger).toContain("IF CAST(SESSION_CONTEXT(N'dsync.capture_off') AS bigint) = CURRENT_TRANSACTION_ID() RETURN;");
        expect(trigger).toContain('SET NOCOUNT ON;');
        expect(trigger).not.toMatch(/ds_change_outbox|ds_row_version|dsync\.origin/);
        expect(trigger.match(/INSERT INTO dbo\.\S+ \(row_key\)/g)).toHaveLength(1);
      }
    }
  });

  it("writes key inserts that a T-SQL grammar parses (node-sql-parser's)", () => {
    const parser = new Parser();
    let parsed = 0;
    for (const file of keyFiles) {
      for (const trigger of triggersOf(file)) {
        const insert = /INSERT INTO dbo\.[\s\S]*?;/.exec(trigger)?.[0] ?? '';
        // The grammar knows no COLLATE clause on an expression.
        const sql = insert
          .replace(/\[(?:[^\]]|\]\])*\]/g, (name) => (name.includes(']]') ? '[bracketed]' : name))
          .replace(/ COLLATE Latin1_General_100_BIN2/g, '');
        expect(() => parser.astify(sql, { database: 'transactsql' }), `${file.fileName}: ${sql.slice(0, 80)}`).not.toThrow();
        parsed++;
      }
    }
    expect(parsed).toBe(4 * 3);
  });

  it('puts every hostile name and value only inside brackets or N-quotes', () => {
    const statements = rendererFor(mssqlDialect).render('capture_keys', context(hostileTable));
    expect(statements).toHaveLength(4);
    const outside = statements.map(outsideQuotes).join('\n');
    for (const fragment of ["it's", '"hi"', '`', 'tilde~', 'semi;', 'dash', 'star', 'Mixed Case', '😀', '[odd]']) {
      expect(outside, fragment).not.toContain(fragment);
    }
    expect(statements.join('\n')).toContain(`N'{"it''s":'`);
    expect(mssqlDialect.splitScript(statements.join('\nGO\n'))).toHaveLength(4);
  });
});
