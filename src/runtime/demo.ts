/**
 * The seed's two-app walkthrough on embedded SQLite: testapp1 and testapp2 with
 * sales_order, the sync objects generated and applied, programs 1000 (transport) and
 * 1001 (import); insert, update, delete, each followed by transport and import, and
 * testapp2 compared with testapp1 after every step.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, parseConfig } from '../config/config.ts';
import type { ValueMap } from '../core/change.ts';
import { generateNode, introspectTables, writeFiles } from '../generate/generate.ts';
import { applyNode } from '../migrate/apply.ts';
import { selectAllRows } from './import/dml.ts';
import { importOnce, summary } from './import/import.ts';
import { NodeSet } from './nodes.ts';
import { transportOnce } from './transport/transport.ts';

const SEED_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'seed');

/** The seed's statements, with `public.` dropped: SQLite has no schemas ("depending upon the database brand"). */
const STEPS: Array<{ title: string; sql: string }> = [
  {
    title: 'insert one row in sales_order (testapp1)',
    sql: "INSERT INTO sales_order(order_id, order_type, description, product_type_name, customer_id, quantity, order_date, update_datetime, updated_by_user, updated_by_server) VALUES ('ord2','wholesale','old order','desktop','c1','100','5/25/2025','06/25/2025  10:30:00 AM','mtp','server1')",
  },
  {
    title: 'update one column in sales_order (testapp1)',
    sql: "UPDATE sales_order set description='old order change1' where order_id='ord2'",
  },
  { title: 'delete the row in sales_order (testapp1)', sql: "delete from sales_order where order_id='ord2'" },
];

export interface DemoResult {
  dir: string;
  steps: Array<{ title: string; matches: boolean }>;
  ok: boolean;
}

function formatTable(rows: ValueMap[], columns: string[]): string {
  if (rows.length === 0) return '    (no rows)';
  const cells = rows.map((r) => columns.map((c) => (r[c] === null ? 'NULL' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => `    ${values.map((v, i) => v.padEnd(widths[i])).join(' | ')}`;
  return [line(columns), `    ${widths.map((w) => '-'.repeat(w)).join('-+-')}`, ...cells.map(line)].join('\n');
}

/** `dsync demo`: the seed's two-app walkthrough on two SQLite files in `dir` (default: a temp folder, removed afterwards unless `keep`). */
export async function runDemo(options: { dir?: string; keep?: boolean; log?: (line: string) => void } = {}): Promise<DemoResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'dsync-demo-'));
  mkdirSync(dir, { recursive: true });
  const config: Config = parseConfig(
    {
      nodes: {
        testapp1: { dialect: 'sqlite', url: join(dir, 'testapp1.db'), serverId: 'server1' },
        testapp2: { dialect: 'sqlite', url: join(dir, 'testapp2.db'), serverId: 'server2' },
      },
      tables: ['sales_order'],
      programs: [
        { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2', intervalSeconds: 5 },
        { id: 1001, type: 'import', node: 'testapp2', intervalSeconds: 5 },
      ],
      generatedDir: join(dir, 'generated'),
    },
    dir,
    null,
  );
  const nodes = new NodeSet(config);
  const result: DemoResult = { dir, steps: [], ok: true };
  try {
    const app1 = await nodes.get('testapp1');
    const app2 = await nodes.get('testapp2');
    log(`dsync demo: the seed's walkthrough on two SQLite databases in ${dir}\n`);
    const ddl = readFileSync(join(SEED_DIR, 'sales_order.sqlite.sql'), 'utf8');
    for (const handle of [app1, app2]) {
      for (const statement of handle.dialect.splitScript(ddl)) await handle.client.exec(statement);
      const files = generateNode(config, handle.node, handle.dialect, await introspectTables(config, handle.dialect, handle.client));
      writeFiles(join(config.generatedDir, handle.node.name), files);
      const applied = await applyNode(config, handle.node, handle.dialect, handle.client);
      log(
        `setup ${handle.node.name}: created sales_order, generated and applied ${applied.steps.length} sync object files (outbox, inbox, program parameters, errors, conflicts, view, capture triggers)`,
      );
    }
    const table1 = await app1.dialect.introspect(app1.client, 'sales_order');
    const table2 = await app2.dialect.introspect(app2.client, 'sales_order');
    const columns = table1.columns.map((c) => c.name);
    const [transport, importer] = config.programs;
    for (const [index, step] of STEPS.entries()) {
      log(`\nstep ${index + 1}: ${step.title}\n    ${step.sql}`);
      await app1.client.exec(step.sql);
      const moved = await transportOnce(transport, app1, app2);
      log(`  transport program 1000 (testapp1 outbox → testapp2 inbox): moved ${moved.moved} change(s)`);
      const imported = await importOnce(config, importer, app2);
      log(`  import program 1001 (testapp2 inbox → sales_order): ${summary(imported)}`);
      const rows1 = await selectAllRows(app1.client, table1);
      const rows2 = await selectAllRows(app2.client, table2);
      log(`  testapp2: SELECT * FROM sales_order;\n${formatTable(rows2, columns)}`);
      const matches = JSON.stringify(rows1) === JSON.stringify(rows2);
      result.steps.push({ title: step.title, matches });
      result.ok &&= matches;
      log(matches ? '  ✓ testapp2 matches testapp1' : '  ✗ testapp2 differs from testapp1');
    }
    log(result.ok ? '\nall steps in sync.' : '\nthe databases differ: this is a bug, please report it with the output above.');
    if (options.keep || options.dir) log(`the databases and generated SQL are in ${dir}`);
    return result;
  } finally {
    await nodes.closeAll();
    if (!options.keep && !options.dir) rmSync(dir, { recursive: true, force: true });
  }
}
