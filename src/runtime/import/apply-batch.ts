/**
 * One batch of decoded changes applied in one transaction: read the rows and their
 * version-store entries at once (locked), plan every change in order with the merge
 * planner against the state the earlier ones left, merge the pending updates whose
 * insert has now arrived, then write the rows set-wise, the forwarded records, the
 * entries and the conflicts. Both the fast path (a whole batch) and the slow path (one
 * change in a savepoint) come through here.
 */
import type { ConflictPolicy } from '../../config/config.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { ChangeEvent, InboxRow, ValueMap } from '../../core/change.ts';
import type { DbClient, Dialect, QueryResult, Row } from '../../core/dialect.ts';
import { TransientError } from '../../core/errors.ts';
import type { TableSchema } from '../../core/schema.ts';
import { shadowImportWrites } from '../capture/capture-shadow.ts';
import { type AppliedRecord, recordApplied } from './applied-log.ts';
import { fetchRows, fetchRowsWithEntries, type RowsWithEntriesRead, rowsOnlyRead, rowsWithEntriesRead } from './dml.ts';
import { type Conflict, localCl, type Outcome, planChange, type RowEntry, type RowState } from './merge.ts';
import { recordConflict } from './parking.ts';
import { executeOps, type PlannedOp } from './row-writer.ts';
import { type EntryWrite, entriesFromRows, readEntries, writeEntries } from './version-store.ts';

export interface BatchItem {
  row: InboxRow;
  change: ChangeEvent;
  /** The parking identity of the row (ds_change_error.object_key). */
  identity: string;
}

/**
 * What became of one item: its plan's outcome and conflict only, so that the plan (its
 * states, ops and forward record, kept where they are used) is garbage as soon as it is
 * taken in, not kept alive with the batch's results.
 */
export interface ItemResult {
  item: BatchItem;
  outcome: Outcome;
  conflict: Conflict | null;
  policy: ConflictPolicy;
}

export interface BatchContext {
  /** The node's name (object_database of forwarded records). */
  node: string;
  programId: number;
  tables: Map<string, TableSchema>;
  policies: Map<string, ConflictPolicy>;
  /** Tables in capture mode query on this node → their update-time column: their shadow follows the import's writes. */
  queryTables?: ReadonlyMap<string, string | null>;
  /** Record applied changes in the outbox for forwarding (the node has a transport program of its own). */
  forwards: boolean;
  /** Read and write the batch's version entries (absent: true); false on a receive-only node (ImportContext.keepsVersions). */
  keepsVersions?: boolean;
  /**
   * The transaction writes nothing after this batch but dsync's own tables (an import batch's
   * fast path): capture stays silenced to its end instead of being turned on again, one
   * round trip less. A log capture skips such a transaction whole anyway (silenceCapture).
   */
  silencedToEnd?: boolean;
  /** The commit need not wait for the disk (Dialect.silenceCapture's lazyCommit): an import batch's own transaction. */
  lazyCommit?: boolean;
  /** Capture is silenced already, to the transaction's end (beginImportBatch): the batch does not silence it again. */
  silenced?: boolean;
  /**
   * ds_change_pending was seen empty in this transaction before the batch (loadBlockedRows):
   * with no pending update of its own either, the batch has nothing to release and skips
   * looking (most batches).
   */
  nothingPending?: boolean;
  /**
   * Any failure rolls the whole transaction back (the fast path): a small batch's row and entry
   * writes may be deferred (DbClient.defer) to go with the next statement or the COMMIT, in one
   * round trip.
   */
  deferWrites?: boolean;
  /** The batch's rows and entries read already, with its first statements (readAhead; taken). */
  readAhead?: ReadAhead;
  /**
   * The items are not inbox rows but a batch a direct transport applies (applyDirect), their ids
   * the source's outbox ids: a conflict is recorded with inbox_id 0, no inbox row being there.
   */
  notInInbox?: boolean;
  /**
   * Capture modes query, keys and log: captures the local changes of the batch's rows that no pass
   * has captured yet, before their rows and entries are read (captureBeforeMerge,
   * captureLogBeforeMerge), and says which rows it found absent (BatchState.requireStillAbsent).
   * Never with `readAhead`, which reads them first.
   */
  captureFirst?: (tx: DbClient, items: readonly BatchItem[]) => Promise<CapturedFirst>;
}

/**
 * Above this many changes a batch writes now: its set-wise writes use COPY there (postgres-bulk's
 * COPY_MIN_ROWS), and a round trip is a small part of its time.
 */
const DEFER_AT_MOST = 63;

/** `tx` for writes whose results are not read (the entries): each statement is deferred (DbClient.defer), its result empty. */
function deferring(tx: DbClient): DbClient {
  const refuse = () => Promise.reject(new Error('only statements can be deferred'));
  return {
    dialect: tx.dialect,
    query: async (sql, params = []) => {
      tx.defer!(sql, params);
      return { rows: [], rowCount: 0 };
    },
    exec: refuse,
    transaction: refuse,
    close: refuse,
  };
}

const stateKey = (table: string, rowKey: string) => `${table}\u0000${rowKey}`;

/** What captureFirst found: the rows it found absent, by table name and row key. */
export interface CapturedFirst {
  absent: ReadonlyArray<{ table: string; rowKey: string }>;
}

interface KeyText {
  table: TableSchema;
  rowKey: string;
  /** The row's id in the batch: table and row key. */
  id: string;
}

/** Keys of one table whose rows are not read yet (BatchState.unread), with their row keys and ids, in one order. */
interface Unread {
  table: TableSchema;
  keys: ValueMap[];
  rowKeys: string[];
  ids: string[];
}

interface Touched {
  id: string;
  table: TableSchema;
  rowKey: string;
  clBefore: number;
  /** The row's entry as the batch read it (null: none). */
  entryBefore: RowEntry | null;
}

/** The rows a batch reads and writes, with their entries, as the planning moves on. */
export class BatchState {
  private readonly states = new Map<string, RowState>();
  readonly touched = new Map<string, Touched>();
  /**
   * Each key object's canonical text, spelled once: a batch asks for it several times per
   * change (read, plan, write), and spelling a key is not free. A plain map that lives as
   * long as the batch (a WeakMap costs the collector more).
   */
  private readonly keyTexts = new Map<ValueMap, KeyText>();

  keyText(table: TableSchema, key: ValueMap): KeyText {
    let known = this.keyTexts.get(key);
    if (known === undefined || known.table !== table) {
      const rowKey = canonicalKeyText(table, key);
      known = { table, rowKey, id: stateKey(table.name, rowKey) };
      this.keyTexts.set(key, known);
    }
    return known;
  }

  /** The keys of `items` (and their old keys) whose rows are not read yet, by table, distinct, with their texts. */
  unread(items: readonly BatchItem[], tables: ReadonlyMap<string, TableSchema>): Unread[] {
    const byTable = new Map<TableSchema, Unread>();
    const wanted = new Set<string>();
    const want = (table: TableSchema, key: ValueMap) => {
      const { id, rowKey } = this.keyText(table, key);
      if (this.states.has(id) || wanted.has(id)) return;
      wanted.add(id);
      const some = byTable.get(table);
      if (some) {
        some.keys.push(key);
        some.rowKeys.push(rowKey);
        some.ids.push(id);
      } else byTable.set(table, { table, keys: [key], rowKeys: [rowKey], ids: [id] });
    };
    for (const { change } of items) {
      const table = tables.get(change.table)!;
      want(table, change.key);
      if (change.keyOld) want(table, change.keyOld);
    }
    return [...byTable.values()];
  }

  /** What was read of the keys of `unread` (rows and entries by row key). */
  fill({ rowKeys, ids }: Unread, rows: Map<string, ValueMap>, entries: Map<string, RowState['entry']>): void {
    for (let i = 0; i < rowKeys.length; i++) {
      const rowKey = rowKeys[i];
      this.states.set(ids[i], { row: rows.get(rowKey) ?? null, entry: entries.get(rowKey) ?? null });
    }
  }

  /** `withEntries` false (a receive-only node, BatchContext.keepsVersions): the rows alone, every entry taken as absent. */
  async load(tx: DbClient, items: readonly BatchItem[], tables: ReadonlyMap<string, TableSchema>, withEntries = true): Promise<void> {
    for (const unread of this.unread(items, tables)) {
      const { table, keys, rowKeys } = unread;
      if (!withEntries) {
        this.fill(unread, await fetchRows(tx, table, keys, (k) => canonicalKeyText(table, k), true), new Map());
        continue;
      }
      // Rows first, then their entries: the order in which a capture trigger locks them
      // (the application's write, then the entry), so the two never deadlock.
      // In one statement where the brand can, in that order (fetchRowsWithEntries).
      const identity = (k: ValueMap) => canonicalKeyText(table, k);
      // The keys are distinct (unread): the read need not sort out repeats.
      const both = await fetchRowsWithEntries(tx, table, keys, identity, rowKeys, true);
      const rows = both ? both.rows : await fetchRows(tx, table, keys, identity, true);
      const entries = both ? entriesFromRows(both.entries) : await readEntries(tx, table.name, rowKeys, true);
      this.fill(unread, rows, entries);
    }
  }

  /**
   * Rows the capture-first found absent must still be absent when the batch reads them: no lock
   * holds an absent key (PostgreSQL), so a local insert can commit in between, and the merge would
   * then weigh it against an entry that has not seen it. The batch is rolled back and tried again
   * (a transient failure: nothing is parked), and its capture-first then captures the insert.
   */
  requireStillAbsent(absent: CapturedFirst['absent']): void {
    for (const { table, rowKey } of absent) {
      if (!this.states.get(stateKey(table, rowKey))?.row) continue;
      throw new TransientError(
        'local_write_raced',
        `a local insert into ${table} committed between the import's capture of the row and its read; the batch is tried again`,
      );
    }
  }

  /** The state of a row, by its key's texts (keyText). */
  stateOf({ id }: KeyText): RowState {
    return this.states.get(id)!;
  }

  /** The row's state after a change, by its key's texts (keyText). */
  setState({ table, rowKey, id }: KeyText, state: RowState): void {
    if (!this.touched.has(id)) {
      const before = this.states.get(id) ?? { row: null, entry: null };
      this.touched.set(id, { id, table, rowKey, clBefore: localCl(before), entryBefore: before.entry });
    }
    this.states.set(id, state);
  }

  entryWrites(): EntryWrite[] {
    const out: EntryWrite[] = [];
    for (const { id, table, rowKey, entryBefore } of this.touched.values()) {
      const entry = this.states.get(id)?.entry;
      if (entry) out.push({ table: table.name, rowKey, entry, isNew: entryBefore === null, before: entryBefore ?? undefined });
    }
    return out;
  }

  /** Rows whose causal length moved in this batch and is not in `checked` yet (state id → cl): their pending updates may now merge. */
  clMoved(checked: Map<string, number>): Array<{ table: TableSchema; rowKey: string; cl: number }> {
    const out = [];
    for (const t of this.touched.values()) {
      const cl = localCl(this.states.get(t.id)!);
      if (cl === t.clBefore || checked.get(t.id) === cl) continue;
      checked.set(t.id, cl);
      out.push({ table: t.table, rowKey: t.rowKey, cl });
    }
    return out;
  }
}

/**
 * A batch's locked reads of its rows and entries (fetchRowsWithEntries' statements; its rows alone on a
 * receive-only node, rowsOnlyRead), made before
 * its transaction has sent anything, so that they go with its first statements in one round trip
 * (beginImportBatch): send `statements` in that order, give their results to `take`, and applyBatch
 * (BatchContext.readAhead) starts from what they read. The reads lock in the order applyBatch's
 * own would. Null where a table's read takes two statements.
 */
export interface ReadAhead {
  statements: Array<{ sql: string; params: unknown[] }>;
  take(results: readonly QueryResult[]): void;
  readonly state: BatchState;
}

export function readAhead(
  dialect: Dialect,
  items: readonly BatchItem[],
  tables: ReadonlyMap<string, TableSchema>,
  /** false on a receive-only node (BatchContext.keepsVersions): the rows alone, as BatchState.load reads them there. */
  withEntries = true,
): ReadAhead | null {
  const state = new BatchState();
  const reads: Array<{ unread: Unread; read: RowsWithEntriesRead }> = [];
  for (const unread of state.unread(items, tables)) {
    const { table, keys, rowKeys } = unread;
    const identity = (k: ValueMap) => canonicalKeyText(table, k);
    const read = withEntries
      ? rowsWithEntriesRead(dialect, table, keys, identity, rowKeys, true)
      : rowsOnlyRead(dialect, table, keys, identity);
    if (!read) return null;
    reads.push({ unread, read });
  }
  return {
    statements: reads.map(({ read }) => ({ sql: read.sql, params: read.params })),
    state,
    take(results) {
      for (let i = 0; i < reads.length; i++) {
        const { unread, read } = reads[i];
        const arrays = results[i].rows.map((row) => read.names.map((n) => row[n]));
        const both = read.parse(arrays);
        state.fill(unread, both.rows, entriesFromRows(both.entries));
      }
    },
  };
}

export interface BatchOutcome {
  results: ItemResult[];
  /** Pending updates merged now that their insert is here. */
  released: ItemResult[];
}

/**
 * Plans and writes `items` in `tx`. Throws when a write fails (the caller replays one
 * by one, or parks). Items whose plan is `parked` are returned for the caller to park.
 * `loadPending` reads the pending updates of given rows (inbox rows), for the merge of
 * updates that arrived before their insert.
 */
export async function applyBatch(
  tx: DbClient,
  ctx: BatchContext,
  items: BatchItem[],
  loadPending: (tx: DbClient, rows: Array<{ table: string; rowKey: string; cl: number }>) => Promise<BatchItem[]>,
  policyOverride?: ConflictPolicy,
  /** The items are pending updates taken up again: their ds_change_pending rows go once they merge. */
  fromPending = false,
): Promise<BatchOutcome> {
  const captured = await ctx.captureFirst?.(tx, items);
  const keepsVersions = ctx.keepsVersions !== false;
  const state = ctx.readAhead?.state ?? new BatchState();
  await state.load(tx, items, ctx.tables, keepsVersions);
  if (captured) state.requireStillAbsent(captured.absent);
  const ops: PlannedOp[] = [];
  const applied: AppliedRecord[] = [];
  const conflicts: Array<{ item: BatchItem; conflict: Conflict; policy: ConflictPolicy }> = [];
  const pendingAdds: Array<{ item: BatchItem; rowKey: string; cl: number }> = [];
  const pendingDone: number[] = [];

  const planOne = (item: BatchItem): ItemResult => {
    const { change } = item;
    const table = ctx.tables.get(change.table)!;
    const policy = policyOverride ?? ctx.policies.get(change.table) ?? 'latest-wins';
    // The key's texts looked up once per change, not once per use.
    const at = state.keyText(table, change.key);
    const atOld = change.keyOld ? state.keyText(table, change.keyOld) : null;
    const plan = planChange(table, policy, change, state.stateOf(at), atOld ? state.stateOf(atOld) : undefined);
    if (plan.outcome === 'parked') return { item, outcome: plan.outcome, conflict: plan.conflict, policy };
    for (const { key, state: next } of plan.states)
      state.setState(key === change.key ? at : key === change.keyOld && atOld ? atOld : state.keyText(table, key), next);
    const identity = (atOld ?? at).id;
    for (const op of plan.ops) ops.push({ table, identity, op });
    if (plan.forward && ctx.forwards) applied.push({ table, change, forward: plan.forward });
    if (plan.conflict) conflicts.push({ item, conflict: plan.conflict, policy });
    if (plan.outcome === 'pending') pendingAdds.push({ item, rowKey: at.rowKey, cl: change.cl! });
    return { item, outcome: plan.outcome, conflict: plan.conflict, policy };
  };

  const results = items.map(planOne);
  if (fromPending) for (const r of results) if (r.outcome !== 'pending') pendingDone.push(r.item.row.id);
  const released: ItemResult[] = [];
  // Updates that came before their insert (a mesh): merge the ones whose row has caught up.
  const checked = new Map<string, number>();
  const releasedIds = new Set<number>();
  for (;;) {
    if (ctx.nothingPending && pendingAdds.length === 0) break;
    const moved = state.clMoved(checked);
    if (moved.length === 0) break;
    const reached = new Map<string, number>();
    for (const m of moved) reached.set(stateKey(m.table.name, m.rowKey), m.cl);
    const waiting = [
      ...pendingAdds.filter((p) => p.cl <= (reached.get(stateKey(p.item.change.table, p.rowKey)) ?? 0)).map((p) => p.item),
      ...(await loadPending(
        tx,
        moved.map((m) => ({ table: m.table.name, rowKey: m.rowKey, cl: m.cl })),
      )),
    ];
    const taken = new Set<number>();
    const fresh = waiting.filter((w) => {
      if (releasedIds.has(w.row.id) || taken.has(w.row.id)) return false;
      taken.add(w.row.id);
      return true;
    });
    if (fresh.length === 0) continue;
    await state.load(tx, fresh, ctx.tables, keepsVersions);
    for (const item of fresh) {
      const result = planOne(item);
      if (result.outcome === 'pending') continue;
      released.push(result);
      releasedIds.add(item.row.id);
      pendingDone.push(item.row.id);
      const added = pendingAdds.findIndex((p) => p.item.row.id === item.row.id);
      if (added >= 0) pendingAdds.splice(added, 1);
    }
    // A released update was planned again: drop its pending marker from this batch's list.
    const done = new Set(pendingDone);
    for (let i = pendingAdds.length - 1; i >= 0; i--) if (done.has(pendingAdds[i].item.row.id)) pendingAdds.splice(i, 1);
  }

  if (!ctx.silenced) await tx.dialect.silenceCapture(tx, true, { lazyCommit: ctx.lazyCommit });
  const defer = ctx.deferWrites === true && tx.defer !== undefined && items.length <= DEFER_AT_MOST;
  // The entries depend on the plan alone, not on the table writes: where the connection queues
  // statements, their statement is built while the server runs the batch's first table write, and
  // goes right after it.
  const beside = !defer && items.length > DEFER_AT_MOST && tx.dialect.capabilities.queuesStatements === true;
  const writing = executeOps(tx, ops, defer);
  const entries = beside && keepsVersions ? writeBeside(tx, writing, state) : undefined;
  // The first failure in time is the server's first: each statement is sent once the one before it
  // ended, so a statement that a failure aborted fails a round trip later. That one is thrown.
  let failure: { error: unknown } | undefined;
  const failed = (error: unknown) => {
    failure ??= { error };
  };
  entries?.catch(failed);
  try {
    await writing;
    await recordApplied(tx, ctx.node, applied);
    if (!ctx.silencedToEnd) await tx.dialect.silenceCapture(tx, false);
    // Capture mode query: what the import wrote is not a local change (docs/capture-modes.md#query).
    if (ctx.queryTables?.size) await shadowImportWrites(tx, ops, ctx.queryTables);
    if (keepsVersions) await (entries ?? writeEntries(defer ? deferring(tx) : tx, state.entryWrites(), true, !defer));
  } catch (error) {
    failed(error);
    await entries?.catch(() => {});
    throw failure!.error;
  }
  await writePending(
    tx,
    pendingAdds.filter((p, i, all) => all.findIndex((q) => q.item.row.id === p.item.row.id) === i),
    pendingDone,
  );
  for (const { item, conflict, policy } of conflicts) {
    await recordConflict(tx, ctx.programId, ctx.notInInbox ? { ...item.row, id: 0 } : item.row, policy, conflict, item.identity, {
      values: item.change.values,
      oldValues: item.change.oldValues,
    });
  }
  return { results, released };
}

/**
 * The batch's entries written beside its table writes (`writing`, under way): after one turn of the
 * event loop, by which `writing` has sent its first statement, their statement is built and queued
 * (DialectCapabilities.queuesStatements). Nothing is written when `writing` failed first.
 */
async function writeBeside(tx: DbClient, writing: Promise<void>, state: BatchState): Promise<void> {
  let failed = false;
  writing.catch(() => {
    failed = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  if (failed) return;
  await writeEntries(tx, state.entryWrites(), true);
}

async function writePending(tx: DbClient, adds: Array<{ item: BatchItem; rowKey: string; cl: number }>, done: number[]): Promise<void> {
  const p = tx.dialect.sql.param;
  for (const id of done) await tx.query(`DELETE FROM ds_change_pending WHERE inbox_id = ${p(1)}`, [id]);
  for (const { item, rowKey, cl } of adds) {
    await tx.query(`DELETE FROM ds_change_pending WHERE inbox_id = ${p(1)}`, [item.row.id]);
    await tx.query(`INSERT INTO ds_change_pending (inbox_id, table_name, row_key, row_cl) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`, [
      item.row.id,
      item.change.table,
      rowKey,
      cl,
    ]);
  }
}

/**
 * Inbox ids of the pending updates of these rows whose causal length has been reached, read a
 * table's keys at a time. `anyPending` false: the caller saw ds_change_pending empty in this
 * transaction, before anything of it wrote there (loadBlockedRows), and nothing is read.
 */
export async function pendingInboxIds(
  tx: DbClient,
  rows: Array<{ table: string; rowKey: string; cl: number }>,
  anyPending?: boolean,
): Promise<number[]> {
  if (rows.length === 0 || anyPending === false) return [];
  if (anyPending === undefined) {
    // Most batches have nothing pending anywhere: one look at the table's smallest id (its primary key) says so.
    const any = await tx.query<Row>('SELECT min(inbox_id) AS m FROM ds_change_pending');
    if (any.rows[0]?.m === null || any.rows[0]?.m === undefined) return [];
  }
  const p = tx.dialect.sql.param;
  const reached = new Map<string, number>();
  const byTable = new Map<string, string[]>();
  for (const { table, rowKey, cl } of rows) {
    const id = stateKey(table, rowKey);
    if (!reached.has(id)) {
      const keys = byTable.get(table);
      if (keys) keys.push(rowKey);
      else byTable.set(table, [rowKey]);
    }
    reached.set(id, Math.max(reached.get(id) ?? 0, cl));
  }
  const ids: number[] = [];
  const perQuery = Math.max(1, Math.min(5000, tx.dialect.capabilities.maxParameters - 10));
  for (const [table, keys] of byTable) {
    for (let i = 0; i < keys.length; i += perQuery) {
      const chunk = keys.slice(i, i + perQuery);
      const found = await tx.query<Row>(
        `SELECT inbox_id, row_key, row_cl FROM ds_change_pending WHERE table_name = ${p(1)} AND row_key IN (${chunk.map((_, j) => p(j + 2)).join(', ')})`,
        [table, ...chunk],
      );
      for (const r of found.rows) if (Number(r.row_cl) <= reached.get(stateKey(table, String(r.row_key)))!) ids.push(Number(r.inbox_id));
    }
  }
  return ids.sort((a, b) => a - b);
}

/**
 * Inbox ids of pending updates whose row has caught up (its entry's causal length reached
 * theirs) by a write that did not go through an import batch: a `dsync load`, or an
 * import batch that committed beside the write that brought the row. At most `limit`.
 */
export async function caughtUpPending(tx: DbClient, limit: number): Promise<number[]> {
  const { rows } = await tx.query<Row>(
    `SELECT p.inbox_id FROM ds_change_pending p JOIN ds_row_version v ON v.table_name = p.table_name AND v.row_key = p.row_key
     WHERE v.cl >= p.row_cl ORDER BY p.inbox_id`,
  );
  return rows.slice(0, limit).map((r) => Number(r.inbox_id));
}
