/**
 * Parked changes (DESIGN rule 6): a change that fails goes to ds_change_error with
 * its reason and does not stop the others; later changes of the same row wait behind
 * it (status `waiting`, blocked_by = the inbox id of the change they wait for) until
 * `dsync retry` or `dsync skip` resolves it.
 */
import type { InboxRow } from '../../core/change.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import type { Conflict } from './merge.ts';
import { utcNow } from '../program-state.ts';

/** A row's identity across spellings: table and key values as text, in key order. */
export function rowIdentity(table: string, primaryKey: string[] | null, key: unknown): string {
  let values: unknown[];
  if (key !== null && typeof key === 'object' && !Array.isArray(key)) {
    const map = key as Record<string, unknown>;
    values = (primaryKey ?? Object.keys(map).sort()).map((k) => map[k]);
  } else values = [key];
  return JSON.stringify([table, ...values.map((v) => (v === null || v === undefined ? null : String(v)))]);
}

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
  attempts: number;
  createdAt: string;
}

/** Row identities with an unresolved parked change, mapped to the inbox id they wait for. */
export async function loadBlockedRows(client: DbClient): Promise<Map<string, number>> {
  const { rows } = await client.query<Row>("SELECT object_key, inbox_id FROM ds_change_error WHERE status IN ('open', 'waiting') ORDER BY id");
  return new Map(rows.filter((r) => r.object_key !== null).map((r) => [String(r.object_key), Number(r.inbox_id)]));
}

export async function parkChange(
  client: DbClient,
  programId: number,
  row: InboxRow,
  identity: string,
  status: 'open' | 'waiting',
  reason: string,
  blockedBy: number | null,
): Promise<void> {
  const p = client.dialect.sql.param;
  await client.query(
    `INSERT INTO ds_change_error (program_id, inbox_id, origin_server_id, origin_change_id, object_table, object_key, status, blocked_by, reason, attempts, created_at)
     VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(p).join(', ')})`,
    [programId, row.id, row.updated_by_server_id ?? '', row.origin_change_id ?? 0, row.object_table ?? '', identity, status, blockedBy, reason.slice(0, 4000), 1, utcNow()],
  );
}

export async function recordConflict(client: DbClient, programId: number, row: InboxRow, policy: string, conflict: Conflict, identity: string, incoming: { values: unknown; oldValues: unknown }): Promise<void> {
  const p = client.dialect.sql.param;
  await client.query(
    `INSERT INTO ds_change_conflict (program_id, inbox_id, origin_server_id, origin_change_id, object_table, object_key, object_operation, kind, columns, local_values, incoming_values, incoming_old_values, policy, resolution, created_at)
     VALUES (${Array.from({ length: 15 }, (_, i) => p(i + 1)).join(', ')})`,
    [
      programId, row.id, row.updated_by_server_id ?? '', row.origin_change_id ?? 0, row.object_table ?? '', identity, row.object_operation ?? '',
      conflict.kind, conflict.columns.join(','), conflict.local === null ? null : JSON.stringify(conflict.local),
      JSON.stringify(incoming.values), incoming.oldValues === null ? null : JSON.stringify(incoming.oldValues), policy, conflict.resolution, utcNow(),
    ],
  );
}

function toParked(r: Row): ParkedChange {
  return {
    id: Number(r.id), programId: Number(r.program_id), inboxId: Number(r.inbox_id), originServerId: String(r.origin_server_id),
    originChangeId: Number(r.origin_change_id), table: String(r.object_table), key: (r.object_key as string | null) ?? null,
    status: r.status as ParkedChange['status'], blockedBy: r.blocked_by === null ? null : Number(r.blocked_by),
    reason: String(r.reason), attempts: Number(r.attempts), createdAt: String(r.created_at),
  };
}

const PARKED_COLUMNS = 'id, program_id, inbox_id, origin_server_id, origin_change_id, object_table, object_key, status, blocked_by, reason, attempts, created_at';

export async function listParked(client: DbClient, all = false): Promise<ParkedChange[]> {
  const where = all ? '' : " WHERE status IN ('open', 'waiting')";
  const { rows } = await client.query<Row>(`SELECT ${PARKED_COLUMNS} FROM ds_change_error${where} ORDER BY id`);
  return rows.map(toParked);
}

export async function getParked(client: DbClient, id: number): Promise<ParkedChange | null> {
  const { rows } = await client.query<Row>(`SELECT ${PARKED_COLUMNS} FROM ds_change_error WHERE id = ${client.dialect.sql.param(1)}`, [id]);
  return rows.length ? toParked(rows[0]) : null;
}

/** The changes waiting behind `inboxId`, oldest first. */
export async function waitingBehind(client: DbClient, inboxId: number): Promise<ParkedChange[]> {
  const { rows } = await client.query<Row>(
    `SELECT ${PARKED_COLUMNS} FROM ds_change_error WHERE status = 'waiting' AND blocked_by = ${client.dialect.sql.param(1)} ORDER BY inbox_id`,
    [inboxId],
  );
  return rows.map(toParked);
}

export async function resolveParked(client: DbClient, id: number, status: 'retried' | 'skipped' | 'open' | 'waiting', update: { reason?: string; blockedBy?: number | null; attempt?: boolean } = {}): Promise<void> {
  const p = client.dialect.sql.param;
  const resolved = status === 'retried' || status === 'skipped' ? utcNow() : null;
  await client.query(
    `UPDATE ds_change_error SET status = ${p(1)}, resolved_at = ${p(2)}, reason = COALESCE(${p(3)}, reason), blocked_by = ${p(4)}, attempts = attempts + ${p(5)} WHERE id = ${p(6)}`,
    [status, resolved, update.reason?.slice(0, 4000) ?? null, update.blockedBy ?? null, update.attempt ? 1 : 0, id],
  );
}
