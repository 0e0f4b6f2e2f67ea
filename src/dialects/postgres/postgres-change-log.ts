/**
 * PostgreSQL's side of capture mode log (docs/capture-modes.md#log): the node's logical
 * replication slot (plugin pgoutput) and the mark the import leaves in the log so that the
 * capture pass does not capture the import's own writes again (guarantee 4).
 * https://www.postgresql.org/docs/15/logicaldecoding-explanation.html
 */
import { createHash } from 'node:crypto';
import type { LogSlotState, LogTransaction } from '../../core/change-log.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { describeError, RuntimeError } from '../../core/errors.ts';
import { postgresTextParser } from './postgres-driver.ts';
import { decodePgoutput, formatLsn, parseLsn, pgTimeToUnixMicros, type RelationColumn, type TupleValue } from './postgres-pgoutput.ts';

/** The publication `log_publication.sql` creates. */
export const LOG_PUBLICATION = 'ds_log_capture';

/** The prefix of the logical decoding message that marks a transaction written by dsync itself (import, load). */
export const IMPORT_MESSAGE_PREFIX = 'dsync.import';

/**
 * The node's slot: `dsync_<node>_<database>`, lower case, other characters as `_` (slot
 * names are cluster-wide and allow [a-z0-9_] only); over 63 characters, shortened with a hash.
 */
export function logSlotName(nodeName: string, database: string): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const name = `dsync_${clean(nodeName)}_${clean(database)}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(`${nodeName}\u0000${database}`).digest('hex').slice(0, 8);
  return `${name.slice(0, 54)}_${hash}`;
}

export async function nodeSlotName(client: DbClient, nodeName: string): Promise<string> {
  const { rows } = await client.query<Row>('SELECT current_database() AS db');
  return logSlotName(nodeName, String(rows[0].db));
}

/**
 * Creates the node's slot unless it exists. Must run outside a transaction that wrote
 * (PostgreSQL refuses to create a logical slot there): `dsync apply` calls it before its
 * own transaction, so the slot holds every change from before the triggers go.
 */
export async function ensureLogSlot(client: DbClient, nodeName: string): Promise<string> {
  const slot = await nodeSlotName(client, nodeName);
  const found = await client.query<Row>('SELECT plugin, database FROM pg_replication_slots WHERE slot_name = $1', [slot]);
  if (found.rows.length > 0) {
    if (found.rows[0].plugin !== 'pgoutput') {
      throw new RuntimeError(
        'log_slot_foreign',
        `node ${nodeName}: replication slot ${slot} exists with plugin ${String(found.rows[0].plugin)}`,
        {
          hint: `drop it (SELECT pg_drop_replication_slot('${slot}')) if nothing else uses it, then run dsync apply again`,
        },
      );
    }
    return slot;
  }
  try {
    // The publication first, committed: pgoutput looks it up as of each change it decodes, and
    // fails on changes from before it existed (log_publication.sql then sets its tables).
    await client.query(`DO $dsync$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '${LOG_PUBLICATION}') THEN CREATE PUBLICATION ${LOG_PUBLICATION}; END IF;
    END $dsync$`);
    await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const hint =
      code === '55000'
        ? 'set wal_level = logical (and max_replication_slots >= 1) in postgresql.conf and restart the server; see docs/dialects/postgres.md'
        : code === '42501'
          ? `the node's user needs the REPLICATION attribute (ALTER ROLE … REPLICATION) or superuser to create the slot`
          : 'see docs/capture-modes.md#log';
    throw new RuntimeError(
      'log_slot_failed',
      `node ${nodeName}: cannot create replication slot ${slot} for capture mode log: ${describeError(error)}`,
      {
        hint,
      },
      { cause: error },
    );
  }
  return slot;
}

export async function readSlotState(client: DbClient, nodeName: string): Promise<LogSlotState | null> {
  const slot = await nodeSlotName(client, nodeName);
  const { rows } = await client.query<Row>(
    `SELECT confirmed_flush_lsn::text AS confirmed, pg_current_wal_lsn()::text AS current, active,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS retained
     FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  if (rows.length === 0) return null;
  const r = rows[0];
  return {
    slot,
    confirmedLsn: r.confirmed === null ? null : String(r.confirmed),
    currentLsn: String(r.current),
    retainedBytes: r.retained === null ? null : Number(r.retained),
    active: r.active === true,
  };
}

/** The WAL position now: a pass reads up to here and stops. */
export async function currentLsn(client: DbClient): Promise<bigint> {
  const { rows } = await client.query<Row>('SELECT pg_current_wal_lsn()::text AS lsn');
  return parseLsn(String(rows[0].lsn));
}

interface Relation {
  namespace: string;
  name: string;
  columns: RelationColumn[];
}

/**
 * The committed transactions after the slot's confirmed position, up to `upto`, without
 * consuming them (peek: the slot moves only when `confirmLog` says so, after the outbox
 * commit). About `maxMessages` messages at most; PostgreSQL ends a batch on a transaction
 * boundary, and only whole transactions are returned. Runs in this session, so values come
 * out under its DateStyle and TimeZone, like a SELECT's.
 * https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-REPLICATION
 */
export async function readLog(client: DbClient, slot: string, upto: bigint, maxMessages: number | null): Promise<LogTransaction[]> {
  const parse = await postgresTextParser();
  const { rows } = await client.query<Row>(
    `SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3, 'proto_version', '1',
       'publication_names', '${LOG_PUBLICATION}', 'messages', 'true')`,
    [slot, formatLsn(upto), maxMessages],
  );
  const relations = new Map<number, Relation>();
  const done: LogTransaction[] = [];
  let open: LogTransaction | null = null;
  const rowOf = (relation: Relation, tuple: TupleValue[], fallback: Record<string, unknown> | null) => {
    const row: Record<string, unknown> = {};
    relation.columns.forEach((column, i) => {
      const value = tuple[i];
      if (value === null || value === undefined) row[column.name] = null;
      else if (typeof value === 'object') row[column.name] = fallback ? fallback[column.name] : undefined;
      // char(n) comes out padded; the triggers' text cast and a dsync SELECT drop the padding.
      else row[column.name] = column.typeOid === BPCHAR_OID ? value.replace(/ +$/, '') : parse(column.typeOid, value);
    });
    return row;
  };
  for (const { data } of rows) {
    const message = decodePgoutput(data as Buffer);
    switch (message.tag) {
      case 'begin':
        open = { commitLsn: 0n, endLsn: 0n, commitMicros: pgTimeToUnixMicros(message.commitTime), own: false, changes: [], truncated: [] };
        break;
      case 'commit':
        if (open) done.push({ ...open, commitLsn: message.commitLsn, endLsn: message.endLsn });
        open = null;
        break;
      case 'origin':
        if (open) open.own = true;
        break;
      case 'message':
        if (open && message.transactional && message.prefix === IMPORT_MESSAGE_PREFIX) open.own = true;
        break;
      case 'relation':
        relations.set(message.relationId, { namespace: message.namespace, name: message.name, columns: message.columns });
        break;
      case 'insert':
      case 'update':
      case 'delete': {
        const relation = relations.get(message.relationId);
        if (!open || !relation)
          throw new RuntimeError(
            'log_decode',
            `pgoutput: a row change outside a transaction or of an unknown relation ${message.relationId}`,
          );
        const oldTuple = message.tag === 'insert' || message.oldIsKey ? null : message.oldTuple;
        const oldRow = oldTuple ? rowOf(relation, oldTuple, null) : null;
        const newRow = message.tag === 'delete' ? null : rowOf(relation, message.newTuple, oldRow);
        open.changes.push({
          schema: relation.namespace,
          table: relation.name,
          operation: message.tag === 'insert' ? 'I' : message.tag === 'update' ? 'U' : 'D',
          newRow,
          oldRow,
        });
        break;
      }
      case 'truncate':
        if (open) for (const id of message.relationIds) open.truncated.push(relations.get(id)?.name ?? String(id));
        break;
      default:
        break;
    }
  }
  return done;
}

/** Moves the slot's confirmed position to `lsn`: the server may recycle the WAL before it. */
export async function confirmLog(client: DbClient, slot: string, lsn: bigint): Promise<void> {
  await client.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [slot, formatLsn(lsn)]);
}

const BPCHAR_OID = 1042;

// One pass per slot at a time (the daemon and a `dsync capture` may overlap): a session lock, gone with the session.
export async function tryLockPass(client: DbClient, slot: string): Promise<boolean> {
  const { rows } = await client.query<Row>("SELECT pg_try_advisory_lock(hashtext('dsync.log_capture'), hashtext($1)) AS ok", [slot]);
  return rows[0].ok === true;
}

export async function unlockPass(client: DbClient, slot: string): Promise<void> {
  await client.query("SELECT pg_advisory_unlock(hashtext('dsync.log_capture'), hashtext($1))", [slot]);
}

/** The pass's lock, held to the end of `tx`; a transaction-level advisory lock conflicts with the session-level one. */
export async function lockPassInTransaction(tx: DbClient, slot: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('dsync.log_capture'), hashtext($1))", [slot]);
}

export async function readWritten(tx: DbClient, slot: string): Promise<bigint> {
  const { rows } = await tx.query<Row>('SELECT written_lsn FROM ds_log_capture_state WHERE slot_name = $1 FOR UPDATE', [slot]);
  return rows.length > 0 ? parseLsn(String(rows[0].written_lsn)) : -1n;
}

export async function recordWritten(tx: DbClient, slot: string, lsn: bigint, at: string): Promise<void> {
  await tx.query(
    `INSERT INTO ds_log_capture_state (slot_name, written_lsn, updated_at) VALUES ($1, $2, $3)
     ON CONFLICT (slot_name) DO UPDATE SET written_lsn = EXCLUDED.written_lsn, updated_at = EXCLUDED.updated_at`,
    [slot, formatLsn(lsn), at],
  );
}
