/** The load's planner: a source row against what the target holds, by causal length, then version, then policy. */
import { describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import type { RowEntry } from '../../src/runtime/import/merge.ts';
import { planLoadRow } from '../../src/runtime/load/load-plan.ts';

const table: TableSchema = {
  name: 't',
  schema: null,
  primaryKey: ['id'],
  columns: [
    { name: 'id', nativeType: 'int', family: 'integer', nullable: false, default: null },
    { name: 'a', nativeType: 'text', family: 'text', nullable: true, default: null },
    { name: 'b', nativeType: 'text', family: 'text', nullable: true, default: null },
  ],
};
const columns = ['id', 'a', 'b'];
const row = (a: string | null, b: string | null): ValueMap => ({ id: 1, a, b });
const entry = (cl: number, base: number, columns: Record<string, number> = {}, server = 's'): RowEntry => ({
  cl,
  maxVersion: Math.max(base, ...Object.values(columns)),
  base: { time: base, server },
  columns: Object.fromEntries(Object.entries(columns).map(([c, t]) => [c, { time: t, server }])),
});

describe('planLoadRow', () => {
  it('inserts a row the target lacks, with the source entry (none when the source has none)', () => {
    expect(planLoadRow(table, 'latest-wins', columns, { row: row('x', 'y'), entry: null }, { row: null, entry: null })).toMatchObject({
      write: 'insert',
      entry: null,
      existing: null,
    });
    const e = entry(1, 10);
    expect(planLoadRow(table, 'latest-wins', columns, { row: row('x', 'y'), entry: e }, { row: null, entry: null })).toMatchObject({
      write: 'insert',
      entry: e,
    });
  });

  it('leaves a key deleted at the target after this incarnation deleted', () => {
    const plan = planLoadRow(table, 'latest-wins', columns, { row: row('x', 'y'), entry: null }, { row: null, entry: entry(2, 20) });
    expect(plan).toMatchObject({ write: 'none', existing: { resolution: 'deleted-at-target' } });
  });

  it('reports an equal row as equal and writes nothing', () => {
    const plan = planLoadRow(table, 'latest-wins', columns, { row: row('x', 'y'), entry: null }, { row: row('x', 'y'), entry: null });
    expect(plan).toMatchObject({ write: 'none', existing: { resolution: 'equal', columns: [] } });
  });

  it('latest-wins: per column, the higher version; a tie goes to the source', () => {
    const plan = planLoadRow(
      table,
      'latest-wins',
      columns,
      { row: row('src-a', 'src-b'), entry: entry(1, 10, { a: 30 }) },
      { row: row('tgt-a', 'tgt-b'), entry: entry(1, 10, { b: 40 }) },
    );
    expect(plan.write).toBe('update');
    expect(plan.values).toEqual({ a: 'src-a' });
    expect(plan.existing).toEqual({ resolution: 'merged', columns: ['a', 'b'] });
    expect(plan.entry?.columns).toEqual({ a: { time: 30, server: 's' }, b: { time: 40, server: 's' } });
    const tie = planLoadRow(table, 'latest-wins', columns, { row: row('src', null), entry: null }, { row: row('tgt', null), entry: null });
    expect(tie).toMatchObject({ write: 'update', values: { a: 'src' }, existing: { resolution: 'source' } });
  });

  it('a higher causal length wins the whole row', () => {
    const newer = planLoadRow(
      table,
      'target-wins',
      columns,
      { row: row('s', 's'), entry: entry(3, 5) },
      { row: row('t', 't'), entry: entry(1, 50) },
    );
    expect(newer).toMatchObject({ write: 'update', existing: { resolution: 'source' } });
    const older = planLoadRow(
      table,
      'source-wins',
      columns,
      { row: row('s', 's'), entry: entry(1, 50) },
      { row: row('t', 't'), entry: entry(3, 5) },
    );
    expect(older).toMatchObject({ write: 'none', existing: { resolution: 'target' } });
  });

  it('target-wins keeps, manual keeps and reports, source-wins takes', () => {
    const s = { row: row('s', null), entry: entry(1, 5) };
    const t = { row: row('t', null), entry: entry(1, 50) };
    expect(planLoadRow(table, 'target-wins', columns, s, t)).toMatchObject({
      write: 'none',
      existing: { resolution: 'target', columns: ['a'] },
    });
    expect(planLoadRow(table, 'manual', columns, s, t)).toMatchObject({
      write: 'none',
      existing: { resolution: 'manual', columns: ['a'] },
    });
    expect(planLoadRow(table, 'source-wins', columns, s, t)).toMatchObject({
      write: 'update',
      values: { a: 's' },
      existing: { resolution: 'source' },
    });
  });
});
