/**
 * executeOps' grouping of a wave (row-writer.ts): every operation lands in the statement of
 * its kind, table and set of columns, groups in order of their first member, members in wave
 * order; whatever order the columns are named in and however the rows alternate. Checked
 * against the grouping spelled out plainly here, on seeded random waves.
 */
import { describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { BulkWriter, DbClient } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import type { RowOp } from '../../src/runtime/import/merge.ts';
import { executeOps, type PlannedOp } from '../../src/runtime/import/row-writer.ts';

const table = (name: string): TableSchema => ({
  name,
  schema: null,
  primaryKey: ['id'],
  columns: ['id', 'a', 'b', 'c'].map((c) => ({ name: c, family: 'text', nativeType: 'TEXT', nullable: c !== 'id', default: null })),
});

type Call = [string, string, ...string[]];

/** A client whose bulk writer and single statements only record what they were given. */
function recorder(calls: Call[]): DbClient {
  const ids = (rows: ValueMap[]) => rows.map((r) => String(r.id));
  const bulk: BulkWriter = {
    insertRows: async () => undefined,
    insertTableRows: async (_tx, t, rows) => void calls.push(['insert', t.name, ...ids(rows)]),
    updateTableRows: async (_tx, t, columns, rows) =>
      void calls.push([`update ${[...columns].sort().join(',')}`, t.name, ...ids(rows.map((r) => r.key))]),
    deleteTableRows: async (_tx, t, keys) => void calls.push(['delete', t.name, ...ids(keys)]),
  };
  const client: DbClient = {
    dialect: { ...sqliteDialect, bulk },
    query: async (sql, params = []) => {
      const kind = sql.startsWith('INSERT') ? 'insert' : sql.startsWith('UPDATE') ? 'update' : 'delete';
      const name = /^(?:INSERT INTO|UPDATE|DELETE FROM) "?(\w+)"?/.exec(sql)![1];
      calls.push([`one ${kind}`, name, String(kind === 'insert' ? params[0] : params[params.length - 1])]);
      return { rows: [], rowCount: 1 };
    },
    exec: async () => undefined,
    transaction: async (fn) => fn(client),
    close: async () => undefined,
  };
  return client;
}

/** The grouping spelled out: group text of kind, table name and sorted column names; the first member's column order for an update. */
function expectedCalls(wave: PlannedOp[]): Call[] {
  const groups = new Map<string, PlannedOp[]>();
  for (const kind of ['delete', 'update', 'insert'] as const)
    for (const entry of wave) {
      if (entry.op.kind !== kind) continue;
      const columns = entry.op.kind === 'delete' ? '' : Object.keys(entry.op.values).sort().join(',');
      const group = `${kind}|${entry.table.name}|${columns}`;
      groups.set(group, [...(groups.get(group) ?? []), entry]);
    }
  return [...groups.values()].map((members): Call => {
    const { table: t, op } = members[0];
    const id = (e: PlannedOp) => String(e.op.kind === 'insert' ? e.op.values.id : e.op.key.id);
    if (members.length === 1) return [`one ${op.kind}`, t.name, id(members[0])];
    if (op.kind === 'update') return [`update ${Object.keys(op.values).sort().join(',')}`, t.name, ...members.map(id)];
    return [op.kind, t.name, ...members.map(id)];
  });
}

describe('executeOps groups a wave by kind, table and columns', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 100000);
  it(`matches the plain grouping on random waves (seed ${seed})`, async () => {
    let s = seed;
    const next = (n: number) => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return Math.floor((s / 2147483648) * n);
    };
    const tables = [table('t1'), table('t2'), table('t1')]; // two objects of one name: one group
    const orders = [['a'], ['b'], ['a', 'b'], ['b', 'a'], ['a', 'b', 'c'], ['c', 'b', 'a'], ['c']];
    for (let round = 0; round < 200; round++) {
      const wave: PlannedOp[] = [];
      const n = 1 + next(40);
      for (let i = 0; i < n; i++) {
        const t = tables[next(tables.length)];
        const id = `k${round}_${i}`;
        const values: ValueMap = {};
        for (const c of orders[next(orders.length)]) values[c] = `${c}${i}`;
        const kind = next(3);
        const op: RowOp =
          kind === 0
            ? { kind: 'insert', values: { id, ...values } }
            : kind === 1
              ? { kind: 'update', key: { id }, values }
              : { kind: 'delete', key: { id } };
        wave.push({ table: t, identity: `${t.name}/${id}`, op });
      }
      const calls: Call[] = [];
      await executeOps(recorder(calls), wave);
      expect(calls, `round ${round}, seed ${seed}`).toEqual(expectedCalls(wave));
    }
  });
});
