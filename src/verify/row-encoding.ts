/**
 * One text per value for comparing rows across brands: the canonical wire encoding
 * (core/canonical.ts), with the spellings that mean the same value made equal, as
 * `sameValue` decides: `12.50` and `12.5`, `1e3` and `1000.0` for floats, JSON with
 * other whitespace or key order, a fixed-length `char(n)` with or without its padding
 * (PostgreSQL pads, SQLite keeps what was written). Two values compare equal exactly
 * when their texts do, which is what lets a segment be compared by one hash. Texts are
 * self-delimiting (strings carry their length), so joined texts never collide.
 */
import { type CanonicalValue, isSinglePrecision, normalizeDecimal, singleValue } from '../core/canonical.ts';
import type { Dialect } from '../core/dialect.ts';
import type { ColumnSchema } from '../core/schema.ts';

function sortedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortedJson((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** `char(n)`, `character(n)`, `nchar(n)`, `bpchar`: blank-padded types. */
const FIXED_CHAR = /^(n?char|character|bpchar)(\s*\(|$)/i;

/** A self-delimiting token: N for null, T/F, D<number>, S<length>:<text>. */
function token(value: CanonicalValue): string {
  if (value === null) return 'N';
  if (typeof value === 'boolean') return value ? 'T' : 'F';
  if (typeof value === 'number') return `D${value}`;
  return `S${value.length}:${value}`;
}

/** Turns a canonical value of one column into its comparable text. */
export type ValueEncoder = (value: CanonicalValue) => string;

/** The comparable text of a canonical value of `column`. */
export function comparableEncoder(column: ColumnSchema): ValueEncoder {
  switch (column.family) {
    case 'decimal':
      return (v) => (v === null ? 'N' : token(normalizeDecimal(String(v))));
    case 'float':
      return (v) => {
        if (v === null) return 'N';
        // A 4-byte column's value as its shortest decimal: `0.1` and 0.10000000149011612 are one real.
        const n = isSinglePrecision(column) ? singleValue(Number(v)) : Number(v);
        return Number.isFinite(n) ? `D${n}` : token(String(n));
      };
    case 'json':
      return (v) => {
        if (v === null) return 'N';
        try {
          return token(JSON.stringify(sortedJson(JSON.parse(String(v)))));
        } catch {
          return token(String(v));
        }
      };
    case 'text':
      return FIXED_CHAR.test(column.nativeType) ? (v) => (typeof v === 'string' ? token(v.replace(/ +$/, '')) : token(v)) : token;
    default:
      return token;
  }
}

/**
 * A driver value of `column` straight to its comparable text. Date and time values in
 * the ISO shape every driver here returns are brought to canonical form by slicing,
 * the same result as `dialect.fromDriver` gives (tested), without its general parser;
 * anything else goes through `fromDriver`.
 */
export function driverEncoder(dialect: Dialect, column: ColumnSchema): (raw: unknown) => string {
  const encode = comparableEncoder(column);
  const general = (raw: unknown) => encode(dialect.fromDriver(column, raw));
  if (column.family === 'date') {
    return (raw) => (typeof raw === 'string' && ISO_DATE.test(raw) ? token(raw) : general(raw));
  }
  if (column.family === 'timestamp') {
    return (raw) => {
      if (typeof raw !== 'string') return general(raw);
      const m = ISO_TIMESTAMP.exec(raw);
      return m ? token(`${m[1]}T${m[2]}.${(m[3] ?? '').padEnd(6, '0')}`) : general(raw);
    };
  }
  if (column.family === 'text') return (raw) => (typeof raw === 'string' ? encode(raw) : general(raw));
  return general;
}

const ISO_DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const ISO_TIMESTAMP = /^(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01]))[ T]((?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d)(?:\.(\d{1,6}))?$/;
