/**
 * COPY text (PostgreSQL's text format) written straight from values into pieces of bytes, for the
 * transport's batches from a source that cannot COPY out (SQLite, MariaDB: their outbox rows come
 * as the driver's arrays) into a destination that takes COPY text (BulkWriter.insertCopyText).
 * The bytes are those the path that binds values sends for the same values (PostgreSQL's
 * `copyText`: `\N` for NULL; backslash, tab, newline and carriage return escaped; every other
 * character as UTF-8, `\f` and `\v` included, which COPY FROM reads as they are), without the
 * string per batch piece that path joins and encodes again (transport-copy-rows.test.ts).
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2 (text format)
 */
import { copyFieldText, NEWLINE, Pieces, TAB } from './outbox-copy.ts';

const BACKSLASH = 92;

/** The escape letter of a character COPY text escapes (backslash, tab, newline, carriage return), else 0. */
const ESCAPE_LETTER = new Uint8Array(128);
ESCAPE_LETTER[BACKSLASH] = BACKSLASH;
ESCAPE_LETTER[9] = 116; // t
ESCAPE_LETTER[10] = 110; // n
ESCAPE_LETTER[13] = 114; // r

/** Strings at least this long are escaped by a regular expression and encoded natively; shorter ones by a loop. */
const NATIVE_AT = 48;

/** Rows of values into COPY text: `row` for each, then `finish`. */
export class CopyTextWriter {
  private readonly out = new Pieces();

  /**
   * One row: null (or undefined) as `\N`, a string escaped, anything else as `String(value)` is
   * (the transport's inbox values are text, numbers and null: inboxValuesOf).
   */
  row(values: readonly unknown[]): void {
    // Room: a UTF-16 unit is at most 3 bytes of UTF-8 (a pair 4 for 2), and an escaped one 2.
    let room = 0;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      room +=
        typeof value === 'string'
          ? 3 * value.length + 1
          : typeof value === 'number' || value === null || value === undefined
            ? 32
            : 3 * String(value).length + 1;
    }
    const out = this.out;
    out.row(room);
    for (let i = 0; i < values.length; i++) {
      if (i > 0) out.byte(TAB);
      const value = values[i];
      if (typeof value === 'string') this.text(value);
      else if (value === null || value === undefined) {
        out.byte(BACKSLASH);
        out.byte(78); // N
      } else this.text(String(value));
    }
    out.byte(NEWLINE);
  }

  /** `s` escaped, as UTF-8. */
  private text(s: string): void {
    const out = this.out;
    if (s.length >= NATIVE_AT) {
      out.length += out.buffer.write(copyFieldText(s), out.length, 'utf8');
      return;
    }
    const buffer = out.buffer;
    let at = out.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // The rest as UTF-8 (i starts a character: the units before it were ASCII).
        out.length = at + buffer.write(copyFieldText(s.slice(i)), at, 'utf8');
        return;
      }
      const letter = ESCAPE_LETTER[c];
      if (letter !== 0) {
        buffer[at++] = BACKSLASH;
        buffer[at++] = letter;
      } else buffer[at++] = c;
    }
    out.length = at;
  }

  /** The pieces written (whole rows each), and the buffers they are cut from (recycleCopyBatch). */
  finish(): { text: Buffer[]; backing: Buffer[] } {
    const text = this.out.finish();
    return { text, backing: this.out.backing };
  }
}
