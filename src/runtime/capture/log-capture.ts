/**
 * Capture mode log (docs/capture-modes.md#log): one pass reads the node's replication
 * slot up to the log's end as it was when the pass started, and writes one outbox row per
 * row change of the node's log-mode tables, through captureChanges, so the rows are the
 * triggers' rows (canonical JSON, only the changed columns of an update, ds_row_version
 * moved). Source transactions are written in commit order, a batch of them per outbox
 * transaction.
 *
 * Never lost, never twice (guarantee 3): the slot is confirmed only after the outbox
 * commit, and the outbox transaction records the last source commit it wrote in
 * ds_log_capture_state; a pass that died between the two reads the same transactions again
 * and skips those at or below that mark. Transactions dsync wrote itself (the import, a
 * load: they silence capture, which marks them in the log) are skipped: the import records
 * its changes in the outbox itself (guarantee 4).
 *
 * Two-way: the import captures the log itself before it merges into a log-mode table
 * (captureLogBeforeMerge, in its batch, after a pass over the slot: catchUpLog), so that the
 * merge weighs every local write committed before it (docs/capture-modes.md, log section).
 */
import { captureMode, type Config } from '../../config/config.ts';
import type { LogRowChange, LogSlotState, LogTransaction } from '../../core/change-log.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { RuntimeError } from '../../core/errors.ts';
import type { TableSchema } from '../../core/schema.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { ValueMap } from '../../core/change.ts';
import { fetchRows } from '../import/dml.ts';
import { utcNow } from '../../core/utc-time.ts';
import { type NodeHandle, requireSyncObjects } from '../nodes.ts';
import { type AppChange, type CaptureOptions, captureChanges } from './capture-api.ts';

export interface LogCaptureResult {
  node: string;
  slot: string;
  /** Source transactions read from the slot (including those skipped). */
  transactions: number;
  /** Outbox rows written. */
  captured: number;
  /** dsync's own transactions (import, load) passed over. */
  skippedOwn: number;
  /** Transactions already in the outbox from a pass that died before it confirmed the slot. */
  skippedWritten: number;
  /** Where the pass stopped reading: the log's end when it started. */
  target: string;
  /** Where the slot is confirmed to now. */
  confirmed: string | null;
  /** Another pass held the node's slot: this one did nothing. */
  busy: boolean;
}

export interface LogCaptureOptions {
  /** Messages read per batch (one outbox transaction per batch); default 2000. */
  batchMessages?: number;
}

interface LogTable {
  schema: TableSchema;
  /** Changes committed at or below this position were captured by triggers (or by nobody). */
  since: bigint;
}

/** The log-mode tables of a node, by `schema.table` as the log names them; `schemaOf` (the import's) else introspected. */
async function logTables(
  client: DbClient,
  handle: NodeHandle,
  names: readonly string[],
  schemaOf: (name: string) => Promise<TableSchema> = (name) => handle.dialect.introspect(handle.client, name),
): Promise<Map<string, LogTable>> {
  const parse = handle.dialect.changeLog!.parsePosition;
  const { rows } = await client.query<Row>('SELECT table_name, since_lsn FROM ds_log_capture_table');
  const since = new Map(rows.map((r) => [String(r.table_name), parse(String(r.since_lsn))]));
  const tables = new Map<string, LogTable>();
  for (const name of names) {
    const at = since.get(name);
    if (at === undefined) {
      throw new RuntimeError(
        'log_table_not_applied',
        `node ${handle.node.name}: table ${name} is in capture mode log, but its capture file is not applied`,
        {
          hint: `run \`dsync generate --node ${handle.node.name}\` and \`dsync apply --node ${handle.node.name}\``,
        },
      );
    }
    const schema = await schemaOf(name);
    const bare = name.includes('.') ? name.slice(name.indexOf('.') + 1) : name;
    tables.set(`${schema.schema ?? 'public'}.${bare}`, { schema, since: at });
  }
  return tables;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return JSON.stringify(a) === JSON.stringify(b);
}

function pick(row: Record<string, unknown>, names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((n) => [n, row[n]]));
}

/** A row change as captureChange takes it; null for an update that changed nothing (a trigger writes nothing then). */
function appChange(node: string, table: TableSchema, change: LogRowChange, atMicros: number): AppChange | null {
  const columns = table.columns.filter((c) => !c.generated).map((c) => c.name);
  const key = table.primaryKey;
  if (change.operation === 'I') {
    return { table: table.name, operation: 'I', key: pick(change.newRow!, key), values: pick(change.newRow!, columns), atMicros };
  }
  if (!change.oldRow) {
    throw new RuntimeError(
      'log_no_old_row',
      `node ${node}: the log has no old row for an ${change.operation === 'U' ? 'update' : 'delete'} of ${table.name}`,
      {
        hint: `its replica identity is not FULL: run \`dsync apply --node ${node}\` (0101_capture_… sets it), or ALTER TABLE ${table.name} REPLICA IDENTITY FULL`,
      },
    );
  }
  if (change.operation === 'D') {
    return { table: table.name, operation: 'D', key: pick(change.oldRow, key), oldValues: pick(change.oldRow, columns), atMicros };
  }
  const changed = columns.filter((c) => !sameValue(change.oldRow![c], change.newRow![c]));
  if (changed.length === 0) return null;
  const keyChanged = key.some((k) => !sameValue(change.oldRow![k], change.newRow![k]));
  return {
    table: table.name,
    operation: 'U',
    key: pick(change.newRow!, key),
    keyOld: keyChanged ? pick(change.oldRow, key) : undefined,
    // A key change carries every column of the new row, as the triggers' does.
    values: pick(change.newRow!, keyChanged ? columns : changed),
    oldValues: pick(change.oldRow, changed),
    atMicros,
  };
}

/**
 * One capture pass of a node's log-mode tables: reads the slot up to the log's end as it
 * is now, writes the outbox, confirms the slot, and returns. `dsync capture --node N`,
 * `dsync sync` and `dsync run` call it; the node must have been applied with its tables in
 * mode log (that creates the slot and the publication).
 */
export async function captureLogPass(config: Config, handle: NodeHandle, options: LogCaptureOptions = {}): Promise<LogCaptureResult> {
  const { node, client, dialect } = handle;
  const log = dialect.changeLog;
  if (!log) {
    throw new RuntimeError(
      'log_capture_unsupported',
      `node ${node.name}: capture mode log reads PostgreSQL's change log, and this node is ${dialect.name}`,
      {
        hint: 'use capture mode trigger or api for it; see docs/capture-modes.md#log',
      },
    );
  }
  await requireSyncObjects(handle, ['ds_change_outbox', 'ds_row_version', 'ds_log_capture_state', 'ds_log_capture_table']);
  const state = await log.slotState(client, node.name);
  if (!state) {
    throw new RuntimeError('log_slot_missing', `node ${node.name}: its replication slot for capture mode log does not exist`, {
      hint: `run \`dsync apply --node ${node.name}\` to create it; changes written while it was missing are not in the log: check with \`dsync verify\``,
    });
  }
  const result = startResult(node.name, state);
  // One pass per slot at a time (the daemon and a `dsync capture` may overlap).
  if (!(await log.tryLockPass(client, state.slot))) return { ...result, busy: true };
  try {
    const tables = await logTables(client, handle, logTableNames(config, node.name));
    await readToEnd(client, node, state, tables, result, options.batchMessages ?? 2000);
  } finally {
    await log.unlockPass(client, state.slot).catch(() => undefined);
  }
  return result;
}

const startResult = (node: string, state: LogSlotState): LogCaptureResult => ({
  node,
  slot: state.slot,
  transactions: 0,
  captured: 0,
  skippedOwn: 0,
  skippedWritten: 0,
  target: state.currentLsn,
  confirmed: state.confirmedLsn,
  busy: false,
});

/** A pass's work, under its lock: the slot read up to the log's end as it is now, batch by batch, each written, then confirmed. */
async function readToEnd(
  client: DbClient,
  node: CaptureOptions['node'],
  state: LogSlotState,
  tables: Map<string, LogTable>,
  result: LogCaptureResult,
  batch: number,
): Promise<void> {
  const log = client.dialect.changeLog!;
  const target = await log.currentPosition(client);
  result.target = log.formatPosition(target);
  for (;;) {
    const transactions = await log.read(client, state.slot, target, batch);
    if (transactions.length === 0) {
      // Nothing committed before the target is left: the slot need not keep the WAL up to it.
      if (state.confirmedLsn === null || log.parsePosition(result.confirmed ?? state.confirmedLsn) < target) {
        await log.confirm(client, state.slot, target);
        result.confirmed = log.formatPosition(target);
      }
      break;
    }
    await writeBatch(client, node, state.slot, tables, transactions, result);
    const end = transactions[transactions.length - 1].endLsn;
    await log.confirm(client, state.slot, end);
    result.confirmed = log.formatPosition(end);
    if (end >= target) break;
  }
}

/** One outbox transaction: the batch's changes and the mark of the last source commit written. */
async function writeBatch(
  client: DbClient,
  node: CaptureOptions['node'],
  slot: string,
  tables: Map<string, LogTable>,
  transactions: LogTransaction[],
  result: LogCaptureResult,
): Promise<void> {
  await client.transaction((tx) => writeTransactions(tx, node, slot, tables, transactions, result));
}

/** writeBatch's work, in `tx`: transactions at or below the mark are skipped, the mark moved past the rest. */
async function writeTransactions(
  tx: DbClient,
  node: CaptureOptions['node'],
  slot: string,
  tables: Map<string, LogTable>,
  transactions: LogTransaction[],
  result: Pick<LogCaptureResult, 'transactions' | 'captured' | 'skippedOwn' | 'skippedWritten'>,
): Promise<void> {
  const log = tx.dialect.changeLog!;
  const written = await log.readWritten(tx, slot);
  let last = written;
  const batch: AppChange[] = [];
  for (const txn of transactions) {
    result.transactions++;
    if (txn.commitLsn <= written) {
      result.skippedWritten++;
      continue;
    }
    last = txn.commitLsn;
    if (txn.own) {
      result.skippedOwn++;
      continue;
    }
    for (const change of txn.changes) {
      const table = tables.get(`${change.schema}.${change.table}`);
      // A table of the publication that is no longer in mode log here, or a change from before the log took over.
      if (!table || txn.commitLsn <= table.since) continue;
      const app = appChange(node.name, table.schema, change, txn.commitMicros);
      if (app) batch.push(app);
    }
  }
  // One version-store read and write and one outbox statement for the batch, in commit order.
  await captureChanges(tx, batch, { node });
  if (last === written) return;
  await log.recordWritten(tx, slot, last, utcNow());
  result.captured += batch.length;
}

/** The node's tables in capture mode log. */
export function logTableNames(config: Pick<Config, 'nodes' | 'tables'>, nodeName: string): string[] {
  return config.tables.filter((t) => captureMode(config, nodeName, t.name) === 'log').map((t) => t.name);
}

/**
 * The import's side of capture mode log, as captureBeforeMerge is for modes query and keys: before
 * a batch merges changes into rows of log-mode tables, in its transaction, the log is captured up
 * to its end, so that the merge weighs the local writes no pass has read yet through the version
 * store. The batch's rows are locked first: a writer that changed one committed before, its commit
 * is in the log read; a later one waits for the import. (A row found absent is not locked: a
 * writer's insert of it before the batch reads it sends the batch round again, after that it fails
 * the import's insert on the key, and the change is planned again.)
 * The pass's lock is held to the end of the transaction, and what is captured moves the pass's
 * mark with it; the slot is confirmed by the next pass (catchUpLog before the next batch). Returns
 * the rows it found absent (BatchState.requireStillAbsent). A node whose slot is missing is left
 * to the pass, which stops with the fix.
 */
export async function captureLogBeforeMerge(
  tx: DbClient,
  handle: NodeHandle,
  names: readonly string[],
  schemas: ReadonlyMap<string, TableSchema>,
  keys: ReadonlyMap<string, ValueMap[]>,
): Promise<Array<{ table: string; rowKey: string }>> {
  const log = tx.dialect.changeLog!;
  const state = await log.slotState(tx, handle.node.name);
  if (!state) return [];
  const absent: Array<{ table: string; rowKey: string }> = [];
  for (const name of [...keys.keys()].sort()) {
    const table = schemas.get(name)!;
    const text = (k: ValueMap) => canonicalKeyText(table, k);
    const found = await fetchRows(tx, table, keys.get(name)!, text);
    for (const key of keys.get(name)!) if (!found.has(text(key))) absent.push({ table: name, rowKey: text(key) });
  }
  await log.lockPassInTransaction(tx, state.slot);
  const target = await log.currentPosition(tx);
  const tables = await logTables(tx, handle, names, async (name) => schemas.get(name)!);
  const transactions = await log.read(tx, state.slot, target, null);
  await writeTransactions(tx, handle.node, state.slot, tables, transactions, startResult(handle.node.name, state));
  return absent;
}

/**
 * Before an import batch into a node with log-mode tables: a pass over what the slot holds (the
 * last batch's own writes, skipped, and local writes since), under the pass's lock, so that the
 * batch's own read of the log in its transaction (captureLogBeforeMerge, which cannot confirm the
 * slot and so reads it whole) holds only what comes in between. Skipped while a pass holds the
 * slot; it does the same.
 */
export async function catchUpLog(
  client: DbClient,
  handle: NodeHandle,
  names: readonly string[],
  schemas: ReadonlyMap<string, TableSchema>,
): Promise<void> {
  const log = client.dialect.changeLog!;
  const state = await log.slotState(client, handle.node.name);
  if (!state || !(await log.tryLockPass(client, state.slot))) return;
  try {
    const tables = await logTables(client, handle, names, async (name) => schemas.get(name)!);
    await readToEnd(client, handle.node, state, tables, startResult(handle.node.name, state), 2000);
  } finally {
    await log.unlockPass(client, state.slot).catch(() => undefined);
  }
}
