/**
 * The PostgreSQL dialect: the pieces of this folder behind the Dialect interface,
 * plus the two runtime duties that need the engine: the safe horizon and the origin flag.
 */
import { toCanonical } from '../../core/canonical.ts';
import type { Dialect, DbClient, OriginFlag } from '../../core/dialect.ts';
import { splitSqlScript } from '../../core/sql-script.ts';
import type { ValueMap } from '../../core/change.ts';
import type { TableSchema } from '../../core/schema.ts';
import { postgresBulk } from './postgres-bulk.ts';
import { connectPostgres } from './postgres-driver.ts';
import { introspectPostgres, postgresTableExists } from './postgres-introspect.ts';
import { postgresBodyTag, postgresChanged, postgresJsonObject, postgresJsonValue, postgresKeyJson, postgresParam, postgresSql } from './postgres-sql.ts';

/**
 * Safe horizon by snapshot fence (DESIGN rule 1, pgq's "tick" idea): ids are taken
 * at insert, so a row with a low id can commit after rows with higher ids. We note
 * the sequence's last value L, then the next transaction id X (xmax). Every id <= L
 * was taken by a transaction whose xid is < X (the outbox is written after the
 * transaction got its xid: capture triggers run after the row write, and a BEFORE
 * INSERT trigger on the outbox takes the xid before the id for hand-written rows).
 * Once the oldest running xid (xmin) is >= X, every id <= L is final. Fences not yet
 * passed are kept in ds_change_horizon and used on a later read.
 * https://www.postgresql.org/docs/current/functions-info.html#FUNCTIONS-PG-SNAPSHOT
 */
async function readSafeHorizon(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number> {
  const sequence = `${table}_id_seq`;
  const last = await client.query<{ last_id: string }>(
    `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS last_id FROM ${sequence}`,
  );
  const lastId = Number(last.rows[0].last_id);
  // A separate statement: its snapshot is taken after the sequence was read.
  const snap = await client.query<{ xmin: string; xmax: string }>(
    'SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax FROM pg_current_snapshot() AS s',
  );
  const { xmin, xmax } = snap.rows[0];
  if (BigInt(xmin) >= BigInt(xmax)) {
    await client.query('DELETE FROM ds_change_horizon WHERE table_name = $1', [table]);
    return lastId;
  }
  await client.query('INSERT INTO ds_change_horizon (table_name, last_id, fence) VALUES ($1, $2, $3::xid8)', [table, lastId, xmax]);
  const safe = await client.query<{ safe: string | null }>(
    'SELECT max(last_id) AS safe FROM ds_change_horizon WHERE table_name = $1 AND fence <= $2::xid8',
    [table, xmin],
  );
  const horizon = Number(safe.rows[0].safe ?? 0);
  if (horizon > 0) {
    await client.query('DELETE FROM ds_change_horizon WHERE table_name = $1 AND fence <= $2::xid8 AND last_id < $3', [table, xmin, horizon]);
  }
  return horizon;
}

/** Transaction-local settings the capture triggers read (set_config(..., true) ends with the transaction). */
async function setOrigin(tx: DbClient, origin: OriginFlag | null): Promise<void> {
  await tx.query(
    `SELECT set_config('dsync.origin_server', $1, true), set_config('dsync.origin_change_id', $2, true),
            set_config('dsync.origin_user', $3, true), set_config('dsync.origin_time', $4, true)`,
    origin
      ? [origin.serverId, String(origin.changeId), origin.userId ?? '', origin.updatedAt ?? '']
      : ['', '', '', ''],
  );
}

/** The capture functions return early while `dsync.capture` is 'off' in the transaction. */
async function silenceCapture(tx: DbClient, silent: boolean): Promise<void> {
  await tx.query("SELECT set_config('dsync.capture', $1, true)", [silent ? 'off' : 'on']);
}

/**
 * object_id as the triggers write it: to_jsonb(value)::text for one key column; for a
 * composite key, jsonb's text form (keys ordered by length, then bytes; ", " and ": ").
 */
function keyJson(table: TableSchema, key: ValueMap): string {
  if (table.primaryKey.length === 1) return JSON.stringify(key[table.primaryKey[0]]);
  const names = [...table.primaryKey].sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${names.map((k) => `${JSON.stringify(k)}: ${JSON.stringify(key[k])}`).join(', ')}}`;
}

export const postgresDialect: Dialect = {
  name: 'postgres',
  capabilities: { transactionalDdl: true, concurrentWriters: true, maxParameters: 65535 },
  sql: postgresSql,
  connect: (url, nodeName) => connectPostgres(postgresDialect, url, nodeName),
  introspect: introspectPostgres,
  tableExists: postgresTableExists,
  readSafeHorizon,
  setOrigin,
  silenceCapture,
  keyJson,
  bulk: postgresBulk,
  toParam: postgresParam,
  fromDriver: toCanonical,
  splitScript: (script) => splitSqlScript(script, { dollarQuotes: true }),
  templateHelpers: {
    jsonValue: postgresJsonValue,
    jsonObject: postgresJsonObject,
    keyJson: postgresKeyJson,
    changed: postgresChanged,
    bodyTag: postgresBodyTag,
  },
  formatterLanguage: 'postgresql',
};
