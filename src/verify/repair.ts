/**
 * `dsync verify --repair`: makes B equal to A through B's normal change path. Each
 * difference becomes an ordinary write at B with B's capture triggers on (no origin flag,
 * not silenced), so it is a local change of B: versioned above everything B has seen on
 * the row, logged in B's outbox and forwarded like any change; where it meets A the
 * values are A's own, and on a third node it wins by version. (docs/onboarding.md "Repair")
 */
import type { ValueMap } from '../core/change.ts';
import { deleteRow, insertRow, selectRow, updateRow } from '../runtime/import/dml.ts';
import type { RowDifference, VerifySide } from './compare-tables.ts';

export interface RepairAction {
  kind: 'insert' | 'update' | 'delete';
  key: ValueMap;
  /** Columns written by an update; every compared column for an insert. */
  columns: string[];
}

export interface RepairReport {
  actions: RepairAction[];
  /** Written at B (0 on a dry run). */
  repaired: number;
  /** Rows that changed on A between the compare and the repair (left for the next verify). */
  skipped: number;
}

/** Deletes first, then updates, then inserts: a key freed on B (a case or trailing-space twin) can then be taken. */
export function planRepairs(differences: RowDifference[], columns: string[]): RepairAction[] {
  const kind = { extra: 'delete', changed: 'update', missing: 'insert' } as const;
  const order = { delete: 0, update: 1, insert: 2 } as const;
  return differences
    .map((d) => ({ kind: kind[d.kind], key: d.key, columns: d.kind === 'changed' ? d.columns : d.kind === 'missing' ? columns : [] }))
    .sort((x, y) => order[x.kind] - order[y.kind]);
}

const PER_TRANSACTION = 500;

export async function repairTable(a: VerifySide, b: VerifySide, actions: RepairAction[], dryRun: boolean): Promise<RepairReport> {
  const report: RepairReport = { actions, repaired: 0, skipped: 0 };
  if (dryRun) return report;
  for (let i = 0; i < actions.length; i += PER_TRANSACTION) {
    const slice = actions.slice(i, i + PER_TRANSACTION);
    const sourceRows = new Map<RepairAction, ValueMap | null>();
    for (const action of slice) if (action.kind !== 'delete') sourceRows.set(action, await selectRow(a.client, a.table, action.key));
    await b.client.transaction(async (tx) => {
      for (const action of slice) {
        if (action.kind === 'delete') {
          report.repaired += (await deleteRow(tx, b.table, action.key)) > 0 ? 1 : 0;
          continue;
        }
        const row = sourceRows.get(action);
        if (!row) {
          report.skipped++;
          continue;
        }
        const values = Object.fromEntries(action.columns.map((c) => [c, row[c]]));
        const n = action.kind === 'insert' ? await insertRow(tx, b.table, values) : await updateRow(tx, b.table, action.key, values);
        if (n === 1) report.repaired++;
        else report.skipped++;
      }
    });
  }
  return report;
}
