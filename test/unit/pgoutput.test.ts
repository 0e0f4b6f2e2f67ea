/** The pgoutput decoder and the names and positions of capture mode log (no database). */
import { describe, expect, it } from 'vitest';
import { logSlotName } from '../../src/dialects/postgres/postgres-change-log.ts';
import { decodePgoutput, formatLsn, parseLsn, pgTimeToUnixMicros } from '../../src/dialects/postgres/postgres-pgoutput.ts';

/** A message as pgoutput writes it: big-endian integers, NUL-terminated strings. */
function message(
  parts: Array<['byte', string] | ['i8' | 'i16' | 'i32', number] | ['i64', bigint] | ['str', string] | ['raw', Buffer]>,
): Buffer {
  const chunks = parts.map(([kind, value]) => {
    if (kind === 'byte') return Buffer.from(value as string, 'latin1');
    if (kind === 'str') return Buffer.concat([Buffer.from(value as string, 'utf8'), Buffer.from([0])]);
    if (kind === 'raw') return value as Buffer;
    const size = { i8: 1, i16: 2, i32: 4, i64: 8 }[kind];
    const b = Buffer.alloc(size);
    if (kind === 'i8') b.writeInt8(value as number);
    if (kind === 'i16') b.writeInt16BE(value as number);
    if (kind === 'i32') b.writeInt32BE(value as number);
    if (kind === 'i64') b.writeBigInt64BE(value as bigint);
    return b;
  });
  return Buffer.concat(chunks);
}

describe('decodePgoutput (protocol 1)', () => {
  it('reads begin, relation, update with the old row, message and commit', () => {
    expect(
      decodePgoutput(
        message([
          ['byte', 'B'],
          ['i64', 0x1_0000_0010n],
          ['i64', 5n],
          ['i32', 726],
        ]),
      ),
    ).toEqual({
      tag: 'begin',
      finalLsn: 0x1_0000_0010n,
      commitTime: 5n,
      xid: 726,
    });
    const relation = message([
      ['byte', 'R'],
      ['i32', 16384],
      ['str', 'public'],
      ['str', 'sales_order'],
      ['byte', 'f'],
      ['i16', 2],
      ['i8', 1],
      ['str', 'order_id'],
      ['i32', 25],
      ['i32', -1],
      ['i8', 0],
      ['str', 'quantity'],
      ['i32', 23],
      ['i32', -1],
    ]);
    expect(decodePgoutput(relation)).toMatchObject({
      tag: 'relation',
      relationId: 16384,
      name: 'sales_order',
      columns: [
        { name: 'order_id', typeOid: 25, isKey: true },
        { name: 'quantity', typeOid: 23, isKey: false },
      ],
    });
    const tuple = (...values: Array<string | null | 'u'>) => {
      const parts: Parameters<typeof message>[0] = [['i16', values.length]];
      for (const v of values) {
        if (v === null) parts.push(['byte', 'n']);
        else if (v === 'u') parts.push(['byte', 'u']);
        else parts.push(['byte', 't'], ['i32', Buffer.byteLength(v)], ['raw', Buffer.from(v)]);
      }
      return message(parts);
    };
    const update = Buffer.concat([
      message([
        ['byte', 'U'],
        ['i32', 16384],
        ['byte', 'O'],
      ]),
      tuple('ord2', '100'),
      message([['byte', 'N']]),
      tuple('ord2', 'u'),
    ]);
    expect(decodePgoutput(update)).toEqual({
      tag: 'update',
      relationId: 16384,
      oldIsKey: false,
      oldTuple: ['ord2', '100'],
      newTuple: ['ord2', { unchanged: true }],
    });
    const remove = Buffer.concat([
      message([
        ['byte', 'D'],
        ['i32', 16384],
        ['byte', 'K'],
      ]),
      tuple('ord2', null),
    ]);
    expect(decodePgoutput(remove)).toEqual({ tag: 'delete', relationId: 16384, oldIsKey: true, oldTuple: ['ord2', null] });
    const mark = message([
      ['byte', 'M'],
      ['i8', 1],
      ['i64', 7n],
      ['str', 'dsync.import'],
      ['i32', 0],
    ]);
    expect(decodePgoutput(mark)).toMatchObject({ tag: 'message', transactional: true, prefix: 'dsync.import' });
    expect(
      decodePgoutput(
        message([
          ['byte', 'C'],
          ['i8', 0],
          ['i64', 10n],
          ['i64', 20n],
          ['i64', 30n],
        ]),
      ),
    ).toEqual({
      tag: 'commit',
      commitLsn: 10n,
      endLsn: 20n,
      commitTime: 30n,
    });
  });

  it('turns WAL positions and timestamps around', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16_b374_d848n);
    expect(formatLsn(0x16_b374_d848n)).toBe('16/B374D848');
    expect(formatLsn(parseLsn('0/0'))).toBe('0/0');
    expect(pgTimeToUnixMicros(0n)).toBe(946_684_800_000_000);
  });
});

describe('logSlotName', () => {
  it('is dsync_<node>_<database> in the characters slot names allow, hashed when too long', () => {
    expect(logSlotName('testapp1', 'testapp1')).toBe('dsync_testapp1_testapp1');
    expect(logSlotName('Shop-EU', 'Orders DB')).toBe('dsync_shop_eu_orders_db');
    const long = logSlotName('n'.repeat(40), 'd'.repeat(40));
    expect(long).toHaveLength(63);
    expect(long).toMatch(/^dsync_n+_d+_[0-9a-f]{8}$/);
    expect(logSlotName('n'.repeat(40), 'e'.repeat(40))).not.toBe(long);
  });
});
