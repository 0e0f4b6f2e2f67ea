/**
 * Import (the seed's program 1001): inbox rows past the pointer, up to the safe
 * horizon, applied in id order to the node's tables with bound parameters. Each batch
 * is one transaction that also moves the pointer (guarantee 3, docs/guarantees.md).
 *
 * Fast path: read the current rows of every key in the batch at once (locked), plan
 * every change in memory in inbox order with the merge planner, then write the
 * planned rows set-wise and record the applied changes in the outbox (capture
 * triggers are silenced for the import's own writes; guarantee 4). If anything in that
 * fails, the batch is rolled back and replayed change by change, each in a savepoint,
 * so the failing change is parked with its reason and the others go on (guarantee 6).
 */
import { captureMode, type Config, type ConflictPolicy, type ProgramConfig, queryCaptureSettings } from '../../config/config.ts';
import type { ChangeEvent, InboxRow, ValueMap } from '../../core/change.ts';
import { CHANGE_ROW_COLUMNS } from '../../core/change.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { describeError, DsyncError, IntrospectionError, RuntimeError, TransientError } from '../../core/errors.ts';
import type { TableSchema } from '../../core/schema.ts';
import {
  applyBatch,
  type BatchContext,
  type BatchItem,
  type CapturedFirst,
  caughtUpPending,
  type ItemResult,
  pendingInboxIds,
  type ReadAhead,
  readAhead,
} from './apply-batch.ts';
import { decodeChange, normalizeChangeTime } from './decode-change.ts';
import { mergeOnServer, serverMergeMay } from './server-merge.ts';
import { BATCH_COLUMNS, inboxBatchSelect, inboxBatches, inboxKeysIn, inboxRowsIn, inboxRowsOf, stampOf, text } from './inbox-batches.ts';
import type { Conflict } from './merge.ts';
import { type NodeHandle, requireSyncObjects } from '../nodes.ts';
import { captureBeforeMerge } from '../capture/query-capture.ts';
import { captureLogBeforeMerge, catchUpLog, logTableNames } from '../capture/log-capture.ts';
import { beginImportBatch, parkChange, rawRowIdentity, rowIdentity, storedKey } from './parking.ts';
import {
  forgetPointer,
  keepPointer,
  pointerContendedError,
  pointerMovedError,
  programPointer,
  readHorizonAndBatch,
  refusePointerAhead,
  saveKeptProgramState,
  saveProgramState,
} from '../program-state.ts';
import { countAbove, type SendingBatch } from '../transport/transport.ts';

export interface ImportContext {
  handle: NodeHandle;
  programId: number;
  tables: Map<string, TableSchema>;
  policies: Map<string, ConflictPolicy>;
  /** Tables with a capture shadow (modes query and keys) → their update-time column (null in mode keys). */
  queryTables: Map<string, string | null>;
  /** Tables in capture mode log on this node: the log is captured before a batch merges into them. */
  logTables: string[];
  /**
   * The node has a transport program of its own: what the import applies is recorded in
   * its outbox to be forwarded (a hub). Without one nobody would read that record, and
   * it is not written (docs/performance.md).
   */
  forwards: boolean;
  /**
   * The import reads and writes version entries: every node but a receive-only one (`nodes.<n>.receiveOnly`), where
   * each change drops its clocks and applies in arrival order, no entry read or written (docs/convergence.md#receive-only-nodes).
   */
  keepsVersions: boolean;
}

export interface ImportResult {
  program: number;
  applied: number;
  unchanged: number;
  conflicts: number;
  parked: number;
  waiting: number;
  /** Updates that arrived before the insert they follow (a mesh): merged when it comes. */
  pending: number;
  /** Batches that had to be replayed change by change. */
  replayed: number;
  pointer: number;
  horizon: number;
  /** Committed inbox rows above the horizon: waiting for a transport that took a lower id to end. */
  heldBack: number;
}

/**
 * The synchronized tables as they are on this node; a missing one stops the import with
 * the fix. Kept on the handle between passes unless `fresh` is asked (importOnce asks
 * again when a change names a table or column the kept schema does not know).
 */
export async function importContext(config: Config, handle: NodeHandle, programId: number, fresh = true): Promise<ImportContext> {
  const policies = new Map(config.tables.map((t) => [t.name, t.conflict]));
  // Tables whose capture pass compares rows with a shadow (modes query and keys): the import keeps it.
  const queryTables = new Map<string, string | null>();
  for (const t of config.tables) {
    const mode = captureMode(config, handle.node.name, t.name);
    if (mode === 'query') queryTables.set(t.name, queryCaptureSettings(config, t.name).updateTimeColumn);
    else if (mode === 'keys') queryTables.set(t.name, null);
  }
  const logTables = handle.dialect.changeLog ? logTableNames(config, handle.node.name) : [];
  const forwards = config.programs.some((p) => p.type === 'transport' && p.from === handle.node.name);
  const keepsVersions = handle.node.receiveOnly !== true;
  if (!fresh && handle.tables)
    return { handle, programId, tables: handle.tables, policies, queryTables, logTables, forwards, keepsVersions };
  await requireSyncObjects(handle, ['ds_change_inbox', 'ds_change_error', 'ds_change_conflict', 'ds_program_parameter', 'ds_row_version']);
  // Read before the catalog: an apply that lands between the two is seen by the next pass.
  const stamp = await ledgerStamp(handle.client);
  const tables = new Map<string, TableSchema>();
  for (const table of config.tables) {
    try {
      tables.set(table.name, await handle.dialect.introspect(handle.client, table.name));
    } catch (error) {
      if (!(error instanceof IntrospectionError)) throw error;
      throw new RuntimeError('table_missing', `node ${handle.node.name}: ${error.message}`, { hint: error.hint }, { cause: error });
    }
  }
  handle.tables = tables;
  handle.tablesStamp = stamp;
  return { handle, programId, tables, policies, queryTables, logTables, forwards, keepsVersions };
}

/**
 * A stamp of the node's ledger (ds_schema_migrations): `dsync apply` after a table changed
 * (the documented way to change a synchronized table) rewrites its capture file's entry, so
 * the stamp moves and the import reads the tables again (one small query per pass with work).
 */
export async function ledgerStamp(client: DbClient): Promise<string> {
  try {
    const { rows } = await client.query<Row>('SELECT count(*) AS ds_ledger_n, max(applied_at) AS ds_ledger_at FROM ds_schema_migrations');
    return stampOf(rows[0]);
  } catch (error) {
    if (client.dialect.isTransient(error)) throw error;
    // No ledger (sync objects made without `dsync apply`): nothing to watch.
    return 'none';
  }
}

export const INBOX_SELECT = `SELECT id, ${CHANGE_ROW_COLUMNS.join(', ')}, origin_change_id FROM ds_change_inbox`;

/** An inbox row as read by INBOX_SELECT: written out as one literal, so every row has one shape (a loop of assignments makes a slow dictionary of each). */
export function toInboxRow(row: Row): InboxRow {
  return {
    id: Number(row.id),
    origin_change_id: Number(row.origin_change_id),
    object_database: text(row.object_database),
    object_table: text(row.object_table),
    object_pk_attribute: text(row.object_pk_attribute),
    object_attribute: text(row.object_attribute),
    object_id: text(row.object_id),
    object_id_old: text(row.object_id_old),
    object_value: text(row.object_value),
    object_value_old: text(row.object_value_old),
    object_operation: text(row.object_operation),
    object_operation_command: text(row.object_operation_command),
    updated_by_server_id: text(row.updated_by_server_id),
    updated_by_user_id: text(row.updated_by_user_id),
    update_datetime: text(row.update_datetime),
    note1: text(row.note1),
    row_cl: text(row.row_cl),
    row_cl_old: text(row.row_cl_old),
    change_version: text(row.change_version),
  } satisfies Record<'id' | 'origin_change_id' | (typeof CHANGE_ROW_COLUMNS)[number], unknown>;
}

export function manualReason(conflict: Conflict): string {
  return `conflict (${conflict.kind}${conflict.columns.length ? ` on ${conflict.columns.join(', ')}` : ''}) under the manual policy: \`dsync retry\` applies the incoming change, \`dsync skip\` keeps the local row`;
}

export function summary(r: ImportResult): string {
  return `applied ${r.applied}, unchanged ${r.unchanged}, conflicts ${r.conflicts}, parked ${r.parked}, waiting ${r.waiting}`;
}

const operationName = { I: 'insert', U: 'update', D: 'delete' } as const;

/** Tallies of one batch, kept apart so that a replay starts from zero. */
type Tally = Pick<ImportResult, 'applied' | 'unchanged' | 'conflicts' | 'parked' | 'waiting' | 'pending'>;
const emptyTally = (): Tally => ({ applied: 0, unchanged: 0, conflicts: 0, parked: 0, waiting: 0, pending: 0 });

export interface Decoded {
  row: InboxRow;
  change: ChangeEvent | null;
  error: string | null;
  /** The error code of a change that could not be decoded (ds_change_error.kind). */
  errorCode: string | null;
  readonly identity: string;
  readonly oldIdentity: string | null;
}

/**
 * A change decoded: its row identities (parking's, rowIdentity) are spelled when first asked
 * for, which only a parked, waiting or conflicting change is: not two strings per change.
 */
class DecodedChange implements Decoded {
  readonly error = null;
  readonly errorCode = null;
  private spelled: string | undefined = undefined;
  private spelledOld: string | null | undefined = undefined;
  constructor(
    readonly row: InboxRow,
    readonly change: ChangeEvent,
    private readonly primaryKey: string[],
  ) {}
  get identity(): string {
    if (this.spelled === undefined) this.spelled = rowIdentity(this.change.table, this.primaryKey, this.change.key);
    return this.spelled;
  }
  get oldIdentity(): string | null {
    if (this.spelledOld === undefined)
      this.spelledOld = this.change.keyOld ? rowIdentity(this.change.table, this.primaryKey, this.change.keyOld) : null;
    return this.spelledOld;
  }
}

/** A change naming a table or column the kept schema does not know (it may predate them). */
const unknownName = (d: Decoded) => d.errorCode === 'unknown_table' || d.errorCode === 'unknown_column';

/** Rows decoded between two looks at the event loop by decodeInGaps: a few milliseconds of work. */
const DECODE_SLICE = 256;

/**
 * decodeAll a slice at a time, letting the event loop run between slices: started while
 * the batch before is written, it uses the time this process would spend waiting for the
 * server, and a statement's answer waits at most one slice.
 */
async function decodeInGaps(ctx: ImportContext, rows: InboxRow[]): Promise<Decoded[]> {
  const out: Decoded[] = [];
  for (let i = 0; i < rows.length; i += DECODE_SLICE) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const d of decodeAll(ctx, rows.slice(i, i + DECODE_SLICE))) out.push(d);
  }
  return out;
}

function decodeAll(ctx: ImportContext, rows: InboxRow[]): Decoded[] {
  return rows.map((row) => {
    try {
      const change = decodeChange(row, ctx.tables, ctx.keepsVersions);
      return new DecodedChange(row, change, ctx.tables.get(change.table)!.primaryKey);
    } catch (error) {
      return {
        row,
        change: null,
        error: describeError(error),
        errorCode: kindOf(error, 'decode_failed'),
        identity: rawRowIdentity(row, ctx.tables.get(row.object_table ?? '')?.primaryKey ?? null),
        oldIdentity: null,
      };
    }
  });
}

/** The `kind` of a parked change: the DsyncError code, or the driver's error code after `fallback`. */
export function kindOf(error: unknown, fallback: string): string {
  if (error instanceof DsyncError) return error.code;
  const e = error as { code?: unknown; errno?: unknown; number?: unknown } | null;
  const driverCode = e?.code ?? e?.errno ?? e?.number;
  return driverCode === undefined || driverCode === null ? fallback : `${fallback}:${String(driverCode)}`;
}

function batchContext(ctx: ImportContext): BatchContext {
  return {
    node: ctx.handle.node.name,
    programId: ctx.programId,
    tables: ctx.tables,
    policies: ctx.policies,
    queryTables: ctx.queryTables,
    forwards: ctx.forwards,
    keepsVersions: ctx.keepsVersions,
    captureFirst: capturesFirst(ctx) ? (tx, items) => captureLocalFirst(tx, ctx, items) : undefined,
  };
}

/** The node has tables whose local writes a pass captures (modes query, keys, log): the import captures them first. */
const capturesFirst = (ctx: ImportContext) => ctx.queryTables.size > 0 || ctx.logTables.length > 0;

/**
 * The keys (old keys too) of `items` in tables of capture mode query or keys, captured first
 * (BatchContext.captureFirst); where they are in mode log, the log up to its end.
 */
async function captureLocalFirst(tx: DbClient, ctx: ImportContext, items: readonly BatchItem[]): Promise<CapturedFirst> {
  const keys = new Map<string, ValueMap[]>();
  const logKeys = new Map<string, ValueMap[]>();
  for (const { change } of items) {
    const into = ctx.queryTables.has(change.table) ? keys : ctx.logTables.includes(change.table) ? logKeys : null;
    if (!into) continue;
    const some = into.get(change.table) ?? [];
    some.push(change.key);
    if (change.keyOld) some.push(change.keyOld);
    into.set(change.table, some);
  }
  const absent: Array<{ table: string; rowKey: string }> = [];
  // Tables in name order: two imports into one node take the tables' watermark locks in the same order.
  for (const name of [...keys.keys()].sort()) {
    const texts = await captureBeforeMerge(tx, ctx.handle, ctx.tables.get(name)!, ctx.queryTables.get(name)!, keys.get(name)!);
    for (const rowKey of texts) absent.push({ table: name, rowKey });
  }
  if (logKeys.size > 0) absent.push(...(await captureLogBeforeMerge(tx, ctx.handle, ctx.logTables, ctx.tables, logKeys)));
  return { absent };
}

/**
 * Pending updates whose row arrived by another path than an import batch (a load, or a
 * batch that committed beside it): merged at the end of the pass, so none waits for good.
 */
async function releaseCaughtUp(client: DbClient, ctx: ImportContext, limit: number, result: ImportResult): Promise<void> {
  // Looked for outside a transaction first: most passes find none and pay one round trip, not three.
  if ((await caughtUpPending(client, limit)).length === 0) return;
  await client.transaction(async (tx) => {
    const ids = await caughtUpPending(tx, limit);
    if (ids.length === 0) return;
    const items = await inboxItems(tx, ctx, ids);
    const outcome = await applyBatch(tx, batchContext(ctx), items, pendingLoader(ctx), undefined, true);
    for (const r of [...outcome.results, ...outcome.released]) if (r.outcome === 'applied') result.applied++;
  });
}

/** The pending updates of rows whose causal length has been reached, decoded from the inbox (`anyPending`: see pendingInboxIds). */
function pendingLoader(ctx: ImportContext, anyPending?: boolean) {
  return async (tx: DbClient, rows: Array<{ table: string; rowKey: string; cl: number }>): Promise<BatchItem[]> =>
    inboxItems(tx, ctx, await pendingInboxIds(tx, rows, anyPending));
}

/** Inbox rows by id, decoded into batch items, in id order (a row gone or undecodable is left out: it was parked when it came). */
async function inboxItems(tx: DbClient, ctx: ImportContext, ids: number[]): Promise<BatchItem[]> {
  const items: BatchItem[] = [];
  const p = tx.dialect.sql.param;
  const perQuery = Math.max(1, Math.min(5000, tx.dialect.capabilities.maxParameters - 10));
  const unique = [...new Set(ids)].sort((a, b) => a - b);
  for (let i = 0; i < unique.length; i += perQuery) {
    const chunk = unique.slice(i, i + perQuery);
    const { rows } = await tx.query<Row>(`${INBOX_SELECT} WHERE id IN (${chunk.map((_, j) => p(j + 1)).join(', ')}) ORDER BY id`, chunk);
    for (const d of decodeAll(ctx, rows.map(toInboxRow))) if (d.change) items.push({ row: d.row, change: d.change, identity: d.identity });
  }
  return items;
}

/**
 * Parks a change that waits behind an unresolved change of its row; returns true when it
 * did. `blocked` maps stored row keys to the inbox id of their chain's head: a change always
 * waits behind the head, never behind another waiting change.
 */
async function parkIfBlocked(tx: DbClient, ctx: ImportContext, d: Decoded, blocked: Map<string, number>, tally: Tally): Promise<boolean> {
  if (blocked.size === 0) return false;
  const key = storedKey(d.identity);
  const oldKey = d.oldIdentity === null ? null : storedKey(d.oldIdentity);
  const head = blocked.get(key) ?? (oldKey === null ? undefined : blocked.get(oldKey));
  if (head === undefined) return false;
  await parkChange(
    tx,
    ctx.programId,
    d.row,
    d.identity,
    'waiting',
    `waits behind the parked change of inbox id ${head} for the same row`,
    head,
    'waiting',
  );
  // A key change moves the row: its new key waits behind the same head.
  blocked.set(key, head);
  tally.waiting++;
  return true;
}

async function parkFailed(
  tx: DbClient,
  ctx: ImportContext,
  d: Pick<Decoded, 'row' | 'identity' | 'oldIdentity'>,
  reason: string,
  kind: string,
  blocked: Map<string, number>,
  tally: Tally,
): Promise<void> {
  await parkChange(tx, ctx.programId, d.row, d.identity, 'open', reason, null, kind);
  blocked.set(storedKey(d.identity), d.row.id);
  if (d.oldIdentity !== null) blocked.set(storedKey(d.oldIdentity), d.row.id);
  tally.parked++;
}

function count(results: ItemResult[], tally: Tally): ItemResult[] {
  const parked: ItemResult[] = [];
  for (const r of results) {
    if (r.conflict) tally.conflicts++;
    if (r.outcome === 'applied') tally.applied++;
    else if (r.outcome === 'pending') tally.pending++;
    else if (r.outcome === 'parked') parked.push(r);
    else tally.unchanged++;
  }
  return parked;
}

/** The fast path: the whole batch planned in memory and written set-wise. Throws when any write fails. */
async function applyBatchPlanned(
  tx: DbClient,
  ctx: ImportContext,
  decoded: Decoded[],
  {
    blocked,
    anyPending,
    silenced,
    ahead,
    notInInbox,
  }: { blocked: Map<string, number>; anyPending: boolean; silenced: boolean; ahead: ReadAhead | undefined; notInInbox?: boolean },
  tally: Tally,
): Promise<void> {
  const items: BatchItem[] = [];
  for (const d of decoded) {
    // Most batches have nothing parked: no await per change for that (10,000 of them in a large batch).
    if (blocked.size > 0 && (await parkIfBlocked(tx, ctx, d, blocked, tally))) continue;
    if (!d.change) {
      await parkFailed(tx, ctx, d, d.error!, d.errorCode ?? 'decode_failed', blocked, tally);
      continue;
    }
    items.push(d as BatchItem); // its change is there: a BatchItem as it is, no copy per change
  }
  // One applyBatch for the whole batch: it writes ds_change_pending only after its last look there, so the look at the start holds.
  const outcome = await applyBatch(
    tx,
    {
      ...batchContext(ctx),
      silencedToEnd: true,
      lazyCommit: true,
      silenced,
      nothingPending: !anyPending,
      deferWrites: true,
      readAhead: ahead,
      notInInbox,
    },
    items,
    pendingLoader(ctx, anyPending),
  );
  // A pending update merged in this same batch counts once, as what it became.
  const released = new Set(outcome.released.map((r) => r.item.row.id));
  const results =
    released.size === 0
      ? outcome.results
      : [...outcome.results.filter((r) => !(r.outcome === 'pending' && released.has(r.item.row.id))), ...outcome.released];
  for (const r of count(results, tally)) {
    const d = decoded.find((x) => x.row.id === r.item.row.id) ?? { row: r.item.row, identity: r.item.identity, oldIdentity: null };
    await parkFailed(tx, ctx, d, manualReason(r.conflict!), 'conflict_manual', blocked, tally);
  }
}

/** A batch a direct apply leaves to the inbox (applyDirect): rolled back, then written there as the transport always did. */
export class DirectRefused extends Error {}

/** A batch of the transport into a directApply node, decoded for applyDirect with the context it will be applied in. */
export interface DirectBatch {
  readonly ctx: ImportContext;
  readonly decoded: Decoded[];
}

/** `rows` decoded for applyDirect a slice at a time (decodeInGaps): begun while the batch before is applied. */
export async function decodeDirect(ctx: ImportContext, rows: InboxRow[]): Promise<DirectBatch> {
  return { ctx, decoded: await decodeInGaps(ctx, rows) };
}

/**
 * One batch applied by the transport into a directApply node (docs/convergence.md#direct-apply), in
 * `tx`, the transaction that moves the transport's record on this node: the rows as the inbox would
 * hold them (decodeDirect), their ids the source's outbox ids. The import's row is locked first, as its
 * batches lock it, and the parked set read under that lock. Refused (DirectRefused) while the inbox
 * holds a change the import has not taken (on a replica arrival order decides, and on any node a later
 * change of a row must not overtake one the inbox holds), and when a change would park or wait: those
 * point to their inbox row (ds_change_error), so the batch goes there and the import decides them as
 * before. A conflict the table's policy resolves is recorded as the import records it, with inbox_id 0.
 * Returns the changes applied or found already there, and the conflicts recorded.
 */
export async function applyDirect(tx: DbClient, { ctx, decoded }: DirectBatch): Promise<{ changes: number; conflicts: number }> {
  const p = tx.dialect.sql.param;
  // No inbox row is written meanwhile: the caller holds the transport's mark, which every inbox write of it moves.
  const { rows: state } = await tx.query<Row>(
    `SELECT last_pointer, (SELECT min(i.id) FROM ds_change_inbox i WHERE i.id > last_pointer) AS behind FROM ds_program_parameter WHERE id = ${p(1)}`,
    [ctx.programId],
  );
  if (state.length === 0) throw new DirectRefused(`no ds_program_parameter row for import program ${ctx.programId}`);
  const [at, behind] = [Number(state[0].last_pointer), state[0].behind];
  if (behind !== null && behind !== undefined) throw new DirectRefused(`inbox id ${behind} is not imported yet`);
  const stamped = ctx.handle.tablesStamp !== undefined && ctx.handle.tablesStamp !== 'none';
  // A small batch's rows are read in the same round trip, where the driver pipelines (as an import batch's).
  const ahead =
    tx.queryPipelined && decoded.length <= READ_AHEAD_AT_MOST && !capturesFirst(ctx)
      ? readAhead(tx.dialect, decoded.filter((d) => d.change !== null) as BatchItem[], ctx.tables, ctx.keepsVersions)
      : null;
  // The commit waits for the disk: capture is silenced here without lazyCommit, and applyBatch does not silence it again.
  const begun = await beginImportBatch(tx, ctx.programId, { from: at, to: at }, {}, stamped, ahead?.statements);
  if (!begun.moved) throw new DirectRefused(`import program ${ctx.programId} moved its pointer`);
  if (begun.following) ahead!.take(begun.following);
  if (stamped && begun.stamp !== ctx.handle.tablesStamp) {
    // `dsync apply` ran since the tables were read: the inbox takes the batch (the import reads them again), and so does the next pass.
    ctx.handle.tables = undefined;
    throw new DirectRefused('the tables changed since they were read');
  }
  const tally = emptyTally();
  await applyBatchPlanned(
    tx,
    ctx,
    decoded,
    { ...begun.parked, silenced: begun.silenced, ahead: begun.following ? ahead! : undefined, notInInbox: true },
    tally,
  );
  if (tally.parked + tally.waiting + tally.pending > 0)
    throw new DirectRefused(`parked ${tally.parked}, waiting ${tally.waiting}, pending ${tally.pending}`);
  return { changes: tally.applied + tally.unchanged, conflicts: tally.conflicts };
}

export type ApplyStatus = 'applied' | 'unchanged' | 'manual' | 'pending';

/**
 * Applies one decoded change in a savepoint of `tx` (the slow path, and `dsync retry`).
 * Throws when it cannot be applied; the savepoint is then rolled back and `tx` stays usable.
 */
export async function applyDecoded(
  tx: DbClient,
  ctx: ImportContext,
  row: InboxRow,
  change: ChangeEvent,
  identity: string,
  policyOverride?: ConflictPolicy,
): Promise<{ status: ApplyStatus; conflict: Conflict | null }> {
  const outcome = await tx.transaction((sp) =>
    applyBatch(sp, batchContext(ctx), [{ row, change, identity }], pendingLoader(ctx), policyOverride),
  );
  const { outcome: planned, conflict } = outcome.results[0];
  const status: ApplyStatus =
    planned === 'parked' ? 'manual' : planned === 'pending' ? 'pending' : planned === 'applied' ? 'applied' : 'unchanged';
  return { status, conflict };
}

/**
 * The slow path: change by change, each in a savepoint; a failing one is parked. A
 * transient failure (deadlock, timeout, lost connection) goes up instead: the batch is
 * rolled back and tried again, a good change is never parked for it. A change that dooms
 * the whole transaction (SQL Server) is remembered in `doomed` and goes up too: the replay
 * that follows parks it without running it.
 */
async function applyBatchOneByOne(
  tx: DbClient,
  ctx: ImportContext,
  decoded: Decoded[],
  blocked: Map<string, number>,
  tally: Tally,
  doomed: Map<number, { reason: string; kind: string }>,
): Promise<void> {
  for (const d of decoded) {
    if (await parkIfBlocked(tx, ctx, d, blocked, tally)) continue;
    if (!d.change) {
      await parkFailed(tx, ctx, d, d.error!, d.errorCode ?? 'decode_failed', blocked, tally);
      continue;
    }
    const known = doomed.get(d.row.id);
    if (known) {
      await parkFailed(tx, ctx, d, known.reason, known.kind, blocked, tally);
      continue;
    }
    try {
      const { status, conflict } = await applyPlanningAgain(tx, ctx, d.row, d.change, d.identity);
      if (conflict) tally.conflicts++;
      if (status === 'manual') await parkFailed(tx, ctx, d, manualReason(conflict!), 'conflict_manual', blocked, tally);
      else if (status === 'applied') tally.applied++;
      else if (status === 'pending') tally.pending++;
      else tally.unchanged++;
    } catch (error) {
      if (tx.dialect.isTransient(error)) throw error;
      const reason = `${operationName[d.change.operation]} of ${d.change.table} ${JSON.stringify(d.change.key)} failed: ${describeError(error)}`;
      if (doomedTransaction(error)) {
        doomed.set(d.row.id, { reason, kind: kindOf(error.cause, 'apply_failed') });
        throw error;
      }
      await parkFailed(tx, ctx, d, reason, kindOf(error, 'apply_failed'), blocked, tally);
    }
  }
}

/** A failure that left the whole transaction unusable (SQL Server): the change is parked on the replay, without running it. */
const doomedTransaction = (error: unknown): error is DsyncError => error instanceof DsyncError && error.code === 'transaction_doomed';

/**
 * Attempts of one change in the slow path while its write meets a key another row holds. The
 * import reads a row and then writes it; PostgreSQL locks no absent key in between, so a local
 * writer can insert the row there, and the import's insert then fails on the key. Planned again on
 * a fresh read, the change meets that row and merges with it; each further failure needs a new
 * race of the same row, and only a key that stays taken (another unique key, bad data) parks.
 */
export const KEY_COLLISION_ATTEMPTS = 5;

/** applyDecoded, planned again on a fresh read while its write meets a taken key (KEY_COLLISION_ATTEMPTS). */
async function applyPlanningAgain(
  tx: DbClient,
  ctx: ImportContext,
  row: InboxRow,
  change: ChangeEvent,
  identity: string,
): ReturnType<typeof applyDecoded> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyDecoded(tx, ctx, row, change, identity);
    } catch (error) {
      // A doomed transaction (SQL Server) cannot plan again: the replay parks the change.
      if (
        attempt >= KEY_COLLISION_ATTEMPTS ||
        doomedTransaction(error) ||
        !tx.dialect.isKeyCollision(error) ||
        tx.dialect.isTransient(error)
      )
        throw error;
    }
  }
}

/** Attempts of one batch within a pass when it fails for a transient reason, and the wait before each retry. */
export const TRANSIENT_ATTEMPTS = 5;
const backoffMs = (attempt: number) => Math.min(3000, 100 * 4 ** (attempt - 1)) * (0.75 + Math.random() / 2);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Most changes of a batch whose rows and entries are read with its first statements (readAhead): a change that comes alone, or a few. */
const READ_AHEAD_AT_MOST = 63;

/**
 * Passes begun again in a row because another import moved the pointer (pointer_moved) before giving
 * up, each after a random pause of up to POINTER_MOVED_PAUSE_MS × its number, so that two importers
 * that keep meeting drift apart.
 */
const POINTER_MOVED_ATTEMPTS = 8;
const POINTER_MOVED_PAUSE_MS = 20;

/**
 * One import pass. It starts from the pointer kept from the last pass on this connection
 * (program-state.ts keptPointers) and moves it by compare-and-set in each batch's
 * transaction: when another import (a manual `dsync import`, a second daemon) moved it
 * meanwhile, the batch is rolled back and the pass begins again from the stored pointer.
 *
 * `handed`: inbox rows a transport of the daemon has just inserted and committed, as the import's
 * batch read returns them (transportOnce's MovedBatch). When their ids are exactly the ones after
 * the pass's pointer (pointer + 1, pointer + 2, …), they are every inbox row up to the last of
 * them, all committed: no writer can still commit a row with an id among them (an id is one row),
 * so the last is a safe horizon, and the pass applies them without reading the horizon and the
 * batch (one round trip less). Otherwise they are ignored and the pass reads as always. The
 * pointer still moves by compare-and-set: a pointer moved meanwhile ends the batch as always.
 *
 * `sending`: an inbox write a transport of the daemon has sent and not yet seen return
 * (SendingBatch). The pass takes its rows as the ones right after its pointer (sendingBatch) and
 * begins their batch at once, beside the write; before the batch writes anything, the rows the
 * write returned must be exactly those (confirmSending), else it is rolled back and the pass
 * begins again from them (the `handed` check) or reads.
 */
export async function importOnce(
  config: Config,
  program: ProgramConfig,
  handle: NodeHandle,
  handed?: Row[],
  sending?: SendingBatch,
): Promise<ImportResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      // The rows are for the pass's first try: a pass begun again reads (the check in importPass would refuse them anyway).
      return await importPass(config, program, handle, attempt === 1 ? handed : undefined, attempt === 1 ? sending : undefined);
    } catch (error) {
      if (error instanceof SendingMissed) {
        // Rolled back before anything was written: the pass begins again from the rows the write returned (or reads).
        [handed, sending, attempt] = [error.inserted, undefined, 0];
        continue;
      }
      forgetPointer(handle.client, program.id);
      if (!(error instanceof RuntimeError && error.code === 'pointer_moved')) throw error;
      if (attempt >= POINTER_MOVED_ATTEMPTS) throw pointerContendedError(program.id, attempt, error);
      await sleep(Math.random() * POINTER_MOVED_PAUSE_MS * attempt);
      // The pass begins again by reading the inbox: after a write it took (`sending`) has returned, so that it reads that too.
      if (sending) await writeReturned(sending);
      sending = undefined;
    }
  }
}

/**
 * `handed` when it is the inbox rows right after `pointer`, every id from pointer + 1 on, at most
 * a batch (see importOnce); in id order. Null otherwise.
 */
export function handedBatch(handed: Row[] | undefined, pointer: number, batchSize: number): Row[] | null {
  if (!handed || handed.length === 0 || handed.length > batchSize) return null;
  const rows = [...handed].sort((a, b) => Number(a.id) - Number(b.id));
  for (let i = 0; i < rows.length; i++) if (Number(rows[i].id) !== pointer + 1 + i) return null;
  return rows;
}

/** The ledger's stamp moved since the tables were read (seen in a batch's transaction): the batch is rolled back and decoded again. */
class LedgerMoved extends Error {}

/**
 * `sending`'s rows with the ids they get when they are the inbox rows right after `pointer`
 * (see importOnce), at most a batch; null otherwise.
 */
export function sendingBatch(sending: SendingBatch | undefined, pointer: number, batchSize: number): Row[] | null {
  if (!sending || sending.rows.length === 0 || sending.rows.length > batchSize) return null;
  return sending.rows.map((row, i) => ({ ...row, id: String(pointer + 1 + i) }));
}

/** A batch begun from rows being sent (sendingBatch) that the write did not give as foreseen: rolled back, begun again from `inserted`. */
class SendingMissed extends Error {
  constructor(readonly inserted: Row[] | undefined) {
    super('the inbox write did not return the rows foreseen');
  }
}

/** The longest an import waits for the inbox write it took (SendingBatch) before it reads the inbox instead: its locks are held meanwhile. */
const SENDING_WAIT_MS = 5000;

/** What the write returned, or undefined after SENDING_WAIT_MS: a write stuck on a lost connection does not hold the import. */
function writeReturned(sending: SendingBatch): Promise<Row[] | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), SENDING_WAIT_MS);
  });
  return Promise.race([sending.inserted, late]).finally(() => clearTimeout(timer));
}

const idsOf = (rows: readonly InboxRow[]): number[] => rows.map((r) => r.id);

/** The same inbox value as the import reads it (the change time in any spelling the server gives it). */
const sameInboxValue = (column: string, a: unknown, b: unknown): boolean =>
  column === 'update_datetime'
    ? normalizeChangeTime(a) === normalizeChangeTime(b)
    : (a === null || a === undefined ? null : String(a)) === (b === null || b === undefined ? null : String(b));

/**
 * The rows the write returned, when they are `foreseen` (sendingBatch): the same ids and every
 * batch column the same, so that what was decoded and read for the foreseen rows holds for them.
 * Throws SendingMissed otherwise.
 */
async function confirmSending(sending: SendingBatch, foreseen: readonly Row[]): Promise<void> {
  const inserted = await writeReturned(sending);
  const rows = inserted ? [...inserted].sort((a, b) => Number(a.id) - Number(b.id)) : [];
  const same =
    rows.length === foreseen.length &&
    rows.every((row, i) => BATCH_COLUMNS.every((column) => sameInboxValue(column, row[column], foreseen[i][column])));
  if (!same) throw new SendingMissed(inserted);
}

async function importPass(
  config: Config,
  program: ProgramConfig,
  handle: NodeHandle,
  handed?: Row[],
  sending?: SendingBatch,
): Promise<ImportResult> {
  const { client } = handle;
  const start = await programPointer(client, program, handle.node.name);
  let kept = handle.tables !== undefined;
  // The ledger is looked at once per pass, and only when there is something to import.
  let watch = kept;
  let ctx = await importContext(config, handle, program.id, false);
  // With a ledger, the first batch's read brings its stamp along (ledgerStamp): no round trip of its own.
  const withStamp = watch && handle.tablesStamp !== 'none';
  const received = handedBatch(handed, start, program.batchSize);
  // Rows still being written are taken as they will be; the batch's transaction checks them before it writes (confirmSending).
  let foreseen = received ? null : sendingBatch(sending, start, program.batchSize);
  const given = received ?? foreseen;
  // Rows handed over were read without the stamp: the first batch's transaction reads it with the parked set, and a
  // stamp that moved rolls the batch back (LedgerMoved) before anything is written.
  let stampInBatch = given !== null && withStamp;
  if (stampInBatch) watch = false;
  // The first batch comes with the horizon where the brand reads both in one round trip; rows handed over are their own horizon.
  // `first` is a holder inboxBatches empties once it has taken the rows (they are not kept in this frame for the pass).
  const first: { horizon: number; rows: Row[] | null } = given
    ? { horizon: start + given.length, rows: given }
    : await readHorizonAndBatch(client, 'ds_change_inbox', inboxBatchSelect(withStamp), start, program.batchSize);
  const { horizon } = first;
  await refusePointerAhead(client, program.id, 'ds_change_inbox', start, horizon);
  const result: ImportResult = { program: program.id, ...emptyTally(), replayed: 0, pointer: start, horizon, heldBack: 0 };
  try {
    let pointer = start;
    // A batch read ahead is decoded early, with the context of that moment (checked below).
    const decodeAhead = async (rows: InboxRow[]) => {
      const used = ctx;
      // A batch the server may merge is decoded once it is known which of its changes the server left (mergeOnServer).
      return { used, decoded: serverMergeMay(client.dialect, used, rows.length) ? null : await decodeInGaps(used, rows) };
    };
    // A batch the server may merge is counted, not read (light): the rows it leaves are read whole after the merge.
    for await (const batch of inboxBatches(client, pointer, horizon, program.batchSize, withStamp, decodeAhead, first, () =>
      serverMergeMay(client.dialect, ctx, Number.POSITIVE_INFINITY),
    )) {
      const { upTo, stamp: read, prepared } = batch;
      let { rows, light } = batch;
      const range = { from: pointer, to: upTo };
      const size = light ? light.size : rows.length;
      /** The batch's rows, read whole where it was counted (once; `on` the transaction's client inside it). */
      const whole = async (on: DbClient): Promise<InboxRow[]> => {
        if (light) {
          rows = await inboxRowsIn(on, range, light);
          light = null;
        }
        return rows;
      };
      if (watch) {
        watch = false;
        const stamp = read ?? (await ledgerStamp(client));
        if (stamp !== handle.tablesStamp) {
          // `dsync apply` ran here since the tables were read (a column added): a winning insert must know every column.
          ctx = await importContext(config, handle, program.id, true);
          kept = false;
        }
      }
      const early = prepared ? await prepared : null;
      let decoded: Decoded[] | null =
        early?.used === ctx ? early.decoded : serverMergeMay(client.dialect, ctx, size) ? null : decodeAll(ctx, await whole(client));
      if (kept && decoded?.some(unknownName)) {
        // The kept schema may predate a new column or table: read the catalog again before parking anything.
        ctx = await importContext(config, handle, program.id, true);
        kept = false;
        decoded = decodeAll(ctx, await whole(client));
      }
      const [from, target] = [pointer, upTo];
      const doomed = new Map<number, { reason: string; kind: string }>();
      const runBatch = async (planned: boolean): Promise<Tally> => {
        const tally = emptyTally();
        await client.transaction(async (tx) => {
          // The parked set is read under the lock `dsync retry` takes too (see lockParking); the
          // same statement moves the pointer, in the batch's transaction (its summary is saved after the pass).
          // Capture may be silenced with them, the commit made lazy (see applyBatchPlanned; the slow path's commit is as safe lazy).
          // A small batch's fast path reads its rows and entries in the same round trip (readAhead), where the driver pipelines.
          const ahead =
            planned && tx.queryPipelined && size <= READ_AHEAD_AT_MOST && !capturesFirst(ctx)
              ? readAhead(
                  tx.dialect,
                  (decoded ??= decodeAll(ctx, await whole(tx))).filter((d) => d.change !== null) as BatchItem[],
                  ctx.tables,
                  ctx.keepsVersions,
                )
              : null;
          const begun = await beginImportBatch(tx, program.id, { from, to: target }, { lazyCommit: true }, stampInBatch, ahead?.statements);
          if (!begun.moved) throw pointerMovedError(program.id, from);
          if (begun.stamp !== undefined && begun.stamp !== handle.tablesStamp) throw new LedgerMoved();
          if (begun.following) ahead!.take(begun.following);
          if (foreseen) await confirmSending(sending!, foreseen);
          const { parked } = begun;
          if (!planned) {
            decoded ??= decodeAll(ctx, await whole(tx));
            await applyBatchOneByOne(tx, ctx, decoded, parked.blocked, tally, doomed);
            return;
          }
          let silenced = begun.silenced;
          /** A light batch's ids, tables and keys, once read. */
          let keys: InboxRow[] | null = null;
          let taken = new Set<number>();
          if (serverMergeMay(tx.dialect, ctx, size) && !parked.anyPending) {
            if (!silenced) await tx.dialect.silenceCapture(tx, true, { lazyCommit: true });
            silenced = true;
            // Changes of a row with a parked change wait behind it: the planner parks them (parkIfBlocked).
            if (light && parked.blocked.size > 0) keys = await inboxKeysIn(tx, range, light);
            const waits =
              parked.blocked.size === 0
                ? []
                : (keys ?? rows)
                    .filter((r) =>
                      parked.blocked.has(storedKey(rawRowIdentity(r, ctx.tables.get(r.object_table ?? '')?.primaryKey ?? null))),
                    )
                    .map((r) => r.id);
            const tables = light ? light.tables : new Set(rows.map((r) => r.object_table ?? ''));
            taken = await mergeOnServer(tx, ctx, tables, { from, to: target }, waits);
            tally.applied += taken.size;
          }
          let rest: Decoded[];
          if (decoded !== null) rest = taken.size === 0 ? decoded : decoded.filter((d) => !taken.has(d.row.id));
          else {
            // Only the rows the server left are read whole (all of them when it took none: kept for a replay).
            let left: InboxRow[];
            if (taken.size === 0) left = await whole(tx);
            else if (!light) left = rows.filter((r) => !taken.has(r.id));
            else if (taken.size === light.size) left = [];
            else left = await inboxRowsOf(tx, idsOf((keys ??= await inboxKeysIn(tx, range, light)).filter((r) => !taken.has(r.id))));
            rest = decodeAll(ctx, left);
            // As above for a batch decoded early: the kept schema may predate a new column or table (rolled back, read again).
            if (kept && rest.some(unknownName)) throw new LedgerMoved();
          }
          await applyBatchPlanned(tx, ctx, rest, { ...parked, silenced, ahead: begun.following ? ahead! : undefined }, tally);
        });
        return tally;
      };
      let tally: Tally | undefined;
      let planned = true;
      // The log read to here first, so that the batch's capture-first reads only what comes after (a failure is the pass's to report).
      if (ctx.logTables.length > 0) await catchUpLog(client, handle, ctx.logTables, ctx.tables).catch(() => undefined);
      for (let attempt = 1; tally === undefined; attempt++) {
        try {
          tally = await runBatch(planned);
          if (!planned) result.replayed++;
        } catch (error) {
          if (error instanceof SendingMissed) throw error;
          if (error instanceof LedgerMoved) {
            // `dsync apply` ran since the tables were read: read them again and decode the batch with them (as `watch` does).
            ctx = await importContext(config, handle, program.id, true);
            kept = false;
            decoded = decodeAll(ctx, await whole(client));
            stampInBatch = false;
            continue;
          }
          if (error instanceof RuntimeError) throw error;
          if (client.dialect.isTransient(error)) {
            // Rolled back; nothing is parked for it. A lost connection cannot come back within this pass.
            if (attempt >= TRANSIENT_ATTEMPTS || client.lost) {
              throw new TransientError(
                'import_transient',
                `import program ${program.id} on node ${handle.node.name}: the batch after inbox id ${pointer} failed ${attempt} time(s) for a transient reason: ${describeError(error)}`,
                {
                  hint: 'nothing was parked or lost; the next pass (or the daemon) tries again',
                },
                { cause: error },
              );
            }
            await sleep(backoffMs(attempt));
            continue;
          }
          if (!planned && !doomedTransaction(error)) throw error;
          if (planned && kept) {
            // A write failed: the schema may have changed under a long run (a table dropped stops here with the fix).
            ctx = await importContext(config, handle, program.id, true);
            kept = false;
            decoded = decodeAll(ctx, await whole(client));
          }
          planned = false;
        }
      }
      for (const k of Object.keys(tally) as Array<keyof Tally>) result[k] += tally[k];
      pointer = target;
      stampInBatch = false;
      foreseen = null;
      keepPointer(client, program.id, pointer);
    }
    result.pointer = pointer;
    await releaseCaughtUp(client, ctx, program.batchSize, result);
    result.heldBack = await countAbove(client, 'ds_change_inbox', horizon);
    await saveKeptProgramState(client, program.id, pointer, {
      status: 'ok',
      message: pointer === start ? 'nothing to import' : summary(result),
    });
    return result;
  } catch (error) {
    if (!(error instanceof RuntimeError && error.code === 'pointer_moved') && !(error instanceof SendingMissed))
      await saveProgramState(client, program.id, { status: 'error', message: describeError(error) }).catch(() => undefined);
    throw error;
  }
}
