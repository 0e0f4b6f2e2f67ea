/** The seed's sales_order row ord2, in canonical values (its literal INSERT, read by any brand). */
import type { ValueMap } from '../../src/core/change.ts';

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
