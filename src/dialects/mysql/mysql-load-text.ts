/**
 * COPY text (PostgreSQL's text format, as the transport reads an outbox batch: outbox-copy.ts)
 * turned into LOAD DATA's default format byte by byte, without a JavaScript value per field.
 * The two formats are the same (fields by tab, rows by newline, `\N` for NULL, backslash
 * escapes) but for the escapes read: COPY TO writes `\b \f \n \r \t \v` and `\\`; LOAD DATA
 * reads `\0 \b \n \r \t \Z \N` and any other `\c` as the letter `c`, so `\f` and `\v` would
 * become `f` and `v`. Those two go as the control characters they stand for, which LOAD DATA
 * reads as they are (in its default format only tab, newline and backslash mean something);
 * every other byte is passed on. Bytes that are not UTF-8 never come here (CopyBatch.utf8), and a
 * value the load would bend is a warning that undoes the batch (mysql-bulk.ts insertCopyText).
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2
 * https://mariadb.com/kb/en/load-data-infile/ (the escapes: dev.mysql.com/doc/refman/8.0/en/load-data.html#load-data-field-line-handling)
 */

const BACKSLASH = 0x5c;
const LETTER_F = 0x66;
const LETTER_V = 0x76;
const FORM_FEED = 0x0c;
const VERTICAL_TAB = 0x0b;

const ESCAPED_F = Buffer.from('\\f', 'latin1');
const ESCAPED_V = Buffer.from('\\v', 'latin1');

/**
 * Whether `piece` may hold a `\f` or `\v` escape: a fast look for the two bytes (a `\\f`, an
 * escaped backslash before an `f`, matches too and costs only the exact scan).
 */
const mayNeedTranslation = (piece: Buffer) => piece.indexOf(ESCAPED_F) >= 0 || piece.indexOf(ESCAPED_V) >= 0;

/**
 * A piece of whole rows of COPY text in LOAD DATA's format: `piece` itself when it has no
 * `\f` or `\v` escape, else a new buffer (the piece is not changed: the caller may still read it
 * as COPY text).
 */
export function loadDataPiece(piece: Buffer): Buffer {
  if (!mayNeedTranslation(piece)) return piece;
  let out: Buffer | null = null;
  let length = 0;
  let from = 0;
  for (let at = piece.indexOf(BACKSLASH); at >= 0; at = piece.indexOf(BACKSLASH, at + 2)) {
    // COPY TO writes a backslash only as the first byte of an escape: the next byte is its letter.
    const letter = piece[at + 1];
    if (letter !== LETTER_F && letter !== LETTER_V) continue;
    out ??= Buffer.allocUnsafe(piece.length);
    length += piece.copy(out, length, from, at);
    out[length++] = letter === LETTER_F ? FORM_FEED : VERTICAL_TAB;
    from = at + 2;
  }
  if (out === null) return piece;
  length += piece.copy(out, length, from);
  return out.subarray(0, length);
}

/** Pieces of COPY text as LOAD DATA's (loadDataPiece), each turned as the driver asks for it. */
export function* loadDataText(pieces: Iterable<Buffer>): Generator<Buffer> {
  for (const piece of pieces) yield loadDataPiece(piece);
}
