/**
 * The import's batch read of the inbox as COPY text, where the connection can `COPY (SELECT …) TO
 * STDOUT` (PostgreSQL): each row's bytes are cut into an InboxRow as they arrive, without the
 * driver's message, field array and row array per row, which lived until the whole result was
 * in and so survived the young generation with the batch (docs/performance.md, issue 13). The
 * InboxRows are the ones the driver's path (inbox-batches.ts batchInboxRow of queryArrays) gives,
 * value for value (test/integration/inbox-copy.test.ts): every column is text or bigint there
 * (the driver returns bigint and timestamps as their text, TEXT_OIDS), and COPY's text format is
 * the same output function's text with backslash escapes, in the same session settings.
 * https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2 (text format)
 */
import { isUtf8 } from 'node:buffer';
import type { InboxRow } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { canCopyOut } from '../transport/outbox-copy.ts';
import { BATCH_COLUMNS, inboxBatchSelect } from './inbox-batches.ts';

const TAB = 9;
const BACKSLASH = 92;
const NEWLINE = 10;
const N = 78;
const EMPTY = Buffer.alloc(0);

const COPY_UNESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
const undo = (_: string, c: string) => COPY_UNESCAPES[c] ?? c;

/**
 * The text of bytes [start, end) with COPY TO's backslash escapes undone; `backslash` is the first
 * backslash at or after `start` (or -1), found once for the fields that follow it in the row (InboxCopyReader.text).
 */
function unescaped(bytes: Buffer, start: number, end: number, backslash: number): string {
  const text = bytes.toString('utf8', start, end);
  return backslash < 0 || backslash >= end ? text : text.replace(/\\(.)/gs, undo);
}

/** One byte's text, shared (object_operation's I, U, D; a small counter): no new string per row. */
const ONE_BYTE = Array.from({ length: 128 }, (_, c) => String.fromCharCode(c));

/**
 * Cuts COPY TO's output of inboxBatchSelect(false) (BATCH_COLUMNS, one row per line) into
 * InboxRows, row by row as the bytes come; a row cut at a chunk's end waits for the rest.
 */
export class InboxCopyReader {
  readonly rows: InboxRow[] = [];
  /** False once a chunk was not UTF-8 (a SQL_ASCII database): the caller reads through the driver instead. */
  utf8 = true;
  /** BATCH_COLUMNS' count (read here, not at load: inbox-batches.ts imports this module). */
  private readonly fields = BATCH_COLUMNS.length;
  private readonly starts = new Int32Array(this.fields + 1);
  private rest: Buffer | null = null;
  /** The last row's object_table, kept to be given again while the rows name the same table. */
  private table: string | null = null;
  /** The row being cut, and the first backslash at or after the field being read (-1: none to its end). */
  private bytes: Buffer = EMPTY;
  private backslash = -1;

  add(chunk: Buffer): void {
    let bytes = chunk;
    if (this.rest !== null) {
      bytes = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    if (this.utf8 && !isUtf8(bytes)) this.utf8 = false;
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
    const s = this.starts;
    const fields = this.fields;
    let field = 0;
    s[0] = start;
    for (let i = bytes.indexOf(TAB, start); i >= 0 && i < end; i = bytes.indexOf(TAB, i + 1)) if (++field < fields) s[field] = i + 1;
    if (field !== fields - 1) throw new Error(`COPY of ds_change_inbox: a row of ${field + 1} fields, not ${fields}`);
    s[fields] = end + 1;
    this.bytes = bytes;
    this.backslash = bytes.indexOf(BACKSLASH, start);
    let table = this.table;
    if (table === null || !sameText(bytes, s[2], s[3] - 1, table)) this.table = table = this.text(2);
    // Field k is bytes [s[k], s[k + 1] - 1), in BATCH_COLUMNS order.
    this.rows.push({
      id: this.number(0),
      origin_change_id: this.number(1),
      object_database: null,
      object_table: table,
      object_pk_attribute: null,
      object_attribute: null,
      object_id: this.text(3),
      object_id_old: this.text(4),
      object_value: this.text(5),
      object_value_old: this.text(6),
      object_operation: this.short(7),
      object_operation_command: this.text(8),
      updated_by_server_id: this.text(9),
      updated_by_user_id: this.text(10),
      update_datetime: this.text(11),
      note1: null,
      row_cl: this.short(12),
      row_cl_old: this.short(13),
      change_version: this.short(14),
    });
    this.bytes = EMPTY;
  }

  /** Field k of the current row: null for `\N`, else its text with COPY TO's escapes undone. */
  private text(k: number): string | null {
    const bytes = this.bytes;
    const start = this.starts[k];
    const end = this.starts[k + 1] - 1;
    if (this.backslash >= 0 && this.backslash < start) this.backslash = bytes.indexOf(BACKSLASH, start);
    if (end - start === 2 && this.backslash === start && bytes[start + 1] === N) return null;
    return unescaped(bytes, start, end, this.backslash);
  }

  /** Field k as `text` gives it, a single plain ASCII byte as a shared string. */
  private short(k: number): string | null {
    const start = this.starts[k];
    const c = this.bytes[start];
    return this.starts[k + 1] - 1 - start === 1 && c < 128 && c !== BACKSLASH ? ONE_BYTE[c] : this.text(k);
  }

  /** A bigint field k as Number(text) gives it: its digits summed where they are few, else through the text. */
  private number(k: number): number {
    const bytes = this.bytes;
    const start = this.starts[k];
    const end = this.starts[k + 1] - 1;
    if (end <= start || end - start > 15) return Number(this.text(k));
    let n = 0;
    for (let i = start; i < end; i++) {
      const d = bytes[i] - 48;
      if (d < 0 || d > 9) return Number(this.text(k));
      n = n * 10 + d;
    }
    return n;
  }

  finish(): InboxRow[] {
    if (this.rest !== null) throw new Error('COPY of ds_change_inbox ended inside a row');
    return this.rows;
  }
}

/** Bytes [start, end) are `text` exactly, when `text` is plain ASCII without a backslash, tab or line end (else false: read it). */
function sameText(bytes: Buffer, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || c === BACKSLASH || c < 32 || bytes[start + i] !== c) return false;
  }
  return true;
}

/**
 * The whole inbox rows (BATCH_COLUMNS) with ids in (after, upTo], in id order, by COPY; null where
 * the connection cannot COPY out or the bytes are not UTF-8 (the caller reads through the driver).
 */
export async function readInboxCopy(client: DbClient, after: number, upTo: number): Promise<InboxRow[] | null> {
  if (!canCopyOut(client) || !Number.isSafeInteger(after) || !Number.isSafeInteger(upTo)) return null;
  const reader = new InboxCopyReader();
  await client.copyQueryOut(inboxBatchSelect(false)(String(after), String(upTo)), (bytes) => reader.add(bytes));
  const rows = reader.finish();
  return reader.utf8 ? rows : null;
}
