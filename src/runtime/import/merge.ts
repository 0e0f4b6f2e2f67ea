/**
 * Column-level merge (guarantee 5, docs/convergence.md), as a planner: given a change
 * and the row's state on this node (its values and its version-store entry), it
 * decides what to write, without touching the database.
 *
 * Row existence follows the causal length (`cl`: odd exists, even deleted; the higher
 * wins), column values follow per-column versions (hybrid logical clock, then server
 * id): whatever the order in which changes arrive, every node ends with the same rows
 * and the same versions. Conflicts (a column changed here since the change's old
 * value, an update of a deleted row, an insert of an existing key, a delete of a
 * changed row) are returned for ds_change_conflict; the table's policy decides them.
 */
import type { ConflictPolicy } from '../../config/config.ts';
import { parseDateTime, sameValue, wireDateTimeParts } from '../../core/canonical.ts';
import type { ChangeEvent, Operation, ValueMap } from '../../core/change.ts';
import { columnByName, syncedColumns, type TableSchema } from '../../core/schema.ts';

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

/** A column's version: the change's clock in microseconds since the epoch, then the origin server. */
export interface Version {
  time: number;
  server: string;
}

export const NO_VERSION: Version = { time: 0, server: '' };

export function compareVersions(a: Version, b: Version): number {
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  return a.server < b.server ? -1 : a.server > b.server ? 1 : 0;
}

/** A row's entry in ds_row_version. */
export interface RowEntry {
  /** Causal length: odd while the row exists, even once deleted. */
  cl: number;
  /** Highest version written on the row: a local change takes a higher one. */
  maxVersion: number;
  /** Version of the row's last insert or delete: every column not in `columns` has it. */
  base: Version;
  /** Columns updated since that insert. */
  columns: Record<string, Version>;
}

/** A row on this node as the planner sees it: values (null: no row) and entry (null: none). */
export interface RowState {
  row: ValueMap | null;
  entry: RowEntry | null;
}

/**
 * A row's state after an applied update: the row before with the values written over it. The
 * whole row (a copy of every column, ~480 bytes a change that lived as long as the batch) is
 * spelled only when something reads it: a later change of the same row in the batch, or a
 * delete's forwarded record. Neither object it is made of changes after planning.
 */
class UpdatedState implements RowState {
  private merged: ValueMap | null = null;
  constructor(
    private readonly before: ValueMap,
    private readonly values: ValueMap,
    readonly entry: RowEntry | null,
  ) {}
  get row(): ValueMap {
    if (this.merged === null) this.merged = { ...this.before, ...this.values };
    return this.merged;
  }
}

/** The change as this node forwards it: origin kept, causal lengths and version resolved. */
export interface Forward {
  operation: Operation;
  key: ValueMap;
  keyOld: ValueMap | null;
  values: ValueMap | null;
  oldValues: ValueMap | null;
  cl: number;
  clOld: number | null;
  version: Version;
}

export type Outcome = 'applied' | 'unchanged' | 'stale' | 'pending' | 'parked';

export interface Plan {
  outcome: Outcome;
  ops: RowOp[];
  conflict: Conflict | null;
  /** The new state of every row the change touched (the key, and the old key of a key change). */
  states: Array<{ key: ValueMap; state: RowState }>;
  /** What to record in the outbox for forwarding; null when the change left nothing to tell. */
  forward: Forward | null;
}

/** The version of a change: its clock, or for seed-format rows the time it carries. */
export function changeVersion(change: ChangeEvent, now: () => number = () => Date.now() * 1000): Version {
  if (change.version !== null) return { time: change.version, server: change.origin.serverId };
  return { time: timeToMicros(change.origin.updatedAt) ?? now(), server: change.origin.serverId };
}

export function timeToMicros(time: string | null): number | null {
  const parts = (time !== null && wireDateTimeParts(time)) || parseDateTime(time);
  if (!parts) return null;
  const ms = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return ms * 1000 + parts.micro;
}

export function localCl(state: RowState): number {
  return state.entry?.cl ?? (state.row ? 1 : 0);
}

const isLive = (cl: number) => cl % 2 === 1;

function columnVersion(entry: RowEntry | null, column: string): Version {
  return entry?.columns[column] ?? entry?.base ?? NO_VERSION;
}

function pick(values: ValueMap, names: readonly string[]): ValueMap {
  const out: ValueMap = {};
  for (const n of names) out[n] = values[n];
  return out;
}

/** Columns of `names` whose values differ; both sides are canonical, so one spelling is one value and needs no reading. */
function differing(table: TableSchema, a: ValueMap, b: ValueMap, names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    const x = a[n];
    const y = b[n];
    if (x !== y && !sameValue(columnByName(table, n)!, x, y)) out.push(n);
  }
  return out;
}

function keyOf(table: TableSchema, row: ValueMap): ValueMap {
  return pick(row, table.primaryKey);
}

/** The entry of a new incarnation (an insert) or of a deletion. */
function freshEntry(previous: RowEntry | null, cl: number, version: Version): RowEntry {
  return { cl, maxVersion: Math.max(previous?.maxVersion ?? 0, version.time), base: version, columns: {} };
}

/** The entry after `won` columns took `version` (and the clock saw it). */
function advanced(previous: RowEntry | null, cl: number, version: Version, won: string[]): RowEntry {
  const columns = { ...(previous?.columns ?? {}) };
  for (const c of won) if (compareVersions(version, columnVersion(previous, c)) > 0) columns[c] = version;
  return { cl, maxVersion: Math.max(previous?.maxVersion ?? 0, version.time), base: previous?.base ?? NO_VERSION, columns };
}

export const sameVersion = (a: Version, b: Version) => a.time === b.time && a.server === b.server;

function sameEntry(a: RowEntry | null, b: RowEntry | null): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  if (a.cl !== b.cl || a.maxVersion !== b.maxVersion || !sameVersion(a.base, b.base)) return false;
  // Column by column, in the same order (what comparing their JSON did).
  const x = Object.keys(a.columns);
  const y = Object.keys(b.columns);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i] || !sameVersion(a.columns[x[i]], b.columns[y[i]])) return false;
  return true;
}

/** Which of `columns` the incoming change takes under `policy`; `conflicting` are the ones changed here since its old value. */
function winners(policy: ConflictPolicy, columns: string[], conflicting: string[], version: Version, entry: RowEntry | null): string[] {
  if (policy === 'source-wins') return columns;
  if (policy === 'target-wins') return columns.filter((c) => !conflicting.includes(c));
  return columns.filter((c) => compareVersions(version, columnVersion(entry, c)) > 0);
}

interface Side {
  ops: RowOp[];
  conflict: Conflict | null;
  state: RowState;
  outcome: Outcome;
}

/**
 * An insert carries the whole row as its origin had it. A synced column it does not name
 * was not there yet (a column added on one node first): at the origin the row holds the
 * column's NULL at the insert's version once the column is added, so when the insert wins
 * a row that is already here, every such nullable column without a default becomes NULL
 * here too, and both nodes end equal (docs/onboarding.md "Changing a synchronized table").
 * A column with a default (or NOT NULL) is left as it is: its value at the origin is the
 * default the ALTER gave it, which the planner cannot evaluate (a limit, same place).
 */
function withAbsentColumns(table: TableSchema, values: ValueMap): ValueMap {
  const absent = syncedColumns(table).filter((c) => !(c.name in values) && c.nullable && c.default === null && !c.identity);
  return absent.length ? { ...Object.fromEntries(absent.map((c) => [c.name, null])), ...values } : values;
}

/** An insert (or the new key of a key change) with cl `cl` and every column in `values`. */
function insertSide(table: TableSchema, policy: ConflictPolicy, named: ValueMap, cl: number, version: Version, here: RowState): Side {
  const local = localCl(here);
  const values = here.row ? withAbsentColumns(table, named) : named;
  if (cl < local) {
    const conflict: Conflict | null = here.row ? { kind: 'insert_exists', columns: [], local: null, resolution: 'kept' } : null;
    return { ops: [], conflict, state: { row: here.row, entry: advanced(here.entry, local, NO_VERSION, []) }, outcome: 'stale' };
  }
  if (cl > local || !here.row) {
    if (!here.row)
      return {
        ops: [{ kind: 'insert', values }],
        conflict: null,
        state: { row: values, entry: freshEntry(here.entry, cl, version) },
        outcome: 'applied',
      };
    // A newer incarnation replaces an older one that is still here (its delete has not arrived).
    const names = Object.keys(values);
    const diff = differing(table, here.row, values, names);
    const conflict: Conflict | null = diff.length
      ? { kind: 'insert_exists', columns: diff, local: pick(here.row, diff), resolution: 'applied' }
      : null;
    if (conflict && policy === 'manual')
      return { ops: [], conflict: { ...conflict, resolution: 'parked' }, state: here, outcome: 'parked' };
    const ops: RowOp[] = diff.length ? [{ kind: 'update', key: keyOf(table, here.row), values: pick(values, diff) }] : [];
    return {
      ops,
      conflict,
      state: { row: { ...here.row, ...values }, entry: freshEntry(here.entry, cl, version) },
      outcome: diff.length ? 'applied' : 'unchanged',
    };
  }
  // The same incarnation inserted on two nodes: column by column.
  const names = Object.keys(values);
  const diff = differing(table, here.row, values, names);
  const conflict: Conflict | null = diff.length
    ? { kind: 'insert_exists', columns: diff, local: pick(here.row, diff), resolution: 'kept' }
    : null;
  if (conflict && policy === 'manual') return { ops: [], conflict: { ...conflict, resolution: 'parked' }, state: here, outcome: 'parked' };
  const won = winners(policy, names, diff, version, here.entry);
  const write = won.filter((c) => diff.includes(c));
  if (conflict && write.length) conflict.resolution = 'applied';
  const ops: RowOp[] = write.length ? [{ kind: 'update', key: keyOf(table, here.row), values: pick(values, write) }] : [];
  return {
    ops,
    conflict,
    state: { row: { ...here.row, ...pick(values, write) }, entry: advanced(here.entry, cl, version, won) },
    outcome: write.length ? 'applied' : 'unchanged',
  };
}

/** A delete (or the old key of a key change) with cl `cl`; `oldValues` are the values the origin deleted or changed. */
function deleteSide(
  table: TableSchema,
  policy: ConflictPolicy,
  oldValues: ValueMap | null,
  cl: number,
  version: Version,
  here: RowState,
): Side {
  const local = localCl(here);
  if (cl <= local) {
    // Already deleted, or re-inserted since: a newer incarnation wins.
    const conflict: Conflict | null = here.row ? { kind: 'delete_changed', columns: [], local: null, resolution: 'kept' } : null;
    return { ops: [], conflict, state: { row: here.row, entry: advanced(here.entry, local, NO_VERSION, []) }, outcome: 'stale' };
  }
  if (!here.row) return { ops: [], conflict: null, state: { row: null, entry: freshEntry(here.entry, cl, version) }, outcome: 'unchanged' };
  const diff = oldValues === null ? [] : differing(table, here.row, oldValues, Object.keys(oldValues));
  const conflict: Conflict | null = diff.length
    ? { kind: 'delete_changed', columns: diff, local: pick(here.row, diff), resolution: 'applied' }
    : null;
  if (conflict && policy === 'manual') return { ops: [], conflict: { ...conflict, resolution: 'parked' }, state: here, outcome: 'parked' };
  if (conflict && policy === 'target-wins')
    return { ops: [], conflict: { ...conflict, resolution: 'kept' }, state: here, outcome: 'unchanged' };
  return {
    ops: [{ kind: 'delete', key: keyOf(table, here.row) }],
    conflict,
    state: { row: null, entry: freshEntry(here.entry, cl, version) },
    outcome: 'applied',
  };
}

/** An update of some columns of a row whose key stays. */
function updateSide(table: TableSchema, policy: ConflictPolicy, change: ChangeEvent, cl: number, version: Version, here: RowState): Side {
  const local = localCl(here);
  const names = Object.keys(change.values);
  if (cl > local) return { ops: [], conflict: null, state: here, outcome: 'pending' };
  if (cl < local || !here.row) {
    // The row was deleted (or replaced) after the incarnation this update belongs to: the delete wins.
    const conflict: Conflict = here.row
      ? { kind: 'update_changed', columns: names, local: pick(here.row, names), resolution: 'kept' }
      : { kind: 'update_missing', columns: names, local: null, resolution: cl < local ? 'kept' : 'none' };
    if (policy === 'manual' && cl < local)
      return { ops: [], conflict: { ...conflict, resolution: 'parked' }, state: here, outcome: 'parked' };
    return { ops: [], conflict, state: { row: here.row, entry: advanced(here.entry, local, NO_VERSION, []) }, outcome: 'stale' };
  }
  const needed = differing(table, here.row, change.values, names);
  const old = change.oldValues;
  const conflicting = old === null ? [] : needed.filter((n) => n in old && !sameValue(columnByName(table, n)!, here.row![n], old[n]));
  const conflict: Conflict | null = conflicting.length
    ? { kind: 'update_changed', columns: conflicting, local: pick(here.row, conflicting), resolution: 'kept' }
    : null;
  if (conflict && policy === 'manual') return { ops: [], conflict: { ...conflict, resolution: 'parked' }, state: here, outcome: 'parked' };
  const won = winners(policy, names, conflicting, version, here.entry);
  // Every column needed (the common update): the winners are the columns written, in their order.
  const write = needed.length === names.length ? won : won.filter((c) => needed.includes(c));
  if (conflict && write.some((c) => conflicting.includes(c))) conflict.resolution = 'applied';
  if (write.length === 0)
    return { ops: [], conflict, state: { row: here.row, entry: advanced(here.entry, cl, version, won) }, outcome: 'unchanged' };
  // The values written, picked once: the op and the row after it share them (neither is changed afterwards);
  // all of the change's values are its own object (which nothing changes either), not a copy.
  const values = write.length === names.length ? change.values : pick(change.values, write);
  const ops: RowOp[] = [{ kind: 'update', key: keyOf(table, here.row), values }];
  const state = new UpdatedState(here.row, values, advanced(here.entry, cl, version, won));
  return { ops, conflict, state, outcome: 'applied' };
}

/** For seed-format rows, which carry no causal length: the one that follows the row's state here. */
function derivedCl(operation: Operation, here: RowState): number {
  const local = localCl(here);
  if (operation === 'I') return isLive(local) ? local : local + 1;
  if (operation === 'D') return isLive(local) ? local + 1 : local;
  return local;
}

function withOutcome(side: Side, states: Plan['states'], forward: Forward | null, before: RowState[]): Plan {
  // Whether an entry moved matters only to a change that left its row unchanged (compared only then).
  const tell =
    side.outcome === 'applied' || (side.outcome === 'unchanged' && states.some(({ state }, i) => !sameEntry(state.entry, before[i].entry)));
  return { outcome: side.outcome, ops: side.ops, conflict: side.conflict, states, forward: tell ? forward : null };
}

/**
 * Plans one change against the row's state here (`target`: at the change's key;
 * `oldTarget`: at its old key, for a key change).
 */
export function planChange(table: TableSchema, policy: ConflictPolicy, change: ChangeEvent, target: RowState, oldTarget?: RowState): Plan {
  let version = changeVersion(change);
  if (change.version === null) {
    // A seed-format row has no clock: it is the newest change of its row when it arrives (docs/convergence.md).
    const seen = Math.max(target.entry?.maxVersion ?? 0, oldTarget?.entry?.maxVersion ?? 0);
    version = { time: Math.max(version.time, seen + 1), server: version.server };
  }
  if (change.operation === 'U' && change.keyOld)
    return planKeyChange(table, policy, change, version, target, oldTarget ?? { row: null, entry: null });
  const cl = change.cl ?? derivedCl(change.operation, target);
  const forward: Forward = {
    operation: change.operation,
    key: change.key,
    keyOld: null,
    values: change.operation === 'D' ? null : change.values,
    oldValues: change.oldValues,
    cl,
    clOld: null,
    version,
  };
  let side: Side;
  if (change.operation === 'I') side = insertSide(table, policy, change.values, cl, version, target);
  else if (change.operation === 'D') {
    side = deleteSide(table, policy, change.oldValues, cl, version, target);
    if (forward.oldValues === null && target.row) forward.oldValues = target.row;
  } else side = updateSide(table, policy, change, cl, version, target);
  return withOutcome(side, [{ key: change.key, state: side.state }], forward, [target]);
}

/** A key change is a delete of the old key and an insert of the new one (docs/convergence.md). */
function planKeyChange(
  table: TableSchema,
  policy: ConflictPolicy,
  change: ChangeEvent,
  version: Version,
  target: RowState,
  oldTarget: RowState,
): Plan {
  const keyOld = change.keyOld!;
  const complete = syncedColumns(table).every((c) => c.name in change.values);
  const full = complete ? change.values : oldTarget.row ? { ...oldTarget.row, ...change.values } : null;
  const clOld = change.clOld ?? derivedCl('D', oldTarget);
  const cl = change.cl ?? derivedCl('I', target);
  const removal = deleteSide(table, policy, null, clOld, version, oldTarget);
  if (!full) {
    const conflict: Conflict = { kind: 'update_missing', columns: Object.keys(change.values), local: null, resolution: 'none' };
    return { outcome: 'stale', ops: [], conflict, states: [{ key: keyOld, state: removal.state }], forward: null };
  }
  const arrival = insertSide(table, policy, full, cl, version, target);
  const forward: Forward = { operation: 'U', key: change.key, keyOld, values: full, oldValues: change.oldValues, cl, clOld, version };
  if (removal.outcome === 'parked' || arrival.outcome === 'parked') {
    return { outcome: 'parked', ops: [], conflict: arrival.conflict ?? removal.conflict, states: [], forward: null };
  }
  let ops: RowOp[] = [...removal.ops, ...arrival.ops];
  const [del, ins] = [removal.ops[0], arrival.ops[0]];
  // The row moves: one UPDATE of every column keeps what hangs on it (ON UPDATE CASCADE) as at the origin.
  if (removal.ops.length === 1 && arrival.ops.length === 1 && del.kind === 'delete' && ins.kind === 'insert')
    ops = [{ kind: 'update', key: del.key, values: full }];
  const outcome: Outcome = ops.length ? 'applied' : removal.outcome === 'stale' && arrival.outcome === 'stale' ? 'stale' : 'unchanged';
  const side: Side = { ops, conflict: arrival.conflict ?? removal.conflict, state: arrival.state, outcome };
  return withOutcome(
    side,
    [
      { key: change.key, state: arrival.state },
      { key: keyOld, state: removal.state },
    ],
    forward,
    [target, oldTarget],
  );
}
