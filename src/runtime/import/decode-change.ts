/**
 * Turns an inbox row into a ChangeEvent, checking it against the synchronized schema
 * of the target: the table and every column must belong to it (guarantee 7, docs/guarantees.md), and
 * every value must read as its column's type. Anything else is a ChangeError that the
 * import parks with its reason.
 */
import { parseDateTime, plainDateTime, toCanonical } from '../../core/canonical.ts';
import type { ChangeEvent, InboxRow, ValueMap } from '../../core/change.ts';
import { ChangeError } from '../../core/errors.ts';
import { columnMap, type TableSchema } from '../../core/schema.ts';
import { parseSeedCommand } from './seed-command.ts';

function parseJson(text: string | null, what: string): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ChangeError('bad_json', `${what} is not valid JSON: ${text.slice(0, 60)}`);
  }
}

/**
 * The values of a JSON object, each read as its column's type. `raw` is the object just
 * made by JSON.parse and owned here: its values are made canonical in place (its members
 * keep their order), not copied into a second object per change.
 */
function valueMap(table: TableSchema, raw: unknown, what: string): ValueMap {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ChangeError('bad_json', `${what} must be a JSON object`);
  const values = raw as Record<string, unknown>;
  const out = values as ValueMap;
  const columns = columnMap(table);
  for (const name in values) {
    const value = values[name];
    const column = columns.get(name);
    if (column?.generated) {
      throw new ChangeError(
        'unknown_column',
        `${what} names column ${name}, which is not a synchronized column of ${table.name} (it is computed here)`,
      );
    }
    if (!column) {
      // A schema change in flight (docs/onboarding.md "Changing a synchronized table"): parked, never guessed or dropped.
      throw new ChangeError(
        'unknown_column',
        `${what} names column ${name}, which is not a synchronized column of ${table.name}: table ${table.name} has no column ${name} on this node ` +
          `(added at the origin and not yet here, or dropped here). Fix: add column ${name} to ${table.name} on this node, ` +
          `run \`dsync generate && dsync apply\`, then \`dsync retry ID\` (ids: \`dsync errors\`); or \`dsync skip ID\` if the column is gone for good`,
      );
    }
    const canonical = toCanonical(column, value);
    if (canonical !== value) out[name] = canonical;
  }
  return out;
}

/** object_id: a JSON scalar for a one-column key, an object for a composite one. */
export function keyMap(table: TableSchema, text: string | null, what: string): ValueMap {
  const raw = parseJson(text, what);
  const asObject = table.primaryKey.length === 1 && (raw === null || typeof raw !== 'object') ? { [table.primaryKey[0]]: raw } : raw;
  const key = valueMap(table, asObject, what);
  // Exactly the key's columns, none NULL (the names of a JSON object are distinct).
  let named = 0;
  for (const _ in key) named++;
  if (named !== table.primaryKey.length || table.primaryKey.some((k) => key[k] === null || key[k] === undefined)) {
    throw new ChangeError('bad_key', `${what} must give the primary key (${table.primaryKey.join(', ')}) of ${table.name}`);
  }
  return key;
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` (UTC) or null; origin times written by hand in other spellings are read too. */
export function normalizeChangeTime(value: unknown): string | null {
  if (typeof value === 'string') {
    const plain = plainDateTime(value, ' ');
    if (plain !== null) return plain;
  }
  const parts = parseDateTime(value instanceof Date ? value : value === null || value === undefined ? null : String(value));
  if (!parts) return null;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(parts.year, 4)}-${p(parts.month)}-${p(parts.day)} ${p(parts.hour)}:${p(parts.minute)}:${p(parts.second)}.${p(parts.micro, 6)}`;
}

/**
 * `clocks` false (a receive-only node, ImportContext.keepsVersions): the row's causal lengths and clock are checked
 * and then dropped, so the change is planned as the newest of its row when it arrives, as a seed-format row is.
 */
export function decodeChange(row: InboxRow, tables: ReadonlyMap<string, TableSchema>, clocks = true): ChangeEvent {
  const table = tables.get(row.object_table ?? '');
  if (!table) throw new ChangeError('unknown_table', `table ${row.object_table} is not synchronized here`);
  const origin = {
    serverId: row.updated_by_server_id ?? '',
    changeId: Number(row.origin_change_id),
    userId: row.updated_by_user_id,
    updatedAt: normalizeChangeTime(row.update_datetime),
  };
  const operation = row.object_operation;
  if (operation !== 'I' && operation !== 'U' && operation !== 'D') {
    throw new ChangeError('bad_operation', `object_operation must be I, U or D, not ${JSON.stringify(operation)}`);
  }
  if (row.object_operation_command !== null && row.object_operation_command.trim() !== '') {
    const command = parseSeedCommand(row.object_operation_command, table);
    if (command.operation !== operation) {
      throw new ChangeError(
        'bad_command',
        `object_operation is ${operation} but the command is ${command.operation === 'I' ? 'an INSERT' : command.operation === 'U' ? 'an UPDATE' : 'a DELETE'}`,
      );
    }
    return {
      table: table.name,
      operation,
      key: command.key,
      keyOld: command.keyOld,
      values: command.values,
      oldValues: null,
      origin,
      cl: null,
      clOld: null,
      version: null,
    };
  }
  const key = keyMap(table, row.object_id, 'object_id');
  const keyOld = row.object_id_old === null ? null : keyMap(table, row.object_id_old, 'object_id_old');
  const values = operation === 'D' ? {} : valueMap(table, parseJson(row.object_value, 'object_value'), 'object_value');
  const oldValues =
    operation === 'I' || row.object_value_old === null
      ? null
      : valueMap(table, parseJson(row.object_value_old, 'object_value_old'), 'object_value_old');
  if (operation === 'I') {
    const missing = table.primaryKey.filter((k) => values[k] === undefined);
    if (missing.length)
      throw new ChangeError('bad_key', `an insert of ${table.name} lacks key column(s) ${missing.join(', ')} in object_value`);
  }
  const cl = counter(row.row_cl, 'row_cl');
  const clOld = counter(row.row_cl_old, 'row_cl_old');
  if (cl !== null && (cl < 1 || (cl % 2 === 1) !== (operation !== 'D'))) {
    throw new ChangeError('bad_version', `row_cl ${cl} does not fit a${operation === 'D' ? ' delete (even)' : 'n insert or update (odd)'}`);
  }
  const version = counter(row.change_version, 'change_version');
  return {
    table: table.name,
    operation,
    key,
    keyOld,
    values,
    oldValues,
    origin,
    cl: clocks ? cl : null,
    clOld: clocks ? clOld : null,
    version: clocks ? version : null,
  };
}

/** row_cl, row_cl_old, change_version: whole numbers or NULL. */
function counter(text: string | null, what: string): number | null {
  if (text === null || text === '') return null;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ChangeError('bad_version', `${what} must be a whole number, not ${JSON.stringify(text)}`);
  return n;
}
