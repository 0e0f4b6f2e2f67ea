import { describe, expect, it } from 'vitest';
import {
  exactSingle,
  outsideCommonEra,
  parseDateTime,
  plainDateTime,
  sameValue,
  singleRounding,
  toCanonical,
  wireDateTimeParts,
} from '../../src/core/canonical.ts';
import type { ColumnSchema, TypeFamily } from '../../src/core/schema.ts';
import { random as seeded } from '../helpers/random.ts';

/** A seeded generator for a randomized test (the seed printed; DSYNC_TEST_SEED repeats a run), with a pick from a list and zero-padded numbers. */
function seededTexts(name: string) {
  const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
  console.log(`${name} randomized: seed ${seed} (DSYNC_TEST_SEED=${seed} repeats it)`);
  const random = seeded(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  const num = (max: number, w: number) => String(Math.floor(random() * max)).padStart(w, '0');
  return { random, pick, num };
}

const col = (family: TypeFamily, name = 'c'): ColumnSchema => ({ name, family, nativeType: family, nullable: true, default: null });

describe('toCanonical', () => {
  it('keeps integers exact: numbers while safe, strings beyond 2^53', () => {
    expect(toCanonical(col('bigint'), 9007199254740991n)).toBe(9007199254740991);
    expect(toCanonical(col('bigint'), '9007199254740993')).toBe('9007199254740993');
    expect(toCanonical(col('bigint'), -9007199254740993n)).toBe('-9007199254740993');
    expect(toCanonical(col('integer'), ' 100 ')).toBe(100);
    expect(() => toCanonical(col('integer'), 1.5)).toThrow(/column c \(integer\): 1.5 is not a whole number/);
    expect(() => toCanonical(col('integer'), 'abc')).toThrow(/is not an integer/);
  });

  it('keeps decimals as strings, digits untouched', () => {
    expect(toCanonical(col('decimal'), '12345678901234567890.123456')).toBe('12345678901234567890.123456');
    expect(toCanonical(col('decimal'), 0.1)).toBe('0.1');
    expect(toCanonical(col('decimal'), '+1.50')).toBe('1.50');
    expect(() => toCanonical(col('decimal'), '1,5')).toThrow(/is not a decimal number/);
  });

  it('reads booleans from the spellings brands use', () => {
    for (const t of [true, 1, 't', 'TRUE', 'yes', '1']) expect(toCanonical(col('boolean'), t)).toBe(true);
    for (const f of [false, 0, 'f', 'false', 'no', '0']) expect(toCanonical(col('boolean'), f)).toBe(false);
    expect(() => toCanonical(col('boolean'), 'maybe')).toThrow(/is not a boolean/);
  });

  it('reads dates and timestamps, the seed spelling included', () => {
    expect(toCanonical(col('date'), '5/25/2025')).toBe('2025-05-25');
    expect(toCanonical(col('timestamp'), '06/25/2025  10:30:00 AM')).toBe('2025-06-25T10:30:00.000000');
    expect(toCanonical(col('timestamp'), '06/25/2025 12:05 AM')).toBe('2025-06-25T00:05:00.000000');
    expect(toCanonical(col('timestamp'), '2025-06-25 10:30:00.5')).toBe('2025-06-25T10:30:00.500000');
    expect(toCanonical(col('timestamp'), '1900-01-01T00:00:00.000001')).toBe('1900-01-01T00:00:00.000001');
    expect(toCanonical(col('timestamptz'), '2025-06-25 10:30:00+02')).toBe('2025-06-25T08:30:00.000000Z');
    expect(toCanonical(col('timestamptz'), '2025-01-01T00:30:00+01:00')).toBe('2024-12-31T23:30:00.000000Z');
    expect(toCanonical(col('timestamptz'), '2016-12-31T23:59:60Z')).toBe('2016-12-31T23:59:60.000000Z');
    expect(toCanonical(col('time'), '10:30')).toBe('10:30:00.000000');
    expect(toCanonical(col('time'), '10:30:00.123456789')).toBe('10:30:00.123456');
    expect(() => toCanonical(col('date'), '2025-02-30')).toThrow(/is not a date/);
    expect(() => toCanonical(col('date'), '2023-02-29')).toThrow(/is not a date/);
    expect(toCanonical(col('date'), '2024-02-29')).toBe('2024-02-29');
    expect(() => toCanonical(col('timestamp'), 'tbd')).toThrow(/is not a timestamp/);
  });

  it('keeps endless dates and timestamps as "infinity" / "-infinity" (PostgreSQL), never NULL', () => {
    for (const family of ['date', 'timestamp', 'timestamptz'] as TypeFamily[]) {
      expect(toCanonical(col(family), 'infinity')).toBe('infinity');
      expect(toCanonical(col(family), '+Infinity')).toBe('infinity');
      expect(toCanonical(col(family), '-infinity')).toBe('-infinity');
      expect(sameValue(col(family), 'infinity', '-infinity')).toBe(false);
    }
    expect(() => toCanonical(col('time'), 'infinity')).toThrow(/is not a time/);
  });

  it('writes BC dates as signed ISO years (44 BC is -0043, 1 BC is 0000), reading PostgreSQL\'s "BC" spelling', () => {
    expect(toCanonical(col('date'), '0044-03-15 BC')).toBe('-0043-03-15');
    expect(toCanonical(col('date'), '-0043-03-15')).toBe('-0043-03-15');
    expect(toCanonical(col('date'), '0001-12-31 BC')).toBe('0000-12-31');
    expect(toCanonical(col('date'), '4713-01-01 BC')).toBe('-4712-01-01');
    expect(toCanonical(col('timestamp'), '0044-03-15 12:30:00.5 BC')).toBe('-0043-03-15T12:30:00.500000');
    expect(toCanonical(col('timestamptz'), '0044-03-15 12:30:00+00 BC')).toBe('-0043-03-15T12:30:00.000000Z');
    expect(toCanonical(col('timestamptz'), '0001-01-01 00:30:00+01 AD'.replace(' AD', ''))).toBe('0000-12-31T23:30:00.000000Z');
    expect(toCanonical(col('date'), '10000-01-01')).toBe('+10000-01-01');
    expect(toCanonical(col('timestamp'), '+294276-12-31T23:59:59.999999')).toBe('+294276-12-31T23:59:59.999999');
    // ISO year 0 (1 BC) is a leap year; 0000 BC is no year.
    expect(toCanonical(col('date'), '0000-02-29')).toBe('0000-02-29');
    expect(() => toCanonical(col('date'), '0000-03-15 BC')).toThrow(/is not a date/);
    expect(() => toCanonical(col('date'), '0001-02-29')).toThrow(/is not a date/);
    expect(sameValue(col('date'), '0044-03-15 BC', '-0043-03-15')).toBe(true);
    expect(sameValue(col('date'), '0044-03-15', '-0043-03-15')).toBe(false);
  });

  it('shifts zoned timestamps of the years 0…99 within their own century', () => {
    expect(toCanonical(col('timestamptz'), '0044-03-15 00:30:00+01')).toBe('0044-03-14T23:30:00.000000Z');
  });

  it('says why a date lies outside AD 1…9999 (brands without eras park it)', () => {
    expect(outsideCommonEra('infinity')).toMatch(/endless/);
    expect(outsideCommonEra('-0043-03-15')).toMatch(/44 BC/);
    expect(outsideCommonEra('+10000-01-01T00:00:00.000000')).toMatch(/9999/);
    expect(outsideCommonEra('0001-01-01')).toBeNull();
    expect(outsideCommonEra('9999-12-31T23:59:59.999999Z')).toBeNull();
  });

  it('encodes binary as base64, json as its text, uuids lowercase', () => {
    expect(toCanonical(col('binary'), Buffer.from([0, 255]))).toBe('AP8=');
    expect(() => toCanonical(col('binary'), 'not base64!')).toThrow(/is not binary data/);
    expect(toCanonical(col('json'), { a: 1 })).toBe('{"a":1}');
    expect(() => toCanonical(col('json'), '{nope')).toThrow(/is not valid JSON/);
    expect(toCanonical(col('uuid'), '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}')).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  });

  it('passes NULL through for every family', () => {
    for (const family of ['integer', 'text', 'date', 'binary', 'json'] as TypeFamily[]) expect(toCanonical(col(family), null)).toBeNull();
  });
});

describe('sameValue', () => {
  it('compares by value, not spelling', () => {
    expect(sameValue(col('decimal'), '12.50', '12.5')).toBe(true);
    expect(sameValue(col('decimal'), '-0.0', '0')).toBe(true);
    expect(sameValue(col('decimal'), '12.51', '12.5')).toBe(false);
    expect(sameValue(col('json'), '{"a": 1}', '{"a":1}')).toBe(true);
    expect(sameValue(col('timestamp'), '2025-06-25 10:30:00', '2025-06-25T10:30:00.000000')).toBe(true);
    expect(sameValue(col('text'), 'a', 'a ')).toBe(false);
    expect(sameValue(col('text'), null, '')).toBe(false);
  });
});

describe('4-byte floats', () => {
  const real = { ...col('float'), nativeType: 'real', precision: 24 };

  it('hold a number exactly when it is a 4-byte value or its shortest decimal, and say why not otherwise', () => {
    expect(exactSingle(0.1)).toBe(Math.fround(0.1)); // PostgreSQL prints real 0.1f as 0.1
    expect(exactSingle(0.10000000149011612)).toBe(Math.fround(0.1)); // MySQL FLOAT read as a double
    expect(exactSingle(3.4028235e38)).toBe(3.4028234663852886e38); // the largest real, as PostgreSQL prints it
    expect(exactSingle(1e-45)).toBe(1.401298464324817e-45);
    expect(exactSingle(0.1234567890123)).toBeNull();
    expect(exactSingle(1e39)).toBeNull();
    expect(exactSingle(Number.NaN)).toBeNaN();
    expect(singleRounding(0.1234567890123)).toBe('0.1234567890123 has more digits than a 4-byte float keeps (it would become 0.12345679)');
  });

  it('compare as 4-byte values in a 4-byte column, as doubles otherwise', () => {
    expect(sameValue(real, 0.1, 0.10000000149011612)).toBe(true);
    expect(sameValue(col('float'), 0.1, 0.10000000149011612)).toBe(false);
    expect(sameValue(real, 0.1, 0.2)).toBe(false);
  });
});

describe('parseDateTime', () => {
  it('rejects what is not a date', () => {
    expect(parseDateTime('13/01/2025')).toBeNull();
    expect(parseDateTime('2025-06-25 24:00:00')).toBeNull();
    expect(parseDateTime(42)).toBeNull();
  });
});

describe('plainDateTime (the fast reader of the wire spellings)', () => {
  const p2 = (n: number, w = 2) => String(n).padStart(w, '0');
  /** What parseDateTime and the canonical formatting make of `text`, for a zero or absent offset. */
  const reference = (text: string, sep: 'T' | ' ' | null): string | null => {
    const parts = parseDateTime(text);
    if (!parts) return null;
    const date = `${p2(parts.year, 4)}-${p2(parts.month)}-${p2(parts.day)}`;
    if (sep === null) return date;
    return `${date}${sep}${p2(parts.hour)}:${p2(parts.minute)}:${p2(parts.second)}.${p2(parts.micro, 6)}`;
  };

  it('reads the spellings that travel most, the canonical one as the very text', () => {
    const canonical = '2025-01-01T00:00:01.000000';
    expect(plainDateTime(canonical, 'T')).toBe(canonical);
    expect(plainDateTime('2025-01-01 00:00:01', ' ')).toBe('2025-01-01 00:00:01.000000');
    expect(plainDateTime('2025-01-01 00:00:01.5', 'T')).toBe('2025-01-01T00:00:01.500000');
    expect(plainDateTime('2025-01-01 00:00:01.123456789+00', 'T')).toBe('2025-01-01T00:00:01.123456');
    expect(plainDateTime('2024-02-29', null)).toBe('2024-02-29');
    expect(plainDateTime('2024-02-29', 'T')).toBe('2024-02-29T00:00:00.000000');
    expect(toCanonical(col('timestamptz'), '2025-01-01 00:00:01+00')).toBe('2025-01-01T00:00:01.000000Z');
    expect(toCanonical(col('timestamptz'), '2025-01-01 02:00:01+02')).toBe('2025-01-01T00:00:01.000000Z');
    for (const other of [
      '2023-02-29',
      '2025-13-01',
      '2025-01-01 24:00:00',
      '2025-01-01T10:00:00+02',
      ' 2025-01-01',
      '+2025-01-01',
      '2025-01-01 10:00',
    ])
      expect(plainDateTime(other, 'T')).toBeNull();
  });

  it('agrees with parseDateTime on every text it reads (randomized)', () => {
    const { random, pick, num } = seededTexts('plainDateTime');
    let read = 0;
    for (let i = 0; i < 20000; i++) {
      const date = `${pick([num(10000, 4), '0000', '2024', '1900', '2000', num(100, 3)])}-${pick([num(14, 2), '02', '12'])}-${pick([num(32, 2), '29', '28', '31', '30'])}`;
      const time = pick(['', `${pick(['T', ' ', 't', '  '])}${num(26, 2)}:${num(61, 2)}:${pick([num(62, 2), '60'])}`]);
      const fraction = time ? pick(['', '', `.${'123456789'.slice(0, Math.floor(random() * 11))}`]) : '';
      const zone = time ? pick(['', '', 'Z', 'z', '+00', '+00:00', '-00', '+02', '-05:30', ' ', ' BC']) : pick(['', ' BC', ' ']);
      const text = `${date}${time}${fraction}${zone}`;
      for (const sep of ['T', ' ', null] as const) {
        const plain = plainDateTime(text, sep);
        if (plain === null) continue;
        read++;
        expect(parseDateTime(text)?.offsetMinutes ?? 0, text).toBe(0);
        expect(plain, text).toBe(reference(text, sep));
      }
    }
    expect(read).toBeGreaterThan(1000);
  });
});

describe('wireDateTimeParts (a change time read without a regular expression)', () => {
  it('reads the wire spelling as parseDateTime does, and leaves every other text to it (randomized)', () => {
    const { random, pick, num } = seededTexts('wireDateTimeParts');
    let read = 0;
    let left = 0;
    for (let i = 0; i < 20000; i++) {
      const month = pick([String(1 + Math.floor(random() * 12)).padStart(2, '0'), '02', '12', num(14, 2)]);
      const day = pick([String(1 + Math.floor(random() * 28)).padStart(2, '0'), '29', '31', '30', num(32, 2)]);
      const date = `${pick([num(10000, 4), num(10000, 4), '0000', '0099', '2024', '1900', num(100, 3), '+202'])}-${month}-${day}`;
      const time = `${pick(['T', ' ', ' ', 'T', 't', '_'])}${pick([num(24, 2), num(26, 2)])}:${pick([num(60, 2), num(61, 2)])}:${pick([num(60, 2), num(62, 2), '60'])}`;
      const fraction =
        pick(['.', '.', '.', '.', ',', ':'] as const) +
        pick([num(1_000_000, 6), num(1_000_000, 6), '12345', '1234567', '12a456', '999999']);
      const tail = pick(['', '', '', '', 'Z', ' ', '+00']);
      const text = `${date}${time}${fraction}${tail}`;
      const fast = wireDateTimeParts(text);
      if (fast === null) {
        left++;
        continue;
      }
      read++;
      expect(fast, text).toEqual(parseDateTime(text));
    }
    expect(read, 'texts read').toBeGreaterThan(1000);
    expect(left, 'texts left to parseDateTime').toBeGreaterThan(1500);
    for (const other of [
      '2023-02-29T00:00:00.000000',
      '2025-01-01 24:00:00.000000',
      '2025-01-01T10:00:00.00000Z',
      ' 2025-01-01T10:00:00.00000',
    ])
      expect(wireDateTimeParts(other), other).toBeNull();
    expect(wireDateTimeParts('2024-02-29 23:59:60.000001')).toEqual(parseDateTime('2024-02-29 23:59:60.000001'));
  });
});
