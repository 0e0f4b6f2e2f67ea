/**
 * Workload "W" (issue 5) on the seed's sales_order: single-row INSERTs committed 1,000
 * per transaction, then one-column UPDATEs by key, then DELETEs, written through one
 * connection the way an application writes (one statement, one round trip). Every value
 * is deterministic, so that the physical baseline can apply the very same changes.
 */
import type { DbClient } from '../src/core/dialect.ts';
import { TABLE } from './nodes.ts';

export const COLUMNS = [
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
] as const;

export interface Workload {
  inserts: number;
  updates: number;
  deletes: number;
  /** Statements per transaction. */
  perTransaction: number;
}

/** W at `scale` (1 = 100,000 inserts, 100,000 updates, 20,000 deletes). */
export function workloadW(scale: number): Workload {
  const n = (full: number) => Math.max(1, Math.round(full * scale));
  return { inserts: n(100_000), updates: n(100_000), deletes: n(20_000), perTransaction: 1000 };
}

export const changeCount = (w: Workload) => w.inserts + w.updates + w.deletes;

export const orderId = (i: number) => `o${String(i).padStart(7, '0')}`;

const PRODUCTS = ['desktop', 'laptop', 'tablet'];

/**
 * Row i, in COLUMNS order. The SQL generators in bulk-sql.ts produce the same values
 * (update_datetime is 2025-01-01 plus i seconds), so rows from either path compare equal.
 */
export function orderRow(i: number): unknown[] {
  const t = new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString().replace('T', ' ').replace('Z', '');
  return [
    orderId(i),
    i % 2 === 1 ? 'wholesale' : 'retail',
    `order ${i} description text`,
    PRODUCTS[i % 3],
    `c${i % 1000}`,
    i % 100,
    '2025-05-25',
    t,
    'bench',
    'app',
  ];
}

/** A seeded permutation of 0..n-1 (mulberry32 + Fisher-Yates): the order keys are updated or deleted in. */
function permutation(n: number, seed: number): Uint32Array {
  let s = seed >>> 0;
  const random = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The UPDATEs of W: [key, new quantity]; every update changes the row (quantities of inserted rows are < 100). */
export function updatePlan(w: Workload): Array<[string, number]> {
  const order = permutation(w.inserts, 1);
  return Array.from({ length: w.updates }, (_, j) => [orderId(order[j % w.inserts]), 1000 + (j % 100_000)]);
}

/** The DELETEs of W: keys, each once. */
export function deletePlan(w: Workload): string[] {
  const order = permutation(w.inserts, 2);
  return Array.from({ length: Math.min(w.deletes, w.inserts) }, (_, j) => orderId(order[j]));
}

export interface PhaseTimes {
  insertMs: number;
  updateMs: number;
  deleteMs: number;
  totalMs: number;
  changes: number;
}

async function inTransactions<T>(
  client: DbClient,
  items: T[],
  perTransaction: number,
  run: (tx: DbClient, item: T) => Promise<unknown>,
): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < items.length; i += perTransaction) {
    const chunk = items.slice(i, i + perTransaction);
    await client.transaction(async (tx) => {
      for (const item of chunk) await run(tx, item);
    });
  }
  return performance.now() - started;
}

export const PHASES = ['insert', 'update', 'delete'] as const;
export type Phase = (typeof PHASES)[number];

/** Runs one phase of W through `client` (a plain connection, as an application holds one); returns its milliseconds. */
export async function runPhase(client: DbClient, w: Workload, phase: Phase): Promise<number> {
  const { sql } = client.dialect;
  const p = sql.param;
  const table = sql.ident(TABLE);
  if (phase === 'insert') {
    const insert = `INSERT INTO ${table} (${COLUMNS.map((c) => sql.ident(c)).join(', ')}) VALUES (${COLUMNS.map((_, i) => p(i + 1)).join(', ')})`;
    return inTransactions(
      client,
      Array.from({ length: w.inserts }, (_, i) => i),
      w.perTransaction,
      (tx, i) => tx.query(insert, orderRow(i)),
    );
  }
  if (phase === 'update') {
    const update = `UPDATE ${table} SET ${sql.ident('quantity')} = ${p(1)} WHERE ${sql.ident('order_id')} = ${p(2)}`;
    return inTransactions(client, updatePlan(w), w.perTransaction, (tx, [key, quantity]) => tx.query(update, [quantity, key]));
  }
  const remove = `DELETE FROM ${table} WHERE ${sql.ident('order_id')} = ${p(1)}`;
  return inTransactions(client, deletePlan(w), w.perTransaction, (tx, key) => tx.query(remove, [key]));
}

export function phaseTimes(ms: Record<Phase, number>, w: Workload): PhaseTimes {
  return {
    insertMs: ms.insert,
    updateMs: ms.update,
    deleteMs: ms.delete,
    totalMs: ms.insert + ms.update + ms.delete,
    changes: changeCount(w),
  };
}

/** Runs all of W through `client` and times each phase. */
export async function runWorkload(client: DbClient, w: Workload): Promise<PhaseTimes> {
  const ms = { insert: 0, update: 0, delete: 0 };
  for (const phase of PHASES) ms[phase] = await runPhase(client, w, phase);
  return phaseTimes(ms, w);
}
