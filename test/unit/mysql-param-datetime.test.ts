/**
 * mysqlParam's short way for dates and timestamps (the spellings plainDateTime reads) against
 * the long one it replaced: toCanonical, then the common-era check, then the SQL spelling and
 * the fraction check, each as mysql-sql.ts did them. Seeded: the seed is printed, and
 * DSYNC_SEED replays a run.
 */
import { describe, expect, it } from 'vitest';
import { outsideCommonEra, toCanonical } from '../../src/core/canonical.ts';
import type { ColumnSchema, TypeFamily } from '../../src/core/schema.ts';
import { sqlTimestampText } from '../../src/core/utc-time.ts';
import { mysqlParam } from '../../src/dialects/mysql/mysql-sql.ts';
import { random } from '../helpers/random.ts';

const col = (family: TypeFamily, precision: number): ColumnSchema => ({
  name: 'c',
  family,
  nativeType: family === 'date' ? 'date' : `datetime(${precision})`,
  nullable: true,
  default: null,
  precision,
});

/** The long way, as mysqlParam took it for every date and timestamp before the short way. */
function longWay(column: ColumnSchema, value: string): unknown {
  const canonical = toCanonical(column, value);
  if (canonical === null) return null;
  const outside = outsideCommonEra(canonical);
  if (outside) throw new Error(`column c (${column.nativeType}): ${outside}, which MySQL/MariaDB cannot store`);
  if (column.family === 'date') return canonical;
  const text = sqlTimestampText(String(canonical));
  const micro = text.split('.')[1] ?? '';
  if (/[1-9]/.test(micro.slice(column.precision ?? 0))) throw new Error(`fraction .${micro} beyond ${column.precision}`);
  return text;
}

/** What a call gives: its value, or that it failed (the messages differ only in wording here). */
const outcome = (f: () => unknown) => {
  try {
    return { value: f() };
  } catch (error) {
    return {
      error: (error as Error).message.includes('cannot store')
        ? 'era'
        : (error as Error).message.includes('beyond') || (error as Error).message.includes('fractional')
          ? 'fraction'
          : 'invalid',
    };
  }
};

describe('mysqlParam, dates and timestamps', () => {
  const seed = Number(process.env.DSYNC_SEED ?? Date.now() % 1_000_000);
  const rand = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const digits = (n: number) => Array.from({ length: n }, () => String(Math.floor(rand() * 10))).join('');
  const two = (max: number) => String(Math.floor(rand() * (max + 2))).padStart(2, '0');

  /** A spelling near the common ones: valid, off by a field, zoned, with any fraction length. */
  function spelling(): string {
    const year = pick(['0000', '0001', '1999', '2000', '2024', '2100', '9999', digits(4), '+2024', '-0001', '12345']);
    const date = `${year}-${pick([two(12), '02', '13', '00'])}-${pick([two(31), '29', '30', '31', '00'])}`;
    if (rand() < 0.15) return date;
    const sep = pick(['T', ' ', 't', '_']);
    const time = `${pick([two(23), '24'])}:${pick([two(59), '60'])}:${pick([two(59), '60', '61'])}`;
    const fraction = rand() < 0.3 ? '' : `.${digits(pick([0, 1, 3, 6, 6, 6, 7, 9, 10]))}`;
    const zone = pick(['', '', '', 'Z', '+00', '+00:00', '+02:00', '-05', ' ', 'z']);
    return `${date}${sep}${time}${fraction}${zone}`;
  }

  it(`gives what the long way gives, value or failure (seed ${seed})`, () => {
    console.log(`mysqlParam dates and timestamps: seed ${seed} (DSYNC_SEED=${seed} replays it)`);
    const columns = [col('date', 0), ...[0, 3, 6].flatMap((p) => [col('timestamp', p), col('timestamptz', p)])];
    let compared = 0;
    for (let i = 0; i < 5000; i++) {
      const value = spelling();
      for (const column of columns) {
        const fast = outcome(() => mysqlParam(column, value));
        const slow = outcome(() => longWay(column, value));
        expect({ value, family: column.family, precision: column.precision, ...fast }).toEqual({
          value,
          family: column.family,
          precision: column.precision,
          ...slow,
        });
        compared++;
      }
    }
    expect(compared).toBe(5000 * 7);
  });

  it('takes the short way for the spellings that travel most', () => {
    const ts = col('timestamp', 6);
    expect(mysqlParam(ts, '2025-06-25T10:30:00.500001')).toBe('2025-06-25 10:30:00.500001');
    expect(mysqlParam(ts, '2025-06-25 10:30:00.500001')).toBe('2025-06-25 10:30:00.500001');
    expect(mysqlParam(col('timestamptz', 6), '2025-06-25T10:30:00.000000Z')).toBe('2025-06-25 10:30:00.000000');
    expect(() => mysqlParam(col('timestamp', 3), '2025-06-25T10:30:00.000100')).toThrow(/fractional-second/);
    expect(() => mysqlParam(ts, '0000-06-25T10:30:00.000000')).toThrow(/BC/);
    expect(() => mysqlParam(col('date', 0), '0000-01-01')).toThrow(/BC/);
    expect(mysqlParam(col('date', 0), '2024-02-29')).toBe('2024-02-29');
  });
});
