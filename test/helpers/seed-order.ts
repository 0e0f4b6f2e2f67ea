/** The seed's sales_order row ord2, in canonical values (its literal INSERT, read by any brand). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName } from '../../src/core/dialect.ts';
import { FIXTURES } from './fixtures.ts';

export const SEED_ORDER: Readonly<ValueMap> = Object.freeze({
  order_id: 'ord2',
  order_type: 'wholesale',
  description: 'old order',
  product_type_name: 'desktop',
  customer_id: 'c1',
  quantity: 100,
  order_date: '2025-05-25',
  update_datetime: '2025-06-25T10:30:00.000000',
  updated_by_user: 'mtp',
  updated_by_server: 'server1',
});

/** A generated sales_order row numbered i (a quote and a `~` in its description by default), in canonical values. */
export const numberedOrder = (id: string, i: number, description = `order ${i} it's ~`): ValueMap => ({
  order_id: id,
  order_type: i % 2 ? 'wholesale' : 'retail',
  description,
  product_type_name: 'desktop',
  customer_id: `c${i % 100}`,
  quantity: i,
  order_date: '2025-05-25',
  update_datetime: null,
  updated_by_user: null,
  updated_by_server: null,
});

/**
 * The seed's statements for a brand: verbatim on PostgreSQL; without the `public.`
 * prefix elsewhere; and on MySQL, whose strict mode refuses `MM/DD/YYYY hh:mm AM` in
 * real DATE/DATETIME columns, those two literals in ISO form (the same ones inside a
 * `~`-quoted command stay as the seed wrote them: the import parses them).
 */
export const seedStatements = (file: string, dialect: DialectName) => {
  const text = readFileSync(join(FIXTURES, 'seed', file), 'utf8');
  let sql = dialect === 'postgres' ? text : text.replaceAll('public.', '');
  if (dialect === 'mysql')
    sql = sql.replaceAll("'5/25/2025'", "'2025-05-25'").replaceAll("'06/25/2025  10:30:00 AM'", "'2025-06-25 10:30:00'");
  return sql
    .split(/;\s*\n\s*\n/)
    .map((s) => s.replace(/^(--[^\n]*\n)+/, '').trim())
    .filter(Boolean);
};
