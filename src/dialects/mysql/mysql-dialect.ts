/**
 * The MySQL 8 / MariaDB dialect: the pieces of this folder behind the Dialect
 * interface, plus the two runtime duties that need the engine: the safe horizon and
 * the origin flag.
 */
import { isMysqlKeyCollision, isMysqlTransient } from './mysql-errors.ts';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { toCanonical } from '../../core/canonical.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { DbClient, Dialect, OriginFlag, Row } from '../../core/dialect.ts';
import { RuntimeError } from '../../core/errors.ts';
import { sqlTimestampText } from '../../core/utc-time.ts';
import { splitSqlScript } from '../../core/sql-script.ts';
import { connectMysql, MysqlClient } from './mysql-driver.ts';
import { introspectMysql, mysqlTableExists } from './mysql-introspect.ts';
import { mysqlFromDriver, mysqlParam, mysqlSql } from './mysql-sql.ts';
import {
  COMPOUND_TRIGGER,
  mysqlAnyChanged,
  mysqlChanged,
  mysqlChangedColumnSteps,
  mysqlJsonObject,
  mysqlJsonValue,
  mysqlKeyJson,
  mysqlKeySteps,
  mysqlMembersObject,
  mysqlStatementEnd,
  mysqlTriggerName,
  mysqlVersionStamps,
} from './mysql-capture-sql.ts';
import { mysqlKeyOrder } from './mysql-key-order.ts';
import { mysqlBulk } from './mysql-bulk.ts';

const ER_SPECIFIC_ACCESS_DENIED = 1227;

/**
 * InnoDB refreshes its cache of INNODB_TRX only once nobody read it for 100 ms
 * (CACHE_MIN_IDLE_TIME in trx0i_s.cc), so readers that poll faster keep everyone on an
 * old list. dsync readers of one server take turns under a named lock, and one that
 * finds the list stale waits past those 100 ms before it reads again.
 * https://dev.mysql.com/doc/refman/8.0/en/innodb-information-schema-internal-data.html
 */
const TURN_LOCK = 'dsync.innodb_trx';
const TURN_TIMEOUT_SECONDS = 10;
const TURN_ATTEMPTS = 3;
const FRESH_ATTEMPTS = 25;
const freshWait = () => 110 + Math.floor(Math.random() * 50);

/**
 * The transactions open right now, as `thread:start` identities (a transaction keeps
 * both for its life, while its trx_id changes when it starts writing), leaving out our
 * own. A list is fresh only if it shows our own transaction running this very
 * statement, which carries a one-time nonce. A prepared XA transaction whose client
 * disconnected has no thread (0) but keeps its start and its trx_id (it has written):
 * it is listed as `0:start:trx_id` until XA COMMIT or XA ROLLBACK (see stillOpen).
 * https://dev.mysql.com/doc/refman/8.0/en/information-schema-innodb-trx-table.html
 * https://mariadb.com/kb/en/xa-transactions/
 */
async function readOpenTransactions(tx: DbClient): Promise<string[]> {
  // GET_LOCK is server-wide and outside transactions. Reading without the turn would keep
  // the cache stale for every reader, so a reader that cannot get it waits, then gives up.
  let turn = false;
  for (let attempt = 0; attempt < TURN_ATTEMPTS && !turn; attempt++) {
    const { rows } = await tx.query<Row>('SELECT GET_LOCK(?, ?) AS turn', [TURN_LOCK, TURN_TIMEOUT_SECONDS]);
    turn = Number(rows[0].turn) === 1;
  }
  if (!turn) {
    throw new RuntimeError(
      'horizon_busy',
      `no turn to read information_schema.INNODB_TRX within ${TURN_ATTEMPTS * TURN_TIMEOUT_SECONDS} s (lock ${TURN_LOCK})`,
      {
        hint: 'too many dsync readers poll this server at once: raise intervalSeconds of the programs reading it',
      },
    );
  }
  try {
    for (let attempt = 0; attempt < FRESH_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(freshWait());
      const nonce = randomBytes(8).toString('hex');
      const { rows } = await tx
        .query<Row>(
          `SELECT /* dsync horizon ${nonce} */ trx_mysql_thread_id AS thread, trx_started AS started, trx_id AS id,
                  trx_query AS query, CONNECTION_ID() AS me
           FROM information_schema.INNODB_TRX`,
        )
        .catch((error: unknown) => {
          if ((error as { errno?: number }).errno !== ER_SPECIFIC_ACCESS_DENIED) throw error;
          throw new RuntimeError(
            'missing_privilege',
            'reading the safe horizon needs the PROCESS privilege (to list open transactions in information_schema.INNODB_TRX)',
            {
              hint: "GRANT PROCESS ON *.* TO 'dsync_user'@'%' (the user of this node's url)",
            },
            { cause: error },
          );
        });
      const mine = rows.find((r) => String(r.query ?? '').includes(nonce));
      if (mine) {
        return rows
          .filter((r) => r !== mine)
          .map((r) => (Number(r.thread) === 0 ? `0:${String(r.started)}:${String(r.id)}` : `${String(r.thread)}:${String(r.started)}`));
      }
    }
  } finally {
    await tx.query('SELECT RELEASE_LOCK(?) AS released', [TURN_LOCK]);
  }
  throw new RuntimeError(
    'horizon_stale',
    'information_schema.INNODB_TRX stayed stale: another session reads it more often than every 100 ms',
    {
      hint: 'find the monitoring query that polls INNODB_TRX (or INNODB_LOCK_WAITS) in a tight loop and slow it down; dsync needs a fresh list of open transactions',
    },
  );
}

/** The start time within a `thread:start` or `0:start:trx_id` identity (the start itself holds colons). */
function startOf(identity: string): string {
  const rest = identity.slice(identity.indexOf(':') + 1);
  return identity.startsWith('0:') ? rest.slice(0, rest.lastIndexOf(':')) : rest;
}

const trxIdOf = (identity: string) => identity.slice(identity.lastIndexOf(':') + 1);

/**
 * Whether a transaction listed in a fence is still open. A prepared XA transaction
 * outlives its connection: listed as `thread:start` while its client was there, it
 * shows as `0:start:trx_id` once the client is gone (same start), and only XA COMMIT or
 * XA ROLLBACK (from any session) ends it. After a server restart, a recovered prepared
 * transaction is thread-less with the same trx_id but a later start. So a member keeps
 * open while a thread-less transaction shows that could be it: for `thread:start`, one
 * that started in the same second or later; for `0:start:trx_id`, one with that trx_id.
 * A thread-less transaction that is not it only makes the fence wait longer (it holds
 * every later fence anyway until someone ends it), never pass too early.
 * https://mariadb.com/kb/en/xa-transactions/
 */
export function stillOpen(identity: string, open: readonly string[]): boolean {
  if (open.includes(identity)) return true;
  const detached = open.filter((t) => t.startsWith('0:'));
  if (identity.startsWith('0:')) return detached.some((t) => trxIdOf(t) === trxIdOf(identity));
  const start = startOf(identity);
  // 'YYYY-MM-DD HH:MM:SS' (dateStrings) sorts as text.
  return detached.some((t) => startOf(t) >= start);
}

interface Fence {
  id: number | null;
  lastId: number;
  /** Transactions open when lastId was read that are still open. */
  open: string[];
  shrank: boolean;
}

/** `a` can never pass later than `b` nor cover fewer ids: `b` is not worth keeping. */
const covers = (a: Fence, b: Fence) => a.lastId >= b.lastId && a.open.every((t) => b.open.includes(t));

/**
 * The highest id handed out so far: AUTO_INCREMENT - 1, read live (the driver turns off
 * MySQL 8's statistics cache). Every id handed out, committed or not, is at or below it:
 * AUTO_INCREMENT moves past an id when it is handed out, whatever
 * auto_increment_increment, auto_increment_offset or innodb_autoinc_lock_mode say.
 * https://dev.mysql.com/doc/refman/8.0/en/innodb-auto-increment-handling.html
 */
async function readIdCounter(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number> {
  const counter = await client.query<Row>(
    'SELECT AUTO_INCREMENT AS next_id FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [table],
  );
  if (counter.rows.length === 0 || counter.rows[0].next_id === null) {
    throw new RuntimeError('horizon_unavailable', `cannot read the id counter of ${table}`, { hint: 'run `dsync apply` for this node' });
  }
  return Number(counter.rows[0].next_id) - 1;
}

/**
 * Safe horizon by transaction fence (guarantee 1, docs/guarantees.md). MySQL has no snapshot horizon, and
 * AUTO_INCREMENT ids are handed out at insert: id 100 may commit after 101, or never.
 * We read L, the highest id handed out so far (AUTO_INCREMENT - 1, read live), THEN the
 * set S of open transactions. A transaction that took an id <= L took it before we read
 * L, so it was open then and is in S now unless it already ended. Once every
 * transaction of S has ended, every id <= L is final (committed or never to appear).
 * InnoDB hands out the id before it starts a transaction whose first access is that
 * very insert; the BEFORE INSERT triggers of the outbox and inbox read ds_change_fence
 * first, so the transaction is listed before it holds an id (outbox.sql.hbs); dsync's own
 * set-wise writes read it once per transaction instead (mysql-bulk.ts, upgrade step 17).
 * Fences (L, S) not yet passed are kept in ds_change_horizon for later reads; the
 * horizon is the highest passed L. This needs the PROCESS privilege.
 */
async function readSafeHorizon(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number> {
  if (table !== 'ds_change_outbox' && table !== 'ds_change_inbox') throw new Error(`no safe horizon for ${String(table)}`);
  return client.transaction(async (tx) => {
    // First an InnoDB read, so that our transaction is running and shows in INNODB_TRX.
    const read = await tx.query<Row>('SELECT id, last_id, open_transactions FROM ds_change_horizon WHERE table_name = ? ORDER BY id', [
      table,
    ]);
    const lastId = await readIdCounter(tx, table);
    // A fence above the counter belongs to ids handed out before the counter went back
    // (TRUNCATE, a restored backup): it says nothing about the ids handed out since.
    const stale = read.rows.filter((r) => Number(r.last_id) > lastId);
    for (const r of stale) await tx.query('DELETE FROM ds_change_horizon WHERE id = ?', [r.id]);
    const stored = { rows: read.rows.filter((r) => !stale.includes(r)) };
    // No id handed out since a passed fence: nothing to wait for (the idle case, no INNODB_TRX read).
    const passed = stored.rows.filter((r) => String(r.open_transactions) === '[]').map((r) => Number(r.last_id));
    if (passed.includes(lastId)) return lastId;
    const open = await readOpenTransactions(tx);
    const fences: Fence[] = stored.rows.map((r) => {
      const was = JSON.parse(String(r.open_transactions)) as string[];
      // Only the transactions still open matter; a fence with none left has passed.
      const still = was.filter((t) => stillOpen(t, open));
      return { id: Number(r.id), lastId: Number(r.last_id), open: still, shrank: still.length < was.length };
    });
    fences.push({ id: null, lastId, open, shrank: false });
    const horizon = Math.max(0, ...fences.filter((f) => f.open.length === 0).map((f) => f.lastId));
    // Fences that can still raise the horizon, the passed one at the horizon included.
    const keep = fences.filter((f, i) => !fences.some((g, j) => j !== i && covers(g, f) && (!covers(f, g) || j < i)));
    for (const f of fences) {
      if (f.id === null) continue;
      if (!keep.includes(f)) await tx.query('DELETE FROM ds_change_horizon WHERE id = ?', [f.id]);
      else if (f.shrank) await tx.query('UPDATE ds_change_horizon SET open_transactions = ? WHERE id = ?', [JSON.stringify(f.open), f.id]);
    }
    const fresh = fences[fences.length - 1];
    if (keep.includes(fresh)) {
      await tx.query('INSERT INTO ds_change_horizon (table_name, last_id, open_transactions) VALUES (?, ?, ?)', [
        table,
        lastId,
        JSON.stringify(open),
      ]);
    }
    return horizon;
  });
}

/** The triggers read user variables; the driver scopes them to the transaction. */
function mysqlClient(tx: DbClient): MysqlClient {
  if (!(tx instanceof MysqlClient)) throw new Error('a MySQL session flag needs a connection of the mysql dialect');
  return tx;
}

/**
 * The origin flag (@dsync_origin_*), which the capture triggers record instead of this node.
 * Not on the Dialect port (the import silences capture and records applied changes
 * itself); tests set it to exercise the triggers' origin path.
 */
export async function setOrigin(tx: DbClient, origin: OriginFlag | null): Promise<void> {
  const time = origin?.updatedAt
    ? sqlTimestampText(
        String(
          toCanonical(
            { name: 'update_datetime', family: 'timestamptz', nativeType: 'datetime(6)', nullable: true, default: null },
            origin.updatedAt,
          ),
        ),
      )
    : null;
  await mysqlClient(tx).setTransactionVariables({
    dsync_origin_server: origin?.serverId ?? null,
    dsync_origin_change_id: origin?.changeId ?? null,
    dsync_origin_user: origin?.userId ?? null,
    dsync_origin_time: time,
  });
}

/** The capture triggers write nothing while @dsync_capture is 'off'. */
async function silenceCapture(tx: DbClient, silent: boolean): Promise<void> {
  await mysqlClient(tx).setTransactionVariables({ dsync_capture: silent ? 'off' : null });
}

export const mysqlDialect: Dialect = {
  name: 'mysql',
  // DDL commits implicitly in MySQL, so apply runs file by file (transactionalDdl false).
  capabilities: {
    transactionalDdl: false,
    concurrentWriters: true,
    lockingReadLocksGaps: true,
    transactionFence: true,
    maxParameters: 65535,
  },
  sql: mysqlSql,
  connect: (url, nodeName) => connectMysql(mysqlDialect, url, nodeName),
  introspect: introspectMysql,
  tableExists: mysqlTableExists,
  readSafeHorizon,
  readIdCounter,
  moveIdCounterSql: (table, value) => `ALTER TABLE ${mysqlSql.ident(table)} AUTO_INCREMENT = ${value + 1}`,
  silenceCapture,
  keyOrder: mysqlKeyOrder,
  keyJson: canonicalKeyText,
  toParam: mysqlParam,
  bulk: mysqlBulk,
  fromDriver: mysqlFromDriver,
  // The session keeps backslash escapes on (see mysql-driver.ts), so the splitter reads them too.
  // Without DELIMITER lines a compound trigger can only be one statement on its own (as
  // apply passes it to exec, already split out of its file).
  splitScript: (script) =>
    COMPOUND_TRIGGER.test(script) && !/^DELIMITER\b/im.test(script)
      ? [script.trim()]
      : splitSqlScript(script, { delimiterDirective: true, backslashEscapes: true }),
  statementEnd: mysqlStatementEnd,
  templateHelpers: {
    jsonValue: mysqlJsonValue,
    jsonObject: mysqlJsonObject,
    keyJson: mysqlKeyJson,
    keySteps: mysqlKeySteps,
    changed: mysqlChanged,
    anyChanged: mysqlAnyChanged,
    triggerName: mysqlTriggerName,
    changedColumnSteps: mysqlChangedColumnSteps,
    versionStamps: mysqlVersionStamps,
    membersObject: mysqlMembersObject,
  },
  formatterLanguage: 'mysql',
  isTransient: isMysqlTransient,
  isKeyCollision: isMysqlKeyCollision,
};
