/**
 * The application capture path the seed mentions: an app that writes its own changes
 * calls captureChange inside its own transaction, and the row it writes is the same
 * as a trigger's (canonical JSON, changed columns only for an update). Values are
 * checked against the table's introspected schema first, so a typo in a column name
 * or a value of the wrong type is an error in the app, not a parked change later.
 */
import { toCanonical } from '../../core/canonical.ts';
import { type Operation, type ValueMap, WRITTEN_CHANGE_COLUMNS } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { ChangeError } from '../../core/errors.ts';
import { columnByName, type TableSchema } from '../../core/schema.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import { utcNow, utcTimestamp } from '../../core/utc-time.ts';
import type { RowEntry } from '../import/merge.ts';
import { writeRows } from '../import/row-writer.ts';
import { type EntryWrite, entryAfterLocalChange, readEntries, writeEntries } from '../import/version-store.ts';

export interface AppChange {
  table: string;
  operation: Operation;
  /** Primary-key values: after the change for I/U, before it for D. */
  key: Record<string, unknown>;
  /** I: every column; U: the changed columns (new values). */
  values?: Record<string, unknown>;
  /** U: old values of the changed columns; D: the whole old row. */
  oldValues?: Record<string, unknown>;
  /** U that changed the key: the key before. */
  keyOld?: Record<string, unknown>;
  userId?: string;
  note?: string;
  /** When the change happened, microseconds since 1970 UTC (default now): the log capture pass passes the commit time. */
  atMicros?: number;
}

export interface CaptureOptions {
  /**
   * The node's name (object_database) and server id (updated_by_server_id); `sendOnly` (its config's): no version
   * entries, and the outbox rows carry no causal length or clock, as its triggers' (docs/convergence.md#send-only-nodes).
   * `receiveOnly`: refused, nothing is captured there (docs/convergence.md#receive-only-nodes).
   */
  node: { name: string; serverId: string; sendOnly?: boolean; receiveOnly?: boolean };
  /** The table's schema when the caller has it (the query capture pass): saves introspecting it per transaction. */
  schema?: TableSchema;
}

const schemaCache = new WeakMap<DbClient, Map<string, TableSchema>>();

async function tableSchema(client: DbClient, table: string): Promise<TableSchema> {
  let cache = schemaCache.get(client);
  if (!cache) schemaCache.set(client, (cache = new Map()));
  let schema = cache.get(table);
  if (!schema) {
    schema = await client.dialect.introspect(client, table);
    cache.set(table, schema);
  }
  return schema;
}

function canonical(schema: TableSchema, values: Record<string, unknown>, what: string): ValueMap {
  const out: ValueMap = {};
  for (const [name, value] of Object.entries(values)) {
    const column = columnByName(schema, name);
    if (!column || column.generated) throw new ChangeError('unknown_column', `${what}: ${name} is not a column of ${schema.name}`);
    out[name] = toCanonical(column, value);
  }
  return out;
}

function keyText(schema: TableSchema, key: Record<string, unknown>, what: string): string {
  const canon = canonical(schema, key, what);
  const missing = schema.primaryKey.filter((k) => canon[k] === undefined || canon[k] === null);
  if (missing.length) throw new ChangeError('bad_key', `${what} lacks primary-key column(s) ${missing.join(', ')} of ${schema.name}`);
  return canonicalKeyText(schema, canon);
}

/** Entries of the rows a set of changes touches, kept current as each change is stamped, then written at once. */
class VersionStamps {
  private readonly entries = new Map<string, Map<string, RowEntry | null>>();
  private readonly writes: EntryWrite[] = [];

  async load(client: DbClient, table: string, rowKeys: string[]): Promise<void> {
    let known = this.entries.get(table);
    if (!known) this.entries.set(table, (known = new Map()));
    const missing = [...new Set(rowKeys)].filter((k) => !known.has(k));
    if (missing.length === 0) return;
    const found = await readEntries(client, table, missing);
    for (const k of missing) known.set(k, found.get(k) ?? null);
  }

  private get(table: string, rowKey: string): RowEntry | null {
    return this.entries.get(table)?.get(rowKey) ?? null;
  }

  private set(table: string, rowKey: string, entry: RowEntry): void {
    this.entries.get(table)!.set(rowKey, entry);
    this.writes.push({ table, rowKey, entry });
  }

  /** Moves the entries as a trigger would, and returns what the outbox row carries. */
  stamp(table: string, operation: Operation, key: string, keyOld: string | null, changed: string[], server: string, atMicros?: number) {
    const now = atMicros ?? Date.now() * 1000;
    if (keyOld) {
      // A key change: the old key as a delete, the new key as an insert, one version for both.
      const floor = Math.max(this.get(table, key)?.maxVersion ?? 0, this.get(table, keyOld)?.maxVersion ?? 0);
      const removed = entryAfterLocalChange(this.get(table, keyOld), 'D', [], Math.max(now, floor + 1), server);
      const added = entryAfterLocalChange(this.get(table, key), 'I', [], Math.max(now, floor + 1), server);
      this.set(table, keyOld, removed.entry);
      this.set(table, key, added.entry);
      return { row_cl: added.entry.cl, row_cl_old: removed.entry.cl, change_version: added.version.time };
    }
    const next = entryAfterLocalChange(this.get(table, key), operation, changed, now, server);
    this.set(table, key, next.entry);
    return { row_cl: next.entry.cl, row_cl_old: null, change_version: next.version.time };
  }

  flush(client: DbClient): Promise<void> {
    return writeEntries(client, this.writes);
  }
}

/** What a send-only node's outbox row carries instead of versions: each arrives as the newest change of its row. */
const UNVERSIONED = { row_cl: null, row_cl_old: null, change_version: null };

/**
 * Writes one outbox row for an application's change, with `client`: pass the
 * transaction the change is made in, so the change and its outbox row commit
 * together. Use it for tables without capture triggers. Values are checked against the
 * table's schema (introspected once per client): an unknown column or a bad value
 * throws a ChangeError before anything is written.
 */
export async function captureChange(client: DbClient, change: AppChange, options: CaptureOptions): Promise<void> {
  await captureChanges(client, [change], options);
}

/**
 * {@link captureChange} for several changes, in their order, with one read and one write
 * of the version store and one outbox statement where the brand allows: the same rows as
 * one call per change. Every change is checked before anything is written.
 */
export async function captureChanges(client: DbClient, changes: AppChange[], options: CaptureOptions): Promise<void> {
  if (options.node.receiveOnly) {
    throw new ChangeError(
      'receive_only',
      `node ${options.node.name} is receiveOnly: nothing is captured there; write to its upstream, or remove "receiveOnly" from nodes.${options.node.name} (docs/convergence.md#receive-only-nodes)`,
    );
  }
  if (changes.length === 0) return;
  const prepared = [];
  for (const change of changes) {
    // The outbox refuses any other operation too (a domain on PostgreSQL), without naming the change.
    if (change.operation !== 'I' && change.operation !== 'U' && change.operation !== 'D') {
      throw new ChangeError(
        'bad_change',
        `a change of ${change.table} ${JSON.stringify(change.key)}: operation must be 'I', 'U' or 'D', not ${JSON.stringify(change.operation)}`,
      );
    }
    const schema = options.schema?.name === change.table ? options.schema : await tableSchema(client, change.table);
    const values = change.values ? canonical(schema, change.values, 'values') : null;
    const oldValues = change.oldValues ? canonical(schema, change.oldValues, 'oldValues') : null;
    if (change.operation !== 'D' && (!values || Object.keys(values).length === 0)) {
      throw new ChangeError('bad_change', `an ${change.operation === 'I' ? 'insert' : 'update'} of ${change.table} needs values`);
    }
    // An update's changed columns; a key change carries the whole new row, and its old values say what changed (as a trigger's).
    const changedOf = change.keyOld && oldValues ? oldValues : values!;
    const attributes = change.operation === 'U' ? Object.keys(changedOf) : schema.columns.filter((c) => !c.generated).map((c) => c.name);
    const key = keyText(schema, change.key, 'key');
    const keyOld = change.keyOld ? keyText(schema, change.keyOld, 'keyOld') : null;
    if (keyOld !== null && schema.columns.some((c) => !c.generated && !(c.name in values!))) {
      throw new ChangeError('bad_change', `an update of ${change.table} that changes the key needs every column of the new row in values`);
    }
    prepared.push({ change, schema, values, oldValues, attributes, key, keyOld });
  }
  const stamps = options.node.sendOnly ? null : new VersionStamps();
  const byTable = new Map<string, string[]>();
  for (const p of prepared) {
    // Appended in place: copying the list per change made a batch of n changes cost n²/2 copies.
    let keys = byTable.get(p.schema.name);
    if (!keys) byTable.set(p.schema.name, (keys = []));
    keys.push(p.key);
    if (p.keyOld) keys.push(p.keyOld);
  }
  if (stamps) for (const [table, keys] of byTable) await stamps.load(client, table, keys);
  const rows = prepared.map(({ change, schema, values, oldValues, attributes, key, keyOld }) => {
    const versions =
      stamps?.stamp(schema.name, change.operation, key, keyOld, attributes, options.node.serverId, change.atMicros) ?? UNVERSIONED;
    return [
      options.node.name,
      change.table,
      schema.primaryKey.join(','),
      attributes.join(','),
      key,
      keyOld,
      change.operation === 'D' ? null : JSON.stringify(values),
      change.operation === 'I' || !oldValues ? null : JSON.stringify(oldValues),
      change.operation,
      options.node.serverId,
      change.userId ?? null,
      change.atMicros === undefined ? utcNow() : utcTimestamp(new Date(Math.floor(change.atMicros / 1000))),
      change.note ?? null,
      versions.row_cl,
      versions.row_cl_old,
      versions.change_version,
    ];
  });
  await stamps?.flush(client);
  await writeRows(client, 'ds_change_outbox', WRITTEN_CHANGE_COLUMNS, rows);
}
