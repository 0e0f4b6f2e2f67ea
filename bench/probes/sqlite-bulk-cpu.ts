/**
 * Probe: the CPU of SQLite's bulk writer per call shape, without triggers or a drain
 * around it: 10,000 new rows of a sales_order-like table, an update of one column of each,
 * a version-store-like upsert of each, repeated: `npx tsx bench/probes/sqlite-bulk-cpu.ts [rounds]`.
 */
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';

const rounds = Number(process.argv[2] ?? 5);
const client = await sqliteDialect.connect(':memory:', 'probe');
await client.exec(`CREATE TABLE sales_order (order_id TEXT PRIMARY KEY, order_type TEXT, description TEXT, product_type_name TEXT,
  customer_id TEXT, quantity INTEGER, order_date DATE, update_datetime TIMESTAMP, updated_by_user TEXT, updated_by_server TEXT);
  CREATE TABLE ds_row_version (table_name TEXT NOT NULL, row_key TEXT NOT NULL, cl INTEGER NOT NULL, max_version INTEGER NOT NULL,
  base_version INTEGER NOT NULL, base_server TEXT NOT NULL, col_versions TEXT NOT NULL, PRIMARY KEY (table_name, row_key));`);
const table = await sqliteDialect.introspect(client, 'sales_order');
const bulk = sqliteDialect.bulk!;
const n = 10000;
const rows = Array.from({ length: n }, (_, i) => ({
  order_id: `o${String(i).padStart(7, '0')}`,
  order_type: i % 2 ? 'wholesale' : 'retail',
  description: `order ${i} description text`,
  product_type_name: 'laptop',
  customer_id: `c${i % 1000}`,
  quantity: i % 100,
  order_date: '2025-05-25',
  update_datetime: '2025-01-01T00:00:00.000000',
  updated_by_user: 'bench',
  updated_by_server: 'app',
}));
const updates = rows.map((r) => ({ key: { order_id: r.order_id }, values: { quantity: r.quantity + 1000 } }));
const entries = rows.map((r) => ['sales_order', JSON.stringify(r.order_id), 1, 1796052081698386, 1796052081698386, 'src', '{}']);
const cols = ['table_name', 'row_key', 'cl', 'max_version', 'base_version', 'base_server', 'col_versions'];
const timed = async (name: string, run: () => Promise<unknown>) => {
  const c0 = process.cpuUsage();
  await run();
  const c = process.cpuUsage(c0);
  return `${name} ${((c.user + c.system) / 1000).toFixed(0)} ms`;
};
for (let r = 0; r < rounds; r++) {
  await client.exec('DELETE FROM sales_order; DELETE FROM ds_row_version;');
  const out = await client.transaction(async (tx) => [
    await timed('insert', () => bulk.insertTableRows(tx, table, rows)),
    await timed('update', () => bulk.updateTableRows(tx, table, ['quantity'], updates)),
    await timed('upsert', () => bulk.upsertRows!(tx, 'ds_row_version', cols, ['table_name', 'row_key'], entries)),
    await timed('upsert again', () => bulk.upsertRows!(tx, 'ds_row_version', cols, ['table_name', 'row_key'], entries)),
    await timed('delete', () =>
      bulk.deleteTableRows(
        tx,
        table,
        updates.map((u) => u.key),
      ),
    ),
  ]);
  console.log(out.join(', '));
}
await client.close();
