/**
 * The SQLite dialect: the pieces of this folder behind the Dialect interface, plus the
 * runtime duties that need the engine (the safe horizon, the origin flag and the
 * capture switch) and the conversions between canonical values and what SQLite stores.
 *
 * Stored forms. SQLite has no date, time or boolean types; dsync writes one form per
 * family, which the capture triggers read back to the same canonical value:
 *   boolean      1 / 0
 *   date         'YYYY-MM-DD'
 *   time         'HH:MM:SS.ffffff'
 *   timestamp    'YYYY-MM-DD HH:MM:SS.ffffff'   (SQLite's datetime() spelling, with microseconds,
 *                                               so values compare and sort with the app's own)
 *   timestamptz  'YYYY-MM-DD HH:MM:SS.ffffffZ'  (UTC, marked)
 *   integer      INTEGER (64 bits; beyond is refused)
 *   binary       BLOB; json, uuid (lower case) and text as TEXT
 *   decimal      a DECIMAL/NUMERIC column has NUMERIC affinity: SQLite keeps a whole value
 *                that fits 64 bits as an INTEGER (exact), anything else as a REAL (a double),
 *                where 15 significant digits survive. A change with more digits would be
 *                rounded, so it is refused (parked with the reason) rather than changed
 *                silently. Declare a column TEXT to keep every digit.
 * https://www.sqlite.org/datatype3.html
 */
import { isSqliteKeyCollision, isSqliteTransient } from './sqlite-errors.ts';
import { type CanonicalValue, toCanonical } from '../../core/canonical.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { DbClient, Dialect, OriginFlag } from '../../core/dialect.ts';
import { ChangeError, RuntimeError } from '../../core/errors.ts';
import { sqlTimestampText } from '../../core/utc-time.ts';
import type { ColumnSchema } from '../../core/schema.ts';
import { splitSqlScript } from '../../core/sql-script.ts';
import { connectSqlite, SqliteClient } from './sqlite-driver.ts';
import { sqliteBulk } from './sqlite-bulk.ts';
import { sqliteServerMerge } from './sqlite-server-merge.ts';
import { introspectSqlite, sqliteTableExists } from './sqlite-introspect.ts';
import {
  sqliteAnyChanged,
  sqliteAssertKeys,
  sqliteChangedNames,
  sqliteChangedObject,
  sqliteDecimalText,
  sqliteJsonObject,
  sqliteJsonValue,
  sqliteColVersionsPatch,
  sqliteKeyChanged,
  sqliteKeyJson,
  sqliteNowMicros,
  sqliteSql,
} from './sqlite-sql.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * SQLite has one writer at a time, a reader sees only committed rows, and ids are handed
 * out under the write lock (AUTOINCREMENT: above every id ever committed). So a row that
 * commits later always gets an id above the committed max(id): every id at or below it
 * is final, and no fence is needed (guarantee 1, docs/guarantees.md).
 */
async function readSafeHorizon(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number> {
  const { rows } = await client.query<{ horizon: number | bigint }>(
    `SELECT coalesce(max(id), 0) AS horizon FROM ${sqliteSql.ident(table)}`,
  );
  return Number(rows[0].horizon);
}

/**
 * The AUTOINCREMENT counter (sqlite_sequence): the highest id ever handed out, which a
 * DELETE of every row keeps, unlike max(id). It goes back only when someone resets it
 * or the file is restored. https://www.sqlite.org/autoinc.html
 */
async function readIdCounter(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox'): Promise<number> {
  const { rows } = await client.query<{ seq: number | bigint }>(
    `SELECT coalesce((SELECT max(seq) FROM sqlite_sequence WHERE name = ?), 0) AS seq`,
    [table],
  );
  return Number(rows[0].seq);
}

const moveIdCounterSql = (table: 'ds_change_outbox' | 'ds_change_inbox', value: number) =>
  `DELETE FROM sqlite_sequence WHERE name = '${table}'; INSERT INTO sqlite_sequence (name, seq) VALUES ('${table}', ${value})`;

/**
 * Writes the import's columns of ds_sync_state, which the capture triggers read. The
 * driver clears the row before the transaction commits, so outside one it would
 * outlive the import: refused, except for clearing.
 */
async function writeSyncState(tx: DbClient, set: string, values: unknown[], clearing: boolean): Promise<void> {
  if (!(tx instanceof SqliteClient)) throw new Error('the SQLite sync state needs a connection of the sqlite dialect');
  if (!tx.inTransaction && !clearing) {
    throw new RuntimeError(
      'sync_state_outside_transaction',
      'the SQLite origin flag and capture switch need a transaction: outside one they would stay set',
      {
        hint: 'call setOrigin and silenceCapture on the client passed to transaction(); this is a bug in dsync, please report it',
      },
    );
  }
  await tx.query(`UPDATE ds_sync_state SET ${set} WHERE id = 1`, values);
  if (!clearing) tx.markSyncStateSet();
}

/**
 * The origin flag the capture triggers record instead of this node (guarantee 4, docs/guarantees.md).
 * Not on the Dialect port (the import silences capture and records applied changes
 * itself); tests set it to exercise the triggers' origin path.
 */
export async function setOrigin(tx: DbClient, origin: OriginFlag | null): Promise<void> {
  // update_datetime's form, 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
  const time = origin?.updatedAt
    ? sqlTimestampText(
        String(
          toCanonical(
            { name: 'update_datetime', family: 'timestamptz', nativeType: 'TEXT', nullable: true, default: null },
            origin.updatedAt,
          ),
        ),
      )
    : null;
  await writeSyncState(
    tx,
    'origin_server = ?, origin_change_id = ?, origin_user = ?, origin_time = ?',
    [origin?.serverId ?? null, origin?.changeId ?? null, origin?.userId ?? null, time],
    origin === null,
  );
}

/** The capture triggers write nothing while ds_sync_state.capture is 'off'. */
async function silenceCapture(tx: DbClient, silent: boolean): Promise<void> {
  await writeSyncState(tx, 'capture = ?', [silent ? 'off' : null], !silent);
}

function invalid(column: ColumnSchema, value: CanonicalValue, why: string): ChangeError {
  return new ChangeError('bad_value', `column ${column.name} (${column.family}): ${JSON.stringify(value)} ${why}`);
}

function toInteger(column: ColumnSchema, value: CanonicalValue): bigint {
  // A safe integer (most of them) goes straight to its bigint, without a text between.
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  const big = BigInt(String(value));
  if (big < INT64_MIN || big > INT64_MAX) throw invalid(column, value, "does not fit SQLite's 64-bit INTEGER");
  return big;
}

/** Significant digits of a plain decimal text: `-0012.3400` has 4. */
function significantDigits(text: string): number {
  const [int, frac = ''] = text.replace(/^[-+]/, '').split('.');
  const digits = `${int}${frac.replace(/0+$/, '')}`.replace(/^0+/, '');
  return digits.length;
}

/**
 * A whole decimal that fits 64 bits as an exact INTEGER; any other as its text, which
 * SQLite's NUMERIC affinity turns into a REAL (a double). A value with more than 15
 * significant digits would come back rounded, and one beyond ±1.8e308 as an infinity:
 * both are refused, so the change is parked with the reason instead of altered.
 */
function toDecimal(column: ColumnSchema, value: CanonicalValue): bigint | string {
  const text = String(value);
  const whole = /^(-?\d+)(?:\.0*)?$/.exec(text);
  if (whole && BigInt(whole[1]) >= INT64_MIN && BigInt(whole[1]) <= INT64_MAX) return BigInt(whole[1]);
  if (!Number.isFinite(Number(text))) throw invalid(column, value, "is beyond the range of SQLite's DECIMAL (a REAL)");
  if (/^[-+]?\d*\.?\d*$/.test(text) && significantDigits(text) > 15) {
    throw invalid(
      column,
      value,
      `has ${significantDigits(text)} significant digits; SQLite keeps a DECIMAL column as an 8-byte float (15 digits), so it would change. Declare the column TEXT to keep every digit`,
    );
  }
  return text;
}

/**
 * The column affinity of a declared type, by SQLite's rules (https://www.sqlite.org/datatype3.html#determination_of_column_affinity).
 * JSON, UUID, STRING and other names without INT, CHAR, CLOB, TEXT, BLOB, REAL, FLOA or DOUB have NUMERIC affinity.
 */
type Affinity = 'integer' | 'text' | 'blob' | 'real' | 'numeric';

function affinityOf(declared: string): Affinity {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'text';
  if (t.includes('BLOB') || t.trim() === '') return 'blob';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'real';
  return 'numeric';
}

/** Affinities by declared type, worked out once: toParam asks for each text value it binds. */
const affinities = new Map<string, Affinity>();

function affinity(declared: string): Affinity {
  let kind = affinities.get(declared);
  if (kind === undefined) {
    kind = affinityOf(declared);
    affinities.set(declared, kind);
  }
  return kind;
}

/** Text SQLite's numeric affinities would read as a number (spaces around it included). */
const NUMERIC_TEXT = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/**
 * A text or JSON value for a column whose affinity is not TEXT: SQLite stores text that
 * looks like a number as that number ('007' as 7, '1.0' as 1, '12345678901234567890' as a
 * double), so such text is refused unless it is a plain integer that comes back as written.
 */
function checkNumericAffinity(column: ColumnSchema, text: string): void {
  const kind = affinity(column.nativeType);
  if (kind === 'text' || kind === 'blob' || !NUMERIC_TEXT.test(text)) return;
  const plainInteger = /^-?(0|[1-9]\d*)$/.test(text) && text !== '-0' && BigInt(text) >= INT64_MIN && BigInt(text) <= INT64_MAX;
  if (plainInteger && kind !== 'real') return;
  throw invalid(
    column,
    text,
    `would be stored as a number by SQLite (the declared type ${column.nativeType} has ${kind.toUpperCase()} affinity) and come back changed. Declare the column TEXT to keep it as written`,
  );
}

/** A canonical value as a better-sqlite3 parameter, in the stored forms listed at the top of this file. */
function toParam(column: ColumnSchema, value: CanonicalValue): unknown {
  if (value === null) return null;
  const canonical = toCanonical(column, value);
  switch (column.family) {
    case 'integer':
    case 'bigint':
      return toInteger(column, canonical);
    case 'decimal':
      return toDecimal(column, canonical);
    case 'boolean':
      return canonical ? 1n : 0n;
    case 'float': {
      const n = Number(canonical);
      if (Number.isNaN(n)) throw invalid(column, canonical, 'is NaN, which SQLite stores as NULL');
      return n;
    }
    case 'binary':
      return Buffer.from(String(canonical), 'base64');
    case 'timestamp':
    case 'timestamptz':
      return String(canonical).replace('T', ' ');
    case 'text':
    case 'json':
      checkNumericAffinity(column, String(canonical));
      return canonical;
    default:
      return canonical;
  }
}

/**
 * A stored value in canonical encoding, the way the capture triggers read it: bytes
 * written into a binary column as text are their UTF-8 bytes, and a decimal is padded
 * to its declared scale.
 */
function fromDriver(column: ColumnSchema, raw: unknown): CanonicalValue {
  if (raw === null || raw === undefined) return null;
  if (column.family === 'binary' && !(raw instanceof Uint8Array)) return Buffer.from(String(raw), 'utf8').toString('base64');
  const canonical = toCanonical(column, raw);
  return column.family === 'decimal' && typeof canonical === 'string' ? sqliteDecimalText(column, canonical) : canonical;
}

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  // SQLITE_MAX_VARIABLE_NUMBER is 32766 since 3.32 (https://www.sqlite.org/limits.html).
  capabilities: { transactionalDdl: true, concurrentWriters: false, maxParameters: 32766 },
  sql: sqliteSql,
  connect: (url, nodeName) => connectSqlite(sqliteDialect, url, nodeName),
  introspect: introspectSqlite,
  tableExists: sqliteTableExists,
  readSafeHorizon,
  readIdCounter,
  moveIdCounterSql,
  silenceCapture,
  // BINARY is memcmp of UTF-8; SQLite still uses an index whose collation is BINARY (https://www.sqlite.org/datatype3.html#collation).
  keyOrder: async (client, _table) => ({
    keyExpression: (c) => (c.family === 'text' ? `${client.dialect.sql.ident(c.name)} COLLATE BINARY` : client.dialect.sql.ident(c.name)),
  }),
  // The triggers spell keys exactly as canonicalKeyText does (docs/convergence.md "Capture contract").
  keyJson: canonicalKeyText,
  toParam,
  bulk: sqliteBulk(toParam),
  fromDriver,
  splitScript: (script) => splitSqlScript(script, { beginEndBlocks: true }),
  templateHelpers: {
    jsonValue: sqliteJsonValue,
    jsonObject: sqliteJsonObject,
    keyJson: sqliteKeyJson,
    assertKeys: sqliteAssertKeys,
    anyChanged: sqliteAnyChanged,
    changedNames: sqliteChangedNames,
    changedObject: sqliteChangedObject,
    keyChanged: sqliteKeyChanged,
    colVersionsPatch: sqliteColVersionsPatch,
    nowMicros: sqliteNowMicros,
  },
  formatterLanguage: 'sqlite',
  isTransient: isSqliteTransient,
  isKeyCollision: isSqliteKeyCollision,
  serverMerge: sqliteServerMerge,
};
