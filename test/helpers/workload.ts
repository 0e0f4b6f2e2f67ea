/**
 * A seeded random workload of inserts, updates, deletes and key changes on the fixture's
 * sales_order and order_line, as a list of application writes with sync points: the
 * capture-mode tests replay one list in two modes and compare the rows that result.
 */
import type { DbClient } from '../../src/core/dialect.ts';
import { random } from './random.ts';

export type Values = Record<string, string | number | null>;
export const ORDER_COLUMNS = [
  'order_id',
  'order_type',
  'description',
  'product_type_name',
  'customer_id',
  'quantity',
  'order_date',
  'update_datetime',
  'updated_by_user',
  'updated_by_server',
];

export interface Write {
  table: 'sales_order' | 'order_line';
  operation: 'I' | 'U' | 'D';
  key: Values;
  keyOld?: Values;
  values?: Values;
  oldValues?: Values;
}

/** The workload as a list of writes, from the seed alone: both runs replay the same list. */
export function workload(seed: number, OPS: number): Array<Write | 'sync'> {
  const next = random(seed);
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)];
  const orders = new Map<string, Values>();
  const lines = new Map<string, Values>();
  const out: Array<Write | 'sync'> = [];
  let counter = 0;
  for (let i = 0; i < OPS; i++) {
    counter++;
    if (next() < 0.1) out.push('sync');
    if (next() < 0.6) {
      const id = `o${Math.floor(next() * 12)}`;
      const row = orders.get(id);
      const roll = next();
      if (!row) {
        const values: Values = Object.fromEntries(ORDER_COLUMNS.map((c) => [c, null]));
        Object.assign(values, {
          order_id: id,
          order_type: pick(['retail', 'wholesale']),
          description: `d${counter}`,
          customer_id: `c${counter % 5}`,
          quantity: counter,
        });
        orders.set(id, values);
        out.push({ table: 'sales_order', operation: 'I', key: { order_id: id }, values: { ...values } });
      } else if (roll < 0.55) {
        const columns = ['description', 'customer_id', 'quantity', 'order_type'].filter(() => next() < 0.5);
        if (columns.length === 0) columns.push('description');
        const values: Values = Object.fromEntries(columns.map((c) => [c, c === 'quantity' ? 1000 + counter : `${c[0]}${counter}`]));
        const oldValues: Values = Object.fromEntries(columns.map((c) => [c, row[c]]));
        Object.assign(row, values);
        out.push({ table: 'sales_order', operation: 'U', key: { order_id: id }, values, oldValues });
      } else if (roll < 0.8) {
        orders.delete(id);
        out.push({ table: 'sales_order', operation: 'D', key: { order_id: id }, oldValues: { ...row } });
      } else {
        const newId = `o${12 + counter}`;
        const values = { ...row, order_id: newId, description: `k${counter}` };
        orders.delete(id);
        orders.set(newId, values);
        out.push({
          table: 'sales_order',
          operation: 'U',
          key: { order_id: newId },
          keyOld: { order_id: id },
          values: { ...values },
          oldValues: { order_id: id, description: row.description },
        });
      }
    } else {
      const key = { order_id: `o${Math.floor(next() * 4)}`, line_no: 1 + Math.floor(next() * 3) };
      const id = JSON.stringify(key);
      const row = lines.get(id);
      if (!row) {
        const values = { ...key, product: `p${counter}`, amount: `${counter}.25` };
        lines.set(id, values);
        out.push({ table: 'order_line', operation: 'I', key, values: { ...values } });
      } else if (next() < 0.6) {
        const values = { amount: `${counter}.5` };
        out.push({ table: 'order_line', operation: 'U', key, values, oldValues: { amount: row.amount } });
        Object.assign(row, values);
      } else {
        lines.delete(id);
        out.push({ table: 'order_line', operation: 'D', key, oldValues: { ...row } });
      }
    }
  }
  out.push('sync');
  return out;
}

/** The application's row write: the same SQL in both modes, bound values. */
export async function writeRow(client: DbClient, w: Write): Promise<void> {
  const p = client.dialect.sql.param;
  const where = (key: Values, from: number) =>
    Object.keys(key)
      .map((k, i) => `${k} = ${p(from + i)}`)
      .join(' AND ');
  if (w.operation === 'I') {
    const names = Object.keys(w.values!);
    await client.query(
      `INSERT INTO ${w.table} (${names.join(', ')}) VALUES (${names.map((_, i) => p(i + 1)).join(', ')})`,
      Object.values(w.values!),
    );
  } else if (w.operation === 'D') {
    await client.query(`DELETE FROM ${w.table} WHERE ${where(w.key, 1)}`, Object.values(w.key));
  } else {
    const names = Object.keys(w.values!);
    const key = w.keyOld ?? w.key;
    await client.query(
      `UPDATE ${w.table} SET ${names.map((n, i) => `${n} = ${p(i + 1)}`).join(', ')} WHERE ${where(key, names.length + 1)}`,
      [...Object.values(w.values!), ...Object.values(key)],
    );
  }
}
