/**
 * The change model: what an outbox/inbox row means once decoded. Triggers and the
 * library API write rows; transport copies them; the import decodes them into
 * ChangeEvents (see runtime/decode-change.ts) and applies those.
 */
import type { CanonicalValue } from './canonical.ts';

export type Operation = 'I' | 'U' | 'D';

/** Column values by column name, in canonical encoding. */
export type ValueMap = Record<string, CanonicalValue>;

export interface ChangeEvent {
  table: string;
  operation: Operation;
  /** Primary-key values identifying the row (after the change for I/U, before it for D). */
  key: ValueMap;
  /** The key before an update that changed it, else null. */
  keyOld: ValueMap | null;
  /** New values: every column for I, changed columns for U, empty for D. */
  values: ValueMap;
  /** Old values of the changed columns for U, the whole row for D; null when unknown (seed-format rows). */
  oldValues: ValueMap | null;
  origin: ChangeOrigin;
  /** Causal length of the row at `key` after the change (odd: exists); null in seed-format rows (docs/convergence.md). */
  cl: number | null;
  /** For a key change: causal length of the old key after it (even); else null. */
  clOld: number | null;
  /** The change's clock (µs since the epoch, hybrid logical clock); null in seed-format rows. */
  version: number | null;
}

/** Where and when a change first happened; preserved through every hop (guarantee 4, docs/guarantees.md). */
export interface ChangeOrigin {
  serverId: string;
  changeId: number;
  userId: string | null;
  /** UTC, `YYYY-MM-DD HH:MM:SS.ffffff`. */
  updatedAt: string | null;
}

/** Columns of ds_change_outbox and ds_change_inbox that transport copies, in order. */
export const CHANGE_ROW_COLUMNS = [
  'object_database',
  'object_table',
  'object_pk_attribute',
  'object_attribute',
  'object_id',
  'object_id_old',
  'object_value',
  'object_value_old',
  'object_operation',
  'object_operation_command',
  'updated_by_server_id',
  'updated_by_user_id',
  'update_datetime',
  'note1',
  'row_cl',
  'row_cl_old',
  'change_version',
] as const;

export type ChangeRowColumn = (typeof CHANGE_ROW_COLUMNS)[number];

/**
 * The columns dsync fills when it writes a change row itself (captureChanges; the applied
 * record, which puts origin_change_id where note1 stands): all but the seed's command.
 */
export const WRITTEN_CHANGE_COLUMNS = CHANGE_ROW_COLUMNS.filter((c) => c !== 'object_operation_command');

/** One row as it sits in an outbox or inbox; text columns as text, update_datetime canonical. */
export type ChangeRow = { [K in ChangeRowColumn]: string | null } & {
  id: number;
  origin_change_id: number | null;
};

/** An inbox row carries the origin change id it was deduplicated on. */
export type InboxRow = ChangeRow & { origin_change_id: number };
