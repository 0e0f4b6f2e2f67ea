/**
 * A decoder of pgoutput's logical replication messages, protocol version 1, as
 * `pg_logical_slot_peek_binary_changes` returns them (one message per row):
 * https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
 * Pure: bytes in, messages out. Column values stay PostgreSQL's text output; the
 * capture pass turns them into driver values by type OID.
 */

export interface RelationColumn {
  name: string;
  typeOid: number;
  isKey: boolean;
}

/** A tuple's columns in table order: text, null, or `unchanged` (a TOASTed value the update did not touch). */
export type TupleValue = string | null | { unchanged: true };

export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTime: bigint; xid: number }
  | { tag: 'commit'; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { tag: 'origin'; name: string }
  | { tag: 'relation'; relationId: number; namespace: string; name: string; replicaIdentity: string; columns: RelationColumn[] }
  | { tag: 'insert'; relationId: number; newTuple: TupleValue[] }
  | { tag: 'update'; relationId: number; oldTuple: TupleValue[] | null; oldIsKey: boolean; newTuple: TupleValue[] }
  | { tag: 'delete'; relationId: number; oldTuple: TupleValue[]; oldIsKey: boolean }
  | { tag: 'truncate'; relationIds: number[] }
  | { tag: 'message'; transactional: boolean; prefix: string; content: Buffer }
  | { tag: 'other'; code: string };

/** Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
const PG_EPOCH_MICROS = 946_684_800_000_000n;

/** A pgoutput timestamp (microseconds since 2000-01-01) as microseconds since 1970. */
export function pgTimeToUnixMicros(time: bigint): number {
  return Number(time + PG_EPOCH_MICROS);
}

/** '16/B374D848' as a number, for comparing WAL positions. */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  byte(): string {
    return String.fromCharCode(this.buf[this.at++]);
  }
  int8(): number {
    return this.buf.readInt8(this.at++);
  }
  int16(): number {
    const v = this.buf.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  uint32(): number {
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  int64(): bigint {
    const v = this.buf.readBigInt64BE(this.at);
    this.at += 8;
    return v;
  }
  string(): string {
    const end = this.buf.indexOf(0, this.at);
    const v = this.buf.toString('utf8', this.at, end);
    this.at = end + 1;
    return v;
  }
  bytes(n: number): Buffer {
    const v = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  tuple(): TupleValue[] {
    const n = this.int16();
    const values: TupleValue[] = [];
    for (let i = 0; i < n; i++) {
      const kind = this.byte();
      if (kind === 'n') values.push(null);
      else if (kind === 'u') values.push({ unchanged: true });
      else if (kind === 't') values.push(this.bytes(this.int32()).toString('utf8'));
      else throw new Error(`pgoutput: unknown tuple column kind ${JSON.stringify(kind)}`);
    }
    return values;
  }
}

export function decodePgoutput(data: Buffer): PgoutputMessage {
  const r = new Reader(data);
  const code = r.byte();
  switch (code) {
    case 'B':
      return { tag: 'begin', finalLsn: r.int64(), commitTime: r.int64(), xid: r.uint32() };
    case 'C': {
      r.int8();
      return { tag: 'commit', commitLsn: r.int64(), endLsn: r.int64(), commitTime: r.int64() };
    }
    case 'O': {
      r.int64();
      return { tag: 'origin', name: r.string() };
    }
    case 'R': {
      const relationId = r.uint32();
      const namespace = r.string();
      const name = r.string();
      const replicaIdentity = r.byte();
      const columns: RelationColumn[] = [];
      const n = r.int16();
      for (let i = 0; i < n; i++) {
        const flags = r.int8();
        const colName = r.string();
        const typeOid = r.uint32();
        r.int32();
        columns.push({ name: colName, typeOid, isKey: (flags & 1) === 1 });
      }
      return { tag: 'relation', relationId, namespace, name, replicaIdentity, columns };
    }
    case 'I': {
      const relationId = r.uint32();
      r.byte(); // 'N'
      return { tag: 'insert', relationId, newTuple: r.tuple() };
    }
    case 'U': {
      const relationId = r.uint32();
      const kind = r.byte();
      let oldTuple: TupleValue[] | null = null;
      if (kind === 'K' || kind === 'O') {
        oldTuple = r.tuple();
        r.byte(); // 'N'
      }
      const oldIsKey = kind === 'K';
      return { tag: 'update', relationId, oldTuple, oldIsKey, newTuple: r.tuple() };
    }
    case 'D': {
      const relationId = r.uint32();
      const kind = r.byte();
      return { tag: 'delete', relationId, oldIsKey: kind === 'K', oldTuple: r.tuple() };
    }
    case 'T': {
      const n = r.int32();
      r.int8();
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.uint32());
      return { tag: 'truncate', relationIds };
    }
    case 'M': {
      const transactional = (r.int8() & 1) === 1;
      r.int64();
      const prefix = r.string();
      return { tag: 'message', transactional, prefix, content: r.bytes(r.int32()) };
    }
    default:
      return { tag: 'other', code };
  }
}
