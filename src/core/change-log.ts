/**
 * The neutral shapes of capture mode log (docs/capture-modes.md#log): what a brand's change
 * log reader hands the capture pass (runtime/capture/log-capture.ts). WAL positions are
 * numbers (bigint) so that the pass can compare them; the brand formats them.
 */
import type { DbClient } from './dialect.ts';

/** One row change read from the log, values as the driver returns them from a SELECT. */
export interface LogRowChange {
  schema: string;
  table: string;
  operation: 'I' | 'U' | 'D';
  /** I, U: the row after (columns a TOASTed value did not change are taken from `oldRow`). */
  newRow: Record<string, unknown> | null;
  /** U, D: the whole row before; null when the table's replica identity is not FULL. */
  oldRow: Record<string, unknown> | null;
}

/** One committed source transaction, in commit order. */
export interface LogTransaction {
  /** WAL position of the commit record: unique and rising in commit order. */
  commitLsn: bigint;
  /** Where the next transaction's records may start: what the slot is confirmed to. */
  endLsn: bigint;
  /** Commit time, microseconds since 1970 UTC. */
  commitMicros: number;
  /** Written by dsync itself (import, load: they silence capture), or under a replication origin. */
  own: boolean;
  changes: LogRowChange[];
  /** Tables it truncated (no row changes are in the log for a TRUNCATE). */
  truncated: string[];
}

/** A slot as pg_replication_slots shows it, with the WAL it keeps the server from recycling. */
export interface LogSlotState {
  slot: string;
  confirmedLsn: string | null;
  currentLsn: string;
  retainedBytes: number | null;
  active: boolean;
}

/** The Dialect port of a brand whose change log dsync reads. */
export interface ChangeLogReader {
  /** Creates the node's slot unless it exists; `dsync apply` calls it before it drops any trigger. Returns its name. */
  ensureSlot(client: DbClient, nodeName: string): Promise<string>;
  /** The node's slot, or null when there is none. */
  slotState(client: DbClient, nodeName: string): Promise<LogSlotState | null>;
  /** The log's end now: a pass reads up to here. */
  currentPosition(client: DbClient): Promise<bigint>;
  /** Whole committed transactions after the slot's confirmed position, up to `upto`, in commit order; consumes nothing. `maxMessages` null: all of them. */
  read(client: DbClient, slot: string, upto: bigint, maxMessages: number | null): Promise<LogTransaction[]>;
  /** Lets the slot forget everything before `position` (call it only after the outbox commit). */
  confirm(client: DbClient, slot: string, position: bigint): Promise<void>;
  parsePosition(text: string): bigint;
  formatPosition(position: bigint): string;
  /** Takes the node's one-pass-at-a-time lock for `slot` on this session; false when another pass holds it. */
  tryLockPass(client: DbClient, slot: string): Promise<boolean>;
  unlockPass(client: DbClient, slot: string): Promise<void>;
  /** Takes the same lock for the rest of transaction `tx`, waiting for a pass that holds it (the import's capture-first). */
  lockPassInTransaction(tx: DbClient, slot: string): Promise<void>;
  /** In the outbox transaction: the last source commit written for `slot` (locked until commit), -1 when none. */
  readWritten(tx: DbClient, slot: string): Promise<bigint>;
  /** In the outbox transaction: records `position` as the last source commit written for `slot`. */
  recordWritten(tx: DbClient, slot: string, position: bigint, at: string): Promise<void>;
}
