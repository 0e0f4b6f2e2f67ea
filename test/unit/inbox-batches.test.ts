import { describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { inboxBatches } from '../../src/runtime/import/inbox-batches.ts';

/**
 * A client that answers the import's inbox reads from `ids` (an inbox with holes), recording them; arrays by queryArrays,
 * a light batch's count by table (an id's table: `t` when even, `u` when odd) and the next id by query.
 */
function fakeInbox(ids: number[]) {
  const log: string[] = [];
  const rowOf = (id: number, stamp: boolean) => {
    const row: unknown[] = [String(id), String(1000 + id), 't', `"k${id}"`, null, '{}', null, 'I', null, 's1', null, null, '1', null, '7'];
    return stamp ? [...row, 3, 'at'] : row;
  };
  const client = {
    dialect: postgresDialect,
    async queryArrays(sql: string, params: readonly unknown[] = []) {
      const [from, to] = params as number[];
      log.push(`read ${from}..${to}${sql.includes('ds_ledger_n') ? ' +stamp' : ''}`);
      return ids.filter((id) => id > from && id <= to).map((id) => rowOf(id, sql.includes('ds_ledger_n')));
    },
    async query(sql: string, params: readonly unknown[] = []) {
      const [from, to] = params as number[];
      const above = ids.filter((id) => id > from && id <= to);
      if (sql.includes('GROUP BY object_table')) {
        log.push(`count ${from}..${to}${sql.includes('ds_ledger_n') ? ' +stamp' : ''}`);
        const rows = ['t', 'u']
          .map((t) => ({
            object_table: t,
            n: String(above.filter((id) => (id % 2 === 0) === (t === 't')).length),
            ds_ledger_n: 3,
            ds_ledger_at: 'at',
          }))
          .filter((g) => g.n !== '0');
        return { rows, rowCount: rows.length };
      }
      log.push(`min ${from}..${to}`);
      return { rows: [{ id: above.length ? Math.min(...above) : null }] as Row[], rowCount: 1 };
    },
  } as unknown as DbClient;
  return { client, log };
}

describe('inboxBatches', () => {
  it('hands out every row once, in order, across holes, with the next batch read ahead and prepared', async () => {
    const ids = [1, 2, 3, 4, 5, 40, 41, 90];
    const { client, log } = fakeInbox(ids);
    const prepared: number[][] = [];
    const seen: Array<{ ids: number[]; upTo: number; stamp: string | null; ahead: number[] | null }> = [];
    for await (const batch of inboxBatches(client, 0, 95, 3, true, async (rows) => {
      prepared.push(rows.map((r) => r.id));
      return rows.map((r) => r.id);
    })) {
      seen.push({
        ids: batch.rows.map((r) => r.id),
        upTo: batch.upTo,
        stamp: batch.stamp,
        ahead: batch.prepared ? await batch.prepared : null,
      });
    }
    expect(seen.flatMap((b) => b.ids)).toEqual(ids);
    // The first batch brings the ledger stamp; a batch read ahead comes prepared, with its own rows.
    expect(seen[0]).toEqual({ ids: [1, 2, 3], upTo: 3, stamp: '3/at', ahead: null });
    for (const b of seen) if (b.ahead) expect(b.ahead).toEqual(b.ids);
    expect(seen.filter((b) => b.ahead).length).toBeGreaterThan(0);
    // Each range is read once; an empty one moves on to the next row there is.
    expect(new Set(log.filter((l) => l.startsWith('read'))).size).toBe(log.filter((l) => l.startsWith('read')).length);
    expect(seen.at(-1)!.upTo).toBe(95);
    for (let i = 1; i < seen.length; i++) expect(seen[i].upTo).toBeGreaterThan(seen[i - 1].upTo);
    // Rows as the import reads them: numbers for ids, the columns not read as null.
    const first = (await (async () => {
      for await (const b of inboxBatches(client, 0, 95, 3, false, async () => null)) return b.rows[0];
    })())!;
    expect(first).toMatchObject({
      id: 1,
      origin_change_id: 1001,
      object_table: 't',
      object_id: '"k1"',
      object_database: null,
      note1: null,
      change_version: '7',
    });
  });

  it('takes a first batch given with the horizon from its holder, and empties the holder (the pass does not keep it)', async () => {
    const { client, log } = fakeInbox([1, 2, 3, 4, 5]);
    const asObject = (id: number): Row => ({
      id: String(id),
      origin_change_id: String(1000 + id),
      object_table: 't',
      object_id: `"k${id}"`,
      object_id_old: null,
      object_value: '{}',
      object_value_old: null,
      object_operation: 'I',
      object_operation_command: null,
      updated_by_server_id: 's1',
      updated_by_user_id: null,
      update_datetime: null,
      row_cl: '1',
      row_cl_old: null,
      change_version: '7',
      ds_ledger_n: 3,
      ds_ledger_at: 'at',
    });
    const first: { rows: Row[] | null } = { rows: [1, 2, 3].map(asObject) };
    const seen: number[][] = [];
    const held: Array<Row[] | null> = [];
    for await (const b of inboxBatches(client, 0, 5, 3, true, async () => null, first)) {
      seen.push(b.rows.map((r) => r.id));
      held.push(first.rows);
      if (seen.length === 1) expect(b).toMatchObject({ upTo: 3, stamp: '3/at' });
    }
    expect(seen).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(held).toEqual([null, null]);
    // The given batch is not read again; the next one is read (ahead).
    expect(log).toEqual(['read 3..5']);
  });

  it('reads nothing past the horizon and nothing at all when the pointer is there', async () => {
    const { client, log } = fakeInbox([1, 2, 3]);
    const got: number[] = [];
    for await (const b of inboxBatches(client, 0, 2, 10, false, async () => null)) got.push(...b.rows.map((r) => r.id));
    expect(got).toEqual([1, 2]);
    expect(log).toEqual(['read 0..2']);
    const none = fakeInbox([1]);
    for await (const _ of inboxBatches(none.client, 5, 5, 10, false, async () => null)) expect.unreachable();
    expect(none.log).toEqual([]);
  });

  it('counts a batch the server may merge instead of reading it, neither prepared nor read ahead as rows', async () => {
    const { client, log } = fakeInbox([1, 2, 3, 4, 5, 40, 41, 90]);
    // Light from the third read on: the first batch whole, the rest counted (the read ahead asks as it is sent).
    let asked = 0;
    const prepared: number[][] = [];
    const seen: Array<{ ids: number[]; upTo: number; stamp: string | null; light: unknown }> = [];
    for await (const b of inboxBatches(
      client,
      0,
      95,
      3,
      true,
      async (rows) => prepared.push(rows.map((r) => r.id)),
      { rows: null },
      () => ++asked >= 3,
    ))
      seen.push({
        ids: b.rows.map((r) => r.id),
        upTo: b.upTo,
        stamp: b.stamp,
        light: b.light && { ...b.light, tables: [...b.light.tables] },
      });
    expect(seen.slice(0, 3)).toEqual([
      { ids: [1, 2, 3], upTo: 3, stamp: '3/at', light: null },
      { ids: [4, 5], upTo: 6, stamp: null, light: null },
      { ids: [], upTo: 39, stamp: null, light: { size: 0, tables: [] } },
    ]);
    // Every id counted once, by its table; an empty count moves on to the next row there is.
    const counted = seen.filter((b) => b.light !== null) as Array<{ light: { size: number; tables: string[] } }>;
    expect(counted.reduce((n, b) => n + b.light.size, 0)).toBe(3);
    expect(counted.find((b) => b.light.size === 2)?.light.tables.sort()).toEqual(['t', 'u']);
    expect(prepared).toEqual([[4, 5]]);
    expect(log.filter((l) => l.startsWith('count'))).not.toHaveLength(0);
    expect(log.filter((l) => l.includes('+stamp'))).toEqual(['read 0..3 +stamp']);
    expect(seen.at(-1)!.upTo).toBe(95);
  });

  it('brings the ledger stamp with the first batch when that one is counted', async () => {
    const { client, log } = fakeInbox([1, 2]);
    const seen: Array<{ stamp: string | null; size: number | undefined }> = [];
    for await (const b of inboxBatches(
      client,
      0,
      2,
      10,
      true,
      async () => null,
      { rows: null },
      () => true,
    ))
      seen.push({ stamp: b.stamp, size: b.light?.size });
    expect(seen).toEqual([{ stamp: '3/at', size: 2 }]);
    expect(log).toEqual(['count 0..2 +stamp']);
  });
});
