/**
 * COPY text turned into LOAD DATA's format (mysql-load-text.ts): random rows of odd text,
 * written as PostgreSQL's COPY TO writes them and cut into pieces of whole rows, read back as
 * LOAD DATA reads its default format (below, after the manual's rules) give the values they
 * were made of; a piece with nothing to turn is passed on as it is, and no piece is changed.
 * Seeded: the seed is printed, DSYNC_TEST_SEED repeats a run.
 */
import { describe, expect, it } from 'vitest';
import { loadDataPiece } from '../../src/dialects/mysql/mysql-load-text.ts';
import { oddText, random } from '../helpers/random.ts';

/** A value as PostgreSQL's COPY TO writes a text field (CopyAttributeOutText): these six control characters and backslash escaped. */
const COPY_OUT: Record<string, string> = { '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
const copyOut = (v: string | null) => (v === null ? '\\N' : v.replace(/[\\\b\f\n\r\t\v]/g, (c) => COPY_OUT[c]));

/**
 * Rows as LOAD DATA reads its default format (FIELDS TERMINATED BY '\t' ENCLOSED BY '' ESCAPED
 * BY '\\' LINES TERMINATED BY '\n'): `\0 \b \n \r \t \Z` stand for their characters, any other
 * `\c` for `c`, and a field that is `\N` alone for NULL.
 * https://dev.mysql.com/doc/refman/8.0/en/load-data.html#load-data-field-line-handling
 */
function readLoadData(bytes: Buffer): Array<Array<string | null>> {
  const ESC: Record<string, string> = { '0': '\0', b: '\b', n: '\n', r: '\r', t: '\t', Z: '\u001a' };
  const s = bytes.toString('utf8');
  const rows: Array<Array<string | null>> = [];
  let row: Array<string | null> = [];
  let field = '';
  let onlyNullEscape = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      const e = s[++i];
      onlyNullEscape = e === 'N' && field === '';
      field += ESC[e] ?? e;
      continue;
    }
    if (c === '\t' || c === '\n') {
      row.push(onlyNullEscape && field === 'N' ? null : field);
      field = '';
      onlyNullEscape = false;
      if (c === '\n') {
        rows.push(row);
        row = [];
      }
      continue;
    }
    onlyNullEscape = false;
    field += c;
  }
  expect(field).toBe('');
  return rows;
}

/** Beyond oddText's: Control-Z (LOAD DATA's `\Z`), the letters of its escapes, and of COPY's `\f` `\v`. */
const MORE_ODD = ['\u001a', '\\0', '\\Z', 'f', 'v', '\\f', '\\v', '\f\v', '\f', '\v', 'NULL', '\\\\f'];

describe('unit: COPY text as LOAD DATA text', () => {
  it('turns the escapes LOAD DATA reads otherwise, and only those', () => {
    const piece = Buffer.from('a\\fb\\vc\\\\f\\\\v\\b\\t\\n\\r\\N\t\\N\n', 'utf8');
    const before = Buffer.from(piece);
    expect(loadDataPiece(piece).toString('latin1')).toBe('a\fb\vc\\\\f\\\\v\\b\\t\\n\\r\\N\t\\N\n');
    expect(piece).toEqual(before);
    const plain = Buffer.from('a\\\\f\\tb\t\\N\n', 'utf8');
    expect(loadDataPiece(plain)).toBe(plain);
  });

  it('gives LOAD DATA the values COPY TO wrote, for random rows cut into pieces', () => {
    const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
    console.log(`COPY → LOAD DATA text randomized: seed ${seed} (DSYNC_TEST_SEED=${seed} repeats it)`);
    const next = random(seed);
    const value = () => {
      if (next() < 0.15) return null;
      let s = oddText(next, 12);
      while (next() < 0.4) s += MORE_ODD[Math.floor(next() * MORE_ODD.length)] + oddText(next, 4);
      return s;
    };
    for (let round = 0; round < 200; round++) {
      const width = 1 + Math.floor(next() * 19);
      const rows = Array.from({ length: 1 + Math.floor(next() * 40) }, () => Array.from({ length: width }, value));
      // Pieces of whole rows, as the transport's batch holds them.
      const pieces: Buffer[] = [];
      for (let r = 0; r < rows.length; ) {
        const n = 1 + Math.floor(next() * 8);
        pieces.push(
          Buffer.from(
            rows
              .slice(r, r + n)
              .map((row) => `${row.map(copyOut).join('\t')}\n`)
              .join(''),
            'utf8',
          ),
        );
        r += n;
      }
      const before = pieces.map((p) => Buffer.from(p));
      const out = pieces.map(loadDataPiece);
      expect({ seed, round, rows: readLoadData(Buffer.concat(out)) }).toEqual({ seed, round, rows });
      expect(pieces).toEqual(before);
      pieces.forEach((p, i) => {
        if (!/\\[fv]/.test(p.toString('latin1').replace(/\\\\/g, ''))) expect(out[i]).toBe(p);
      });
    }
  });
});
