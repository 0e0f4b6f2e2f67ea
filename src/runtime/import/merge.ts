/**
 * Column-level merge (DESIGN rule 5), as a planner: given a change and the current
 * row, it decides what to write, without touching the database. An update carries
 * old and new values of the changed columns; a column conflicts when its current
 * value is neither the change's old value nor its new one. Non-conflicting columns
 * always apply; conflicting ones follow the table's policy. An insert of an existing
 * key with other values, and an update or delete of a missing or changed row, are
 * conflicts too. Every conflict is returned for ds_change_conflict.
 *
 * latest-wins compares, per column, the change's origin time with the time of the
 * column's last change on this node (from its outbox, where applied changes keep
 * their origin time), then the server id as tie-break: whatever the order of
 * arrival, every node picks the same value.
 */
import type { ConflictPolicy } from '../../config/config.ts';
import { parseDateTime, sameValue } from '../../core/canonical.ts';
import type { ChangeEvent, Operation, ValueMap } from '../../core/change.ts';
import { columnByName, type TableSchema } from '../../core/schema.ts';

export type ConflictKind = 'insert_exists' | 'update_missing' | 'update_changed' | 'delete_missing' | 'delete_changed';

export interface Conflict {
  kind: ConflictKind;
  columns: string[];
  local: ValueMap | null;
  /** What the policy did: applied the incoming values, kept the local ones, parked for a person, or nothing to do. */
  resolution: 'applied' | 'kept' | 'parked' | 'none';
}

export type RowOp =
  | { kind: 'insert'; values: ValueMap }
  | { kind: 'update'; key: ValueMap; values: ValueMap }
  | { kind: 'delete'; key: ValueMap };

/** A change as it was applied here: what this node's outbox records (DESIGN rule 4). */
export interface AppliedChange {
  operation: Operation;
  key: ValueMap;
  keyOld: ValueMap | null;
  values: ValueMap | null;
  oldValues: ValueMap | null;
}

export interface Plan {
  op: RowOp | null;
  conflict: Conflict | null;
  applied: AppliedChange | null;
  /** The row after the change, under its key after the change (null: no row). */
  after: ValueMap | null;
}

export interface Version {
  /** Microseconds since the epoch (UTC). */
  time: number;
  server: string;
}

/** The version of each column's last change of this row on this node. */
export type VersionLookup = (columns: string[]) => Promise<Map<string, Version>>;

export function versionOf(time: unknown, server: unknown): Version | null {
  const parts = parseDateTime(time === null || time === undefined ? null : String(time));
  if (!parts) return null;
  const ms = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return { time: ms * 1000 + parts.micro, server: String(server ?? '') };
}

/** True when the incoming change beats the local version of a column. */
function incomingWins(incoming: Version | null, local: Version | undefined): boolean {
  if (!local) return true;
  if (!incoming) return false;
  if (incoming.time !== local.time) return incoming.time > local.time;
  return incoming.server > local.server;
}

function pick(values: ValueMap, names: string[]): ValueMap {
  return Object.fromEntries(names.map((n) => [n, values[n]]));
}

function differing(table: TableSchema, a: ValueMap, b: ValueMap, names: string[]): string[] {
  return names.filter((n) => !sameValue(columnByName(table, n)!, a[n], b[n]));
}

/** Splits conflicting columns into the ones the incoming change wins and the ones kept local. */
async function decide(policy: ConflictPolicy, change: ChangeEvent, columns: string[], versions: VersionLookup): Promise<string[]> {
  if (policy === 'source-wins') return columns;
  if (policy === 'target-wins') return [];
  const local = await versions(columns);
  const incoming = versionOf(change.origin.updatedAt, change.origin.serverId);
  return columns.filter((c) => incomingWins(incoming, local.get(c)));
}

function keyOf(table: TableSchema, row: ValueMap): ValueMap {
  return pick(row, table.primaryKey);
}

/** An update of `columns` of the current row, recorded as the change applied here. */
function updatePlan(table: TableSchema, lookupKey: ValueMap, current: ValueMap, newValues: ValueMap, columns: string[], conflict: Conflict | null): Plan {
  if (columns.length === 0) return { op: null, conflict, applied: null, after: current };
  const values = pick(newValues, columns);
  const after = { ...current, ...values };
  const key = keyOf(table, after);
  const keyChanged = table.primaryKey.some((k) => k in values);
  return {
    op: { kind: 'update', key: lookupKey, values },
    conflict,
    applied: { operation: 'U', key, keyOld: keyChanged ? lookupKey : null, values, oldValues: pick(current, columns) },
    after,
  };
}

/**
 * Plans one change against the current row (`current`, null when there is none).
 * A `manual` policy that meets a conflict returns resolution `parked` and no op.
 */
export async function planChange(table: TableSchema, policy: ConflictPolicy, change: ChangeEvent, current: ValueMap | null, versions: VersionLookup): Promise<Plan> {
  if (change.operation === 'I') {
    if (!current) {
      return { op: { kind: 'insert', values: change.values }, conflict: null, applied: { operation: 'I', key: change.key, keyOld: null, values: change.values, oldValues: null }, after: change.values };
    }
    const diff = differing(table, current, change.values, Object.keys(change.values));
    if (diff.length === 0) return { op: null, conflict: null, applied: null, after: current };
    const conflict: Conflict = { kind: 'insert_exists', columns: diff, local: pick(current, diff), resolution: 'parked' };
    if (policy === 'manual') return { op: null, conflict, applied: null, after: current };
    const win = await decide(policy, change, diff, versions);
    conflict.resolution = win.length > 0 ? 'applied' : 'kept';
    return updatePlan(table, change.key, current, change.values, win, conflict);
  }
  if (change.operation === 'U') {
    const lookupKey = change.keyOld ?? change.key;
    if (!current) {
      return { op: null, conflict: { kind: 'update_missing', columns: Object.keys(change.values), local: null, resolution: policy === 'manual' ? 'parked' : 'none' }, applied: null, after: null };
    }
    const needed = differing(table, current, change.values, Object.keys(change.values));
    const old = change.oldValues;
    const conflicting = old === null ? [] : needed.filter((n) => n in old && !sameValue(columnByName(table, n)!, current[n], old[n]));
    const clean = needed.filter((n) => !conflicting.includes(n));
    if (conflicting.length === 0) return updatePlan(table, lookupKey, current, change.values, clean, null);
    const conflict: Conflict = { kind: 'update_changed', columns: conflicting, local: pick(current, conflicting), resolution: 'parked' };
    if (policy === 'manual') return { op: null, conflict, applied: null, after: current };
    const win = await decide(policy, change, conflicting, versions);
    conflict.resolution = win.length > 0 ? 'applied' : 'kept';
    return updatePlan(table, lookupKey, current, change.values, [...clean, ...win], conflict);
  }
  if (!current) return { op: null, conflict: { kind: 'delete_missing', columns: [], local: null, resolution: 'none' }, applied: null, after: null };
  const diff = change.oldValues === null ? [] : differing(table, current, change.oldValues, Object.keys(change.oldValues));
  const deletion: Plan = { op: { kind: 'delete', key: change.key }, conflict: null, applied: { operation: 'D', key: change.key, keyOld: null, values: null, oldValues: current }, after: null };
  if (diff.length === 0) return deletion;
  const conflict: Conflict = { kind: 'delete_changed', columns: diff, local: pick(current, diff), resolution: 'parked' };
  if (policy === 'manual') return { op: null, conflict, applied: null, after: current };
  const win = await decide(policy, change, diff, versions);
  if (win.length < diff.length) return { op: null, conflict: { ...conflict, resolution: 'kept' }, applied: null, after: current };
  return { ...deletion, conflict: { ...conflict, resolution: 'applied' } };
}

/** Every spelling a trigger may have given this key in object_id (compact or with spaces, key order as given or jsonb's). */
export function keySpellings(table: TableSchema, key: ValueMap): string[] {
  if (table.primaryKey.length === 1) return [JSON.stringify(key[table.primaryKey[0]])];
  const ordered = table.primaryKey.map((k) => [k, key[k]] as const);
  const jsonbOrder = [...ordered].sort(([a], [b]) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  const spaced = (pairs: ReadonlyArray<readonly [string, unknown]>) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;
  const compact = (pairs: ReadonlyArray<readonly [string, unknown]>) => JSON.stringify(Object.fromEntries(pairs));
  return [...new Set([compact(ordered), spaced(ordered), compact(jsonbOrder), spaced(jsonbOrder)])];
}
