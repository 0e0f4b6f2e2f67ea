/**
 * The PostgreSQL driver spells a flat array parameter of texts and numbers itself (arrayLiteral,
 * the import's key arrays): exactly what pg's own prepareValue makes of it, on seeded random arrays
 * with quotes, backslashes, braces, commas, NULL and numbers; other arrays are left to pg.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { arrayLiteral } from '../../src/dialects/postgres/postgres-driver.ts';

const { prepareValue } = (pg as unknown as { utils: { prepareValue(v: unknown): unknown } }).utils;

describe('arrayLiteral', () => {
  it("spells a flat array of texts and numbers as pg's prepareValue does", () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    let state = seed;
    const rnd = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pieces = ['a', '"', '\\', '{', '}', ',', ' ', 'NULL', 'ü', '\t', 'o0000001', ''];
    const element = (): unknown => {
      const r = rnd();
      if (r < 0.1) return null;
      if (r < 0.15) return undefined;
      if (r < 0.3) return Math.floor(rnd() * 2e15) - 1e15;
      if (r < 0.35) return rnd() * 100;
      let s = '';
      for (let n = Math.floor(rnd() * 6); n > 0; n--) s += pieces[Math.floor(rnd() * pieces.length)];
      return s;
    };
    for (let round = 0; round < 2000; round++) {
      const values = Array.from({ length: Math.floor(rnd() * 8) }, element);
      expect(arrayLiteral(values), `seed ${seed}, round ${round}: ${JSON.stringify(values)}`).toBe(prepareValue(values));
    }
  });

  it('leaves nested arrays, Buffers, Dates and booleans to pg', () => {
    expect(arrayLiteral([['a']])).toBeNull();
    expect(arrayLiteral([Buffer.from('a')])).toBeNull();
    expect(arrayLiteral([new Date(0)])).toBeNull();
    expect(arrayLiteral([true])).toBeNull();
    expect(arrayLiteral([])).toBe('{}');
  });
});
