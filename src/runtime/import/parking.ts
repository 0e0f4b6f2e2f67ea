/**
 * Parked changes (guarantee 6, docs/guarantees.md): a change that fails goes to ds_change_error with
 * its reason and does not stop the others; later changes of the same row wait behind
 * it (status `waiting`, blocked_by = the inbox id of the change they wait for) until
 * `dsync retry` or `dsync skip` resolves it.
 */
import { boundedServerId, boundedText, clipText } from '../../core/bounded-text.ts';
import type { InboxRow } from '../../core/change.ts';
import type { DbClient, QueryResult, Row } from '../../core/dialect.ts';
import { describeError } from '../../core/errors.ts';
import type { Conflict } from './merge.ts';
import { utcNow } from '../program-state.ts';
import { LEDGER_STAMP_COLUMNS, stampOf } from './inbox-batches.ts';

/** A row's identity across spellings: table and key values as text, in key order. */
export function rowIdentity(table: string, primaryKey: string[] | null, key: unknown): string {
  // The JSON array [table, ...values as text], written out without building it (once per change).
  let out = JSON.stringify(table);
  if (key !== null && typeof key === 'object' && !Array.isArray(key)) {
    const map = key as Record<string, unknown>;
    for (const k of primaryKey ?? Object.keys(map).sort()) out += `,${identityValue(map[k])}`;
  } else out += `,${identityValue(key)}`;
  return `[${out}]`;
}

const identityValue = (v: unknown) => (v === null || v === undefined ? 'null' : JSON.stringify(String(v)));

/** The identity of a raw inbox row that could not be decoded, as best it can be read. */
export function rawRowIdentity(row: InboxRow, primaryKey: string[] | null): string {
  let key: unknown = row.object_id;
  try {
    key = JSON.parse(String(row.object_id));
  } catch {
    // seed-format rows carry the plain value
  }
  return rowIdentity(row.object_table ?? '', primaryKey, key);
}

/** Longest object_key stored: the unresolved index must hold it on every brand (PostgreSQL's btree: ~2700 bytes). */
export const OBJECT_KEY_MAX = 256;
/** Longest reason stored; longer ones are cut with a marker. */
export const REASON_MAX = 4000;

/** The row identity as ds_change_error and ds_change_conflict store it: bounded, the same for the same row. */
export const storedKey = (identity: string): string => boundedText(identity, OBJECT_KEY_MAX);

/** The `kind` of a parked change: the error code of its failure. */
export type ParkKind = string;

export interface ParkedChange {
  id: number;
  programId: number;
  inboxId: number;
  originServerId: string;
  originChangeId: number;
  table: string;
  key: string | null;
  status: 'open' | 'waiting' | 'retried' | 'skipped';
  blockedBy: number | null;
  reason: string;
  kind: string | null;
  attempts: number;
  createdAt: string;
}

/**
 * Stored row identities with an unresolved parked change, mapped to the inbox id of the
 * head of their chain (the `open` change every later one waits behind). Read inside the
 * batch transaction, after `lockParking`, so a concurrent retry cannot release a chain
 * the batch is adding to. The same statement says whether any update waits in
 * ds_change_pending (`anyPending`): most batches have none and skip looking for them
 * (pendingInboxIds), without a round trip of their own.
 */
export async function loadBlockedRows(client: DbClient): Promise<ParkedSet> {
  return parkedSet((await client.query<Row>(blockedRowsSql(false))).rows);
}

export interface ParkedSet {
  blocked: Map<string, number>;
  anyPending: boolean;
}

// The one-row derived table makes the statement return a row (the pending look) when nothing is parked.
// `withStamp`: every row carries the ledger's stamp too (LEDGER_STAMP_COLUMNS; see beginImportBatch).
const blockedRowsSql = (withStamp: boolean) =>
  `SELECT e.object_key, e.inbox_id, e.status, e.blocked_by, (SELECT min(inbox_id) FROM ds_change_pending) AS pending_min${withStamp ? `, ${LEDGER_STAMP_COLUMNS}` : ''}
     FROM (SELECT 1 AS one) d LEFT JOIN ds_change_error e ON e.status IN ('open', 'waiting') ORDER BY e.id`;

function parkedSet(rows: Row[]): ParkedSet {
  const blocked = new Map<string, number>();
  const anyPending = rows.length > 0 && rows[0].pending_min !== null && rows[0].pending_min !== undefined;
  for (const r of rows) {
    if (r.object_key === null || r.object_key === undefined) continue;
    const head = r.status === 'open' || r.blocked_by === null ? Number(r.inbox_id) : Number(r.blocked_by);
    if (!blocked.has(String(r.object_key)) || r.status === 'open') blocked.set(String(r.object_key), head);
  }
  return { blocked, anyPending };
}

/**
 * Serializes the import's batches and `dsync retry`/`skip` of one import program: both
 * take the write lock of its ds_program_parameter row first (a no-op update: a row lock on
 * the server brands, the write lock on SQLite), so neither reads the parked set while the
 * other is changing it.
 */
export async function lockParking(tx: DbClient, programId: number, move?: { from: number; to: number }): Promise<boolean> {
  const p = tx.dialect.sql.param;
  if (move === undefined) {
    await tx.query(`UPDATE ds_program_parameter SET last_pointer = last_pointer WHERE id = ${p(1)}`, [programId]);
    return true;
  }
  // Where BEGIN can ride with it, the values are literals.
  const literal = tx.dialect.sql.beginRidesFirstStatement === true;
  const { rowCount } = await tx.query(movePointerSql(tx, programId, move, literal), literal ? [] : movePointerValues(programId, move));
  return rowCount > 0;
}

/**
 * An import batch moves its pointer with its parking lock (one round trip less before its commit),
 * from where the batch began only: 0 rows means another import moved it first (the batch is given up).
 * `literal`: the values spelled as literals (numbers, 'ok' and a UTC timestamp: nothing to escape but quotes).
 */
function movePointerSql(tx: DbClient, programId: number, move: { from: number; to: number }, literal: boolean): string {
  const values = movePointerValues(programId, move);
  const v = literal ? (i: number) => tx.dialect.sql.literal(values[i - 1]) : tx.dialect.sql.param;
  return `UPDATE ds_program_parameter SET last_pointer = ${v(1)}, status = ${v(2)}, last_run_at = ${v(3)} WHERE id = ${v(4)} AND last_pointer = ${v(5)}`;
}

const movePointerValues = (programId: number, move: { from: number; to: number }) => [move.to, 'ok', utcNow(), programId, move.from];

/**
 * An import batch's first statements: the parking lock that moves the pointer (lockParking),
 * then the parked set read under it (loadBlockedRows, a statement of its own: its snapshot
 * is taken once the lock is held). Where the driver sends several statements in one round trip
 * (DbClient.queryMany) and the brand silences capture in one statement without parameters
 * (Dialect.silenceCaptureStatement), one round trip that also silences capture (with
 * `silence`'s options) for the whole transaction first: `silenced` then says the batch need
 * not silence it again. Nothing the batch writes before its rows is captured (parked changes
 * go to dsync's own tables). `moved` false: another import moved the pointer first.
 * `withStamp`: the parked set's read brings the ledger's stamp along (`stamp`; see ledgerStamp in
 * import.ts), for a batch whose rows were not read with it (rows handed over by a transport).
 * `following`: statements with parameters that follow in the same round trip where the driver pipelines
 * (DbClient.queryPipelined; the batch's reads, apply-batch.ts readAhead): their results are `following`,
 * absent where they were not sent (the caller runs them itself).
 */
export async function beginImportBatch(
  tx: DbClient,
  programId: number,
  move: { from: number; to: number },
  silence: { lazyCommit?: boolean },
  withStamp = false,
  following: ReadonlyArray<{ sql: string; params: readonly unknown[] }> = [],
): Promise<{ moved: boolean; parked: ParkedSet; silenced: boolean; stamp?: string; following?: QueryResult[] }> {
  const silenceSql = tx.dialect.silenceCaptureStatement?.(silence);
  const stamp = (rows: Row[]) => (withStamp ? { stamp: stampOf(rows[0]) } : {});
  if (following.length > 0 && tx.queryPipelined && silenceSql !== undefined) {
    // With bound values here: each text is the same every time, planned once per connection (the driver names it).
    const first = [
      { sql: silenceSql, params: [] },
      { sql: movePointerSql(tx, programId, move, false), params: movePointerValues(programId, move) },
      { sql: blockedRowsSql(withStamp), params: [] },
    ];
    const results = await tx.queryPipelined([...first, ...following]);
    const [, pointer, parked] = results;
    return {
      moved: pointer.rowCount > 0,
      parked: parkedSet(parked.rows),
      silenced: true,
      ...stamp(parked.rows),
      following: results.slice(first.length),
    };
  }
  if (!tx.queryMany || silenceSql === undefined) {
    const moved = await lockParking(tx, programId, move);
    if (!moved) return { moved, parked: { blocked: new Map(), anyPending: false }, silenced: false };
    const { rows } = await tx.query<Row>(blockedRowsSql(withStamp));
    return { moved, parked: parkedSet(rows), silenced: false, ...stamp(rows) };
  }
  const [, pointer, parked] = await tx.queryMany([silenceSql, movePointerSql(tx, programId, move, true), blockedRowsSql(withStamp)]);
  return { moved: pointer.rowCount > 0, parked: parkedSet(parked.rows), silenced: true, ...stamp(parked.rows) };
}

/**
 * Parks a change. Parking never stops the stream: the row is written in its own savepoint
 * with a bounded key and reason; if even that fails (for a reason that is not transient), a
 * minimal row (inbox id, program, kind `unparkable`) is written instead.
 */
export async function parkChange(
  client: DbClient,
  programId: number,
  row: InboxRow,
  identity: string,
  status: 'open' | 'waiting',
  reason: string,
  blockedBy: number | null,
  kind: ParkKind,
): Promise<void> {
  const p = client.dialect.sql.param;
  const insert = (tx: DbClient, values: unknown[]) =>
    tx.query(
      `INSERT INTO ds_change_error (program_id, inbox_id, origin_server_id, origin_change_id, object_table, object_key, status, blocked_by, reason, attempts, created_at, kind)
       VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(p).join(', ')})`,
      values,
    );
  try {
    await client.transaction((sp) =>
      insert(sp, [
        programId,
        row.id,
        boundedServerId(row.updated_by_server_id ?? ''),
        row.origin_change_id ?? 0,
        clipText(row.object_table ?? '', 300),
        storedKey(identity),
        status,
        blockedBy,
        clipText(reason, REASON_MAX),
        1,
        utcNow(),
        boundedText(kind, 64),
      ]),
    );
  } catch (error) {
    if (client.dialect.isTransient(error)) throw error;
    const why = `unparkable: the change could not be recorded with its details (${clipText(describeError(error), 500)}); its reason was: ${clipText(reason, 1000)}`;
    await client.transaction((sp) => insert(sp, [programId, row.id, '', 0, '', null, status, blockedBy, why, 1, utcNow(), 'unparkable']));
  }
}

export async function recordConflict(
  client: DbClient,
  programId: number,
  row: InboxRow,
  policy: string,
  conflict: Conflict,
  identity: string,
  incoming: { values: unknown; oldValues: unknown },
): Promise<void> {
  const p = client.dialect.sql.param;
  await client.query(
    `INSERT INTO ds_change_conflict (program_id, inbox_id, origin_server_id, origin_change_id, object_table, object_key, object_operation, kind, columns, local_values, incoming_values, incoming_old_values, policy, resolution, created_at)
     VALUES (${Array.from({ length: 15 }, (_, i) => p(i + 1)).join(', ')})`,
    [
      programId,
      row.id,
      boundedServerId(row.updated_by_server_id ?? ''),
      row.origin_change_id ?? 0,
      row.object_table ?? '',
      storedKey(identity),
      row.object_operation ?? '',
      conflict.kind,
      conflict.columns.join(','),
      conflict.local === null ? null : JSON.stringify(conflict.local),
      JSON.stringify(incoming.values),
      incoming.oldValues === null ? null : JSON.stringify(incoming.oldValues),
      policy,
      conflict.resolution,
      utcNow(),
    ],
  );
}

function toParked(r: Row): ParkedChange {
  return {
    id: Number(r.id),
    programId: Number(r.program_id),
    inboxId: Number(r.inbox_id),
    originServerId: String(r.origin_server_id),
    originChangeId: Number(r.origin_change_id),
    table: String(r.object_table),
    key: (r.object_key as string | null) ?? null,
    status: r.status as ParkedChange['status'],
    blockedBy: r.blocked_by === null ? null : Number(r.blocked_by),
    reason: String(r.reason),
    kind: (r.kind as string | null) ?? null,
    attempts: Number(r.attempts),
    createdAt: String(r.created_at),
  };
}

const PARKED_COLUMNS =
  'id, program_id, inbox_id, origin_server_id, origin_change_id, object_table, object_key, status, blocked_by, reason, kind, attempts, created_at';

export async function listParked(client: DbClient, all = false): Promise<ParkedChange[]> {
  const where = all ? '' : " WHERE status IN ('open', 'waiting')";
  const { rows } = await client.query<Row>(`SELECT ${PARKED_COLUMNS} FROM ds_change_error${where} ORDER BY id`);
  return rows.map(toParked);
}

export async function getParked(client: DbClient, id: number): Promise<ParkedChange | null> {
  const { rows } = await client.query<Row>(`SELECT ${PARKED_COLUMNS} FROM ds_change_error WHERE id = ${client.dialect.sql.param(1)}`, [id]);
  return rows.length ? toParked(rows[0]) : null;
}

/**
 * The changes waiting behind the head `inboxId`, in inbox order. Chains written by older
 * versions could point at a waiting change rather than the head: those are followed too.
 */
export async function waitingBehind(client: DbClient, inboxId: number): Promise<ParkedChange[]> {
  const { rows } = await client.query<Row>(`SELECT ${PARKED_COLUMNS} FROM ds_change_error WHERE status = 'waiting' ORDER BY inbox_id`);
  const all = rows.map(toParked);
  const chain = new Set([inboxId]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const w of all) {
      if (w.blockedBy !== null && chain.has(w.blockedBy) && !chain.has(w.inboxId)) {
        chain.add(w.inboxId);
        grew = true;
      }
    }
  }
  return all.filter((w) => w.inboxId !== inboxId && chain.has(w.inboxId));
}

/** The head (`open` change) a waiting change waits behind, following older chains to the end. */
export async function headOf(client: DbClient, parked: ParkedChange): Promise<ParkedChange | null> {
  const p = client.dialect.sql.param;
  let current = parked;
  for (let hops = 0; current.status === 'waiting' && current.blockedBy !== null && hops < 1000; hops++) {
    const { rows } = await client.query<Row>(
      `SELECT ${PARKED_COLUMNS} FROM ds_change_error WHERE inbox_id = ${p(1)} AND status IN ('open', 'waiting') ORDER BY id DESC`,
      [current.blockedBy],
    );
    if (rows.length === 0) return null;
    current = toParked(rows[0]);
  }
  return current.status === 'open' ? current : null;
}

export async function resolveParked(
  client: DbClient,
  id: number,
  status: 'retried' | 'skipped' | 'open' | 'waiting',
  update: { reason?: string; kind?: string; blockedBy?: number | null; attempt?: boolean } = {},
): Promise<void> {
  const p = client.dialect.sql.param;
  const resolved = status === 'retried' || status === 'skipped' ? utcNow() : null;
  await client.query(
    `UPDATE ds_change_error SET status = ${p(1)}, resolved_at = ${p(2)}, reason = COALESCE(${p(3)}, reason), blocked_by = ${p(4)}, attempts = attempts + ${p(5)}, kind = COALESCE(${p(6)}, kind) WHERE id = ${p(7)}`,
    [
      status,
      resolved,
      update.reason === undefined ? null : clipText(update.reason, REASON_MAX),
      update.blockedBy ?? null,
      update.attempt ? 1 : 0,
      update.kind === undefined ? null : boundedText(update.kind, 64),
      id,
    ],
  );
}
