/**
 * The statement list: which sync objects a node gets, in apply order, and which
 * template renders each. Capture triggers follow the config's table order.
 */
import type { CaptureMode } from '../config/config.ts';
import type { Dialect } from '../core/dialect.ts';
import type { CaptureTable } from './context.ts';

export interface SyncObject {
  /** Apply order and file-name prefix. */
  order: number;
  /** File stem and the object named in messages. */
  object: string;
  template: string;
  /** Re-running the file is safe (CREATE OR REPLACE, upserts): apply re-applies it when it changed. */
  replaceable: boolean;
  table?: CaptureTable;
  /** The tables a node-level object lists (the log publication). */
  tables?: CaptureTable[];
}

/** api: no triggers; keys: triggers that note the keys of changed rows only; log: no triggers, and the table joins the change log's publication. */
function captureTemplate(mode: CaptureMode, dialect: Pick<Dialect, 'changeLog'>): string {
  if (mode === 'trigger') return 'capture';
  if (mode === 'keys') return 'capture_keys';
  return mode === 'log' && dialect.changeLog ? 'capture_log' : 'capture_none';
}

/**
 * `modeOf` says how each table is captured on the node (default trigger). A table in
 * mode api or query keeps its file name but gets `capture_none`, which drops the
 * triggers: the file is replaceable, so regenerate + apply switches a table either way.
 * A log-mode table gets `capture_log` (no triggers, the old row in the log) and the node
 * `log_publication`.
 */
export function syncObjects(
  tables: CaptureTable[],
  dialect: Pick<Dialect, 'listenForChanges' | 'changeLog' | 'capabilities'>,
  modeOf: (table: CaptureTable) => CaptureMode = () => 'trigger',
): SyncObject[] {
  const logTables = dialect.changeLog ? tables.filter((t) => modeOf(t) === 'log') : [];
  return [
    { order: 1, object: 'ds_change_outbox', template: 'outbox', replaceable: false },
    { order: 2, object: 'ds_change_inbox', template: 'inbox', replaceable: false },
    { order: 3, object: 'ds_program_parameter', template: 'program_parameter', replaceable: true },
    { order: 4, object: 'ds_change_error', template: 'error', replaceable: false },
    { order: 5, object: 'ds_change_conflict', template: 'conflict', replaceable: false },
    { order: 6, object: 'view_recordlevel_update_datetime', template: 'view', replaceable: true },
    // Upgrade steps: the files above never change once released; a schema change of the
    // sync objects is a new step here (11, 12, …), applied once through the ledger.
    { order: 11, object: 'upgrade_row_versions', template: 'upgrade_row_versions', replaceable: false },
    { order: 12, object: 'upgrade_parking', template: 'upgrade_parking', replaceable: false },
    { order: 13, object: 'upgrade_load', template: 'upgrade_load', replaceable: false },
    // Only brands that notify: the daemon polls the others.
    ...(dialect.listenForChanges ? [{ order: 14, object: 'upgrade_notify', template: 'upgrade_notify', replaceable: true }] : []),
    { order: 15, object: 'upgrade_query_capture', template: 'upgrade_query_capture', replaceable: false },
    // Only brands whose change log dsync reads (capture mode log): its state tables.
    ...(dialect.changeLog ? [{ order: 16, object: 'upgrade_log_capture', template: 'upgrade_log_capture', replaceable: false }] : []),
    // Only brands whose outbox and inbox fence each inserting transaction (MySQL/MariaDB): once per transaction.
    ...(dialect.capabilities.transactionFence
      ? [{ order: 17, object: 'upgrade_fence_per_transaction', template: 'upgrade_fence_per_transaction', replaceable: false }]
      : []),
    // Only brands that notify (PostgreSQL): the outbox's operation check by a domain, the version store's
    // fillfactor; the capture function sends the outbox's notification itself (upgrade_notify).
    ...(dialect.listenForChanges
      ? [{ order: 18, object: 'upgrade_capture_per_statement', template: 'upgrade_capture_per_statement', replaceable: false }]
      : []),
    // Only brands whose fence triggers write the inserted rows themselves (SQL Server): the version columns too.
    ...(dialect.capabilities.insteadOfInsertFence
      ? [{ order: 19, object: 'upgrade_fence_versions', template: 'upgrade_fence_versions', replaceable: false }]
      : []),
    // Only brands whose outbox fence is a BEFORE INSERT trigger (MySQL/MariaDB): a send-only node's capture rows skip its read too.
    ...(dialect.capabilities.transactionFence
      ? [{ order: 20, object: 'upgrade_fence_send_only', template: 'upgrade_fence_send_only', replaceable: false }]
      : []),
    // A node with log-mode tables: the publication the capture pass reads, listing exactly them.
    ...(logTables.length > 0
      ? [{ order: 100, object: 'log_publication', template: 'log_publication', replaceable: true, tables: logTables }]
      : []),
    ...tables.map((table, i) => ({
      order: 101 + i,
      object: `capture_${table.safeName}`,
      template: captureTemplate(modeOf(table), dialect),
      replaceable: true,
      table,
    })),
  ];
}

/** File names of the upgrade steps this version of dsync generates for a brand: a node must have applied them all. */
export function upgradeSteps(dialect: Pick<Dialect, 'listenForChanges' | 'changeLog' | 'capabilities'>): string[] {
  return syncObjects([], dialect)
    .filter((o) => o.order > 10 && o.order < 100)
    .map((o) => `${String(o.order).padStart(4, '0')}_${o.object}.sql`);
}
