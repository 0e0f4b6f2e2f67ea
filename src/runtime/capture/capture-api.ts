/**
 * The application capture path the seed mentions: an app that writes its own changes
 * calls captureChange inside its own transaction, and the row it writes is the same
 * as a trigger's (canonical JSON, changed columns only for an update). Values are
 * checked against the table's introspected schema first, so a typo in a column name
 * or a value of the wrong type is an error in the app, not a parked change later.
 */
import { toCanonical } from '../../core/canonical.ts';
import type { Operation, ValueMap } from '../../core/change.ts';
import type { DbClient } from '../../core/dialect.ts';
import { ChangeError } from '../../core/errors.ts';
import { columnByName, type TableSchema } from '../../core/schema.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import { utcNow } from '../../core/utc-time.ts';
import { entryAfterLocalChange, readEntries, writeEntries } from '../import/version-store.ts';

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
}

export interface CaptureOptions {
  /** The node's name (object_database) and server id (updated_by_server_id). */
  node: { name: string; serverId: string };
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

/** Moves the version store as a trigger would, and returns what the outbox row carries. */
async function stampVersions(
  client: DbClient,
  schema: TableSchema,
  change: AppChange,
  key: string,
  keyOld: string | null,
  changed: string[],
  server: string,
) {
  const entries = await readEntries(client, schema.name, keyOld ? [key, keyOld] : [key]);
  const now = Date.now() * 1000;
  if (keyOld) {
    // A key change: the old key as a delete, the new key as an insert, one version for both.
    const floor = Math.max(entries.get(key)?.maxVersion ?? 0, entries.get(keyOld)?.maxVersion ?? 0);
    const removed = entryAfterLocalChange(entries.get(keyOld) ?? null, 'D', [], Math.max(now, floor + 1), server);
    const added = entryAfterLocalChange(entries.get(key) ?? null, 'I', [], Math.max(now, floor + 1), server);
    await writeEntries(client, [
      { table: schema.name, rowKey: keyOld, entry: removed.entry },
      { table: schema.name, rowKey: key, entry: added.entry },
    ]);
    return { row_cl: added.entry.cl, row_cl_old: removed.entry.cl, change_version: added.version.time };
  }
  const next = entryAfterLocalChange(entries.get(key) ?? null, change.operation, changed, now, server);
  await writeEntries(client, [{ table: schema.name, rowKey: key, entry: next.entry }]);
  return { row_cl: next.entry.cl, row_cl_old: null, change_version: next.version.time };
}

/**
 * Writes one outbox row for an application's change, with `client`: pass the
 * transaction the change is made in, so the change and its outbox row commit
 * together. Use it for tables without capture triggers. Values are checked against the
 * table's schema (introspected once per client): an unknown column or a bad value
 * throws a ChangeError before anything is written.
 */
export async function captureChange(client: DbClient, change: AppChange, options: CaptureOptions): Promise<void> {
  const schema = options.schema?.name === change.table ? options.schema : await tableSchema(client, change.table);
  const values = change.values ? canonical(schema, change.values, 'values') : null;
  const oldValues = change.oldValues ? canonical(schema, change.oldValues, 'oldValues') : null;
  if (change.operation !== 'D' && (!values || Object.keys(values).length === 0)) {
    throw new ChangeError('bad_change', `an ${change.operation === 'I' ? 'insert' : 'update'} of ${change.table} needs values`);
  }
  const attributes = change.operation === 'U' ? Object.keys(values!) : schema.columns.filter((c) => !c.generated).map((c) => c.name);
  const key = keyText(schema, change.key, 'key');
  const keyOld = change.keyOld ? keyText(schema, change.keyOld, 'keyOld') : null;
  if (keyOld !== null && schema.columns.some((c) => !c.generated && !(c.name in values!))) {
    throw new ChangeError('bad_change', `an update of ${change.table} that changes the key needs every column of the new row in values`);
  }
  const row: Record<string, unknown> = {
    object_database: options.node.name,
    object_table: change.table,
    object_pk_attribute: schema.primaryKey.join(','),
    object_attribute: attributes.join(','),
    object_id: key,
    object_id_old: keyOld,
    object_value: change.operation === 'D' ? null : JSON.stringify(values),
    object_value_old: change.operation === 'I' || !oldValues ? null : JSON.stringify(oldValues),
    object_operation: change.operation,
    updated_by_server_id: options.node.serverId,
    updated_by_user_id: change.userId ?? null,
    update_datetime: utcNow(),
    note1: change.note ?? null,
    ...(await stampVersions(client, schema, change, key, keyOld, attributes, options.node.serverId)),
  };
  const names = Object.keys(row);
  const p = client.dialect.sql.param;
  await client.query(
    `INSERT INTO ds_change_outbox (${names.join(', ')}) VALUES (${names.map((_, i) => p(i + 1)).join(', ')})`,
    Object.values(row),
  );
}
