/**
 * The PostgreSQL dialect: the pieces of this folder behind the Dialect interface,
 * plus the two runtime duties that need the engine: the safe horizon and the origin flag.
 */
import { postgresServerMerge } from './postgres-server-merge.ts';
import { isPostgresKeyCollision, isPostgresTransient } from './postgres-errors.ts';
import { type CanonicalValue, toCanonical } from '../../core/canonical.ts';
import type { Dialect, DbClient, OriginFlag, Row } from '../../core/dialect.ts';
import { splitSqlScript } from '../../core/sql-script.ts';
import type { ColumnSchema } from '../../core/schema.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import { postgresBulk } from './postgres-bulk.ts';
import {
  confirmLog,
  currentLsn,
  ensureLogSlot,
  IMPORT_MESSAGE_PREFIX,
  readLog,
  readSlotState,
  readWritten,
  recordWritten,
  lockPassInTransaction,
  tryLockPass,
  unlockPass,
} from './postgres-change-log.ts';
import { formatLsn, parseLsn } from './postgres-pgoutput.ts';
import { connectPostgres, listenPostgres } from './postgres-driver.ts';
import { introspectPostgres, postgresTableExists } from './postgres-introspect.ts';
import {
  postgresAnyChanged,
  postgresBodyTag,
  postgresChanged,
  postgresChangedNames,
  postgresChangedObject,
  postgresChangedStamps,
  postgresKeyChanged,
  postgresJsonObject,
  postgresJsonValue,
  postgresKeyJson,
  postgresParam,
  postgresSql,
} from './postgres-sql.ts';
import { postgresKeyOrder } from './postgres-key-order.ts';
import { checkedLastId, checkIdCounters, moveIdCounterSql, readIdCounter, sequenceOf, sequenceReadSql } from './postgres-sequence.ts';

/**
 * Safe horizon by writer fence (guarantee 1, docs/guarantees.md). Ids are taken at insert, so a row with
 * a low id can commit after rows with higher ids. Every writer of the table holds a
 * RowExclusiveLock on it from before it takes an id (the lock is taken when its
 * INSERT starts, the id while it runs) until its transaction ends, and pg_locks shows
 * every holder to any role. So: read the sequence's last value L, then the writers
 * holding the lock. If there are none, every id <= L is final. Otherwise remember
 * (L, those writers) in ds_change_horizon: L becomes safe once none of them holds
 * the lock any more. Unlike a snapshot xmin, this waits only for writers of this
 * table, never for busy transactions elsewhere in the cluster.
 * https://www.postgresql.org/docs/current/view-pg-locks.html
 */
const tableWriters = (tableParam: string) => `
  SELECT coalesce(array_agg(DISTINCT virtualtransaction ORDER BY virtualtransaction), '{}') AS writers
  FROM pg_locks
  WHERE locktype = 'relation' AND relation = ${tableParam}::regclass
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
    AND pid IS DISTINCT FROM pg_backend_pid()`;

/**
 * The horizon's one statement. The sequence is read first, and the writers only after it,
 * because their subquery is correlated to the sequence's row (a SubPlan runs once that row
 * exists; an uncorrelated one could run first, and a writer that took its lock and id in
 * between would be missed). With no writer, every fence is passed: the same statement drops
 * them (a data-modifying WITH runs whether read or not). `extra`: more of the last SELECT's list.
 */
const horizonSql = (table: IdTable, args: { sequence: string; relation: string; table: string }, extra = '') =>
  `WITH s AS MATERIALIZED (${sequenceReadSql(table, args.sequence)}),
     w AS MATERIALIZED (SELECT s.last_id, s.cache, (${tableWriters(args.relation)} AND s.last_id IS NOT NULL) AS writers FROM s),
     passed AS (DELETE FROM ds_change_horizon WHERE table_name = ${args.table} AND (SELECT cardinality(writers) FROM w) = 0)
     SELECT last_id, cache, writers${extra} FROM w`;

type HorizonRow = { last_id: string; cache: string; writers: string[] };
type IdTable = 'ds_change_outbox' | 'ds_change_inbox';

async function readSafeHorizon(client: DbClient, table: IdTable): Promise<number> {
  const { rows } = await client.query<HorizonRow>(horizonSql(table, { sequence: '$1', relation: '$2', table: '$3' }), [
    sequenceOf(table),
    table,
    table,
  ]);
  return horizonFrom(client, table, rows[0]);
}

/** The setting through which the horizon's statement hands its value to the batch read after it (readSafeHorizonWithBatch). */
const HORIZON_SETTING = 'dsync.horizon';

/**
 * readSafeHorizon and the first batch in one pipeline of two statements (Dialect). The
 * horizon's statement leaves the value the read may go up to in a transaction-local setting
 * (before their one Sync the two form one implicit transaction:
 * https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-PIPELINING), and the
 * read, a statement of its own, takes its snapshot after the horizon's statement has ended (READ
 * COMMITTED takes one per statement:
 * https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED), as a
 * second round trip's would: every id at or below the horizon whose writer held no lock when
 * pg_locks was read committed before it. Where a writer still runs (the fences decide) or the
 * session does not read committed (one snapshot for both), the read gets an empty range and
 * `rows` is null.
 */
async function readSafeHorizonWithBatch(
  client: DbClient,
  table: IdTable,
  select: (after: string, upTo: string) => string,
  pointer: number,
  batchSize: number,
): Promise<{ horizon: number; rows: Row[] | null }> {
  if (!client.queryPipelined || !Number.isSafeInteger(pointer) || !Number.isSafeInteger(pointer + batchSize)) {
    return { horizon: await readSafeHorizon(client, table), rows: null };
  }
  const readCommitted = "current_setting('transaction_isolation') = 'read committed'";
  const usable = `cardinality(writers) = 0 AND cache <= 1 AND ${readCommitted}`;
  // Bound values, so that both texts stay the same from pass to pass and are planned once per connection.
  const [horizon, batch] = await client.queryPipelined([
    {
      sql: horizonSql(
        table,
        { sequence: postgresSql.literal(sequenceOf(table)), relation: postgresSql.literal(table), table: postgresSql.literal(table) },
        `, ${readCommitted} AS read_committed,
        set_config('${HORIZON_SETTING}', (CASE WHEN ${usable} THEN last_id ELSE $1::bigint END)::text, true)`,
      ),
      params: [pointer],
    },
    {
      sql: select('$1::bigint', `least(current_setting('${HORIZON_SETTING}')::bigint, $2::bigint)`),
      params: [pointer, pointer + batchSize],
    },
  ]);
  const row = horizon.rows[0] as HorizonRow & { read_committed: boolean };
  const value = await horizonFrom(client, table, row);
  return { horizon: value, rows: row.writers.length === 0 && row.read_committed ? batch.rows : null };
}

/** The horizon from its statement's row: its last id when no writer runs, else what the fences say. */
async function horizonFrom(client: DbClient, table: IdTable, row: HorizonRow): Promise<number> {
  const lastId = checkedLastId(table, row);
  const running = new Set(row.writers);
  if (running.size === 0) return lastId;
  // A fence above the counter was taken before the counter went back (TRUNCATE … RESTART
  // IDENTITY, a restored backup): it says nothing about the ids handed out since.
  await client.query('DELETE FROM ds_change_horizon WHERE table_name = $1 AND last_id > $2', [table, lastId]);
  await client.query('INSERT INTO ds_change_horizon (table_name, last_id, writers) VALUES ($1, $2, $3)', [table, lastId, [...running]]);
  const fences = await client.query<{ last_id: string; writers: string[] }>(
    'SELECT last_id, writers FROM ds_change_horizon WHERE table_name = $1 ORDER BY last_id DESC',
    [table],
  );
  const passed = fences.rows.find((f) => f.writers.every((w) => !running.has(w)));
  const horizon = passed ? Number(passed.last_id) : 0;
  if (passed) await client.query('DELETE FROM ds_change_horizon WHERE table_name = $1 AND last_id <= $2', [table, horizon]);
  return horizon;
}

/**
 * Transaction-local settings the capture triggers read (set_config(..., true) ends with the transaction).
 * Not on the Dialect port (the import silences capture and records applied changes
 * itself); tests set it to exercise the triggers' origin path.
 */
export async function setOrigin(tx: DbClient, origin: OriginFlag | null): Promise<void> {
  await tx.query(
    `SELECT set_config('dsync.origin_server', $1, true), set_config('dsync.origin_change_id', $2, true),
            set_config('dsync.origin_user', $3, true), set_config('dsync.origin_time', $4, true)`,
    origin ? [origin.serverId, String(origin.changeId), origin.userId ?? '', origin.updatedAt ?? ''] : ['', '', '', ''],
  );
}

/**
 * char(n) comes back from the driver padded with spaces, while the triggers' text cast
 * drops the padding: read it the same way, so one value has one canonical form here.
 */
function fromDriver(column: ColumnSchema, raw: unknown): CanonicalValue {
  if (typeof raw === 'string' && column.nativeType.startsWith('character(')) return raw.replace(/ +$/, '');
  return toCanonical(column, raw);
}

/**
 * The capture functions return early while `dsync.capture` is 'off' in the transaction.
 * Silencing also leaves a transactional logical decoding message in the WAL: the log
 * capture pass skips every transaction that carries one (its writes are dsync's own,
 * recorded by the import itself; docs/capture-modes.md#log). No privilege beyond the
 * default is needed, and a rolled-back savepoint takes its message with it.
 */
async function silenceCapture(tx: DbClient, silent: boolean, options: { lazyCommit?: boolean } = {}): Promise<void> {
  if (silent) {
    await tx.query(silenceCaptureSql(options, '$1'), [IMPORT_MESSAGE_PREFIX]);
  } else {
    await tx.query("SELECT set_config('dsync.capture', 'on', true)");
  }
}

/**
 * The mark that log-mode capture skips; only a server that decodes its WAL gets it. A lazy
 * commit does not wait for the WAL flush, as a logical replication subscriber's apply does:
 * a later commit that waits flushes it too, as the WAL is written in order.
 * https://www.postgresql.org/docs/current/wal-async-commit.html
 */
const silenceCaptureSql = (options: { lazyCommit?: boolean }, prefix: string) =>
  `SELECT set_config('dsync.capture', 'off', true),${options.lazyCommit ? " set_config('synchronous_commit', 'off', true)," : ''}
              CASE WHEN current_setting('wal_level') = 'logical' THEN pg_logical_emit_message(true, ${prefix}, '') END`;

/**
 * synchronous_commit off for the session; the flush is a commit that waits: a transaction
 * with an id that wrote WAL (a non-transactional logical message, which log capture ignores)
 * commits with synchronous_commit on, which flushes the WAL up to its commit record, so
 * every earlier commit of the cluster too. (A transaction that wrote no WAL would not wait.)
 * https://www.postgresql.org/docs/current/wal-async-commit.html
 */
const postgresLazyCommits = {
  relax: (client: DbClient) => client.exec('SET synchronous_commit = off'),
  flush: async (client: DbClient) => {
    await client.query(
      "SELECT set_config('synchronous_commit', 'on', true), txid_current(), pg_logical_emit_message(false, 'dsync.flush', '')",
    );
  },
};

export const postgresDialect: Dialect = {
  name: 'postgres',
  capabilities: {
    transactionalDdl: true,
    concurrentWriters: true,
    silenceEndsWithTransaction: true,
    maxParameters: 65535,
    queuesStatements: true,
  },
  sql: postgresSql,
  connect: (url, nodeName) => connectPostgres(postgresDialect, url, nodeName),
  listenForChanges: listenPostgres,
  changeLog: {
    ensureSlot: ensureLogSlot,
    slotState: readSlotState,
    currentPosition: currentLsn,
    read: readLog,
    confirm: confirmLog,
    parsePosition: parseLsn,
    formatPosition: formatLsn,
    tryLockPass,
    unlockPass,
    lockPassInTransaction,
    readWritten,
    recordWritten,
  },
  introspect: introspectPostgres,
  tableExists: postgresTableExists,
  readSafeHorizon,
  readSafeHorizonWithBatch,
  readIdCounter,
  moveIdCounterSql,
  checkIdCounters,
  silenceCapture,
  silenceCaptureStatement: (options = {}) => silenceCaptureSql(options, postgresSql.literal(IMPORT_MESSAGE_PREFIX)),
  lazyCommits: postgresLazyCommits,
  keyOrder: postgresKeyOrder,
  keyJson: canonicalKeyText,
  bulk: postgresBulk,
  serverMerge: postgresServerMerge,
  toParam: postgresParam,
  fromDriver,
  splitScript: (script) => splitSqlScript(script, { dollarQuotes: true }),
  templateHelpers: {
    jsonValue: postgresJsonValue,
    jsonObject: postgresJsonObject,
    keyJson: postgresKeyJson,
    changed: postgresChanged,
    keyChanged: postgresKeyChanged,
    anyChanged: postgresAnyChanged,
    changedObject: postgresChangedObject,
    changedStamps: postgresChangedStamps,
    changedNames: postgresChangedNames,
    bodyTag: postgresBodyTag,
  },
  formatterLanguage: 'postgresql',
  isTransient: isPostgresTransient,
  isKeyCollision: isPostgresKeyCollision,
};
