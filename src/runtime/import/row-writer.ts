/**
 * Writes planned row operations and log rows, set-wise where the dialect offers a
 * BulkWriter. Operations on one row keep their order: they are cut into waves in
 * which every row appears at most once, and a change of a key is a wave of its own;
 * inside a wave, deletes go first, then updates, then inserts (so a value freed by
 * one row can be taken by another). Any failure surfaces to the import, which then
 * replays the batch change by change.
 */
import type { ValueMap } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { inChunks, multiRowInsert } from '../../core/sql-builders.ts';
import type { TableSchema } from '../../core/schema.ts';
import { deleteRowStatement, insertRowStatement, updateRowStatement } from './dml.ts';
import type { RowOp } from './merge.ts';

export interface PlannedOp {
  table: TableSchema;
  /** The row's identity before the operation. */
  identity: string;
  op: RowOp;
}

/** Rows of driver-ready values into a system table (inbox, outbox), in as few statements as the brand allows. */
export async function writeRows(
  tx: DbClient,
  table: string,
  columns: readonly string[],
  rows: unknown[][],
  ignoreDuplicates = false,
): Promise<void> {
  if (rows.length === 0) return;
  if (tx.dialect.bulk) return tx.dialect.bulk.insertRows(tx, table, columns, rows, ignoreDuplicates);
  const perStatement = Math.max(1, Math.floor(tx.dialect.capabilities.maxParameters / columns.length));
  await inChunks(rows, perStatement, async (chunk) => {
    const sql = ignoreDuplicates
      ? tx.dialect.sql.insertIgnoringDuplicates(table, columns, chunk.length)
      : multiRowInsert(tx.dialect.sql, table, columns, chunk.length);
    await tx.query(sql, chunk.flat());
  });
}

/**
 * One row's operation, which must touch that one row. `defer`: sent later where the driver can
 * (DbClient.defer, which checks the count on the server), else now.
 */
export async function executeOp(tx: DbClient, table: TableSchema, op: RowOp, defer = false): Promise<void> {
  const statement =
    op.kind === 'insert'
      ? insertRowStatement(tx.dialect, table, op.values)
      : op.kind === 'update'
        ? updateRowStatement(tx.dialect, table, op.key, op.values)
        : deleteRowStatement(tx.dialect, table, op.key);
  if (statement && defer && tx.defer) return tx.defer(statement.sql, statement.params, 1);
  const n = statement ? (await tx.query(statement.sql, statement.params)).rowCount : 0;
  if (n !== 1) throw new Error(`${op.kind} of ${table.name} ${JSON.stringify('key' in op ? op.key : null)} touched ${n} rows`);
}

const changesKey = (table: TableSchema, op: RowOp) => op.kind === 'update' && table.primaryKey.some((k) => k in op.values);

/** The names of `values`, sorted, as one text (a group of one statement shape); `sorted` remembers the spellings seen. */
function columnsOf(values: ValueMap, sorted: Map<string, string>): string {
  const names = Object.keys(values);
  if (names.length === 1) return names[0];
  // The changes of one table name their columns in one order nearly always: sort each order once.
  const seen = names.join('\u0000');
  let out = sorted.get(seen);
  if (out === undefined) sorted.set(seen, (out = names.sort().join('\u0000')));
  return out;
}

/** True when `values` names exactly `names`, in that order (for … in, no array made). */
function namesAre(values: ValueMap, names: readonly string[]): boolean {
  let i = 0;
  for (const name in values) if (names[i++] !== name) return false;
  return i === names.length;
}

async function flushWave(tx: DbClient, wave: PlannedOp[], defer: boolean): Promise<void> {
  const bulk = tx.dialect.bulk!;
  const groups = new Map<string, PlannedOp[]>();
  const sorted = new Map<string, string>();
  // Deletes, then updates, then inserts, each kind in wave order.
  for (const kind of ['delete', 'update', 'insert'] as const) {
    // The ops of a batch mostly come in runs of one table and one column list: such a run joins
    // the group of the op before it without spelling its group's name (a wave of 10,000 inserts).
    let last: { table: TableSchema; names: string[]; members: PlannedOp[] } | null = null;
    for (const entry of wave) {
      const { op } = entry;
      if (op.kind !== kind) continue;
      if (last !== null && last.table === entry.table && (op.kind === 'delete' || namesAre(op.values, last.names))) {
        last.members.push(entry);
        continue;
      }
      const group = `${kind}\u0000${entry.table.name}\u0000${op.kind === 'delete' ? '' : columnsOf(op.values, sorted)}`;
      let members = groups.get(group);
      if (members) members.push(entry);
      else groups.set(group, (members = [entry]));
      last = { table: entry.table, names: op.kind === 'delete' ? [] : Object.keys(op.values), members };
    }
  }
  for (const entries of groups.values()) {
    const { table, op } = entries[0];
    if (entries.length === 1) await executeOp(tx, table, op, defer);
    else if (op.kind === 'insert')
      await bulk.insertTableRows(
        tx,
        table,
        entries.map((e) => (e.op as { values: ValueMap }).values),
      );
    else if (op.kind === 'update') {
      const rows = entries.map((e) => e.op as { key: ValueMap; values: ValueMap });
      await bulk.updateTableRows(tx, table, Object.keys(op.values), rows);
    } else
      await bulk.deleteTableRows(
        tx,
        table,
        entries.map((e) => (e.op as { key: ValueMap }).key),
      );
  }
}

/** `defer`: single-row operations are deferred where the driver can (executeOp); set-wise ones run now. */
export async function executeOps(tx: DbClient, ops: PlannedOp[], defer = false): Promise<void> {
  if (!tx.dialect.bulk) {
    for (const { table, op } of ops) await executeOp(tx, table, op, defer);
    return;
  }
  let wave: PlannedOp[] = [];
  const seen = new Set<string>();
  const flush = async () => {
    if (wave.length) await flushWave(tx, wave, defer);
    wave = [];
    seen.clear();
  };
  for (const entry of ops) {
    if (changesKey(entry.table, entry.op)) {
      await flush();
      await executeOp(tx, entry.table, entry.op, defer);
      continue;
    }
    if (seen.has(entry.identity)) await flush();
    wave.push(entry);
    seen.add(entry.identity);
  }
  await flush();
}
