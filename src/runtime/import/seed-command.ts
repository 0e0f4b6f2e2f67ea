/**
 * Seed-format rows carry one INSERT/UPDATE/DELETE in object_operation_command, with
 * `~` standing for `'`. The text is never executed: node-sql-parser turns it into an
 * AST, and only a single statement on the row's own table with literal values and a
 * WHERE of `key = literal` on exactly the primary key is accepted. The result is the
 * same change model the triggers produce, applied with bound parameters.
 */
import type * as SqlParser from 'node-sql-parser';
import { toCanonical } from '../../core/canonical.ts';
import type { Operation, ValueMap } from '../../core/change.ts';
import { ChangeError } from '../../core/errors.ts';
import { lazyRequire } from '../../core/lazy-require.ts';
import { columnByName, syncedColumns, type TableSchema } from '../../core/schema.ts';
import { bareName } from '../../core/table-ref.ts';

const loadParser = lazyRequire<typeof SqlParser>('node-sql-parser');
let parserInstance: SqlParser.Parser | undefined;
const parser = () => (parserInstance ??= new (loadParser().Parser)());

export interface SeedCommand {
  operation: Operation;
  key: ValueMap;
  keyOld: ValueMap | null;
  values: ValueMap;
}

type Node = { type?: string; value?: unknown; [k: string]: unknown };

const reject = (why: string) => new ChangeError('bad_command', `object_operation_command rejected: ${why}`);

/** Stands in for `\~` (a literal tilde) while `~` becomes a quote; a private-use character no command carries. */
const LITERAL_TILDE = '\uE000';

function literal(node: Node | undefined, where: string): unknown {
  switch (node?.type) {
    case 'single_quote_string':
    case 'string':
      // The parser keeps SQL's doubled quote as written: 'it''s' is it's.
      return String(node.value).replace(/''/g, "'").split(LITERAL_TILDE).join('~');
    case 'double_quote_string':
    case 'number':
    case 'bool':
    case 'null':
      return node.value;
    default:
      throw reject(
        `${where} must be a literal value, not ${node?.type ?? 'nothing'} (functions, subqueries and column references are not accepted)`,
      );
  }
}

function columnName(node: Node): string {
  if (node.type === 'default' || node.type === 'double_quote_string' || node.type === 'backticks_quote_string') return String(node.value);
  if (node.type === 'column_ref') {
    const column = node.column as { expr?: Node } | string;
    return typeof column === 'string' ? column : columnName(column.expr as Node);
  }
  throw reject(`unexpected column reference ${node.type}`);
}

function checkTable(ast: Node, table: TableSchema) {
  const tables = (ast.table as Array<{ db: string | null; table: string }> | undefined) ?? [];
  if (tables.length !== 1) throw reject('it must name exactly one table');
  const { db, table: name } = tables[0];
  const expected = bareName(table);
  const schemaOk = db === null || db === 'public' || db === table.schema;
  if (name !== expected || !schemaOk) throw reject(`it changes ${db ? `${db}.` : ''}${name}, but the row is for ${table.name}`);
}

/** `k1 = lit AND k2 = lit` on exactly the primary-key columns. */
function keyFromWhere(where: Node | null, table: TableSchema): ValueMap {
  if (!where) throw reject('an UPDATE or DELETE needs a WHERE on the primary key');
  const pairs: Array<[string, unknown]> = [];
  const walk = (node: Node) => {
    if (node.type === 'binary_expr' && node.operator === 'AND') {
      walk(node.left as Node);
      walk(node.right as Node);
    } else if (node.type === 'binary_expr' && node.operator === '=' && (node.left as Node).type === 'column_ref') {
      pairs.push([columnName(node.left as Node), literal(node.right as Node, 'a WHERE value')]);
    } else throw reject('the WHERE may only compare primary-key columns with literals, joined by AND');
  };
  walk(where);
  const names = pairs.map(([n]) => n).sort();
  if (names.join('\u0000') !== [...table.primaryKey].sort().join('\u0000')) {
    throw reject(`the WHERE must name exactly the primary key (${table.primaryKey.join(', ')}), not ${names.join(', ') || 'nothing'}`);
  }
  return canonicalValues(table, Object.fromEntries(pairs));
}

function canonicalValues(table: TableSchema, raw: Record<string, unknown>): ValueMap {
  const out: ValueMap = {};
  for (const [name, value] of Object.entries(raw)) {
    const column = columnByName(table, name);
    if (!column || column.generated) throw reject(`column ${name} is not a synchronized column of ${table.name}`);
    out[name] = toCanonical(column, value);
  }
  return out;
}

export function parseSeedCommand(command: string, table: TableSchema): SeedCommand {
  if (command.includes(LITERAL_TILDE)) throw reject('it contains the character U+E000, which is reserved');
  const sql = command.replace(/\\~/g, LITERAL_TILDE).replace(/~/g, "'");
  let parsed: Node | Node[];
  try {
    parsed = parser().astify(sql, { database: 'PostgresQL' }) as unknown as Node | Node[];
  } catch (error) {
    throw reject(`it is not valid SQL (${(error as Error).message.split('\n')[0].slice(0, 120)})`);
  }
  const statements = Array.isArray(parsed) ? parsed : [parsed];
  if (statements.length !== 1) throw reject(`it holds ${statements.length} statements; exactly one is allowed`);
  const ast = statements[0];
  if (ast.with) throw reject('WITH clauses are not accepted');
  if (ast.type === 'insert') {
    checkTable(ast, table);
    const rows = (ast.values as { values?: Array<{ value: Node[] }> } | undefined)?.values;
    if (!Array.isArray(rows) || rows.length !== 1)
      throw reject('an INSERT must carry exactly one VALUES row (INSERT … SELECT is not accepted)');
    if (ast.conflict || ast.returning) throw reject('ON CONFLICT and RETURNING are not accepted');
    const names = ast.columns ? (ast.columns as Node[]).map(columnName) : syncedColumns(table).map((c) => c.name);
    const row = rows[0].value;
    if (row.length !== names.length) throw reject(`the INSERT has ${names.length} columns but ${row.length} values`);
    if (new Set(names).size !== names.length) throw reject('a column is named twice');
    const values = canonicalValues(table, Object.fromEntries(names.map((n, i) => [n, literal(row[i], `the value of ${n}`)])));
    const missing = table.primaryKey.filter((k) => values[k] === undefined || values[k] === null);
    if (missing.length) throw reject(`the INSERT lacks primary-key column(s) ${missing.join(', ')}`);
    const key = Object.fromEntries(table.primaryKey.map((k) => [k, values[k]]));
    return { operation: 'I', key, keyOld: null, values };
  }
  if (ast.type === 'update') {
    checkTable(ast, table);
    if (ast.from || ast.returning) throw reject('UPDATE … FROM and RETURNING are not accepted');
    const set = ast.set as Node[];
    const raw = Object.fromEntries(set.map((s) => [columnName(s), literal(s.value as Node, `the new value of ${columnName(s)}`)]));
    if (Object.keys(raw).length !== set.length) throw reject('a column is set twice');
    const values = canonicalValues(table, raw);
    const where = keyFromWhere(ast.where as Node | null, table);
    const keyChanged = table.primaryKey.some((k) => k in values);
    const key = keyChanged ? Object.fromEntries(table.primaryKey.map((k) => [k, k in values ? values[k] : where[k]])) : where;
    return { operation: 'U', key, keyOld: keyChanged ? where : null, values };
  }
  if (ast.type === 'delete') {
    checkTable(ast, table);
    if (ast.returning) throw reject('RETURNING is not accepted');
    if (((ast.from as unknown[] | null) ?? []).length > 1) throw reject('DELETE … USING several tables is not accepted');
    return { operation: 'D', key: keyFromWhere(ast.where as Node | null, table), keyOld: null, values: {} };
  }
  throw reject(`${String(ast.type).toUpperCase()} is not accepted; only INSERT, UPDATE or DELETE`);
}
