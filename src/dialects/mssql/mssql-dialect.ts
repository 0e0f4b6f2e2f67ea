/**
 * The SQL Server dialect (2019 and later): the pieces of this folder behind the Dialect
 * interface, plus the two runtime duties that need the engine: the safe horizon and the
 * origin flag. Status: generated and unit-tested; see docs/dialects/mssql.md.
 */
import { isMssqlKeyCollision, isMssqlTransient } from './mssql-errors.ts';
import { toCanonical } from '../../core/canonical.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { DbClient, Dialect, OriginFlag } from '../../core/dialect.ts';
import { splitSqlScript } from '../../core/sql-script.ts';
import { connectMssql } from './mssql-driver.ts';
import { mssqlBulk } from './mssql-bulk.ts';
import { introspectMssql, mssqlTableExists } from './mssql-introspect.ts';
import {
  mssqlAnyChanged,
  mssqlChanged,
  mssqlChangedFlags,
  mssqlChangedJson,
  mssqlChangedNames,
  mssqlChangedNamesJson,
  mssqlFromDriver,
  mssqlInSchema,
  mssqlJsonObject,
  mssqlJsonValue,
  mssqlKeyJsonExpression,
  mssqlKeyMatch,
  mssqlParam,
  mssqlSql,
} from './mssql-sql.ts';

/**
 * The safe horizon (guarantee 1, docs/guarantees.md) with rowversion and MIN_ACTIVE_ROWVERSION(), which is
 * the lowest rowversion written by a transaction still open (or @@DBTS + 1 when none is).
 * https://learn.microsoft.com/sql/t-sql/functions/min-active-rowversion-transact-sql
 *
 * Why not simply "rows with rv < MIN_ACTIVE_ROWVERSION() are final": an IDENTITY id is
 * handed out before its row is written, so for a moment a transaction can hold id N with
 * no row (not even a dirty one) and no active rowversion yet, while another commits N+1;
 * a reader would then see every row final, move past N, and lose it.
 *
 * So every writer of the table fences first: the INSTEAD OF INSERT trigger of the outbox
 * and of the inbox (templates outbox/inbox) updates the session's row of ds_change_fence
 * before the insert takes ids. That row gets a rowversion that stays active until the
 * transaction ends, and last_id = the table's highest id at that moment, kept from the
 * transaction's first fence; ids are handed out in increasing order, so every id the
 * transaction takes is above its last_id.
 *
 * The reader takes L = max(id) (dirty read), then A = MIN_ACTIVE_ROWVERSION(), then H =
 * min(L, every last_id of a fence row with rv >= A, every in-flight row's id - 1). Take any
 * id x <= H, taken before L was read. If its transaction T was still open when A was read,
 * T's fence row holds a rowversion >= A (T's rowversions are active, A is the lowest),
 * and its last_id < x; the dirty read sees it (T fenced before taking x), so H <= last_id
 * < x: a contradiction. Hence T had ended by then: x is committed, or rolled back and never
 * appears. Ids taken after L was read are > L >= H. So no row at or below H ever shows up
 * later, whether it was visible, in flight, or only handed out. Fence rows of committed
 * transactions that still sit at or above A only hold the horizon back until the oldest
 * open transaction ends (the same lag as PostgreSQL's snapshot fence), never too far.
 *
 * The fence rows are read by a scan of their heap (INDEX(0)): its fixed-size rows never
 * move, so a dirty scan sees every row written before it began, which a dirty index scan
 * racing a page split would not promise.
 *
 * The in-flight bound (rows with rv >= A, dirty read, less one) covers writers that skip
 * the fence trigger (BULK INSERT without FIRE_TRIGGERS, a disabled trigger) as far as their
 * rows are already written.
 */
async function readSafeHorizon(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number> {
  const t = `dbo.${mssqlSql.ident(table)}`;
  const { rows } = await client.query<{
    last_id: string | number | null;
    fenced: string | number | null;
    in_flight: string | number | null;
  }>(
    `DECLARE @last bigint = (SELECT MAX(id) FROM ${t} WITH (READUNCOMMITTED));
     DECLARE @active binary(8) = MIN_ACTIVE_ROWVERSION();
     SELECT @last AS last_id,
       (SELECT MIN(f.last_id) FROM dbo.ds_change_fence AS f WITH (READUNCOMMITTED, INDEX(0)) WHERE f.table_name = @p1 AND f.rv >= @active) AS fenced,
       (SELECT MIN(x.id) FROM ${t} AS x WITH (READUNCOMMITTED) WHERE x.rv >= @active) AS in_flight;`,
    [table],
  );
  const row = rows[0];
  let horizon = Number(row.last_id ?? 0);
  if (row.fenced !== null) horizon = Math.min(horizon, Number(row.fenced));
  if (row.in_flight !== null) horizon = Math.min(horizon, Number(row.in_flight) - 1);
  return Math.max(0, horizon);
}

/**
 * The origin flag in the session context, tied to the current transaction: the triggers
 * honour it only while CURRENT_TRANSACTION_ID() equals the stored dsync.origin_txn, so a
 * flag left behind by a failed import never marks a later local change (session context
 * outlives transactions; PostgreSQL's set_config(…, true) does not need this).
 * https://learn.microsoft.com/sql/relational-databases/system-stored-procedures/sp-set-session-context-transact-sql
 * https://learn.microsoft.com/sql/t-sql/functions/current-transaction-id-transact-sql
 * Not on the Dialect port (the import silences capture and records applied changes
 * itself); tests set it to exercise the triggers' origin path.
 */
export async function setOrigin(tx: DbClient, origin: OriginFlag | null): Promise<void> {
  const time = origin?.updatedAt ? String(toCanonical(ORIGIN_TIME, origin.updatedAt)).replace(/Z$/, '') : null;
  await tx.query(
    `DECLARE @txn bigint = CASE WHEN @p1 IS NULL THEN NULL ELSE CURRENT_TRANSACTION_ID() END;
     DECLARE @time datetime2(6) = CONVERT(datetime2(6), @p4, 126);
     EXEC sys.sp_set_session_context @key = N'dsync.origin_server', @value = @p1;
     EXEC sys.sp_set_session_context @key = N'dsync.origin_change_id', @value = @p2;
     EXEC sys.sp_set_session_context @key = N'dsync.origin_user', @value = @p3;
     EXEC sys.sp_set_session_context @key = N'dsync.origin_time', @value = @time;
     EXEC sys.sp_set_session_context @key = N'dsync.origin_txn', @value = @txn;`,
    origin ? [origin.serverId, origin.changeId, origin.userId, time] : [null, null, null, null],
  );
}

/**
 * Silences the capture triggers for the rest of the current transaction (the import then
 * writes the outbox rows itself): bound to CURRENT_TRANSACTION_ID() like the origin flag,
 * so a transaction that ends without re-enabling them leaves nothing behind.
 */
async function silenceCapture(tx: DbClient, silent: boolean): Promise<void> {
  await tx.query(
    `DECLARE @txn bigint = CASE WHEN @p1 = 1 THEN CURRENT_TRANSACTION_ID() END;
     EXEC sys.sp_set_session_context @key = N'dsync.capture_off', @value = @txn;`,
    [silent],
  );
}

/** Origin times are UTC: read as a zoned value, a zone-less one stays as it is. */
const ORIGIN_TIME = { name: 'update_datetime', nativeType: 'datetime2(6)', family: 'timestamptz', nullable: true, default: null } as const;

export const mssqlDialect: Dialect = {
  name: 'mssql',
  // 2100 parameters per request; 100 kept for headroom (https://learn.microsoft.com/sql/sql-server/maximum-capacity-specifications-for-sql-server).
  capabilities: { transactionalDdl: true, concurrentWriters: true, insteadOfInsertFence: true, maxParameters: 2000 },
  sql: mssqlSql,
  connect: (url, nodeName) => connectMssql(mssqlDialect, url, nodeName),
  introspect: introspectMssql,
  tableExists: mssqlTableExists,
  readSafeHorizon,
  silenceCapture,
  // BIN2 sorts by code point (by UTF-16 code unit beyond the BMP).
  keyOrder: async (client, _table) => ({
    keyExpression: (c) =>
      c.family === 'text' ? `${client.dialect.sql.ident(c.name)} COLLATE Latin1_General_100_BIN2` : client.dialect.sql.ident(c.name),
  }),
  keyJson: canonicalKeyText,
  toParam: mssqlParam,
  bulk: mssqlBulk,
  fromDriver: mssqlFromDriver,
  statementEnd: '\nGO',
  splitScript: (script) => splitSqlScript(script, { goBatches: true }),
  templateHelpers: {
    jsonValue: mssqlJsonValue,
    jsonObject: mssqlJsonObject,
    keyJson: mssqlKeyJsonExpression,
    keyMatch: mssqlKeyMatch,
    changed: mssqlChanged,
    changedFlags: mssqlChangedFlags,
    anyChanged: mssqlAnyChanged,
    changedNames: mssqlChangedNames,
    changedNamesJson: mssqlChangedNamesJson,
    changedJson: mssqlChangedJson,
    inSchema: mssqlInSchema,
  },
  formatterLanguage: 'transactsql',
  isTransient: isMssqlTransient,
  isKeyCollision: isMssqlKeyCollision,
};
