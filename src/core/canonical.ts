/**
 * The canonical wire encoding (docs/concepts.md, row formats; docs/types.md): one JSON form per
 * type family, the same whichever brand wrote it. Triggers produce it in SQL; this
 * module produces it from driver values and from loosely written literals (seed-format
 * commands), and compares values by it. Every failure names the column and the value.
 */
import { ChangeError } from './errors.ts';
import type { ColumnSchema, TypeFamily } from './schema.ts';

export type CanonicalValue = string | number | boolean | null;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The parts of a date/time value; `offsetMinutes` is null for values without a zone.
 * `year` is astronomical (ISO 8601): year 0 is 1 BC, -43 is 44 BC.
 */
export interface DateTimeParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  micro: number;
  offsetMinutes: number | null;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * PostgreSQL's endless dates and timestamps. They travel as these two strings in the
 * date, timestamp and timestamptz families; a brand without them parks the change.
 */
export type InfiniteDateTime = 'infinity' | '-infinity';

/** 'infinity' or '-infinity' when the value spells one (PostgreSQL also accepts '+infinity'), else null. */
export function infiniteDateTime(value: unknown): InfiniteDateTime | null {
  if (typeof value !== 'string') return null;
  // A value that starts with a digit is no such word (the common case: a date, read without allocating).
  const first = value.charCodeAt(0);
  if (first >= 48 && first <= 57) return null;
  const text = value.trim().toLowerCase();
  if (text === 'infinity' || text === '+infinity') return 'infinity';
  if (text === '-infinity') return '-infinity';
  return null;
}

/**
 * An ISO 8601 year: four digits for 0000…9999, a sign and at least four digits
 * beyond (`-0043` is 44 BC, `+10000`), so text order matches time order within AD 1…9999.
 */
export function formatYear(year: number): string {
  if (year < 0) return `-${pad(-year, 4)}`;
  return year > 9999 ? `+${year}` : pad(year, 4);
}

function invalid(column: Pick<ColumnSchema, 'name' | 'family'>, value: unknown, why: string): ChangeError {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value) : String(value);
  return new ChangeError('bad_value', `column ${column.name} (${column.family}): ${shown} ${why}`);
}

/** Integers: numbers while exact, decimal strings beyond 2^53. */
function canonicalInteger(column: ColumnSchema, value: unknown): CanonicalValue {
  let big: bigint;
  // The common case: a number already exact (-0 is read as 0, as BigInt reads it).
  if (Number.isSafeInteger(value)) return value === 0 ? 0 : (value as number);
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw invalid(column, value, 'is not a whole number');
    big = BigInt(value);
  } else if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) big = BigInt(value.trim());
  else if (typeof value === 'boolean') big = value ? 1n : 0n;
  else throw invalid(column, value, 'is not an integer');
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big.toString();
}

/** Decimals travel as strings so that no digit is lost on the way. */
function canonicalDecimal(column: ColumnSchema, value: unknown): CanonicalValue {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(column, value, 'is not a finite number');
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return text.replace(/^\+/, '');
    if (text === 'NaN') return text;
  }
  throw invalid(column, value, 'is not a decimal number');
}

function canonicalFloat(column: ColumnSchema, value: unknown): CanonicalValue {
  const n = typeof value === 'string' ? Number(value.trim()) : typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || (Number.isNaN(n) && String(value).trim() !== 'NaN')) throw invalid(column, value, 'is not a number');
  if (!Number.isFinite(n)) return String(n); // NaN, Infinity, -Infinity as strings: JSON has no such numbers
  return n;
}

function canonicalBoolean(column: ColumnSchema, value: unknown): CanonicalValue {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0 || value === 1n || value === 0n) return Number(value) === 1;
  if (typeof value === 'string') {
    const t = value.trim().toLowerCase();
    if (['t', 'true', '1', 'y', 'yes', 'on'].includes(t)) return true;
    if (['f', 'false', '0', 'n', 'no', 'off'].includes(t)) return false;
  }
  throw invalid(column, value, 'is not a boolean');
}

const MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function checkDate(parts: DateTimeParts): boolean {
  const { year, month, day } = parts;
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return day <= (month === 2 && !leap ? 28 : MONTH_DAYS[month - 1]);
}

/**
 * Reads the date/time spellings met in practice: ISO-8601 (`T` or space, optional
 * fraction and zone), `M/D/YYYY [h:mm[:ss] [AM|PM]]` as the seed writes them, and
 * JavaScript Dates. Returns null when the text is none of these.
 */
export function parseDateTime(value: unknown): DateTimeParts | null {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return null;
    return {
      year: value.getUTCFullYear(),
      month: value.getUTCMonth() + 1,
      day: value.getUTCDate(),
      hour: value.getUTCHours(),
      minute: value.getUTCMinutes(),
      second: value.getUTCSeconds(),
      micro: value.getUTCMilliseconds() * 1000,
      offsetMinutes: 0,
    };
  }
  if (typeof value !== 'string') return null;
  const text = value.trim();
  // ISO years may carry a sign and more digits; PostgreSQL writes BC years as `0044-03-15 BC`.
  const iso =
    /^([+-]?\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?(\s+BC)?$/i.exec(text);
  // The seed's M/D/YYYY spelling is tried only when the text is not ISO (the common case on the wire).
  const us = iso ? null : /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(AM|PM)?)?$/i.exec(text);
  let parts: DateTimeParts;
  if (iso) {
    const [, y, mo, d, h, mi, s, f, zone, bc] = iso;
    // `0000 BC` and a signed year with BC are no dates.
    if (bc && (/^[+-]/.test(y) || Number(y) === 0)) return null;
    let offset: number | null = null;
    if (zone) {
      if (zone.toUpperCase() === 'Z') offset = 0;
      else {
        const sign = zone.startsWith('-') ? -1 : 1;
        const digits = zone.slice(1).replace(':', '');
        offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
      }
    }
    parts = {
      year: bc ? 1 - Number(y) : Number(y),
      month: Number(mo),
      day: Number(d),
      hour: Number(h ?? 0),
      minute: Number(mi ?? 0),
      second: Number(s ?? 0),
      micro: Number((f ?? '').padEnd(6, '0').slice(0, 6)),
      offsetMinutes: offset,
    };
  } else if (us) {
    const [, mo, d, y, h, mi, s, f, ampm] = us;
    let hour = Number(h ?? 0);
    if (ampm) {
      if (hour < 1 || hour > 12) return null;
      hour = (hour % 12) + (ampm.toUpperCase() === 'PM' ? 12 : 0);
    }
    parts = {
      year: Number(y),
      month: Number(mo),
      day: Number(d),
      hour,
      minute: Number(mi ?? 0),
      second: Number(s ?? 0),
      micro: Number((f ?? '').padEnd(6, '0').slice(0, 6)),
      offsetMinutes: null,
    };
  } else return null;
  // 60 is allowed for a leap second; the target brand decides whether it can hold it.
  if (!checkDate(parts) || parts.hour > 23 || parts.minute > 59 || parts.second > 60) return null;
  return parts;
}

const digitsAt = (text: string, start: number, end: number): number => {
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
};

/**
 * The wire's own spellings of a date or timestamp, read without a regular expression or
 * an intermediate object: `YYYY-MM-DD`, optionally `T` or a space and `HH:MM:SS`, an
 * optional fraction of 1…9 digits and an optional zero offset (`Z`, `+00`, `+00:00`).
 * Returns the date (`sep` null) or `date sep HH:MM:SS.ffffff`, the very text when it is
 * spelled so already, or null for any other spelling (parseDateTime then decides): the
 * same result as parseDateTime and formatting, for the values that travel most.
 */
export function plainDateTime(text: string, sep: 'T' | ' ' | null): string | null {
  const n = text.length;
  if (n < 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return null;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 7);
  const day = digitsAt(text, 8, 10);
  if (year < 0 || month < 1 || month > 12 || day < 1) return null;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (day > (month === 2 && !leap ? 28 : MONTH_DAYS[month - 1])) return null;
  if (n === 10) return sep === null ? text : `${text}${sep}00:00:00.000000`;
  if (n < 19) return null;
  const s = text.charCodeAt(10);
  if ((s !== 84 && s !== 32) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return null;
  const hour = digitsAt(text, 11, 13);
  const minute = digitsAt(text, 14, 16);
  const second = digitsAt(text, 17, 19);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return null;
  let end = 19;
  // The fraction's digits are [19 + 1, fractionEnd); spelled only when the text is not returned as it is.
  let fractionEnd = end;
  if (end < n && text.charCodeAt(end) === 46) {
    let j = end + 1;
    while (j < n && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
    const count = j - end - 1;
    if (count < 1 || count > 9) return null;
    fractionEnd = j;
    end = j;
  }
  const zoned = end < n;
  if (zoned) {
    const zone = n - end === 1 ? text[end] : text.slice(end);
    if (zone !== 'Z' && zone !== '+00' && zone !== '+00:00') return null;
  }
  if (sep === null) return text.slice(0, 10);
  if (!zoned && n === 26 && s === sep.charCodeAt(0)) return text;
  const count = fractionEnd - 20;
  const fraction = count <= 0 ? '000000' : count === 6 ? text.slice(20, fractionEnd) : `${text.slice(20, fractionEnd)}00000`.slice(0, 6);
  return `${text.slice(0, 10)}${sep}${text.slice(11, 19)}.${fraction}`;
}

/**
 * parseDateTime's parts of the spelling a change's time travels in (`YYYY-MM-DD HH:MM:SS.ffffff`,
 * or with `T`: normalizeChangeTime's), read without a regular expression; null for any other text
 * or an invalid date or time of day (parseDateTime then decides). The import reads one per change
 * that carries no clock (a receive-only node's): the regular expression's match arrays were 8 % of
 * a drain's allocations (docs/performance.md, "the nineteenth session").
 */
export function wireDateTimeParts(text: string): DateTimeParts | null {
  if (text.length !== 26 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return null;
  const s = text.charCodeAt(10);
  if ((s !== 84 && s !== 32) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58 || text.charCodeAt(19) !== 46) return null;
  const parts: DateTimeParts = {
    year: digitsAt(text, 0, 4),
    month: digitsAt(text, 5, 7),
    day: digitsAt(text, 8, 10),
    hour: digitsAt(text, 11, 13),
    minute: digitsAt(text, 14, 16),
    second: digitsAt(text, 17, 19),
    micro: digitsAt(text, 20, 26),
    offsetMinutes: null,
  };
  if (parts.year < 0 || parts.hour < 0 || parts.minute < 0 || parts.second < 0 || parts.micro < 0) return null;
  if (!checkDate(parts) || parts.hour > 23 || parts.minute > 59 || parts.second > 60) return null;
  return parts;
}

/** Shifts a wall-clock value with an offset to UTC. */
function toUtc(parts: DateTimeParts): DateTimeParts {
  if (!parts.offsetMinutes) return { ...parts, offsetMinutes: 0 };
  const leap = parts.second === 60 ? 1 : 0;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0…99 as 1900…1999.
  const d = new Date(0);
  d.setUTCFullYear(parts.year, parts.month - 1, parts.day);
  d.setUTCHours(parts.hour, parts.minute - parts.offsetMinutes, parts.second - leap, 0);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds() + leap,
    micro: parts.micro,
    offsetMinutes: 0,
  };
}

const formatDate = (p: DateTimeParts) => `${formatYear(p.year)}-${pad(p.month, 2)}-${pad(p.day, 2)}`;
const formatTime = (p: DateTimeParts) => `${pad(p.hour, 2)}:${pad(p.minute, 2)}:${pad(p.second, 2)}.${pad(p.micro, 6)}`;

/**
 * Why a canonical date or timestamp lies outside AD 1…9999, the range of brands without
 * eras or endless values (MySQL/MariaDB, SQL Server), or null when it lies inside.
 * Those brands park such a change with this reason rather than store another value.
 */
export function outsideCommonEra(value: CanonicalValue): string | null {
  if (typeof value !== 'string') return null;
  const infinite = infiniteDateTime(value);
  if (infinite) return `${infinite} is an endless date (PostgreSQL's ${infinite})`;
  const year = /^([+-]?\d{4,})-/.exec(value);
  if (!year) return null;
  const n = Number(year[1]);
  if (n <= 0) return `${value} is a date BC (ISO year ${n} is ${1 - n} BC)`;
  if (n > 9999) return `${value} is past the year 9999`;
  return null;
}

function canonicalTime(column: ColumnSchema, value: unknown): CanonicalValue {
  if (typeof value === 'string') {
    const m = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(AM|PM)?(?:[+-]\d{2}(?::?\d{2})?)?$/i.exec(value.trim());
    if (m) {
      let hour = Number(m[1]);
      if (m[5]) hour = (hour % 12) + (m[5].toUpperCase() === 'PM' ? 12 : 0);
      const parts = { hour, minute: Number(m[2]), second: Number(m[3] ?? 0), micro: Number((m[4] ?? '').padEnd(6, '0').slice(0, 6)) };
      if (parts.hour <= 24 && parts.minute <= 59 && parts.second <= 60) return formatTime(parts as DateTimeParts);
    }
  }
  throw invalid(column, value, 'is not a time of day (HH:MM:SS[.ffffff])');
}

function canonicalDateTime(column: ColumnSchema, value: unknown): CanonicalValue {
  if (typeof value === 'string') {
    // A zero offset on a zone-less column is dropped, as below; a timestamptz value keeps its trailing Z.
    const plain = plainDateTime(value, column.family === 'date' ? null : 'T');
    if (plain !== null) return column.family === 'timestamptz' ? `${plain}Z` : plain;
  }
  const infinite = infiniteDateTime(value);
  if (infinite) return infinite;
  const parts = parseDateTime(value);
  if (!parts) throw invalid(column, value, `is not a ${column.family === 'date' ? 'date (YYYY-MM-DD)' : 'timestamp (ISO-8601)'}`);
  if (column.family === 'date') return formatDate(parts);
  if (column.family === 'timestamptz') {
    // A zone-less value for a zoned column is read as UTC: the origin writes UTC.
    const utc = toUtc(parts);
    return `${formatDate(utc)}T${formatTime(utc)}Z`;
  }
  // A zone on a zone-less column: keep the wall-clock time as written (what the databases do).
  return `${formatDate(parts)}T${formatTime(parts)}`;
}

function canonicalBinary(column: ColumnSchema, value: unknown): CanonicalValue {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (typeof value === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(value) && value.length % 4 === 0) return value;
  throw invalid(column, value, 'is not binary data (base64)');
}

function canonicalJson(column: ColumnSchema, value: unknown): CanonicalValue {
  if (typeof value === 'string') {
    try {
      JSON.parse(value);
      return value;
    } catch {
      throw invalid(column, value, 'is not valid JSON');
    }
  }
  return JSON.stringify(value);
}

function canonicalText(column: ColumnSchema, value: unknown): CanonicalValue {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  throw invalid(column, value, 'is not text');
}

function canonicalUuid(column: ColumnSchema, value: unknown): CanonicalValue {
  if (typeof value === 'string' && /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(value.trim())) {
    const hex = value.trim().replace(/[{}-]/g, '').toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  if (value instanceof Uint8Array && value.length === 16) return canonicalUuid(column, Buffer.from(value).toString('hex'));
  throw invalid(column, value, 'is not a UUID');
}

const BY_FAMILY: Record<TypeFamily, (column: ColumnSchema, value: unknown) => CanonicalValue> = {
  integer: canonicalInteger,
  bigint: canonicalInteger,
  decimal: canonicalDecimal,
  float: canonicalFloat,
  boolean: canonicalBoolean,
  text: canonicalText,
  date: canonicalDateTime,
  time: canonicalTime,
  timestamp: canonicalDateTime,
  timestamptz: canonicalDateTime,
  binary: canonicalBinary,
  json: canonicalJson,
  uuid: canonicalUuid,
};

/**
 * Brings any value (from a driver, a JSON change, or a parsed SQL literal) to the
 * canonical form of the column's family. Throws ChangeError naming the column when
 * the value cannot be read as that family.
 */
export function toCanonical(column: ColumnSchema, value: unknown): CanonicalValue {
  if (value === null || value === undefined) return null;
  return BY_FAMILY[column.family](column, value);
}

/**
 * A 4-byte float column: its precision in binary digits is 24 or less (PostgreSQL
 * `real`, SQL Server `real`; MySQL/MariaDB `FLOAT`, whose introspection reports 24).
 */
export function isSinglePrecision(column: Pick<ColumnSchema, 'family' | 'precision'>): boolean {
  return column.family === 'float' && column.precision != null && column.precision <= 24;
}

/** The shortest decimal that reads back as the 4-byte float `f` (how PostgreSQL prints a `real`). */
function shortestSingle(f: number): number {
  for (let digits = 1; digits < 9; digits++) {
    const n = Number(f.toPrecision(digits));
    if (Math.fround(n) === f) return n;
  }
  return f;
}

/** The shortest decimal of the 4-byte float nearest to `n`: one spelling per `real` value. */
export function singleValue(n: number): number {
  const f = Math.fround(n);
  return Number.isFinite(f) ? shortestSingle(f) : f;
}

/**
 * The 4-byte float a number is when a `real` column holds it, or null when such a column
 * would round it. A number arrives exactly when it is a 4-byte value already (a MySQL
 * FLOAT read as a double) or the shortest decimal of one (a PostgreSQL real, `0.1`).
 */
export function exactSingle(n: number): number | null {
  if (!Number.isFinite(n)) return n;
  const f = Math.fround(n);
  if (!Number.isFinite(f)) return null;
  return f === n || shortestSingle(f) === n ? f : null;
}

/** Why a 4-byte float column cannot hold `n` exactly. */
export function singleRounding(n: number): string {
  const f = Math.fround(n);
  return Number.isFinite(f)
    ? `${n} has more digits than a 4-byte float keeps (it would become ${shortestSingle(f)})`
    : `${n} is beyond the range of a 4-byte float`;
}

/** Decimal strings compare by value: `12.50` equals `12.5`. */
export function normalizeDecimal(text: string): string {
  if (!/^-?\d*\.?\d*$/.test(text)) return text;
  let [int, frac = ''] = text.replace(/^-/, '').split('.');
  int = int.replace(/^0+(?=\d)/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const sign = text.startsWith('-') && (int !== '0' || frac !== '') ? '-' : '';
  return `${sign}${int}${frac ? `.${frac}` : ''}`;
}

/** True when two values of the column are the same value, whatever their spelling. */
export function sameValue(column: ColumnSchema, a: unknown, b: unknown): boolean {
  const x = toCanonical(column, a);
  const y = toCanonical(column, b);
  if (x === null || y === null) return x === y;
  if (column.family === 'decimal') return normalizeDecimal(String(x)) === normalizeDecimal(String(y));
  if (column.family === 'float') {
    // A 4-byte column compares as 4-byte floats: `0.1` and 0.10000000149011612 are one `real`.
    const [m, n] = isSinglePrecision(column) ? [Math.fround(Number(x)), Math.fround(Number(y))] : [Number(x), Number(y)];
    return m === n || (Number.isNaN(m) && Number.isNaN(n));
  }
  if (column.family === 'json') {
    try {
      return JSON.stringify(JSON.parse(String(x))) === JSON.stringify(JSON.parse(String(y)));
    } catch {
      return x === y;
    }
  }
  return x === y;
}
