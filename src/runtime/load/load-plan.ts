/**
 * What `dsync load` does with one source row, as a planner (no database): the row and its
 * version-store entry from the source against what the target holds for that key. The
 * rules are the import's (docs/convergence.md), applied to a whole row at once: the
 * higher causal length wins the row; at equal causal length, under latest-wins, each
 * column goes to the higher version. A row missing an entry counts as `cl` 1 with the
 * lowest version, on either side, as the merge counts it.
 */
import type { ConflictPolicy } from '../../config/config.ts';
import { sameValue } from '../../core/canonical.ts';
import type { ValueMap } from '../../core/change.ts';
import { columnByName, type TableSchema } from '../../core/schema.ts';
import { compareVersions, NO_VERSION, type RowEntry, type Version } from '../import/merge.ts';

export interface LoadSide {
  row: ValueMap | null;
  entry: RowEntry | null;
}

/** How a row that was already at the target came out (reported, never silent). */
export type Resolution = 'equal' | 'source' | 'target' | 'merged' | 'deleted-at-target' | 'manual';

export interface LoadPlan {
  /** insert: the row is new at the target; update: `values` are written over the target's row; none: nothing to write. */
  write: 'insert' | 'update' | 'none';
  values: ValueMap;
  /** The entry to store for the row at the target; null: leave the target's entry (or its absence) as it is. */
  entry: RowEntry | null;
  /** Set when the target already had the key (a row or a tombstone). */
  existing: { resolution: Resolution; columns: string[] } | null;
}

function columnVersion(entry: RowEntry | null, column: string): Version {
  return entry?.columns[column] ?? entry?.base ?? NO_VERSION;
}

const maxVersion = (a: Version, b: Version) => (compareVersions(a, b) >= 0 ? a : b);

/**
 * The entry of a row whose columns came from both sides: each column keeps the version of
 * the side it was taken from, so a change made later on either node still compares right.
 */
export function mergedEntry(
  columns: string[],
  cl: number,
  source: RowEntry | null,
  target: RowEntry | null,
  fromSource: (c: string) => boolean,
): RowEntry | null {
  if (!source && !target) return null;
  const base = maxVersion(source?.base ?? NO_VERSION, target?.base ?? NO_VERSION);
  const versions: Record<string, Version> = {};
  for (const c of columns) {
    const v = fromSource(c) ? columnVersion(source, c) : columnVersion(target, c);
    if (compareVersions(v, base) !== 0) versions[c] = v;
  }
  return { cl, maxVersion: Math.max(source?.maxVersion ?? 0, target?.maxVersion ?? 0), base, columns: versions };
}

/** `columns`: the columns copied (synchronized on both sides); `values` of the source row hold all of them. */
export function planLoadRow(
  table: TableSchema,
  policy: ConflictPolicy,
  columns: string[],
  source: LoadSide & { row: ValueMap },
  target: LoadSide,
): LoadPlan {
  const sourceCl = source.entry?.cl ?? 1;
  const targetCl = target.entry?.cl ?? (target.row ? 1 : 0);
  if (!target.row) {
    // A tombstone with a higher causal length: the row was deleted at the target after this incarnation.
    if (target.entry && targetCl > sourceCl)
      return { write: 'none', values: {}, entry: null, existing: { resolution: 'deleted-at-target', columns: [] } };
    return {
      write: 'insert',
      values: source.row,
      entry: source.entry,
      existing: target.entry ? { resolution: 'source', columns: [] } : null,
    };
  }
  const differing = columns.filter((c) => !sameValue(columnByName(table, c)!, source.row[c], target.row![c]));
  const keep = (resolution: Resolution): LoadPlan => ({
    write: 'none',
    values: {},
    entry: null,
    existing: { resolution, columns: differing },
  });
  const take = (names: string[], entry: RowEntry | null, resolution: Resolution): LoadPlan => ({
    write: names.length ? 'update' : 'none',
    values: Object.fromEntries(names.map((c) => [c, source.row[c]])),
    entry,
    existing: { resolution: differing.length ? resolution : 'equal', columns: differing },
  });
  if (sourceCl > targetCl) return take(differing, source.entry, 'source');
  if (sourceCl < targetCl) return keep(differing.length ? 'target' : 'equal');
  if (policy === 'manual') {
    // Equal rows need no person; differing ones are kept and reported for one.
    return differing.length
      ? keep('manual')
      : take(
          [],
          mergedEntry(columns, sourceCl, source.entry, target.entry, () => true),
          'equal',
        );
  }
  if (policy === 'target-wins') return keep(differing.length ? 'target' : 'equal');
  // latest-wins: per column, the higher version; a tie (two rows that never changed
  // since the triggers came) goes to the source, which is what a load is for.
  const fromSource = (c: string) =>
    policy === 'source-wins' || compareVersions(columnVersion(source.entry, c), columnVersion(target.entry, c)) >= 0;
  const won = differing.filter(fromSource);
  const entry = mergedEntry(columns, sourceCl, source.entry, target.entry, fromSource);
  const resolution: Resolution = won.length === differing.length ? 'source' : won.length === 0 ? 'target' : 'merged';
  return take(won, sameEntry(entry, target.entry) ? null : entry, resolution);
}

function sameEntry(a: RowEntry | null, b: RowEntry | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
