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

/** `values` names exactly `names`, in that order (for…in allocates nothing; anything else it yields makes it false). */
function namesAre(values: ValueMap, names: readonly string[]): boolean {
  let i = 0;
  for (const name in values) if (names[i++] !== name) return false;
  return i === names.length;
}

/**
 * The names of `values`, sorted, as one text (a group of one statement shape). The changes of
 * one table name their columns in one order nearly always: each order is sorted once, and a
 * row that names the same columns as the row before costs no list and no text.
 */
class ColumnTexts {
  private readonly sorted = new Map<string, string>();
  private last: string[] | null = null;
  private lastText = '';

  of(values: ValueMap): string {
    if (this.last !== null && namesAre(values, this.last)) return this.lastText;
    const names = Object.keys(values);
    let out: string | undefined;
    if (names.length === 1) out = names[0];
    else {
      const seen = names.join('\u0000');
      out = this.sorted.get(seen);
      if (out === undefined) this.sorted.set(seen, (out = [...names].sort().join('\u0000')));
    }
    this.last = names;
    this.lastText = out;
    return out;
  }
}

async function flushWave(tx: DbClient, wave: PlannedOp[], defer: boolean): Promise<void> {
  const bulk = tx.dialect.bulk!;
  const groups = new Map<string, PlannedOp[]>();
  const columns = new ColumnTexts();
  // Deletes, then updates, then inserts, each kind in wave order.
  for (const kind of ['delete', 'update', 'insert'] as const) {
    // Most entries join the group of the entry before them: found without a group text.
    let lastTable: TableSchema | null = null;
    let lastColumns = '';
    let lastMembers: PlannedOp[] = [];
    for (const entry of wave) {
      if (entry.op.kind !== kind) continue;
      const names = entry.op.kind === 'delete' ? '' : columns.of(entry.op.values);
      if (entry.table === lastTable && names === lastColumns) {
        lastMembers.push(entry);
        continue;
      }
      const group = `${kind}\u0000${entry.table.name}\u0000${names}`;
      let members = groups.get(group);
      if (members) members.push(entry);
      else groups.set(group, (members = [entry]));
      lastTable = entry.table;
      lastColumns = names;
      lastMembers = members;
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
