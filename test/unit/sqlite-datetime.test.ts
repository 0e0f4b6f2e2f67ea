/**
 * Tries to break the capture triggers' date/time JSON on SQLite (`sqliteJsonValue` of a date,
 * time, timestamp or timestamptz column): over many seeded random values of every shape the
 * old nested sub-select parse accepted, and of shapes just beside them (a piece too short,
 * a wrong separator, a stray character, a NUL, a non-ASCII letter, another storage class),
 * it must give exactly what that parse gave (test/helpers/sqlite-datetime-reference.ts).
 * Both run inside a real trigger, as capture runs them, on in-memory SQLite. A failure
 * prints the seed: `DSYNC_DATETIME_SEED=<seed> npx vitest run test/unit/sqlite-datetime.test.ts`.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { ColumnSchema, TypeFamily } from '../../src/core/schema.ts';
import { sqliteJsonValue } from '../../src/dialects/sqlite/sqlite-sql.ts';
import { random } from '../helpers/random.ts';
import { referenceDateTimeJson } from '../helpers/sqlite-datetime-reference.ts';

const FAMILIES = ['date', 'time', 'timestamp', 'timestamptz'] as const;
const column = (family: TypeFamily): ColumnSchema => ({
  name: `c_${family}`,
  family,
  nativeType: family.toUpperCase(),
  nullable: true,
  default: null,
});

/** A table whose trigger writes, per row and family, the new expression's JSON and the reference's. */
function openProbe(): Database.Database {
  const db = new Database(':memory:');
  // No declared type: the column keeps each value in the storage class it was written in.
  db.exec(`CREATE TABLE src (id INTEGER PRIMARY KEY, ${FAMILIES.map((f) => `c_${f}`).join(', ')});
    CREATE TABLE out (id INTEGER, family TEXT, got TEXT, want TEXT);
    CREATE TRIGGER src_ins AFTER INSERT ON src BEGIN
    ${FAMILIES.map(
      (f) => `INSERT INTO out VALUES (NEW.id, '${f}', ${sqliteJsonValue(column(f), 'NEW')}, ${referenceDateTimeJson(f, `NEW.c_${f}`)});`,
    ).join('\n')}
    END;`);
  return db;
}

const pick = <T>(next: () => number, items: readonly T[]): T => items[Math.floor(next() * items.length)];
const digits = (next: () => number, n: number) => Array.from({ length: n }, () => Math.floor(next() * 10)).join('');
const pad = (x: number, n: number) => String(x).padStart(n, '0');

/** One value of the shapes the parse reads, or a near miss of one. */
function randomValue(next: () => number): unknown {
  const r = next();
  if (r < 0.04) return pick(next, [null, 0, 20240102, -1, 1.5, 1e300, Buffer.from('2024-01-02'), Buffer.from([0xff, 0]), 2n ** 62n]);
  const year = next() < 0.1 ? pick(next, ['0000', '9999', '0001', '1969', '20x4', '202', '2024']) : pad(Math.floor(next() * 10000), 4);
  const month = next() < 0.15 ? pick(next, ['00', '13', '1', '1a', '02']) : pad(1 + Math.floor(next() * 12), 2);
  const day = next() < 0.15 ? pick(next, ['00', '29', '30', '31', '32', '5']) : pad(1 + Math.floor(next() * 28), 2);
  const date = `${year}-${month}-${day}`;
  const hour = next() < 0.15 ? pick(next, ['24', '29', '30', '9', 'ab', '-1']) : pad(Math.floor(next() * 24), 2);
  const minute = next() < 0.1 ? pick(next, ['60', '5', '99']) : pad(Math.floor(next() * 60), 2);
  const second = next() < 0.1 ? pick(next, ['60', '69', '70', '5', 'x1']) : pad(Math.floor(next() * 60), 2);
  const colon = next() < 0.05 ? pick(next, ['.', '-', '', ' ']) : ':';
  let time = `${hour}${colon}${minute}`;
  if (next() < 0.7) time += `${next() < 0.05 ? pick(next, ['.', ' ', '']) : ':'}${second}`;
  const fraction = next();
  if (fraction < 0.15) time += '.';
  else if (fraction < 0.2) time += `.${pick(next, ['x', ' 1', '+1', 'é'])}`;
  else if (fraction < 0.7) time += `.${digits(next, 1 + Math.floor(next() * 10))}`;
  const zone = next();
  if (zone < 0.45) {
    const sign = pick(next, ['+', '-', '+', '-', '±', ' ']);
    const hh = pad(Math.floor(next() * 16), 2);
    const mm = pick(next, ['00', '30', '45', '5', '99']);
    const spaces = pick(next, ['', '', '', ' ', '  ', '\t']);
    time += `${spaces}${pick(next, ['Z', 'z', 'UTC', `${sign}${hh}`, `${sign}${hh}${mm}`, `${sign}${hh}:${mm}`, `${sign}${hh}:`, `${sign}${hh}${mm}0`, ''])}`;
    if (next() < 0.05) time += pick(next, [' ', 'Z', '0']);
  }
  const shape = next();
  let value =
    shape < 0.15
      ? date
      : shape < 0.4
        ? time
        : `${date}${next() < 0.1 ? pick(next, ['t', '', '  ', '_', 'TT']) : pick(next, [' ', 'T'])}${time}`;
  const mutation = next();
  if (mutation < 0.04) value = value.slice(0, Math.floor(next() * (value.length + 1)));
  else if (mutation < 0.08) {
    const at = Math.floor(next() * (value.length + 1));
    value = value.slice(0, at) + pick(next, ['\0', 'é', '😀', ' ', '0', ':', '.', 'T', '%', '_', '*', '[']) + value.slice(at);
  } else if (mutation < 0.1) {
    const at = Math.floor(next() * value.length);
    value = value.slice(0, at) + pick(next, ['9', 'a', ' ', '\0']) + value.slice(at + 1);
  } else if (mutation < 0.12) value = ` ${value}`;
  else if (mutation < 0.14) value = `${value} `;
  return value;
}

/** Hand-picked edges, next to the random ones. */
const EDGES: unknown[] = [
  '2024-01-02',
  '2024-01-02 03:04',
  '2024-01-02T03:04:05',
  '2024-01-02 03:04:05.000',
  '2024-01-02 03:04:05.1234567',
  '2024-01-02 03:04:05.',
  '2024-01-02 03:04:05.Z',
  '2024-01-02 03:04:05Z',
  '2024-01-02 03:04:05 z',
  '2024-01-02 03:04:05.5+0530',
  '2024-01-02 03:04:05-02',
  '2024-01-02 03:04:05 +01:00',
  '2024-01-02 03:04:05+01:00 ',
  '2024-01-02 03:04:05+1',
  '2024-01-02 03:04:05+05:3',
  '2024-01-02 29:59:69',
  '2024-02-30 03:04:05',
  '2024-02-29',
  '2023-02-29',
  '0000-01-01 00:30:00+01:00',
  '9999-12-31 23:59:59-01:00',
  '2024-01-02 ',
  '2024-01-02T',
  '2024-01-02t03:04:05',
  '2024-01-0203:04:05',
  '2024-01-02\u000003:04:05',
  '2024-01-02 03:04:05\u0000junk',
  '2024-01-02 03:04:05.12\u0000x',
  '2024-01-02\u0000',
  '10:11',
  '10:11:12',
  '10:11:12.5',
  '10:11:12.654321',
  '10:11:12.6543210',
  '10:71:12',
  '10:11:1',
  '10:11:',
  '10:11Z',
  '10:11:12+05',
  '1:11:12',
  '',
  ' ',
  'now',
  null,
  42,
  4.5,
  Buffer.from('10:11:12'),
];

describe('sqlite date/time JSON', () => {
  it('gives what the nested sub-select parse gave, for random values of every shape it reads and beside them', () => {
    const seed = Number(process.env.DSYNC_DATETIME_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`sqlite date/time seed ${seed} (replay: DSYNC_DATETIME_SEED=${seed})`);
    const next = random(seed);
    const db = openProbe();
    try {
      const values = [...EDGES, ...Array.from({ length: 20000 }, () => randomValue(next))];
      const insert = db.prepare(`INSERT INTO src VALUES (?, ?, ?, ?, ?)`);
      db.transaction(() => {
        for (const [i, v] of values.entries()) insert.run(i, v, v, v, v);
      })();
      const rows = db.prepare('SELECT id, family, got, want FROM out').all() as Array<{
        id: number;
        family: string;
        got: string;
        want: string;
      }>;
      expect(rows.length).toBe(values.length * FAMILIES.length);
      const wrong = rows.filter((r) => r.got !== r.want).map((r) => ({ seed, value: values[r.id], ...r }));
      expect(wrong.slice(0, 5)).toEqual([]);
      // The values reach every outcome: normalized and passed through, in every family.
      for (const family of FAMILIES) {
        const mine = rows.filter((r) => r.family === family);
        const normalized = mine.filter((r) => {
          const v = values[r.id];
          return typeof v === 'string' && r.got !== JSON.stringify(v);
        });
        expect([family, normalized.length > 1000, mine.length - normalized.length > 1000]).toEqual([family, true, true]);
      }
    } finally {
      db.close();
    }
  });

  it('compiles to far fewer registers than the nested parse did', () => {
    const db = openProbe();
    try {
      // A trigger's program is set up per row in proportion to its registers: count the
      // highest register each of the two expressions' triggers uses, alone.
      const registers = (expression: (f: (typeof FAMILIES)[number]) => string) => {
        db.exec(`DROP TRIGGER src_ins; CREATE TRIGGER src_ins AFTER INSERT ON src BEGIN
          ${FAMILIES.map((f) => `INSERT INTO out VALUES (NEW.id, '${f}', ${expression(f)}, NULL);`).join('\n')}
          END;`);
        const ops = db.prepare('EXPLAIN INSERT INTO src VALUES (1, 2, 3, 4, 5)').all() as Array<{ opcode: string; p2: number; p3: number }>;
        const trigger = ops.slice(ops.findIndex((o, i) => i > 0 && o.opcode === 'Init'));
        return Math.max(...trigger.filter((o) => ['Function', 'PureFunc', 'Concat'].includes(o.opcode)).map((o) => o.p3));
      };
      const now = registers((f) => sqliteJsonValue(column(f), 'NEW'));
      const before = registers((f) => referenceDateTimeJson(f, `NEW.c_${f}`));
      expect(now * 5).toBeLessThan(before);
    } finally {
      db.close();
    }
  });
});
