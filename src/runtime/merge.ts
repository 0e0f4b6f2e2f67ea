/**
 * Column-level merge (DESIGN rule 5). An update carries old and new values of the
 * changed columns; a column conflicts when its current value is neither the change's
 * old value nor its new one. Non-conflicting columns always apply; conflicting ones
 * follow the table's policy. An insert of an existing key and a delete of a changed
 * or missing row are conflicts too. Every conflict is returned for ds_change_conflict.
 *
 * latest-wins compares, per column, the change's origin time with the time of the
 * last change of that column recorded in this node's outbox (triggers record applied
 * changes with their origin time, so every node sees the same versions), then the
 * server id as tie-break: whatever the order of arrival, all nodes pick the same value.
 */
import type { ConflictPolicy } from '../cli/config.ts';
import { parseDateTime, sameValue } from '../core/canonical.ts';
import type { ChangeEvent, ValueMap } from '../core/change.ts';
import type { DbClient, Row } from '../core/dialect.ts';
import { columnByName, type TableSchema } from '../core/schema.ts';
import { deleteRow, insertRow, selectRow, updateRow } from './dml.ts';

export type ConflictKind = 'insert_exists' | 'update_missing' | 'update_changed' | 'delete_missing' | 'delete_changed';

export interface Conflict {
  kind: ConflictKind;
  columns: string[];
  local: ValueMap | null;
  /** What the policy did: applied the incoming values, kept the local ones, parked for a person, or nothing to do. */
  resolution: 'applied' | 'kept' | 'parked' | 'none';
}

export interface MergeOutcome {
  /** Rows changed in the target table. */
  changed: boolean;
  conflict: Conflict | null;
}

interface Version {
  time: number;
  server: string;
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

function versionOf(time: unknown, server: unknown): Version | null {
  const parts = parseDateTime(time === null || time === undefined ? null : String(time));
  if (!parts) return null;
  const ms = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return { time: ms * 1000 + parts.micro, server: String(server ?? '') };
}

/** Per column: the version of its last change on this node, from the outbox (newest first). */
async function localVersions(client: DbClient, table: TableSchema, key: ValueMap, columns: string[]): Promise<Map<string, Version>> {
  const spellings = keySpellings(table, key);
  const p = client.dialect.sql.param;
  const { rows } = await client.query<Row>(
    `SELECT object_operation, object_value, update_datetime, updated_by_server_id FROM ds_change_outbox
     WHERE object_table = ${p(1)} AND object_id IN (${spellings.map((_, i) => p(i + 2)).join(', ')}) ORDER BY id DESC`,
    [table.name, ...spellings],
  );
  const found = new Map<string, Version>();
  for (const row of rows) {
    const version = versionOf(row.update_datetime, row.updated_by_server_id);
    if (!version) continue;
    let touched: string[] = columns;
    if (row.object_operation === 'U') {
      try {
        touched = Object.keys(JSON.parse(String(row.object_value)));
      } catch {
        touched = [];
      }
    }
    for (const c of touched) if (columns.includes(c) && !found.has(c)) found.set(c, version);
    if (found.size === columns.length) break;
  }
  return found;
}

/** True when the incoming change beats the local version of the column. */
function incomingWins(incoming: Version | null, local: Version | undefined): boolean {
  if (!local) return true;
  if (!incoming) return false;
  if (incoming.time !== local.time) return incoming.time > local.time;
  return incoming.server > local.server;
}

/** Splits conflicting columns into the ones the incoming change wins and the ones kept local. */
async function decide(
  client: DbClient,
  table: TableSchema,
  policy: ConflictPolicy,
  change: ChangeEvent,
  lookupKey: ValueMap,
  columns: string[],
): Promise<{ win: string[]; keep: string[] }> {
  if (policy === 'source-wins') return { win: columns, keep: [] };
  if (policy === 'target-wins') return { win: [], keep: columns };
  const versions = await localVersions(client, table, lookupKey, columns);
  const incoming = versionOf(change.origin.updatedAt, change.origin.serverId);
  const win = columns.filter((c) => incomingWins(incoming, versions.get(c)));
  return { win, keep: columns.filter((c) => !win.includes(c)) };
}

function pick(values: ValueMap, names: string[]): ValueMap {
  return Object.fromEntries(names.map((n) => [n, values[n]]));
}

function differing(table: TableSchema, a: ValueMap, b: ValueMap, names: string[]): string[] {
  return names.filter((n) => !sameValue(columnByName(table, n)!, a[n], b[n]));
}

/** Applies one change to its table inside the caller's transaction. A policy of `manual` returns resolution `parked` and changes nothing. */
export async function mergeChange(client: DbClient, table: TableSchema, policy: ConflictPolicy, change: ChangeEvent): Promise<MergeOutcome> {
  if (change.operation === 'I') {
    const current = await selectRow(client, table, change.key);
    if (!current) {
      await insertRow(client, table, change.values);
      return { changed: true, conflict: null };
    }
    const diff = differing(table, current, change.values, Object.keys(change.values));
    if (diff.length === 0) return { changed: false, conflict: null };
    return resolveColumns(client, table, policy, change, change.key, current, diff, 'insert_exists');
  }
  if (change.operation === 'U') {
    const lookupKey = change.keyOld ?? change.key;
    const current = await selectRow(client, table, lookupKey);
    if (!current) {
      return { changed: false, conflict: { kind: 'update_missing', columns: Object.keys(change.values), local: null, resolution: policy === 'manual' ? 'parked' : 'none' } };
    }
    const names = Object.keys(change.values);
    const needed = differing(table, current, change.values, names);
    const conflicting = change.oldValues === null ? [] : needed.filter((n) => n in change.oldValues! && !sameValue(columnByName(table, n)!, current[n], change.oldValues![n]));
    const clean = needed.filter((n) => !conflicting.includes(n));
    if (conflicting.length === 0) {
      if (clean.length > 0) await updateRow(client, table, lookupKey, pick(change.values, clean));
      return { changed: clean.length > 0, conflict: null };
    }
    return resolveColumns(client, table, policy, change, lookupKey, current, conflicting, 'update_changed', clean);
  }
  const current = await selectRow(client, table, change.key);
  if (!current) return { changed: false, conflict: { kind: 'delete_missing', columns: [], local: null, resolution: 'none' } };
  const diff = change.oldValues === null ? [] : differing(table, current, change.oldValues, Object.keys(change.oldValues));
  if (diff.length === 0) {
    await deleteRow(client, table, change.key);
    return { changed: true, conflict: null };
  }
  if (policy === 'manual') return { changed: false, conflict: { kind: 'delete_changed', columns: diff, local: current, resolution: 'parked' } };
  const { keep } = await decide(client, table, policy, change, change.key, diff);
  if (keep.length > 0) return { changed: false, conflict: { kind: 'delete_changed', columns: diff, local: current, resolution: 'kept' } };
  await deleteRow(client, table, change.key);
  return { changed: true, conflict: { kind: 'delete_changed', columns: diff, local: current, resolution: 'applied' } };
}

async function resolveColumns(
  client: DbClient,
  table: TableSchema,
  policy: ConflictPolicy,
  change: ChangeEvent,
  lookupKey: ValueMap,
  current: ValueMap,
  conflicting: string[],
  kind: ConflictKind,
  clean: string[] = [],
): Promise<MergeOutcome> {
  const local = pick(current, conflicting);
  if (policy === 'manual') return { changed: false, conflict: { kind, columns: conflicting, local, resolution: 'parked' } };
  const { win } = await decide(client, table, policy, change, lookupKey, conflicting);
  const apply = [...clean, ...win];
  if (apply.length > 0) await updateRow(client, table, lookupKey, pick(change.values, apply));
  return {
    changed: apply.length > 0,
    conflict: { kind, columns: conflicting, local, resolution: win.length === conflicting.length ? 'applied' : win.length === 0 ? 'kept' : 'applied' },
  };
}
