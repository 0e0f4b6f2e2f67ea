/**
 * The transport's batch as COPY text end to end, where the source can `COPY … TO STDOUT`
 * (PostgreSQL) and the destination's brand takes that text (BulkWriter.insertCopyText:
 * PostgreSQL's `COPY … FROM STDIN`, MariaDB's LOAD DATA after a byte-wise translation): the
 * outbox rows are read in COPY's text format and written out in it, each field's bytes passed
 * on as they came. Only what the transport decides on is read as text (the origin server, the
 * change time, the ids); no JavaScript value is made per field, and the values arrive byte for
 * byte as the driver's path would write them (outbox-copy.test.ts, transport-copy.test.ts).
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2 (text format)
 */
import { isUtf8 } from 'node:buffer';
import { boundedServerId } from '../../core/bounded-text.ts';
import { CHANGE_ROW_COLUMNS } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { normalizeChangeTime } from '../import/decode-change.ts';

/** A connection that can COPY a query's rows out (PostgresClient). */
export interface CopyOutClient extends DbClient {
  copyQueryOut(select: string, onData: (bytes: Buffer) => void): Promise<number>;
}

export const canCopyOut = (client: DbClient): client is CopyOutClient =>
  typeof (client as Partial<CopyOutClient>).copyQueryOut === 'function';

/** Fields of a row of the outbox batch's SELECT (outboxBatchSelect): id, CHANGE_ROW_COLUMNS, origin_change_id. */
const FIELDS = CHANGE_ROW_COLUMNS.length + 2;
const SERVER = 1 + CHANGE_ROW_COLUMNS.indexOf('updated_by_server_id');
const TIME = 1 + CHANGE_ROW_COLUMNS.indexOf('update_datetime');
const ORIGIN = FIELDS - 1;

export const TAB = 9;
export const NEWLINE = 10;
const BACKSLASH = 92;

/** A batch of outbox rows as inbox rows in COPY's text format (INBOX_COLUMNS order). */
export interface CopyBatch {
  /** Outbox rows read, echoes included (an empty batch is a gap: pointerBatches). */
  length: number;
  /** Inbox rows in `text`. */
  rows: number;
  skippedEcho: number;
  /** Pieces of whole rows. */
  text: Buffer[];
  /** The buffers `text` is cut from (recycleCopyBatch). */
  backing: Buffer[];
  /** False when the bytes are not UTF-8 (a SQL_ASCII database): the caller takes the driver's path, which decodes them. */
  utf8: boolean;
}

const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A value as a field of COPY's text format: `\N` for NULL; backslash, tab and line ends escaped. */
export function copyFieldText(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]) : value;
}

const COPY_UNESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/**
 * The value of a field of COPY's text format as COPY TO writes one (`\N`, or the text with
 * backslash escapes of `\b \f \n \r \t \v` and `\\`; any other `\c` stands for `c`).
 */
export function copyFieldValue(bytes: Buffer, start: number, end: number): string | null {
  if (end - start === 2 && bytes[start] === BACKSLASH && bytes[start + 1] === 78) return null;
  const text = bytes.toString('utf8', start, end);
  return text.includes('\\') ? text.replace(/\\(.)/gs, (_, c: string) => COPY_UNESCAPES[c] ?? c) : text;
}

/** Most bytes a row of the inbox's COPY text has beyond its outbox row's: a replaced origin server and change time, escaped. */
const ROW_GROWTH = 512;

/** A piece's size. */
const PIECE = 1 << 18;

/**
 * Pieces of batches already written, for the next batches: a batch's bytes live outside V8's heap,
 * and V8 frees such memory only when a collection comes, which a transport that makes few objects
 * seldom calls for; new pieces per batch raised a 1,000,000-change drain's peak RSS by 25–30 MB
 * (docs/performance.md). At most 8 MB kept.
 */
const SPARE: Buffer[] = [];
const SPARE_MAX = 32;

/**
 * Gives a batch's pieces back for reuse, once its bytes are written and nothing reads them again
 * (the COPY into the inbox has completed: the server had every byte). The batch is empty after.
 */
export function recycleCopyBatch(batch: CopyBatch): void {
  for (const buffer of batch.backing) if (buffer.length === PIECE && SPARE.length < SPARE_MAX) SPARE.push(buffer);
  batch.backing = [];
  batch.text = [];
}

/** Bytes in pieces of 256 KiB or more, each a run of whole rows: no copy of what is written so far when it grows. */
export class Pieces {
  readonly done: Buffer[] = [];
  /** The whole buffers `done` is cut from, for recycleCopyBatch. */
  readonly backing: Buffer[] = [];
  buffer: Buffer = Buffer.allocUnsafe(0);
  length = 0;
  /** Room for a row of at most `n` bytes, in the current piece or a new one. */
  row(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    if (this.length > 0) this.done.push(this.buffer.subarray(0, this.length));
    this.buffer = n <= PIECE ? (SPARE.pop() ?? Buffer.allocUnsafe(PIECE)) : Buffer.allocUnsafe(n);
    this.backing.push(this.buffer);
    this.length = 0;
  }
  /** Bytes [start, end) of `from`: a short run by a loop (Buffer.copy costs a view object per call). */
  copy(from: Uint8Array, start: number, end: number): void {
    const buffer = this.buffer;
    let at = this.length;
    if (end - start > 256) buffer.set(from.subarray(start, end), at);
    else for (let i = start; i < end; i++) buffer[at++] = from[i];
    this.length += end - start;
  }
  /** `s` as UTF-8. */
  text(s: string): void {
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.length += buffer.write(s, this.length, 'utf8');
        return;
      }
      buffer[at++] = c;
    }
    this.length = at;
  }
  byte(b: number): void {
    this.buffer[this.length++] = b;
  }
  /** The pieces written. */
  finish(): Buffer[] {
    if (this.length > 0) this.done.push(this.buffer.subarray(0, this.length));
    this.length = 0;
    this.buffer = Buffer.allocUnsafe(0);
    return this.done;
  }
}

/**
 * Turns outbox rows in COPY's text format into inbox rows: the origin server (the source's
 * bounded id where the row has none) and origin change id (the row's id where it has none)
 * filled in, the change time normalized, rows from `targetServerId` skipped (guarantee 4,
 * docs/guarantees.md); every other field's bytes as they came.
 */
export class OutboxCopyReader {
  private readonly out = new Pieces();
  private readonly starts = new Int32Array(FIELDS + 1);
  private readonly targetServerId: string;
  /** The source's bounded id, the origin of a row without one, and its field's bytes with the tab after it. */
  private readonly sourceOrigin: string;
  private readonly sourceField: Buffer;
  private rest: Buffer | null = null;
  private read = 0;
  private rows = 0;
  private skippedEcho = 0;

  constructor(
    private readonly sourceServerId: string,
    targetServerId: string,
  ) {
    this.targetServerId = boundedServerId(targetServerId);
    this.sourceOrigin = boundedServerId(sourceServerId);
    this.sourceField = Buffer.from(`${copyFieldText(this.sourceOrigin)}\t`, 'utf8');
  }

  /** Bytes of COPY TO's output: whole rows are turned at once, a row cut at the end waits for the rest. */
  add(chunk: Buffer): void {
    let bytes = chunk;
    if (this.rest !== null) {
      bytes = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(NEWLINE, start);
      if (end < 0) break;
      this.row(bytes, start, end);
      start = end + 1;
    }
    // A copy: the driver's buffer is reused after the call.
    if (start < bytes.length) this.rest = Buffer.from(bytes.subarray(start));
  }

  private row(bytes: Buffer, start: number, end: number): void {
    const starts = this.starts;
    let field = 0;
    starts[0] = start;
    // The tabs by indexOf (a native scan): a fifth less of the reader's CPU than a loop over every byte (outbox-copy-cpu.ts).
    for (let i = bytes.indexOf(TAB, start); i >= 0 && i < end; i = bytes.indexOf(TAB, i + 1)) if (++field < FIELDS) starts[field] = i + 1;
    if (field !== FIELDS - 1) throw new Error(`COPY of ds_change_outbox: a row of ${field + 1} fields, not ${FIELDS}`);
    starts[FIELDS] = end + 1;
    this.read++;
    const server = copyFieldValue(bytes, starts[SERVER], starts[SERVER + 1] - 1);
    const origin = boundedServerId(server ?? this.sourceServerId);
    if (origin === this.targetServerId) {
      this.skippedEcho++;
      return;
    }
    this.rows++;
    const out = this.out;
    out.row(end + 1 - start + ROW_GROWTH);
    // Fields 1 … SERVER-1 as they came, tabs between and after them.
    out.copy(bytes, starts[1], starts[SERVER]);
    if (origin === server) out.copy(bytes, starts[SERVER], starts[SERVER + 1]);
    else if (server === null && origin === this.sourceOrigin) out.copy(this.sourceField, 0, this.sourceField.length);
    else {
      out.text(copyFieldText(origin));
      out.byte(TAB);
    }
    out.copy(bytes, starts[SERVER + 1], starts[TIME]);
    const time = copyFieldValue(bytes, starts[TIME], starts[TIME + 1] - 1);
    const normalized = normalizeChangeTime(time);
    if (normalized === time && time !== null) out.copy(bytes, starts[TIME], starts[TIME + 1]);
    else {
      out.text(copyFieldText(normalized));
      out.byte(TAB);
    }
    out.copy(bytes, starts[TIME + 1], starts[ORIGIN]);
    const noOrigin = starts[ORIGIN + 1] - 1 - starts[ORIGIN] === 2 && bytes[starts[ORIGIN]] === BACKSLASH;
    if (noOrigin) out.copy(bytes, starts[0], starts[1] - 1);
    else out.copy(bytes, starts[ORIGIN], starts[ORIGIN + 1] - 1);
    out.byte(NEWLINE);
  }

  /** The batch read. */
  finish(): CopyBatch {
    if (this.rest !== null) throw new Error('COPY of ds_change_outbox ended inside a row');
    const text = this.out.finish();
    const backing = this.out.backing;
    return { length: this.read, rows: this.rows, skippedEcho: this.skippedEcho, text, backing, utf8: text.every((piece) => isUtf8(piece)) };
  }
}

/**
 * The inbox rows of a COPY text as the transport's values (INBOX_COLUMNS order, toInboxValues'
 * types: text, or null, and the origin change id a number), for the paths that bind values: one
 * row made at a time, so that a caller that writes them in chunks holds a chunk's values only.
 */
export function* copyTextRows(text: readonly Buffer[]): Generator<unknown[]> {
  for (const piece of text) {
    let start = 0;
    while (start < piece.length) {
      const end = piece.indexOf(NEWLINE, start);
      const row: unknown[] = [];
      let from = start;
      for (let i = start; i <= end; i++) {
        if (i === end || piece[i] === TAB) {
          row.push(copyFieldValue(piece, from, i));
          from = i + 1;
        }
      }
      row[row.length - 1] = Number(row[row.length - 1]);
      yield row;
      start = end + 1;
    }
  }
}

/** Every row of copyTextRows at once. */
export const copyBatchValues = (text: readonly Buffer[]): unknown[][] => Array.from(copyTextRows(text));
