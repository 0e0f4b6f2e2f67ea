/**
 * The merge planner case by case (docs/convergence.md): every conflict kind under every
 * policy, and the existence rules of the causal length, without a database.
 */
import { describe, expect, it } from 'vitest';
import type { ConflictPolicy } from '../../src/config/config.ts';
import type { ChangeEvent, ValueMap } from '../../src/core/change.ts';
import { planChange, type RowEntry, type RowState } from '../../src/runtime/import/merge.ts';
import { mergeTable } from '../helpers/merge-table.ts';

const table = mergeTable;

const entry = (cl: number, base: number, columns: Record<string, number> = {}): RowEntry => ({
  cl,
  maxVersion: Math.max(base, ...Object.values(columns)),
  base: { time: base, server: 'here' },
  columns: Object.fromEntries(Object.entries(columns).map(([c, t]) => [c, { time: t, server: 'here' }])),
});
const live = (row: ValueMap, e: RowEntry): RowState => ({ row, entry: e });
const gone = (cl: number, at: number): RowState => ({ row: null, entry: entry(cl, at) });
const change = (c: Partial<ChangeEvent> & Pick<ChangeEvent, 'operation' | 'cl' | 'version'>): ChangeEvent => ({
  table: 't',
  key: { id: 1 },
  keyOld: null,
  values: {},
  oldValues: null,
  clOld: null,
  origin: { serverId: 'there', changeId: 7, userId: null, updatedAt: null },
  ...c,
});

const ROW = { id: 1, a: 'x', b: 'y' };

// [case, change, state here, per policy: outcome / conflict resolution / row after (undefined: as before)]
type Expect = { outcome: string; resolution?: string | null; row?: ValueMap | null };
const every = (want: Expect): Record<ConflictPolicy, Expect> => ({
  'latest-wins': want,
  'source-wins': want,
  'target-wins': want,
  manual: want,
});
const CASES: Array<[string, ChangeEvent, RowState, Record<ConflictPolicy, Expect>]> = [
  [
    'update of a column changed here too, incoming newer',
    change({ operation: 'U', cl: 1, version: 300, values: { a: 'theirs' }, oldValues: { a: 'x0' } }),
    live(ROW, entry(1, 100, { a: 200 })),
    {
      'latest-wins': { outcome: 'applied', resolution: 'applied', row: { ...ROW, a: 'theirs' } },
      'source-wins': { outcome: 'applied', resolution: 'applied', row: { ...ROW, a: 'theirs' } },
      'target-wins': { outcome: 'unchanged', resolution: 'kept', row: ROW },
      manual: { outcome: 'parked', resolution: 'parked', row: ROW },
    },
  ],
  [
    'update of a column changed here too, incoming older',
    change({ operation: 'U', cl: 1, version: 150, values: { a: 'theirs' }, oldValues: { a: 'x0' } }),
    live(ROW, entry(1, 100, { a: 200 })),
    {
      'latest-wins': { outcome: 'unchanged', resolution: 'kept', row: ROW },
      'source-wins': { outcome: 'applied', resolution: 'applied', row: { ...ROW, a: 'theirs' } },
      'target-wins': { outcome: 'unchanged', resolution: 'kept', row: ROW },
      manual: { outcome: 'parked', resolution: 'parked', row: ROW },
    },
  ],
  [
    'update of another column than the one changed here',
    change({ operation: 'U', cl: 1, version: 150, values: { b: 'theirs' }, oldValues: { b: 'y' } }),
    live(ROW, entry(1, 100, { a: 200 })),
    {
      'latest-wins': { outcome: 'applied', resolution: null, row: { ...ROW, b: 'theirs' } },
      'source-wins': { outcome: 'applied', resolution: null, row: { ...ROW, b: 'theirs' } },
      'target-wins': { outcome: 'applied', resolution: null, row: { ...ROW, b: 'theirs' } },
      manual: { outcome: 'applied', resolution: null, row: { ...ROW, b: 'theirs' } },
    },
  ],
  [
    'update of a row deleted here (its delete did not see the update)',
    change({ operation: 'U', cl: 1, version: 900, values: { a: 'theirs' }, oldValues: { a: 'x' } }),
    gone(2, 500),
    {
      'latest-wins': { outcome: 'stale', resolution: 'kept', row: null },
      'source-wins': { outcome: 'stale', resolution: 'kept', row: null },
      'target-wins': { outcome: 'stale', resolution: 'kept', row: null },
      manual: { outcome: 'parked', resolution: 'parked', row: null },
    },
  ],
  [
    'delete of a row changed here',
    change({ operation: 'D', cl: 2, version: 150, oldValues: ROW }),
    live({ ...ROW, a: 'mine' }, entry(1, 100, { a: 200 })),
    {
      'latest-wins': { outcome: 'applied', resolution: 'applied', row: null },
      'source-wins': { outcome: 'applied', resolution: 'applied', row: null },
      'target-wins': { outcome: 'unchanged', resolution: 'kept', row: { ...ROW, a: 'mine' } },
      manual: { outcome: 'parked', resolution: 'parked', row: { ...ROW, a: 'mine' } },
    },
  ],
  [
    'delete of a row deleted here too',
    change({ operation: 'D', cl: 2, version: 150, oldValues: ROW }),
    gone(2, 120),
    {
      'latest-wins': { outcome: 'stale', resolution: null, row: null },
      'source-wins': { outcome: 'stale', resolution: null, row: null },
      'target-wins': { outcome: 'stale', resolution: null, row: null },
      manual: { outcome: 'stale', resolution: null, row: null },
    },
  ],
  [
    'insert of a key inserted here with other values, incoming newer',
    change({ operation: 'I', cl: 1, version: 300, values: { id: 1, a: 'theirs', b: 'y' } }),
    live(ROW, entry(1, 200)),
    {
      'latest-wins': { outcome: 'applied', resolution: 'applied', row: { ...ROW, a: 'theirs' } },
      'source-wins': { outcome: 'applied', resolution: 'applied', row: { ...ROW, a: 'theirs' } },
      'target-wins': { outcome: 'unchanged', resolution: 'kept', row: ROW },
      manual: { outcome: 'parked', resolution: 'parked', row: ROW },
    },
  ],
  [
    'insert of a deleted key (a re-insert) beats the tombstone',
    change({ operation: 'I', cl: 3, version: 300, values: { id: 1, a: 'again', b: null } }),
    gone(2, 200),
    every({ outcome: 'applied', resolution: null, row: { id: 1, a: 'again', b: null } }),
  ],
  [
    'late insert of an incarnation deleted since',
    change({ operation: 'I', cl: 1, version: 100, values: ROW }),
    gone(2, 200),
    every({ outcome: 'stale', resolution: null, row: null }),
  ],
  [
    'update that arrives before the insert it follows',
    change({ operation: 'U', cl: 3, version: 300, values: { a: 'later' }, oldValues: { a: 'x' } }),
    gone(2, 200),
    every({ outcome: 'pending', resolution: null, row: null }),
  ],
];

describe.each(CASES)('%s', (_, incoming, here, byPolicy) => {
  it.each(Object.entries(byPolicy))('under %s', (policy, want) => {
    const plan = planChange(table, policy as ConflictPolicy, incoming, here);
    expect(plan.outcome).toBe(want.outcome);
    if (want.resolution !== undefined) expect(plan.conflict?.resolution ?? null).toBe(want.resolution);
    const after = plan.states.length ? plan.states[0].state.row : here.row;
    if (want.row !== undefined) expect(after).toEqual(want.row);
  });
});

describe('versions and existence', () => {
  it('a pending update merges by version once its insert is here, whichever came first', () => {
    const insert = change({ operation: 'I', cl: 1, version: 100, values: ROW });
    const update = change({ operation: 'U', cl: 1, version: 200, values: { a: 'upd' }, oldValues: { a: 'x' } });
    const empty: RowState = { row: null, entry: null };
    expect(planChange(table, 'latest-wins', update, empty).outcome).toBe('pending');
    const inserted = planChange(table, 'latest-wins', insert, empty).states[0].state;
    const merged = planChange(table, 'latest-wins', update, inserted);
    expect(merged.states[0].state.row).toEqual({ ...ROW, a: 'upd' });
  });

  it('a key change moves the row in one update, and leaves a tombstone at the old key', () => {
    const move = change({
      operation: 'U',
      key: { id: 2 },
      keyOld: { id: 1 },
      cl: 1,
      clOld: 2,
      version: 300,
      values: { id: 2, a: 'x', b: 'y' },
      oldValues: { id: 1 },
    });
    const plan = planChange(table, 'latest-wins', move, { row: null, entry: null }, live(ROW, entry(1, 100)));
    expect(plan.ops).toEqual([{ kind: 'update', key: { id: 1 }, values: { id: 2, a: 'x', b: 'y' } }]);
    expect(plan.states.map((s) => [s.key, s.state.row, s.state.entry?.cl])).toEqual([
      [{ id: 2 }, { id: 2, a: 'x', b: 'y' }, 1],
      [{ id: 1 }, null, 2],
    ]);
  });

  it('a winning insert that does not name a column (added on one node first) leaves it NULL, as its origin has it', () => {
    // Node A has column b and inserted key 1 at 100 with b = 'mine'; node B, without b yet, inserted key 1 at 200.
    const atA = live({ id: 1, a: 'x', b: 'mine' }, entry(1, 100));
    const fromB = change({ operation: 'I', cl: 1, version: 200, values: { id: 1, a: 'y' } });
    const planA = planChange(table, 'latest-wins', fromB, atA);
    expect(planA.ops).toEqual([{ kind: 'update', key: { id: 1 }, values: { a: 'y', b: null } }]);
    expect(planA.states[0].state.row).toEqual({ id: 1, a: 'y', b: null });
    // At B, once b is added (NULL in the row B inserted), A's older insert loses every column: the same row.
    const atB = live({ id: 1, a: 'y', b: null }, entry(1, 200));
    const fromA = change({ operation: 'I', cl: 1, version: 100, values: { id: 1, a: 'x', b: 'mine' } });
    const planB = planChange(table, 'latest-wins', fromA, atB);
    expect(planB.ops).toEqual([]);
    expect(planB.states[0].state.row).toEqual(planA.states[0].state.row);
    expect(planA.states[0].state.entry?.columns.b).toEqual({ time: 200, server: 'there' });
    // A newer incarnation replacing one still here does the same; an older insert loses and changes nothing.
    const reborn = planChange(table, 'latest-wins', { ...fromB, cl: 3 }, atA);
    expect(reborn.states[0].state.row).toEqual({ id: 1, a: 'y', b: null });
    expect(planChange(table, 'latest-wins', { ...fromB, version: 50 }, atA).ops).toEqual([]);
    // A new row takes only what the insert names (the database fills the rest); a column with a default is left alone.
    expect(planChange(table, 'latest-wins', fromB, { row: null, entry: null }).ops).toEqual([
      { kind: 'insert', values: { id: 1, a: 'y' } },
    ]);
    const withDefault = { ...table, columns: table.columns.map((c) => (c.name === 'b' ? { ...c, default: "'d'" } : c)) };
    expect(planChange(withDefault, 'latest-wins', fromB, atA).ops).toEqual([{ kind: 'update', key: { id: 1 }, values: { a: 'y' } }]);
  });

  it('a seed-format row (no clock) is the newest change of its row when it arrives', () => {
    const seed = change({
      operation: 'U',
      cl: null,
      version: null,
      values: { a: 'seed' },
      origin: { serverId: 'there', changeId: 1, userId: null, updatedAt: '2000-01-01 00:00:00.000000' },
    });
    const plan = planChange(table, 'latest-wins', seed, live(ROW, entry(1, 100, { a: 5_000_000_000_000_000 })));
    expect(plan.states[0].state.row).toEqual({ ...ROW, a: 'seed' });
    expect(plan.forward?.version.time).toBe(5_000_000_000_000_001);
  });

  it('versions tie-break on the server id, the same way on every node', () => {
    const mine = live(ROW, entry(1, 100, { a: 200 }));
    const theirs = (server: string) =>
      change({
        operation: 'U',
        cl: 1,
        version: 200,
        values: { a: server },
        oldValues: { a: 'x0' },
        origin: { serverId: server, changeId: 1, userId: null, updatedAt: null },
      });
    expect(planChange(table, 'latest-wins', theirs('zzz'), mine).outcome).toBe('applied');
    expect(planChange(table, 'latest-wins', theirs('aaa'), mine).outcome).toBe('unchanged');
  });
});
