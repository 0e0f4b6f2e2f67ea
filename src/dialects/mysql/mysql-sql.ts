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
import {
  type CanonicalValue,
  exactSingle,
  isSinglePrecision,
  outsideCommonEra,
  plainDateTime,
  singleRounding,
  toCanonical,
} from '../../core/canonical.ts';
import type { DialectSql } from '../../core/dialect.ts';
import { ChangeError } from '../../core/errors.ts';
import { sqlTimestampText } from '../../core/utc-time.ts';
import type { ColumnSchema } from '../../core/schema.ts';
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
      throw new ChangeError(
        'bad_name',
        `MySQL/MariaDB names cannot hold characters beyond the Basic Multilingual Plane (such as emoji): ${JSON.stringify(name)}`,
      );
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
  limit: (n) => `LIMIT ${n}`,
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
  rowValueIn: true,
  // A FLOAT's text form keeps 6 digits (0.1234567 reads as 0.123457); as a double it is exact.
  selectColumn(column) {
    const name = this.ident(column.name);
    return isSinglePrecision(column) ? `(${name} + 0e0) AS ${name}` : name;
  },
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
 * A date or timestamp in a spelling plainDateTime reads (the canonical one above all: every
 * value of the import), straight to MySQL's text: what toCanonical, the common-era check and
 * sqlTimestampText give, in one pass (a timestamp the long way cost ~0.8 µs, the most of any
 * value of the bench's rows). Null for any other spelling, and for the year 0000 (BC, refused
 * the long way), which take the long way.
 */
function shortDateTime(column: ColumnSchema, value: string): string | null {
  const text = plainDateTime(value, column.family === 'date' ? null : ' ');
  if (text === null || text.startsWith('0000')) return null;
  if (column.family !== 'date') checkFraction(column, text.slice(20));
  return text;
}

/**
 * A canonical value as a mysql2 parameter. The session is strict (STRICT_ALL_TABLES), so
 * the server rejects what does not fit (too long, out of range, bad date); what the
 * server would round or pad without a word is rejected here.
 */
export function mysqlParam(column: ColumnSchema, value: CanonicalValue): unknown {
  const family = column.family;
  if (typeof value === 'string' && (family === 'date' || family === 'timestamp' || family === 'timestamptz')) {
    const short = shortDateTime(column, value);
    if (short !== null) return short;
  }
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
      if (!isSinglePrecision(column)) return n;
      // The 4-byte value itself: MySQL range-checks the double it is sent (3.4028235e38 would be "out of range").
      const single = exactSingle(n);
      if (single === null) throw reject(column, singleRounding(n));
      return single;
    }
    case 'boolean':
      return canonical ? 1 : 0;
    case 'time': {
      const [clock, micro = ''] = String(canonical).split('.');
      checkFraction(column, micro);
      return `${clock}.${micro}`;
    }
    case 'date':
    case 'timestamp':
    case 'timestamptz': {
      const outside = outsideCommonEra(canonical);
      if (outside) throw reject(column, `${outside}, which MySQL/MariaDB cannot store (dates run from 0001 to 9999, no BC, no infinity)`);
      if (column.family === 'date') return canonical;
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
