/**
 * type_zoo (test/fixtures' schema) on MySQL/MariaDB: its columns, and a seeded random value for
 * each, NULLs, extremes and odd text included; shared by the MySQL capture suites.
 */
import { oddText } from './random.ts';

export const ZOO_COLUMNS = [
  'c_smallint',
  'c_int',
  'c_bigint',
  'c_decimal',
  'c_float',
  'c_real',
  'c_bool',
  'c_char',
  'c_varchar',
  'c_text',
  'c_date',
  'c_time',
  'c_timestamp',
  'c_timestamptz',
  'c_bytea',
  'c_json',
  'c_uuid',
];

export function zooValue(next: () => number, column: string): unknown {
  if (next() < 0.15) return null;
  const int = (n: number) => Math.floor(next() * n);
  const two = (n: number) => String(n).padStart(2, '0');
  switch (column) {
    case 'c_smallint':
      return int(65536) - 32768;
    case 'c_int':
      return int(2 ** 31) - 2 ** 30;
    case 'c_bigint':
      return next() < 0.5 ? String(BigInt(int(2 ** 31)) * BigInt(int(2 ** 31)) * (next() < 0.5 ? -1n : 1n)) : String(int(100));
    case 'c_decimal':
      return `${next() < 0.5 ? '-' : ''}${int(1e9)}.${String(int(1e6)).padStart(6, '0')}`;
    case 'c_float':
      return next() < 0.3 ? 0.1 : (next() - 0.5) * 10 ** int(30);
    case 'c_real':
      return [1.5, -0.25, 3, 1e10][int(4)];
    case 'c_bool':
      return int(2);
    case 'c_char':
      return ['ab', 'A', 'x y', '中文', ''][int(5)];
    case 'c_varchar':
      return oddText(next, 20);
    case 'c_text':
      return next() < 0.2 ? 'y'.repeat(int(3000)) : oddText(next, 40);
    case 'c_date':
      return `${1900 + int(200)}-${two(1 + int(12))}-${two(1 + int(28))}`;
    case 'c_time':
      return `${two(int(24))}:${two(int(60))}:${two(int(60))}.${String(int(1e6)).padStart(6, '0')}`;
    case 'c_timestamp':
      return `${1970 + int(60)}-${two(1 + int(12))}-${two(1 + int(28))} ${two(int(24))}:${two(int(60))}:${two(int(60))}.${String(int(1e6)).padStart(6, '0')}`;
    case 'c_timestamptz':
      return `${1980 + int(50)}-${two(1 + int(12))}-${two(1 + int(28))} ${two(int(24))}:${two(int(60))}:${two(int(60))}.${String(int(1e6)).padStart(6, '0')}`;
    case 'c_bytea':
      return Buffer.from(Array.from({ length: int(100) }, () => int(256)));
    case 'c_json':
      return JSON.stringify({ a: int(10), s: oddText(next, 5) });
    default:
      return ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-0000-4000-8000-123456789ABC'][
        int(3)
      ];
  }
}
