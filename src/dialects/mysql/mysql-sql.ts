/**
 * MySQL/MariaDB quoting, parameters and value binding.
 * Identifiers: https://dev.mysql.com/doc/refman/8.0/en/identifiers.html
 * String literals: https://dev.mysql.com/doc/refman/8.0/en/string-literals.html
 *
 * Parameters: queries go over the text protocol and mysql2 writes each `?` value into
 * the statement with backslash escapes, which is why the session keeps
 * NO_BACKSLASH_ESCAPES off (mysql-driver.ts). The binary protocol (`execute`) would
 * bind on the server, but returns FLOAT columns widened to double
 * (1.1 → 1.100000023841858), unlike the triggers' JSON; so values stay text.
 */
import { type CanonicalValue, toCanonical } from '../../core/canonical.ts';
import type { ValueMap } from '../../core/change.ts';
import type { DialectSql } from '../../core/dialect.ts';
import { ChangeError } from '../../core/errors.ts';
import { sqlTimestampText } from '../../core/utc-time.ts';
import { type ColumnSchema, primaryKeyColumns, type TableSchema } from '../../core/schema.ts';
import { multiRowInsert } from '../../core/sql-builders.ts';
import { qualifiedName } from '../../core/table-ref.ts';

/** Characters beyond the Basic Multilingual Plane (emoji and the like). */
const OUTSIDE_BMP = /[\u{10000}-\u{10FFFF}]/u;

export const mysqlSql: DialectSql = {
  /**
   * Always backticked: the reserved-word list grows between versions (MySQL 8 added
   * `rank`, `groups`, …), and a quoted name is never touched by the formatter.
   */
  ident(name) {
    if (name === '' || name.includes('\0')) {
      throw new ChangeError('bad_name', `MySQL/MariaDB cannot name an object ${JSON.stringify(name)} (empty or NUL)`);
    }
    if (OUTSIDE_BMP.test(name)) {
      // https://dev.mysql.com/doc/refman/8.0/en/identifiers.html: "identifiers ... are
      // limited to characters in the Basic Multilingual Plane"; MariaDB answers error 1300.
      throw new ChangeError('bad_name', `MySQL/MariaDB names cannot hold characters beyond the Basic Multilingual Plane (such as emoji): ${JSON.stringify(name)}`);
    }
    return `\`${name.replace(/`/g, '``')}\``;
  },
  table(name, schema) {
    return qualifiedName((n) => this.ident(n), name, schema);
  },
  literal(value) {
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`MySQL/MariaDB has no literal for ${value}`);
      return String(value);
    }
    // A backslash means one thing with NO_BACKSLASH_ESCAPES and another without; a hex
    // string reads the same under both, so generated files also run in a mysql client
    // whatever its sql_mode. NUL and Ctrl-Z go the same way.
    if (/[\\\0\x1a]/.test(value)) return `_utf8mb4 X'${Buffer.from(value, 'utf8').toString('hex').toUpperCase()}'`;
    return `'${value.replace(/'/g, "''")}'`;
  },
  param: () => '?',
  /**
   * `ON DUPLICATE KEY UPDATE c = c` skips exactly the rows whose unique key exists and
   * still fails on every other error; `INSERT IGNORE` would also turn a too-long value or
   * a NULL in a NOT NULL column into a warning and a changed row.
   * https://dev.mysql.com/doc/refman/8.0/en/insert-on-duplicate.html
   */
  insertIgnoringDuplicates(table, columns, rowCount) {
    const first = this.ident(columns[0]);
    return `${multiRowInsert(this, table, columns, rowCount)} ON DUPLICATE KEY UPDATE ${first} = ${first}`;
  },
  forUpdate: ' FOR UPDATE',
};

/**
 * A number written into the statement as an exact numeric literal. A decimal bound as a
 * string would be compared with a DECIMAL column as a double (MySQL's comparison rules:
 * https://dev.mysql.com/doc/refman/8.0/en/type-conversion.html), where
 * digits past the 15th would not count. mysql2 writes `toSqlString()` into the
 * statement as is, so the text is checked to be digits.
 */
export class MysqlExactNumber {
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`not an exact number: ${text}`);
  }

  toSqlString(): string {
    return this.text;
  }
}

function reject(column: ColumnSchema, why: string): ChangeError {
  return new ChangeError('bad_value', `column ${column.name} (${column.nativeType}): ${why}`);
}

/** `1.5e3` → `1500`: in MySQL an exponent makes a DOUBLE literal, which is not exact. */
function plainDecimal(text: string): string {
  const m = /^(-?)(\d*)\.?(\d*)(?:[eE]([-+]?\d+))?$/.exec(text);
  if (!m) return text;
  const [, sign, int, frac, exp] = m;
  let digits = `${int}${frac}`;
  let point = int.length + Number(exp ?? 0);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits += '0'.repeat(point - digits.length);
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const fraction = digits.slice(point).replace(/0+$/, '');
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Fractional-second digits beyond what the column keeps would be rounded away silently. */
function checkFraction(column: ColumnSchema, micro: string) {
  const keep = column.precision ?? 0;
  if (/[1-9]/.test(micro.slice(keep))) {
    throw reject(column, `.${micro} has more fractional-second digits than the column keeps (${keep})`);
  }
}

/**
 * A canonical value as a mysql2 parameter. The session is strict (STRICT_ALL_TABLES), so
 * the server rejects what does not fit (too long, out of range, bad date); what the
 * server would round or pad without a word is rejected here.
 */
export function mysqlParam(column: ColumnSchema, value: CanonicalValue): unknown {
  const canonical = toCanonical(column, value);
  if (canonical === null) return null;
  switch (column.family) {
    case 'integer':
    case 'bigint':
      return typeof canonical === 'number' ? canonical : BigInt(canonical);
    case 'decimal': {
      const text = plainDecimal(String(canonical));
      if (!/^-?\d+(\.\d+)?$/.test(text)) throw reject(column, `${String(canonical)} cannot be stored (MySQL decimals have no NaN)`);
      const fraction = text.split('.')[1] ?? '';
      if (column.scale != null && /[1-9]/.test(fraction.slice(column.scale))) {
        throw reject(column, `${text} has more than ${column.scale} decimal places; MySQL would round it`);
      }
      return new MysqlExactNumber(text);
    }
    case 'float': {
      const n = Number(canonical);
      if (!Number.isFinite(n)) throw reject(column, `${String(canonical)} cannot be stored (MySQL floats have no NaN or infinity)`);
      return n;
    }
    case 'boolean':
      return canonical ? 1 : 0;
    case 'time': {
      const [clock, micro = ''] = String(canonical).split('.');
      checkFraction(column, micro);
      return `${clock}.${micro}`;
    }
    case 'timestamp':
    case 'timestamptz': {
      // MySQL rejects the ISO `T` and `Z` in strict mode; the session time zone is UTC.
      const text = sqlTimestampText(String(canonical));
      checkFraction(column, text.split('.')[1] ?? '');
      return text;
    }
    case 'binary': {
      const bytes = Buffer.from(String(canonical), 'base64');
      const fixed = /^binary\((\d+)\)/i.exec(column.nativeType);
      if (fixed && bytes.length !== Number(fixed[1])) {
        throw reject(column, `${bytes.length} bytes for a fixed ${fixed[1]}-byte column; MySQL would pad it with zero bytes`);
      }
      return bytes;
    }
    default:
      return canonical;
  }
}

/** Bytes of a BIT(n) value as an unsigned integer. */
function bitValue(bytes: Uint8Array): bigint {
  return bytes.reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
}

/** A value as mysql2 returns it (dateStrings, bigNumberStrings, jsonStrings) in canonical encoding. */
export function mysqlFromDriver(column: ColumnSchema, raw: unknown): CanonicalValue {
  if (raw === null || raw === undefined) return null;
  if (column.family === 'boolean') {
    // BOOLEAN is TINYINT(1) and can hold 2..127; the triggers read any non-zero as true.
    if (raw instanceof Uint8Array) return bitValue(raw) !== 0n;
    if (typeof raw === 'number' || typeof raw === 'string') return Number(raw) !== 0;
  }
  if ((column.family === 'integer' || column.family === 'bigint') && raw instanceof Uint8Array) {
    return toCanonical(column, bitValue(raw));
  }
  return toCanonical(column, raw);
}

// Capture: template helpers that compute a column's canonical JSON inside a trigger.
// MariaDB has no JSON type to cast to (JSON is LONGTEXT there) and MySQL 8 prints
// booleans as 1/0, so the JSON text is built by hand, the same way on both.

const SAFE_INTEGER = '9007199254740991';

/** As utf8mb4 text, whatever the column's character set, so that pieces concatenate. */
const utf8 = (expr: string) => `CONVERT(${expr} USING utf8mb4)`;
const quoted = (expr: string) => `JSON_QUOTE(${utf8(expr)})`;

/** JSON text of one value (utf8mb4), or NULL when the value is NULL. */
function jsonText(column: ColumnSchema, ref: string): string {
  // BIT(n) values are byte strings until added to a number.
  const value = /^bit\b/i.test(column.nativeType) ? `(${ref} + 0)` : ref;
  switch (column.family) {
    case 'integer':
    case 'float':
      return utf8(value);
    case 'bigint':
      return `IF(${value} BETWEEN -${SAFE_INTEGER} AND ${SAFE_INTEGER}, ${utf8(value)}, ${quoted(value)})`;
    case 'boolean':
      return utf8(`CASE WHEN ${value} <> 0 THEN 'true' WHEN ${value} = 0 THEN 'false' END`);
    case 'date':
      return quoted(`DATE_FORMAT(${ref}, '%Y-%m-%d')`);
    case 'time':
      return quoted(`TIME_FORMAT(${ref}, '%H:%i:%s.%f')`);
    case 'timestamp':
      return quoted(`DATE_FORMAT(${ref}, '%Y-%m-%dT%H:%i:%s.%f')`);
    case 'timestamptz':
      // UNIX_TIMESTAMP of a TIMESTAMP column is the stored UTC instant, whatever the
      // writer's session time zone (https://mariadb.com/kb/en/unix_timestamp/).
      return quoted(`DATE_FORMAT(TIMESTAMPADD(MICROSECOND, ROUND(UNIX_TIMESTAMP(${ref}) * 1000000), CAST('1970-01-01' AS DATETIME(6))), '%Y-%m-%dT%H:%i:%s.%fZ')`);
    case 'binary':
      // TO_BASE64 breaks lines every 76 characters.
      return quoted(`REPLACE(TO_BASE64(${ref}), CHAR(10 USING utf8mb4), '')`);
    default:
      return quoted(ref); // text, decimal (a string, digits kept), json (its text), uuid
  }
}

/**
 * The canonical JSON of `column` in row `row` (NEW or OLD), never NULL. Every piece
 * gets the same explicit collation: JSON functions answer utf8mb4_bin, CONVERT the
 * default utf8mb4 collation, and CONCAT refuses to mix two implicit ones.
 */
export function mysqlJsonValue(column: ColumnSchema, row: string): string {
  return `COALESCE(${jsonText(column, `${row}.${mysqlSql.ident(column.name)}`)} COLLATE utf8mb4_bin, 'null')`;
}

const jsonKey = (column: ColumnSchema, first: boolean) => mysqlSql.literal(`${first ? '{' : ','}${JSON.stringify(column.name)}:`);

/** A JSON object of every column of `columns`. */
export function mysqlJsonObject(columns: ColumnSchema[], row: string): string {
  if (columns.length === 0) return `'{}'`;
  const pairs = columns.map((c, i) => `${jsonKey(c, i === 0)}, ${mysqlJsonValue(c, row)}`);
  return `CONCAT(\n      ${pairs.join(',\n      ')},\n      '}')`;
}

/** The key as JSON text: a scalar for a one-column key, an object for a composite one. */
export function mysqlKeyJson(keyColumns: ColumnSchema[], row: string): string {
  return keyColumns.length === 1 ? mysqlJsonValue(keyColumns[0], row) : mysqlJsonObject(keyColumns, row);
}

/**
 * True when the column changed. `<=>` is NULL-safe; text is compared as bytes, since
 * under a case- or pad-insensitive collation 'a' = 'A' = 'a ' and such an edit would be lost.
 */
export function mysqlChanged(column: ColumnSchema): string {
  const name = mysqlSql.ident(column.name);
  const asBytes = column.family === 'text' || column.family === 'json';
  const side = (row: string) => (asBytes ? `CAST(${row}.${name} AS BINARY)` : `${row}.${name}`);
  return `NOT (${side('NEW')} <=> ${side('OLD')})`;
}

/** True when any of the columns changed. */
export function mysqlAnyChanged(columns: ColumnSchema[]): string {
  return `(${columns.map(mysqlChanged).join('\n    OR ')})`;
}

/** Changed column names joined by commas (object_attribute of an update). */
export function mysqlChangedNames(columns: ColumnSchema[]): string {
  return `CONCAT_WS(',',\n      ${columns.map((c) => `IF(${mysqlChanged(c)}, ${mysqlSql.literal(c.name)}, NULL)`).join(',\n      ')})`;
}

/** A JSON object of the changed columns only, with their values in `row`. */
export function mysqlChangedObject(columns: ColumnSchema[], row: string): string {
  const pairs = columns.map(
    (c) => `IF(${mysqlChanged(c)}, CONCAT(${mysqlSql.literal(`${JSON.stringify(c.name)}:`)}, ${mysqlJsonValue(c, row)}), NULL)`,
  );
  return `CONCAT('{', CONCAT_WS(',',\n      ${pairs.join(',\n      ')}), '}')`;
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A JSON string as JSON_QUOTE writes it: like JSON.stringify, but \u escapes in upper-case hex. */
function jsonQuote(text: string): string {
  return `"${text.replace(/["\\\u0000-\u001f]/g, (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`)}"`;
}

/**
 * object_id of a key exactly as the capture triggers spell it: the import writes its own
 * outbox rows with it and finds earlier ones by it. Decimals keep the column's scale
 * (12.5 in DECIMAL(12,2) prints as 12.50).
 */
export function mysqlKeyText(table: TableSchema, key: ValueMap): string {
  const columns = primaryKeyColumns(table);
  const texts = columns.map((column) => {
    const value = toCanonical(column, key[column.name]);
    if (value === null || typeof value !== 'string') return JSON.stringify(value);
    if (column.family !== 'decimal' || !column.scale) return jsonQuote(value);
    const [whole, fraction = ''] = plainDecimal(value).split('.');
    return jsonQuote(`${whole}.${fraction.padEnd(column.scale, '0')}`);
  });
  return columns.length === 1 ? texts[0] : `{${columns.map((c, i) => `${JSON.stringify(c.name)}:${texts[i]}`).join(',')}}`;
}

/** A capture trigger's name, in the table's database when the table is qualified. */
export function mysqlTriggerName(table: { safeName: string; schema: string | null }, suffix: string): string {
  return mysqlSql.table(`ds_${table.safeName}_${suffix}`, table.schema);
}
